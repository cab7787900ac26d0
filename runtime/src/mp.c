/*
 * A bounds-checked msgpack reader and a writer into flow_buf.
 *
 * The reader checks every length against the bytes that are present before
 * using it, so a hostile length can neither read out of bounds nor make
 * anyone allocate: nothing here allocates at all.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/error.h"
#include "flow/mp.h"

void flow_buf_init(flow_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void flow_buf_fini(flow_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void flow_buf_reset(flow_buf *b)
{
    b->len = 0;
    b->err = 0;
}

int flow_buf_grow(flow_buf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->err = -FLOW_ENOMEM;
            return b->err;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->err = -FLOW_ENOMEM;
        return b->err;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline void put1(flow_buf *b, uint8_t c)
{
    if (b->cap - b->len >= 1 && !b->err) {
        b->data[b->len++] = c;
        return;
    }
    flow_buf_append(b, &c, 1);
}

/* Writes a type byte followed by an n-byte (1, 2, 4 or 8) big-endian
 * value. Inline with a constant n, this is a few stores. */
static inline void put_be(flow_buf *b, uint8_t tag, uint64_t v, int n)
{
    if (flow_buf_reserve(b, 9))
        return;
    uint8_t *p = b->data + b->len;
    p[0] = tag;
    for (int i = 0; i < n; i++)
        p[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    b->len += (size_t)n + 1;
}

void flow_mp_put_nil(flow_buf *b)
{
    put1(b, 0xc0);
}

void flow_mp_put_bool(flow_buf *b, bool v)
{
    put1(b, v ? 0xc3 : 0xc2);
}

void flow_mp_put_uint(flow_buf *b, uint64_t v)
{
    if (v < 128)
        put1(b, (uint8_t)v);
    else if (v <= UINT8_MAX)
        put_be(b, 0xcc, v, 1);
    else if (v <= UINT16_MAX)
        put_be(b, 0xcd, v, 2);
    else if (v <= UINT32_MAX)
        put_be(b, 0xce, v, 4);
    else
        put_be(b, 0xcf, v, 8);
}

void flow_mp_put_int(flow_buf *b, int64_t v)
{
    if (v >= 0)
        flow_mp_put_uint(b, (uint64_t)v);
    else if (v >= -32)
        put1(b, (uint8_t)(int8_t)v);
    else if (v >= INT8_MIN)
        put_be(b, 0xd0, (uint64_t)v, 1);
    else if (v >= INT16_MIN)
        put_be(b, 0xd1, (uint64_t)v, 2);
    else if (v >= INT32_MIN)
        put_be(b, 0xd2, (uint64_t)v, 4);
    else
        put_be(b, 0xd3, (uint64_t)v, 8);
}

void flow_mp_put_double(flow_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    put_be(b, 0xcb, u, 8);
}

void flow_mp_put_str(flow_buf *b, const char *s, size_t len)
{
    if (len < 32)
        put1(b, (uint8_t)(0xa0 | len));
    else if (len <= UINT8_MAX)
        put_be(b, 0xd9, len, 1);
    else if (len <= UINT16_MAX)
        put_be(b, 0xda, len, 2);
    else if (len <= UINT32_MAX)
        put_be(b, 0xdb, len, 4);
    else {
        b->err = b->err ? b->err : -FLOW_ETOOBIG;
        return;
    }
    flow_buf_append(b, s, len);
}

void flow_mp_put_cstr(flow_buf *b, const char *s)
{
    if (!s)
        flow_mp_put_nil(b);
    else
        flow_mp_put_str(b, s, strlen(s));
}

void flow_mp_put_bin(flow_buf *b, const void *data, size_t len)
{
    if (len <= UINT8_MAX)
        put_be(b, 0xc4, len, 1);
    else if (len <= UINT16_MAX)
        put_be(b, 0xc5, len, 2);
    else if (len <= UINT32_MAX)
        put_be(b, 0xc6, len, 4);
    else {
        b->err = b->err ? b->err : -FLOW_ETOOBIG;
        return;
    }
    flow_buf_append(b, data, len);
}

void flow_mp_put_array(flow_buf *b, uint32_t n)
{
    if (n < 16)
        put1(b, (uint8_t)(0x90 | n));
    else if (n <= UINT16_MAX)
        put_be(b, 0xdc, n, 2);
    else
        put_be(b, 0xdd, n, 4);
}

void flow_mp_put_map(flow_buf *b, uint32_t n)
{
    if (n < 16)
        put1(b, (uint8_t)(0x80 | n));
    else if (n <= UINT16_MAX)
        put_be(b, 0xde, n, 2);
    else
        put_be(b, 0xdf, n, 4);
}

void flow_mp_put_raw(flow_buf *b, const void *data, size_t len)
{
    flow_buf_append(b, data, len);
}

void flow_mp_reader_init(flow_mp_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
}

static inline uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static void set_uint(flow_mp_value *v, uint64_t u)
{
    v->type = FLOW_MP_INT;
    v->is_neg = false;
    v->u = u;
    v->i = u > INT64_MAX ? INT64_MAX : (int64_t)u;
    v->f = (double)u;
}

static void set_int(flow_mp_value *v, int64_t i)
{
    if (i >= 0) {
        set_uint(v, (uint64_t)i);
        return;
    }
    v->type = FLOW_MP_INT;
    v->is_neg = true;
    v->i = i;
    v->u = 0;
    v->f = (double)i;
}

int flow_mp_read(flow_mp_reader *r, flow_mp_value *v)
{
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);
    if (left < 1)
        return -FLOW_ETRUNCATED;
    uint8_t c = p[0];
    size_t hdr = 1; /* bytes of the header */
    uint64_t n = 0; /* payload length or element count */
    int kind = -1;  /* 0 str, 1 bin, 2 array, 3 map, 4 ext */

    v->raw = p;
    /* Fast paths for the commonest items: small ints and short strings. */
    if (c <= 0x7f) {
        set_uint(v, c);
        v->raw_len = 1;
        r->p = p + 1;
        return 0;
    }
    if ((c & 0xe0) == 0xa0) {
        size_t len = c & 0x1f;
        if (len > left - 1)
            return -FLOW_ETRUNCATED;
        v->type = FLOW_MP_STR;
        v->str = (const char *)p + 1;
        v->len = (uint32_t)len;
        v->raw_len = 1 + len;
        r->p = p + 1 + len;
        return 0;
    }
    v->raw_len = 0;
    if (c <= 0x7f) {
        set_uint(v, c);
    } else if (c >= 0xe0) {
        set_int(v, (int8_t)c);
    } else if ((c & 0xe0) == 0xa0) {
        kind = 0;
        n = c & 0x1f;
    } else if ((c & 0xf0) == 0x90) {
        kind = 2;
        n = c & 0x0f;
    } else if ((c & 0xf0) == 0x80) {
        kind = 3;
        n = c & 0x0f;
    } else {
        static const uint8_t extra[32] = {
            /* c0 */ 0, 0, 0, 0, 1, 2, 4, 1,
            /* c8 */ 2, 4, 4, 8, 1, 2, 4, 8,
            /* d0 */ 1, 2, 4, 8, 1, 1, 1, 1,
            /* d8 */ 1, 1, 2, 4, 2, 4, 2, 4,
        };
        size_t x = extra[c - 0xc0];
        if (c == 0xc1)
            return -FLOW_EMALFORMED;
        if (c == 0xc7 || c == 0xc8 || c == 0xc9)
            x += 1; /* ext 8/16/32 also carry a type byte */
        if (left < 1 + x)
            return -FLOW_ETRUNCATED;
        hdr = 1 + x;
        switch (c) {
        case 0xc0:
            v->type = FLOW_MP_NIL;
            break;
        case 0xc2:
        case 0xc3:
            v->type = FLOW_MP_BOOL;
            v->b = c == 0xc3;
            break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
            kind = 1;
            n = get_be(p + 1, (int)x);
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
            kind = 4;
            n = get_be(p + 1, (int)x - 1);
            v->ext_type = (int8_t)p[x];
            break;
        case 0xca: {
            uint32_t u32 = (uint32_t)get_be(p + 1, 4);
            float fl;
            memcpy(&fl, &u32, sizeof(fl));
            v->type = FLOW_MP_FLOAT;
            v->f = fl;
            break;
        }
        case 0xcb: {
            uint64_t u64 = get_be(p + 1, 8);
            memcpy(&v->f, &u64, sizeof(v->f));
            v->type = FLOW_MP_FLOAT;
            break;
        }
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            set_uint(v, get_be(p + 1, (int)x));
            break;
        case 0xd0:
            set_int(v, (int8_t)get_be(p + 1, 1));
            break;
        case 0xd1:
            set_int(v, (int16_t)get_be(p + 1, 2));
            break;
        case 0xd2:
            set_int(v, (int32_t)get_be(p + 1, 4));
            break;
        case 0xd3:
            set_int(v, (int64_t)get_be(p + 1, 8));
            break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            kind = 4;
            n = (uint64_t)1 << (c - 0xd4);
            v->ext_type = (int8_t)p[1];
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            kind = 0;
            n = get_be(p + 1, (int)x);
            break;
        case 0xdc:
        case 0xdd:
            kind = 2;
            n = get_be(p + 1, (int)x);
            break;
        case 0xde:
        case 0xdf:
            kind = 3;
            n = get_be(p + 1, (int)x);
            break;
        }
    }
    if (kind < 0) {
        r->p = p + hdr;
        v->raw_len = hdr;
        return 0;
    }
    left -= hdr;
    if (kind == 2 || kind == 3) {
        /* Each element takes at least one byte. */
        uint64_t need = kind == 3 ? n * 2 : n;
        if (need > left)
            return -FLOW_ETRUNCATED;
        v->type = kind == 2 ? FLOW_MP_ARRAY : FLOW_MP_MAP;
        v->len = (uint32_t)n;
        v->raw_len = hdr;
        r->p = p + hdr;
        return 0;
    }
    if (n > left)
        return -FLOW_ETRUNCATED;
    v->type = kind == 0 ? FLOW_MP_STR : kind == 1 ? FLOW_MP_BIN : FLOW_MP_EXT;
    v->str = (const char *)p + hdr;
    v->len = (uint32_t)n;
    v->raw_len = hdr + n;
    r->p = p + hdr + n;
    return 0;
}

/*
 * Skips one object without recursion: a counter of items still to skip
 * grows by each container's element count. The depth cap bounds nesting
 * the way a recursive reader would see it.
 */
int flow_mp_skip(flow_mp_reader *r)
{
    const uint8_t *start = r->p;
    flow_mp_value first;
    int rc0 = flow_mp_read(r, &first);
    if (rc0)
        return rc0;
    /* Scalars (most values) need no bookkeeping. */
    if (first.type != FLOW_MP_ARRAY && first.type != FLOW_MP_MAP)
        return 0;
    r->p = start;
    uint64_t todo = 1;
    uint64_t stack[FLOW_MP_MAX_DEPTH + 1];
    int depth = 0;
    stack[0] = 1;
    while (todo) {
        flow_mp_value v;
        int rc = flow_mp_read(r, &v);
        if (rc) {
            r->p = start;
            return rc;
        }
        todo--;
        stack[depth]--;
        if (v.type == FLOW_MP_ARRAY || v.type == FLOW_MP_MAP) {
            uint64_t n = v.type == FLOW_MP_MAP ? (uint64_t)v.len * 2 : v.len;
            if (n) {
                if (depth == FLOW_MP_MAX_DEPTH) {
                    r->p = start;
                    return -FLOW_EMALFORMED;
                }
                stack[++depth] = n;
                todo += n;
            }
        }
        while (depth > 0 && stack[depth] == 0)
            depth--;
    }
    return 0;
}

int flow_mp_read_object(flow_mp_reader *r, flow_mp_value *v)
{
    const uint8_t *start = r->p;
    flow_mp_reader tmp = *r;
    int rc = flow_mp_read(&tmp, v);
    if (rc)
        return rc;
    if (v->type != FLOW_MP_ARRAY && v->type != FLOW_MP_MAP) {
        r->p = tmp.p; /* a scalar: read whole already */
        return 0;
    }
    rc = flow_mp_skip(r);
    if (rc)
        return rc;
    v->raw = start;
    v->raw_len = (size_t)(r->p - start);
    return 0;
}

int flow_mp_validate(const void *data, size_t len)
{
    flow_mp_reader r;
    flow_mp_reader_init(&r, data, len);
    int rc = flow_mp_skip(&r);
    if (rc)
        return rc;
    return r.p == r.end ? 0 : -FLOW_EMALFORMED;
}

int flow_mp_map_find(const void *data, size_t len, const char *key,
                     flow_mp_value *v)
{
    flow_mp_reader r;
    flow_mp_value m;
    size_t klen = strlen(key);
    flow_mp_reader_init(&r, data, len);
    int rc = flow_mp_read(&r, &m);
    if (rc)
        return rc;
    if (m.type != FLOW_MP_MAP)
        return -FLOW_EINVAL;
    for (uint32_t i = 0; i < m.len; i++) {
        flow_mp_value k;
        rc = flow_mp_read(&r, &k);
        if (rc)
            return rc;
        if (k.type == FLOW_MP_STR && k.len == klen &&
            memcmp(k.str, key, klen) == 0)
            return flow_mp_read_object(&r, v);
        if (k.type == FLOW_MP_ARRAY || k.type == FLOW_MP_MAP) {
            /* A container key: skip its elements, then the value. */
            r.p = k.raw;
            rc = flow_mp_skip(&r);
            if (rc)
                return rc;
        }
        rc = flow_mp_skip(&r);
        if (rc)
            return rc;
    }
    return -FLOW_ENOTFOUND;
}

bool flow_mp_as_int(const flow_mp_value *v, int64_t *out)
{
    if (v->type == FLOW_MP_INT) {
        *out = v->i;
        return true;
    }
    if (v->type == FLOW_MP_FLOAT) {
        if (!(v->f >= -9.2e18 && v->f <= 9.2e18))
            return false;
        *out = (int64_t)v->f;
        return true;
    }
    return false;
}

bool flow_mp_as_double(const flow_mp_value *v, double *out)
{
    if (v->type == FLOW_MP_INT || v->type == FLOW_MP_FLOAT) {
        *out = v->f;
        return true;
    }
    return false;
}
