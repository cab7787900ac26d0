/*
 * Module tests of the order saga's processors (order, inventory,
 * payment): each runs in-process (flow-host's threads over inproc://)
 * between an injecting source and a capturing sink, and every event's
 * outcome is checked: the command or answer it gives, its rejection with
 * the reason, or its skipping as a duplicate. A second run of order
 * restores the orders saved by the first.
 */
#include <criterion/criterion.h>

#include "apps.h"

#include "flow/host.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One injected event; type NULL ends the list. A field of 0 (NULL) is
 * left out, but for order, which is left out when negative. */
struct inject {
    const char *type;
    int64_t order;
    uint64_t account, sku, qty, amount;
    const char *card, *reason;
};

/* What the capturing sink saw. */
struct seen {
    char type[32]; /* the payload's type, or "error" */
    int64_t order;
    char reason[200]; /* the error's reason or the payload's `reason` */
    int64_t stock, funds, amount;
    int compensated; /* -1: absent */
};

static const struct inject *g_events;
static struct seen g_seen[64];
static int g_nseen, g_expect;
static flow_host *g_host;

static int inject_tick(flow_ctx *ctx)
{
    for (const struct inject *e = g_events; e->type; e++) {
        flow_buf *b = flow_payload_buf(ctx);
        uint32_t n = 1 + (e->order >= 0) + !!e->account + !!e->sku + !!e->qty +
                     !!e->amount + !!e->card + !!e->reason;
        flow_mp_put_map(b, n);
        flow_mp_put_cstr(b, "type");
        flow_mp_put_cstr(b, e->type);
        if (e->order >= 0) {
            flow_mp_put_cstr(b, "order");
            flow_mp_put_int(b, e->order);
        }
#define PUT_UINT(f)                \
    if (e->f) {                    \
        flow_mp_put_cstr(b, #f);   \
        flow_mp_put_uint(b, e->f); \
    }
        PUT_UINT(account)
        PUT_UINT(sku)
        PUT_UINT(qty)
        PUT_UINT(amount)
#undef PUT_UINT
        if (e->card) {
            flow_mp_put_cstr(b, "card");
            flow_mp_put_cstr(b, e->card);
        }
        if (e->reason) {
            flow_mp_put_cstr(b, "reason");
            flow_mp_put_cstr(b, e->reason);
        }
        cr_assert_eq(flow_emit(ctx, e->type, NULL, 0, b->data, b->len), 0);
    }
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
    memset(s, 0, sizeof(*s));
    s->order = -1;
    s->compensated = -1;
    if (flow_event_get(ev, "error", &v) == 0) {
        strcpy(s->type, "error");
        copy_str(s->reason, sizeof(s->reason), &v);
        if (flow_event_get(ev, "event", &v) == 0 && v.type == FLOW_MP_MAP &&
            flow_mp_map_find(v.raw, v.raw_len, "order", &inner) == 0)
            s->order = inner.i;
    } else {
        cr_assert_eq(flow_event_get(ev, "type", &v), 0);
        copy_str(s->type, sizeof(s->type), &v);
        cr_assert(ev->key_len > 0, "no key on %s", s->type);
        s->order = flow_event_get_int(ev, "order", -1);
        cr_assert_eq((size_t)ev->key_len,
                     (size_t)snprintf(NULL, 0, "%" PRId64, s->order));
        if (flow_event_get(ev, "reason", &v) == 0)
            copy_str(s->reason, sizeof(s->reason), &v);
        if (flow_event_get(ev, "compensated", &v) == 0)
            s->compensated = v.b;
        s->stock = flow_event_get_int(ev, "stock", -1);
        s->funds = flow_event_get_int(ev, "funds", -1);
        s->amount = flow_event_get_int(ev, "amount", -1);
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

/* The n-th (from 0) output about order, of the given type. */
static const struct seen *find(int64_t order, const char *type, int n)
{
    for (int i = 0; i < g_nseen; i++)
        if (g_seen[i].order == order && !strcmp(g_seen[i].type, type) &&
            n-- == 0)
            return &g_seen[i];
    return NULL;
}

static const struct seen *expect(int64_t order, const char *type,
                                 const char *reason)
{
    const struct seen *s = find(order, type, 0);
    cr_assert_not_null(s, "order %" PRId64 ": no %s", order, type);
    if (reason)
        cr_assert(strstr(s->reason, reason) != NULL,
                  "order %" PRId64 ": reason '%s' lacks '%s'", order, s->reason,
                  reason);
    return s;
}

/* Runs inject | APP OPTS | capture; returns the app's final metrics JSON
 * (malloc'd). */
static char *run(const flow_app_desc *app, const char *opt1, const char *opt2,
                 const struct inject *events, int want, const char *state)
{
    char dir[] = "/tmp/flow-saga-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char metrics[128], statef[128], in[48], out[48], err[48], cin[160];
    snprintf(metrics, sizeof(metrics), "--flow.metrics-json=%s/m.json", dir);
    snprintf(statef, sizeof(statef), "--flow.state=%s", state ? state : "");
    snprintf(in, sizeof(in), "inproc://saga-in-%d", (int)getpid());
    snprintf(out, sizeof(out), "inproc://saga-out-%d", (int)getpid());
    snprintf(err, sizeof(err), "inproc://saga-err-%d", (int)getpid());
    char o1[96], i2[96], o2[96], e2[96];
    snprintf(o1, sizeof(o1), "--flow.output=@%s", in);
    snprintf(i2, sizeof(i2), "--flow.input=%s", in);
    snprintf(o2, sizeof(o2), "--flow.output=@%s", out);
    snprintf(e2, sizeof(e2), "--flow.error-output=@%s", err);
    snprintf(cin, sizeof(cin), "--flow.input=%s,%s", out, err);

    g_events = events;
    g_nseen = 0;
    g_expect = want;
    g_host = flow_host_new();
    cr_assert_not_null(g_host);
    char *a1[] = { "inject", o1 };
    char *a2[8] = { (char *)app->name, i2, o2, e2, metrics };
    int n2 = 5;
    if (state)
        a2[n2++] = statef;
    if (opt1)
        a2[n2++] = (char *)opt1;
    if (opt2)
        a2[n2++] = (char *)opt2;
    char *a3[] = { "capture", cin };
    cr_assert_eq(flow_host_add(g_host, &inject_app, 2, a1), 0);
    cr_assert_eq(flow_host_add(g_host, app, n2, a2), 0);
    cr_assert_eq(flow_host_add(g_host, &capture_app, 2, a3), 0);
    cr_assert_eq(flow_host_run(g_host), 0);
    flow_host_destroy(&g_host);
    cr_assert_eq(g_nseen, want);

    char path[160];
    snprintf(path, sizeof(path), "%s/m.json", dir);
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

#define PLACED(o, acct, sku, qty, amount, card)              \
    {                                                        \
        "OrderPlaced", o, acct, sku, qty, amount, card, NULL \
    }
#define ANSWER(type, o)                 \
    {                                   \
        type, o, 0, 0, 0, 0, NULL, NULL \
    }
#define FAILED(o, why)                            \
    {                                             \
        "PaymentFailed", o, 0, 0, 0, 0, NULL, why \
    }

static const struct inject orders[] = {
    PLACED(1, 7, 3, 2, 500, "valid"),
    ANSWER("InventoryReserved", 1),
    ANSWER("PaymentCharged", 1),
    ANSWER("PaymentCharged", 1), /* duplicate */
    PLACED(2, 7, 99, 1, 100, "valid"),
    ANSWER("InventoryOutOfStock", 2),
    ANSWER("InventoryReserved", 2), /* cancelled already */
    PLACED(3, 8, 3, 1, 100, "declined"),
    PLACED(3, 8, 3, 1, 100, "declined"), /* duplicate */
    ANSWER("InventoryReserved", 3),
    FAILED(3, "declined"),
    ANSWER("InventoryReleased", 3),
    PLACED(4, 8, 3, 1, 100, "valid"),
    ANSWER("PaymentCharged", 4), /* not reserved yet */
    ANSWER("InventoryReserved", 4),
    FAILED(4, "broke"), /* unknown reason */
    FAILED(4, "insufficient-funds"),
    ANSWER("InventoryReleased", 5),               /* unknown order */
    ANSWER("ReserveInventory", 1),                /* a command */
    ANSWER("Nonsense", 1),                        /* no saga type */
    ANSWER("InventoryReserved", -1),              /* no order */
    { "OrderPlaced", 6, 1, 1, 0, 5, NULL, NULL }, /* no qty */
    { NULL, 0, 0, 0, 0, 0, NULL, NULL },
};

Test(saga_apps, order_every_outcome, .timeout = 30)
{
    /* 22 events, 2 duplicates: 12 commands and final events, 8
     * rejections and the non-map one. */
    char *json = run(&order_app, NULL, NULL, orders, 21, NULL);
    expect(1, "ReserveInventory", NULL);
    cr_assert_str_eq(expect(1, "ChargePayment", NULL)->type, "ChargePayment");
    expect(1, "OrderCompleted", NULL);
    cr_assert_null(find(1, "OrderCompleted", 1));
    const struct seen *c = expect(2, "OrderCancelled", "out-of-stock");
    cr_assert_eq(c->compensated, 0);
    cr_assert_eq(c->amount, 100);
    expect(2, "error",
           "InventoryReserved for order 2 in state CANCELLED: "
           "illegal transition");
    cr_assert_null(find(3, "ReserveInventory", 1));
    expect(3, "ReleaseInventory", NULL);
    c = expect(3, "OrderCancelled", "declined");
    cr_assert_eq(c->compensated, 1);
    expect(4, "error", "PaymentCharged for order 4 in state RESERVING");
    cr_assert_not_null(find(4, "error", 1));
    cr_assert(strstr(find(4, "error", 1)->reason,
                     "needs 'reason' \"declined\" or "
                     "\"insufficient-funds\""));
    expect(4, "ReleaseInventory", NULL);
    cr_assert_null(find(4, "OrderCancelled", 0), "not released yet");
    expect(5, "error", "InventoryReleased for order 5, which is unknown");
    expect(1, "error", "'ReserveInventory' is not an event the order app");
    cr_assert(strstr(find(1, "error", 1)->reason, "'Nonsense' is not"));
    expect(-1, "error", "payload field 'order' is missing");
    expect(6, "error", "OrderPlaced needs");
    cr_assert(strstr(json, "\"dups\": 2") != NULL, "%s", json);
    cr_assert(strstr(json, "\"errors\": 9,") != NULL, "%s", json);
    free(json);
}

static const struct inject before[] = {
    PLACED(9, 1, 1, 1, 300, "valid"),
    ANSWER("InventoryReserved", 9),
    { NULL, 0, 0, 0, 0, 0, NULL, NULL },
};

static const struct inject after[] = {
    ANSWER("InventoryReserved", 9), /* taken before the restart */
    FAILED(9, "insufficient-funds"),
    ANSWER("InventoryReleased", 9),
    { NULL, 0, 0, 0, 0, 0, NULL, NULL },
};

Test(saga_apps, order_state_survives_a_restart, .timeout = 30)
{
    char state[] = "/tmp/flow-saga-state-XXXXXX";
    int fd = mkstemp(state);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(state);
    free(run(&order_app, NULL, NULL, before, 3, state));
    char *json = run(&order_app, NULL, NULL, after, 3, state);
    expect(9, "ReleaseInventory", NULL);
    expect(9, "OrderCancelled", "insufficient-funds");
    cr_assert(strstr(json, "\"dups\": 1") != NULL, "%s", json);
    free(json);
    unlink(state);
}

#define CMD(type, o, sku, qty)              \
    {                                       \
        type, o, 0, sku, qty, 0, NULL, NULL \
    }

static const struct inject stock[] = {
    CMD("ReserveInventory", 1, 1, 3), /* stock 5 -> 2 */
    CMD("ReserveInventory", 1, 1, 3), /* duplicate */
    CMD("ReserveInventory", 2, 1, 3), /* short: 2 left */
    CMD("ReserveInventory", 3, 1, 2), /* 2 -> 0 */
    CMD("ReserveInventory", 4, 9, 1), /* sku 9 is not stocked */
    CMD("ReleaseInventory", 1, 0, 0), /* 0 -> 3 */
    CMD("ReleaseInventory", 1, 0, 0), /* duplicate */
    CMD("ReleaseInventory", 2, 0, 0), /* was out of stock */
    CMD("ReleaseInventory", 8, 0, 0), /* never reserved */
    CMD("ReserveInventory", 5, 1, 0), /* no qty */
    CMD("ChargePayment", 5, 0, 0),    /* not the warehouse's */
    CMD("OrderCompleted", 5, 0, 0),   /* not the warehouse's */
    CMD("ReserveInventory", 6, 1, 3), /* 3 -> 0 */
    { NULL, 0, 0, 0, 0, 0, NULL, NULL },
};

Test(saga_apps, inventory_stock_never_negative, .timeout = 30)
{
    /* 13 events: 2 duplicates and 2 passed over; 9 + the non-map one. */
    char *json = run(&inventory_app, "--skus=2", "--stock=5", stock, 10, NULL);
    cr_assert_eq(expect(1, "InventoryReserved", NULL)->stock, 2);
    cr_assert_null(find(1, "InventoryReserved", 1));
    cr_assert_eq(expect(2, "InventoryOutOfStock", NULL)->stock, 2);
    cr_assert_eq(expect(3, "InventoryReserved", NULL)->stock, 0);
    cr_assert_eq(expect(4, "InventoryOutOfStock", NULL)->stock, 0);
    cr_assert_eq(expect(1, "InventoryReleased", NULL)->stock, 3);
    cr_assert_null(find(1, "InventoryReleased", 1));
    expect(2, "error",
           "ReleaseInventory for order 2, which holds no "
           "reservation");
    expect(8, "error", "which holds no reservation");
    expect(5, "error", "ReserveInventory needs");
    cr_assert_eq(expect(6, "InventoryReserved", NULL)->stock, 0);
    cr_assert(strstr(json, "\"dups\": 2") != NULL, "%s", json);
    cr_assert(strstr(json, "\"errors\": 4,") != NULL, "%s", json);
    free(json);
}

#define CHARGE(o, acct, amount, card)                      \
    {                                                      \
        "ChargePayment", o, acct, 0, 0, amount, card, NULL \
    }

static const struct inject charges[] = {
    CHARGE(1, 1, 600, "valid"),       /* 1000 -> 400 */
    CHARGE(1, 1, 600, "valid"),       /* duplicate: never twice */
    CHARGE(2, 1, 500, "valid"),       /* 400 < 500 */
    CHARGE(3, 1, 100, "declined"),    /* declined, funds kept */
    CHARGE(4, 1, 400, NULL),          /* 400 -> 0 */
    CHARGE(5, 3, 1, "valid"),         /* account 3 holds nothing */
    CHARGE(6, 2, 0, "valid"),         /* no amount */
    CMD("ReserveInventory", 7, 1, 1), /* not payment's */
    { NULL, 0, 0, 0, 0, 0, NULL, NULL },
};

Test(saga_apps, payment_charges_once, .timeout = 30)
{
    /* 8 events: 1 duplicate and 1 passed over; 6 + the non-map one. */
    char *json =
        run(&payment_app, "--accounts=2", "--funds=1000", charges, 7, NULL);
    cr_assert_eq(expect(1, "PaymentCharged", NULL)->funds, 400);
    cr_assert_null(find(1, "PaymentCharged", 1));
    cr_assert_eq(expect(2, "PaymentFailed", "insufficient-funds")->funds, 400);
    cr_assert_eq(expect(3, "PaymentFailed", "declined")->funds, 400);
    cr_assert_eq(expect(4, "PaymentCharged", NULL)->funds, 0);
    expect(5, "PaymentFailed", "insufficient-funds");
    expect(6, "error", "ChargePayment needs");
    cr_assert(strstr(json, "\"dups\": 1") != NULL, "%s", json);
    cr_assert(strstr(json, "\"errors\": 2,") != NULL, "%s", json);
    free(json);
}
