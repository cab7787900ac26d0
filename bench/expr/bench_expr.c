/*
 * The expression language on the per-event path: how many times a second
 * one core evaluates
 *
 *     payload.amount > 1000 and payload.type == 'ACCOUNT_DEPOSITED'
 *
 * over account events shaped as load-sim makes them (type, account, seq,
 * ts and, for money events, amount), against a baseline: a hand-written
 * loop that answers the same question with libflow's reader in one pass
 * over the payload map, as a C app would. Both must agree on every event.
 * Prints evaluations per second of CPU time and the ratio to the baseline;
 * the last line is one JSON object of the figures.
 *
 * usage: flow-bench-expr [EVALUATIONS]
 */
#include "flow/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENTS 1024 /* distinct payloads, evaluated round-robin */

static const char *const EXPR =
    "payload.amount > 1000 and payload.type == 'ACCOUNT_DEPOSITED'";

/* CPU time of this process: per core, not counting other processes. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A payload as load-sim writes one (modules/sources/load-sim). */
static void make_payload(flow_buf *b, unsigned i, uint64_t *rng)
{
    static const char *const types[] = {
        "ACCOUNT_CREATED",   "ACCOUNT_DEPOSITED", "ACCOUNT_WITHDRAWN",
        "ACCOUNT_DEPOSITED", "ACCOUNT_SUSPENDED", "ACCOUNT_DEPOSITED",
    };
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    const char *type = types[(*rng >> 33) % 6];
    bool money = strstr(type, "DEPOSITED") || strstr(type, "WITHDRAWN");
    flow_mp_put_map(b, money ? 5 : 4);
    flow_mp_put_str(b, "type", 4);
    flow_mp_put_cstr(b, type);
    flow_mp_put_str(b, "account", 7);
    flow_mp_put_uint(b, (*rng >> 20) % 10000);
    flow_mp_put_str(b, "seq", 3);
    flow_mp_put_uint(b, i);
    flow_mp_put_str(b, "ts", 2);
    flow_mp_put_int(b, 1700000000000 + i);
    if (money) {
        flow_mp_put_str(b, "amount", 6);
        flow_mp_put_int(b, (int64_t)((*rng >> 40) % 5000));
    }
}

/* The baseline: the same question, by hand, in one pass. */
static bool by_hand(const flow_event *ev)
{
    flow_mp_reader r;
    flow_mp_value m, k, v;
    int64_t amount = 0;
    bool has_amount = false, deposited = false;
    flow_mp_reader_init(&r, ev->payload, ev->payload_len);
    if (flow_mp_read(&r, &m) || m.type != FLOW_MP_MAP)
        return false;
    for (uint32_t i = 0; i < m.len; i++) {
        if (flow_mp_read(&r, &k) || flow_mp_read(&r, &v))
            return false;
        if (flow_mp_str_eq(&k, "amount"))
            has_amount = flow_mp_as_int(&v, &amount);
        else if (flow_mp_str_eq(&k, "type"))
            deposited = flow_mp_str_eq(&v, "ACCOUNT_DEPOSITED");
    }
    return has_amount && amount > 1000 && deposited;
}

int main(int argc, char **argv)
{
    long long n = argc > 1 ? atoll(argv[1]) : 20000000;
    static flow_buf payloads[EVENTS];
    static flow_event evs[EVENTS];
    uint64_t rng = 1;
    flow_expr *e = NULL;
    flow_expr_error err;
    flow_expr_scratch sc;
    if (n <= 0) {
        fprintf(stderr, "usage: flow-bench-expr [EVALUATIONS]\n");
        return 2;
    }
    if (flow_expr_compile(EXPR, strlen(EXPR), &e, &err)) {
        fprintf(stderr, "flow-bench-expr: %s at %zu\n", err.message,
                err.offset);
        return 1;
    }
    flow_expr_scratch_init(&sc);
    for (unsigned i = 0; i < EVENTS; i++) {
        flow_buf_init(&payloads[i]);
        make_payload(&payloads[i], i, &rng);
        evs[i] = (flow_event){ .id = i + 1,
                               .type = "account",
                               .type_len = 7,
                               .payload = payloads[i].data,
                               .payload_len = (uint32_t)payloads[i].len };
    }
    /* Both ways agree on every event. An event without amount compares
     * null > 1000, which is false (null orders below any value); an
     * error would be counted apart and must not happen here. */
    long long yes = 0, errors = 0;
    for (unsigned i = 0; i < EVENTS; i++) {
        bool b = false;
        int rc = flow_expr_eval_bool(e, &evs[i], &sc, &b, &err);
        if (rc) {
            errors++;
            if (by_hand(&evs[i])) {
                fprintf(stderr, "flow-bench-expr: event %u: %s\n", i,
                        err.message);
                return 1;
            }
            continue;
        }
        if (b != by_hand(&evs[i])) {
            fprintf(stderr, "flow-bench-expr: event %u: the ways disagree\n",
                    i);
            return 1;
        }
        yes += b;
    }

    volatile long long sink = 0;
    double t0 = now();
    for (long long i = 0; i < n; i++)
        sink += by_hand(&evs[i & (EVENTS - 1)]);
    double base = now() - t0;

    long long hits = 0;
    t0 = now();
    for (long long i = 0; i < n; i++) {
        bool b;
        if (flow_expr_eval_bool(e, &evs[i & (EVENTS - 1)], &sc, &b, &err) == 0)
            hits += b;
    }
    double expr = now() - t0;
    (void)sink;

    double base_rate = (double)n / base, expr_rate = (double)n / expr;
    printf("expression: %s\n", EXPR);
    printf("events: %d distinct load-sim payloads, %lld true, %lld errors\n",
           EVENTS, yes, errors);
    printf("%-10s %14.0f evaluations/s  (baseline)\n", "by hand", base_rate);
    printf("%-10s %14.0f evaluations/s  %.2fx the baseline's time\n",
           "expression", expr_rate, base_rate / expr_rate);
    printf("{\"expression_per_s\": %.0f, \"baseline_per_s\": %.0f, "
           "\"ratio\": %.3f, \"true\": %lld}\n",
           expr_rate, base_rate, base_rate / expr_rate, hits);
    flow_expr_free(&e);
    flow_expr_scratch_fini(&sc);
    for (unsigned i = 0; i < EVENTS; i++)
        flow_buf_fini(&payloads[i]);
    return 0;
}
