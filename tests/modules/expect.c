/*
 * expect - what the account pipeline must count, computed independently of
 * the pipeline by replaying the generator through the state machine:
 *
 *     test-modules-expect COUNT SEED ACCOUNTS ILLEGAL_RATIO
 *
 * prints one JSON object: total, applied, rejected, per-type counts of all
 * events ("types") and of applied ones ("applied_types"), and per
 * resulting state of the applied ones ("states").
 */
#include "acct_table.h"
#include "loadgen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static void print_map(const char *key, const uint64_t *v, int n,
                      const char *(*name)(int))
{
    printf(", \"%s\": {", key);
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (!v[i])
            continue;
        printf("%s\"%s\": %" PRIu64, first ? "" : ", ", name(i), v[i]);
        first = 0;
    }
    printf("}");
}

static const char *ev_name(int i)
{
    return acct_event_name((enum acct_event)i);
}

static const char *st_name(int i)
{
    return acct_state_name((enum acct_state)i);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s COUNT SEED ACCOUNTS ILLEGAL_RATIO\n",
                argv[0]);
        return 2;
    }
    uint64_t count = strtoull(argv[1], NULL, 10);
    struct loadgen g;
    struct acct_table t;
    if (loadgen_init(&g, strtoull(argv[2], NULL, 10),
                     strtoull(argv[3], NULL, 10), atof(argv[4])) < 0)
        return 1;
    acct_table_init(&t, 0);
    uint64_t types[ACCT_EV_COUNT] = { 0 }, applied_types[ACCT_EV_COUNT] = { 0 };
    uint64_t states[ACCT_ST_COUNT] = { 0 }, applied = 0, rejected = 0;
    for (uint64_t i = 0; i < count; i++) {
        struct loadgen_event ev;
        loadgen_next(&g, &ev);
        types[ev.type]++;
        struct acct *a = acct_table_get(&t, ev.account);
        if (!a)
            return 1;
        if (acct_is_duplicate(a, ev.seq))
            continue;
        if (acct_apply(a, ev.type, ev.amount) != ACCT_OK) {
            rejected++;
            continue;
        }
        a->last_seq = ev.seq;
        applied++;
        applied_types[ev.type]++;
        states[a->state]++;
    }
    printf("{\"total\": %" PRIu64 ", \"applied\": %" PRIu64
           ", \"rejected\": %" PRIu64,
           count, applied, rejected);
    print_map("types", types, ACCT_EV_COUNT, ev_name);
    print_map("applied_types", applied_types, ACCT_EV_COUNT, ev_name);
    print_map("states", states, ACCT_ST_COUNT, st_name);
    printf("}\n");
    acct_table_fini(&t);
    loadgen_fini(&g);
    return 0;
}
