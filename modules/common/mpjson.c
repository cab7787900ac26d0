/*
 * mpjson.c - msgpack to JSON text (see mpjson.h).
 */
#include "mpjson.h"

#include "flow/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void put(flow_buf *out, const char *s, size_t n)
{
    flow_buf_append(out, s, n);
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

void mpjson_string(flow_buf *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    put(out, "\"", 1);
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
            put(out, (const char *)s + i - run, run);
            run = 0;
            put(out, esc, strlen(esc));
        } else {
            run += k;
        }
        i += k;
    }
    put(out, (const char *)s + len - run, run);
    put(out, "\"", 1);
}

static void base64(flow_buf *out, const unsigned char *s, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    put(out, "\"", 1);
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
    put(out, "\"", 1);
}

int mpjson_value(flow_buf *out, flow_mp_reader *r, const flow_mp_value *v,
                 int depth)
{
    char tmp[40];
    int n, rc;
    if (depth > FLOW_MP_MAX_DEPTH)
        return -FLOW_EMALFORMED;
    switch (v->type) {
    case FLOW_MP_NIL:
        put(out, "null", 4);
        return 0;
    case FLOW_MP_BOOL:
        put(out, v->b ? "true" : "false", v->b ? 4 : 5);
        return 0;
    case FLOW_MP_INT:
        if (v->is_neg)
            n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v->i);
        else
            n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v->u);
        put(out, tmp, (size_t)n);
        return 0;
    case FLOW_MP_FLOAT:
        if (!isfinite(v->f)) {
            put(out, "null", 4);
            return 0;
        }
        n = snprintf(tmp, sizeof(tmp), "%.17g", v->f);
        put(out, tmp, (size_t)n);
        return 0;
    case FLOW_MP_STR:
        mpjson_string(out, v->str, v->len);
        return 0;
    case FLOW_MP_BIN:
        base64(out, (const unsigned char *)v->str, v->len);
        return 0;
    case FLOW_MP_EXT:
        n = snprintf(tmp, sizeof(tmp), "{\"ext\":%d,\"data\":", v->ext_type);
        put(out, tmp, (size_t)n);
        base64(out, (const unsigned char *)v->str, v->len);
        put(out, "}", 1);
        return 0;
    case FLOW_MP_ARRAY:
    case FLOW_MP_MAP:
        break;
    }
    bool map = v->type == FLOW_MP_MAP;
    put(out, map ? "{" : "[", 1);
    for (uint32_t i = 0; i < v->len; i++) {
        flow_mp_value e;
        if (i)
            put(out, ",", 1);
        if (map) {
            if ((rc = flow_mp_read(r, &e)) < 0)
                return rc;
            if (e.type == FLOW_MP_STR) {
                mpjson_string(out, e.str, e.len);
            } else if (e.type == FLOW_MP_MAP || e.type == FLOW_MP_ARRAY) {
                /* A container as a key has no useful JSON text (and
                 * quoting nested keys would grow the text exponentially):
                 * name its type and skip it. */
                uint64_t n = (uint64_t)e.len * (e.type == FLOW_MP_MAP ? 2 : 1);
                for (uint64_t j = 0; j < n; j++) {
                    if ((rc = flow_mp_skip(r)) < 0)
                        return rc;
                }
                put(out, e.type == FLOW_MP_MAP ? "\"(map)\"" : "\"(array)\"",
                    e.type == FLOW_MP_MAP ? 7 : 9);
            } else {
                /* A scalar key: its JSON text, quoted. */
                flow_buf k;
                flow_buf_init(&k);
                rc = mpjson_value(&k, r, &e, depth + 1);
                if (rc == 0 && k.err)
                    rc = k.err;
                if (rc == 0)
                    mpjson_string(out, (const char *)k.data, k.len);
                flow_buf_fini(&k);
                if (rc < 0)
                    return rc;
            }
            put(out, ":", 1);
        }
        if ((rc = flow_mp_read(r, &e)) < 0)
            return rc;
        if ((rc = mpjson_value(out, r, &e, depth + 1)) < 0)
            return rc;
    }
    put(out, map ? "}" : "]", 1);
    return out->err;
}

int mpjson_append(flow_buf *out, const void *data, size_t len)
{
    flow_mp_reader r;
    flow_mp_value v;
    flow_mp_reader_init(&r, data, len);
    int rc = flow_mp_read(&r, &v);
    if (rc < 0)
        return rc;
    rc = mpjson_value(out, &r, &v, 0);
    if (rc < 0)
        return rc;
    if (flow_mp_remaining(&r) != 0)
        return -FLOW_EMALFORMED;
    return out->err;
}
