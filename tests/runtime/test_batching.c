/*
 * Unit tests: batching and backpressure of a running app, in-process.
 *
 * The test-pass app runs on a flow_host thread between a PUSH socket the
 * test binds (its input) and a PULL socket the test binds (its output),
 * over ipc:// in a temporary directory.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "flow/host.h"
#include "flow/wire.h"
#include "test_apps.h"

typedef struct harness {
    char dir[64];
    char in_ep[128], out_ep[128];
    void *zctx, *push, *pull;
    flow_host *host;
    pthread_t thread;
    int status;
} harness;

static void *host_thread(void *arg)
{
    harness *h = arg;
    h->status = flow_host_run(h->host);
    return NULL;
}

static void start_copies(harness *h, const char *batch_max, const char *hwm,
                         const char *copies)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(h->dir, sizeof(h->dir), "%s/flow-batch-XXXXXX",
             tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(h->dir));
    snprintf(h->in_ep, sizeof(h->in_ep), "ipc://%s/in", h->dir);
    snprintf(h->out_ep, sizeof(h->out_ep), "ipc://%s/out", h->dir);
    h->zctx = zmq_ctx_new();
    h->push = zmq_socket(h->zctx, ZMQ_PUSH);
    h->pull = zmq_socket(h->zctx, ZMQ_PULL);
    int linger = 0;
    zmq_setsockopt(h->push, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(h->pull, ZMQ_LINGER, &linger, sizeof(linger));
    cr_assert_eq(zmq_bind(h->push, h->in_ep), 0);
    char in[160], out[160], bm[64], hw[64], cp[64];
    snprintf(in, sizeof(in), "--flow.input=%s", h->in_ep);
    snprintf(out, sizeof(out), "--flow.output=>%s", h->out_ep);
    snprintf(bm, sizeof(bm), "--flow.batch-max=%s", batch_max);
    snprintf(hw, sizeof(hw), "--flow.hwm-events=%s", hwm);
    snprintf(cp, sizeof(cp), "--copies=%s", copies);
    char *argv[] = { "test-pass", in, out, bm, hw, cp, NULL };
    h->host = flow_host_new();
    cr_assert_eq(flow_host_add(h->host, &test_pass_app, 6, argv), 0);
    cr_assert_eq(pthread_create(&h->thread, NULL, host_thread, h), 0);
}

static void start(harness *h, const char *batch_max, const char *hwm)
{
    start_copies(h, batch_max, hwm, "1");
}

static void stop(harness *h)
{
    flow_host_stop(h->host);
    pthread_join(h->thread, NULL);
    cr_assert_eq(h->status, 0);
    flow_host_destroy(&h->host);
    zmq_close(h->push);
    zmq_close(h->pull);
    zmq_ctx_term(h->zctx);
    char path[128];
    snprintf(path, sizeof(path), "%s/in", h->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/out", h->dir);
    unlink(path);
    rmdir(h->dir);
}

/* Sends one frame of n events numbered from first. */
static void send_frame(harness *h, uint64_t first, uint32_t n)
{
    static const uint8_t payload[] = { 0x81, 0xa1, 'n', 0x01 };
    flow_batch b;
    flow_batch_init(&b);
    flow_batch_begin(&b, "test", 0, 7);
    for (uint32_t i = 0; i < n; i++) {
        flow_event ev = { .id = first + i,
                          .ts_us = 1,
                          .type = "T",
                          .type_len = 1,
                          .payload = payload,
                          .payload_len = sizeof(payload) };
        cr_assert_eq(flow_batch_add(&b, &ev, first + i), 0);
    }
    size_t len;
    const uint8_t *d = flow_batch_finish(&b, &len);
    cr_assert_eq(zmq_send(h->push, d, len, 0), (int)len);
    flow_batch_fini(&b);
}

/* Receives one output frame (waiting up to 30 s) and returns its event
 * count, checking that ids and sequence numbers continue. */
static uint32_t recv_frame(harness *h, uint64_t *next_id, uint64_t *next_seq)
{
    zmq_pollitem_t it = { h->pull, 0, ZMQ_POLLIN, 0 };
    cr_assert_eq(zmq_poll(&it, 1, 30000), 1, "no output frame");
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    cr_assert_geq(zmq_msg_recv(&msg, h->pull, 0), 0);
    flow_frame f;
    cr_assert_eq(flow_frame_parse(&f, zmq_msg_data(&msg), zmq_msg_size(&msg)),
                 0);
    flow_event ev;
    while (flow_frame_next(&f, &ev)) {
        cr_assert_eq(ev.id, *next_id);
        cr_assert_eq(ev.seq, *next_seq);
        (*next_id)++;
        (*next_seq)++;
    }
    zmq_msg_close(&msg);
    return f.count;
}

Test(batching, partial_batch_goes_out_when_input_is_idle)
{
    harness h = { 0 };
    start(&h, "100", "4096");
    cr_assert_eq(zmq_bind(h.pull, h.out_ep), 0);
    uint64_t id = 1, seq = 1;
    /* One event alone must come out on its own, without waiting for a
     * full batch. */
    send_frame(&h, 1, 1);
    cr_assert_eq(recv_frame(&h, &id, &seq), 1);
    send_frame(&h, 2, 3);
    uint32_t got = 0;
    while (got < 3)
        got += recv_frame(&h, &id, &seq);
    cr_assert_eq(got, 3);
    stop(&h);
}

Test(batching, big_input_is_split_at_batch_max)
{
    harness h = { 0 };
    start(&h, "100", "100000");
    cr_assert_eq(zmq_bind(h.pull, h.out_ep), 0);
    uint64_t id = 1, seq = 1;
    send_frame(&h, 1, 1000);
    send_frame(&h, 1001, 1000);
    uint32_t got = 0, frames = 0;
    while (got < 2000) {
        uint32_t n = recv_frame(&h, &id, &seq);
        cr_assert_leq(n, 100 + 1000, "a batch grew past one input frame");
        got += n;
        frames++;
    }
    cr_assert_eq(got, 2000);
    cr_assert_geq(frames, 2);
    stop(&h);
}

Test(batching, a_late_consumer_gets_everything_in_order)
{
    harness h = { 0 };
    start(&h, "10", "20");
    /* Nobody takes the output yet: the app must hold back and leave the
     * rest in its input queue, not buffer everything. */
    int hwm = 1;
    zmq_setsockopt(h.pull, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    for (uint64_t i = 0; i < 200; i++)
        send_frame(&h, 1 + i * 10, 10);
    cr_assert_eq(zmq_bind(h.pull, h.out_ep), 0);
    uint64_t id = 1, seq = 1;
    uint32_t got = 0;
    while (got < 2000)
        got += recv_frame(&h, &id, &seq);
    cr_assert_eq(got, 2000, "every event arrives, in order, exactly once");
    stop(&h);
}

/*
 * One input frame whose events the app emits eight times each: 32 MiB
 * of output from one frame. A producer never sends a frame over
 * FLOW_WIRE_MAX_FRAME, which a receiver's socket refuses (dropping the
 * connection): the batch is split, and every copy arrives.
 */
Test(batching, output_over_the_frame_limit_is_split)
{
    harness h = { 0 };
    start_copies(&h, "256", "100000", "8");
    int64_t maxmsg = FLOW_WIRE_MAX_FRAME;
    zmq_setsockopt(h.pull, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
    cr_assert_eq(zmq_bind(h.pull, h.out_ep), 0);
    size_t plen = FLOW_WIRE_MAX_EVENT;
    uint8_t *payload = calloc(1, plen);
    cr_assert_not_null(payload);
    flow_batch b;
    flow_batch_init(&b);
    flow_batch_begin(&b, "test", 0, 7);
    for (uint32_t i = 0; i < 4; i++) {
        flow_event ev = { .id = 1 + i,
                          .ts_us = 1,
                          .type = "T",
                          .type_len = 1,
                          .payload = payload,
                          .payload_len = (uint32_t)plen };
        cr_assert_eq(flow_batch_add(&b, &ev, 1 + i), 0);
    }
    size_t len;
    const uint8_t *d = flow_batch_finish(&b, &len);
    cr_assert_eq(zmq_send(h.push, d, len, 0), (int)len);
    flow_batch_fini(&b);
    free(payload);
    uint32_t got = 0, frames = 0;
    uint64_t seq = 1;
    while (got < 32) {
        zmq_pollitem_t it = { h.pull, 0, ZMQ_POLLIN, 0 };
        cr_assert_eq(zmq_poll(&it, 1, 30000), 1,
                     "no output frame after %u events in %u frames", got,
                     frames);
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        cr_assert_geq(zmq_msg_recv(&msg, h.pull, 0), 0);
        cr_assert_leq(zmq_msg_size(&msg), FLOW_WIRE_MAX_FRAME);
        flow_frame f;
        cr_assert_eq(
            flow_frame_parse(&f, zmq_msg_data(&msg), zmq_msg_size(&msg)), 0);
        flow_event ev;
        while (flow_frame_next(&f, &ev)) {
            cr_assert_eq(ev.id, 1 + got / 8);
            cr_assert_eq(ev.seq, seq++);
            got++;
        }
        zmq_msg_close(&msg);
        frames++;
    }
    cr_assert_eq(got, 32);
    cr_assert_geq(frames, 3);
    stop(&h);
}
