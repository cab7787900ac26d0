/* ingest_decode: bodies to msgpack payloads and byte streams to frames
 * (ingest_decode.h). */
#include "ingest_decode.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flow/error.h"

/* A JSON parser over one text: where it is, for the error position. */
struct jp {
    const char *s;
    size_t len;
    size_t pos;
    uint32_t line0;
    flow_buf *out;
    ingest_error *err;
};

static int jp_fail(struct jp *p, const char *what)
{
    uint32_t line = p->line0, col = 1;
    size_t end = p->pos < p->len ? p->pos : p->len;
    for (size_t i = 0; i < end; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    p->err->line = line;
    p->err->column = col;
    snprintf(p->err->what, sizeof(p->err->what), "%s", what);
    return -FLOW_EMALFORMED;
}

static void jp_ws(struct jp *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Reserves a 5-byte msgpack header (array32, map32 or str32) whose count
 * is patched when known; returns its offset. */
static size_t put_hdr32(flow_buf *b, uint8_t tag)
{
    size_t at = b->len;
    uint8_t h[5] = { tag, 0, 0, 0, 0 };
    flow_buf_append(b, h, 5);
    return at;
}

static void patch_hdr32(flow_buf *b, size_t at, uint32_t n)
{
    if (b->err)
        return;
    b->data[at + 1] = (uint8_t)(n >> 24);
    b->data[at + 2] = (uint8_t)(n >> 16);
    b->data[at + 3] = (uint8_t)(n >> 8);
    b->data[at + 4] = (uint8_t)n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int jp_hex4(struct jp *p, uint32_t *v)
{
    if (p->len - p->pos < 4)
        return jp_fail(p, "truncated \\u escape");
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + i]);
        if (h < 0)
            return jp_fail(p, "bad hex digit in \\u escape");
        x = x << 4 | (uint32_t)h;
    }
    p->pos += 4;
    *v = x;
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
        u[0] = (uint8_t)(0xC0 | cp >> 6);
        u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | cp >> 12);
        u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xF0 | cp >> 18);
        u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    flow_buf_append(b, u, n);
}

/* At the opening quote: the string, as a msgpack str. */
static int jp_string(struct jp *p)
{
    size_t at = put_hdr32(p->out, 0xdb);
    size_t start = p->out->len;
    p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return jp_fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return jp_fail(p, "control character in string");
        if (c != '\\') {
            size_t run = p->pos;
            while (run < p->len && p->s[run] != '"' && p->s[run] != '\\' &&
                   (unsigned char)p->s[run] >= 0x20)
                run++;
            flow_buf_append(p->out, p->s + p->pos, run - p->pos);
            p->pos = run;
            continue;
        }
        p->pos++;
        if (p->pos >= p->len)
            return jp_fail(p, "unterminated string");
        char e = p->s[p->pos++];
        uint8_t ch;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            ch = (uint8_t)e;
            break;
        case 'b':
            ch = '\b';
            break;
        case 'f':
            ch = '\f';
            break;
        case 'n':
            ch = '\n';
            break;
        case 'r':
            ch = '\r';
            break;
        case 't':
            ch = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            int rc = jp_hex4(p, &cp);
            if (rc)
                return rc;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
                    p->s[p->pos + 1] != 'u')
                    return jp_fail(p, "lone high surrogate in \\u escape");
                p->pos += 2;
                if ((rc = jp_hex4(p, &lo)))
                    return rc;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return jp_fail(p, "bad low surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return jp_fail(p, "lone low surrogate in \\u escape");
            }
            put_utf8(p->out, cp);
            continue;
        }
        default:
            p->pos--;
            return jp_fail(p, "bad escape in string");
        }
        flow_buf_append(p->out, &ch, 1);
    }
    size_t n = p->out->len - start;
    if (p->out->err)
        return p->out->err;
    if (n > UINT32_MAX)
        return jp_fail(p, "string too long");
    patch_hdr32(p->out, at, (uint32_t)n);
    return 0;
}

static int jp_number(struct jp *p)
{
    size_t st = p->pos;
    bool frac = false;
    if (p->s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return jp_fail(p, "expected a digit");
    if (p->s[p->pos] == '0') {
        p->pos++;
    } else {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        frac = true;
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return jp_fail(p, "expected a digit after '.'");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        frac = true;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return jp_fail(p, "expected a digit in the exponent");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    char tmp[64];
    size_t n = p->pos - st;
    if (n >= sizeof(tmp)) {
        /* Long digit strings: a double is all they can be. */
        frac = true;
        n = sizeof(tmp) - 1;
    }
    memcpy(tmp, p->s + st, n);
    tmp[n] = 0;
    if (!frac) {
        char *end;
        errno = 0;
        if (tmp[0] == '-') {
            long long v = strtoll(tmp, &end, 10);
            if (errno == 0) {
                flow_mp_put_int(p->out, v);
                return p->out->err;
            }
        } else {
            unsigned long long v = strtoull(tmp, &end, 10);
            if (errno == 0) {
                flow_mp_put_uint(p->out, v);
                return p->out->err;
            }
        }
    }
    /* strtod of the whole token (a long one is copied whole). */
    char *big = NULL;
    const char *txt = tmp;
    if (p->pos - st >= sizeof(tmp)) {
        big = malloc(p->pos - st + 1);
        if (!big)
            return -FLOW_ENOMEM;
        memcpy(big, p->s + st, p->pos - st);
        big[p->pos - st] = 0;
        txt = big;
    }
    double d = strtod(txt, NULL);
    free(big);
    flow_mp_put_double(p->out, d);
    return p->out->err;
}

static int jp_lit(struct jp *p, const char *lit)
{
    size_t n = strlen(lit);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0)
        return jp_fail(p, "unexpected character");
    p->pos += n;
    return 0;
}

static int jp_value(struct jp *p, int depth)
{
    int rc;
    jp_ws(p);
    if (p->pos >= p->len)
        return jp_fail(p, "unexpected end of input");
    char c = p->s[p->pos];
    switch (c) {
    case '{': {
        if (depth >= INGEST_JSON_MAX_DEPTH)
            return jp_fail(p, "nested too deeply");
        size_t at = put_hdr32(p->out, 0xdf);
        uint32_t n = 0;
        p->pos++;
        jp_ws(p);
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            patch_hdr32(p->out, at, 0);
            return p->out->err;
        }
        for (;;) {
            jp_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return jp_fail(p, "expected a string key");
            if ((rc = jp_string(p)))
                return rc;
            jp_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return jp_fail(p, "expected ':'");
            p->pos++;
            if ((rc = jp_value(p, depth + 1)))
                return rc;
            n++;
            jp_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == '}') {
                p->pos++;
                break;
            }
            return jp_fail(p, "expected ',' or '}'");
        }
        patch_hdr32(p->out, at, n);
        return p->out->err;
    }
    case '[': {
        if (depth >= INGEST_JSON_MAX_DEPTH)
            return jp_fail(p, "nested too deeply");
        size_t at = put_hdr32(p->out, 0xdd);
        uint32_t n = 0;
        p->pos++;
        jp_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            patch_hdr32(p->out, at, 0);
            return p->out->err;
        }
        for (;;) {
            if ((rc = jp_value(p, depth + 1)))
                return rc;
            n++;
            jp_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == ']') {
                p->pos++;
                break;
            }
            return jp_fail(p, "expected ',' or ']'");
        }
        patch_hdr32(p->out, at, n);
        return p->out->err;
    }
    case '"':
        return jp_string(p);
    case 't':
        if ((rc = jp_lit(p, "true")))
            return rc;
        flow_mp_put_bool(p->out, true);
        return p->out->err;
    case 'f':
        if ((rc = jp_lit(p, "false")))
            return rc;
        flow_mp_put_bool(p->out, false);
        return p->out->err;
    case 'n':
        if ((rc = jp_lit(p, "null")))
            return rc;
        flow_mp_put_nil(p->out);
        return p->out->err;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return jp_number(p);
        return jp_fail(p, "unexpected character");
    }
}

int ingest_json_to_mp(const char *text, size_t len, uint32_t line0,
                      flow_buf *out, ingest_error *err)
{
    struct jp p = { text, len, 0, line0, out, err };
    int rc = jp_value(&p, 0);
    if (rc)
        return rc;
    jp_ws(&p);
    if (p.pos != p.len)
        return jp_fail(&p, "unexpected text after the value");
    return 0;
}

int ingest_body_of(const char *ct, size_t len, ingest_body *kind)
{
    static const struct {
        const char *name;
        ingest_body kind;
    } types[] = {
        { "application/json", INGEST_BODY_JSON },
        { "application/x-ndjson", INGEST_BODY_NDJSON },
        { "text/plain", INGEST_BODY_TEXT },
        { "application/msgpack", INGEST_BODY_MSGPACK },
        { "application/x-msgpack", INGEST_BODY_MSGPACK },
    };
    size_t n = 0;
    while (n < len && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t')
        n++;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strlen(types[i].name) == n &&
            strncasecmp(types[i].name, ct, n) == 0) {
            *kind = types[i].kind;
            return 0;
        }
    }
    return -1;
}

static void set_err(ingest_error *err, uint32_t line, uint32_t col,
                    const char *what)
{
    err->line = line;
    err->column = col;
    snprintf(err->what, sizeof(err->what), "%s", what);
}

/* A JSON body: a top-level array is one event per element. */
static int decode_json(const char *s, size_t len, flow_buf *scratch,
                       ingest_event_fn fn, void *arg, ingest_error *err)
{
    struct jp p = { s, len, 0, 1, scratch, err };
    jp_ws(&p);
    if (p.pos >= len || s[p.pos] != '[') {
        flow_buf_reset(scratch);
        int rc = ingest_json_to_mp(s, len, 1, scratch, err);
        if (rc)
            return rc;
        return fn(arg, scratch->data, scratch->len);
    }
    p.pos++;
    jp_ws(&p);
    if (p.pos < len && s[p.pos] == ']') {
        p.pos++;
    } else {
        for (;;) {
            flow_buf_reset(scratch);
            int rc = jp_value(&p, 1);
            if (rc)
                return rc;
            if (scratch->err)
                return scratch->err;
            if ((rc = fn(arg, scratch->data, scratch->len)))
                return rc;
            jp_ws(&p);
            if (p.pos < len && s[p.pos] == ',') {
                p.pos++;
                continue;
            }
            if (p.pos < len && s[p.pos] == ']') {
                p.pos++;
                break;
            }
            return jp_fail(&p, "expected ',' or ']'");
        }
    }
    jp_ws(&p);
    if (p.pos != len)
        return jp_fail(&p, "unexpected text after the value");
    return 0;
}

static int decode_ndjson(const char *s, size_t len, flow_buf *scratch,
                         ingest_event_fn fn, void *arg, ingest_error *err)
{
    uint32_t line = 1;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(s + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - s) : len;
        size_t e = end;
        if (e > pos && s[e - 1] == '\r')
            e--;
        size_t b = pos;
        while (b < e && (s[b] == ' ' || s[b] == '\t'))
            b++;
        if (b < e) {
            flow_buf_reset(scratch);
            /* Columns count from the line's start. */
            int rc = ingest_json_to_mp(s + pos, e - pos, line, scratch, err);
            if (rc)
                return rc;
            if ((rc = fn(arg, scratch->data, scratch->len)))
                return rc;
        }
        pos = nl ? end + 1 : len;
        line++;
    }
    return 0;
}

int ingest_decode(ingest_body kind, const void *body, size_t len,
                  flow_buf *scratch, ingest_event_fn fn, void *arg,
                  ingest_error *err)
{
    switch (kind) {
    case INGEST_BODY_JSON:
        return decode_json(body, len, scratch, fn, arg, err);
    case INGEST_BODY_NDJSON:
        return decode_ndjson(body, len, scratch, fn, arg, err);
    case INGEST_BODY_TEXT:
        flow_buf_reset(scratch);
        flow_mp_put_str(scratch, body, len);
        if (scratch->err)
            return scratch->err;
        return fn(arg, scratch->data, scratch->len);
    case INGEST_BODY_MSGPACK:
        if (len == 0 || flow_mp_validate(body, len) != 0) {
            set_err(err, 1, 1, "not one whole msgpack value");
            return -FLOW_EMALFORMED;
        }
        return fn(arg, body, len);
    }
    set_err(err, 1, 1, "unknown body kind");
    return -FLOW_EMALFORMED;
}

int ingest_framing_of(const char *name, ingest_framing *f)
{
    if (strcmp(name, "LF") == 0)
        *f = INGEST_FRAME_LF;
    else if (strcmp(name, "CRLF") == 0)
        *f = INGEST_FRAME_CRLF;
    else if (strcmp(name, "L4") == 0)
        *f = INGEST_FRAME_L4;
    else
        return -1;
    return 0;
}

int ingest_frame_next(ingest_framing f, const uint8_t *buf, size_t len,
                      size_t max, const uint8_t **frame, size_t *flen,
                      size_t *used)
{
    if (f == INGEST_FRAME_L4) {
        if (len < 4)
            return 0;
        uint32_t n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
                     (uint32_t)buf[2] << 8 | buf[3];
        if (n > max)
            return -FLOW_ETOOBIG;
        if (len - 4 < n)
            return 0;
        *frame = buf + 4;
        *flen = n;
        *used = 4 + (size_t)n;
        return 1;
    }
    size_t scan = len < max + 2 ? len : max + 2;
    for (size_t i = 0; i < scan; i++) {
        if (buf[i] != '\n')
            continue;
        if (f == INGEST_FRAME_CRLF && (i == 0 || buf[i - 1] != '\r'))
            continue;
        size_t n = f == INGEST_FRAME_CRLF ? i - 1 : i;
        if (n > max)
            return -FLOW_ETOOBIG;
        *frame = buf;
        *flen = n;
        *used = i + 1;
        return 1;
    }
    if (len > max + 1)
        return -FLOW_ETOOBIG;
    return 0;
}
