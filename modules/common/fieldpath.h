/*
 * fieldpath.h - addressing payload fields by name, as the counters'
 * --field-name and --time-field do: a top-level key ("state"), or a dotted
 * path into nested maps ("customer.country"). A key that itself contains
 * dots is found first as a whole.
 */
#ifndef FLOW_MODULES_FIELDPATH_H
#define FLOW_MODULES_FIELDPATH_H

#include "flow/mp.h"

#include <stddef.h>
#include <stdint.h>

/* Finds the field; returns 0 with v set (v->raw spans it), or a negative
 * FLOW_E* (-FLOW_ENOTFOUND when absent). */
int fieldpath_find(const void *payload, size_t len, const char *path,
                   flow_mp_value *v);

/*
 * The text of a scalar as a field value: strings as they are, integers in
 * decimal, floats with %.17g, booleans true/false, nil "null". Sets *s to
 * the text (in buf, or borrowed from a string value) and returns its
 * length, or returns -1 when v is not a scalar.
 */
int fieldpath_text(const flow_mp_value *v, char *buf, size_t n, const char **s);

/*
 * Epoch seconds from a time value: integers are seconds, milliseconds or
 * microseconds by magnitude (up to 1e11 seconds, up to 1e14 ms, else µs);
 * floats are seconds; strings are decimal integers as above or ISO-8601
 * ("2024-02-29T13:05:09Z", the forms flow/iso8601.h lists). Returns false
 * when the value is none of these.
 */
bool fieldpath_epoch_seconds(const flow_mp_value *v, int64_t *sec);

#endif
