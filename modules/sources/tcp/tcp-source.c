/*
 * tcp - takes frames from outside clients over TCP (SCDF's tcp source):
 * lines ending in LF or CRLF, or frames with a 4-byte big-endian length
 * prefix. Frames are appended to the source's input log, and the source
 * reads no further from a connection until the frames already read from
 * it are durable (docs/apps.md "tcp").
 */
#include "apps.h"
#include "ingest_decode.h"
#include "ingest_src.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Connections served at once; more are closed at once. */
#define TCP_MAX_CONNS 256

struct conn;

struct tcpsrc {
    int64_t port;
    const char *host;
    const char *decoder;
    int64_t max_frame;
    int64_t max_pending;
    int64_t segment;
    ingest_framing framing;
    ingest_src is;
    uv_tcp_t *server;
    struct conn *conns;
    unsigned nconns;
    flow_buf recs, scratch;
    char *url;
    uint64_t connections, frames, rejects;
};

struct conn {
    uv_tcp_t tcp;
    struct tcpsrc *s;
    struct conn *next, **pprev;
    uint8_t *buf;
    size_t len, cap;
    bool reading, closing, waiting, eof;
    ingest_waiter w;
};

static const char *const decoders[] = { "LF", "CRLF", "L4", NULL };

static const flow_option options[] = {
    { .name = "port",
      .type = FLOW_OPT_INT,
      .def = "0",
      .min = "0",
      .max = "65535",
      FLOW_OPT_FIELD(struct tcpsrc, port),
      .description = "The TCP port to listen on; 0 takes a free one, "
                     "reported as the instance's url." },
    { .name = "host",
      .type = FLOW_OPT_STRING,
      .def = "127.0.0.1",
      FLOW_OPT_FIELD(struct tcpsrc, host),
      .description = "The address to listen on (0.0.0.0: every "
                     "interface)." },
    { .name = "decoder",
      .type = FLOW_OPT_ENUM,
      .def = "LF",
      .values = decoders,
      FLOW_OPT_FIELD(struct tcpsrc, decoder),
      .description = "How frames end: LF or CRLF lines, or L4, a 4-byte "
                     "big-endian length before each frame." },
    { .name = "max-frame",
      .type = FLOW_OPT_INT,
      .def = "1048576",
      .min = "1",
      .max = "16777216",
      FLOW_OPT_FIELD(struct tcpsrc, max_frame),
      .description = "The largest frame in bytes; a connection sending a "
                     "larger one is closed." },
    { .name = "max-pending",
      .type = FLOW_OPT_INT,
      .def = "67108864",
      .min = "1",
      FLOW_OPT_FIELD(struct tcpsrc, max_pending),
      .description = "Bytes of the input log accepted but not yet emitted; "
                     "past it the source stops reading its connections." },
    { .name = "segment-size",
      .type = FLOW_OPT_INT,
      .def = "67108864",
      .min = "4096",
      FLOW_OPT_FIELD(struct tcpsrc, segment),
      .description = "The size of one input log segment file in bytes." },
    { .name = NULL },
};

static void report(struct tcpsrc *s)
{
    flow_report_figure(s->is.ctx, "connections", s->connections);
    flow_report_figure(s->is.ctx, "events", s->frames);
    flow_report_figure(s->is.ctx, "rejects", s->rejects);
    flow_report_figure(s->is.ctx, "syncs", s->is.syncs);
}

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    free(c->buf);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->pprev) {
        *c->pprev = c->next;
        if (c->next)
            c->next->pprev = c->pprev;
        c->pprev = NULL;
        if (c->s)
            c->s->nconns--;
    }
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = h->data;
    (void)hint;
    size_t limit = c->s ? (size_t)c->s->max_frame + 4 : 0;
    size_t want = c->len + 65536;
    if (want > limit)
        want = limit;
    if (want > c->cap) {
        uint8_t *nb = realloc(c->buf, want);
        if (nb) {
            c->buf = nb;
            c->cap = want;
        }
    }
    b->base = (char *)c->buf + c->len;
    b->len = c->cap > c->len ? c->cap - c->len : 0;
}

static void read_start(struct conn *c)
{
    if (!c->reading && !c->closing && !c->eof)
        c->reading =
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
}

static void read_stop(struct conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void tcp_durable(ingest_waiter *w, int status);

/* Turns the whole frames read into records and appends them; then waits
 * for them to be durable before reading on. */
static void drain(struct conn *c)
{
    struct tcpsrc *s = c->s;
    if (!s || c->closing || c->waiting)
        return;
    if (ingest_src_pending(&s->is) >= s->is.max_pending) {
        read_stop(c); /* on_durable starts it again */
        return;
    }
    size_t pos = 0;
    uint32_t n = 0;
    bool bad = false;
    flow_buf_reset(&s->recs);
    for (;;) {
        const uint8_t *f;
        size_t flen, used;
        int r = ingest_frame_next(s->framing, c->buf + pos, c->len - pos,
                                  (size_t)s->max_frame, &f, &flen, &used);
        if (r == 0)
            break;
        if (r < 0) {
            bad = true;
            break;
        }
        flow_buf_reset(&s->scratch);
        if (s->framing == INGEST_FRAME_L4)
            flow_mp_put_bin(&s->scratch, f, flen);
        else
            flow_mp_put_str(&s->scratch, (const char *)f, flen);
        ingest_log_put(&s->recs, NULL, 0, s->scratch.data, s->scratch.len);
        pos += used;
        n++;
    }
    if (s->recs.err) {
        flow_log(s->is.ctx, "out of memory: closing a connection");
        conn_close(c);
        return;
    }
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
    if (n > 0) {
        s->frames += n;
        c->waiting = true;
        read_stop(c);
    }
    if (bad) {
        s->rejects++;
        flow_log(s->is.ctx,
                 "a frame over --max-frame=%lld: closing its connection "
                 "(the frames before it are kept)",
                 (long long)s->max_frame);
        c->eof = true;
    }
    if (n > 0) {
        c->w.done = tcp_durable;
        if (ingest_src_append(&s->is, s->recs.data, s->recs.len, &c->w) < 0)
            conn_close(c);
        return;
    }
    if (c->eof)
        conn_close(c);
    else
        read_start(c);
}

static void tcp_durable(ingest_waiter *w, int status)
{
    struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, w));
    c->waiting = false;
    if (c->closing)
        return;
    if (status < 0 || !c->s) {
        conn_close(c);
        return;
    }
    if (c->eof && c->len == 0) {
        conn_close(c);
        return;
    }
    drain(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    (void)b;
    if (n < 0) {
        /* The sender is done: what was read whole is kept and made
         * durable; a partial frame at the end is dropped. */
        c->eof = true;
        read_stop(c);
        if (c->len > 0 && c->s) {
            const uint8_t *f;
            size_t flen, used;
            if (ingest_frame_next(c->s->framing, c->buf, c->len,
                                  (size_t)c->s->max_frame, &f, &flen,
                                  &used) != 1)
                c->len = 0;
        }
        if (!c->waiting)
            drain(c);
        return;
    }
    c->len += (size_t)n;
    drain(c);
}

/* Room came in the log, or a sync finished: read again from the
 * connections that were stopped for want of room. */
static void on_durable(ingest_src *is)
{
    struct tcpsrc *s =
        (struct tcpsrc *)((char *)is - offsetof(struct tcpsrc, is));
    if (ingest_src_pending(is) >= is->max_pending)
        return;
    for (struct conn *c = s->conns; c; c = c->next)
        if (!c->reading && !c->waiting && !c->closing) {
            if (c->len > 0 || c->eof)
                drain(c);
            else
                read_start(c);
        }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tcpsrc *s = server->data;
    if (status < 0 || !s)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->s = s;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
        s->nconns >= TCP_MAX_CONNS) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        s->rejects++;
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->pprev = &c->next;
    s->conns = c;
    c->pprev = &s->conns;
    s->nconns++;
    s->connections++;
    read_start(c);
}

static void server_closed(uv_handle_t *h)
{
    free(h);
}

static void fini(flow_ctx *ctx);

static int init_listen(flow_ctx *ctx)
{
    struct tcpsrc *s = flow_state(ctx);
    int rc;
    ingest_framing_of(s->decoder, &s->framing);
    flow_buf_init(&s->recs);
    flow_buf_init(&s->scratch);
    if ((rc = ingest_src_init(&s->is, ctx, "tcp", (uint64_t)s->max_pending,
                              (uint64_t)s->segment)))
        return rc;
    s->is.on_durable = on_durable;
    int port;
    bool v6;
    if ((rc = ingest_listen(ctx, s->host, s->port, on_connection, s, &s->server,
                            &port, &v6)))
        return rc;
    size_t ulen = strlen(s->host) + 32;
    s->url = malloc(ulen);
    if (!s->url)
        return -FLOW_ENOMEM;
    snprintf(s->url, ulen, "tcp://%s%s%s:%d", v6 ? "[" : "", s->host,
             v6 ? "]" : "", port);
    flow_report_url(ctx, s->url);
    flow_log(ctx, "listening on %s", s->url);
    report(s);
    return 0;
}

/* The runtime calls no fini after a failed init: undo here. */
static int init(flow_ctx *ctx)
{
    int rc = init_listen(ctx);
    if (rc)
        fini(ctx);
    return rc;
}

static int on_tick(flow_ctx *ctx)
{
    struct tcpsrc *s = flow_state(ctx);
    report(s);
    return ingest_src_tick(&s->is);
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct tcpsrc *s = flow_state(ctx);
    return ingest_src_snapshot(&s->is, out);
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct tcpsrc *s = flow_state(ctx);
    return ingest_src_restore(&s->is, data, len);
}

static void on_commit(flow_ctx *ctx, uint64_t n)
{
    struct tcpsrc *s = flow_state(ctx);
    ingest_src_commit(&s->is, n);
}

static void fini(flow_ctx *ctx)
{
    struct tcpsrc *s = flow_state(ctx);
    report(s);
    while (s->conns) {
        struct conn *c = s->conns;
        c->s = NULL;
        conn_close(c);
    }
    if (s->server) {
        s->server->data = NULL;
        uv_close((uv_handle_t *)s->server, server_closed);
        s->server = NULL;
    }
    ingest_src_fini(&s->is);
    flow_buf_fini(&s->recs);
    flow_buf_fini(&s->scratch);
    free(s->url);
}

const flow_app_desc tcp_source_app = {
    .name = "tcp",
    .role = FLOW_ROLE_SOURCE,
    .description = "Takes LF, CRLF or length-prefixed frames from outside "
                   "clients over TCP, reading on only once what was read "
                   "is durable in the source's input log.",
    .options = options,
    .state_size = sizeof(struct tcpsrc),
    .init = init,
    .on_tick = on_tick,
    .tick_us = 5000,
    .snapshot = snapshot,
    .restore = restore,
    .on_commit = on_commit,
    .fini = fini,
};
