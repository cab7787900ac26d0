/*
 * order - the orchestrator of the order saga.
 *
 * Holds each order's state machine (docs/apps.md "The order saga"): an
 * OrderPlaced starts the order and asks the warehouse for its items
 * (ReserveInventory); a reservation asks for the payment (ChargePayment),
 * its absence cancels the order; a charge completes the order, a failed
 * payment releases the reservation (ReleaseInventory, the compensation)
 * and then cancels it. Commands and final events go to the output, keyed
 * by the order id; an event an order has already taken is a duplicate,
 * skipped and counted; an event its state does not take is rejected to
 * the error output with the reason. The orders are the app state
 * captured by snapshot and restore.
 */
#include "apps.h"
#include "saga.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum order_state {
    ORDER_NEW, /* nothing applied yet */
    ORDER_RESERVING,
    ORDER_CHARGING,
    ORDER_RELEASING,
    ORDER_COMPLETED,
    ORDER_CANCELLED,
};

static const char *const state_names[] = {
    "NEW", "RESERVING", "CHARGING", "RELEASING", "COMPLETED", "CANCELLED",
};

/* One order: what OrderPlaced said, its state, and which event types it
 * has taken (bit per enum saga_type), which makes replays duplicates. */
struct order_rec {
    uint64_t account, sku, qty, amount;
    uint16_t seen;
    uint8_t state, reason, card_declined, pad[3];
};

struct order_app {
    int64_t max_orders; /* --max-orders, at least 1 */
    struct saga_table orders;
};

static const flow_option options[] = {
    { .name = "max-orders",
      .type = FLOW_OPT_INT,
      .def = "10000000",
      .min = "1",
      FLOW_OPT_FIELD(struct order_app, max_orders),
      .description = "Most orders held; further new orders are rejected." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct order_app *s = flow_state(ctx);
    saga_table_init(&s->orders, sizeof(struct order_rec),
                    (size_t)s->max_orders);
    return 0;
}

/* The state each event type is taken in, and the state it leads to. */
static const struct {
    uint8_t from, to;
} moves[SAGA_NTYPES] = {
    [SAGA_ORDER_PLACED] = { ORDER_NEW, ORDER_RESERVING },
    [SAGA_INVENTORY_RESERVED] = { ORDER_RESERVING, ORDER_CHARGING },
    [SAGA_INVENTORY_OUT_OF_STOCK] = { ORDER_RESERVING, ORDER_CANCELLED },
    [SAGA_PAYMENT_CHARGED] = { ORDER_CHARGING, ORDER_COMPLETED },
    [SAGA_PAYMENT_FAILED] = { ORDER_CHARGING, ORDER_RELEASING },
    [SAGA_INVENTORY_RELEASED] = { ORDER_RELEASING, ORDER_CANCELLED },
};

static bool taken(int type)
{
    return type == SAGA_ORDER_PLACED || type == SAGA_INVENTORY_RESERVED ||
           type == SAGA_INVENTORY_OUT_OF_STOCK ||
           type == SAGA_PAYMENT_CHARGED || type == SAGA_PAYMENT_FAILED ||
           type == SAGA_INVENTORY_RELEASED;
}

/* The order's fields every command and final event carries. */
static void put_order(struct saga_msg *m, uint64_t id,
                      const struct order_rec *o)
{
    saga_msg_uint(m, "order", id);
    saga_msg_uint(m, "account", o->account);
    saga_msg_uint(m, "sku", o->sku);
    saga_msg_uint(m, "qty", o->qty);
    saga_msg_uint(m, "amount", o->amount);
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct order_app *s = flow_state(ctx);
    struct saga_fields f;

    if (saga_read_fields(ev->payload, ev->payload_len, &f) < 0)
        return saga_reject(ctx, ev, "payload is not a well-formed msgpack map");
    if (!f.has_type_str)
        return saga_reject(ctx, ev,
                           "payload field 'type' is missing or not a string");
    if (!taken(f.type))
        return saga_reject(
            ctx, ev, "'%.*s' is not an event the order app takes",
            (int)(f.type_len > 64 ? 64 : f.type_len), f.type_str);
    if (!f.has_order)
        return saga_reject(ctx, ev,
                           "payload field 'order' is missing or not a "
                           "non-negative integer");
    const char *tname = saga_type_name((enum saga_type)f.type);
    struct order_rec *o;
    if (f.type == SAGA_ORDER_PLACED) {
        if (!f.has_account || !f.has_sku || !f.has_qty || f.qty == 0 ||
            !f.has_amount || f.amount == 0)
            return saga_reject(ctx, ev,
                               "OrderPlaced needs unsigned 'account' and 'sku' "
                               "and positive 'qty' and 'amount'");
        bool full;
        o = saga_table_get(&s->orders, f.order, &full);
        if (!o) {
            if (!full)
                return -FLOW_ENOMEM;
            return saga_reject(ctx, ev,
                               "order %" PRIu64 " is new but %zu orders are "
                               "held already (--max-orders)",
                               f.order, s->orders.count);
        }
    } else {
        o = saga_table_find(&s->orders, f.order);
        if (!o)
            return saga_reject(ctx, ev,
                               "%s for order %" PRIu64 ", which is unknown",
                               tname, f.order);
    }
    if (o->seen & (1u << f.type)) {
        flow_count_dups(ctx, 1);
        return 0;
    }
    if (o->state != moves[f.type].from)
        return saga_reject(ctx, ev,
                           "%s for order %" PRIu64 " in state %s: illegal "
                           "transition",
                           tname, f.order, state_names[o->state]);
    if (f.type == SAGA_PAYMENT_FAILED && f.reason != SAGA_REASON_DECLINED &&
        f.reason != SAGA_REASON_INSUFFICIENT_FUNDS)
        return saga_reject(ctx, ev,
                           "PaymentFailed for order %" PRIu64 " needs 'reason' "
                           "\"declined\" or \"insufficient-funds\"",
                           f.order);

    struct saga_msg m;
    enum saga_type out;
    switch (f.type) {
    case SAGA_ORDER_PLACED:
        o->account = f.account;
        o->sku = f.sku;
        o->qty = f.qty;
        o->amount = f.amount;
        o->card_declined = f.card_declined;
        out = SAGA_RESERVE_INVENTORY;
        break;
    case SAGA_INVENTORY_RESERVED:
        out = SAGA_CHARGE_PAYMENT;
        break;
    case SAGA_INVENTORY_OUT_OF_STOCK:
        o->reason = SAGA_REASON_OUT_OF_STOCK;
        out = SAGA_ORDER_CANCELLED;
        break;
    case SAGA_PAYMENT_CHARGED:
        out = SAGA_ORDER_COMPLETED;
        break;
    case SAGA_PAYMENT_FAILED:
        o->reason = (uint8_t)f.reason;
        out = SAGA_RELEASE_INVENTORY;
        break;
    default: /* SAGA_INVENTORY_RELEASED */
        out = SAGA_ORDER_CANCELLED;
        break;
    }
    saga_msg_begin(&m, flow_payload_buf(ctx), out);
    put_order(&m, f.order, o);
    if (out == SAGA_CHARGE_PAYMENT)
        saga_msg_str(&m, "card", o->card_declined ? "declined" : "valid");
    if (out == SAGA_ORDER_CANCELLED) {
        saga_msg_str(&m, "reason",
                     saga_reason_name((enum saga_reason)o->reason));
        saga_msg_bool(&m, "compensated", f.type == SAGA_INVENTORY_RELEASED);
    }
    int rc = saga_msg_emit(ctx, &m, f.order, ev->ts_us);
    if (rc < 0)
        return rc;
    o->seen |= (uint16_t)(1u << f.type);
    o->state = moves[f.type].to;
    return 0;
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct order_app *s = flow_state(ctx);
    struct saga_table *t[] = { &s->orders };
    return saga_tables_save(t, 1, out);
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct order_app *s = flow_state(ctx);
    struct saga_table *t[] = { &s->orders };
    const char *why;
    if (len == 0)
        return 0;
    if (saga_tables_load(t, 1, data, len, &why) < 0) {
        flow_log(ctx, "cannot restore the saved orders: %s", why);
        return -FLOW_EMALFORMED;
    }
    flow_log(ctx, "restored %zu orders", s->orders.count);
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct order_app *s = flow_state(ctx);
    saga_table_fini(&s->orders);
}

const flow_app_desc order_app = {
    .name = "order",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Orchestrates the order saga: each order's state machine "
                   "turns OrderPlaced and the warehouse's and payment's "
                   "answers into the next command (ReserveInventory, "
                   "ChargePayment, ReleaseInventory) or the final event "
                   "(OrderCompleted, OrderCancelled); illegal events go to "
                   "the error output with the reason, duplicates are "
                   "skipped and counted.",
    .options = options,
    .state_size = sizeof(struct order_app),
    .init = init,
    .on_event = on_event,
    .snapshot = snapshot,
    .restore = restore,
    .fini = fini,
};
