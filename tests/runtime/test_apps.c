/*
 * Tiny apps for the runtime's tests and measurements:
 *   test-gen   a source of numbered events ({"n": i, "pad": "..."});
 *   test-pass  a processor that forwards every event unchanged, and sends
 *              events whose "n" is a multiple of --reject-every to the
 *              error output;
 *   test-sink  counts what arrives, checks per-producer sequence numbers
 *              and the "n" field, and reports through a counter.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_apps.h"

typedef struct gen_state {
    uint64_t count, rate, emitted;
    int64_t start_us;
    size_t pad;
} gen_state;

static const flow_option gen_options[] = {
    { .name = "count",
      .type = FLOW_OPT_INT,
      .def = "0",
      .description = "Stop after this many events; 0 never stops." },
    { .name = "rate",
      .type = FLOW_OPT_INT,
      .def = "0",
      .description =
          "Events per second; 0 sends as fast as the output takes them." },
    { .name = "pad",
      .type = FLOW_OPT_INT,
      .def = "100",
      .description = "Bytes of padding in each payload." },
    { .name = NULL },
};

static int gen_init(flow_ctx *ctx)
{
    gen_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -FLOW_ENOMEM;
    s->count = (uint64_t)flow_opt_int(ctx, "count");
    s->rate = (uint64_t)flow_opt_int(ctx, "rate");
    s->pad = (size_t)flow_opt_int(ctx, "pad");
    if (s->pad > 65536)
        s->pad = 65536;
    s->start_us = -1;
    flow_set_state(ctx, s);
    return 0;
}

static int gen_tick(flow_ctx *ctx)
{
    static const char padding[65536];
    gen_state *s = flow_state(ctx);
    int64_t now = flow_now_us(ctx);
    if (s->start_us < 0)
        s->start_us = now;
    uint64_t want = flow_emit_room(ctx);
    if (s->rate) {
        uint64_t due =
            (uint64_t)((double)s->rate * (double)(now - s->start_us) / 1e6) + 1;
        uint64_t behind = due > s->emitted ? due - s->emitted : 0;
        if (behind < want)
            want = behind;
    }
    if (s->count && want > s->count - s->emitted)
        want = s->count - s->emitted;
    for (uint64_t i = 0; i < want; i++) {
        flow_buf *b = flow_payload_buf(ctx);
        flow_mp_put_map(b, 2);
        flow_mp_put_cstr(b, "n");
        flow_mp_put_uint(b, s->emitted + 1);
        flow_mp_put_cstr(b, "pad");
        flow_mp_put_str(b, padding, s->pad);
        int rc = flow_emit(ctx, "test", NULL, 0, b->data, b->len);
        if (rc)
            return rc;
        s->emitted++;
    }
    if (s->count && s->emitted >= s->count)
        return FLOW_TICK_DONE;
    if (s->rate && want < flow_emit_room(ctx))
        return FLOW_TICK_IDLE;
    return FLOW_TICK_MORE;
}

static void gen_fini(flow_ctx *ctx)
{
    free(flow_state(ctx));
    flow_set_state(ctx, NULL);
}

const flow_app_desc test_gen_app = {
    .name = "test-gen",
    .role = FLOW_ROLE_SOURCE,
    .description = "Emits numbered test events.",
    .options = gen_options,
    .init = gen_init,
    .on_tick = gen_tick,
    .tick_us = 1000,
    .fini = gen_fini,
};

static const flow_option pass_options[] = {
    { .name = "reject-every",
      .type = FLOW_OPT_INT,
      .def = "0",
      .description =
          "Send events whose n is a multiple of this to the error output." },
    { .name = "sleep-us",
      .type = FLOW_OPT_INT,
      .def = "0",
      .description = "Sleep this long per event (a slow processor)." },
    { .name = "copies",
      .type = FLOW_OPT_INT,
      .def = "1",
      .description = "Emit every event this many times." },
    { .name = NULL },
};

static int pass_event(flow_ctx *ctx, const flow_event *ev)
{
    int64_t every = flow_opt_int(ctx, "reject-every");
    int64_t sleep_us = flow_opt_int(ctx, "sleep-us");
    if (sleep_us > 0)
        usleep((useconds_t)sleep_us);
    if (every > 0 && flow_event_get_int(ev, "n", 0) % every == 0)
        return flow_emit_error(ctx, ev, "n is a multiple of reject-every");
    for (int64_t k = flow_opt_int(ctx, "copies"); k > 1; k--) {
        int rc = flow_emit_event(ctx, ev);
        if (rc)
            return rc;
    }
    return flow_emit_event(ctx, ev);
}

const flow_app_desc test_pass_app = {
    .name = "test-pass",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Forwards every event unchanged.",
    .options = pass_options,
    .on_event = pass_event,
};

typedef struct sink_state {
    flow_counter *received, *gaps, *bad;
    uint64_t last_seq;
    uint64_t epoch;
} sink_state;

static int sink_init(flow_ctx *ctx)
{
    sink_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -FLOW_ENOMEM;
    s->received = flow_counter_get(ctx, FLOW_COUNTER, "received");
    s->gaps = flow_counter_get(ctx, FLOW_COUNTER, "seq-gaps");
    s->bad = flow_counter_get(ctx, FLOW_FIELD_VALUE_COUNTER, "types");
    if (!s->received || !s->gaps || !s->bad) {
        free(s);
        return -FLOW_ENOMEM;
    }
    flow_set_state(ctx, s);
    return 0;
}

static int sink_event(flow_ctx *ctx, const flow_event *ev)
{
    sink_state *s = flow_state(ctx);
    if (ev->epoch != s->epoch) {
        s->epoch = ev->epoch;
        s->last_seq = ev->seq - 1;
    }
    if (ev->seq != s->last_seq + 1)
        flow_counter_add(s->gaps, -1, NULL, 0, 1);
    s->last_seq = ev->seq;
    flow_counter_add(s->received, -1, NULL, 0, 1);
    flow_counter_add(s->bad, -1, ev->type, ev->type_len, 1);
    return 0;
}

static void sink_fini(flow_ctx *ctx)
{
    free(flow_state(ctx));
    flow_set_state(ctx, NULL);
}

/* Under a guarantee: says when a checkpoint is taken and committed. */
static int sink_checkpoint(flow_ctx *ctx, uint64_t n)
{
    flow_log(ctx, "on_checkpoint %llu", (unsigned long long)n);
    return 0;
}

static void sink_commit(flow_ctx *ctx, uint64_t n)
{
    flow_log(ctx, "on_commit %llu", (unsigned long long)n);
}

const flow_app_desc test_sink_app = {
    .name = "test-sink",
    .role = FLOW_ROLE_SINK,
    .description = "Counts events and checks their sequence numbers.",
    .init = sink_init,
    .on_event = sink_event,
    .fini = sink_fini,
    .on_checkpoint = sink_checkpoint,
    .on_commit = sink_commit,
};
