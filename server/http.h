/* flowd's HTTP/1.1 layer on flowd's own libuv loop: one request object per
 * HTTP transaction, JSON responses and errors, server-sent events. */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "router.h"

#define SRV_BODY_MAX (1024 * 1024)

typedef struct srv_http srv_http;
typedef struct srv_req srv_req;

/* Called with each complete request; the handler answers it with one of
 * the srv_req_* response functions, now or later (srv_req_defer). */
typedef void (*srv_http_dispatch_fn)(void *ud, srv_req *r);

typedef struct srv_http_config {
    const char *bind;
    int port; /* 0: any free port */
    srv_http_dispatch_fn dispatch;
    void *ud;
} srv_http_config;

struct srv_req {
    srv_http *http;
    struct srv_conn *conn; /* NULL once the client went away */
    int method;
    char path[1024];
    char query[4096]; /* decoded "k=v" pairs separated by '\0' */
    size_t query_len;
    char content_type[128];
    char authorization[512];
    char *body; /* body_len bytes and a '\0' */
    size_t body_len, body_cap;
    srv_route_match match;

    /* Response. */
    int status;
    char *resp;
    size_t resp_len;
    char resp_type[96];
    char extra_headers[3][2][256];
    int nextra;
    bool ready, headers_sent, deferred, close_after;

    /* Server-sent events. */
    bool sse;
    struct srv_req *sse_next;
};

/* Creates the HTTP server on loop and starts listening. Returns 0 or a
 * negative errno-like code; *out is the new server. */
int srv_http_new(srv_http **out, uv_loop_t *loop, const srv_http_config *cfg);

/* Starts closing the server; the loop must run on to finish it. */
void srv_http_close(srv_http *h);

/* Frees the server after srv_http_close and a final run of the loop.
 * NULL-safe, nulls the pointer. */
void srv_http_free(srv_http **hp);

/* The port actually listened on. */
int srv_http_port(const srv_http *h);

/* Query argument by name, NULL when absent (borrowed). */
const char *srv_req_arg(const srv_req *r, const char *name);

/* Adds a response header (at most three). */
void srv_req_header(srv_req *r, const char *name, const char *value);

/* Responds with JSON; takes body (may be NULL for an empty body). */
void srv_req_json(srv_req *r, int status, json_t *body);

/* Responds to a failure with {"status","error","code","message"}: err is
 * a negative SRV_E* code (error.h), which gives the HTTP status and the
 * "code" ("EDEPLOYED"); the message is the detail. extra (taken, may be
 * NULL) is merged into the object. */
void srv_req_error(srv_req *r, int err, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Responds with raw bytes of a content type; takes data (malloc'd). */
void srv_req_raw(srv_req *r, int status, const char *type, char *data,
                 size_t len);

/* Marks the request as answered later: the dispatcher returns without
 * responding and someone calls a response function afterwards. When the
 * client has gone away by then (r->conn NULL) the response function frees
 * the request. */
void srv_req_defer(srv_req *r);

/* Turns the request into a server-sent-events stream. */
void srv_req_sse_start(srv_req *r);

/* Queues one event for every SSE client (data is one line of JSON). */
void srv_http_sse_broadcast(srv_http *h, const char *event, const char *data);

/* Queues one event for one SSE client. */
void srv_req_sse_send(srv_req *r, const char *event, const char *data);

/* Number of connected SSE clients. */
size_t srv_http_sse_clients(const srv_http *h);

/* The reason phrase of an HTTP status code. */
const char *srv_http_reason(int status);

#endif
