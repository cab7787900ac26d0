/*
 * Unit tests: flow__out_broadcast, the frame (a barrier) an app sends on
 * every lane of every output group and on its error output, after every
 * event it sent there before. An app on a flow_host thread broadcasts
 * when it receives an event of type "B"; the test reads each lane, a
 * group of one lane and the error output over ipc://.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "ctx.h"
#include "flow/host.h"
#include "flow/wire.h"

/* The frame broadcast: a barrier as docs/wire.md will define it. */
static const uint8_t barrier[] = {
    0x96, 0x01, 0xa1, 'b', 0x00, 0x07, 0x90, 0x2a
};

static int bcast_event(flow_ctx *ctx, const flow_event *ev)
{
    if (flow_event_type_is(ev, "B")) {
        int rc = flow__out_broadcast(ctx, barrier, sizeof(barrier));
        cr_assert_eq(rc, 0, "broadcast: %d", rc);
        return 0;
    }
    return flow_emit_event(ctx, ev);
}

static const flow_app_desc bcast_app = {
    .name = "bcast",
    .role = FLOW_ROLE_PROCESSOR,
    .on_event = bcast_event,
};

typedef struct rig {
    char dir[64];
    void *zctx, *push, *pull[4]; /* lane 0, lane 1, single, error */
    flow_host *host;
    pthread_t thread;
    int status;
} rig;

static void *host_thread(void *arg)
{
    rig *r = arg;
    r->status = flow_host_run(r->host);
    return NULL;
}

static void add(flow_batch *b, uint64_t id, const char *type, const char *key)
{
    static const uint8_t payload[] = { 0x80 };
    flow_event ev = { .id = id,
                      .ts_us = 1,
                      .type = type,
                      .type_len = (uint32_t)strlen(type),
                      .key = key,
                      .key_len = key ? (uint32_t)strlen(key) : 0,
                      .payload = payload,
                      .payload_len = sizeof(payload) };
    cr_assert_eq(flow_batch_add(b, &ev, id), 0);
}

static void send_batch(rig *r, flow_batch *b)
{
    size_t len;
    const uint8_t *d = flow_batch_finish(b, &len);
    cr_assert_eq(zmq_send(r->push, d, len, 0), (int)len);
}

/* Reads socket s until the barrier; returns the events before it. */
static uint32_t until_barrier(void *s)
{
    uint32_t n = 0;
    for (;;) {
        zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
        cr_assert_eq(zmq_poll(&it, 1, 30000), 1, "no barrier");
        zmq_msg_t m;
        zmq_msg_init(&m);
        cr_assert_geq(zmq_msg_recv(&m, s, 0), 0);
        if (zmq_msg_size(&m) == sizeof(barrier) &&
            memcmp(zmq_msg_data(&m), barrier, sizeof(barrier)) == 0) {
            zmq_msg_close(&m);
            return n;
        }
        flow_frame f;
        cr_assert_eq(flow_frame_parse(&f, zmq_msg_data(&m), zmq_msg_size(&m)),
                     0);
        n += f.count;
        zmq_msg_close(&m);
    }
}

Test(broadcast, every_lane_and_the_error_output_after_what_came_before)
{
    rig r = { 0 };
    const char *tmp = getenv("TMPDIR");
    snprintf(r.dir, sizeof(r.dir), "%s/flow-bcast-XXXXXX",
             tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(r.dir));
    char in[128], out[400], err[128], eps[4][96];
    const char *names[] = { "l0", "l1", "one", "err" };
    r.zctx = zmq_ctx_new();
    for (int k = 0; k < 4; k++)
        snprintf(eps[k], sizeof(eps[k]), "ipc://%s/%s", r.dir, names[k]);
    snprintf(in, sizeof(in), "--flow.input=ipc://%s/in", r.dir);
    snprintf(out, sizeof(out), "--flow.output=%s|%s;%s", eps[0], eps[1],
             eps[2]);
    snprintf(err, sizeof(err), "--flow.error-output=%s", eps[3]);
    r.push = zmq_socket(r.zctx, ZMQ_PUSH);
    cr_assert_eq(zmq_bind(r.push, in + strlen("--flow.input=")), 0);
    char *argv[] = { "bcast", in, out, err, "--flow.partition-key=key", NULL };
    r.host = flow_host_new();
    cr_assert_eq(flow_host_add(r.host, &bcast_app, 5, argv), 0);
    cr_assert_eq(pthread_create(&r.thread, NULL, host_thread, &r), 0);
    for (int k = 0; k < 4; k++) {
        int linger = 0;
        r.pull[k] = zmq_socket(r.zctx, ZMQ_PULL);
        zmq_setsockopt(r.pull[k], ZMQ_LINGER, &linger, sizeof(linger));
        cr_assert_eq(zmq_connect(r.pull[k], eps[k]), 0);
    }
    /* 40 keyed events, read on every socket of the output: all are
     * connected. Then 40 more and the barrier in the same frame: the
     * lanes' pending batches must go out before it. */
    flow_batch b;
    flow_batch_init(&b);
    flow_batch_begin(&b, "src", 0, 1);
    char key[16];
    for (int i = 1; i <= 40; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        add(&b, (uint64_t)i, "T", key);
    }
    send_batch(&r, &b);
    uint32_t seen[3] = { 0 };
    for (int k = 0; k < 3; k++) {
        zmq_pollitem_t it = { r.pull[k], 0, ZMQ_POLLIN, 0 };
        cr_assert_eq(zmq_poll(&it, 1, 30000), 1, "nothing on %s", names[k]);
        zmq_msg_t m;
        zmq_msg_init(&m);
        cr_assert_geq(zmq_msg_recv(&m, r.pull[k], 0), 0);
        flow_frame f;
        cr_assert_eq(flow_frame_parse(&f, zmq_msg_data(&m), zmq_msg_size(&m)),
                     0);
        seen[k] = f.count;
        zmq_msg_close(&m);
    }
    flow_batch_begin(&b, "src", 0, 1);
    for (int i = 41; i <= 80; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        add(&b, (uint64_t)i, "T", key);
    }
    add(&b, 81, "B", NULL);
    send_batch(&r, &b);
    uint32_t l0 = seen[0] + until_barrier(r.pull[0]);
    uint32_t l1 = seen[1] + until_barrier(r.pull[1]);
    cr_assert_eq(l0 + l1, 80, "lanes before the barrier: %u + %u", l0, l1);
    cr_assert_eq(seen[2] + until_barrier(r.pull[2]), 80);
    cr_assert_eq(until_barrier(r.pull[3]), 0);
    flow_host_stop(r.host);
    pthread_join(r.thread, NULL);
    cr_assert_eq(r.status, 0);
    flow_host_destroy(&r.host);
    flow_batch_fini(&b);
    zmq_close(r.push);
    for (int k = 0; k < 4; k++)
        zmq_close(r.pull[k]);
    zmq_ctx_term(r.zctx);
    char path[160];
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof(path), "%s/%s", r.dir, names[k]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/in", r.dir);
    unlink(path);
    rmdir(r.dir);
}
