/*
 * flow: msgpack to JSON text, and the JSON string and base64 writers it
 * uses. The one implementation in the tree: the log sink and flowctl's
 * tap decoder turn msgpack into JSON with it, and the counters' JSON lines
 * and libflow's own JSON output write their strings with it.
 *
 * It decodes with msgpack-c. msgpack-c allocates a container's elements
 * from its declared count, so every entry point first checks, without
 * allocating, that each declared length and count fits in the bytes
 * present (flow_mpjson_fits): the memory used and the text written are
 * then a bounded multiple of the input's size, whatever the input.
 */
#ifndef FLOW_MPJSON_H
#define FLOW_MPJSON_H

#include "flow/mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* How deep containers may nest: msgpack-c's own limit
 * (MSGPACK_EMBED_STACK_SIZE). */
#define FLOW_MPJSON_MAX_DEPTH 32

struct msgpack_object;

/*
 * True when data[0..len) is exactly one msgpack object whose every
 * declared length and element count fits in the bytes present, nested at
 * most FLOW_MPJSON_MAX_DEPTH containers deep. Reads only; never allocates.
 */
bool flow_mpjson_fits(const void *data, size_t len);

/*
 * Appends the JSON text of the single msgpack object in data[0..len) to
 * out (no NUL). Strings are escaped, invalid UTF-8 bytes becoming \ufffd;
 * integers keep every digit (also above INT64_MAX); NaN and infinities
 * become null; binary becomes a base64 string and ext a
 * {"ext":type,"data":base64} object. A map key that is not a string
 * becomes its compact JSON text as a string; inside such a key, a key that
 * is a container, binary or ext becomes "(nested key)", since each level
 * of key-in-key would escape the level below once more and double it.
 * Returns 0, -FLOW_EMALFORMED for bytes that are not one object that fits
 * (out is then untouched), or -FLOW_ENOMEM (out then holds a partial
 * text).
 */
int flow_mpjson_append(flow_buf *out, const void *data, size_t len);

/* The same for an object msgpack-c has already unpacked (borrowed). */
int flow_mpjson_object(flow_buf *out, const struct msgpack_object *o);

/* Appends s[0..len) as a JSON string literal: quoted, escaped, invalid
 * UTF-8 bytes as \ufffd. */
void flow_json_string(flow_buf *out, const char *s, size_t len);
/* The same written to f (libflow's --describe, metrics and log JSON). */
void flow_json_fputs(FILE *f, const char *s, size_t len);

/* Appends the base64 text (RFC 4648, padded, no quotes) of data[0..len). */
void flow_base64(flow_buf *out, const void *data, size_t len);

#endif
