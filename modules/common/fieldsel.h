/*
 * fieldsel.h - what the counters' --field-name and --time-field name: a
 * payload field path as before (fieldpath.h: "type", "customer.country",
 * "first-name") or an expression (docs/expressions.md), told apart by
 * their text. A plain path is made only of letters, digits, '_', '-' and
 * '.', between dots, and its first part is neither "payload" nor
 * "headers": it keeps its meaning of a field path. Anything else
 * ("payload.type", "headers.key", "payload.amount > 1000 ? 'big' :
 * 'small'") is an expression, compiled once.
 */
#ifndef FLOW_MODULES_FIELDSEL_H
#define FLOW_MODULES_FIELDSEL_H

#include "flow/event.h"
#include "flow/expr.h"
#include "flow/mp.h"

#include <stdbool.h>
#include <stddef.h>

struct fieldsel {
    const char *path; /* borrowed: the field path, or NULL */
    flow_expr *expr;  /* owned: the expression, or NULL */
    flow_expr_scratch sc;
    flow_buf val; /* the expression's result as msgpack */
};

/* Whether text is a plain field path by the rule above. */
bool fieldsel_is_path(const char *text);

/*
 * Sets up s for text (borrowed; it must outlive s). Returns 0, or -1 with
 * the compile error, a caret under its spot, in why (for the usage
 * message). fini is safe on zeroed memory.
 */
int fieldsel_init(struct fieldsel *s, const char *text, char *why,
                  size_t whysize);
void fieldsel_fini(struct fieldsel *s);

/*
 * The value s names in ev: 0 with v set (v->raw spans it; valid until the
 * next call or the event goes); -FLOW_ENOTFOUND when the field is absent
 * or the expression gives null; -FLOW_EINVAL with the reason in why when
 * the expression fails (opt names the option in it); another negative
 * FLOW_E* for a payload that is not msgpack.
 */
int fieldsel_find(struct fieldsel *s, const char *opt, const flow_event *ev,
                  flow_mp_value *v, char *why, size_t whysize);

#endif
