/*
 * saga.c - the saga's event types, payload fields, record tables and
 * their snapshots (saga.h).
 */
#include "saga.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int saga_reject(flow_ctx *ctx, const flow_event *ev, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return flow_emit_error(ctx, ev, reason);
}

static const char *const type_names[SAGA_NTYPES] = {
    [SAGA_ORDER_PLACED] = "OrderPlaced",
    [SAGA_RESERVE_INVENTORY] = "ReserveInventory",
    [SAGA_INVENTORY_RESERVED] = "InventoryReserved",
    [SAGA_INVENTORY_OUT_OF_STOCK] = "InventoryOutOfStock",
    [SAGA_CHARGE_PAYMENT] = "ChargePayment",
    [SAGA_PAYMENT_CHARGED] = "PaymentCharged",
    [SAGA_PAYMENT_FAILED] = "PaymentFailed",
    [SAGA_RELEASE_INVENTORY] = "ReleaseInventory",
    [SAGA_INVENTORY_RELEASED] = "InventoryReleased",
    [SAGA_ORDER_COMPLETED] = "OrderCompleted",
    [SAGA_ORDER_CANCELLED] = "OrderCancelled",
};

static const char *const reason_names[] = {
    [SAGA_REASON_NONE] = NULL,
    [SAGA_REASON_OUT_OF_STOCK] = "out-of-stock",
    [SAGA_REASON_DECLINED] = "declined",
    [SAGA_REASON_INSUFFICIENT_FUNDS] = "insufficient-funds",
};

const char *saga_type_name(enum saga_type t)
{
    return (unsigned)t < SAGA_NTYPES ? type_names[t] : "?";
}

int saga_type_parse(const char *s, size_t len)
{
    for (int i = 0; i < SAGA_NTYPES; i++)
        if (strlen(type_names[i]) == len && memcmp(type_names[i], s, len) == 0)
            return i;
    return -1;
}

const char *saga_reason_name(enum saga_reason r)
{
    return (unsigned)r <= SAGA_REASON_INSUFFICIENT_FUNDS ? reason_names[r]
                                                         : NULL;
}

int saga_reason_parse(const char *s, size_t len)
{
    for (int i = SAGA_REASON_OUT_OF_STOCK; i <= SAGA_REASON_INSUFFICIENT_FUNDS;
         i++)
        if (strlen(reason_names[i]) == len &&
            memcmp(reason_names[i], s, len) == 0)
            return i;
    return -1;
}

static bool as_uint(const flow_mp_value *v, uint64_t *out)
{
    if (v->type != FLOW_MP_INT || v->is_neg)
        return false;
    *out = v->u;
    return true;
}

int saga_read_fields(const uint8_t *payload, size_t len, struct saga_fields *f)
{
    flow_mp_reader r;
    flow_mp_value m, k, v;
    memset(f, 0, sizeof(*f));
    f->type = -1;
    flow_mp_reader_init(&r, payload, len);
    if (flow_mp_read(&r, &m) < 0 || m.type != FLOW_MP_MAP)
        return -1;
    for (uint32_t i = 0; i < m.len; i++) {
        if (flow_mp_read_object(&r, &k) < 0 || flow_mp_read_object(&r, &v) < 0)
            return -1;
        if (k.type != FLOW_MP_STR)
            continue;
        if (flow_mp_str_eq(&k, "type")) {
            if (v.type == FLOW_MP_STR) {
                f->has_type_str = true;
                f->type_str = v.str;
                f->type_len = v.len;
                f->type = saga_type_parse(v.str, v.len);
            }
        } else if (flow_mp_str_eq(&k, "order")) {
            f->has_order = as_uint(&v, &f->order);
        } else if (flow_mp_str_eq(&k, "account")) {
            f->has_account = as_uint(&v, &f->account);
        } else if (flow_mp_str_eq(&k, "sku")) {
            f->has_sku = as_uint(&v, &f->sku);
        } else if (flow_mp_str_eq(&k, "qty")) {
            f->has_qty = as_uint(&v, &f->qty);
        } else if (flow_mp_str_eq(&k, "amount")) {
            f->has_amount = as_uint(&v, &f->amount);
        } else if (flow_mp_str_eq(&k, "card")) {
            f->card_declined =
                v.type == FLOW_MP_STR && flow_mp_str_eq(&v, "declined");
        } else if (flow_mp_str_eq(&k, "reason")) {
            f->reason =
                v.type == FLOW_MP_STR ? saga_reason_parse(v.str, v.len) : -1;
        }
    }
    if (flow_mp_remaining(&r) != 0)
        return -1;
    return 0;
}

void saga_msg_begin(struct saga_msg *m, flow_buf *b, enum saga_type type)
{
    m->b = b;
    m->n = 0;
    m->type = type;
    /* A map32 header whose count saga_msg_emit fills in. */
    flow_buf_append(b, "\xdf\0\0\0\0", 5);
    saga_msg_str(m, "type", saga_type_name(type));
}

void saga_msg_uint(struct saga_msg *m, const char *name, uint64_t v)
{
    flow_mp_put_cstr(m->b, name);
    flow_mp_put_uint(m->b, v);
    m->n++;
}

void saga_msg_str(struct saga_msg *m, const char *name, const char *v)
{
    flow_mp_put_cstr(m->b, name);
    flow_mp_put_cstr(m->b, v);
    m->n++;
}

void saga_msg_bool(struct saga_msg *m, const char *name, bool v)
{
    flow_mp_put_cstr(m->b, name);
    flow_mp_put_bool(m->b, v);
    m->n++;
}

int saga_msg_emit(flow_ctx *ctx, struct saga_msg *m, uint64_t order,
                  int64_t ts_us)
{
    flow_buf *b = m->b;
    if (b->err)
        return b->err;
    b->data[1] = (uint8_t)(m->n >> 24);
    b->data[2] = (uint8_t)(m->n >> 16);
    b->data[3] = (uint8_t)(m->n >> 8);
    b->data[4] = (uint8_t)m->n;
    char key[24];
    char *k = key + sizeof(key) - 1;
    *k = '\0';
    do {
        *--k = (char)('0' + order % 10);
        order /= 10;
    } while (order);
    return flow_emit(ctx, saga_type_name(m->type), k, ts_us, b->data, b->len);
}

static uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

void saga_table_init(struct saga_table *t, size_t vsize, size_t max)
{
    memset(t, 0, sizeof(*t));
    t->vsize = vsize;
    t->max = max;
}

void saga_table_fini(struct saga_table *t)
{
    free(t->keys);
    free(t->used);
    free(t->vals);
    memset(t, 0, sizeof(*t));
}

/* The slot of key, or of the empty slot where it would go. */
static size_t slot_of(const struct saga_table *t, uint64_t key)
{
    size_t i = (size_t)hash64(key) & (t->cap - 1);
    while (t->used[i] && t->keys[i] != key)
        i = (i + 1) & (t->cap - 1);
    return i;
}

void *saga_table_find(const struct saga_table *t, uint64_t key)
{
    if (t->cap == 0)
        return NULL;
    size_t i = slot_of(t, key);
    return t->used[i] ? t->vals + i * t->vsize : NULL;
}

static int grow(struct saga_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    uint8_t *used = calloc(cap, 1);
    uint8_t *vals = calloc(cap, t->vsize);
    if (!keys || !used || !vals)
        goto fail;
    struct saga_table n = *t;
    n.keys = keys;
    n.used = used;
    n.vals = vals;
    n.cap = cap;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->used[i])
            continue;
        size_t j = slot_of(&n, t->keys[i]);
        n.used[j] = 1;
        n.keys[j] = t->keys[i];
        memcpy(n.vals + j * n.vsize, t->vals + i * t->vsize, t->vsize);
    }
    free(t->keys);
    free(t->used);
    free(t->vals);
    *t = n;
    return 0;
fail:
    free(keys);
    free(used);
    free(vals);
    return -1;
}

void *saga_table_get(struct saga_table *t, uint64_t key, bool *full)
{
    void *rec = saga_table_find(t, key);
    *full = false;
    if (rec)
        return rec;
    if (t->count >= t->max) {
        *full = true;
        return NULL;
    }
    /* At most half full, so probes stay short. */
    if ((t->count + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    size_t i = slot_of(t, key);
    t->used[i] = 1;
    t->keys[i] = key;
    t->count++;
    return t->vals + i * t->vsize;
}

void saga_table_each(const struct saga_table *t,
                     void (*fn)(uint64_t key, void *rec, void *arg), void *arg)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->used[i])
            fn(t->keys[i], t->vals + i * t->vsize, arg);
}

static void put_le(flow_buf *out, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    flow_buf_append(out, b, (size_t)n);
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int saga_tables_save(struct saga_table *const *t, size_t n, flow_buf *out)
{
    flow_buf_append(out, "SAGA1", 5);
    for (size_t i = 0; i < n; i++) {
        put_le(out, t[i]->vsize, 4);
        put_le(out, t[i]->count, 8);
        for (size_t j = 0; j < t[i]->cap; j++) {
            if (!t[i]->used[j])
                continue;
            put_le(out, t[i]->keys[j], 8);
            flow_buf_append(out, t[i]->vals + j * t[i]->vsize, t[i]->vsize);
        }
    }
    return out->err;
}

int saga_tables_load(struct saga_table *const *t, size_t n, const void *data,
                     size_t len, const char **why)
{
    const uint8_t *p = data, *end = p + len;
    if (len < 5 || memcmp(p, "SAGA1", 5) != 0) {
        *why = "it does not start with SAGA1";
        return -1;
    }
    p += 5;
    for (size_t i = 0; i < n; i++) {
        if ((size_t)(end - p) < 12) {
            *why = "it is cut short";
            return -1;
        }
        uint64_t vsize = get_le(p, 4), count = get_le(p + 4, 8);
        p += 12;
        if (vsize != t[i]->vsize) {
            *why = "its records are of another size (another version)";
            return -1;
        }
        if (count > (uint64_t)(end - p) / (8 + vsize)) {
            *why = "it is cut short";
            return -1;
        }
        for (uint64_t j = 0; j < count; j++) {
            bool full;
            void *rec = saga_table_get(t[i], get_le(p, 8), &full);
            if (!rec) {
                *why = full ? "it holds more records than the table may"
                            : "out of memory";
                return -1;
            }
            memcpy(rec, p + 8, vsize);
            p += 8 + vsize;
        }
    }
    if (p != end) {
        *why = "it has bytes past its last table";
        return -1;
    }
    return 0;
}
