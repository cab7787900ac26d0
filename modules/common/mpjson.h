/*
 * mpjson.h - msgpack to JSON text, for the log sink and the counters'
 * field values. Works on untrusted bytes: it uses the runtime's
 * bounds-checked reader and caps nesting.
 */
#ifndef FLOW_MODULES_MPJSON_H
#define FLOW_MODULES_MPJSON_H

#include "flow/mp.h"

#include <stddef.h>

/*
 * Appends the JSON text of the single msgpack object in data[0..len) to
 * out (no NUL). Binary becomes a base64 string, ext a {"ext":t,"data":..}
 * object, scalar non-string map keys their JSON text as a string, map and
 * array keys "(map)" and "(array)", NaN/Inf null.
 * Returns 0 or a negative FLOW_E* (out then holds a partial text).
 */
int mpjson_append(flow_buf *out, const void *data, size_t len);

/* The same for one already-read item plus the reader positioned after its
 * header (how containers are walked). */
int mpjson_value(flow_buf *out, flow_mp_reader *r, const flow_mp_value *v,
                 int depth);

/* Appends s[0..len) as a JSON string literal (quoted, escaped; invalid
 * UTF-8 bytes become U+FFFD). */
void mpjson_string(flow_buf *out, const char *s, size_t len);

#endif
