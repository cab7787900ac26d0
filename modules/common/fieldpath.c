/*
 * fieldpath.c - payload fields by name (see fieldpath.h).
 */
#include "fieldpath.h"

#include "flow/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* flow_mp_map_find with a key that is not NUL-terminated. */
static int find_key(const void *data, size_t len, const char *key, size_t klen,
                    flow_mp_value *v)
{
    char tmp[256];
    if (klen >= sizeof(tmp))
        return -FLOW_ENOTFOUND;
    memcpy(tmp, key, klen);
    tmp[klen] = '\0';
    return flow_mp_map_find(data, len, tmp, v);
}

int fieldpath_find(const void *payload, size_t len, const char *path,
                   flow_mp_value *v)
{
    int rc = flow_mp_map_find(payload, len, path, v);
    if (rc != -FLOW_ENOTFOUND)
        return rc;
    const uint8_t *data = payload;
    size_t dlen = len;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t klen = dot ? (size_t)(dot - p) : strlen(p);
        rc = find_key(data, dlen, p, klen, v);
        if (rc < 0 || !dot)
            return rc;
        if (v->type != FLOW_MP_MAP)
            return -FLOW_ENOTFOUND;
        data = v->raw;
        dlen = v->raw_len;
        p = dot + 1;
    }
}

int fieldpath_text(const flow_mp_value *v, char *buf, size_t n, const char **s)
{
    int k;
    switch (v->type) {
    case FLOW_MP_STR:
        *s = v->str;
        return (int)v->len;
    case FLOW_MP_INT:
        if (v->is_neg)
            k = snprintf(buf, n, "%" PRId64, v->i);
        else
            k = snprintf(buf, n, "%" PRIu64, v->u);
        break;
    case FLOW_MP_FLOAT:
        k = snprintf(buf, n, "%.17g", v->f);
        break;
    case FLOW_MP_BOOL:
        k = snprintf(buf, n, "%s", v->b ? "true" : "false");
        break;
    case FLOW_MP_NIL:
        k = snprintf(buf, n, "null");
        break;
    default:
        return -1;
    }
    *s = buf;
    return k < 0 ? -1 : ((size_t)k >= n ? (int)n - 1 : k);
}

static int64_t from_magnitude(int64_t x)
{
    int64_t a = x < 0 ? -x : x;
    if (a <= 100000000000LL)
        return x;
    if (a <= 100000000000000LL)
        return x / 1000;
    return x / 1000000;
}

static bool digits(const char *s, size_t n, int64_t *out)
{
    int64_t x = 0;
    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *out = x;
    return true;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool iso8601(const char *s, size_t n, int64_t *sec)
{
    /* YYYY-MM-DDTHH:MM:SS, then optionally .fff and Z. */
    int64_t y, mo, d, h, mi, se;
    if (n < 19 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
        !digits(s + 17, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ;
    }
    if (i < n && s[i] == 'Z')
        i++;
    if (i != n)
        return false;
    *sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
           mi * 60 + se;
    return true;
}

bool fieldpath_epoch_seconds(const flow_mp_value *v, int64_t *sec)
{
    int64_t x;
    switch (v->type) {
    case FLOW_MP_INT:
        if (!v->is_neg && v->u > INT64_MAX)
            return false;
        *sec = from_magnitude(v->is_neg ? v->i : (int64_t)v->u);
        return true;
    case FLOW_MP_FLOAT:
        if (!isfinite(v->f) || fabs(v->f) > 1e15)
            return false;
        *sec = (int64_t)floor(v->f);
        return true;
    case FLOW_MP_STR:
        if (digits(v->str, v->len, &x)) {
            *sec = from_magnitude(x);
            return true;
        }
        return iso8601(v->str, v->len, sec);
    default:
        return false;
    }
}
