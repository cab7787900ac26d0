/*
 * payment - the payment context of the order saga.
 *
 * Holds each account's funds and each order's charge (docs/apps.md "The
 * order saga"). ChargePayment answers PaymentCharged, taking the amount
 * from the account, or PaymentFailed with the reason "declined" (the
 * order's card was declined) or "insufficient-funds" (the account holds
 * less than the amount), taking nothing. Idempotent per order: a second
 * ChargePayment of an order is a duplicate, skipped and counted, and
 * never charges twice. The other commands and events of the saga are
 * not payment's and are passed over; an illegal command goes to the
 * error output with the reason. Funds and charges are the app state
 * captured by snapshot and restore.
 */
#include "apps.h"
#include "saga.h"

#include <inttypes.h>
#include <stdio.h>

enum charge_state {
    CHARGE_NONE,
    CHARGE_MADE,
    CHARGE_FAILED,
};

struct account_rec {
    int64_t funds; /* never below 0 */
    uint8_t known; /* funds set from --funds */
    uint8_t pad[7];
};

struct charge_rec {
    uint64_t account, amount;
    uint8_t state, reason;
    uint8_t pad[6];
};

struct payment_app {
    int64_t accounts;   /* --accounts: accounts 1 to accounts hold funds */
    int64_t funds;      /* --funds: each one's funds at start */
    int64_t max_orders; /* --max-orders */
    struct saga_table account_table, charge_table;
};

static const flow_option options[] = {
    { .name = "accounts",
      .type = FLOW_OPT_INT,
      .def = "1000",
      .min = "1",
      .max = "100000000",
      FLOW_OPT_FIELD(struct payment_app, accounts),
      .description = "Accounts 1 to this hold --funds at start; any other "
                     "account holds nothing." },
    { .name = "funds",
      .type = FLOW_OPT_INT,
      .def = "1000000",
      .min = "0",
      .max = "1000000000000000",
      FLOW_OPT_FIELD(struct payment_app, funds),
      .description = "Funds of each account at start, in the smallest "
                     "currency unit." },
    { .name = "max-orders",
      .type = FLOW_OPT_INT,
      .def = "10000000",
      .min = "1",
      FLOW_OPT_FIELD(struct payment_app, max_orders),
      .description = "Most orders whose charges are held; further new "
                     "orders are rejected." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct payment_app *s = flow_state(ctx);
    saga_table_init(&s->account_table, sizeof(struct account_rec),
                    (size_t)s->accounts + 1000000);
    saga_table_init(&s->charge_table, sizeof(struct charge_rec),
                    (size_t)s->max_orders);
    return 0;
}

static int charge(flow_ctx *ctx, struct payment_app *s, const flow_event *ev,
                  const struct saga_fields *f)
{
    bool full;
    if (!f->has_account || !f->has_amount || f->amount == 0 ||
        f->amount > INT64_MAX)
        return saga_reject(ctx, ev,
                           "ChargePayment needs an unsigned 'account' and a "
                           "positive 'amount'");
    if (saga_table_find(&s->charge_table, f->order)) {
        flow_count_dups(ctx, 1);
        return 0;
    }
    struct account_rec *a =
        saga_table_get(&s->account_table, f->account, &full);
    if (!a)
        return full ? saga_reject(ctx, ev,
                                  "account %" PRIu64 " is new but %zu accounts "
                                  "are known already",
                                  f->account, s->account_table.count)
                    : -FLOW_ENOMEM;
    if (!a->known) {
        a->known = 1;
        a->funds = f->account >= 1 && f->account <= (uint64_t)s->accounts
                       ? s->funds
                       : 0;
    }
    struct charge_rec *c = saga_table_get(&s->charge_table, f->order, &full);
    if (!c)
        return full ? saga_reject(ctx, ev,
                                  "order %" PRIu64 " is new but %zu orders are "
                                  "held already (--max-orders)",
                                  f->order, s->charge_table.count)
                    : -FLOW_ENOMEM;
    c->account = f->account;
    c->amount = f->amount;
    if (f->card_declined)
        c->reason = SAGA_REASON_DECLINED;
    else if ((uint64_t)a->funds < f->amount)
        c->reason = SAGA_REASON_INSUFFICIENT_FUNDS;
    struct saga_msg m;
    saga_msg_begin(&m, flow_payload_buf(ctx),
                   c->reason ? SAGA_PAYMENT_FAILED : SAGA_PAYMENT_CHARGED);
    if (c->reason) {
        c->state = CHARGE_FAILED;
    } else {
        c->state = CHARGE_MADE;
        a->funds -= (int64_t)f->amount;
    }
    saga_msg_uint(&m, "order", f->order);
    saga_msg_uint(&m, "account", f->account);
    saga_msg_uint(&m, "amount", f->amount);
    saga_msg_uint(&m, "funds", (uint64_t)a->funds);
    if (c->reason)
        saga_msg_str(&m, "reason",
                     saga_reason_name((enum saga_reason)c->reason));
    return saga_msg_emit(ctx, &m, f->order, ev->ts_us);
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct payment_app *s = flow_state(ctx);
    struct saga_fields f;

    if (saga_read_fields(ev->payload, ev->payload_len, &f) < 0)
        return saga_reject(ctx, ev, "payload is not a well-formed msgpack map");
    if (f.type != SAGA_CHARGE_PAYMENT)
        return 0; /* not payment's */
    if (!f.has_order)
        return saga_reject(ctx, ev,
                           "payload field 'order' is missing or not a "
                           "non-negative integer");
    return charge(ctx, s, ev, &f);
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct payment_app *s = flow_state(ctx);
    struct saga_table *t[] = { &s->account_table, &s->charge_table };
    return saga_tables_save(t, 2, out);
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct payment_app *s = flow_state(ctx);
    struct saga_table *t[] = { &s->account_table, &s->charge_table };
    const char *why;
    if (len == 0)
        return 0;
    if (saga_tables_load(t, 2, data, len, &why) < 0) {
        flow_log(ctx, "cannot restore the saved funds: %s", why);
        return -FLOW_EMALFORMED;
    }
    flow_log(ctx, "restored %zu accounts and %zu charges",
             s->account_table.count, s->charge_table.count);
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct payment_app *s = flow_state(ctx);
    saga_table_fini(&s->account_table);
    saga_table_fini(&s->charge_table);
}

const flow_app_desc payment_app = {
    .name = "payment",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "The saga's payment context: charges each order's "
                   "account once (idempotent per order), answering "
                   "PaymentCharged or PaymentFailed (declined, "
                   "insufficient-funds); other events are passed over.",
    .options = options,
    .state_size = sizeof(struct payment_app),
    .init = init,
    .on_event = on_event,
    .snapshot = snapshot,
    .restore = restore,
    .fini = fini,
};
