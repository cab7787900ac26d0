/* The pure pieces of flowd's HTTP/1.1 server; see httpparse.h. */
#include "httpparse.h"
#include "util.h"

#include <string.h>
#include <strings.h>

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool ieq(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* True when the comma-separated list value holds token tok. */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t e = j;
        while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (ieq(v + i, e - i, tok))
            return true;
        i = j;
    }
    return false;
}

static int copy_value(char *dst, size_t size, const char *v, size_t n)
{
    if (n >= size)
        return -SRV_EHEAD;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

/* Parses the request line [p, p + n) (without its line end). */
static int request_line(const char *p, size_t n, srv_http_head *h)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p)
        return -SRV_EINVAL;
    size_t mlen = (size_t)(sp1 - p);
    if (mlen >= sizeof h->method)
        return -SRV_EINVAL;
    for (size_t i = 0; i < mlen; i++)
        if (!tchar((unsigned char)p[i]))
            return -SRV_EINVAL;
    memcpy(h->method, p, mlen);
    h->method[mlen] = '\0';
    const char *t = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2)
        return (size_t)(end - t) > SRV_TARGET_MAX ? -SRV_ETARGET : -SRV_EINVAL;
    h->target = t;
    h->target_len = (size_t)(sp2 - t);
    if (h->target_len == 0)
        return -SRV_EINVAL;
    if (h->target_len > SRV_TARGET_MAX)
        return -SRV_ETARGET;
    for (size_t i = 0; i < h->target_len; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] == 0x7f)
            return -SRV_EINVAL;
    const char *v = sp2 + 1;
    size_t vlen = (size_t)(end - v);
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
        srv_hexval((unsigned char)v[5]) < 0 || v[5] > '9' ||
        srv_hexval((unsigned char)v[7]) < 0 || v[7] > '9')
        return -SRV_EINVAL;
    if (v[5] != '1')
        return -SRV_EVERSION;
    h->minor = v[7] - '0';
    h->keep_alive = h->minor >= 1;
    return 0;
}

/* Parses one header field line [p, p + n) (without its line end). */
static int field(const char *p, size_t n, srv_http_head *h, bool *seen_te)
{
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return -SRV_EINVAL;
    size_t nlen = (size_t)(colon - p);
    for (size_t i = 0; i < nlen; i++)
        if (!tchar((unsigned char)p[i]))
            return -SRV_EINVAL; /* also a space before the colon */
    const char *v = colon + 1, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -SRV_EINVAL;
    }
    if (ieq(p, nlen, "content-length")) {
        uint64_t x = 0;
        if (vlen == 0 || vlen > 18)
            return -SRV_EINVAL;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -SRV_EINVAL;
            x = x * 10 + (uint64_t)(v[i] - '0');
        }
        if (h->has_length && h->content_length != x)
            return -SRV_EINVAL;
        h->has_length = true;
        h->content_length = x;
    } else if (ieq(p, nlen, "transfer-encoding")) {
        if (*seen_te || !ieq(v, vlen, "chunked"))
            return -SRV_ENOTIMPL;
        *seen_te = true;
        h->chunked = true;
    } else if (ieq(p, nlen, "connection")) {
        if (has_token(v, vlen, "close"))
            h->keep_alive = false;
        else if (has_token(v, vlen, "keep-alive"))
            h->keep_alive = true;
    } else if (ieq(p, nlen, "expect")) {
        if (!ieq(v, vlen, "100-continue"))
            return -SRV_EEXPECT;
        h->expect_continue = true;
    } else if (ieq(p, nlen, "content-type")) {
        return copy_value(h->content_type, sizeof h->content_type, v, vlen);
    } else if (ieq(p, nlen, "authorization")) {
        return copy_value(h->authorization, sizeof h->authorization, v, vlen);
    }
    return 0;
}

long srv_http_parse_head(const char *buf, size_t len, srv_http_head *h)
{
    size_t pos = 0;
    bool first = true, seen_te = false;

    memset(h, 0, sizeof *h);
    /* Empty lines before the request line are ignored (RFC 9112 2.2). */
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n') && pos < 64)
        pos++;
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) {
            size_t part = len - pos;
            if (first && part > SRV_TARGET_MAX + 32)
                return -SRV_ETARGET;
            if (!first && part > SRV_FIELD_MAX)
                return -SRV_EHEAD;
            if (len > SRV_HEAD_MAX)
                return -SRV_EHEAD;
            return 0;
        }
        size_t next = (size_t)(nl - buf) + 1;
        if (next > SRV_HEAD_MAX)
            return first ? -SRV_ETARGET : -SRV_EHEAD;
        size_t n = (size_t)(nl - (buf + pos));
        if (n > 0 && buf[pos + n - 1] == '\r')
            n--;
        if (memchr(buf + pos, '\r', n))
            return -SRV_EINVAL; /* a bare CR inside a line */
        if (first) {
            int rc = request_line(buf + pos, n, h);
            if (rc)
                return rc;
            first = false;
        } else if (n == 0) {
            if (h->chunked && h->has_length)
                return -SRV_EINVAL; /* which one frames the body is unclear */
            return (long)next;
        } else {
            if (n > SRV_FIELD_MAX)
                return -SRV_EHEAD;
            if (buf[pos] == ' ' || buf[pos] == '\t')
                return -SRV_EINVAL; /* obsolete line folding */
            int rc = field(buf + pos, n, h, &seen_te);
            if (rc)
                return rc;
        }
        pos = next;
    }
}

bool srv_utf8_ok(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

long srv_form_decode(const char *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = srv_hexval((unsigned char)in[i + 1]);
            int lo = srv_hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0')
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return srv_utf8_ok(out, o) ? (long)o : -2;
}

/* Appends one decoded query component "name=value" (or "name") to query. */
static int query_part(const char *p, size_t n, char *query, size_t size,
                      size_t *qlen)
{
    const char *eq = memchr(p, '=', n);
    size_t nlen = eq ? (size_t)(eq - p) : n;
    size_t vlen = eq ? n - nlen - 1 : 0;
    if (*qlen + nlen + vlen + 2 > size)
        return SRV_TARGET_LONG;
    char *o = query + *qlen;
    long kn = srv_form_decode(p, nlen, o);
    if (kn < 0)
        return kn == -1 ? SRV_TARGET_QUERY_NUL : SRV_TARGET_QUERY_UTF8;
    /* An encoded '=' in a name must not end it when looked up. */
    for (long i = 0; i < kn; i++)
        if (o[i] == '=')
            o[i] = '_';
    long vn = 0;
    if (eq) {
        o[kn] = '=';
        vn = srv_form_decode(eq + 1, vlen, o + kn + 1);
        if (vn < 0)
            return vn == -1 ? SRV_TARGET_QUERY_NUL : SRV_TARGET_QUERY_UTF8;
        vn++;
    }
    *qlen += (size_t)(kn + vn) + 1;
    return SRV_TARGET_OK;
}

int srv_http_decode_target(const char *t, size_t len, char *path,
                           size_t path_size, char *query, size_t query_size,
                           size_t *query_len)
{
    size_t o = 0;
    size_t i = 0;

    *query_len = 0;
    path[0] = '\0';
    if (len == 0 || t[0] != '/')
        return SRV_TARGET_BAD;
    for (; i < len && t[i] != '?'; i++) {
        char c = t[i];
        if (c == '%') {
            if (i + 2 >= len)
                return SRV_TARGET_BAD;
            int hi = srv_hexval((unsigned char)t[i + 1]);
            int lo = srv_hexval((unsigned char)t[i + 2]);
            if (hi < 0 || lo < 0)
                return SRV_TARGET_BAD;
            c = (char)(hi << 4 | lo);
            i += 2;
            if (c == '\0')
                return SRV_TARGET_NUL;
        }
        if (o + 1 >= path_size)
            return SRV_TARGET_LONG;
        path[o++] = c;
    }
    path[o] = '\0';
    if (!srv_utf8_ok(path, o))
        return SRV_TARGET_UTF8;
    if (i < len)
        i++; /* the '?' */
    while (i < len) {
        size_t j = i;
        while (j < len && t[j] != '&')
            j++;
        if (j > i) {
            int rc = query_part(t + i, j - i, query, query_size, query_len);
            if (rc)
                return rc;
        }
        i = j + 1;
    }
    return SRV_TARGET_OK;
}

enum {
    S_SIZE,
    S_SIZE_MORE,
    S_SIZE_WS,
    S_EXT,
    S_SIZE_LF,
    S_DATA,
    S_DATA_CR,
    S_DATA_LF,
    S_TRAILER_START,
    S_TRAILER,
    S_TRAILER_LF,
    S_END_LF,
};

void srv_chunked_init(srv_chunked *c, size_t max)
{
    memset(c, 0, sizeof *c);
    c->state = S_SIZE;
    c->max = max;
}

int srv_chunked_feed(srv_chunked *c, const char *in, size_t len, char *out,
                     size_t *used)
{
    size_t i = 0;

    while (i < len) {
        unsigned char ch = (unsigned char)in[i];
        int h;
        switch (c->state) {
        case S_SIZE:
        case S_SIZE_MORE:
            h = srv_hexval(ch);
            if (h >= 0) {
                if (++c->digits > 15)
                    goto bad;
                c->left = c->left << 4 | (uint64_t)h;
                c->state = S_SIZE_MORE;
            } else if (c->state == S_SIZE) {
                goto bad;
            } else if (ch == ';') {
                c->state = S_EXT;
            } else if (ch == ' ' || ch == '\t') {
                c->state = S_SIZE_WS;
            } else if (ch == '\r') {
                c->state = S_SIZE_LF;
            } else {
                goto bad;
            }
            i++;
            break;
        case S_SIZE_WS:
            if (ch == ';')
                c->state = S_EXT;
            else if (ch == '\r')
                c->state = S_SIZE_LF;
            else if (ch != ' ' && ch != '\t')
                goto bad;
            i++;
            break;
        case S_EXT:
            if (ch == '\r')
                c->state = S_SIZE_LF;
            else if ((ch < 0x20 && ch != '\t') || ch == 0x7f ||
                     ++c->line > SRV_FIELD_MAX)
                goto bad;
            i++;
            break;
        case S_SIZE_LF:
            if (ch != '\n')
                goto bad;
            i++;
            c->line = 0;
            c->digits = 0;
            if (c->left == 0) {
                c->state = S_TRAILER_START;
            } else if (c->left > c->max - c->total) {
                *used = i;
                return SRV_CHUNKED_TOO_LARGE;
            } else {
                c->state = S_DATA;
            }
            break;
        case S_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->left)
                n = (size_t)c->left;
            memcpy(out + c->total, in + i, n);
            c->total += n;
            c->left -= n;
            i += n;
            if (c->left == 0)
                c->state = S_DATA_CR;
            break;
        }
        case S_DATA_CR:
            if (ch != '\r')
                goto bad;
            c->state = S_DATA_LF;
            i++;
            break;
        case S_DATA_LF:
            if (ch != '\n')
                goto bad;
            c->state = S_SIZE;
            i++;
            break;
        case S_TRAILER_START:
            if (ch == '\r') {
                c->state = S_END_LF;
            } else if (ch == '\n' || ch == ' ' || ch == '\t') {
                goto bad;
            } else {
                c->state = S_TRAILER;
                c->line++;
            }
            i++;
            break;
        case S_TRAILER:
            if (ch == '\r')
                c->state = S_TRAILER_LF;
            else if ((ch < 0x20 && ch != '\t') || ch == 0x7f ||
                     ++c->line > SRV_FIELD_MAX)
                goto bad;
            i++;
            break;
        case S_TRAILER_LF:
            if (ch != '\n')
                goto bad;
            c->state = S_TRAILER_START;
            i++;
            break;
        case S_END_LF:
            if (ch != '\n')
                goto bad;
            *used = i + 1;
            return SRV_CHUNKED_DONE;
        default:
            goto bad;
        }
    }
    *used = i;
    return SRV_CHUNKED_MORE;
bad:
    *used = i;
    return SRV_CHUNKED_BAD;
}
