/*
 * Payload fields by name (see flow/fieldpath.h).
 */
#include "flow/fieldpath.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "flow/error.h"

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

int flow_fieldpath_find(const void *payload, size_t len, const char *path,
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

int flow_fieldpath_text(const flow_mp_value *v, char *buf, size_t n,
                        const char **s)
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
