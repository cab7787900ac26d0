/*
 * relay - the benchmark's baseline: a chain of three processes over
 * ZeroMQ PUSH/PULL carrying the same batch frames as a flow pipeline
 * (docs/wire.md), doing no work on them.
 *
 *     flow-bench-relay source ENDPOINT COUNT BATCH [RATE]  (binds, PUSH)
 *     flow-bench-relay relay IN OUT                  (connects IN, binds OUT)
 *     flow-bench-relay sink ENDPOINT BATCH [latency] (connects, PULL)
 *
 * Flat out (no RATE), the source sends COUNT events in frames of BATCH
 * events, cycling through frames built up front from the load generator's
 * events, then an empty frame. The relay forwards every message as it is.
 * The sink counts events (frames times BATCH, so it does not decode) and
 * prints one JSON line: {"events": N, "seconds": S, "events_per_s": R}.
 *
 * With RATE (events/s), the source paces itself the way load-sim does:
 * once a millisecond it builds one frame of the events due by then,
 * stamped with the time they are made, and sends it. A sink given
 * "latency" decodes each frame and adds "p50_us" and "p99_us": the age
 * of each event (now - its timestamp) when it arrives. This is the floor
 * for the pipeline's latency at a fixed rate: the same processes, sockets
 * and wake-ups, with no work done.
 */
#include "loadgen.h"

#include "flow/event.h"
#include "flow/mp.h"
#include "flow/wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define NFRAMES 16

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    fprintf(stderr, "flow-bench-relay: %s: %s\n", what,
            zmq_strerror(zmq_errno()));
    exit(1);
}

/* One wire frame of n events, as load-sim would send them. */
static void build_frame(flow_buf *b, struct loadgen *g, uint32_t n,
                        uint64_t *id)
{
    flow_buf payload;
    flow_buf_init(&payload);
    flow_mp_put_array(b, 5);
    flow_mp_put_uint(b, 1);
    flow_mp_put_cstr(b, "load-sim");
    flow_mp_put_uint(b, 0);
    flow_mp_put_uint(b, 1);
    flow_mp_put_array(b, n);
    for (uint32_t i = 0; i < n; i++) {
        struct loadgen_event ev;
        loadgen_next(g, &ev);
        int64_t ts = wall_us();
        flow_buf_reset(&payload);
        flow_mp_put_map(&payload, ev.amount > 0 ? 5 : 4);
        flow_mp_put_cstr(&payload, "type");
        flow_mp_put_cstr(&payload, acct_event_name(ev.type));
        flow_mp_put_cstr(&payload, "account");
        flow_mp_put_uint(&payload, ev.account);
        flow_mp_put_cstr(&payload, "seq");
        flow_mp_put_uint(&payload, ev.seq);
        flow_mp_put_cstr(&payload, "ts");
        flow_mp_put_int(&payload, ts / 1000);
        if (ev.amount > 0) {
            flow_mp_put_cstr(&payload, "amount");
            flow_mp_put_int(&payload, ev.amount);
        }
        char key[24];
        int kl = snprintf(key, sizeof(key), "%" PRIu64, ev.account);
        flow_mp_put_array(b, 6);
        flow_mp_put_uint(b, ++*id);
        flow_mp_put_cstr(b, acct_event_name(ev.type));
        flow_mp_put_int(b, ts);
        flow_mp_put_str(b, key, (size_t)kl);
        flow_mp_put_uint(b, *id);
        flow_mp_put_bin(b, payload.data, payload.len);
    }
    flow_buf_fini(&payload);
}

/* A source's PUSH socket bound at ep, and its event generator. */
static void *source_socket(void *zctx, const char *ep, struct loadgen *g)
{
    void *s = zmq_socket(zctx, ZMQ_PUSH);
    int linger = -1;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(s, ep) < 0)
        die(ep);
    if (loadgen_init(g, 42, 1000, 0) < 0)
        die("out of memory");
    return s;
}

static int run_source(void *zctx, const char *ep, uint64_t count,
                      uint32_t batch)
{
    struct loadgen g;
    void *s = source_socket(zctx, ep, &g);
    flow_buf frames[NFRAMES];
    uint64_t id = 0;
    for (int i = 0; i < NFRAMES; i++) {
        flow_buf_init(&frames[i]);
        build_frame(&frames[i], &g, batch, &id);
        if (frames[i].err)
            die("out of memory");
    }
    uint64_t sent = 0;
    for (int i = 0; sent < count; i = (i + 1) % NFRAMES) {
        if (zmq_send(s, frames[i].data, frames[i].len, 0) < 0)
            die("send");
        sent += batch;
    }
    /* The end of the stream: a frame with no events. */
    flow_buf end;
    flow_buf_init(&end);
    struct loadgen g0;
    loadgen_init(&g0, 1, 1, 0);
    build_frame(&end, &g0, 0, &id);
    if (zmq_send(s, end.data, end.len, 0) < 0)
        die("send");
    /* libzmq 4.3 can lose the last messages still on their way to a
     * receiver that is behind when the sender disconnects, whatever the
     * linger: stay connected a moment so the sink sees the end. */
    struct timespec hold = { 0, 500 * 1000 * 1000 };
    nanosleep(&hold, NULL);
    flow_buf_fini(&end);
    loadgen_fini(&g0);
    for (int i = 0; i < NFRAMES; i++)
        flow_buf_fini(&frames[i]);
    loadgen_fini(&g);
    zmq_close(s);
    return 0;
}

/* Sends count events at rate events/s: every millisecond, one frame of
 * what is due by then (at most batch events), made and stamped just then. */
static int run_paced_source(void *zctx, const char *ep, uint64_t count,
                            uint32_t batch, uint64_t rate)
{
    struct loadgen g;
    void *s = source_socket(zctx, ep, &g);
    flow_buf frame;
    flow_buf_init(&frame);
    uint64_t id = 0, sent = 0;
    double t0 = now_s();
    while (sent < count) {
        uint64_t due = (uint64_t)((now_s() - t0) * (double)rate) + 1;
        if (due > count)
            due = count;
        while (sent < due) {
            uint32_t n = due - sent > batch ? batch : (uint32_t)(due - sent);
            flow_buf_reset(&frame);
            build_frame(&frame, &g, n, &id);
            if (frame.err)
                die("out of memory");
            if (zmq_send(s, frame.data, frame.len, 0) < 0)
                die("send");
            sent += n;
        }
        struct timespec tick = { 0, 1000 * 1000 };
        nanosleep(&tick, NULL);
    }
    flow_buf_reset(&frame);
    build_frame(&frame, &g, 0, &id);
    if (zmq_send(s, frame.data, frame.len, 0) < 0)
        die("send");
    struct timespec hold = { 0, 500 * 1000 * 1000 };
    nanosleep(&hold, NULL);
    flow_buf_fini(&frame);
    loadgen_fini(&g);
    zmq_close(s);
    return 0;
}

static int run_relay(void *zctx, const char *in, const char *out)
{
    void *pull = zmq_socket(zctx, ZMQ_PULL);
    void *push = zmq_socket(zctx, ZMQ_PUSH);
    int linger = -1;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(push, out) < 0)
        die(out);
    if (zmq_connect(pull, in) < 0)
        die(in);
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
        if (zmq_msg_recv(&m, pull, 0) < 0)
            die("recv");
        /* An end frame is the shortest: 5-element array head, empty list. */
        int end = zmq_msg_size(&m) < 24;
        if (zmq_msg_send(&m, push, 0) < 0)
            die("send");
        if (end)
            break;
    }
    zmq_msg_close(&m);
    zmq_close(pull);
    zmq_close(push);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Like run_sink, but decodes every frame and records each event's age. */
static int run_latency_sink(void *zctx, const char *ep)
{
    void *pull = zmq_socket(zctx, ZMQ_PULL);
    if (zmq_connect(pull, ep) < 0)
        die(ep);
    size_t cap = 1 << 16, n = 0;
    int64_t *ages = malloc(cap * sizeof *ages);
    if (!ages)
        die("out of memory");
    zmq_msg_t m;
    zmq_msg_init(&m);
    double t0 = 0;
    for (;;) {
        if (zmq_msg_recv(&m, pull, 0) < 0)
            die("recv");
        int64_t now = wall_us();
        if (t0 == 0)
            t0 = now_s();
        flow_frame f;
        if (flow_frame_parse(&f, zmq_msg_data(&m), zmq_msg_size(&m)) < 0)
            die("malformed frame");
        if (f.count == 0)
            break;
        flow_event ev;
        while (flow_frame_next(&f, &ev)) {
            if (n == cap) {
                int64_t *more = realloc(ages, 2 * cap * sizeof *ages);
                if (!more)
                    die("out of memory");
                ages = more, cap *= 2;
            }
            ages[n++] = now - ev.ts_us;
        }
    }
    double dt = now_s() - t0;
    qsort(ages, n, sizeof *ages, cmp_i64);
    printf("{\"events\": %zu, \"seconds\": %.6f, \"events_per_s\": %.0f, "
           "\"p50_us\": %" PRId64 ", \"p99_us\": %" PRId64 "}\n",
           n, dt, dt > 0 ? (double)n / dt : 0.0, n ? ages[n / 2] : 0,
           n ? ages[n * 99 / 100] : 0);
    free(ages);
    zmq_msg_close(&m);
    zmq_close(pull);
    return 0;
}

static int run_sink(void *zctx, const char *ep, uint32_t batch)
{
    void *pull = zmq_socket(zctx, ZMQ_PULL);
    if (zmq_connect(pull, ep) < 0)
        die(ep);
    zmq_msg_t m;
    zmq_msg_init(&m);
    uint64_t events = 0;
    double t0 = 0;
    for (;;) {
        if (zmq_msg_recv(&m, pull, 0) < 0)
            die("recv");
        if (t0 == 0)
            t0 = now_s();
        if (zmq_msg_size(&m) < 24)
            break;
        events += batch;
    }
    double dt = now_s() - t0;
    printf("{\"events\": %" PRIu64 ", \"seconds\": %.6f, \"events_per_s\": "
           "%.0f}\n",
           events, dt, dt > 0 ? (double)events / dt : 0.0);
    zmq_msg_close(&m);
    zmq_close(pull);
    return 0;
}

int main(int argc, char **argv)
{
    void *zctx = zmq_ctx_new();
    int rc = 2;
    if (argc == 5 && strcmp(argv[1], "source") == 0)
        rc = run_source(zctx, argv[2], strtoull(argv[3], NULL, 10),
                        (uint32_t)strtoul(argv[4], NULL, 10));
    else if (argc == 6 && strcmp(argv[1], "source") == 0)
        rc = run_paced_source(zctx, argv[2], strtoull(argv[3], NULL, 10),
                              (uint32_t)strtoul(argv[4], NULL, 10),
                              strtoull(argv[5], NULL, 10));
    else if (argc == 5 && strcmp(argv[1], "sink") == 0 &&
             strcmp(argv[4], "latency") == 0)
        rc = run_latency_sink(zctx, argv[2]);
    else if (argc == 4 && strcmp(argv[1], "relay") == 0)
        rc = run_relay(zctx, argv[2], argv[3]);
    else if (argc == 4 && strcmp(argv[1], "sink") == 0)
        rc = run_sink(zctx, argv[2], (uint32_t)strtoul(argv[3], NULL, 10));
    else
        fprintf(stderr, "usage: flow-bench-relay source EP COUNT BATCH [RATE] "
                        "| relay IN OUT | sink EP BATCH [latency]\n");
    zmq_ctx_term(zctx);
    return rc;
}
