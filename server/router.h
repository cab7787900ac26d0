/* Route matching for flowd's REST API: a pure function over a table, so that
 * it can be unit-tested without a server. */
#ifndef SRV_ROUTER_H
#define SRV_ROUTER_H

#include <stddef.h>

enum srv_method {
    SRV_GET = 1 << 0,
    SRV_POST = 1 << 1,
    SRV_PUT = 1 << 2,
    SRV_DELETE = 1 << 3,
    SRV_HEAD = 1 << 4,
    SRV_OPTIONS = 1 << 5,
};

#define SRV_ROUTE_MAX_PARAMS 4
#define SRV_ROUTE_PARAM_MAX  512

/* One route: the methods it answers, a pattern and an opaque handler.
 * In a pattern, "{}" matches one non-empty path segment and "{*}" (only at
 * the end) the rest of the path, possibly empty. */
typedef struct srv_route {
    int methods;
    const char *pattern;
    void *handler;
} srv_route;

typedef struct srv_route_match {
    const srv_route *route;
    size_t nparams;
    char params[SRV_ROUTE_MAX_PARAMS][SRV_ROUTE_PARAM_MAX];
    int allow; /* methods of routes whose pattern matched (for 405) */
} srv_route_match;

/* Finds the route for method and path (no query string). Returns 0 when
 * found (m->route set), -SRV_ENOTFOUND when no pattern matches,
 * -SRV_EMETHOD when a pattern matches but not with this method (m->allow
 * says which would). HEAD matches GET routes. */
int srv_router_match(const srv_route *routes, size_t n, int method,
                     const char *path, srv_route_match *m);

/* Formats an Allow header value from a method mask into buf. */
void srv_router_allow(int methods, char *buf, size_t len);

/* The name of one method bit ("GET"), or NULL for none or several. */
const char *srv_method_name(int method);

/* Parses a method name ("GET"); returns 0 when unknown. */
int srv_method_parse(const char *name);

#endif
