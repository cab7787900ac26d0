/*
 * flowd's error codes: one table of names, HTTP statuses and messages.
 *
 * Functions in server/ that can fail in more than one way a client must
 * tell apart return 0 or a negative SRV_E* code (-SRV_EDEPLOYED), with the
 * detail (what, where, what to do) in a char err[] when they take one.
 * A code becomes an HTTP status in one place, srv_req_error() (http.c),
 * the one function every error response goes through, the REST routes'
 * and the HTTP reader's own refusals alike; the error JSON carries the
 * code's name as "code" ("EDEPLOYED"). docs/rest.md lists every entry of
 * the table (tests/server/test_error.c holds the two together).
 */
#ifndef SRV_ERROR_H
#define SRV_ERROR_H

/* X(code name, HTTP status, message). New codes go at the end, so that
 * the values of the others stay. */
#define SRV_ERRNO_MAP(X)                                              \
    X(EINVAL, 400, "invalid request")                                 \
    X(EDEFINITION, 400, "invalid stream definition")                  \
    X(EPROPS, 400, "invalid deployment properties")                   \
    X(EPATH, 400, "a path option is outside the allowed directories") \
    X(EUNAUTHORIZED, 401, "a valid token is needed")                  \
    X(EREFUSED, 403, "refused")                                       \
    X(ENOTFOUND, 404, "not found")                                    \
    X(EMETHOD, 405, "method not allowed")                             \
    X(EEXIST, 409, "it exists already")                               \
    X(EDEPLOYED, 409, "the stream is deployed")                       \
    X(ENOTDEPLOYED, 409, "the stream is not deployed")                \
    X(EINUSE, 409, "a stream uses it")                                \
    X(ETOOLARGE, 413, "the request body is too large")                \
    X(ETARGET, 414, "the request target is too long")                 \
    X(EMEDIA, 415, "unsupported media type")                          \
    X(EEXPECT, 417, "unsupported expectation")                        \
    X(EUNRUNNABLE, 422, "it cannot be run")                           \
    X(EHEAD, 431, "the request head is too large")                    \
    X(EINTERNAL, 500, "internal error")                               \
    X(ENOMEM, 500, "out of memory")                                   \
    X(ESTORE, 500, "the store could not be written")                  \
    X(ESYSTEM, 500, "a system resource is exhausted")                 \
    X(ENOTIMPL, 501, "not implemented")                               \
    X(ENOTREADY, 503, "not ready")                                    \
    X(EVERSION, 505, "HTTP version not supported")                    \
    X(ESTOREFULL, 507, "the store is full")

enum srv_errno {
    SRV__E_NONE,
#define SRV__ERR_ENUM(name, status, msg) SRV_##name,
    SRV_ERRNO_MAP(SRV__ERR_ENUM)
#undef SRV__ERR_ENUM
        SRV__E_COUNT
};

/* The code's message (negative or positive), "success" for 0, "unknown
 * error" outside the table. Never NULL; static. */
const char *srv_strerror(int err);

/* The code's name without the SRV_ prefix ("EDEPLOYED"), or "UNKNOWN".
 * Static. */
const char *srv_errname(int err);

/* The code's HTTP status; 500 for a value outside the table. */
int srv_errstatus(int err);

#endif
