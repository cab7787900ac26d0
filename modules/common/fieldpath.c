/*
 * fieldpath.c - payload fields by name (see fieldpath.h).
 */
#include "fieldpath.h"

#include "flow/error.h"
#include "flow/iso8601.h"

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
        return flow_iso8601_parse(v->str, v->len, sec) == 0;
    default:
        return false;
    }
}
