/*
 * exprerr - the reason an app that evaluates an expression gives when it
 * sends an event to the error output: what the expression said, where in
 * it, and which option it was.
 */
#ifndef FLOW_MODULES_EXPRERR_H
#define FLOW_MODULES_EXPRERR_H

#include <stddef.h>

#include "flow/expr.h"

/* Writes "--OPT: MESSAGE (at byte N of 'SOURCE')" into buf; returns buf. */
const char *exprerr_reason(char *buf, size_t size, const char *opt,
                           const flow_expr *e, const flow_expr_error *err);

#endif
