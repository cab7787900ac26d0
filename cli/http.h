/*
 * The one HTTP client of flowctl: a thin layer over libcurl that speaks
 * JSON to flowd and turns transport failures and error statuses into
 * flowctl exit codes and messages a user can act on.
 */
#ifndef FLOWCTL_HTTP_H
#define FLOWCTL_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "ctl.h"

/* A raw response. */
struct http_resp {
    long status; /* HTTP status, 0 when no response arrived */
    char *body;  /* NUL-terminated body (owned) */
    size_t len;
};

void http_resp_fini(struct http_resp *r);

/* Called with each chunk of a streamed body; return non-zero to stop. */
typedef int (*http_chunk_fn)(const char *data, size_t len, void *arg);

/* Sends one request to c->server + path. body may be NULL; ctype is its
 * content type. On transport failure prints why (with a hint when the
 * server is unreachable) and returns CTL_EUNREACH or CTL_EFAIL; otherwise
 * fills r and returns 0 whatever the HTTP status. */
int http_raw(struct ctl *c, const char *method, const char *path,
             const char *body, const char *ctype, struct http_resp *r);

/* Like http_raw but hands the body to fn as it arrives (SSE, follow
 * mode); no overall timeout. Returns 0 when the server closed the
 * response or fn asked to stop, otherwise an exit code. */
int http_stream(struct ctl *c, const char *path, http_chunk_fn fn, void *arg,
                long *status);

/* The JSON call every command uses: sends body (borrowed, may be NULL) as
 * JSON, parses the answer into *out (new reference, may be NULL when the
 * caller does not want it). A non-2xx status prints the server's error as
 * a user needs it (a DSL error with the definition in c->dsl and a caret)
 * and returns CTL_ENOTFOUND for 404, CTL_EFAIL otherwise. When quiet, no
 * message is printed. */
int http_json(struct ctl *c, const char *method, const char *path, json_t *body,
              json_t **out);
int http_json_quiet(struct ctl *c, const char *method, const char *path,
                    json_t *body, json_t **out);

/* GETs every page of a paged list (path may carry a query). *doc gets
 * the first page with the items of all pages merged into its embedded
 * array (new reference); *items borrows that array (an empty array when
 * the server sent none). Returns an exit code as http_json does. */
int http_get_all(struct ctl *c, const char *path, json_t **doc, json_t **items);

/* Returns a new string: s percent-encoded for use in a URL. */
char *http_escape(const char *s);

/* Prints an error document from the server to stderr, with the DSL
 * definition and a caret when it carries parser positions. */
void http_print_error(struct ctl *c, long status, json_t *err, const char *raw);

#endif
