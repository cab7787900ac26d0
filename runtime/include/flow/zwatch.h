/*
 * flow: a ZeroMQ socket watched by a libuv loop.
 *
 * ZMQ_FD is edge-triggered and any send or receive on the socket may
 * consume the edge, so a watcher re-reads ZMQ_EVENTS after every wake-up
 * and after every send and receive done through it, and keeps calling back
 * while the socket stays ready. This file (zwatch.c) is the only one in the
 * project that touches ZMQ_FD: use flow_zwatch_send/recv (or call
 * flow_zwatch_kick after using the socket directly).
 */
#ifndef FLOW_ZWATCH_H
#define FLOW_ZWATCH_H

#include <stddef.h>
#include <uv.h>
#include <stdint.h>
#include <zmq.h>

typedef struct flow_zwatch flow_zwatch;

enum {
    FLOW_ZW_READABLE = 1, /* ZMQ_POLLIN */
    FLOW_ZW_WRITABLE = 2, /* ZMQ_POLLOUT */
};

/*
 * Called with the ready conditions among those wanted. The callback should
 * receive (or send) until it gets -FLOW_EAGAIN or decides to yield; the
 * watcher calls again on the next loop iteration while the socket stays
 * ready, so one busy socket cannot starve the loop.
 */
typedef void (*flow_zwatch_cb)(flow_zwatch *w, int ready, void *arg);

/* Starts watching zsock (borrowed; the caller closes it after the watcher
 * is closed) for the conditions in want. Returns 0 or a negative FLOW_E*;
 * *out is set on success only. */
int flow_zwatch_new(uv_loop_t *loop, void *zsock, int want, flow_zwatch_cb cb,
                    void *arg, flow_zwatch **out);

/* Changes the wanted conditions (0 = pause). */
void flow_zwatch_want(flow_zwatch *w, int want);

/* Re-checks ZMQ_EVENTS on the next loop iteration. */
void flow_zwatch_kick(flow_zwatch *w);

/* zmq_msg_send / zmq_msg_recv with ZMQ_DONTWAIT (flags may add
 * ZMQ_SNDMORE), followed by a kick. A send takes msg only on success.
 * Return 0 or -FLOW_EAGAIN, -FLOW_ETERM, other negative FLOW_E*. */
int flow_zwatch_send(flow_zwatch *w, zmq_msg_t *msg, int flags);
int flow_zwatch_recv(flow_zwatch *w, zmq_msg_t *msg);
/* Reads one event from w, the PAIR socket of a zmq_socket_monitor: its
 * type and value (an fd or an error number) into *type and *value, and the
 * endpoint it names into addr (initialised and closed by the caller).
 * Frames beyond those two are skipped. *type is 0 for an event too short
 * or without its endpoint. Returns 0, or a negative FLOW_E* when nothing is
 * waiting. */
int flow_zwatch_recv_event(flow_zwatch *w, zmq_msg_t *addr, uint16_t *type,
                           int32_t *value);
/* Sends a copy of a buffer as one frame. */
int flow_zwatch_send_buf(flow_zwatch *w, const void *data, size_t len,
                         int flags);

void *flow_zwatch_socket(flow_zwatch *w);

/* Stops watching; the memory is freed in libuv's close callback. NULL-safe;
 * nulls *wp. Does not close the ZeroMQ socket. */
void flow_zwatch_close(flow_zwatch **wp);

#endif
