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
#include <stdio.h>
#include <stdlib.h>

/* Most events emitted by one on_tick, so the loop stays responsive. */
#define MAX_PER_TICK 4096

struct load_sim {
    struct loadgen gen;
    uint64_t count;   /* stop after this many; 0 = never */
    uint64_t rate;    /* events/s; 0 = as fast as the output takes them */
    uint64_t emitted; /* events sent */
    int64_t start_us; /* when the first tick ran */
};

static const flow_option options[] = {
    { "seed", FLOW_OPT_INT, "42", false, NULL,
      "Seed of the generator: the same seed gives the same events." },
    { "accounts", FLOW_OPT_INT, "1000", false, NULL,
      "Number of accounts the events are spread over." },
    { "rate", FLOW_OPT_INT, "1000", false, NULL,
      "Events per second; 0 sends as fast as the stream takes them." },
    { "count", FLOW_OPT_INT, "0", false, NULL,
      "Stop after this many events; 0 never stops." },
    { "illegal-ratio", FLOW_OPT_FLOAT, "0", false, NULL,
      "Fraction (0 to 1) of deliberately illegal transitions." },
    { NULL, 0, NULL, false, NULL, NULL },
};

static int init(flow_ctx *ctx)
{
    int64_t seed = flow_opt_int(ctx, "seed");
    int64_t accounts = flow_opt_int(ctx, "accounts");
    int64_t rate = flow_opt_int(ctx, "rate");
    int64_t count = flow_opt_int(ctx, "count");
    double ratio = flow_opt_float(ctx, "illegal-ratio");
    if (accounts < 1 || accounts > 100000000) {
        flow_log(ctx,
                 "--accounts=%" PRId64 " is out of range: give 1 to "
                 "100000000",
                 accounts);
        return -FLOW_EOPTION;
    }
    if (rate < 0 || count < 0) {
        flow_log(ctx, "--rate and --count must not be negative");
        return -FLOW_EOPTION;
    }
    if (!(ratio >= 0 && ratio <= 1)) {
        flow_log(ctx,
                 "--illegal-ratio=%g is out of range: give a fraction "
                 "from 0 to 1",
                 ratio);
        return -FLOW_EOPTION;
    }
    struct load_sim *s = calloc(1, sizeof(*s));
    if (!s)
        return -FLOW_ENOMEM;
    if (loadgen_init(&s->gen, (uint64_t)seed, (uint64_t)accounts, ratio) < 0) {
        free(s);
        return -FLOW_ENOMEM;
    }
    s->count = (uint64_t)count;
    s->rate = (uint64_t)rate;
    s->start_us = -1;
    flow_set_state(ctx, s);
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
    int64_t now = flow_clock_us();
    if (s->start_us < 0)
        s->start_us = now;
    uint64_t want = MAX_PER_TICK;
    if (s->rate) {
        /* Catch up with the schedule: rate * elapsed events by now. */
        uint64_t due =
            (uint64_t)((double)s->rate * (double)(now - s->start_us) / 1e6) + 1;
        want = due > s->emitted ? due - s->emitted : 0;
        if (want > MAX_PER_TICK)
            want = MAX_PER_TICK;
    }
    if (s->count && want > s->count - s->emitted)
        want = s->count - s->emitted;
    size_t room = flow_emit_room(ctx);
    if (want > room)
        want = room;
    for (uint64_t i = 0; i < want; i++) {
        int rc = emit_one(ctx, s, now);
        if (rc < 0)
            return rc;
    }
    if (s->count && s->emitted >= s->count)
        return FLOW_TICK_DONE;
    if (s->rate == 0 || want == room)
        return FLOW_TICK_MORE;
    return FLOW_TICK_IDLE;
}

static void fini(flow_ctx *ctx)
{
    struct load_sim *s = flow_state(ctx);
    if (!s)
        return;
    loadgen_fini(&s->gen);
    free(s);
    flow_set_state(ctx, NULL);
}

const flow_app_desc load_sim_app = {
    .name = "load-sim",
    .role = FLOW_ROLE_SOURCE,
    .description = "Generates deterministic account events (created, "
                   "confirmed, activated, suspended, archived, deposits, "
                   "withdrawals) for a number of accounts at a given rate.",
    .options = options,
    .init = init,
    .on_tick = on_tick,
    .tick_us = 1000,
    .fini = fini,
};
