/*
 * A ZeroMQ socket watched by a libuv loop. The only file that touches
 * ZMQ_FD.
 *
 * ZMQ_FD becomes readable when the socket's state may have changed, and
 * only on an edge: any zmq call on the socket can consume the signal. So
 * after every wake-up, and after every send or receive made through the
 * watcher, ZMQ_EVENTS is read again and the callback runs for as long as
 * the socket stays ready. A few rounds run per wake-up; if the socket is
 * still ready after them, an idle handle brings the watcher back on the
 * next loop iteration so other handles get their turn.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "flow/error.h"
#include "flow/zwatch.h"

#define ROUNDS_PER_WAKEUP 4

struct flow_zwatch {
    uv_poll_t poll;
    uv_idle_t idle;
    void *zsock;
    int want;
    flow_zwatch_cb cb;
    void *arg;
    int open_handles;
    bool closing;
    bool in_process;
};

static int ready_of(flow_zwatch *w)
{
    int events = 0;
    size_t sz = sizeof(events);
    if (zmq_getsockopt(w->zsock, ZMQ_EVENTS, &events, &sz) != 0)
        return 0;
    int ready = 0;
    if (events & ZMQ_POLLIN)
        ready |= FLOW_ZW_READABLE;
    if (events & ZMQ_POLLOUT)
        ready |= FLOW_ZW_WRITABLE;
    return ready & w->want;
}

static void on_idle(uv_idle_t *h);

static void process(flow_zwatch *w)
{
    if (w->in_process)
        return; /* a send inside the callback kicked us: the loop below
                 * re-reads ZMQ_EVENTS anyway */
    w->in_process = true;
    for (int round = 0; round < ROUNDS_PER_WAKEUP; round++) {
        int ready = w->closing ? 0 : ready_of(w);
        if (!ready) {
            uv_idle_stop(&w->idle);
            w->in_process = false;
            return;
        }
        w->cb(w, ready, w->arg);
    }
    w->in_process = false;
    if (!w->closing)
        uv_idle_start(&w->idle, on_idle);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    process(h->data);
}

static void on_idle(uv_idle_t *h)
{
    process(h->data);
}

int flow_zwatch_new(uv_loop_t *loop, void *zsock, int want, flow_zwatch_cb cb,
                    void *arg, flow_zwatch **out)
{
    int fd;
    size_t sz = sizeof(fd);
    if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &sz) != 0)
        return flow_from_zmq();
    flow_zwatch *w = calloc(1, sizeof(*w));
    if (!w)
        return -FLOW_ENOMEM;
    w->zsock = zsock;
    w->want = want;
    w->cb = cb;
    w->arg = arg;
    if (uv_poll_init(loop, &w->poll, fd) != 0) {
        free(w);
        return -FLOW_EIO;
    }
    uv_idle_init(loop, &w->idle);
    w->poll.data = w;
    w->idle.data = w;
    w->open_handles = 2;
    uv_poll_start(&w->poll, UV_READABLE, on_poll);
    /* Messages may already be queued: their edge has passed. */
    uv_idle_start(&w->idle, on_idle);
    *out = w;
    return 0;
}

void flow_zwatch_want(flow_zwatch *w, int want)
{
    w->want = want;
    flow_zwatch_kick(w);
}

void flow_zwatch_kick(flow_zwatch *w)
{
    if (!w->closing)
        uv_idle_start(&w->idle, on_idle);
}

int flow_zwatch_send(flow_zwatch *w, zmq_msg_t *msg, int flags)
{
    int rc = zmq_msg_send(msg, w->zsock, flags | ZMQ_DONTWAIT);
    int err = rc < 0 ? flow_from_zmq() : 0;
    flow_zwatch_kick(w);
    return err;
}

int flow_zwatch_recv(flow_zwatch *w, zmq_msg_t *msg)
{
    int rc = zmq_msg_recv(msg, w->zsock, ZMQ_DONTWAIT);
    int err = rc < 0 ? flow_from_zmq() : 0;
    flow_zwatch_kick(w);
    return err;
}

int flow_zwatch_recv_event(flow_zwatch *w, zmq_msg_t *addr, uint16_t *type,
                           int32_t *value)
{
    zmq_msg_t ev;

    zmq_msg_init(&ev);
    int err = flow_zwatch_recv(w, &ev);
    if (err) {
        zmq_msg_close(&ev);
        return err;
    }
    *type = 0;
    *value = 0;
    if (zmq_msg_size(&ev) >= 6) {
        const uint8_t *d = zmq_msg_data(&ev);
        *type = (uint16_t)(d[0] | d[1] << 8); /* host order */
        memcpy(value, d + 2, sizeof *value);
    }
    int more = zmq_msg_more(&ev);
    zmq_msg_close(&ev);
    if (!more || flow_zwatch_recv(w, addr)) {
        *type = 0;
        return 0;
    }
    /* More frames than the two of libzmq 4's events: skip them. */
    for (more = zmq_msg_more(addr); more;) {
        zmq_msg_t skip;
        zmq_msg_init(&skip);
        more = flow_zwatch_recv(w, &skip) == 0 && zmq_msg_more(&skip);
        zmq_msg_close(&skip);
    }
    return 0;
}

int flow_zwatch_send_buf(flow_zwatch *w, const void *data, size_t len,
                         int flags)
{
    int rc = zmq_send(w->zsock, data, len, flags | ZMQ_DONTWAIT);
    int err = rc < 0 ? flow_from_zmq() : 0;
    flow_zwatch_kick(w);
    return err;
}

void *flow_zwatch_socket(flow_zwatch *w)
{
    return w->zsock;
}

static void on_close(uv_handle_t *h)
{
    flow_zwatch *w = h->data;
    if (--w->open_handles == 0)
        free(w);
}

void flow_zwatch_close(flow_zwatch **wp)
{
    flow_zwatch *w = *wp;
    if (!w)
        return;
    *wp = NULL;
    w->closing = true;
    uv_close((uv_handle_t *)&w->poll, on_close);
    uv_close((uv_handle_t *)&w->idle, on_close);
}
