#include "router.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

/* Matches one pattern against a path, filling params. */
static bool match_one(const char *pat, const char *path, srv_route_match *m)
{
    size_t np = 0;

    while (*pat && *path) {
        if (pat[0] == '{' && pat[1] == '*' && pat[2] == '}') {
            size_t len = strlen(path);
            if (np >= SRV_ROUTE_MAX_PARAMS || len >= SRV_ROUTE_PARAM_MAX)
                return false;
            memcpy(m->params[np++], path, len + 1);
            path += len;
            pat += 3;
            continue;
        }
        if (pat[0] == '{' && pat[1] == '}') {
            size_t len = strcspn(path, "/");
            if (len == 0 || len >= SRV_ROUTE_PARAM_MAX ||
                np >= SRV_ROUTE_MAX_PARAMS)
                return false;
            memcpy(m->params[np], path, len);
            m->params[np++][len] = '\0';
            path += len;
            pat += 2;
            continue;
        }
        if (*pat != *path)
            return false;
        pat++;
        path++;
    }
    if (!*path && pat[0] == '{' && pat[1] == '*' && pat[2] == '}' && !pat[3]) {
        if (np >= SRV_ROUTE_MAX_PARAMS)
            return false;
        m->params[np++][0] = '\0';
        pat += 3;
    }
    if (*pat || *path)
        return false;
    m->nparams = np;
    return true;
}

int srv_router_match(const srv_route *routes, size_t n, int method,
                     const char *path, srv_route_match *m)
{
    int want = method == SRV_HEAD ? (SRV_GET | SRV_HEAD) : method;

    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        srv_route_match t;
        memset(&t, 0, sizeof t);
        if (!match_one(routes[i].pattern, path, &t))
            continue;
        m->allow |= routes[i].methods;
        if (m->route || !(routes[i].methods & want))
            continue;
        int allow = m->allow;
        *m = t;
        m->allow = allow;
        m->route = &routes[i];
    }
    if (m->route)
        return 0;
    return m->allow ? -SRV_EMETHOD : -SRV_ENOTFOUND;
}

static const struct {
    int bit;
    const char *name;
} methods[] = {
    { SRV_GET, "GET" }, { SRV_HEAD, "HEAD" },     { SRV_POST, "POST" },
    { SRV_PUT, "PUT" }, { SRV_DELETE, "DELETE" }, { SRV_OPTIONS, "OPTIONS" },
};

void srv_router_allow(int mask, char *buf, size_t len)
{
    size_t off = 0;

    if (mask & SRV_GET)
        mask |= SRV_HEAD;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (!(mask & methods[i].bit))
            continue;
        int w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
                         methods[i].name);
        if (w < 0 || (size_t)w >= len - off)
            return;
        off += (size_t)w;
    }
}

const char *srv_method_name(int method)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].bit == method)
            return methods[i].name;
    return NULL;
}

int srv_method_parse(const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, name) == 0)
            return methods[i].bit;
    return 0;
}
