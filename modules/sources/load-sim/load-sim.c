/*
 * load-sim - a source of deterministic account events (see loadgen.h).
 *
 * Each event's payload is a map: type, account, seq, ts (epoch
 * milliseconds) and, for deposits and withdrawals, amount. The event's
 * type header is the event type and its key the account id.
 */
#include "apps.h"
#include "loadgen.h"

#include <inttypes.h>
#include <stdlib.h>

/* Most events emitted by one on_tick, so the loop stays responsive. */
#define MAX_PER_TICK 4096

struct load_sim {
    int64_t seed;         /* --seed */
    int64_t accounts;     /* --accounts, 1 to 100000000 */
    int64_t rate;         /* --rate: events/s; 0 = as fast as the output
                           * takes them */
    int64_t count;        /* --count: stop after this many; 0 = never */
    double illegal_ratio; /* --illegal-ratio, 0 to 1 */
    struct loadgen gen;
    uint64_t emitted; /* events sent */
    int64_t start_us; /* when the first tick ran */
    uint64_t base;    /* emitted when the schedule of --rate started */
};

static const flow_option options[] = {
    { .name = "seed",
      .type = FLOW_OPT_INT,
      .def = "42",
      FLOW_OPT_FIELD(struct load_sim, seed),
      .description =
          "Seed of the generator: the same seed gives the same events." },
    { .name = "accounts",
      .type = FLOW_OPT_INT,
      .def = "1000",
      .min = "1",
      .max = "100000000",
      FLOW_OPT_FIELD(struct load_sim, accounts),
      .description = "Number of accounts the events are spread over." },
    { .name = "rate",
      .type = FLOW_OPT_INT,
      .def = "1000",
      .min = "0",
      FLOW_OPT_FIELD(struct load_sim, rate),
      .description =
          "Events per second; 0 sends as fast as the stream takes them." },
    { .name = "count",
      .type = FLOW_OPT_INT,
      .def = "0",
      .min = "0",
      FLOW_OPT_FIELD(struct load_sim, count),
      .description = "Stop after this many events; 0 never stops." },
    { .name = "illegal-ratio",
      .type = FLOW_OPT_FLOAT,
      .def = "0",
      .min = "0",
      .max = "1",
      FLOW_OPT_FIELD(struct load_sim, illegal_ratio),
      .description = "Fraction (0 to 1) of deliberately illegal transitions." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct load_sim *s = flow_state(ctx);
    if (loadgen_init(&s->gen, (uint64_t)s->seed, (uint64_t)s->accounts,
                     s->illegal_ratio) < 0)
        return -FLOW_ENOMEM;
    s->start_us = -1;
    return 0;
}

static int emit_one(flow_ctx *ctx, struct load_sim *s, int64_t now_us)
{
    struct loadgen_event ev;
    loadgen_next(&s->gen, &ev);
    const char *type = acct_event_name(ev.type);
    bool money = ev.amount > 0;
    flow_buf *b = flow_payload_buf(ctx);
    flow_mp_put_map(b, money ? 5 : 4);
    flow_mp_put_str(b, "type", 4);
    flow_mp_put_cstr(b, type);
    flow_mp_put_str(b, "account", 7);
    flow_mp_put_uint(b, ev.account);
    flow_mp_put_str(b, "seq", 3);
    flow_mp_put_uint(b, ev.seq);
    flow_mp_put_str(b, "ts", 2);
    flow_mp_put_int(b, now_us / 1000);
    if (money) {
        flow_mp_put_str(b, "amount", 6);
        flow_mp_put_int(b, ev.amount);
    }
    if (b->err)
        return b->err;
    /* The account id in decimal, without printf's per-call cost. */
    char key[24];
    char *k = key + sizeof(key) - 1;
    uint64_t id = ev.account;
    *k = '\0';
    do {
        *--k = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    int rc = flow_emit(ctx, type, k, now_us, b->data, b->len);
    if (rc == 0)
        s->emitted++;
    return rc;
}

static int on_tick(flow_ctx *ctx)
{
    struct load_sim *s = flow_state(ctx);
    /* Neither is negative (their minimum is 0). */
    uint64_t rate = (uint64_t)s->rate, count = (uint64_t)s->count;
    int64_t now = flow_clock_us();
    if (s->start_us < 0) {
        s->start_us = now;
        s->base = s->emitted; /* a restored run keeps its pace from here */
    }
    uint64_t want = MAX_PER_TICK;
    if (rate) {
        /* Catch up with the schedule: rate * elapsed events by now. */
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
        int rc = emit_one(ctx, s, now);
        if (rc < 0)
            return rc;
    }
    if (count && s->emitted >= count)
        return FLOW_TICK_DONE;
    if (rate == 0 || want == room)
        return FLOW_TICK_MORE;
    return FLOW_TICK_IDLE;
}

/*
 * The checkpoint (and --flow.state) snapshot: the seed, the events
 * emitted and the whole generator, so that a restored load-sim goes on
 * with exactly the events it would have sent next.
 */
static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct load_sim *s = flow_state(ctx);
    size_t n = loadgen_save_size(&s->gen);
    uint8_t *gen = malloc(n);
    if (!gen)
        return -FLOW_ENOMEM;
    loadgen_save(&s->gen, gen);
    flow_mp_put_array(out, 3);
    flow_mp_put_int(out, s->seed);
    flow_mp_put_uint(out, s->emitted);
    flow_mp_put_bin(out, gen, n);
    free(gen);
    return out->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct load_sim *s = flow_state(ctx);
    flow_mp_reader r;
    flow_mp_value v, seed, emitted, gen;
    const char *why = "not a load-sim snapshot";
    flow_mp_reader_init(&r, data, len);
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY || v.len != 3 ||
        flow_mp_read(&r, &seed) || seed.type != FLOW_MP_INT ||
        flow_mp_read(&r, &emitted) || emitted.type != FLOW_MP_INT ||
        emitted.is_neg || flow_mp_read(&r, &gen) || gen.type != FLOW_MP_BIN)
        goto bad;
    if (seed.i != s->seed) {
        why = "it was made with another --seed";
        goto bad;
    }
    if (loadgen_load(&s->gen, (const uint8_t *)gen.str, gen.len, &why))
        goto bad;
    s->emitted = emitted.u;
    flow_log(ctx, "restored: %" PRIu64 " events emitted so far", s->emitted);
    return 0;
bad:
    flow_log(ctx, "cannot restore the generator: %s", why);
    return -FLOW_EMALFORMED;
}

static void fini(flow_ctx *ctx)
{
    struct load_sim *s = flow_state(ctx);
    loadgen_fini(&s->gen);
}

const flow_app_desc load_sim_app = {
    .name = "load-sim",
    .role = FLOW_ROLE_SOURCE,
    .description = "Generates deterministic account events (created, "
                   "confirmed, activated, suspended, archived, deposits, "
                   "withdrawals) for a number of accounts at a given rate.",
    .options = options,
    .state_size = sizeof(struct load_sim),
    .init = init,
    .on_tick = on_tick,
    .tick_us = 1000,
    .snapshot = snapshot,
    .restore = restore,
    .fini = fini,
};
