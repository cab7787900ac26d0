/*
 * http - takes events from outside clients by HTTP POST (SCDF's http
 * source). Every accepted body is appended to the source's input log and
 * made durable (group commit) before the 202 answer; the events are then
 * emitted from the log, which is the source's replay position under a
 * guarantee (docs/apps.md "http").
 */
#include "apps.h"
#include "fieldpath.h"
#include "ingest_decode.h"
#include "ingest_http.h"
#include "ingest_src.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Connections served at once; one more is answered 503 and closed. */
#define HTTP_MAX_CONNS 256

struct conn;

struct httpsrc {
    int64_t port;          /* --port (0: any free one) */
    const char *host;      /* --host */
    const char *path;      /* --path-pattern */
    const char *key_field; /* --key-field */
    int64_t max_body;      /* --max-body, bytes */
    int64_t max_pending;   /* --max-pending, bytes */
    int64_t segment;       /* --segment-size, bytes */
    const char *token;     /* --token */
    ingest_src is;
    uv_tcp_t *server; /* heap: its close may finish after fini */
    struct conn *conns;
    unsigned nconns;
    flow_buf recs; /* the records of the request being decoded */
    flow_buf scratch;
    uint32_t nrecs;
    char *url;
    uint64_t requests, events, rejects;
};

struct conn {
    uv_tcp_t tcp;
    struct httpsrc *s; /* NULL once the source is gone */
    struct conn *next, **pprev;
    char *buf;
    size_t len, cap;
    long head_len; /* > 0: the head is parsed */
    ingest_head h;
    bool reading, closing, close_after;
    ingest_waiter w;
    uint32_t nevents;
    uv_write_t wr, cont_wr;
    bool continued; /* 100 Continue sent for this request */
    char resp[512];
};

static const flow_option options[] = {
    { .name = "port",
      .type = FLOW_OPT_INT,
      .def = "0",
      .min = "0",
      .max = "65535",
      FLOW_OPT_FIELD(struct httpsrc, port),
      .description = "The TCP port to listen on; 0 takes a free one, "
                     "reported as the instance's url." },
    { .name = "host",
      .type = FLOW_OPT_STRING,
      .def = "127.0.0.1",
      FLOW_OPT_FIELD(struct httpsrc, host),
      .description = "The address to listen on (0.0.0.0: every "
                     "interface)." },
    { .name = "path-pattern",
      .type = FLOW_OPT_STRING,
      .def = "/",
      FLOW_OPT_FIELD(struct httpsrc, path),
      .description = "The path POSTs are taken at (exact match); other "
                     "paths are answered 404." },
    { .name = "key-field",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct httpsrc, key_field),
      .description = "A payload field (dotted path) whose value becomes "
                     "the event's key; unset: no key." },
    { .name = "max-body",
      .type = FLOW_OPT_INT,
      .def = "1048576",
      .min = "1",
      .max = "16777216",
      FLOW_OPT_FIELD(struct httpsrc, max_body),
      .description = "The largest request body in bytes; larger ones are "
                     "answered 413." },
    { .name = "max-pending",
      .type = FLOW_OPT_INT,
      .def = "67108864",
      .min = "1",
      FLOW_OPT_FIELD(struct httpsrc, max_pending),
      .description = "Bytes of the input log accepted but not yet emitted "
                     "downstream; past it requests are answered 429." },
    { .name = "segment-size",
      .type = FLOW_OPT_INT,
      .def = "67108864",
      .min = "4096",
      FLOW_OPT_FIELD(struct httpsrc, segment),
      .description = "The size of one input log segment file in bytes "
                     "(the unit the log is trimmed by)." },
    { .name = "token",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct httpsrc, token),
      .description = "A bearer token every request must carry "
                     "(Authorization: Bearer ...); unset: none." },
    { .name = NULL },
};

static void report(struct httpsrc *s)
{
    flow_report_figure(s->is.ctx, "requests", s->requests);
    flow_report_figure(s->is.ctx, "events", s->events);
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

static void process(struct conn *c);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = h->data;
    (void)hint;
    size_t limit = INGEST_HEAD_MAX + (c->s ? (size_t)c->s->max_body : 0) + 1;
    size_t want = c->len + 65536;
    if (want > limit)
        want = limit;
    if (want > c->cap) {
        char *nb = realloc(c->buf, want);
        if (nb) {
            c->buf = nb;
            c->cap = want;
        }
    }
    b->base = c->buf + c->len;
    b->len = c->cap > c->len ? c->cap - c->len : 0;
}

static void read_start(struct conn *c)
{
    if (!c->reading && !c->closing) {
        c->reading =
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    }
}

static void read_stop(struct conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void on_written(uv_write_t *wr, int status)
{
    struct conn *c = wr->data;
    if (status < 0 || c->close_after || !c->s) {
        conn_close(c);
        return;
    }
    /* Keep-alive: drop the request answered, go on with the bytes
     * after it. */
    size_t used = (size_t)c->head_len + (size_t)c->h.content_length;
    if (used > c->len)
        used = c->len;
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    c->head_len = 0;
    c->continued = false;
    read_start(c);
    process(c);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* Answers with a JSON body; a status other than 202 counts a reject.
 * extra: more header lines (each ending CRLF), or "". */
static void respond(struct conn *c, int status, const char *extra,
                    const char *body)
{
    char head[256];
    size_t blen = strlen(body);
    if (status != 202 && c->s)
        c->s->rejects++;
    if (!c->h.keep_alive)
        c->close_after = true;
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n%s%s\r\n",
             status, reason_of(status), blen, extra,
             c->close_after ? "Connection: close\r\n" : "");
    int n = snprintf(c->resp, sizeof(c->resp), "%s%s", head, body);
    if (n < 0 || (size_t)n >= sizeof(c->resp))
        n = snprintf(c->resp, sizeof(c->resp),
                     "HTTP/1.1 500 Internal Server Error\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
    read_stop(c);
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)n);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        conn_close(c);
}

static void respond_error(struct conn *c, int status, const char *why)
{
    char body[256];
    /* why is our own text: no quotes or backslashes in it. */
    snprintf(body, sizeof(body), "{\"error\": \"%s\"}", why);
    respond(c, status,
            status == 429 || status == 503 ? "Retry-After: 1\r\n" : "", body);
}

static void durable(ingest_waiter *w, int status)
{
    struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, w));
    if (c->closing)
        return;
    if (status == -FLOW_ETERM || !c->s) {
        conn_close(c);
        return;
    }
    if (status < 0) {
        respond_error(c, 503, "the input log cannot be written");
        return;
    }
    char body[64];
    snprintf(body, sizeof(body), "{\"accepted\": %u}", c->nevents);
    respond(c, 202, "", body);
}

/* One decoded event: its record goes to the batch. */
static int add_event(void *arg, const void *payload, size_t len)
{
    struct httpsrc *s = arg;
    const char *key = NULL;
    size_t klen = 0;
    char kbuf[64];
    if (s->key_field) {
        flow_mp_value v;
        if (fieldpath_find(payload, len, s->key_field, &v) == 0) {
            int n = fieldpath_text(&v, kbuf, sizeof(kbuf), &key);
            if (n < 0)
                key = NULL;
            else
                klen = (size_t)n;
        }
    }
    ingest_log_put(&s->recs, key, klen, payload, len);
    s->nrecs++;
    return s->recs.err;
}

static bool token_ok(struct httpsrc *s, const ingest_head *h)
{
    if (!s->token)
        return true;
    const char *a = h->authorization;
    if (strncasecmp(a, "Bearer ", 7) != 0)
        return false;
    a += 7;
    size_t n = strlen(a), t = strlen(s->token);
    /* The same time whatever the bytes. */
    unsigned char diff = n != t;
    for (size_t i = 0; i < n && i < t; i++)
        diff |= (unsigned char)(a[i] ^ s->token[i]);
    return diff == 0;
}

static void handle_body(struct conn *c)
{
    struct httpsrc *s = c->s;
    ingest_body kind;
    ingest_error err = { 0 };
    const char *body = c->buf + c->head_len;
    size_t blen = (size_t)c->h.content_length;
    if (ingest_body_of(c->h.content_type, strlen(c->h.content_type), &kind)) {
        respond_error(
            c, 415,
            "Content-Type must be application/json, "
            "application/x-ndjson, text/plain or application/msgpack");
        return;
    }
    if (ingest_src_pending(&s->is) >= s->is.max_pending) {
        respond_error(c, 429, "the stream is behind: retry later");
        return;
    }
    flow_buf_reset(&s->recs);
    s->nrecs = 0;
    int rc = ingest_decode(kind, body, blen, &s->scratch, add_event, s, &err);
    if (rc == -FLOW_EMALFORMED) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "{\"error\": \"malformed body: %s\", \"line\": %u, "
                 "\"column\": %u}",
                 err.what, err.line, err.column);
        respond(c, 400, "", msg);
        return;
    }
    if (rc) {
        respond_error(c, rc == -FLOW_ETOOBIG ? 413 : 503,
                      rc == -FLOW_ETOOBIG ? "an event is too large"
                                          : "out of memory");
        return;
    }
    if (ingest_src_pending(&s->is) + s->recs.len > s->is.max_pending &&
        ingest_src_pending(&s->is) > 0) {
        respond_error(c, 429, "the stream is behind: retry later");
        return;
    }
    c->nevents = s->nrecs;
    s->events += s->nrecs;
    read_stop(c);
    c->w.done = durable;
    if (ingest_src_append(&s->is, s->recs.data, s->recs.len, &c->w) < 0)
        respond_error(c, 503, "the input log cannot be written");
}

static void on_continued(uv_write_t *wr, int status)
{
    struct conn *c = wr->data;
    if (status < 0)
        conn_close(c);
}

static void process(struct conn *c)
{
    struct httpsrc *s = c->s;
    if (!s || c->closing)
        return;
    if (c->head_len == 0) {
        long r = ingest_http_head(c->buf, c->len, &c->h);
        if (r == 0)
            return;
        s->requests++;
        if (r < 0) {
            c->h.keep_alive = false;
            respond_error(c, (int)-r, "malformed request head");
            return;
        }
        c->head_len = r;
        ingest_head *h = &c->h;
        if (strcmp(h->path, s->path) != 0) {
            c->close_after = true;
            respond_error(c, 404, "no such path");
            return;
        }
        if (strcmp(h->method, "POST") != 0) {
            c->close_after = true;
            respond_error(c, 405, "only POST is taken here");
            return;
        }
        if (!token_ok(s, h)) {
            c->close_after = true;
            respond(c, 401, "WWW-Authenticate: Bearer\r\n",
                    "{\"error\": \"a valid bearer token is required\"}");
            return;
        }
        if (h->chunked || !h->has_length) {
            c->close_after = true;
            respond_error(c, 411, "send the body with a Content-Length");
            return;
        }
        if (h->content_length > (uint64_t)s->max_body) {
            c->close_after = true;
            respond_error(c, 413, "the body is over --max-body");
            return;
        }
    }
    if (c->len - (size_t)c->head_len < c->h.content_length) {
        /* A client that waits for leave to send its body (curl does for
         * bodies over 1 KiB) gets it now that the head is acceptable. */
        if (c->h.expect_continue && !c->continued) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            /* libuv only reads the buffer. */
            uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
            c->continued = true;
            c->cont_wr.data = c;
            if (uv_write(&c->cont_wr, (uv_stream_t *)&c->tcp, &b, 1,
                         on_continued) < 0)
                conn_close(c);
        }
        return;
    }
    handle_body(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    (void)b;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    if (n > 0)
        process(c);
    if (!c->closing && c->reading && c->len == c->cap &&
        c->cap >= INGEST_HEAD_MAX + (size_t)(c->s ? c->s->max_body : 0) + 1)
        conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct httpsrc *s = server->data;
    if (status < 0 || !s)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->s = s;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->pprev = &c->next;
    s->conns = c;
    c->pprev = &s->conns;
    s->nconns++;
    if (s->nconns > HTTP_MAX_CONNS) {
        c->h.keep_alive = false;
        respond_error(c, 503, "too many connections");
        return;
    }
    read_start(c);
}

static void server_closed(uv_handle_t *h)
{
    free(h);
}

static void fini(flow_ctx *ctx);

static int init_listen(flow_ctx *ctx)
{
    struct httpsrc *s = flow_state(ctx);
    char addr[64];
    int rc;
    if (s->path[0] != '/') {
        flow_log(ctx, "--path-pattern='%s': must start with '/'", s->path);
        return -FLOW_EOPTION;
    }
    if (s->token && !*s->token) {
        flow_log(ctx, "--token: must not be empty");
        return -FLOW_EOPTION;
    }
    flow_buf_init(&s->recs);
    flow_buf_init(&s->scratch);
    if ((rc = ingest_src_init(&s->is, ctx, "http", (uint64_t)s->max_pending,
                              (uint64_t)s->segment)))
        return rc;
    int port;
    bool v6;
    if ((rc = ingest_listen(ctx, s->host, s->port, on_connection, s, &s->server,
                            &port, &v6)))
        return rc;
    snprintf(addr, sizeof(addr), "%s%s%s", v6 ? "[" : "", s->host,
             v6 ? "]" : "");
    size_t ulen = strlen(addr) + strlen(s->path) + 32;
    s->url = malloc(ulen);
    if (!s->url)
        return -FLOW_ENOMEM;
    snprintf(s->url, ulen, "http://%s:%d%s", addr, port, s->path);
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
    struct httpsrc *s = flow_state(ctx);
    report(s);
    return ingest_src_tick(&s->is);
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct httpsrc *s = flow_state(ctx);
    return ingest_src_snapshot(&s->is, out);
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct httpsrc *s = flow_state(ctx);
    return ingest_src_restore(&s->is, data, len);
}

static void on_commit(flow_ctx *ctx, uint64_t n)
{
    struct httpsrc *s = flow_state(ctx);
    ingest_src_commit(&s->is, n);
}

static void fini(flow_ctx *ctx)
{
    struct httpsrc *s = flow_state(ctx);
    report(s);
    /* The handles close on the loop after fini, when the state is gone:
     * they are heap objects that no longer point at it. */
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

const flow_app_desc http_app = {
    .name = "http",
    .role = FLOW_ROLE_SOURCE,
    .description = "Takes events POSTed by outside clients (JSON, NDJSON, "
                   "text or msgpack bodies), answering 202 once they are "
                   "durable in the source's input log.",
    .options = options,
    .state_size = sizeof(struct httpsrc),
    .init = init,
    .on_tick = on_tick,
    .tick_us = 5000,
    .snapshot = snapshot,
    .restore = restore,
    .on_commit = on_commit,
    .fini = fini,
};
