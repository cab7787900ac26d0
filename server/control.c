/* flowd's control endpoint: a ROUTER socket that apps' DEALERs connect
 * to (docs/apps.md). hello and metrics update instances, counter messages
 * feed analytics; connect/disconnect go back to one app. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <flow/control.h>
#include <flow/error.h>
#include <flow/zwatch.h>

#include "model.h"

#define BATCH 256

static bool str_eq(flow_ctl_str a, const char *b)
{
    return a.ptr && strlen(b) == a.len && memcmp(a.ptr, b, a.len) == 0;
}

/* Copies a borrowed string into buf, cut to fit; an absent one leaves
 * buf as it was (an app reports its last error until a newer one). */
static void copy_str(char *buf, size_t len, flow_ctl_str v)
{
    if (!v.ptr)
        return;
    size_t n = v.len < len - 1 ? v.len : len - 1;
    memcpy(buf, v.ptr, n);
    buf[n] = '\0';
}

static srv_inst *find_inst(srv *s, const flow_ctl_msg *m)
{
    for (srv_stream *st = s->streams; st; st = st->next) {
        if (!str_eq(m->stream, st->name))
            continue;
        for (size_t k = 0; k < st->napps; k++) {
            srv_dapp *a = &st->apps[k];
            if (!str_eq(m->label, a->label))
                continue;
            for (int j = 0; j < a->ninst; j++)
                if (a->inst[j]->index == m->instance)
                    return a->inst[j];
        }
    }
    return NULL;
}

/* The instance whose control connection has identity id, or NULL. */
static srv_inst *inst_of_ident(srv *s, const void *id, size_t idlen)
{
    for (srv_stream *st = s->streams; st; st = st->next)
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                srv_inst *i = st->apps[k].inst[j];
                if (i->ident_len == idlen && i->pid > 0 &&
                    memcmp(i->ident, id, idlen) == 0)
                    return i;
            }
    return NULL;
}

/* Could an unknown sender (no hello or metrics of its connection read
 * yet, as after a flowd restart) be an instance of a guaranteed stream?
 * Its increments then only move the live figure: counted in the committed
 * value they would be counted twice, once more by the checkpoints. */
static bool maybe_guaranteed(srv *s)
{
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->guarantee != SRV_GUARANTEE_NONE)
            for (size_t k = 0; k < st->napps; k++)
                for (int j = 0; j < st->apps[k].ninst; j++)
                    if (st->apps[k].inst[j]->pid > 0 &&
                        st->apps[k].inst[j]->ident_len == 0)
                        return true;
    return false;
}

/* The increments of an instance of a guaranteed stream are not committed:
 * only its counters' live figures move (the committed values come with
 * the checkpoints, see checkpoint/). */
static void on_live_counter(srv *s, srv_inst *from, const char *kind,
                            const char *name, const flow_ctl_msg *m)
{
    char key[256];

    srv_analytics_add_live(s->an, kind, name, NULL, 0);
    if (!from || !s->ckpt_ops)
        return;
    if (strcmp(kind, "field-value-counter") != 0) {
        s->ckpt_ops->live(s->ckpt_ud, from, kind, name, NULL, m->inc);
        return;
    }
    for (uint32_t j = 0; m->values && j < m->nvalues; j++) {
        const flow_ctl_pair *p = &m->values[j];
        if (p->key.len >= sizeof key)
            continue;
        memcpy(key, p->key.ptr, p->key.len);
        key[p->key.len] = '\0';
        s->ckpt_ops->live(s->ckpt_ud, from, kind, name, key, p->value);
    }
}

static void on_counter(srv *s, const void *id, size_t idlen,
                       const flow_ctl_msg *m)
{
    char kind[64], name[256], key[256];
    srv_inst *from = inst_of_ident(s, id, idlen);

    if (!m->kind.ptr || !m->name.ptr || m->kind.len >= sizeof kind ||
        m->name.len >= sizeof name || m->name.len == 0)
        return;
    memcpy(kind, m->kind.ptr, m->kind.len);
    kind[m->kind.len] = '\0';
    memcpy(name, m->name.ptr, m->name.len);
    name[m->name.len] = '\0';
    if (strcmp(kind, "counter") != 0 &&
        strcmp(kind, "field-value-counter") != 0 &&
        strcmp(kind, "aggregate-counter") != 0)
        return;
    if (m->ckpt > 0) {
        if (from && s->ckpt_ops)
            s->ckpt_ops->counter(s->ckpt_ud, from, m);
        return;
    }
    if (from ? from->app->stream->guarantee != SRV_GUARANTEE_NONE
             : maybe_guaranteed(s)) {
        on_live_counter(s, from, kind, name, m);
        return;
    }
    if (strcmp(kind, "field-value-counter") != 0)
        srv_analytics_add(s->an, kind, name, m->inc);
    if (!m->seconds && strcmp(kind, "field-value-counter") != 0)
        srv_analytics_add_second(s->an, kind, name, srv_now_ms() / 1000,
                                 m->inc);
    if (m->seconds && strcmp(kind, "field-value-counter") != 0) {
        for (uint32_t j = 0; j < m->nseconds; j++) {
            const flow_ctl_pair *p = &m->seconds[j];
            if (p->key.len >= sizeof key)
                continue;
            memcpy(key, p->key.ptr, p->key.len);
            key[p->key.len] = '\0';
            char *e;
            long long sec = strtoll(key, &e, 10);
            if (*e || sec <= 0)
                continue;
            srv_analytics_add_second(s->an, kind, name, sec, p->value);
        }
    }
    if (m->values && strcmp(kind, "field-value-counter") == 0) {
        for (uint32_t j = 0; j < m->nvalues; j++) {
            const flow_ctl_pair *p = &m->values[j];
            if (p->key.len >= sizeof key)
                continue;
            memcpy(key, p->key.ptr, p->key.len);
            key[p->key.len] = '\0';
            srv_analytics_add_value(s->an, name, key, p->value);
        }
    }
}

/* hello, metrics and bye: what an instance says about itself. */
static void on_instance(srv *s, const void *id, size_t idlen,
                        const flow_ctl_msg *m)
{
    srv_inst *i = find_inst(s, m);
    if (!i || i->pid <= 0 || (m->pid && m->pid != i->pid))
        return;
    if (idlen <= sizeof i->ident) {
        memcpy(i->ident, id, idlen);
        i->ident_len = idlen;
    }
    i->last_seen_ms = srv_now_ms();
    if (m->type != FLOW_CTL_HELLO) {
        i->m = m->m;
        copy_str(i->last_error, sizeof i->last_error, m->last_error);
        copy_str(i->end, sizeof i->end, m->end);
        copy_str(i->url, sizeof i->url, m->url);
        if (m->figures) {
            i->nfigures = 0;
            for (uint32_t k = 0; k < m->nfigures && k < SRV_FIGURES; k++) {
                copy_str(i->figures[k].name, sizeof i->figures[k].name,
                         m->figures[k].key);
                i->figures[k].value = m->figures[k].value;
                i->nfigures++;
            }
        }
    }
    if (i->stale) {
        /* It speaks again: say so now rather than at the next tick. */
        i->stale = false;
        if (s->control_ops)
            s->control_ops->changed(s->control_ud, i);
    }
    if (i->state == SRV_INST_DEPLOYING && m->type != FLOW_CTL_BYE) {
        i->state = SRV_INST_DEPLOYED;
        if (s->control_ops)
            s->control_ops->hello(s->control_ud, i);
    }
}

static void on_message(srv *s, const void *id, size_t idlen, const void *data,
                       size_t len)
{
    flow_ctl_msg m;

    if (flow_ctl_decode(data, len, &m))
        return;
    if (m.type == FLOW_CTL_COUNTER)
        on_counter(s, id, idlen, &m);
    else if ((m.type == FLOW_CTL_ACK || m.type == FLOW_CTL_DECLINE) &&
             s->ckpt_ops) {
        srv_inst *i = find_inst(s, &m);
        if (i && i->pid > 0 && m.type == FLOW_CTL_ACK)
            s->ckpt_ops->ack(s->ckpt_ud, i, m.id, m.bytes);
        else if (i && i->pid > 0)
            s->ckpt_ops->decline(s->ckpt_ud, i, m.id,
                                 m.reason.ptr ? m.reason.ptr : "",
                                 m.reason.len);
    } else if (m.type == FLOW_CTL_HELLO || m.type == FLOW_CTL_METRICS ||
               m.type == FLOW_CTL_BYE)
        on_instance(s, id, idlen, &m);
    flow_ctl_msg_fini(&m);
}

static void on_ready(flow_zwatch *w, int ready, void *arg)
{
    srv *s = arg;
    zmq_msg_t id, body;

    (void)ready;
    for (int n = 0; n < BATCH; n++) {
        zmq_msg_init(&id);
        if (flow_zwatch_recv(w, &id)) {
            zmq_msg_close(&id);
            return;
        }
        if (!zmq_msg_more(&id)) {
            zmq_msg_close(&id);
            continue;
        }
        zmq_msg_init(&body);
        if (flow_zwatch_recv(w, &body)) {
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            return;
        }
        /* Drop any further frames of a malformed message. */
        bool more = zmq_msg_more(&body);
        while (more) {
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            if (flow_zwatch_recv(w, &extra)) {
                zmq_msg_close(&extra);
                break;
            }
            more = zmq_msg_more(&extra);
            zmq_msg_close(&extra);
        }
        on_message(s, zmq_msg_data(&id), zmq_msg_size(&id), zmq_msg_data(&body),
                   zmq_msg_size(&body));
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
}

int srv_control_start(srv *s, char *err, size_t errlen)
{
    int n = snprintf(s->ctl_endpoint, sizeof s->ctl_endpoint,
                     "ipc://%s/run/control", s->cfg.data_dir);
    s->zctx = zmq_ctx_new();
    if (!s->zctx) {
        snprintf(err, errlen, "cannot create a ZeroMQ context");
        return -1;
    }
    s->ctl_sock = zmq_socket(s->zctx, ZMQ_ROUTER);
    if (!s->ctl_sock) {
        snprintf(err, errlen, "cannot create the control socket: %s",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    int zero = 0, hwm = 100000, maxmsg = (int)FLOW_CTL_MAX_FRAME;
    int64_t maxsize = maxmsg;
    zmq_setsockopt(s->ctl_sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s->ctl_sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->ctl_sock, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    if (srv_keys_start(s, err, errlen))
        return -1;
    if (n >= 100 || zmq_bind(s->ctl_sock, s->ctl_endpoint)) {
        /* Over tcp:// only the apps flowd started get in (CURVE). */
        if (flow_curve_prepare(s->ctl_sock, s->curve, "tcp://", true) ||
            zmq_bind(s->ctl_sock, "tcp://127.0.0.1:*")) {
            snprintf(err, errlen, "cannot bind the control endpoint: %s",
                     zmq_strerror(zmq_errno()));
            return -1;
        }
        size_t len = sizeof s->ctl_endpoint;
        zmq_getsockopt(s->ctl_sock, ZMQ_LAST_ENDPOINT, s->ctl_endpoint, &len);
    }
    flow_endpoint_private(s->ctl_endpoint);
    /* Set after the first bind, CURVE applies to this endpoint alone. */
    if (s->cfg.control_tcp[0] &&
        (flow_curve_prepare(s->ctl_sock, s->curve, "tcp://", true) ||
         zmq_bind(s->ctl_sock, s->cfg.control_tcp))) {
        snprintf(err, errlen, "cannot bind the control endpoint %s: %s",
                 s->cfg.control_tcp, zmq_strerror(zmq_errno()));
        return -1;
    }
    int rc = flow_zwatch_new(s->loop, s->ctl_sock, FLOW_ZW_READABLE, on_ready,
                             s, &s->ctl_watch);
    if (rc) {
        snprintf(err, errlen, "cannot watch the control socket: %s",
                 flow_strerror(rc));
        return -1;
    }
    return 0;
}

void srv_control_drain(srv *s)
{
    if (s->ctl_watch)
        on_ready(s->ctl_watch, FLOW_ZW_READABLE, s);
}

void srv_control_stop(srv *s)
{
    flow_zwatch_close(&s->ctl_watch);
    if (s->ctl_sock)
        zmq_close(s->ctl_sock);
    s->ctl_sock = NULL;
}

void srv_control_send_connect(srv *s, srv_inst *i, const char *type,
                              const char *port, const char *endpoint)
{
    flow_buf b;

    if (!s->ctl_watch || i->ident_len == 0 || i->pid <= 0)
        return;
    flow_buf_init(&b);
    int rc = strcmp(type, "connect") == 0
                 ? flow_ctl_encode_connect(&b, port, endpoint)
                 : flow_ctl_encode_disconnect(&b, port, endpoint);
    if (rc == 0 && flow_zwatch_send_buf(s->ctl_watch, i->ident, i->ident_len,
                                        ZMQ_SNDMORE) == 0)
        flow_zwatch_send_buf(s->ctl_watch, b.data, b.len, 0);
    flow_buf_fini(&b);
}

void srv_control_send_ckpt(srv *s, srv_inst *i, bool done, uint64_t id)
{
    flow_buf b;

    if (!s->ctl_watch || i->ident_len == 0 || i->pid <= 0)
        return;
    flow_buf_init(&b);
    int rc =
        done ? flow_ctl_encode_ckpt_done(&b, id) : flow_ctl_encode_ckpt(&b, id);
    if (rc == 0 && flow_zwatch_send_buf(s->ctl_watch, i->ident, i->ident_len,
                                        ZMQ_SNDMORE) == 0)
        flow_zwatch_send_buf(s->ctl_watch, b.data, b.len, 0);
    flow_buf_fini(&b);
}
