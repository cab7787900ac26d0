/*
 * inventory - the warehouse of the order saga.
 *
 * Holds the stock of each sku and the reservation of each order
 * (docs/apps.md "The order saga"). ReserveInventory takes the order's
 * quantity from the sku's stock and answers InventoryReserved, or, when
 * the stock is short, InventoryOutOfStock without touching it;
 * ReleaseInventory puts a reservation back and answers InventoryReleased.
 * Both are idempotent per order: a command an order has had already is a
 * duplicate, skipped and counted. Stock never goes below zero. The other
 * commands and events of the saga are not the warehouse's and are passed
 * over; an illegal command goes to the error output with the reason.
 * Stock and reservations are the app state captured by snapshot and
 * restore.
 */
#include "apps.h"
#include "saga.h"

#include <inttypes.h>
#include <stdio.h>

enum resv_state {
    RESV_NONE,
    RESV_HELD,
    RESV_OUT_OF_STOCK,
    RESV_RELEASED,
};

struct sku_rec {
    int64_t stock; /* on hand and not reserved, never below 0 */
    uint8_t known; /* stock set from --stock */
    uint8_t pad[7];
};

struct resv_rec {
    uint64_t sku, qty;
    uint8_t state;
    uint8_t pad[7];
};

struct inventory_app {
    int64_t skus;       /* --skus: skus 1 to skus are stocked */
    int64_t stock;      /* --stock: each stocked sku's stock at start */
    int64_t max_orders; /* --max-orders */
    struct saga_table sku_table, resv_table;
};

static const flow_option options[] = {
    { .name = "skus",
      .type = FLOW_OPT_INT,
      .def = "100",
      .min = "1",
      .max = "10000000",
      FLOW_OPT_FIELD(struct inventory_app, skus),
      .description = "The warehouse stocks skus 1 to this; any other sku "
                     "has no stock." },
    { .name = "stock",
      .type = FLOW_OPT_INT,
      .def = "1000",
      .min = "0",
      .max = "1000000000000",
      FLOW_OPT_FIELD(struct inventory_app, stock),
      .description = "Units of each stocked sku at start." },
    { .name = "max-orders",
      .type = FLOW_OPT_INT,
      .def = "10000000",
      .min = "1",
      FLOW_OPT_FIELD(struct inventory_app, max_orders),
      .description = "Most orders whose reservations are held; further new "
                     "orders are rejected." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct inventory_app *s = flow_state(ctx);
    saga_table_init(&s->sku_table, sizeof(struct sku_rec),
                    (size_t)s->skus + 1000000);
    saga_table_init(&s->resv_table, sizeof(struct resv_rec),
                    (size_t)s->max_orders);
    return 0;
}

static int reserve(flow_ctx *ctx, struct inventory_app *s, const flow_event *ev,
                   const struct saga_fields *f)
{
    bool full;
    if (!f->has_sku || !f->has_qty || f->qty == 0 || f->qty > INT64_MAX)
        return saga_reject(ctx, ev,
                           "ReserveInventory needs an unsigned 'sku' and a "
                           "positive 'qty'");
    if (saga_table_find(&s->resv_table, f->order)) {
        flow_count_dups(ctx, 1);
        return 0;
    }
    struct sku_rec *k = saga_table_get(&s->sku_table, f->sku, &full);
    if (!k)
        return full ? saga_reject(ctx, ev,
                                  "sku %" PRIu64 " is new but %zu skus are "
                                  "known already",
                                  f->sku, s->sku_table.count)
                    : -FLOW_ENOMEM;
    if (!k->known) {
        k->known = 1;
        k->stock = f->sku >= 1 && f->sku <= (uint64_t)s->skus ? s->stock : 0;
    }
    struct resv_rec *r = saga_table_get(&s->resv_table, f->order, &full);
    if (!r)
        return full ? saga_reject(ctx, ev,
                                  "order %" PRIu64 " is new but %zu orders are "
                                  "held already (--max-orders)",
                                  f->order, s->resv_table.count)
                    : -FLOW_ENOMEM;
    bool short_ = (uint64_t)k->stock < f->qty;
    struct saga_msg m;
    saga_msg_begin(&m, flow_payload_buf(ctx),
                   short_ ? SAGA_INVENTORY_OUT_OF_STOCK
                          : SAGA_INVENTORY_RESERVED);
    r->sku = f->sku;
    r->qty = f->qty;
    if (short_) {
        r->state = RESV_OUT_OF_STOCK;
    } else {
        r->state = RESV_HELD;
        k->stock -= (int64_t)f->qty;
    }
    saga_msg_uint(&m, "order", f->order);
    saga_msg_uint(&m, "sku", f->sku);
    saga_msg_uint(&m, "qty", f->qty);
    saga_msg_uint(&m, "stock", (uint64_t)k->stock);
    return saga_msg_emit(ctx, &m, f->order, ev->ts_us);
}

static int release(flow_ctx *ctx, struct inventory_app *s, const flow_event *ev,
                   const struct saga_fields *f)
{
    struct resv_rec *r = saga_table_find(&s->resv_table, f->order);
    if (r && r->state == RESV_RELEASED) {
        flow_count_dups(ctx, 1);
        return 0;
    }
    if (!r || r->state != RESV_HELD)
        return saga_reject(ctx, ev,
                           "ReleaseInventory for order %" PRIu64
                           ", which holds "
                           "no reservation",
                           f->order);
    struct sku_rec *k = saga_table_find(&s->sku_table, r->sku);
    if (!k)
        return saga_reject(ctx, ev,
                           "ReleaseInventory for order %" PRIu64 ": its sku "
                           "%" PRIu64 " is unknown",
                           f->order, r->sku);
    struct saga_msg m;
    saga_msg_begin(&m, flow_payload_buf(ctx), SAGA_INVENTORY_RELEASED);
    k->stock += (int64_t)r->qty;
    r->state = RESV_RELEASED;
    saga_msg_uint(&m, "order", f->order);
    saga_msg_uint(&m, "sku", r->sku);
    saga_msg_uint(&m, "qty", r->qty);
    saga_msg_uint(&m, "stock", (uint64_t)k->stock);
    return saga_msg_emit(ctx, &m, f->order, ev->ts_us);
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct inventory_app *s = flow_state(ctx);
    struct saga_fields f;

    if (saga_read_fields(ev->payload, ev->payload_len, &f) < 0)
        return saga_reject(ctx, ev, "payload is not a well-formed msgpack map");
    if (f.type != SAGA_RESERVE_INVENTORY && f.type != SAGA_RELEASE_INVENTORY)
        return 0; /* not the warehouse's */
    if (!f.has_order)
        return saga_reject(ctx, ev,
                           "payload field 'order' is missing or not a "
                           "non-negative integer");
    if (f.type == SAGA_RESERVE_INVENTORY)
        return reserve(ctx, s, ev, &f);
    return release(ctx, s, ev, &f);
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct inventory_app *s = flow_state(ctx);
    struct saga_table *t[] = { &s->sku_table, &s->resv_table };
    return saga_tables_save(t, 2, out);
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct inventory_app *s = flow_state(ctx);
    struct saga_table *t[] = { &s->sku_table, &s->resv_table };
    const char *why;
    if (len == 0)
        return 0;
    if (saga_tables_load(t, 2, data, len, &why) < 0) {
        flow_log(ctx, "cannot restore the saved stock: %s", why);
        return -FLOW_EMALFORMED;
    }
    flow_log(ctx, "restored %zu skus and %zu reservations", s->sku_table.count,
             s->resv_table.count);
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct inventory_app *s = flow_state(ctx);
    saga_table_fini(&s->sku_table);
    saga_table_fini(&s->resv_table);
}

const flow_app_desc inventory_app = {
    .name = "inventory",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "The saga's warehouse: reserves and releases stock per "
                   "order (idempotent per order, stock never negative), "
                   "answering InventoryReserved, InventoryOutOfStock or "
                   "InventoryReleased; other events are passed over.",
    .options = options,
    .state_size = sizeof(struct inventory_app),
    .init = init,
    .on_event = on_event,
    .snapshot = snapshot,
    .restore = restore,
    .fini = fini,
};
