/*
 * flow: addressing payload fields by name, as the counters' --field-name
 * and the router's --flow.partition-key do: a top-level key ("state"), or
 * a dotted path into nested maps ("customer.country"). A key that itself
 * contains dots is found first as a whole.
 */
#ifndef FLOW_FIELDPATH_H
#define FLOW_FIELDPATH_H

#include <stddef.h>

#include "flow/mp.h"

/* Finds the field; returns 0 with v set (v->raw spans it), or a negative
 * FLOW_E* (-FLOW_ENOTFOUND when absent). */
int flow_fieldpath_find(const void *payload, size_t len, const char *path,
                        flow_mp_value *v);

/*
 * The text of a scalar as a field value: strings as they are, integers in
 * decimal, floats with %.17g, booleans true/false, nil "null". Sets *s to
 * the text (in buf, or borrowed from a string value) and returns its
 * length, or returns -1 when v is not a scalar.
 */
int flow_fieldpath_text(const flow_mp_value *v, char *buf, size_t n,
                        const char **s);

#endif
