/*
 * ingest_decode: what the http and tcp sources make of outside bytes.
 * Request bodies (JSON, NDJSON, text, msgpack) become msgpack payloads,
 * and a tcp byte stream becomes frames (LF, CRLF or 4-byte big-endian
 * length prefixes). Nothing here trusts its input: every function either
 * succeeds or says where and why the bytes are wrong, with bounded depth
 * and memory.
 */
#ifndef INGEST_DECODE_H
#define INGEST_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "flow/mp.h"

/* The deepest JSON nesting accepted (arrays and objects). */
#define INGEST_JSON_MAX_DEPTH 64

typedef enum ingest_body {
    INGEST_BODY_JSON,    /* application/json */
    INGEST_BODY_NDJSON,  /* application/x-ndjson */
    INGEST_BODY_TEXT,    /* text/plain */
    INGEST_BODY_MSGPACK, /* application/msgpack */
} ingest_body;

/* Where a body is malformed: line and column count from 1 (columns in
 * bytes). */
typedef struct ingest_error {
    uint32_t line;
    uint32_t column;
    char what[96];
} ingest_error;

/* Called once per event the body makes: the event's payload (msgpack,
 * borrowed until the call returns). Nonzero stops the decoding and is
 * returned. */
typedef int (*ingest_event_fn)(void *arg, const void *payload, size_t len);

/*
 * Maps a Content-Type value (parameters such as "; charset=utf-8" are
 * ignored, case-insensitively) to a body kind. Returns 0, or -1 for a type
 * that is none of the four.
 */
int ingest_body_of(const char *content_type, size_t len, ingest_body *kind);

/*
 * Decodes a body of the given kind, calling fn for every event: JSON one
 * per object or value, one per element of a top-level array; NDJSON one
 * per non-blank line; text and msgpack one per body. scratch is reused
 * for the payloads. Returns 0; -FLOW_EMALFORMED with *err filled; or what
 * fn returned.
 */
int ingest_decode(ingest_body kind, const void *body, size_t len,
                  flow_buf *scratch, ingest_event_fn fn, void *arg,
                  ingest_error *err);

/*
 * Parses one JSON value spanning all of text (surrounding white space
 * allowed) into msgpack, appended to out. line0 is the line number of
 * text's first byte, for errors. Returns 0 or -FLOW_EMALFORMED (*err
 * filled).
 */
int ingest_json_to_mp(const char *text, size_t len, uint32_t line0,
                      flow_buf *out, ingest_error *err);

typedef enum ingest_framing {
    INGEST_FRAME_LF,   /* a frame ends at '\n' (not part of the frame) */
    INGEST_FRAME_CRLF, /* a frame ends at "\r\n" (not part of it) */
    INGEST_FRAME_L4,   /* 4-byte big-endian length, then that many bytes */
} ingest_framing;

/* Maps "LF", "CRLF", "L4" to a framing; -1 for anything else. */
int ingest_framing_of(const char *name, ingest_framing *f);

/*
 * Finds the next frame at the start of buf. Returns 1 with *frame and
 * *flen set and *used the bytes it took (frame and delimiter or prefix);
 * 0 when more bytes are needed (a frame not yet complete and not over
 * max); -FLOW_ETOOBIG when the frame is, or would be, over max bytes.
 */
int ingest_frame_next(ingest_framing f, const uint8_t *buf, size_t len,
                      size_t max, const uint8_t **frame, size_t *flen,
                      size_t *used);

#endif
