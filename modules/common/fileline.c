/*
 * fileline.c - lines, JSON to msgpack and the file source's position (see
 * fileline.h).
 */
#include "fileline.h"

#include "flow/error.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

size_t fileline_next(const char *data, size_t len, size_t *line_len)
{
    const char *nl = memchr(data, '\n', len);
    if (!nl)
        return 0;
    size_t n = (size_t)(nl - data);
    *line_len = n > 0 && data[n - 1] == '\r' ? n - 1 : n;
    return n + 1;
}

/* ---- JSON to msgpack ------------------------------------------------ */

struct jp {
    const char *p, *end;
    flow_buf *out;
};

static void skip_ws(struct jp *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool lit(struct jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return false;
    j->p += n;
    return true;
}

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(flow_buf *b, uint32_t cp)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xc0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xe0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | (cp >> 18));
        u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    flow_buf_append(b, u, n);
}

/* A JSON string (j->p at its opening quote) unescaped into tmp. */
static int string(struct jp *j, flow_buf *tmp)
{
    flow_buf_reset(tmp);
    j->p++;
    for (;;) {
        const char *s = j->p;
        while (j->p < j->end && *j->p != '"' && *j->p != '\\' &&
               (unsigned char)*j->p >= 0x20)
            j->p++;
        flow_buf_append(tmp, s, (size_t)(j->p - s));
        if (j->p >= j->end || (unsigned char)*j->p < 0x20)
            return -FLOW_EMALFORMED;
        if (*j->p == '"') {
            j->p++;
            return tmp->err;
        }
        if (j->end - j->p < 2)
            return -FLOW_EMALFORMED;
        char c = j->p[1];
        j->p += 2;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = c ? strchr(from, c) : NULL;
        if (k) {
            flow_buf_append(tmp, &to[k - from], 1);
            continue;
        }
        if (c != 'u')
            return -FLOW_EMALFORMED;
        uint32_t cp, lo;
        if (j->end - j->p < 4 || hex4(j->p, &cp))
            return -FLOW_EMALFORMED;
        j->p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 &&
            j->p[0] == '\\' && j->p[1] == 'u' && hex4(j->p + 2, &lo) == 0 &&
            lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            j->p += 6;
        } else if (cp >= 0xd800 && cp < 0xe000) {
            cp = 0xfffd; /* a lone surrogate, as the JSON writers do */
        }
        put_utf8(tmp, cp);
    }
}

static int number(struct jp *j)
{
    const char *s = j->p;
    bool neg = false, frac = false;
    if (j->p < j->end && *j->p == '-') {
        neg = true;
        j->p++;
    }
    const char *digits = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    size_t nd = (size_t)(j->p - digits);
    if (nd == 0 || (nd > 1 && *digits == '0'))
        return -FLOW_EMALFORMED;
    if (j->p < j->end && *j->p == '.') {
        frac = true;
        const char *f = ++j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        if (j->p == f)
            return -FLOW_EMALFORMED;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        frac = true;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        const char *e = j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        if (j->p == e)
            return -FLOW_EMALFORMED;
    }
    if (!frac && nd <= 20) {
        uint64_t u = 0;
        bool fits = true;
        for (size_t i = 0; i < nd; i++) {
            unsigned d = (unsigned)(digits[i] - '0');
            if (u > (UINT64_MAX - d) / 10) {
                fits = false;
                break;
            }
            u = u * 10 + d;
        }
        if (fits && !neg) {
            flow_mp_put_uint(j->out, u);
            return 0;
        }
        if (fits && u <= (uint64_t)INT64_MAX + 1) {
            flow_mp_put_int(j->out, u == (uint64_t)INT64_MAX + 1 ? INT64_MIN
                                                                 : -(int64_t)u);
            return 0;
        }
    }
    /* A fraction, an exponent or an integer beyond 64 bits: a double. */
    size_t n = (size_t)(j->p - s);
    char stack[64];
    char *c = n < sizeof stack ? stack : malloc(n + 1);
    if (!c)
        return -FLOW_ENOMEM;
    memcpy(c, s, n);
    c[n] = '\0';
    double d = strtod(c, NULL);
    if (c != stack)
        free(c);
    flow_mp_put_double(j->out, d);
    return 0;
}

/* A container's header with room for a count patched in at its end
 * (array 32 or map 32: msgpack allows the wider form). */
static size_t open_container(flow_buf *b, uint8_t tag)
{
    uint8_t h[5] = { tag, 0, 0, 0, 0 };
    flow_buf_append(b, h, sizeof h);
    return b->len - 4;
}

static void close_container(flow_buf *b, size_t at, uint32_t n)
{
    if (b->err)
        return;
    b->data[at] = (uint8_t)(n >> 24);
    b->data[at + 1] = (uint8_t)(n >> 16);
    b->data[at + 2] = (uint8_t)(n >> 8);
    b->data[at + 3] = (uint8_t)n;
}

static int value(struct jp *j, flow_buf *tmp, int depth)
{
    skip_ws(j);
    if (j->p >= j->end)
        return -FLOW_EMALFORMED;
    int rc;
    switch (*j->p) {
    case '{':
    case '[': {
        bool map = *j->p == '{';
        char close = map ? '}' : ']';
        if (depth >= FLOW_MP_MAX_DEPTH)
            return -FLOW_EMALFORMED;
        j->p++;
        size_t at = open_container(j->out, map ? 0xdf : 0xdd);
        uint32_t n = 0;
        skip_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            close_container(j->out, at, 0);
            return j->out->err;
        }
        for (;;) {
            if (map) {
                skip_ws(j);
                if (j->p >= j->end || *j->p != '"')
                    return -FLOW_EMALFORMED;
                if ((rc = string(j, tmp)))
                    return rc;
                flow_mp_put_str(j->out, (const char *)tmp->data, tmp->len);
                skip_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return -FLOW_EMALFORMED;
                j->p++;
            }
            if ((rc = value(j, tmp, depth + 1)))
                return rc;
            if (n == UINT32_MAX)
                return -FLOW_EMALFORMED;
            n++;
            skip_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                close_container(j->out, at, n);
                return j->out->err;
            }
            return -FLOW_EMALFORMED;
        }
    }
    case '"':
        if ((rc = string(j, tmp)))
            return rc;
        flow_mp_put_str(j->out, (const char *)tmp->data, tmp->len);
        return j->out->err;
    case 't':
        if (!lit(j, "true"))
            return -FLOW_EMALFORMED;
        flow_mp_put_bool(j->out, true);
        return j->out->err;
    case 'f':
        if (!lit(j, "false"))
            return -FLOW_EMALFORMED;
        flow_mp_put_bool(j->out, false);
        return j->out->err;
    case 'n':
        if (!lit(j, "null"))
            return -FLOW_EMALFORMED;
        flow_mp_put_nil(j->out);
        return j->out->err;
    default:
        if ((rc = number(j)))
            return rc;
        return j->out->err;
    }
}

int fileline_json(flow_buf *out, const char *data, size_t len)
{
    if (out->err)
        return out->err;
    size_t start = out->len;
    flow_buf tmp;
    flow_buf_init(&tmp);
    struct jp j = { data, data + len, out };
    int rc = value(&j, &tmp, 0);
    if (!rc) {
        skip_ws(&j);
        if (j.p != j.end)
            rc = -FLOW_EMALFORMED;
    }
    if (!rc && tmp.err)
        rc = tmp.err;
    flow_buf_fini(&tmp);
    if (rc == -FLOW_EMALFORMED && !out->err)
        out->len = start;
    return rc;
}

int fileline_payload(flow_buf *out, const char *data, size_t len, bool *is_json)
{
    int rc = fileline_json(out, data, len);
    *is_json = rc == 0;
    if (rc != -FLOW_EMALFORMED)
        return rc;
    flow_mp_put_str(out, data, len);
    return out->err;
}

/* ---- The position --------------------------------------------------- */

void filepos_init(struct filepos *p)
{
    memset(p, 0, sizeof *p);
}

static void clear(struct filepos *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].name);
    p->n = 0;
}

void filepos_fini(struct filepos *p)
{
    clear(p);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* The index where name is or would go. */
static size_t slot(const struct filepos *p, const char *name, bool *found)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

struct filepos_entry *filepos_find(struct filepos *p, const char *name)
{
    bool found;
    size_t i = slot(p, name, &found);
    return found ? &p->v[i] : NULL;
}

struct filepos_entry *filepos_get(struct filepos *p, const char *name)
{
    bool found;
    size_t i = slot(p, name, &found);
    if (found)
        return &p->v[i];
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct filepos_entry *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return NULL;
        p->v = v;
        p->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    memmove(&p->v[i + 1], &p->v[i], (p->n - i) * sizeof *p->v);
    p->v[i] = (struct filepos_entry){ .name = copy };
    p->n++;
    return &p->v[i];
}

void filepos_snapshot(const struct filepos *p, flow_buf *out)
{
    flow_mp_put_array(out, 2);
    flow_mp_put_uint(out, 1);
    flow_mp_put_array(out, (uint32_t)p->n);
    for (size_t i = 0; i < p->n; i++) {
        flow_mp_put_array(out, 3);
        flow_mp_put_cstr(out, p->v[i].name);
        flow_mp_put_uint(out, p->v[i].offset);
        flow_mp_put_bool(out, p->v[i].done);
    }
}

int filepos_restore(struct filepos *p, const void *data, size_t len)
{
    flow_mp_reader r;
    flow_mp_value v, name, off, done;
    char buf[4096];
    clear(p);
    flow_mp_reader_init(&r, data, len);
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY || v.len != 2 ||
        flow_mp_read(&r, &v) || v.type != FLOW_MP_INT || v.u != 1 || v.is_neg ||
        flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY)
        return -FLOW_EMALFORMED;
    uint32_t n = v.len;
    for (uint32_t i = 0; i < n; i++) {
        if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY || v.len != 3 ||
            flow_mp_read(&r, &name) || name.type != FLOW_MP_STR ||
            name.len == 0 || name.len >= sizeof buf ||
            memchr(name.str, '\0', name.len) || flow_mp_read(&r, &off) ||
            off.type != FLOW_MP_INT || off.is_neg || flow_mp_read(&r, &done) ||
            done.type != FLOW_MP_BOOL)
            goto malformed;
        memcpy(buf, name.str, name.len);
        buf[name.len] = '\0';
        if (filepos_find(p, buf))
            goto malformed;
        struct filepos_entry *e = filepos_get(p, buf);
        if (!e) {
            clear(p);
            return -FLOW_ENOMEM;
        }
        e->offset = off.u;
        e->done = done.b;
    }
    if (flow_mp_remaining(&r) != 0)
        goto malformed;
    return 0;

malformed:
    clear(p);
    return -FLOW_EMALFORMED;
}
