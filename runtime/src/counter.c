/*
 * Analytics counters: an app adds increments, the runtime reports them on
 * the control socket once a second (docs/apps.md "counter") and keeps
 * totals for --flow.metrics-json.
 */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "flow/control.h"
#include "flow/error.h"

struct flow__cval {
    char *value; /* NULL = empty slot */
    uint32_t len;
    uint64_t total;
    uint64_t pending;
    bool ck_dirty; /* changed since the last barrier (under a guarantee) */
};

static const char *const kind_names[] = { "counter", "field-value-counter",
                                          "aggregate-counter" };

flow_counter *flow_counter_get(flow_ctx *ctx, flow_counter_kind kind,
                               const char *name)
{
    for (flow_counter *c = ctx->counters; c; c = c->next)
        if (c->kind == kind && !strcmp(c->name, name))
            return c;
    flow_counter *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->name = strdup(name);
    if (!c->name) {
        free(c);
        return NULL;
    }
    c->kind = kind;
    c->ctx = ctx;
    c->next = ctx->counters;
    ctx->counters = c;
    return c;
}

static uint64_t hash(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int sec_add(flow_counter *c, int64_t sec, uint64_t n)
{
    if (c->sec_n * 2 >= c->sec_cap) {
        uint32_t cap = c->sec_cap ? c->sec_cap * 2 : 8;
        int64_t *keys = malloc(cap * sizeof(*keys));
        uint64_t *vals = calloc(cap, sizeof(*vals));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -FLOW_ENOMEM;
        }
        for (uint32_t i = 0; i < cap; i++)
            keys[i] = INT64_MIN;
        for (uint32_t i = 0; i < c->sec_cap; i++) {
            if (c->sec_keys[i] == INT64_MIN)
                continue;
            uint32_t j = (uint32_t)hash(&c->sec_keys[i], 8) & (cap - 1);
            while (keys[j] != INT64_MIN)
                j = (j + 1) & (cap - 1);
            keys[j] = c->sec_keys[i];
            vals[j] = c->sec_vals[i];
        }
        free(c->sec_keys);
        free(c->sec_vals);
        c->sec_keys = keys;
        c->sec_vals = vals;
        c->sec_cap = cap;
    }
    uint32_t j = (uint32_t)hash(&sec, 8) & (c->sec_cap - 1);
    while (c->sec_keys[j] != INT64_MIN && c->sec_keys[j] != sec)
        j = (j + 1) & (c->sec_cap - 1);
    if (c->sec_keys[j] == INT64_MIN) {
        c->sec_keys[j] = sec;
        c->sec_vals[j] = 0;
        c->sec_n++;
    }
    c->sec_vals[j] += n;
    return 0;
}

/*
 * Adds n to the cumulative total of second sec (kept under a guarantee
 * only: the per-second totals since the restored base), marked changed
 * when mark.
 */
static int cum_add(flow_counter *c, int64_t sec, uint64_t n, bool mark)
{
    if (c->cum_n * 2 >= c->cum_cap) {
        uint32_t cap = c->cum_cap ? c->cum_cap * 2 : 16;
        int64_t *keys = malloc(cap * sizeof(*keys));
        uint64_t *vals = calloc(cap, sizeof(*vals));
        uint8_t *dirty = calloc(cap, 1);
        if (!keys || !vals || !dirty) {
            free(keys);
            free(vals);
            free(dirty);
            return -FLOW_ENOMEM;
        }
        for (uint32_t i = 0; i < cap; i++)
            keys[i] = INT64_MIN;
        for (uint32_t i = 0; i < c->cum_cap; i++) {
            if (c->cum_keys[i] == INT64_MIN)
                continue;
            uint32_t j = (uint32_t)hash(&c->cum_keys[i], 8) & (cap - 1);
            while (keys[j] != INT64_MIN)
                j = (j + 1) & (cap - 1);
            keys[j] = c->cum_keys[i];
            vals[j] = c->cum_vals[i];
            dirty[j] = c->cum_dirty[i];
        }
        free(c->cum_keys);
        free(c->cum_vals);
        free(c->cum_dirty);
        c->cum_keys = keys;
        c->cum_vals = vals;
        c->cum_dirty = dirty;
        c->cum_cap = cap;
    }
    uint32_t j = (uint32_t)hash(&sec, 8) & (c->cum_cap - 1);
    while (c->cum_keys[j] != INT64_MIN && c->cum_keys[j] != sec)
        j = (j + 1) & (c->cum_cap - 1);
    if (c->cum_keys[j] == INT64_MIN) {
        c->cum_keys[j] = sec;
        c->cum_n++;
    }
    c->cum_vals[j] += n;
    c->cum_dirty[j] |= mark;
    return 0;
}

static struct flow__cval *val_slot(flow_counter *c, const char *v, uint32_t len)
{
    if (c->val_n * 2 >= c->val_cap) {
        uint32_t cap = c->val_cap ? c->val_cap * 2 : 16;
        struct flow__cval *vals = calloc(cap, sizeof(*vals));
        if (!vals)
            return NULL;
        for (uint32_t i = 0; i < c->val_cap; i++) {
            struct flow__cval *o = &c->vals[i];
            if (!o->value)
                continue;
            uint32_t j = (uint32_t)hash(o->value, o->len) & (cap - 1);
            while (vals[j].value)
                j = (j + 1) & (cap - 1);
            vals[j] = *o;
        }
        free(c->vals);
        c->vals = vals;
        c->val_cap = cap;
    }
    uint32_t j = (uint32_t)hash(v, len) & (c->val_cap - 1);
    for (;;) {
        struct flow__cval *s = &c->vals[j];
        if (!s->value) {
            s->value = malloc(len + 1);
            if (!s->value)
                return NULL;
            memcpy(s->value, v, len);
            s->value[len] = '\0';
            s->len = len;
            c->val_n++;
            return s;
        }
        if (s->len == len && !memcmp(s->value, v, len))
            return s;
        j = (j + 1) & (c->val_cap - 1);
    }
}

int flow_counter_add(flow_counter *c, int64_t second, const char *value,
                     size_t value_len, uint64_t n)
{
    if (second < 0)
        second = c->ctx->now_us / 1000000;
    if (value_len > FLOW_WIRE_MAX_NAME * 4)
        value_len = FLOW_WIRE_MAX_NAME * 4;
    if (sec_add(c, second, n))
        return -FLOW_ENOMEM;
    if (c->ctx->ck) {
        if (cum_add(c, second, n, true))
            return -FLOW_ENOMEM;
        c->ck_dirty = true;
    }
    if (c->kind == FLOW_FIELD_VALUE_COUNTER && value) {
        struct flow__cval *s = val_slot(c, value, (uint32_t)value_len);
        if (!s)
            return -FLOW_ENOMEM;
        s->total += n;
        s->pending += n;
        s->ck_dirty = true;
    }
    bool first = c->total == 0;
    c->total += n;
    c->pending += n;
    c->dirty = true;
    /* The first count goes out at once, so a new deployment shows in
     * flowd's analytics without waiting for the once-a-second report. */
    if (first)
        flow__counters_report(c->ctx);
    return 0;
}

uint64_t flow_counter_total(const flow_counter *c, const char *value,
                            size_t value_len)
{
    if (!value)
        return c->total;
    for (uint32_t i = 0; i < c->val_cap; i++) {
        const struct flow__cval *s = &c->vals[i];
        if (s->value && s->len == value_len &&
            !memcmp(s->value, value, value_len))
            return s->total;
    }
    return 0;
}

/* The digits of a second, the key of the "seconds" map. */
#define SEC_KEY 24

/*
 * Encodes c's counter message into ctx->ctlbuf: the pending seconds (the
 * key text in one block) and, for a field-value counter, the values with
 * a pending count (keys borrowed from c).
 */
static int encode(flow_ctx *ctx, flow_counter *c)
{
    uint32_t nv = 0, ns = 0;
    for (uint32_t i = 0; i < c->val_cap; i++)
        nv += c->vals[i].value && c->vals[i].pending;
    flow_ctl_pair *pairs = malloc((c->sec_n + nv + 1) * sizeof(*pairs));
    char *keys = malloc((size_t)c->sec_n * SEC_KEY + 1);
    int rc = -FLOW_ENOMEM;
    if (!pairs || !keys)
        goto out;
    for (uint32_t i = 0; i < c->sec_cap; i++) {
        if (c->sec_keys[i] == INT64_MIN)
            continue;
        char *k = keys + (size_t)ns * SEC_KEY;
        int kl = snprintf(k, SEC_KEY, "%lld", (long long)c->sec_keys[i]);
        pairs[ns].key = (flow_ctl_str){ k, (uint32_t)kl };
        pairs[ns++].value = c->sec_vals[i];
    }
    flow_ctl_pair *vals = pairs + ns;
    nv = 0;
    for (uint32_t i = 0; i < c->val_cap; i++) {
        struct flow__cval *v = &c->vals[i];
        if (!v->value || !v->pending)
            continue;
        vals[nv].key = (flow_ctl_str){ v->value, v->len };
        vals[nv++].value = v->pending;
    }
    rc = flow_ctl_encode_counter(
        &ctx->ctlbuf, kind_names[c->kind], c->name, c->pending, pairs, ns,
        c->kind == FLOW_FIELD_VALUE_COUNTER ? vals : NULL, nv);
out:
    free(pairs);
    free(keys);
    return rc;
}

/* Sends one counter message per changed counter and resets the pending
 * increments. Without a control socket the increments are just reset. */
void flow__counters_report(flow_ctx *ctx)
{
    for (flow_counter *c = ctx->counters; c; c = c->next) {
        if (!c->dirty)
            continue;
        if (ctx->ctl_w && encode(ctx, c) == 0)
            flow_zwatch_send_buf(ctx->ctl_w, ctx->ctlbuf.data, ctx->ctlbuf.len,
                                 0);
        for (uint32_t i = 0; i < c->sec_cap; i++) {
            c->sec_keys[i] = INT64_MIN;
            c->sec_vals[i] = 0;
        }
        c->sec_n = 0;
        for (uint32_t i = 0; i < c->val_cap; i++)
            c->vals[i].pending = 0;
        c->pending = 0;
        c->dirty = false;
    }
}

/*
 * The tagged counter message of checkpoint n for c: cumulative total,
 * seconds and values (all of them, or the ones changed since the last
 * barrier), into ctx->ctlbuf; the changed marks are cleared.
 */
static int encode_tagged(flow_ctx *ctx, flow_counter *c, uint64_t n, bool all)
{
    uint32_t nv = 0, ns = 0;
    for (uint32_t i = 0; i < c->val_cap; i++)
        nv += c->vals[i].value && (all || c->vals[i].ck_dirty);
    flow_ctl_pair *pairs = malloc((c->cum_n + nv + 1) * sizeof(*pairs));
    char *keys = malloc((size_t)c->cum_n * SEC_KEY + 1);
    int rc = -FLOW_ENOMEM;
    if (!pairs || !keys)
        goto out;
    for (uint32_t i = 0; i < c->cum_cap; i++) {
        if (c->cum_keys[i] == INT64_MIN || !(all || c->cum_dirty[i]))
            continue;
        char *k = keys + (size_t)ns * SEC_KEY;
        int kl = snprintf(k, SEC_KEY, "%lld", (long long)c->cum_keys[i]);
        pairs[ns].key = (flow_ctl_str){ k, (uint32_t)kl };
        pairs[ns++].value = c->cum_vals[i];
        c->cum_dirty[i] = 0;
    }
    flow_ctl_pair *vals = pairs + ns;
    nv = 0;
    for (uint32_t i = 0; i < c->val_cap; i++) {
        struct flow__cval *v = &c->vals[i];
        if (!v->value || !(all || v->ck_dirty))
            continue;
        vals[nv].key = (flow_ctl_str){ v->value, v->len };
        vals[nv++].value = v->total;
        v->ck_dirty = false;
    }
    rc = flow_ctl_encode_counter_ckpt(
        &ctx->ctlbuf, kind_names[c->kind], c->name, n, c->total, pairs, ns,
        c->kind == FLOW_FIELD_VALUE_COUNTER ? vals : NULL, nv);
out:
    free(pairs);
    free(keys);
    return rc;
}

void flow__counters_tagged(flow_ctx *ctx, uint64_t n, bool all)
{
    for (flow_counter *c = ctx->counters; c; c = c->next) {
        if (!all && !c->ck_dirty)
            continue;
        if (ctx->ctl_w && encode_tagged(ctx, c, n, all) == 0)
            flow_zwatch_send_buf(ctx->ctl_w, ctx->ctlbuf.data, ctx->ctlbuf.len,
                                 0);
        c->ck_dirty = false;
    }
}

/*
 * In a snapshot, the counters are one array of
 * [kind, name, total, [[value(bin), total], ...], [[second, total], ...]],
 * cumulative.
 */
void flow__counters_snap(flow_ctx *ctx, flow_buf *b)
{
    uint32_t n = 0;
    for (flow_counter *c = ctx->counters; c; c = c->next)
        n++;
    flow_mp_put_array(b, n);
    for (flow_counter *c = ctx->counters; c; c = c->next) {
        flow_mp_put_array(b, 5);
        flow_mp_put_uint(b, (uint64_t)c->kind);
        flow_mp_put_cstr(b, c->name);
        flow_mp_put_uint(b, c->total);
        flow_mp_put_array(b, c->val_n);
        for (uint32_t i = 0; i < c->val_cap; i++) {
            struct flow__cval *v = &c->vals[i];
            if (!v->value)
                continue;
            flow_mp_put_array(b, 2);
            flow_mp_put_bin(b, v->value, v->len);
            flow_mp_put_uint(b, v->total);
        }
        flow_mp_put_array(b, c->cum_n);
        for (uint32_t i = 0; i < c->cum_cap; i++) {
            if (c->cum_keys[i] == INT64_MIN)
                continue;
            flow_mp_put_array(b, 2);
            flow_mp_put_int(b, c->cum_keys[i]);
            flow_mp_put_uint(b, c->cum_vals[i]);
        }
    }
}

/* Reads [x, y] of a counter's values or seconds. */
static int read_pair(flow_mp_reader *r, flow_mp_value *x, uint64_t *y)
{
    flow_mp_value v;
    if (flow_mp_read(r, &v) || v.type != FLOW_MP_ARRAY || v.len != 2 ||
        flow_mp_read(r, x) || flow_mp_read(r, &v) || v.type != FLOW_MP_INT ||
        v.is_neg)
        return -FLOW_EMALFORMED;
    *y = v.u;
    return 0;
}

int flow__counters_restore(flow_ctx *ctx, const uint8_t *data, size_t len)
{
    flow_mp_reader r;
    flow_mp_value v, k, name;
    uint64_t u;
    char nm[FLOW_WIRE_MAX_NAME * 4 + 1];
    flow_mp_reader_init(&r, data, len);
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY)
        return -FLOW_EMALFORMED;
    uint32_t nc = v.len;
    for (uint32_t i = 0; i < nc; i++) {
        uint64_t kind, total;
        if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY || v.len != 5 ||
            flow_mp_read(&r, &k) || k.type != FLOW_MP_INT || k.is_neg ||
            k.u > FLOW_AGGREGATE_COUNTER || flow_mp_read(&r, &name) ||
            name.type != FLOW_MP_STR || name.len >= sizeof(nm) ||
            flow_mp_read(&r, &v) || v.type != FLOW_MP_INT || v.is_neg)
            return -FLOW_EMALFORMED;
        kind = k.u;
        total = v.u;
        memcpy(nm, name.str, name.len);
        nm[name.len] = '\0';
        flow_counter *c = flow_counter_get(ctx, (flow_counter_kind)kind, nm);
        if (!c)
            return -FLOW_ENOMEM;
        c->total += total;
        if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY)
            return -FLOW_EMALFORMED;
        for (uint32_t j = 0, nv = v.len; j < nv; j++) {
            if (read_pair(&r, &k, &u) || k.type != FLOW_MP_BIN)
                return -FLOW_EMALFORMED;
            struct flow__cval *s = val_slot(c, k.str, k.len);
            if (!s)
                return -FLOW_ENOMEM;
            s->total += u;
        }
        if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY)
            return -FLOW_EMALFORMED;
        for (uint32_t j = 0, ns = v.len; j < ns; j++) {
            if (read_pair(&r, &k, &u) || k.type != FLOW_MP_INT)
                return -FLOW_EMALFORMED;
            if (cum_add(c, k.i, u, false))
                return -FLOW_ENOMEM;
        }
    }
    return 0;
}

void flow__counters_json(flow_ctx *ctx, FILE *f)
{
    fputs("[", f);
    for (flow_counter *c = ctx->counters; c; c = c->next) {
        fprintf(f, "%s{\"kind\": \"%s\", \"name\": ",
                c == ctx->counters ? "" : ", ", kind_names[c->kind]);
        flow__json_str(f, c->name, strlen(c->name));
        fprintf(f, ", \"total\": %llu", (unsigned long long)c->total);
        if (c->kind == FLOW_FIELD_VALUE_COUNTER) {
            fputs(", \"values\": {", f);
            bool first = true;
            for (uint32_t i = 0; i < c->val_cap; i++) {
                struct flow__cval *v = &c->vals[i];
                if (!v->value)
                    continue;
                fputs(first ? "" : ", ", f);
                first = false;
                flow__json_str(f, v->value, v->len);
                fprintf(f, ": %llu", (unsigned long long)v->total);
            }
            fputs("}", f);
        }
        fputs("}", f);
    }
    fputs("]", f);
}

void flow__counters_free(flow_ctx *ctx)
{
    flow_counter *c = ctx->counters;
    while (c) {
        flow_counter *next = c->next;
        for (uint32_t i = 0; i < c->val_cap; i++)
            free(c->vals[i].value);
        free(c->vals);
        free(c->sec_keys);
        free(c->sec_vals);
        free(c->cum_keys);
        free(c->cum_vals);
        free(c->cum_dirty);
        free(c->name);
        free(c);
        c = next;
    }
    ctx->counters = NULL;
}
