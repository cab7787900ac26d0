/*
 * fieldpath.c - payload fields by name (see fieldpath.h).
 */
#include "fieldpath.h"

#include "flow/fieldpath.h"

#include "flow/error.h"
#include "flow/iso8601.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int fieldpath_find(const void *payload, size_t len, const char *path,
                   flow_mp_value *v)
{
    return flow_fieldpath_find(payload, len, path, v);
}

int fieldpath_text(const flow_mp_value *v, char *buf, size_t n, const char **s)
{
    return flow_fieldpath_text(v, buf, n, s);
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
