#include "exprerr.h"

#include <stdio.h>

const char *exprerr_reason(char *buf, size_t size, const char *opt,
                           const flow_expr *e, const flow_expr_error *err)
{
    snprintf(buf, size, "--%s: %s (at byte %zu of '%s')", opt, err->message,
             err->offset, flow_expr_source(e));
    return buf;
}
