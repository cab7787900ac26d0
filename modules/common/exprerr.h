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

/*
 * Evaluates e on ev and writes the text of its result (flow_expr_value_text:
 * a string as it is, a number as written, a list or map as JSON) into
 * buf, NUL-terminated. Returns its length, or -1 with the reason in why
 * (the expression's error, or a text that is empty, longer than size - 1
 * bytes or holds a NUL), for the error output.
 */
int exprerr_text(const flow_expr *e, const char *opt, const flow_event *ev,
                 flow_expr_scratch *sc, char *buf, size_t size, char *why,
                 size_t whysize);

#endif
