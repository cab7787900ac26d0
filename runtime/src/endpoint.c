/* Endpoint strings from the command line (docs/apps.md). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "flow/endpoint.h"
#include "flow/error.h"

static int fail(char *err, size_t err_size, const char *s, size_t len,
                const char *why)
{
    if (err && err_size)
        snprintf(err, err_size, "endpoint '%.*s': %s", (int)len, s, why);
    return -FLOW_EENDPOINT;
}

int flow_endpoint_parse(const char *s, size_t len, bool default_bind,
                        flow_endpoint *out, char *err, size_t err_size)
{
    const char *p = s;
    size_t n = len;
    out->bind = default_bind;
    if (n && (p[0] == '@' || p[0] == '>')) {
        out->bind = p[0] == '@';
        p++;
        n--;
    }
    if (n == 0)
        return fail(err, err_size, s, len, "is empty");
    if (n >= FLOW_ENDPOINT_MAX)
        return fail(err, err_size, s, len, "is too long");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == ',')
            return fail(err, err_size, s, len,
                        "holds a space or control character");
    static const char *const schemes[] = { "ipc://", "tcp://", "inproc://" };
    size_t rest = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(schemes[i]);
        if (n > sl && memcmp(p, schemes[i], sl) == 0)
            rest = n - sl;
        else if (n == sl && memcmp(p, schemes[i], sl) == 0)
            return fail(err, err_size, s, len, "has no address after '//'");
    }
    if (rest == 0)
        return fail(err, err_size, s, len,
                    "must start with ipc://, tcp:// or inproc:// "
                    "(optionally prefixed by @ to bind or > to connect)");
    if (memcmp(p, "tcp://", 6) == 0 && !memchr(p + 6, ':', n - 6))
        return fail(err, err_size, s, len,
                    "a tcp endpoint needs a port (tcp://host:port)");
    memcpy(out->addr, p, n);
    out->addr[n] = '\0';
    return 0;
}

int flow_endpoint_parse_list(const char *s, bool default_bind,
                             flow_endpoint *out, size_t max, size_t *n,
                             char *err, size_t err_size)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (*n >= max) {
            if (err && err_size)
                snprintf(err, err_size, "more than %zu endpoints in '%s'", max,
                         s);
            return -FLOW_EENDPOINT;
        }
        int rc =
            flow_endpoint_parse(p, len, default_bind, &out[*n], err, err_size);
        if (rc)
            return rc;
        (*n)++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int flow_endpoint_attach(void *zsock, const flow_endpoint *ep)
{
    int rc =
        ep->bind ? zmq_bind(zsock, ep->addr) : zmq_connect(zsock, ep->addr);
    if (rc)
        return flow_from_zmq();
    if (ep->bind)
        flow_endpoint_private(ep->addr);
    return 0;
}

int flow_endpoint_private(const char *addr)
{
    if (strncmp(addr, "ipc://", 6) != 0 || addr[6] == '@')
        return 0;
    return chmod(addr + 6, 0600);
}
