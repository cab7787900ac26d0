/*
 * Module test of account-events: the app runs in-process (flow-host's
 * threads over inproc://) between an injecting source and a capturing
 * sink, and every event's outcome is checked: applied with its new state
 * and balance, rejected on the error output with its reason, or skipped as
 * a duplicate. A second run restores the accounts saved by the first.
 */
#include <criterion/criterion.h>

#include "apps.h"

#include "flow/host.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One injected event; type NULL ends the list. */
struct inject {
    const char *type;
    int64_t account; /* < 0: the field is left out */
    int64_t seq;
    int64_t amount; /* 0: no amount field */
};

/* What the capturing sink saw for one (account, seq). */
struct seen {
    int64_t account, seq;
    bool error;
    char state[16];
    int64_t balance;
    char reason[200];
};

static const struct inject *g_events;
static struct seen g_seen[64];
static int g_nseen, g_expect;
static flow_host *g_host;

static int inject_tick(flow_ctx *ctx)
{
    for (const struct inject *e = g_events; e->type; e++) {
        flow_buf *b = flow_payload_buf(ctx);
        flow_mp_put_map(b, 2 + (e->account >= 0) + (e->amount != 0));
        flow_mp_put_cstr(b, "type");
        flow_mp_put_cstr(b, e->type);
        if (e->account >= 0) {
            flow_mp_put_cstr(b, "account");
            flow_mp_put_int(b, e->account);
        }
        flow_mp_put_cstr(b, "seq");
        flow_mp_put_int(b, e->seq);
        if (e->amount) {
            flow_mp_put_cstr(b, "amount");
            flow_mp_put_int(b, e->amount);
        }
        cr_assert_eq(flow_emit(ctx, e->type, NULL, 0, b->data, b->len), 0);
    }
    /* Not a map at all: must be rejected with a reason too. */
    flow_buf *b = flow_payload_buf(ctx);
    flow_mp_put_cstr(b, "garbage");
    cr_assert_eq(flow_emit(ctx, "junk", NULL, 0, b->data, b->len), 0);
    return FLOW_TICK_DONE;
}

static const flow_app_desc inject_app = {
    .name = "inject",
    .role = FLOW_ROLE_SOURCE,
    .description = "test source",
    .on_tick = inject_tick,
    .tick_us = 1000,
};

static void copy_str(char *dst, size_t n, const flow_mp_value *v)
{
    size_t len = v->len < n - 1 ? v->len : n - 1;
    memcpy(dst, v->str, len);
    dst[len] = '\0';
}

static int capture_event(flow_ctx *ctx, const flow_event *ev)
{
    (void)ctx;
    cr_assert_lt(g_nseen, 64);
    struct seen *s = &g_seen[g_nseen++];
    flow_mp_value v, inner;
    s->account = s->seq = -1;
    if (flow_event_get(ev, "error", &v) == 0) {
        s->error = true;
        copy_str(s->reason, sizeof(s->reason), &v);
        if (flow_event_get(ev, "event", &v) == 0 && v.type == FLOW_MP_MAP) {
            if (flow_mp_map_find(v.raw, v.raw_len, "account", &inner) == 0)
                s->account = inner.i;
            if (flow_mp_map_find(v.raw, v.raw_len, "seq", &inner) == 0)
                s->seq = inner.i;
        }
    } else {
        s->account = flow_event_get_int(ev, "account", -1);
        s->seq = flow_event_get_int(ev, "seq", -1);
        s->balance = flow_event_get_int(ev, "balance", -1);
        cr_assert_eq(flow_event_get(ev, "state", &v), 0);
        copy_str(s->state, sizeof(s->state), &v);
    }
    if (g_nseen == g_expect)
        flow_host_stop(g_host);
    return 0;
}

static const flow_app_desc capture_app = {
    .name = "capture",
    .role = FLOW_ROLE_SINK,
    .description = "test sink",
    .on_event = capture_event,
};

static const struct seen *find(int64_t account, int64_t seq)
{
    for (int i = 0; i < g_nseen; i++) {
        if (g_seen[i].account == account && g_seen[i].seq == seq)
            return &g_seen[i];
    }
    return NULL;
}

static void expect_applied(int64_t account, int64_t seq, const char *state,
                           int64_t balance)
{
    const struct seen *s = find(account, seq);
    cr_assert_not_null(s, "account %" PRId64 " seq %" PRId64 " not seen",
                       account, seq);
    cr_assert_not(s->error, "account %" PRId64 " seq %" PRId64 " rejected: %s",
                  account, seq, s->reason);
    cr_assert_str_eq(s->state, state);
    cr_assert_eq(s->balance, balance);
}

static void expect_rejected(int64_t account, int64_t seq, const char *why)
{
    const struct seen *s = find(account, seq);
    cr_assert_not_null(s, "account %" PRId64 " seq %" PRId64 " not seen",
                       account, seq);
    cr_assert(s->error, "account %" PRId64 " seq %" PRId64 " was applied",
              account, seq);
    cr_assert(strstr(s->reason, why) != NULL, "reason '%s' lacks '%s'",
              s->reason, why);
}

/* Runs inject | account-events | capture; returns account-events' final
 * metrics JSON (malloc'd). */
static char *run(const struct inject *events, int expect, const char *state)
{
    char dir[] = "/tmp/flow-ae-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char metrics[128], statef[128], in[48], out[48], err[48], cin[160];
    snprintf(metrics, sizeof(metrics), "--flow.metrics-json=%s/ae.json", dir);
    snprintf(statef, sizeof(statef), "--flow.state=%s", state ? state : "");
    snprintf(in, sizeof(in), "inproc://ae-in-%d", (int)getpid());
    snprintf(out, sizeof(out), "inproc://ae-out-%d", (int)getpid());
    snprintf(err, sizeof(err), "inproc://ae-err-%d", (int)getpid());
    char o1[96], i2[96], o2[96], e2[96];
    snprintf(o1, sizeof(o1), "--flow.output=@%s", in);
    snprintf(i2, sizeof(i2), "--flow.input=%s", in);
    snprintf(o2, sizeof(o2), "--flow.output=@%s", out);
    snprintf(e2, sizeof(e2), "--flow.error-output=@%s", err);
    snprintf(cin, sizeof(cin), "--flow.input=%s,%s", out, err);

    g_events = events;
    g_nseen = 0;
    g_expect = expect;
    g_host = flow_host_new();
    cr_assert_not_null(g_host);
    char *a1[] = { "inject", o1 };
    char *a2[] = { "account-events", i2, o2, e2, metrics, statef };
    char *a3[] = { "capture", cin };
    cr_assert_eq(flow_host_add(g_host, &inject_app, 2, a1), 0);
    cr_assert_eq(flow_host_add(g_host, &account_events_app, state ? 6 : 5, a2),
                 0);
    cr_assert_eq(flow_host_add(g_host, &capture_app, 2, a3), 0);
    cr_assert_eq(flow_host_run(g_host), 0);
    flow_host_destroy(&g_host);
    cr_assert_null(g_host);
    cr_assert_eq(g_nseen, expect);

    char path[160];
    snprintf(path, sizeof(path), "%s/ae.json", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no metrics written");
    char *json = calloc(1, 65536);
    size_t n = fread(json, 1, 65535, f);
    json[n] = '\0';
    fclose(f);
    unlink(path);
    rmdir(dir);
    return json;
}

static const struct inject first[] = {
    { "ACCOUNT_CREATED", 1, 1, 0 },
    { "ACCOUNT_CONFIRMED", 1, 2, 0 },
    { "ACCOUNT_DEPOSITED", 1, 3, 500 }, /* not active yet */
    { "ACCOUNT_ACTIVATED", 1, 4, 0 },
    { "ACCOUNT_DEPOSITED", 1, 5, 500 },
    { "ACCOUNT_WITHDRAWN", 1, 6, 501 }, /* insufficient funds */
    { "ACCOUNT_WITHDRAWN", 1, 7, 200 },
    { "ACCOUNT_WITHDRAWN", 1, 7, 200 }, /* duplicate */
    { "ACCOUNT_DEPOSITED", 1, 2, 999 }, /* duplicate (old seq) */
    { "ACCOUNT_SUSPENDED", 1, 8, 0 },
    { "ACCOUNT_ARCHIVED", 1, 9, 0 }, /* only from ACTIVE */
    { "ACCOUNT_CREATED", 2, 1, 0 },
    { "ACCOUNT_CREATED", 2, 2, 0 },    /* already created */
    { "ACCOUNT_OPENED", 3, 1, 0 },     /* unknown type */
    { "ACCOUNT_CREATED", -1, 1, 0 },   /* no account */
    { "ACCOUNT_DEPOSITED", 2, 3, -5 }, /* bad amount */
    { NULL, 0, 0, 0 },
};

Test(account_events_app, every_outcome, .timeout = 30)
{
    /* 16 events: 2 duplicates skipped; 14 + the non-map one arrive. */
    char *json = run(first, 15, NULL);
    expect_applied(1, 1, "PENDING", 0);
    expect_applied(1, 2, "CONFIRMED", 0);
    expect_rejected(1, 3, "not active");
    expect_applied(1, 4, "ACTIVE", 0);
    expect_applied(1, 5, "ACTIVE", 500);
    expect_rejected(1, 6, "insufficient funds");
    expect_applied(1, 7, "ACTIVE", 300);
    expect_applied(1, 8, "SUSPENDED", 300);
    expect_rejected(1, 9, "illegal transition");
    expect_applied(2, 1, "PENDING", 0);
    expect_rejected(2, 2, "illegal transition");
    expect_rejected(3, 1, "unknown account event type 'ACCOUNT_OPENED'");
    expect_rejected(-1, 1, "'account'");
    expect_rejected(2, 3, "amount");
    expect_rejected(-1, -1, "not a well-formed msgpack map");
    cr_assert(strstr(json, "\"dups\": 2") != NULL, "%s", json);
    cr_assert(strstr(json, "\"out\": 7,") != NULL, "%s", json);
    cr_assert(strstr(json, "\"errors\": 8,") != NULL, "%s", json);
    free(json);
}

static const struct inject before[] = {
    { "ACCOUNT_CREATED", 5, 1, 0 },
    { "ACCOUNT_CONFIRMED", 5, 2, 0 },
    { "ACCOUNT_ACTIVATED", 5, 3, 0 },
    { "ACCOUNT_DEPOSITED", 5, 4, 1000 },
    { NULL, 0, 0, 0 },
};

static const struct inject after[] = {
    { "ACCOUNT_DEPOSITED", 5, 4, 1000 }, /* already applied before */
    { "ACCOUNT_WITHDRAWN", 5, 5, 250 },
    { "ACCOUNT_CONFIRMED", 5, 6, 0 }, /* ACTIVE since the first run */
    { NULL, 0, 0, 0 },
};

Test(account_events_app, state_survives_a_restart, .timeout = 30)
{
    char dir[] = "/tmp/flow-ae-state-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char state[96];
    snprintf(state, sizeof(state), "%s/accounts", dir);
    free(run(before, 5, state));
    expect_applied(5, 4, "ACTIVE", 1000);
    cr_assert_eq(access(state, F_OK), 0, "the accounts were not saved");
    char *json = run(after, 3, state);
    expect_applied(5, 5, "ACTIVE", 750);
    expect_rejected(5, 6, "illegal transition");
    cr_assert(strstr(json, "\"dups\": 1") != NULL, "%s", json);
    free(json);
    unlink(state);
    rmdir(dir);
}
