/*
 * Decoding the batch frames a tap publishes (docs/wire.md) into JSON
 * objects; see tapdec.h. The frames come from the network: every field is
 * checked and nothing is trusted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "tapdec.h"

/* A JSON string from bytes that may not be UTF-8: invalid bytes become
 * U+FFFD so the output stays valid JSON. Returns new. */
static json_t *jstr(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    char *buf = malloc(n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x80 && ch != 0) {
            buf[o++] = (char)ch;
        } else {
            /* Try to keep a valid multi-byte sequence whole. */
            size_t len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 0;
            json_t *t = len && i + len <= n ? json_stringn(p + i, len) : NULL;
            if (t) {
                memcpy(buf + o, p + i, len);
                o += len;
                i += len - 1;
                json_decref(t);
            } else {
                memcpy(buf + o, "\xEF\xBF\xBD", 3);
                o += 3;
            }
        }
    }
    s = json_stringn(buf, o);
    free(buf);
    return s ? s : json_string("");
}

static json_t *b64(const char *p, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)p[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)p[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    json_t *s = json_stringn(out, o);
    free(out);
    return s;
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
 * Checks that data holds exactly one msgpack object whose every declared
 * length and element count fits in the bytes present, before msgpack-c
 * sees it: msgpack-c allocates an array's elements from its declared
 * count, so a six-byte frame could otherwise ask for gigabytes.
 */
static bool mp_sane(const uint8_t *p, size_t n)
{
    size_t pos = 0, pending = 1;
    while (pending > 0) {
        if (pos >= n)
            return false;
        uint8_t b = p[pos++];
        size_t left = n - pos, skip = 0, kids = 0;
        int hl = 0; /* bytes of a length field */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            skip = 0;
        } else if (b >= 0x80 && b <= 0x8f) {
            kids = 2 * (size_t)(b & 0x0f);
        } else if (b >= 0x90 && b <= 0x9f) {
            kids = b & 0x0f;
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xcc:
            case 0xd0:
                skip = 1;
                break;
            case 0xcd:
            case 0xd1:
                skip = 2;
                break;
            case 0xca:
            case 0xce:
            case 0xd2:
                skip = 4;
                break;
            case 0xcb:
            case 0xcf:
            case 0xd3:
                skip = 8;
                break;
            case 0xd4:
                skip = 2;
                break;
            case 0xd5:
                skip = 3;
                break;
            case 0xd6:
                skip = 5;
                break;
            case 0xd7:
                skip = 9;
                break;
            case 0xd8:
                skip = 17;
                break;
            case 0xc4:
            case 0xd9:
                hl = 1;
                break;
            case 0xc5:
            case 0xda:
                hl = 2;
                break;
            case 0xc6:
            case 0xdb:
                hl = 4;
                break;
            case 0xc7:
                hl = 1;
                skip = 1;
                break;
            case 0xc8:
                hl = 2;
                skip = 1;
                break;
            case 0xc9:
                hl = 4;
                skip = 1;
                break;
            case 0xdc:
            case 0xde:
                hl = 2;
                break;
            case 0xdd:
            case 0xdf:
                hl = 4;
                break;
            default:
                return false; /* 0xc1 is never used */
            }
            if ((size_t)hl > left)
                return false;
            uint64_t v = hl ? be(p + pos, hl) : 0;
            pos += (size_t)hl;
            left -= (size_t)hl;
            if (b == 0xdc || b == 0xdd)
                kids = v <= left ? (size_t)v : SIZE_MAX / 4;
            else if (b == 0xde || b == 0xdf)
                kids = v <= left ? 2 * (size_t)v : SIZE_MAX / 4;
            else if (hl)
                skip += v <= left ? (size_t)v : left + 1;
        }
        if (skip > left || kids > left - skip)
            return false;
        pos += skip;
        pending += kids;
        pending--;
        if (pending > n - pos + 1)
            return false;
    }
    return pos == n;
}

/* How deep a payload may nest: deeper values become a note. */
#define TAP_DEPTH_MAX 64
/* The producer field's limit (docs/wire.md). */
#define TAP_PRODUCER_MAX 255

static json_t *to_json(const msgpack_object *o, int depth, bool in_key);

/* A bin holding one msgpack object (an event payload) becomes that
 * object; other bins become base64. */
static json_t *bin_json(const char *p, size_t n, int depth, bool payload)
{
    if (payload && mp_sane((const uint8_t *)p, n)) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        json_t *j = NULL;
        if (msgpack_unpack_next(&u, p, n, &off) == MSGPACK_UNPACK_SUCCESS &&
            off == n)
            j = to_json(&u.data, depth + 1, false);
        msgpack_unpacked_destroy(&u);
        if (j)
            return j;
    }
    return b64(p, n);
}

/*
 * A map key that is not a string becomes the compact JSON text of the key.
 * Inside such a key, a further non-string key that is not a scalar becomes
 * a note instead: each level of key-in-key would escape the text of the
 * level below once more, doubling it, so 60 nested one-entry maps (122
 * bytes) would ask for gigabytes. With one level, the text of a key is a
 * bounded multiple of the bytes it came from.
 */
static char *key_text(const msgpack_object *k, int depth, bool in_key)
{
    if (in_key &&
        (k->type == MSGPACK_OBJECT_ARRAY || k->type == MSGPACK_OBJECT_MAP ||
         k->type == MSGPACK_OBJECT_BIN || k->type == MSGPACK_OBJECT_EXT))
        return strdup("(nested key)");
    json_t *kj = to_json(k, depth + 1, true);
    char *ks = json_dumps(kj, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(kj);
    return ks;
}

static json_t *to_json(const msgpack_object *o, int depth, bool in_key)
{
    if (depth > TAP_DEPTH_MAX)
        return json_string("(nested too deep)");
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return jstr(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return bin_json(o->via.bin.ptr, o->via.bin.size, depth, false);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(
                a, to_json(&o->via.array.ptr[i], depth + 1, in_key));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            json_t *v = to_json(&o->via.map.ptr[i].val, depth + 1, in_key);
            if (k->type == MSGPACK_OBJECT_STR) {
                json_t *ks = jstr(k->via.str.ptr, k->via.str.size);
                json_object_set_new(m, json_string_value(ks), v);
                json_decref(ks);
            } else {
                char *ks = key_text(k, depth, in_key);
                json_object_set_new(m, ks ? ks : "?", v);
                free(ks);
            }
        }
        return m;
    }
    case MSGPACK_OBJECT_EXT:
        return json_pack("{s:i, s:o}", "ext", (int)o->via.ext.type, "data",
                         b64(o->via.ext.ptr, o->via.ext.size));
    }
    return json_null();
}

static bool as_uint(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = o->via.u64;
    return true;
}

long tap_decode(const char *stream, const void *data, size_t len, long limit,
                json_t *out)
{
    if (!mp_sane(data, len))
        return -1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    long n = 0;
    if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 5) {
        msgpack_unpacked_destroy(&u);
        return -1;
    }
    const msgpack_object *f = u.data.via.array.ptr;
    uint64_t version, instance, epoch;
    if (!as_uint(&f[0], &version) || version != 1 ||
        f[1].type != MSGPACK_OBJECT_STR || !as_uint(&f[2], &instance) ||
        !as_uint(&f[3], &epoch) || f[4].type != MSGPACK_OBJECT_ARRAY ||
        f[1].via.str.size > TAP_PRODUCER_MAX) {
        msgpack_unpacked_destroy(&u);
        return -1;
    }
    /* One string shared by every event, so that a frame of many small
     * events does not hold its producer once per event. */
    json_t *app = jstr(f[1].via.str.ptr, f[1].via.str.size);
    const msgpack_object_array *evs = &f[4].via.array;
    for (uint32_t i = 0; i < evs->size && (limit <= 0 || n < limit); i++) {
        const msgpack_object *e = &evs->ptr[i];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 6)
            continue;
        const msgpack_object *x = e->via.array.ptr;
        json_t *ev = json_object();
        json_object_set_new(ev, "stream", json_string(stream));
        json_object_set(ev, "app", app);
        json_object_set_new(ev, "instance", json_integer((json_int_t)instance));
        json_object_set_new(ev, "id", to_json(&x[0], 0, false));
        json_object_set_new(ev, "type", to_json(&x[1], 0, false));
        int64_t us =
            x[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)x[2].via.u64
            : x[2].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? x[2].via.i64
                                                           : 0;
        time_t secs = (time_t)(us / 1000000);
        struct tm tm;
        char ts[64];
        gmtime_r(&secs, &tm);
        size_t k = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + k, sizeof(ts) - k, ".%06lldZ",
                 (long long)((us % 1000000 + 1000000) % 1000000));
        json_object_set_new(ev, "ts", json_string(ts));
        json_object_set_new(ev, "key", to_json(&x[3], 0, false));
        json_object_set_new(ev, "seq", to_json(&x[4], 0, false));
        json_object_set_new(
            ev, "payload",
            x[5].type == MSGPACK_OBJECT_BIN
                ? bin_json(x[5].via.bin.ptr, x[5].via.bin.size, 0, true)
                : to_json(&x[5], 0, false));
        json_array_append_new(out, ev);
        n++;
    }
    json_decref(app);
    msgpack_unpacked_destroy(&u);
    return n;
}
