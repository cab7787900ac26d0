/* ingest_http: the request head parser (ingest_http.h). */
#include "ingest_http.h"

#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Copies a field value (trimmed) into out; false when it does not fit. */
static bool copy_value(const char *v, size_t n, char *out, size_t cap)
{
    while (n > 0 && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= cap)
        return false;
    memcpy(out, v, n);
    out[n] = 0;
    return true;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Whether a comma-separated field value lists token (any case). */
static bool lists(const char *v, const char *token)
{
    size_t t = strlen(token);
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == t && strncasecmp(s, token, t) == 0)
            return true;
    }
    return false;
}

long ingest_http_head(const char *buf, size_t len, ingest_head *h)
{
    size_t scan = len < INGEST_HEAD_MAX ? len : INGEST_HEAD_MAX;
    const char *end = NULL;
    for (size_t i = 3; i < scan; i++) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
            buf[i - 3] == '\r') {
            end = buf + i + 1;
            break;
        }
    }
    if (!end)
        return len >= INGEST_HEAD_MAX ? -431 : 0;

    memset(h, 0, sizeof(*h));
    /* Request line: METHOD SP target SP HTTP/1.x CRLF */
    const char *p = buf, *eol = memchr(buf, '\r', (size_t)(end - buf));
    if (!eol || eol[1] != '\n')
        return -400;
    const char *sp = memchr(p, ' ', (size_t)(eol - p));
    if (!sp || sp == p || (size_t)(sp - p) >= sizeof(h->method))
        return -400;
    for (const char *c = p; c < sp; c++)
        if (!is_tchar((unsigned char)*c))
            return -400;
    memcpy(h->method, p, (size_t)(sp - p));
    p = sp + 1;
    sp = memchr(p, ' ', (size_t)(eol - p));
    if (!sp || sp == p)
        return -400;
    const char *q = memchr(p, '?', (size_t)(sp - p));
    const char *pend = q ? q : sp;
    for (const char *c = p; c < sp; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return -400;
    if ((size_t)(pend - p) >= sizeof(h->path))
        return -414;
    memcpy(h->path, p, (size_t)(pend - p));
    if (q) {
        size_t qn = (size_t)(sp - q - 1);
        if (qn >= sizeof(h->query)) {
            h->query_long = true;
            qn = sizeof(h->query) - 1;
        }
        memcpy(h->query, q + 1, qn);
    }
    p = sp + 1;
    if (eol - p != 8 || memcmp(p, "HTTP/1.", 7) != 0)
        return -505;
    if (p[7] != '0' && p[7] != '1')
        return -505;
    h->minor = p[7] - '0';
    h->keep_alive = h->minor == 1;

    int fields = 0;
    char conn[128] = "", te[128] = "";
    for (p = eol + 2; p < end - 2; p = eol + 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol[1] != '\n')
            return -400;
        if (++fields > INGEST_FIELDS_MAX)
            return -431;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p)
            return -400;
        for (const char *c = p; c < colon; c++)
            if (!is_tchar((unsigned char)*c))
                return -400;
        for (const char *c = colon + 1; c < eol; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                return -400;
        size_t nn = (size_t)(colon - p);
        const char *v = colon + 1;
        size_t vn = (size_t)(eol - v);
        if (name_is(p, nn, "content-length")) {
            char num[32];
            if (!copy_value(v, vn, num, sizeof(num)) || !num[0])
                return -400;
            uint64_t x = 0;
            for (const char *c = num; *c; c++) {
                if (*c < '0' || *c > '9' || x > (UINT64_MAX - 9) / 10)
                    return -400;
                x = x * 10 + (uint64_t)(*c - '0');
            }
            if (h->has_length && h->content_length != x)
                return -400;
            h->has_length = true;
            h->content_length = x;
        } else if (name_is(p, nn, "content-type")) {
            if (!copy_value(v, vn, h->content_type, sizeof(h->content_type)))
                return -431;
        } else if (name_is(p, nn, "authorization")) {
            if (!copy_value(v, vn, h->authorization, sizeof(h->authorization)))
                return -431;
        } else if (name_is(p, nn, "if-match")) {
            if (!copy_value(v, vn, h->if_match, sizeof(h->if_match)))
                return -431;
        } else if (name_is(p, nn, "connection")) {
            if (!copy_value(v, vn, conn, sizeof(conn)))
                return -431;
        } else if (name_is(p, nn, "expect")) {
            char ex[32];
            if (copy_value(v, vn, ex, sizeof(ex)) &&
                strcasecmp(ex, "100-continue") == 0)
                h->expect_continue = true;
        } else if (name_is(p, nn, "transfer-encoding")) {
            if (!copy_value(v, vn, te, sizeof(te)))
                return -431;
        }
    }
    if (te[0] && strcasecmp(te, "identity") != 0)
        h->chunked = true;
    if (lists(conn, "close"))
        h->keep_alive = false;
    else if (lists(conn, "keep-alive"))
        h->keep_alive = true;
    return (long)(end - buf);
}
