/*
 * order-sim - a source of deterministic orders for the order saga.
 *
 * Order i (1, 2, ...) is a pure function of --seed and i (see
 * order_sim_make), so a restored order-sim goes on from the number of
 * orders it emitted and a test can work out what a seed gives. Each
 * event is OrderPlaced, its key the order id; see docs/apps.md "The
 * order saga".
 */
#include "apps.h"
#include "saga.h"

#include <inttypes.h>
#include <stdlib.h>

/* Most events emitted by one on_tick, so the loop stays responsive. */
#define MAX_PER_TICK 4096

struct order_sim {
    int64_t seed;        /* --seed */
    int64_t orders;      /* --orders: stop after this many; 0 = never */
    int64_t rate;        /* --rate: orders/s; 0 = as fast as taken */
    int64_t accounts;    /* --accounts */
    int64_t skus;        /* --skus */
    double failure;      /* --payment-failure-ratio */
    double out_of_stock; /* --out-of-stock-ratio */
    uint64_t emitted;
    int64_t start_us;
    uint64_t base;
};

static const flow_option options[] = {
    { .name = "seed",
      .type = FLOW_OPT_INT,
      .def = "42",
      FLOW_OPT_FIELD(struct order_sim, seed),
      .description =
          "Seed of the generator: the same seed gives the same orders." },
    { .name = "orders",
      .type = FLOW_OPT_INT,
      .def = "0",
      .min = "0",
      FLOW_OPT_FIELD(struct order_sim, orders),
      .description = "Stop after this many orders; 0 never stops." },
    { .name = "rate",
      .type = FLOW_OPT_INT,
      .def = "100",
      .min = "0",
      FLOW_OPT_FIELD(struct order_sim, rate),
      .description =
          "Orders per second; 0 sends as fast as the stream takes them." },
    { .name = "accounts",
      .type = FLOW_OPT_INT,
      .def = "1000",
      .min = "1",
      .max = "100000000",
      FLOW_OPT_FIELD(struct order_sim, accounts),
      .description = "Orders are spread over accounts 1 to this." },
    { .name = "skus",
      .type = FLOW_OPT_INT,
      .def = "100",
      .min = "1",
      .max = "10000000",
      FLOW_OPT_FIELD(struct order_sim, skus),
      .description = "Orders in stock name skus 1 to this, out-of-stock "
                     "ones skus above it (give inventory the same --skus)." },
    { .name = "payment-failure-ratio",
      .type = FLOW_OPT_FLOAT,
      .def = "0.05",
      .min = "0",
      .max = "1",
      FLOW_OPT_FIELD(struct order_sim, failure),
      .description = "Fraction (0 to 1) of orders whose card is declined." },
    { .name = "out-of-stock-ratio",
      .type = FLOW_OPT_FLOAT,
      .def = "0.05",
      .min = "0",
      .max = "1",
      FLOW_OPT_FIELD(struct order_sim, out_of_stock),
      .description = "Fraction (0 to 1) of orders for a sku the warehouse "
                     "does not stock." },
    { .name = NULL },
};

static uint64_t mix(uint64_t x)
{
    /* splitmix64's finaliser. */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The j-th random number of order i, and one in [0, 1). */
static uint64_t rnd(const struct order_sim *s, uint64_t i, uint64_t j)
{
    return mix(mix((uint64_t)s->seed) ^ (i * 8 + j));
}

static double unit(uint64_t r)
{
    return (double)(r >> 11) * 0x1.0p-53;
}

static int emit_order(flow_ctx *ctx, struct order_sim *s, uint64_t i,
                      int64_t now_us)
{
    uint64_t accounts = (uint64_t)s->accounts, skus = (uint64_t)s->skus;
    uint64_t account = 1 + rnd(s, i, 0) % accounts;
    bool oos = unit(rnd(s, i, 1)) < s->out_of_stock;
    uint64_t sku = (oos ? skus + 1 : 1) + rnd(s, i, 2) % skus;
    uint64_t qty = 1 + rnd(s, i, 3) % 3;
    uint64_t amount = qty * (100 + rnd(s, i, 4) % 4901);
    bool declined = unit(rnd(s, i, 5)) < s->failure;
    struct saga_msg m;
    saga_msg_begin(&m, flow_payload_buf(ctx), SAGA_ORDER_PLACED);
    saga_msg_uint(&m, "order", i);
    saga_msg_uint(&m, "account", account);
    saga_msg_uint(&m, "sku", sku);
    saga_msg_uint(&m, "qty", qty);
    saga_msg_uint(&m, "amount", amount);
    saga_msg_str(&m, "card", declined ? "declined" : "valid");
    saga_msg_uint(&m, "ts", (uint64_t)(now_us / 1000));
    return saga_msg_emit(ctx, &m, i, now_us);
}

static int init(flow_ctx *ctx)
{
    struct order_sim *s = flow_state(ctx);
    s->start_us = -1;
    return 0;
}

static int on_tick(flow_ctx *ctx)
{
    struct order_sim *s = flow_state(ctx);
    uint64_t rate = (uint64_t)s->rate, count = (uint64_t)s->orders;
    int64_t now = flow_clock_us();
    if (s->start_us < 0) {
        s->start_us = now;
        s->base = s->emitted; /* a restored run keeps its pace from here */
    }
    uint64_t want = MAX_PER_TICK;
    if (rate) {
        uint64_t due =
            (uint64_t)((double)rate * (double)(now - s->start_us) / 1e6) + 1;
        uint64_t sent = s->emitted - s->base;
        want = due > sent ? due - sent : 0;
        if (want > MAX_PER_TICK)
            want = MAX_PER_TICK;
    }
    if (count && want > count - s->emitted)
        want = count - s->emitted;
    size_t room = flow_emit_room(ctx);
    if (want > room)
        want = room;
    for (uint64_t i = 0; i < want; i++) {
        int rc = emit_order(ctx, s, s->emitted + 1, now);
        if (rc < 0)
            return rc;
        s->emitted++;
    }
    if (count && s->emitted >= count)
        return FLOW_TICK_DONE;
    if (rate == 0 || want == room)
        return FLOW_TICK_MORE;
    return FLOW_TICK_IDLE;
}

/* The snapshot: the seed and the orders emitted (the next is emitted+1). */
static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct order_sim *s = flow_state(ctx);
    flow_mp_put_array(out, 2);
    flow_mp_put_int(out, s->seed);
    flow_mp_put_uint(out, s->emitted);
    return out->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct order_sim *s = flow_state(ctx);
    flow_mp_reader r;
    flow_mp_value v, seed, emitted;
    flow_mp_reader_init(&r, data, len);
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY || v.len != 2 ||
        flow_mp_read(&r, &seed) || seed.type != FLOW_MP_INT ||
        flow_mp_read(&r, &emitted) || emitted.type != FLOW_MP_INT ||
        emitted.is_neg) {
        flow_log(ctx, "cannot restore: not an order-sim snapshot");
        return -FLOW_EMALFORMED;
    }
    if (seed.i != s->seed) {
        flow_log(ctx, "cannot restore: it was made with another --seed");
        return -FLOW_EMALFORMED;
    }
    s->emitted = emitted.u;
    flow_log(ctx, "restored: %" PRIu64 " orders emitted so far", s->emitted);
    return 0;
}

const flow_app_desc order_sim_app = {
    .name = "order-sim",
    .role = FLOW_ROLE_SOURCE,
    .description = "Generates deterministic OrderPlaced events for the "
                   "order saga, with a share of declined cards and of "
                   "out-of-stock skus, at a given rate.",
    .options = options,
    .state_size = sizeof(struct order_sim),
    .init = init,
    .on_tick = on_tick,
    .tick_us = 1000,
    .snapshot = snapshot,
    .restore = restore,
};
