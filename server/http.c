/* flowd's HTTP layer on libwebsockets, running on flowd's libuv loop (a
 * foreign loop for lws: no thread of its own). Each HTTP transaction gets
 * one srv_req; the response is written in chunks when the socket is
 * writable. */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_CHUNK (32 * 1024)

struct srv_http {
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    uv_loop_t *loop;
    void *foreign[1];
    srv_http_config cfg;
    char bind[64];
    int port;
    srv_req *sse_head;
    size_t sse_count;
};

struct pss {
    srv_req *req;
};

static const struct {
    int code;
    const char *reason;
} reasons[] = {
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 204, "No Content" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 409, "Conflict" },
    { 413, "Payload Too Large" },
    { 415, "Unsupported Media Type" },
    { 422, "Unprocessable Entity" },
    { 500, "Internal Server Error" },
    { 503, "Service Unavailable" },
};

const char *srv_http_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            return reasons[i].reason;
    return "Error";
}

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
    free(r->sse_buf);
    free(r);
}

static int method_of(struct lws *wsi)
{
    char *uri;
    int len;

    switch (lws_http_get_uri_and_method(wsi, &uri, &len)) {
    case LWSHUMETH_GET:
        return SRV_GET;
    case LWSHUMETH_POST:
        return SRV_POST;
    case LWSHUMETH_PUT:
        return SRV_PUT;
    case LWSHUMETH_DELETE:
        return SRV_DELETE;
    case LWSHUMETH_HEAD:
        return SRV_HEAD;
    case LWSHUMETH_OPTIONS:
        return SRV_OPTIONS;
    default:
        return 0;
    }
}

static void copy_header(struct lws *wsi, enum lws_token_indexes tok, char *buf,
                        size_t len)
{
    buf[0] = '\0';
    if (lws_hdr_total_length(wsi, tok) <= 0)
        return;
    if (lws_hdr_copy(wsi, buf, (int)len, tok) < 0)
        buf[0] = '\0';
}

static void read_args(srv_req *r, struct lws *wsi)
{
    char frag[1024];
    int n = 0;

    r->query_len = 0;
    for (;;) {
        int len = lws_hdr_copy_fragment(wsi, frag, sizeof frag,
                                        WSI_TOKEN_HTTP_URI_ARGS, n++);
        if (len <= 0)
            break;
        if (r->query_len + (size_t)len + 1 >= sizeof r->query)
            break;
        memcpy(r->query + r->query_len, frag, (size_t)len + 1);
        r->query_len += (size_t)len + 1;
    }
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
    snprintf(r->extra_headers[r->nextra][0], 256, "%s:", name);
    snprintf(r->extra_headers[r->nextra][1], 256, "%s", value);
    r->nextra++;
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
    r->resp_off = 0;
    snprintf(r->resp_type, sizeof r->resp_type, "%s", type);
    r->ready = true;
    if (!r->wsi) {
        req_free(r);
        return;
    }
    lws_callback_on_writable(r->wsi);
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
        srv_req_error(r, 500, NULL,
                      "internal error: the response could not be "
                      "built");
        return;
    }
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(body);
        if (!text) {
            srv_req_error(r, 500, NULL, "out of memory encoding the response");
            return;
        }
        len = strlen(text);
    }
    respond(r, status, "application/json; charset=utf-8", text, len);
}

void srv_req_error(srv_req *r, int status, json_t *extra, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:i,s:s,s:s}", "status", status, "error",
                          srv_http_reason(status), "message", msg);
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
    if (r->wsi)
        lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0);
}

void srv_req_sse_start(srv_req *r)
{
    srv_http *h = r->http;

    r->sse = true;
    r->status = 200;
    snprintf(r->resp_type, sizeof r->resp_type, "text/event-stream");
    r->ready = true;
    r->sse_next = h->sse_head;
    h->sse_head = r;
    h->sse_count++;
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
}

void srv_req_sse_send(srv_req *r, const char *event, const char *data)
{
    size_t need;

    /* A client that does not read is cut off rather than buffered
     * without bound. */
    if (r->sse_len > 8 * 1024 * 1024)
        return;
    need = r->sse_len + strlen(event) + strlen(data) + 32;
    if (need > r->sse_cap) {
        size_t cap = need * 2;
        char *nb = realloc(r->sse_buf, cap);
        if (!nb)
            return;
        r->sse_buf = nb;
        r->sse_cap = cap;
    }
    if (event[0] == ':')
        r->sse_len += (size_t)sprintf(r->sse_buf + r->sse_len, "%s\n\n", event);
    else
        r->sse_len += (size_t)sprintf(r->sse_buf + r->sse_len,
                                      "event: %s\ndata: %s\n\n", event, data);
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
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

static int write_headers(srv_req *r, struct lws *wsi)
{
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE, *p = start,
                  *end = buf + sizeof buf - 1;
    lws_filepos_t clen =
        r->sse ? LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)r->resp_len;

    if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->resp_type,
                                    clen, &p, end))
        return -1;
    for (int i = 0; i < r->nextra; i++)
        if (lws_add_http_header_by_name(
                wsi, (const unsigned char *)r->extra_headers[i][0],
                (const unsigned char *)r->extra_headers[i][1],
                (int)strlen(r->extra_headers[i][1]), &p, end))
            return -1;
    if (r->sse && lws_add_http_header_by_name(
                      wsi, (const unsigned char *)"cache-control:",
                      (const unsigned char *)"no-cache", 8, &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    r->headers_sent = true;
    if (r->sse)
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    return 0;
}

/* Writes what is pending; returns -1 to close the connection. */
static int on_writable(struct pss *pss, struct lws *wsi)
{
    srv_req *r = pss->req;
    unsigned char *buf;

    if (!r || !r->ready)
        return 0;
    if (!r->headers_sent) {
        if (write_headers(r, wsi))
            return -1;
        if (r->sse || r->resp_len > 0) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (r->sse) {
        if (r->sse_len == 0)
            return 0;
        size_t n = r->sse_len > WRITE_CHUNK ? WRITE_CHUNK : r->sse_len;
        buf = malloc(LWS_PRE + n);
        if (!buf)
            return -1;
        memcpy(buf + LWS_PRE, r->sse_buf, n);
        int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP);
        free(buf);
        if (w < (int)n)
            return -1;
        memmove(r->sse_buf, r->sse_buf + n, r->sse_len - n);
        r->sse_len -= n;
        if (r->sse_len)
            lws_callback_on_writable(wsi);
        return 0;
    }
    size_t left = r->resp_len - r->resp_off;
    if (r->method != SRV_HEAD && left > 0) {
        size_t n = left > WRITE_CHUNK ? WRITE_CHUNK : left;
        bool last = n == left;
        buf = malloc(LWS_PRE + n);
        if (!buf)
            return -1;
        memcpy(buf + LWS_PRE, r->resp + r->resp_off, n);
        int w = lws_write(wsi, buf + LWS_PRE, n,
                          last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
        free(buf);
        if (w < (int)n)
            return -1;
        r->resp_off += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    bool close_after = r->close_after;
    req_free(r);
    pss->req = NULL;
    if (close_after)
        return -1;
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

static void dispatch(srv_http *h, srv_req *r)
{
    h->cfg.dispatch(h->cfg.ud, r);
}

static int on_http(srv_http *h, struct pss *pss, struct lws *wsi,
                   const char *in, size_t len)
{
    srv_req *r;
    char clen[32];

    req_free(pss->req);
    pss->req = r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->http = h;
    r->wsi = wsi;
    r->method = method_of(wsi);
    if (len >= sizeof r->path)
        len = sizeof r->path - 1;
    memcpy(r->path, in ? in : "/", in ? len : 1);
    r->path[in ? len : 1] = '\0';
    if (r->path[0] != '/') {
        memmove(r->path + 1, r->path, strlen(r->path) + 1);
        r->path[0] = '/';
    }
    copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, r->content_type,
                sizeof r->content_type);
    copy_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, r->authorization,
                sizeof r->authorization);
    copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, sizeof clen);
    read_args(r, wsi);
    if (clen[0]) {
        char *e;
        errno = 0;
        unsigned long long n = strtoull(clen, &e, 10);
        if (!errno && !*e && n > SRV_BODY_MAX && n <= 2 * SRV_BODY_MAX) {
            /* Read and drop a body somewhat over the limit, so that the
             * client, still sending, gets the 413 and not a reset. */
            r->body_expected = true;
            r->too_large = true;
            return 0;
        }
        if (errno || *e || n > SRV_BODY_MAX) {
            r->close_after = true;
            srv_req_error(r, 413, NULL,
                          "the request body is over the limit of "
                          "%d bytes",
                          SRV_BODY_MAX);
            return 0;
        }
        if (n > 0) {
            r->body_expected = true;
            return 0;
        }
    }
    if (r->method == 0) {
        srv_req_error(r, 405, NULL, "unsupported HTTP method");
        return 0;
    }
    dispatch(h, r);
    return 0;
}

static int on_body(struct pss *pss, const void *in, size_t len)
{
    srv_req *r = pss->req;

    if (!r || r->ready || r->too_large)
        return 0;
    if (r->body_len + len > SRV_BODY_MAX) {
        r->too_large = true;
        return 0;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = (r->body_len + len + 1) * 2;
        if (cap > SRV_BODY_MAX + 1)
            cap = SRV_BODY_MAX + 1;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return -1;
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, in, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    srv_http *h = ctx ? lws_context_user(ctx) : NULL;
    struct pss *pss = user;

    if (!h)
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(h, pss, wsi, in, len);
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(pss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!pss->req || pss->req->ready)
            return 0;
        if (pss->req->too_large) {
            pss->req->close_after = true;
            srv_req_error(pss->req, 413, NULL,
                          "the request body is over the limit of "
                          "%d bytes",
                          SRV_BODY_MAX);
            return 0;
        }
        if (pss->req->method == 0) {
            srv_req_error(pss->req, 405, NULL, "unsupported HTTP method");
            return 0;
        }
        dispatch(h, pss->req);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writable(pss, wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss && pss->req) {
            srv_req *r = pss->req;
            pss->req = NULL;
            if (r->deferred && !r->ready) {
                r->wsi = NULL; /* freed when answered */
            } else {
                req_free(r);
            }
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    { "http", callback, sizeof(struct pss), 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* Checks that bind:port can be listened on, so that a port in use is a
 * clear error before libwebsockets is set up. */
static int probe_listen(const char *addr, int port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_PASSIVE };
    struct addrinfo *ai = NULL;
    char ps[16];
    int rc = -EADDRNOTAVAIL;

    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(addr, ps, &hints, &ai) || !ai)
        return -EADDRNOTAVAIL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        rc = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : -errno;
        close(fd);
    }
    freeaddrinfo(ai);
    return rc;
}

int srv_http_new(srv_http **out, uv_loop_t *loop, const srv_http_config *cfg)
{
    struct lws_context_creation_info info;
    srv_http *h = calloc(1, sizeof *h);

    *out = NULL;
    if (!h)
        return -ENOMEM;
    int prc = probe_listen(cfg->bind ? cfg->bind : "127.0.0.1", cfg->port);
    if (prc) {
        free(h);
        return prc;
    }
    h->loop = loop;
    h->cfg = *cfg;
    snprintf(h->bind, sizeof h->bind, "%s",
             cfg->bind ? cfg->bind : "127.0.0.1");
    h->foreign[0] = loop;

    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = h->bind;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV |
                   LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS |
                   LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = h->foreign;
    info.user = h;
    info.max_http_header_data = 8192;
    info.server_string = "flowd";
    info.keepalive_timeout = 30;
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        free(h);
        return -EIO;
    }
    h->vhost = lws_create_vhost(h->ctx, &info);
    if (!h->vhost) {
        /* Destroying a context on a foreign loop that never ran trips
         * an assertion in libuv; the caller exits instead. */
        return -EADDRINUSE;
    }
    h->port = lws_get_vhost_listen_port(h->vhost);
    *out = h;
    return 0;
}

void srv_http_close(srv_http *h)
{
    if (!h || !h->ctx)
        return;
    lws_context_destroy(h->ctx);
    h->ctx = NULL;
}

void srv_http_free(srv_http **hp)
{
    srv_http *h = *hp;

    if (!h)
        return;
    *hp = NULL;
    if (h->ctx)
        lws_context_destroy(h->ctx);
    free(h);
}

int srv_http_port(const srv_http *h)
{
    return h->port;
}
