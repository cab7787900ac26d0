/*
 * flow: a small, bounds-checked msgpack reader and writer, for the
 * per-event path only (frames, events and their payloads; docs/wire.md
 * says where and why). Everything else uses msgpack-c.
 *
 * The reader never allocates and never reads past the bytes it was given:
 * every length in the input is checked against the bytes present before it
 * is used, so it is safe on untrusted input. Nesting is capped at
 * FLOW_MP_MAX_DEPTH. The writer appends to a growable flow_buf whose errors
 * are sticky (check buf->err once at the end).
 */
#ifndef FLOW_MP_H
#define FLOW_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_MP_MAX_DEPTH 32

/* A growable byte buffer. Embedded: flow_buf_init / flow_buf_fini. */
typedef struct flow_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err; /* 0, or the first -FLOW_E* a write hit (sticky) */
} flow_buf;

void flow_buf_init(flow_buf *b);
/* Frees the storage; safe on zeroed memory. */
void flow_buf_fini(flow_buf *b);
/* Empties the buffer (keeps its storage) and clears err. */
void flow_buf_reset(flow_buf *b);
/* The slow path of flow_buf_reserve: grows the storage. */
int flow_buf_grow(flow_buf *b, size_t n);
/* Makes room for n more bytes; returns 0 or -FLOW_ENOMEM (also sets err).
 * Inline: the writers call it for every item they append. */
static inline int flow_buf_reserve(flow_buf *b, size_t n)
{
    if (!b->err && b->cap - b->len >= n)
        return 0;
    return flow_buf_grow(b, n);
}
static inline void flow_buf_append(flow_buf *b, const void *data, size_t n)
{
    if (n == 0 || flow_buf_reserve(b, n))
        return;
    __builtin_memcpy(b->data + b->len, data, n);
    b->len += n;
}

/* msgpack writers: each appends one item (or a container header). */
void flow_mp_put_nil(flow_buf *b);
void flow_mp_put_bool(flow_buf *b, bool v);
void flow_mp_put_int(flow_buf *b, int64_t v);
void flow_mp_put_uint(flow_buf *b, uint64_t v);
void flow_mp_put_double(flow_buf *b, double v);
void flow_mp_put_str(flow_buf *b, const char *s, size_t len);
void flow_mp_put_cstr(flow_buf *b, const char *s); /* NULL writes nil */
void flow_mp_put_bin(flow_buf *b, const void *data, size_t len);
void flow_mp_put_array(flow_buf *b, uint32_t n);
void flow_mp_put_map(flow_buf *b, uint32_t n);
/* Appends bytes that already are one msgpack object. */
void flow_mp_put_raw(flow_buf *b, const void *data, size_t len);

typedef enum flow_mp_type {
    FLOW_MP_NIL,
    FLOW_MP_BOOL,
    FLOW_MP_INT, /* any integer; see i, u and is_neg */
    FLOW_MP_FLOAT,
    FLOW_MP_STR,
    FLOW_MP_BIN,
    FLOW_MP_ARRAY,
    FLOW_MP_MAP,
    FLOW_MP_EXT,
} flow_mp_type;

/* One decoded item. Strings and binaries borrow the input bytes. */
typedef struct flow_mp_value {
    flow_mp_type type;
    bool b;
    bool is_neg;     /* INT: the value is negative (only i is valid) */
    int64_t i;       /* INT: the value if it fits an int64 */
    uint64_t u;      /* INT: the value if it is not negative */
    double f;        /* FLOAT: the value; INT: the value as a double */
    const char *str; /* STR, BIN, EXT: the bytes (not NUL-terminated) */
    uint32_t len;    /* STR, BIN, EXT: byte count; ARRAY, MAP: elements */
    int8_t ext_type;
    /* The whole object's bytes (set by flow_mp_map_find and
     * flow_mp_read_object; for containers, header and elements). */
    const uint8_t *raw;
    size_t raw_len;
} flow_mp_value;

/* A cursor over msgpack bytes. */
typedef struct flow_mp_reader {
    const uint8_t *p;
    const uint8_t *end;
} flow_mp_reader;

void flow_mp_reader_init(flow_mp_reader *r, const void *data, size_t len);
static inline size_t flow_mp_remaining(const flow_mp_reader *r)
{
    return (size_t)(r->end - r->p);
}

/*
 * Reads one item. A string, binary or ext is consumed whole; for an array
 * or map only the header is consumed and its elements follow (2 items per
 * map entry). Returns 0, -FLOW_ETRUNCATED when the bytes end early, or
 * -FLOW_EMALFORMED (0xc1, or a container bigger than the bytes left could
 * possibly hold). On error the cursor does not move.
 */
int flow_mp_read(flow_mp_reader *r, flow_mp_value *v);

/* Skips one whole object, containers included (depth-capped). */
int flow_mp_skip(flow_mp_reader *r);

/* Reads one whole object: v describes its head, v->raw/raw_len all of it. */
int flow_mp_read_object(flow_mp_reader *r, flow_mp_value *v);

/* Checks that data is exactly one well-formed msgpack object. */
int flow_mp_validate(const void *data, size_t len);

/*
 * Looks up a string key in a map that is the single object in
 * data[0..len). Returns 0 and fills v (v->raw spans the value), or
 * -FLOW_ENOTFOUND, or -FLOW_EMALFORMED / -FLOW_ETRUNCATED / -FLOW_EINVAL
 * when data is not a map.
 */
int flow_mp_map_find(const void *data, size_t len, const char *key,
                     flow_mp_value *v);

/* Conversions that accept any numeric type (false if not numeric). */
bool flow_mp_as_int(const flow_mp_value *v, int64_t *out);
bool flow_mp_as_double(const flow_mp_value *v, double *out);
/* True when v is a string equal to the NUL-terminated s. Inline: with a
 * literal s the length is a constant (apps compare keys per event). */
static inline bool flow_mp_str_eq(const flow_mp_value *v, const char *s)
{
    size_t n = __builtin_strlen(s);
    return v->type == FLOW_MP_STR && v->len == n &&
           __builtin_memcmp(v->str, s, n) == 0;
}

#endif
