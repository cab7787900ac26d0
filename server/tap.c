/* Taps: a stream that starts with `:stream.label >` sees what app `label`
 * of `stream` sends, without slowing it. Each app publishes its output
 * batches on its tap endpoint (PUB with ZMQ_XPUB_NODROP: what a slow
 * reader has no room for the app refuses and counts in its drops); flowd
 * subscribes to the tapped instances and hands the batches to the tap
 * stream's first app over a PUSH socket it binds. The relay itself never
 * drops: a batch the tap stream cannot take yet waits, and the relay
 * stops reading until it can, so a slow tap stream shows as drops of the
 * tapped instances, where they are counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <flow/error.h>
#include <flow/wire.h>
#include <flow/zwatch.h>

#include "model.h"

#define MAX_CONN 64
#define BATCH    256

struct srv_tap {
    srv *s;
    char stream[SRV_NAME_MAX + 16];
    char label[SRV_NAME_MAX + 16];
    void *sub, *push;
    flow_zwatch *w, *push_w;
    zmq_msg_t held; /* a batch the tap stream did not take yet */
    bool holding;
    char endpoint[SRV_EP_MAX];
    char conn[MAX_CONN][SRV_EP_MAX];
    int nconn;
    uint64_t forwarded;
};

/* Sends the held batch; false while the tap stream cannot take it. */
static bool send_held(srv_tap *t)
{
    int rc = flow_zwatch_send(t->push_w, &t->held, 0);
    if (rc == -FLOW_EAGAIN)
        return false;
    if (rc)
        zmq_msg_close(&t->held); /* the socket is closing */
    else
        t->forwarded++;
    t->holding = false;
    return true;
}

static void on_sub(flow_zwatch *w, int ready, void *arg)
{
    srv_tap *t = arg;

    (void)ready;
    for (int n = 0; n < BATCH && !t->holding; n++) {
        zmq_msg_init(&t->held);
        if (flow_zwatch_recv(w, &t->held)) {
            zmq_msg_close(&t->held);
            return;
        }
        t->holding = true;
        if (!send_held(t)) {
            flow_zwatch_want(t->w, 0);
            flow_zwatch_want(t->push_w, FLOW_ZW_WRITABLE);
        }
    }
}

static void on_push(flow_zwatch *w, int ready, void *arg)
{
    srv_tap *t = arg;

    (void)ready;
    if (t->holding && !send_held(t))
        return;
    flow_zwatch_want(w, 0);
    flow_zwatch_want(t->w, FLOW_ZW_READABLE);
}

/* Is the source of st a tap (`:S.L` where a stream S exists)? Fills the
 * stream and label names. */
bool srv_tap_source(srv *s, srv_stream *st, char *stream, size_t slen,
                    char *label, size_t llen)
{
    if (!st->ast->source)
        return false;
    const char *name = st->ast->source->name;
    const char *dot = strchr(name, '.');
    if (!dot || strchr(dot + 1, '.'))
        return false;
    snprintf(stream, slen, "%.*s", (int)(dot - name), name);
    snprintf(label, llen, "%s", dot + 1);
    return srv_stream_find(s, stream) != NULL;
}

int srv_tap_open(srv *s, srv_stream *st, char *err, size_t errlen)
{
    srv_tap *t;

    if (st->tap)
        return 0;
    t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->s = s;
    if (!srv_tap_source(s, st, t->stream, sizeof t->stream, t->label,
                        sizeof t->label)) {
        free(t);
        return 0;
    }
    t->sub = zmq_socket(s->zctx, ZMQ_SUB);
    t->push = zmq_socket(s->zctx, ZMQ_PUSH);
    if (!t->sub || !t->push)
        goto fail;
    int zero = 0;
    zmq_setsockopt(t->sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(t->push, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(t->sub, ZMQ_SUBSCRIBE, "", 0);
    /* The same limit as every app's input: a tapped app never sends more. */
    int64_t maxmsg = FLOW_WIRE_MAX_FRAME;
    zmq_setsockopt(t->sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (srv_fmt(t->endpoint, sizeof t->endpoint, "ipc://%s/run/%s.tapin",
                s->cfg.data_dir, st->name) ||
        strlen(t->endpoint) >= 100 || zmq_bind(t->push, t->endpoint)) {
        /* Over tcp:// only the tap stream's apps get in (CURVE). */
        if (flow_curve_prepare(t->push, s->curve, "tcp://", true) ||
            zmq_bind(t->push, "tcp://127.0.0.1:*"))
            goto fail;
        size_t len = sizeof t->endpoint;
        zmq_getsockopt(t->push, ZMQ_LAST_ENDPOINT, t->endpoint, &len);
    }
    flow_endpoint_private(t->endpoint);
    if (flow_zwatch_new(s->loop, t->sub, FLOW_ZW_READABLE, on_sub, t, &t->w))
        goto fail;
    if (flow_zwatch_new(s->loop, t->push, 0, on_push, t, &t->push_w)) {
        flow_zwatch_close(&t->w);
        goto fail;
    }
    st->tap = t;
    srv_tap_refresh(s);
    return 0;
fail:
    snprintf(err, errlen, "cannot open the tap of %s.%s: %s", t->stream,
             t->label, zmq_strerror(zmq_errno()));
    if (t->sub)
        zmq_close(t->sub);
    if (t->push)
        zmq_close(t->push);
    free(t);
    return -1;
}

const char *srv_tap_endpoint(const srv_stream *st)
{
    return st->tap ? st->tap->endpoint : NULL;
}

void srv_tap_close(srv_stream *st)
{
    srv_tap *t = st->tap;

    if (!t)
        return;
    st->tap = NULL;
    flow_zwatch_close(&t->w);
    flow_zwatch_close(&t->push_w);
    if (t->holding)
        zmq_msg_close(&t->held);
    zmq_close(t->sub);
    zmq_close(t->push);
    if (strncmp(t->endpoint, "ipc://", 6) == 0)
        unlink(t->endpoint + 6);
    free(t);
}

/* Connects every tap to the tap endpoints of the instances it taps now,
 * and disconnects from those that went away. */
void srv_tap_refresh(srv *s)
{
    for (srv_stream *st = s->streams; st; st = st->next) {
        srv_tap *t = st->tap;
        if (!t)
            continue;
        char want[MAX_CONN][SRV_EP_MAX];
        int nwant = 0;
        srv_stream *src = srv_stream_find(s, t->stream);
        srv_dapp *a =
            src && src->deployed ? srv_stream_app(src, t->label) : NULL;
        for (int j = 0; a && j < a->ninst && nwant < MAX_CONN; j++)
            if (a->inst[j]->tap[0] && !a->inst[j]->removing)
                srv_fmt(want[nwant++], SRV_EP_MAX, "%s", a->inst[j]->tap);
        for (int k = 0; k < t->nconn;) {
            bool keep = false;
            for (int j = 0; j < nwant; j++)
                keep |= strcmp(t->conn[k], want[j]) == 0;
            if (keep) {
                k++;
                continue;
            }
            zmq_disconnect(t->sub, t->conn[k]);
            memmove(t->conn[k], t->conn[k + 1],
                    (size_t)(t->nconn - k - 1) * SRV_EP_MAX);
            t->nconn--;
        }
        for (int j = 0; j < nwant; j++) {
            bool have = false;
            for (int k = 0; k < t->nconn; k++)
                have |= strcmp(t->conn[k], want[j]) == 0;
            if (have || t->nconn >= MAX_CONN)
                continue;
            if (flow_curve_prepare(t->sub, t->s->curve, want[j], false) == 0 &&
                zmq_connect(t->sub, want[j]) == 0)
                srv_fmt(t->conn[t->nconn++], SRV_EP_MAX, "%s", want[j]);
        }
        flow_zwatch_kick(t->w);
    }
}
