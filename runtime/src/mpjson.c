/*
 * msgpack to JSON text (see flow/mpjson.h).
 */
#include "flow/mpjson.h"

#include "flow/error.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

static void put(flow_buf *out, const char *s, size_t n)
{
    flow_buf_append(out, s, n);
}

/* Reads a big-endian unsigned of n bytes. */
static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * The head of the item at p[0..left): the bytes that follow the head
 * before the next item (skip) and the items it contains (kids). Returns
 * the head's size, or 0 when it is not msgpack or does not fit.
 */
static size_t head(const uint8_t *p, size_t left, size_t *skip, size_t *kids)
{
    uint8_t b = p[0];
    int hl = 0; /* bytes of a length field */
    *skip = 0;
    *kids = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 1;
    if (b <= 0x8f) {
        *kids = 2 * (size_t)(b & 0x0f);
        return 1;
    }
    if (b <= 0x9f) {
        *kids = b & 0x0f;
        return 1;
    }
    if (b <= 0xbf) {
        *skip = b & 0x1f;
        return 1;
    }
    switch (b) {
    case 0xcc:
    case 0xd0:
        *skip = 1;
        break;
    case 0xcd:
    case 0xd1:
    case 0xd4:
        *skip = 2;
        break;
    case 0xd5:
        *skip = 3;
        break;
    case 0xca:
    case 0xce:
    case 0xd2:
        *skip = 4;
        break;
    case 0xd6:
        *skip = 5;
        break;
    case 0xcb:
    case 0xcf:
    case 0xd3:
        *skip = 8;
        break;
    case 0xd7:
        *skip = 9;
        break;
    case 0xd8:
        *skip = 17;
        break;
    case 0xc4:
    case 0xd9:
        hl = 1;
        break;
    case 0xc5:
    case 0xda:
    case 0xdc:
    case 0xde:
        hl = 2;
        break;
    case 0xc6:
    case 0xdb:
    case 0xdd:
    case 0xdf:
        hl = 4;
        break;
    case 0xc7:
        hl = 1;
        *skip = 1; /* the ext type */
        break;
    case 0xc8:
        hl = 2;
        *skip = 1;
        break;
    case 0xc9:
        hl = 4;
        *skip = 1;
        break;
    default:
        return 0; /* 0xc1 is never used */
    }
    if ((size_t)hl + 1 > left)
        return 0;
    uint64_t v = hl ? be(p + 1, hl) : 0;
    left -= (size_t)hl + 1;
    /* Each element takes at least one byte: a count over the bytes left
     * is refused here, before anything is allocated for it. */
    if (v > left)
        return 0;
    if (b == 0xdc || b == 0xdd)
        *kids = (size_t)v;
    else if (b == 0xde || b == 0xdf)
        *kids = 2 * (size_t)v;
    else if (hl)
        *skip += (size_t)v;
    return (size_t)hl + 1;
}

bool flow_mpjson_fits(const void *data, size_t n)
{
    const uint8_t *p = data;
    /* The items still to read in each open container; [0] is the root. */
    size_t todo[FLOW_MPJSON_MAX_DEPTH + 1];
    size_t pos = 0, pending = 1;
    int d = 0;
    todo[0] = 1;
    while (d >= 0) {
        if (todo[d] == 0) {
            d--;
            continue;
        }
        if (pos >= n)
            return false;
        size_t skip, kids, h = head(p + pos, n - pos, &skip, &kids);
        if (h == 0)
            return false;
        pos += h;
        if (skip > n - pos || kids > n - pos - skip)
            return false;
        pos += skip;
        todo[d]--;
        pending = pending - 1 + kids;
        if (pending > n - pos)
            return false;
        if (kids) {
            if (d == FLOW_MPJSON_MAX_DEPTH)
                return false;
            todo[++d] = kids;
        }
    }
    return pos == n;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        k = 2;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        k = 3;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        k = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (k > n)
        return 0;
    unsigned cp = c & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

/* Where a JSON string goes: a flow_buf or a FILE. */
typedef void (*sink_fn)(void *dst, const char *s, size_t n);

static void to_buf(void *dst, const char *s, size_t n)
{
    flow_buf_append(dst, s, n);
}

static void to_file(void *dst, const char *s, size_t n)
{
    if (n)
        fwrite(s, 1, n, dst);
}

static void json_string(sink_fn put_to, void *dst, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    put_to(dst, "\"", 1);
    size_t run = 0; /* bytes copied verbatim, flushed lazily */
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        const char *esc = NULL;
        char tmp[8];
        size_t k = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", c);
            esc = tmp;
        } else if (c >= 0x80) {
            k = utf8_len(s + i, len - i);
            if (k == 0) {
                esc = "\\ufffd";
                k = 1;
            }
        }
        if (esc) {
            put_to(dst, (const char *)s + i - run, run);
            run = 0;
            put_to(dst, esc, strlen(esc));
        } else {
            run += k;
        }
        i += k;
    }
    /* msgpack-c hands an empty string over as a null pointer. */
    if (run)
        put_to(dst, (const char *)s + len - run, run);
    put_to(dst, "\"", 1);
}

void flow_json_string(flow_buf *out, const char *s, size_t len)
{
    json_string(to_buf, out, s, len);
}

void flow_json_fputs(FILE *f, const char *s, size_t len)
{
    json_string(to_file, f, s, len);
}

void flow_base64(flow_buf *out, const void *data, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = data;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = { tab[(v >> 18) & 63], tab[(v >> 12) & 63],
                      i + 1 < n ? tab[(v >> 6) & 63] : '=',
                      i + 2 < n ? tab[v & 63] : '=' };
        put(out, q, 4);
    }
}

static void quoted_base64(flow_buf *out, const void *data, size_t n)
{
    put(out, "\"", 1);
    flow_base64(out, data, n);
    put(out, "\"", 1);
}

static void object(flow_buf *out, const msgpack_object *o, bool in_key);

/* A map key that is not a string, as a JSON string (see flow/mpjson.h). */
static void key(flow_buf *out, const msgpack_object *k, bool in_key)
{
    if (k->type == MSGPACK_OBJECT_STR) {
        flow_json_string(out, k->via.str.ptr, k->via.str.size);
        return;
    }
    if (in_key &&
        (k->type == MSGPACK_OBJECT_ARRAY || k->type == MSGPACK_OBJECT_MAP ||
         k->type == MSGPACK_OBJECT_BIN || k->type == MSGPACK_OBJECT_EXT)) {
        put(out, "\"(nested key)\"", 14);
        return;
    }
    flow_buf text;
    flow_buf_init(&text);
    object(&text, k, true);
    if (text.err)
        out->err = text.err;
    else
        flow_json_string(out, (const char *)text.data, text.len);
    flow_buf_fini(&text);
}

static void object(flow_buf *out, const msgpack_object *o, bool in_key)
{
    char tmp[40];
    int n;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        put(out, "null", 4);
        return;
    case MSGPACK_OBJECT_BOOLEAN:
        put(out, o->via.boolean ? "true" : "false", o->via.boolean ? 4 : 5);
        return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)o->via.u64);
        put(out, tmp, (size_t)n);
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%lld", (long long)o->via.i64);
        put(out, tmp, (size_t)n);
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64)) {
            put(out, "null", 4);
            return;
        }
        n = snprintf(tmp, sizeof(tmp), "%.17g", o->via.f64);
        put(out, tmp, (size_t)n);
        return;
    case MSGPACK_OBJECT_STR:
        flow_json_string(out, o->via.str.ptr, o->via.str.size);
        return;
    case MSGPACK_OBJECT_BIN:
        quoted_base64(out, o->via.bin.ptr, o->via.bin.size);
        return;
    case MSGPACK_OBJECT_EXT:
        n = snprintf(tmp, sizeof(tmp),
                     "{\"ext\":%d,\"data\":", (int)o->via.ext.type);
        put(out, tmp, (size_t)n);
        quoted_base64(out, o->via.ext.ptr, o->via.ext.size);
        put(out, "}", 1);
        return;
    case MSGPACK_OBJECT_ARRAY:
        put(out, "[", 1);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                put(out, ",", 1);
            object(out, &o->via.array.ptr[i], in_key);
        }
        put(out, "]", 1);
        return;
    case MSGPACK_OBJECT_MAP:
        put(out, "{", 1);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i)
                put(out, ",", 1);
            key(out, &o->via.map.ptr[i].key, in_key);
            put(out, ":", 1);
            object(out, &o->via.map.ptr[i].val, in_key);
        }
        put(out, "}", 1);
        return;
    }
    put(out, "null", 4);
}

int flow_mpjson_object(flow_buf *out, const struct msgpack_object *o)
{
    object(out, o, false);
    return out->err;
}

int flow_mpjson_append(flow_buf *out, const void *data, size_t len)
{
    if (!flow_mpjson_fits(data, len))
        return -FLOW_EMALFORMED;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc;
    /* The bytes were checked: a failure here is msgpack-c out of memory. */
    if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        rc = -FLOW_ENOMEM;
    else
        rc = flow_mpjson_object(out, &u.data);
    msgpack_unpacked_destroy(&u);
    return rc;
}
