/*
 * The input's connections: keeping the producers that behave.
 *
 * The input's socket takes no message over FLOW_WIRE_MAX_FRAME
 * (ZMQ_MAXMSGSIZE). When a producer sends one, libzmq drops that
 * producer's connection as a protocol error and, unlike after a
 * connection error, never makes it again by itself; the other producers'
 * connections are not touched. The input's monitor therefore watches its
 * connected endpoints: a disconnection that no reconnection attempt of
 * libzmq's follows within GRACE_MS was such an error. It is counted in
 * rejected, logged, and the endpoint is connected again, so a producer
 * that goes on with frames within the limit is read again.
 *
 * A handshake that fails (a peer that is not a ZeroMQ socket of the right
 * kind, or refuses our credentials) is not retried by libzmq either: the
 * endpoint is connected again the same way, but it is not counted as a
 * rejected frame. Lines about either are logged at most once a second.
 *
 * A producer that connects to a bound input (the '@' prefix) reconnects
 * by itself: nothing to do here, and the two kinds of disconnection look
 * the same from the bound side, so its over-limit frame is not counted.
 */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "flow/error.h"

/* libzmq posts its reconnection attempt right after the disconnection,
 * from the same I/O thread; this leaves room for a loaded machine. */
#define GRACE_MS 200

static flow__inep *find(flow_ctx *ctx, const char *addr, size_t len)
{
    for (size_t i = 0; i < ctx->nineps; i++)
        if (strlen(ctx->ineps[i].addr) == len &&
            !memcmp(ctx->ineps[i].addr, addr, len))
            return &ctx->ineps[i];
    return NULL;
}

void flow__input_note(flow_ctx *ctx, const char *addr, bool connected)
{
    size_t len = strlen(addr);
    flow__inep *e = find(ctx, addr, len);
    if (!connected) {
        if (e) {
            *e = ctx->ineps[ctx->nineps - 1];
            ctx->nineps--;
        }
        return;
    }
    if (e || len >= FLOW_ENDPOINT_MAX)
        return;
    flow__inep *n = realloc(ctx->ineps, (ctx->nineps + 1) * sizeof(*n));
    if (!n)
        return; /* not watched: a cut connection stays cut, as before */
    ctx->ineps = n;
    e = &n[ctx->nineps++];
    memset(e, 0, sizeof(*e));
    memcpy(e->addr, addr, len + 1);
}

/* Connects again the endpoints that libzmq gave up on. */
static void in_timer_cb(uv_timer_t *t)
{
    flow_ctx *ctx = t->data;
    int64_t now = flow_clock_us();
    int64_t next = 0;
    for (size_t i = 0; i < ctx->nineps; i++) {
        flow__inep *e = &ctx->ineps[i];
        if (!e->cut)
            continue;
        int64_t due = e->cut_us + (int64_t)GRACE_MS * 1000;
        if (due > now) {
            if (!next || due < next)
                next = due;
            continue;
        }
        e->cut = false;
        if (!e->handshake)
            ctx->m.rejected++;
        if (now - ctx->in_log_us < 1000000) {
            ctx->in_log_suppressed++;
        } else if (e->handshake) {
            flow_log(ctx,
                     "input: the handshake with %s failed; connecting "
                     "again (%llu more such lines not shown)",
                     e->addr, (unsigned long long)ctx->in_log_suppressed);
        } else {
            flow_log(ctx,
                     "input: the producer at %s sent a message over the "
                     "%u-byte limit (or broke the ZeroMQ protocol); its "
                     "connection was dropped and is made again (%llu more "
                     "such lines not shown)",
                     e->addr, FLOW_WIRE_MAX_FRAME,
                     (unsigned long long)ctx->in_log_suppressed);
        }
        if (now - ctx->in_log_us >= 1000000) {
            ctx->in_log_us = now;
            ctx->in_log_suppressed = 0;
        }
        if (zmq_disconnect(ctx->in_s, e->addr) != 0 && zmq_errno() != ENOENT)
            flow_log(ctx, "input: cannot disconnect from %s: %s", e->addr,
                     zmq_strerror(zmq_errno()));
        if (zmq_connect(ctx->in_s, e->addr) != 0)
            flow_log(ctx, "input: cannot connect to %s again: %s", e->addr,
                     zmq_strerror(zmq_errno()));
        if (ctx->in_w)
            flow_zwatch_kick(ctx->in_w);
    }
    if (next && ctx->phase != PH_DONE)
        uv_timer_start(&ctx->in_timer, in_timer_cb,
                       (uint64_t)(next - now + 999) / 1000, 0);
}

static void in_mon_cb(flow_zwatch *w, int ready, void *arg)
{
    flow_ctx *ctx = arg;
    zmq_msg_t addr;
    uint16_t type;
    int32_t value;
    (void)ready;
    zmq_msg_init(&addr);
    for (int i = 0; i < 64; i++) {
        if (flow_zwatch_recv_event(w, &addr, &type, &value))
            break;
        if (!type)
            continue;
        flow__inep *e = find(ctx, zmq_msg_data(&addr), zmq_msg_size(&addr));
        if (!e)
            continue; /* a producer connected to a bound input */
        if (type == ZMQ_EVENT_DISCONNECTED) {
            e->cut = true;
            e->cut_us = flow_clock_us();
            if (!uv_is_active((uv_handle_t *)&ctx->in_timer))
                uv_timer_start(&ctx->in_timer, in_timer_cb, GRACE_MS, 0);
        } else if (type == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
                   type == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   type == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            e->handshake = true; /* the disconnection follows */
        } else if (type == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            e->handshake = false;
        } else {
            e->cut = false; /* libzmq is making the connection again */
        }
    }
    zmq_msg_close(&addr);
}

int flow__input_watch(flow_ctx *ctx, const char *list)
{
    char addr[64];
    int rc;
    if (list) {
        flow_endpoint eps[FLOW_ENDPOINTS_MAX];
        size_t n;
        if (flow_endpoint_parse_list(list, false, eps, FLOW_ENDPOINTS_MAX, &n,
                                     NULL, 0) == 0)
            for (size_t i = 0; i < n; i++)
                if (!eps[i].bind)
                    flow__input_note(ctx, eps[i].addr, true);
    }
    snprintf(addr, sizeof(addr), "inproc://flow-input-monitor-%p", (void *)ctx);
    if (zmq_socket_monitor(ctx->in_s, addr,
                           ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECTED |
                               ZMQ_EVENT_CONNECT_DELAYED |
                               ZMQ_EVENT_CONNECT_RETRIED |
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        return flow_from_zmq();
    ctx->in_mon_s = zmq_socket(ctx->zctx, ZMQ_PAIR);
    if (!ctx->in_mon_s)
        return flow_from_zmq();
    if (zmq_connect(ctx->in_mon_s, addr) != 0)
        return flow_from_zmq();
    if ((rc = flow_zwatch_new(&ctx->loop, ctx->in_mon_s, FLOW_ZW_READABLE,
                              in_mon_cb, ctx, &ctx->in_mon_w)))
        return rc;
    return 0;
}
