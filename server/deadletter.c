/* Dead letters: every deployed app's error output (--flow.error-output,
 * a PUSH socket the app binds) is read by a relay of flowd's, one per app
 * (stream and label), which hands every rejected batch, unchanged, to
 * each consumer group of the destination `:STREAM.LABEL.errors`: one PUSH
 * socket per group, bound by flowd, shared by the group's streams' first
 * apps as an output group is. A group that cannot take a batch yet keeps
 * it, and the relay stops reading until every group took it, so a slow
 * consumer holds up the app (as a slow consumer group of a destination
 * does) and nothing is dropped. With no consumer group the relay reads
 * and discards: the app has counted each rejected event in its `errors`,
 * so nothing is silent either way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <flow/curve.h>
#include <flow/endpoint.h>
#include <flow/error.h>
#include <flow/wire.h>
#include <flow/zwatch.h>

#include "model.h"

#define MAX_CONN   64
#define MAX_GROUPS 32
#define BATCH      256
#define SUFFIX     ".errors"

typedef struct dlq_group {
    struct srv_dlq *q; /* borrowed: the relay that owns it */
    char name[SRV_NAME_MAX + 16];
    char ep[SRV_EP_MAX];
    void *push;
    flow_zwatch *w;
    zmq_msg_t pending; /* a batch the group did not take yet */
    bool has_pending;
    bool wanted; /* a deployed stream reads it (srv_dlq_refresh) */
} dlq_group;

struct srv_dlq {
    srv *s;
    char stream[SRV_NAME_MAX + 16];
    char label[SRV_NAME_MAX + 16];
    void *pull;
    flow_zwatch *w;
    char conn[MAX_CONN][SRV_EP_MAX];
    int nconn;
    dlq_group *groups[MAX_GROUPS]; /* owned */
    int ngroups;
    int npending; /* groups holding a batch */
    uint64_t discarded;
    struct srv_dlq *next;
};

/* Splits dest `S.L.errors` into its stream and label; false when dest is
 * not of that form or names no app of an existing stream. */
static bool split_dest(srv *s, const char *dest, char *stream, size_t slen,
                       char *label, size_t llen)
{
    size_t n = strlen(dest), sl = strlen(SUFFIX);
    const char *dot = strchr(dest, '.');

    if (!dot || n <= sl || strcmp(dest + n - sl, SUFFIX) != 0)
        return false;
    const char *lab = dot + 1;
    size_t ll = (size_t)(dest + n - sl - lab);
    if ((size_t)(dot - dest) >= slen || ll == 0 || ll >= llen ||
        memchr(lab, '.', ll))
        return false;
    snprintf(stream, slen, "%.*s", (int)(dot - dest), dest);
    snprintf(label, llen, "%.*s", (int)ll, lab);
    srv_stream *st = srv_stream_find(s, stream);
    if (!st || !st->ast)
        return false;
    for (size_t k = 0; k < st->ast->n_apps; k++)
        if (strcmp(dsl_app_label(&st->ast->apps[k]), label) == 0)
            return true;
    return false;
}

bool srv_dlq_is_dest(srv *s, const char *dest)
{
    char st[SRV_NAME_MAX + 16], lab[SRV_NAME_MAX + 16];

    return split_dest(s, dest, st, sizeof st, lab, sizeof lab);
}

bool srv_dlq_source(srv *s, const srv_stream *st, char *stream, size_t slen,
                    char *label, size_t llen)
{
    if (!st->ast || !st->ast->source)
        return false;
    return split_dest(s, st->ast->source->name, stream, slen, label, llen);
}

static void pull_resume(struct srv_dlq *q)
{
    flow_zwatch_want(q->w, FLOW_ZW_READABLE);
    flow_zwatch_kick(q->w);
}

/* Sends g's pending batch; false while the group cannot take it. */
static bool send_pending(dlq_group *g)
{
    int rc = flow_zwatch_send(g->w, &g->pending, 0);

    if (rc == -FLOW_EAGAIN)
        return false;
    if (rc)
        zmq_msg_close(&g->pending); /* the socket is closing */
    g->has_pending = false;
    g->q->npending--;
    return true;
}

static void on_group(flow_zwatch *w, int ready, void *arg)
{
    dlq_group *g = arg;

    (void)ready;
    if (g->has_pending && !send_pending(g))
        return;
    flow_zwatch_want(w, 0);
    if (g->q->npending == 0)
        pull_resume(g->q);
}

static void on_pull(flow_zwatch *w, int ready, void *arg)
{
    struct srv_dlq *q = arg;
    zmq_msg_t msg;

    (void)ready;
    for (int n = 0; n < BATCH && q->npending == 0; n++) {
        zmq_msg_init(&msg);
        if (flow_zwatch_recv(w, &msg)) {
            zmq_msg_close(&msg);
            return;
        }
        if (q->ngroups == 0)
            q->discarded++;
        for (int k = 0; k < q->ngroups; k++) {
            dlq_group *g = q->groups[k];
            zmq_msg_init(&g->pending);
            zmq_msg_copy(&g->pending, &msg);
            g->has_pending = true;
            q->npending++;
            if (!send_pending(g))
                flow_zwatch_want(g->w, FLOW_ZW_WRITABLE);
        }
        zmq_msg_close(&msg);
    }
    if (q->npending)
        flow_zwatch_want(w, 0);
}

static void group_free(struct srv_dlq *q, int k)
{
    dlq_group *g = q->groups[k];

    if (g->has_pending) {
        zmq_msg_close(&g->pending);
        q->npending--;
    }
    flow_zwatch_close(&g->w);
    zmq_close(g->push);
    if (strncmp(g->ep, "ipc://", 6) == 0)
        unlink(g->ep + 6);
    free(g);
    q->groups[k] = q->groups[--q->ngroups];
    if (q->npending == 0 && q->w)
        pull_resume(q);
}

static void dlq_free(struct srv_dlq *q)
{
    while (q->ngroups)
        group_free(q, q->ngroups - 1);
    flow_zwatch_close(&q->w);
    if (q->pull)
        zmq_close(q->pull);
    free(q);
}

static struct srv_dlq *dlq_find(srv *s, const char *stream, const char *label)
{
    for (struct srv_dlq *q = s->dlqs; q; q = q->next)
        if (strcmp(q->stream, stream) == 0 && strcmp(q->label, label) == 0)
            return q;
    return NULL;
}

/* The relay of app label of stream, made when missing; NULL (the reason on
 * stderr) when its socket cannot be made. */
static struct srv_dlq *dlq_get(srv *s, const char *stream, const char *label)
{
    struct srv_dlq *q = dlq_find(s, stream, label);

    if (q)
        return q;
    q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->s = s;
    snprintf(q->stream, sizeof q->stream, "%s", stream);
    snprintf(q->label, sizeof q->label, "%s", label);
    q->pull = zmq_socket(s->zctx, ZMQ_PULL);
    int zero = 0;
    /* The same limit as every app's input: an app never sends more. */
    int64_t maxmsg = FLOW_WIRE_MAX_FRAME;
    if (!q->pull || zmq_setsockopt(q->pull, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(q->pull, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        flow_zwatch_new(s->loop, q->pull, FLOW_ZW_READABLE, on_pull, q,
                        &q->w)) {
        fprintf(stderr,
                "flowd: [%s.%s] cannot open the reader of its error output "
                "(%s); its rejected events stay counted in its errors only\n",
                stream, label, zmq_strerror(zmq_errno()));
        dlq_free(q);
        return NULL;
    }
    q->next = s->dlqs;
    s->dlqs = q;
    return q;
}

/* Binds group name of q at ipc://DATA/run/S.L.errors.to.NAME, or on a
 * loopback tcp:// port (CURVE, as every endpoint of flowd's) when that
 * path is too long for a Unix socket. */
static dlq_group *group_open(struct srv_dlq *q, const char *name)
{
    srv *s = q->s;
    dlq_group *g;

    if (q->ngroups == MAX_GROUPS || !(g = calloc(1, sizeof *g)))
        return NULL;
    g->q = q;
    snprintf(g->name, sizeof g->name, "%s", name);
    g->push = zmq_socket(s->zctx, ZMQ_PUSH);
    if (!g->push)
        goto fail;
    int zero = 0;
    zmq_setsockopt(g->push, ZMQ_LINGER, &zero, sizeof zero);
    if (srv_fmt(g->ep, sizeof g->ep, "ipc://%s/run/%s.%s%s.to.%s",
                s->cfg.data_dir, q->stream, q->label, SUFFIX, name) ||
        strlen(g->ep) >= 100 || zmq_bind(g->push, g->ep)) {
        size_t len = sizeof g->ep;
        if (flow_curve_prepare(g->push, s->curve, "tcp://", true) ||
            zmq_bind(g->push, "tcp://127.0.0.1:*") ||
            zmq_getsockopt(g->push, ZMQ_LAST_ENDPOINT, g->ep, &len))
            goto fail;
    }
    flow_endpoint_private(g->ep);
    if (flow_zwatch_new(s->loop, g->push, 0, on_group, g, &g->w))
        goto fail;
    q->groups[q->ngroups++] = g;
    return g;
fail:
    fprintf(stderr,
            "flowd: [%s.%s] cannot bind the dead-letter endpoint of group "
            "'%s' (%s); its streams read nothing until it is redeployed\n",
            q->stream, q->label, name, zmq_strerror(zmq_errno()));
    if (g->push)
        zmq_close(g->push);
    free(g);
    return NULL;
}

const char *srv_dlq_group_endpoint(srv *s, const char *dest, const char *group)
{
    char stream[SRV_NAME_MAX + 16], label[SRV_NAME_MAX + 16];

    if (!group || !srv_name_ok(group) ||
        !split_dest(s, dest, stream, sizeof stream, label, sizeof label))
        return NULL;
    struct srv_dlq *q = dlq_get(s, stream, label);
    if (!q)
        return NULL;
    for (int k = 0; k < q->ngroups; k++)
        if (strcmp(q->groups[k]->name, group) == 0)
            return q->groups[k]->ep;
    dlq_group *g = group_open(q, group);
    return g ? g->ep : NULL;
}

/* Connects q's reader to the error outputs of the running instances of
 * its app (none when its stream is not deployed) and drops the others. */
static void connect_producers(struct srv_dlq *q)
{
    char want[MAX_CONN][SRV_EP_MAX];
    int nwant = 0;
    srv_stream *src = srv_stream_find(q->s, q->stream);
    srv_dapp *a = src && src->deployed ? srv_stream_app(src, q->label) : NULL;

    for (int j = 0; a && j < a->ninst && nwant < MAX_CONN; j++)
        if (a->inst[j]->errors[0] && !a->inst[j]->removing)
            srv_fmt(want[nwant++], SRV_EP_MAX, "%s", a->inst[j]->errors);
    for (int k = 0; k < q->nconn;) {
        bool keep = false;
        for (int j = 0; j < nwant; j++)
            keep |= strcmp(q->conn[k], want[j]) == 0;
        if (keep) {
            k++;
            continue;
        }
        zmq_disconnect(q->pull, q->conn[k]);
        memmove(q->conn[k], q->conn[k + 1],
                (size_t)(q->nconn - k - 1) * SRV_EP_MAX);
        q->nconn--;
    }
    for (int j = 0; j < nwant; j++) {
        bool have = false;
        for (int k = 0; k < q->nconn; k++)
            have |= strcmp(q->conn[k], want[j]) == 0;
        if (have || q->nconn >= MAX_CONN)
            continue;
        if (flow_curve_prepare(q->pull, q->s->curve, want[j], false) == 0 &&
            zmq_connect(q->pull, want[j]) == 0)
            srv_fmt(q->conn[q->nconn++], SRV_EP_MAX, "%s", want[j]);
    }
    flow_zwatch_kick(q->w);
}

void srv_dlq_refresh(srv *s)
{
    /* A relay for every app of every deployed stream. */
    for (srv_stream *st = s->streams; st; st = st->next)
        for (size_t k = 0; st->deployed && k < st->napps; k++)
            dlq_get(s, st->name, st->apps[k].label);
    /* The groups deployed streams read. */
    for (struct srv_dlq *q = s->dlqs; q; q = q->next)
        for (int k = 0; k < q->ngroups; k++)
            q->groups[k]->wanted = false;
    for (srv_stream *c = s->streams; c; c = c->next) {
        if (!c->deployed || !c->ast || !c->ast->source || c->tap)
            continue;
        const char *dest = c->ast->source->name;
        const char *group = srv_stream_group(c);
        if (!srv_dlq_group_endpoint(s, dest, group))
            continue;
        char stream[SRV_NAME_MAX + 16], label[SRV_NAME_MAX + 16];
        split_dest(s, dest, stream, sizeof stream, label, sizeof label);
        struct srv_dlq *q = dlq_find(s, stream, label);
        for (int k = 0; q && k < q->ngroups; k++)
            if (strcmp(q->groups[k]->name, group) == 0)
                q->groups[k]->wanted = true;
    }
    for (struct srv_dlq **qp = &s->dlqs; *qp;) {
        struct srv_dlq *q = *qp;
        for (int k = q->ngroups; k-- > 0;)
            if (!q->groups[k]->wanted)
                group_free(q, k);
        srv_stream *src = srv_stream_find(s, q->stream);
        if (q->ngroups == 0 && !(src && src->deployed)) {
            *qp = q->next;
            dlq_free(q);
            continue;
        }
        connect_producers(q);
        qp = &q->next;
    }
}

void srv_dlq_close_all(srv *s)
{
    while (s->dlqs) {
        struct srv_dlq *q = s->dlqs;
        s->dlqs = q->next;
        dlq_free(q);
    }
}
