/* flowd's HTTP/1.1 server, on flowd's libuv loop. Each connection reads
 * one request at a time: the head (httpparse.c), then a body framed by
 * Content-Length or chunked transfer coding, then the request is
 * dispatched and, once answered, written; keep-alive connections then
 * read the next one. The parsing sees the raw bytes, so every limit and
 * every bad byte is answered with a status, never a dropped connection. */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "error.h"
#include "httpparse.h"

/* Seconds a connection may sit idle, or take to send a request. */
#define IDLE_MS (30 * 1000)
/* Bytes queued for an SSE client past which its events are dropped. */
#define SSE_QUEUE_MAX (8 * 1024 * 1024)

enum {
    P_HEAD,    /* reading a request head */
    P_BODY,    /* reading a Content-Length body */
    P_CHUNKED, /* reading a chunked body */
    P_DISCARD, /* reading and dropping a body over the limit */
    P_WAIT,    /* dispatched, waiting for the answer or its writing */
    P_SSE,     /* an event stream */
    P_LINGER,  /* answered with close: reading what the client still sends */
};

/* How long a closing connection reads on, so that a client still sending
 * gets the answer rather than a reset. */
#define LINGER_MS 2000

typedef struct srv_conn srv_conn;

struct srv_http {
    uv_loop_t *loop;
    uv_tcp_t listen;
    srv_http_config cfg;
    int port;
    bool listening;
    srv_conn *conns;
    srv_req *sse_head;
    size_t sse_count;
};

struct srv_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    srv_http *h;
    srv_conn *next, **pprev;
    int handles; /* open libuv handles; freed when 0 */
    bool closing;
    bool reading;
    char *in; /* received bytes not yet consumed */
    size_t in_len, in_cap;
    int phase;
    srv_req *req; /* owned, the request being read or answered */
    uint64_t body_left;
    srv_chunked chunked;
    size_t writing; /* bytes handed to uv_write and not yet written */
    uv_shutdown_t shut;
};

typedef struct wreq {
    uv_write_t w;
    srv_conn *c;
    char *buf;    /* owned */
    size_t bytes; /* of buf and of the body written with it */
    bool last;    /* the response's end: finish the request when done */
} wreq;

static const struct {
    int code;
    const char *reason;
} reasons[] = {
    { 100, "Continue" },
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 204, "No Content" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 408, "Request Timeout" },
    { 409, "Conflict" },
    { 413, "Payload Too Large" },
    { 414, "URI Too Long" },
    { 415, "Unsupported Media Type" },
    { 417, "Expectation Failed" },
    { 422, "Unprocessable Entity" },
    { 431, "Request Header Fields Too Large" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 503, "Service Unavailable" },
    { 505, "HTTP Version Not Supported" },
    { 507, "Insufficient Storage" },
};

const char *srv_http_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            return reasons[i].reason;
    return "Error";
}

static void conn_close(srv_conn *c);
static void process(srv_conn *c);
static void on_alloc(uv_handle_t *hd, size_t want, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_timeout(uv_timer_t *t);

static void sse_unlink(srv_http *h, srv_req *r)
{
    for (srv_req **pp = &h->sse_head; *pp; pp = &(*pp)->sse_next) {
        if (*pp == r) {
            *pp = r->sse_next;
            h->sse_count--;
            return;
        }
    }
}

static void req_free(srv_req *r)
{
    if (!r)
        return;
    if (r->sse)
        sse_unlink(r->http, r);
    free(r->body);
    free(r->resp);
    free(r);
}

static int method_of(const char *m)
{
    static const struct {
        const char *name;
        int method;
    } methods[] = {
        { "GET", SRV_GET },   { "POST", SRV_POST },
        { "PUT", SRV_PUT },   { "DELETE", SRV_DELETE },
        { "HEAD", SRV_HEAD }, { "OPTIONS", SRV_OPTIONS },
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(m, methods[i].name) == 0)
            return methods[i].method;
    return 0;
}

const char *srv_req_arg(const srv_req *r, const char *name)
{
    size_t nlen = strlen(name);

    for (size_t off = 0; off < r->query_len;) {
        const char *kv = r->query + off;
        size_t len = strlen(kv);
        if (strncmp(kv, name, nlen) == 0 && kv[nlen] == '=')
            return kv + nlen + 1;
        if (strcmp(kv, name) == 0)
            return "";
        off += len + 1;
    }
    return NULL;
}

void srv_req_header(srv_req *r, const char *name, const char *value)
{
    if (r->nextra >= 3)
        return;
    snprintf(r->extra_headers[r->nextra][0], 256, "%s", name);
    snprintf(r->extra_headers[r->nextra][1], 256, "%s", value);
    r->nextra++;
}

/* ---- writing ---- */

static void on_shutdown(uv_shutdown_t *sh, int status)
{
    (void)sh;
    (void)status;
}

/* Ends a connection whose last answer is written: sends FIN, then drops
 * what the client still sends until it closes or LINGER_MS pass. */
static void linger(srv_conn *c)
{
    c->phase = P_LINGER;
    c->in_len = 0;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown)) {
        conn_close(c);
        return;
    }
    if (!c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
            conn_close(c);
            return;
        }
        c->reading = true;
    }
    uv_timer_start(&c->timer, on_timeout, LINGER_MS, 0);
}

static void on_written(uv_write_t *w, int status)
{
    wreq *wr = (wreq *)w;
    srv_conn *c = wr->c;

    c->writing -= wr->bytes;
    bool last = wr->last;
    free(wr->buf);
    free(wr);
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (!last)
        return;
    srv_req *r = c->req;
    if (!r || r->sse)
        return;
    bool close_after = r->close_after;
    req_free(r);
    c->req = NULL;
    if (close_after) {
        linger(c);
        return;
    }
    c->phase = P_HEAD;
    uv_timer_again(&c->timer);
    if (!c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
            conn_close(c);
            return;
        }
        c->reading = true;
    }
    process(c);
}

/* Queues head (owned) and then body (borrowed, len bytes; it must live
 * until the write completes). */
static int conn_write(srv_conn *c, char *head, size_t hlen, const char *body,
                      size_t blen, bool last)
{
    wreq *wr = calloc(1, sizeof *wr);
    uv_buf_t bufs[2];
    unsigned n = 0;

    if (!wr) {
        free(head);
        return -ENOMEM;
    }
    wr->c = c;
    wr->buf = head;
    wr->bytes = hlen + blen;
    wr->last = last;
    if (hlen)
        bufs[n++] = uv_buf_init(head, (unsigned)hlen);
    if (blen)
        bufs[n++] = uv_buf_init((char *)body, (unsigned)blen);
    c->writing += wr->bytes;
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, n, on_written);
    if (rc) {
        c->writing -= wr->bytes;
        free(head);
        free(wr);
    }
    return rc;
}

/* Appends to the response head; false when it would not fit. */
static bool head_add(char *head, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool head_add(char *head, size_t size, size_t *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int k = vsnprintf(head + *n, size - *n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= size - *n)
        return false;
    *n += (size_t)k;
    return true;
}

static void send_response(srv_req *r)
{
    /* The status line, four fields and three extra ones of at most 255
     * bytes each always fit. */
    enum { HEAD_SIZE = 4096 };
    srv_conn *c = r->conn;
    char *head = malloc(HEAD_SIZE);
    size_t n = 0;
    bool ok;

    if (!head) {
        conn_close(c);
        return;
    }
    bool empty = r->status == 204 || r->status == 304;
    ok = head_add(head, HEAD_SIZE, &n, "HTTP/1.1 %d %s\r\nserver: flowd\r\n",
                  r->status, srv_http_reason(r->status));
    if (ok && !empty)
        ok = head_add(head, HEAD_SIZE, &n,
                      "content-type: %s\r\ncontent-length: %zu\r\n",
                      r->resp_type, r->resp_len);
    for (int i = 0; ok && i < r->nextra; i++)
        ok = head_add(head, HEAD_SIZE, &n, "%s: %s\r\n", r->extra_headers[i][0],
                      r->extra_headers[i][1]);
    if (ok && r->close_after)
        ok = head_add(head, HEAD_SIZE, &n, "connection: close\r\n");
    if (ok)
        ok = head_add(head, HEAD_SIZE, &n, "\r\n");
    if (!ok) {
        free(head);
        conn_close(c);
        return;
    }
    r->headers_sent = true;
    size_t blen = r->method == SRV_HEAD || empty ? 0 : r->resp_len;
    if (conn_write(c, head, n, r->resp, blen, true))
        conn_close(c);
}

static void respond(srv_req *r, int status, const char *type, char *data,
                    size_t len)
{
    if (r->ready) {
        free(data);
        return;
    }
    r->status = status;
    free(r->resp);
    r->resp = data;
    r->resp_len = len;
    snprintf(r->resp_type, sizeof r->resp_type, "%s", type);
    r->ready = true;
    if (!r->conn) {
        req_free(r); /* the client went away while it was deferred */
        return;
    }
    if (r->conn->closing)
        return; /* freed when the connection is */
    send_response(r);
}

void srv_req_raw(srv_req *r, int status, const char *type, char *data,
                 size_t len)
{
    respond(r, status, type, data, len);
}

void srv_req_json(srv_req *r, int status, json_t *body)
{
    char *text = NULL;
    size_t len = 0;

    if (!body && status != 204) {
        srv_req_error(r, -SRV_EINTERNAL, NULL,
                      "internal error: the response could not be "
                      "built");
        return;
    }
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(body);
        if (!text) {
            srv_req_error(r, -SRV_ENOMEM, NULL,
                          "out of memory encoding the response");
            return;
        }
        len = strlen(text);
    }
    respond(r, status, "application/json; charset=utf-8", text, len);
}

void srv_req_error(srv_req *r, int err, json_t *extra, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    /* The one place a code becomes an HTTP status. */
    int status = srv_errstatus(err);

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:i,s:s,s:s,s:s}", "status", status, "error",
                          srv_http_reason(status), "code", srv_errname(err),
                          "message", msg);
    if (!o) {
        /* The message is not UTF-8 (it quotes the request): say so in
         * ASCII rather than fail to answer. */
        o = json_pack("{s:i,s:s,s:s,s:s}", "status", status, "error",
                      srv_http_reason(status), "code", srv_errname(err),
                      "message",
                      "the request was refused; its text is not UTF-8");
    }
    if (o && extra)
        json_object_update(o, extra);
    json_decref(extra);
    if (status == 401)
        srv_req_header(r, "WWW-Authenticate", "Bearer");
    srv_req_json(r, status, o);
}

void srv_req_defer(srv_req *r)
{
    r->deferred = true;
}

void srv_req_sse_start(srv_req *r)
{
    srv_http *h = r->http;
    srv_conn *c = r->conn;

    r->sse = true;
    r->status = 200;
    snprintf(r->resp_type, sizeof r->resp_type, "text/event-stream");
    r->ready = true;
    r->sse_next = h->sse_head;
    h->sse_head = r;
    h->sse_count++;
    if (!c || c->closing)
        return;
    c->phase = P_SSE;
    uv_timer_stop(&c->timer);
    char *head = malloc(256);
    if (!head) {
        conn_close(c);
        return;
    }
    int n = snprintf(head, 256,
                     "HTTP/1.1 200 OK\r\nserver: flowd\r\ncontent-type: "
                     "text/event-stream\r\ncache-control: no-cache\r\n"
                     "connection: close\r\n\r\n");
    r->headers_sent = true;
    if (conn_write(c, head, (size_t)n, NULL, 0, false))
        conn_close(c);
}

void srv_req_sse_send(srv_req *r, const char *event, const char *data)
{
    srv_conn *c = r->conn;

    /* A client that does not read is cut off rather than buffered
     * without bound. */
    if (!c || c->closing || c->writing > SSE_QUEUE_MAX)
        return;
    size_t cap = strlen(event) + strlen(data) + 32;
    char *buf = malloc(cap);
    if (!buf)
        return;
    int n = event[0] == ':'
                ? snprintf(buf, cap, "%s\n\n", event)
                : snprintf(buf, cap, "event: %s\ndata: %s\n\n", event, data);
    if (conn_write(c, buf, (size_t)n, NULL, 0, false))
        conn_close(c);
}

void srv_http_sse_broadcast(srv_http *h, const char *event, const char *data)
{
    for (srv_req *r = h->sse_head; r; r = r->sse_next)
        srv_req_sse_send(r, event, data);
}

size_t srv_http_sse_clients(const srv_http *h)
{
    return h->sse_count;
}

/* ---- reading ---- */

/* Answers a request that could not be read whole, and closes after. */
static void refuse(srv_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(srv_conn *c, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!c->req) {
        c->req = calloc(1, sizeof *c->req);
        if (!c->req) {
            conn_close(c);
            return;
        }
        c->req->http = c->h;
        c->req->conn = c;
        c->req->method = SRV_GET;
        snprintf(c->req->path, sizeof c->req->path, "/");
    }
    c->phase = P_WAIT;
    c->req->close_after = true;
    srv_req_error(c->req, err, NULL, "%s", msg);
}

/* Refuses a request head srv_http_parse_head could not accept, with the
 * code it gave. */
static void head_refused(srv_conn *c, int err)
{
    switch (err) {
    case -SRV_EHEAD:
        refuse(c, -SRV_EHEAD,
               "a header field is over %d bytes or the request head over "
               "%d bytes",
               SRV_FIELD_MAX, SRV_HEAD_MAX);
        break;
    case -SRV_ETARGET:
        refuse(c, -SRV_ETARGET, "the request target is over %d bytes",
               SRV_TARGET_MAX);
        break;
    case -SRV_ENOTIMPL:
        refuse(c, -SRV_ENOTIMPL,
               "only the chunked transfer coding is understood");
        break;
    case -SRV_EVERSION:
        refuse(c, -SRV_EVERSION, "only HTTP/1.0 and HTTP/1.1 are spoken here");
        break;
    case -SRV_EEXPECT:
        refuse(c, -SRV_EEXPECT, "only Expect: 100-continue is understood");
        break;
    default:
        refuse(c, -SRV_EINVAL, "the request head is malformed");
        break;
    }
}

static void consume(srv_conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void dispatch(srv_conn *c)
{
    srv_req *r = c->req;

    c->phase = P_WAIT;
    if (r->method == 0) {
        srv_req_error(r, -SRV_EMETHOD, NULL, "unsupported HTTP method");
        return;
    }
    c->h->cfg.dispatch(c->h->cfg.ud, r);
}

static bool static_prefix(const char *t, size_t n)
{
    return (n >= 11 && memcmp(t, "/dashboard/", 11) == 0) ||
           (n >= 14 && memcmp(t, "/vendor/uplot/", 14) == 0);
}

/* A head was parsed: sets up the request and how its body is framed. */
static void start_request(srv_conn *c, const srv_http_head *hd)
{
    srv_req *r = calloc(1, sizeof *r);

    if (!r) {
        conn_close(c);
        return;
    }
    c->req = r;
    r->http = c->h;
    r->conn = c;
    r->method = method_of(hd->method);
    r->close_after = !hd->keep_alive;
    snprintf(r->content_type, sizeof r->content_type, "%s", hd->content_type);
    snprintf(r->authorization, sizeof r->authorization, "%s",
             hd->authorization);
    int trc = srv_http_decode_target(hd->target, hd->target_len, r->path,
                                     sizeof r->path, r->query, sizeof r->query,
                                     &r->query_len);
    if (trc != SRV_TARGET_OK)
        snprintf(r->path, sizeof r->path, "/");
    switch (trc) {
    case SRV_TARGET_OK:
        break;
    case SRV_TARGET_LONG:
        refuse(c, -SRV_ETARGET,
               "the request target is over the limit: a path of %zu or a "
               "query of %zu bytes, decoded",
               sizeof r->path - 1, sizeof r->query - 1);
        return;
    case SRV_TARGET_NUL:
        if (static_prefix(hd->target, hd->target_len)) {
            refuse(c, -SRV_ENOTFOUND, "no such file: a path cannot hold %%00");
            return;
        }
        refuse(c, -SRV_EINVAL, "the path holds %%00, which no name can hold");
        return;
    case SRV_TARGET_UTF8:
        refuse(c, -SRV_EINVAL, "the path is not UTF-8 once %%-decoded");
        return;
    case SRV_TARGET_QUERY_NUL:
        refuse(c, -SRV_EINVAL,
               "a query parameter holds %%00 or a bad %%-escape; send "
               "%%XX with two hex digits and no NUL");
        return;
    case SRV_TARGET_QUERY_UTF8:
        refuse(c, -SRV_EINVAL, "a query parameter is not UTF-8 once decoded");
        return;
    default:
        refuse(c, -SRV_EINVAL,
               "the request target must be a path starting with '/' "
               "with valid %%-escapes");
        return;
    }

    bool body = hd->chunked || (hd->has_length && hd->content_length > 0);
    if (hd->has_length && hd->content_length > 2 * (uint64_t)SRV_BODY_MAX) {
        refuse(c, -SRV_ETOOLARGE,
               "the request body is over the limit of %d bytes", SRV_BODY_MAX);
        return;
    }
    if (body && hd->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        char *b = strdup(cont);
        if (!b || conn_write(c, b, sizeof cont - 1, NULL, 0, false)) {
            conn_close(c);
            return;
        }
    }
    if (hd->chunked) {
        r->body = malloc(SRV_BODY_MAX + 1);
        if (!r->body) {
            conn_close(c);
            return;
        }
        srv_chunked_init(&c->chunked, SRV_BODY_MAX);
        c->phase = P_CHUNKED;
    } else if (body && hd->content_length > SRV_BODY_MAX) {
        /* Read and drop a body somewhat over the limit, so that the
         * client, still sending, gets the 413 and not a reset. */
        c->body_left = hd->content_length;
        c->phase = P_DISCARD;
    } else if (body) {
        r->body = malloc((size_t)hd->content_length + 1);
        if (!r->body) {
            conn_close(c);
            return;
        }
        r->body_cap = (size_t)hd->content_length + 1;
        c->body_left = hd->content_length;
        c->phase = P_BODY;
    } else {
        dispatch(c);
    }
}

static void process(srv_conn *c)
{
    while (!c->closing) {
        switch (c->phase) {
        case P_HEAD: {
            if (c->in_len == 0)
                return;
            srv_http_head hd;
            long n = srv_http_parse_head(c->in, c->in_len, &hd);
            if (n == 0)
                return;
            if (n < 0) {
                head_refused(c, (int)n);
                return;
            }
            start_request(c, &hd);
            consume(c, (size_t)n);
            break;
        }
        case P_BODY: {
            if (c->in_len == 0)
                return;
            srv_req *r = c->req;
            size_t n =
                c->in_len < c->body_left ? c->in_len : (size_t)c->body_left;
            memcpy(r->body + r->body_len, c->in, n);
            r->body_len += n;
            r->body[r->body_len] = '\0';
            c->body_left -= n;
            consume(c, n);
            if (c->body_left == 0)
                dispatch(c);
            break;
        }
        case P_DISCARD: {
            if (c->in_len == 0)
                return;
            size_t n =
                c->in_len < c->body_left ? c->in_len : (size_t)c->body_left;
            c->body_left -= n;
            consume(c, n);
            if (c->body_left == 0) {
                refuse(c, -SRV_ETOOLARGE,
                       "the request body is over the limit of %d bytes",
                       SRV_BODY_MAX);
                return;
            }
            break;
        }
        case P_CHUNKED: {
            if (c->in_len == 0)
                return;
            srv_req *r = c->req;
            size_t used = 0;
            int rc =
                srv_chunked_feed(&c->chunked, c->in, c->in_len, r->body, &used);
            consume(c, used);
            r->body_len = c->chunked.total;
            r->body[r->body_len] = '\0';
            if (rc == SRV_CHUNKED_DONE) {
                dispatch(c);
            } else if (rc == SRV_CHUNKED_BAD) {
                refuse(c, -SRV_EINVAL,
                       "the chunked request body is malformed after %zu "
                       "decoded bytes",
                       c->chunked.total);
                return;
            } else if (rc == SRV_CHUNKED_TOO_LARGE) {
                refuse(c, -SRV_ETOOLARGE,
                       "the request body is over the limit of %d bytes",
                       SRV_BODY_MAX);
                return;
            }
            break;
        }
        default:
            return; /* P_WAIT, P_SSE: the rest waits for the answer */
        }
    }
}

static void on_alloc(uv_handle_t *hd, size_t want, uv_buf_t *buf)
{
    static char slab[64 * 1024];

    (void)hd;
    (void)want;
    *buf = uv_buf_init(slab, sizeof slab);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    srv_conn *c = s->data;

    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->phase == P_SSE || c->phase == P_LINGER)
        return;
    size_t need = c->in_len + (size_t)nread;
    if (need > c->in_cap) {
        size_t cap = need < 16 * 1024 ? 16 * 1024 : need * 2;
        char *nb = realloc(c->in, cap);
        if (!nb) {
            conn_close(c);
            return;
        }
        c->in = nb;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, buf->base, (size_t)nread);
    c->in_len += (size_t)nread;
    if (c->phase != P_WAIT)
        uv_timer_again(&c->timer);
    /* Bytes sent ahead of an answer wait, up to a head's worth. */
    if (c->phase == P_WAIT && c->in_len > SRV_HEAD_MAX && c->reading) {
        uv_read_stop(s);
        c->reading = false;
    }
    process(c);
}

static void on_timeout(uv_timer_t *t)
{
    srv_conn *c = t->data;

    if (c->phase == P_HEAD || c->phase == P_BODY || c->phase == P_CHUNKED ||
        c->phase == P_DISCARD || c->phase == P_LINGER)
        conn_close(c);
}

static void on_conn_closed(uv_handle_t *hd)
{
    srv_conn *c = hd->data;

    if (--c->handles > 0)
        return;
    srv_req *r = c->req;
    if (r) {
        if (r->deferred && !r->ready)
            r->conn = NULL; /* freed when answered */
        else
            req_free(r);
    }
    free(c->in);
    free(c);
}

static void conn_close(srv_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->next)
        c->next->pprev = c->pprev;
    *c->pprev = c->next;
    if (c->req && c->req->sse) {
        sse_unlink(c->h, c->req);
        c->req->sse = false;
    }
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    srv_http *h = server->data;

    if (status < 0)
        return;
    srv_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->h = h;
    uv_tcp_init(h->loop, &c->tcp);
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->next = h->conns;
    if (h->conns)
        h->conns->pprev = &c->next;
    c->pprev = &h->conns;
    h->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
        conn_close(c);
        return;
    }
    c->reading = true;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, on_timeout, IDLE_MS, IDLE_MS);
}

int srv_http_new(srv_http **out, uv_loop_t *loop, const srv_http_config *cfg)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_PASSIVE };
    struct addrinfo *ai = NULL;
    char ps[16];
    srv_http *h;
    int rc;

    *out = NULL;
    snprintf(ps, sizeof ps, "%d", cfg->port);
    if (getaddrinfo(cfg->bind ? cfg->bind : "127.0.0.1", ps, &hints, &ai) ||
        !ai)
        return -EADDRNOTAVAIL;
    h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        return -ENOMEM;
    }
    h->loop = loop;
    h->cfg = *cfg;
    uv_tcp_init(loop, &h->listen);
    h->listen.data = h;
    rc = uv_tcp_bind(&h->listen, ai->ai_addr, 0);
    freeaddrinfo(ai);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&h->listen, 128, on_connection);
    if (rc) {
        /* flowd exits on this error: h stays with the closing handle. */
        uv_close((uv_handle_t *)&h->listen, NULL);
        return rc;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getsockname(&h->listen, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&ss)->sin6_port
                            : ((struct sockaddr_in *)&ss)->sin_port);
    h->listening = true;
    *out = h;
    return 0;
}

void srv_http_close(srv_http *h)
{
    if (!h || !h->listening)
        return;
    h->listening = false;
    uv_close((uv_handle_t *)&h->listen, NULL);
    while (h->conns)
        conn_close(h->conns);
}

void srv_http_free(srv_http **hp)
{
    srv_http *h = *hp;

    if (!h)
        return;
    *hp = NULL;
    free(h);
}

int srv_http_port(const srv_http *h)
{
    return h->port;
}
