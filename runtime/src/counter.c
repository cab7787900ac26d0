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
    if (c->kind == FLOW_FIELD_VALUE_COUNTER && value) {
        struct flow__cval *s = val_slot(c, value, (uint32_t)value_len);
        if (!s)
            return -FLOW_ENOMEM;
        s->total += n;
        s->pending += n;
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
        free(c->name);
        free(c);
        c = next;
    }
    ctx->counters = NULL;
}
