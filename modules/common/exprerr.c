#include "exprerr.h"

#include <stdio.h>
#include <string.h>

const char *exprerr_reason(char *buf, size_t size, const char *opt,
                           const flow_expr *e, const flow_expr_error *err)
{
    snprintf(buf, size, "--%s: %s (at byte %zu of '%s')", opt, err->message,
             err->offset, flow_expr_source(e));
    return buf;
}

int exprerr_text(const flow_expr *e, const char *opt, const flow_event *ev,
                 flow_expr_scratch *sc, char *buf, size_t size, char *why,
                 size_t whysize)
{
    flow_expr_error err;
    flow_expr_value v;
    const char *s;
    size_t len;

    if (flow_expr_eval(e, ev, sc, &v, &err)) {
        exprerr_reason(why, whysize, opt, e, &err);
        return -1;
    }
    if (flow_expr_value_text(&v, sc, &s, &len)) {
        snprintf(why, whysize, "--%s: out of memory for the text of its result",
                 opt);
        return -1;
    }
    if (len == 0 || len >= size || memchr(s, '\0', len)) {
        snprintf(why, whysize,
                 "--%s gave %s; it must be 1 to %zu bytes without NUL "
                 "(from '%s')",
                 opt, len == 0 ? "an empty text" : "an unusable text", size - 1,
                 flow_expr_source(e));
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return (int)len;
}
