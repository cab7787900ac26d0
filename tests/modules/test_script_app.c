/*
 * Module test of script: the app runs in-process (flow-host's threads over
 * inproc://) between an injecting source and a capturing sink, with a
 * --script-text that drops, changes, splits and fails events; each
 * outcome is checked, the failed event on the error output with the
 * script's line.
 */
#include <criterion/criterion.h>

#include "apps.h"

#include "flow/host.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NINJECT 10

/* What the capturing sink saw. */
struct seen {
    char type[32];
    int64_t amount, twice;
    bool error;
    char reason[200];
};

static struct seen g_seen[32];
static int g_nseen, g_expect;
static flow_host *g_host;

static int inject_tick(flow_ctx *ctx)
{
    for (int64_t a = 1; a <= NINJECT; a++) {
        flow_buf *b = flow_payload_buf(ctx);
        flow_mp_put_map(b, 1);
        flow_mp_put_cstr(b, "amount");
        flow_mp_put_int(b, a);
        cr_assert_eq(flow_emit(ctx, "in", NULL, 0, b->data, b->len), 0);
    }
    return FLOW_TICK_DONE;
}

static const flow_app_desc inject_app = {
    .name = "inject",
    .role = FLOW_ROLE_SOURCE,
    .description = "test source",
    .on_tick = inject_tick,
    .tick_us = 1000,
};

static int capture_event(flow_ctx *ctx, const flow_event *ev)
{
    (void)ctx;
    cr_assert_lt(g_nseen, 32);
    struct seen *s = &g_seen[g_nseen++];
    snprintf(s->type, sizeof(s->type), "%.*s", (int)ev->type_len, ev->type);
    flow_mp_value v, inner;
    if (flow_event_get(ev, "error", &v) == 0) {
        s->error = true;
        snprintf(s->reason, sizeof(s->reason), "%.*s", (int)v.len, v.str);
        cr_assert_eq(flow_event_get(ev, "event", &v), 0);
        cr_assert_eq(flow_mp_map_find(v.raw, v.raw_len, "amount", &inner), 0);
        s->amount = inner.i;
    } else {
        s->amount = flow_event_get_int(ev, "amount", -1);
        s->twice = flow_event_get_int(ev, "twice", -1);
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

static const char script[] =
    "--script-text=local factor\n"
    "function init(o) factor = tonumber(o.factor) end\n"
    "function process(ev)\n"
    "  local a = ev.payload.amount\n"
    "  if a % 2 == 1 then return nil end\n"
    "  if a == 4 then error('four is refused') end\n"
    "  if a == 10 then\n"
    "    return {{type = 'first', payload = {amount = a}},\n"
    "            {type = 'second', payload = {amount = a}}}\n"
    "  end\n"
    "  ev.payload.twice = a * factor\n"
    "  return ev\n"
    "end\n";

static const struct seen *find(const char *type, int64_t amount)
{
    for (int i = 0; i < g_nseen; i++) {
        if (!strcmp(g_seen[i].type, type) && g_seen[i].amount == amount)
            return &g_seen[i];
    }
    return NULL;
}

Test(script_app, every_outcome, .timeout = 30)
{
    char in[48], out[48], err[48], cin[160];
    snprintf(in, sizeof(in), "inproc://sc-in-%d", (int)getpid());
    snprintf(out, sizeof(out), "inproc://sc-out-%d", (int)getpid());
    snprintf(err, sizeof(err), "inproc://sc-err-%d", (int)getpid());
    char o1[96], i2[96], o2[96], e2[96];
    snprintf(o1, sizeof(o1), "--flow.output=@%s", in);
    snprintf(i2, sizeof(i2), "--flow.input=%s", in);
    snprintf(o2, sizeof(o2), "--flow.output=@%s", out);
    snprintf(e2, sizeof(e2), "--flow.error-output=@%s", err);
    snprintf(cin, sizeof(cin), "--flow.input=%s,%s", out, err);

    /* 2, 6, 8 changed; 10 split in two; 4 on the error output. */
    g_nseen = 0;
    g_expect = 6;
    g_host = flow_host_new();
    cr_assert_not_null(g_host);
    char *a1[] = { "inject", o1 };
    char *a2[] = { "script", i2, o2, e2, (char *)script, "--options=factor=2" };
    char *a3[] = { "capture", cin };
    cr_assert_eq(flow_host_add(g_host, &inject_app, 2, a1), 0);
    cr_assert_eq(flow_host_add(g_host, &script_app, 6, a2), 0);
    cr_assert_eq(flow_host_add(g_host, &capture_app, 2, a3), 0);
    cr_assert_eq(flow_host_run(g_host), 0);
    flow_host_destroy(&g_host);
    cr_assert_eq(g_nseen, 6);

    for (int64_t a = 2; a <= 8; a += 2) {
        if (a == 4)
            continue;
        const struct seen *s = find("in", a);
        cr_assert_not_null(s, "amount %d not seen", (int)a);
        cr_assert_not(s->error, "%s", s->reason);
        cr_assert_eq(s->twice, 2 * a);
    }
    cr_assert_not_null(find("first", 10));
    cr_assert_not_null(find("second", 10));
    const struct seen *s = find("in", 4);
    cr_assert_not_null(s);
    cr_assert(s->error);
    cr_assert(strstr(s->reason, "script-text:6: four is refused"), "%s",
              s->reason);
}
