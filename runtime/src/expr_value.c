/*
 * Expression values: the scratch arena they may live in, their conversion
 * from msgpack items, their text and their msgpack form.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_impl.h"
#include "flow/error.h"
#include "flow/mpjson.h"

#define CHUNK_MIN 4096

void flow_expr_scratch_init(flow_expr_scratch *sc)
{
    *sc = (flow_expr_scratch){ 0 };
}

void flow_expr_scratch_fini(flow_expr_scratch *sc)
{
    struct flow__expr_chunk *c = sc->chunks;
    while (c) {
        struct flow__expr_chunk *next = c->next;
        free(c);
        c = next;
    }
    pcre2_match_data_free(sc->match);
    *sc = (flow_expr_scratch){ 0 };
}

/* Empties the arena; keeps its newest (largest) chunk. */
void flow__expr_scratch_reset(flow_expr_scratch *sc)
{
    struct flow__expr_chunk *c = sc->chunks;
    sc->used = 0;
    if (!c)
        return;
    struct flow__expr_chunk *old = c->next;
    while (old) {
        struct flow__expr_chunk *next = old->next;
        free(old);
        old = next;
    }
    c->next = NULL;
    c->used = 0;
}

void *flow__expr_alloc(flow_expr_scratch *sc, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (n > FLOW_EXPR_MAX_SCRATCH || sc->used + n > FLOW_EXPR_MAX_SCRATCH)
        return NULL;
    struct flow__expr_chunk *c = sc->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : CHUNK_MIN;
        while (cap < n)
            cap *= 2;
        struct flow__expr_chunk *nc = malloc(sizeof(*nc) + cap);
        if (!nc)
            return NULL;
        nc->next = c;
        nc->cap = cap;
        nc->used = 0;
        sc->chunks = nc;
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    sc->used += n;
    return p;
}

int flow__expr_from_mp(const flow_mp_value *m, flow_expr_value *out)
{
    switch (m->type) {
    case FLOW_MP_NIL:
        *out = (flow_expr_value){ .type = FLOW_EXPR_NIL };
        return 0;
    case FLOW_MP_BOOL:
        *out = (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = m->b };
        return 0;
    case FLOW_MP_INT:
        if (!m->is_neg && m->u > (uint64_t)INT64_MAX)
            *out = (flow_expr_value){ .type = FLOW_EXPR_DOUBLE, .d = m->f };
        else
            *out = (flow_expr_value){ .type = FLOW_EXPR_INT, .i = m->i };
        return 0;
    case FLOW_MP_FLOAT:
        *out = (flow_expr_value){ .type = FLOW_EXPR_DOUBLE, .d = m->f };
        return 0;
    case FLOW_MP_STR:
    case FLOW_MP_BIN:
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                  .len = m->len,
                                  .s = m->str };
        return 0;
    case FLOW_MP_ARRAY:
    case FLOW_MP_MAP:
        *out = (flow_expr_value){
            .type = m->type == FLOW_MP_ARRAY ? FLOW_EXPR_LIST : FLOW_EXPR_MAP,
            .len = m->len,
            .raw = m->raw,
            .raw_len = m->raw_len,
        };
        return 0;
    default:
        *out = (flow_expr_value){ .type = FLOW_EXPR_NIL };
        return -FLOW_EXPR_ETYPE;
    }
}

const char *flow_expr_type_name(flow_expr_type t)
{
    static const char *const names[] = { "null",   "boolean", "int", "double",
                                         "string", "list",    "map" };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

bool flow_expr_value_bool(const flow_expr_value *v, bool *b)
{
    if (v->type != FLOW_EXPR_BOOL)
        return false;
    *b = v->b;
    return true;
}

void flow_expr_value_write(const flow_expr_value *v, flow_buf *b)
{
    switch (v->type) {
    case FLOW_EXPR_NIL:
        flow_mp_put_nil(b);
        break;
    case FLOW_EXPR_BOOL:
        flow_mp_put_bool(b, v->b);
        break;
    case FLOW_EXPR_INT:
        flow_mp_put_int(b, v->i);
        break;
    case FLOW_EXPR_DOUBLE:
        flow_mp_put_double(b, v->d);
        break;
    case FLOW_EXPR_STR:
        flow_mp_put_str(b, v->s, v->len);
        break;
    case FLOW_EXPR_LIST:
        if (v->raw) {
            flow_mp_put_raw(b, v->raw, v->raw_len);
            break;
        }
        flow_mp_put_array(b, v->len);
        for (uint32_t i = 0; i < v->len; i++)
            flow_expr_value_write(&v->items[i], b);
        break;
    case FLOW_EXPR_MAP:
        flow_mp_put_raw(b, v->raw, v->raw_len);
        break;
    }
}

static int copy_out(flow_expr_scratch *sc, const char *s, size_t n,
                    const char **out, size_t *len)
{
    char *p = flow__expr_alloc(sc, n + 1);
    if (!p)
        return -FLOW_EXPR_ELIMIT;
    memcpy(p, s, n);
    p[n] = '\0';
    *out = p;
    *len = n;
    return 0;
}

int flow_expr_value_text(const flow_expr_value *v, flow_expr_scratch *sc,
                         const char **s, size_t *len)
{
    char tmp[64];
    int n;
    switch (v->type) {
    case FLOW_EXPR_STR:
        *s = v->s;
        *len = v->len;
        return 0;
    case FLOW_EXPR_NIL:
        *s = "null";
        *len = 4;
        return 0;
    case FLOW_EXPR_BOOL:
        *s = v->b ? "true" : "false";
        *len = strlen(*s);
        return 0;
    case FLOW_EXPR_INT:
        n = snprintf(tmp, sizeof(tmp), "%" PRId64, v->i);
        return copy_out(sc, tmp, (size_t)n, s, len);
    case FLOW_EXPR_DOUBLE:
        /* Whole numbers as 1000.0 (as Java prints a double), others in
         * the shortest text that reads back as the same double. */
        if (isfinite(v->d) && fabs(v->d) < 1e15 &&
            v->d == (double)(int64_t)v->d) {
            n = snprintf(tmp, sizeof(tmp), "%.1f", v->d);
            return copy_out(sc, tmp, (size_t)n, s, len);
        }
        n = snprintf(tmp, sizeof(tmp), "%.17g", v->d);
        for (int prec = 1; prec < 17; prec++) {
            char t2[64];
            int m = snprintf(t2, sizeof(t2), "%.*g", prec, v->d);
            if (strtod(t2, NULL) == v->d) {
                memcpy(tmp, t2, (size_t)m + 1);
                n = m;
                break;
            }
        }
        return copy_out(sc, tmp, (size_t)n, s, len);
    case FLOW_EXPR_LIST:
    case FLOW_EXPR_MAP: {
        flow_buf mp, js;
        flow_buf_init(&mp);
        flow_buf_init(&js);
        const uint8_t *raw = v->raw;
        size_t raw_len = v->raw_len;
        if (!raw) {
            flow_expr_value_write(v, &mp);
            raw = mp.data;
            raw_len = mp.len;
        }
        int rc = mp.err ? -FLOW_EXPR_ENOMEM : 0;
        if (!rc && flow_mpjson_append(&js, raw, raw_len))
            rc = js.err ? -FLOW_EXPR_ENOMEM : -FLOW_EXPR_EPAYLOAD;
        if (!rc)
            rc = copy_out(sc, (const char *)js.data, js.len, s, len);
        flow_buf_fini(&mp);
        flow_buf_fini(&js);
        return rc;
    }
    }
    return -FLOW_EXPR_ETYPE;
}

int flow__expr_jsonpath_check(const char *p, size_t len, size_t *bad)
{
    size_t i = 0;
    if (len == 0 || p[0] != '$') {
        *bad = 0;
        return -1;
    }
    i = 1;
    while (i < len) {
        if (p[i] == '.') {
            size_t s = ++i;
            while (i < len && p[i] != '.' && p[i] != '[')
                i++;
            if (i == s) {
                *bad = i;
                return -1;
            }
        } else if (p[i] == '[') {
            i++;
            if (i < len && (p[i] == '\'' || p[i] == '"')) {
                char q = p[i++];
                while (i < len && p[i] != q)
                    i++;
                if (i >= len) {
                    *bad = i;
                    return -1;
                }
                i++;
            } else {
                size_t s = i;
                while (i < len && p[i] >= '0' && p[i] <= '9')
                    i++;
                if (i == s) {
                    *bad = i;
                    return -1;
                }
            }
            if (i >= len || p[i] != ']') {
                *bad = i;
                return -1;
            }
            i++;
        } else {
            *bad = i;
            return -1;
        }
    }
    return 0;
}
