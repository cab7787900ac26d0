/*
 * acct_table.c - accounts by id (see acct_table.h).
 */
#include "acct_table.h"

#include <stdlib.h>
#include <string.h>

#define SNAP_MAGIC  "FLOWACC1"
#define SNAP_RECORD 25 /* id 8, last_seq 8, balance 8, state 1 */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

void acct_table_init(struct acct_table *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    t->max = max;
}

void acct_table_fini(struct acct_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
}

static struct acct_slot *probe(struct acct_slot *slots, size_t cap, uint64_t id)
{
    size_t i = (size_t)mix(id) & (cap - 1);
    while (slots[i].used && slots[i].id != id)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

struct acct *acct_table_find(struct acct_table *t, uint64_t id)
{
    if (t->cap == 0)
        return NULL;
    struct acct_slot *s = probe(t->slots, t->cap, id);
    return s->used ? &s->acct : NULL;
}

static int grow(struct acct_table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    struct acct_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].used)
            *probe(ns, ncap, t->slots[i].id) = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

struct acct *acct_table_get(struct acct_table *t, uint64_t id)
{
    struct acct *a = acct_table_find(t, id);
    if (a)
        return a;
    if (t->max && t->count >= t->max)
        return NULL;
    /* Keep the load factor at or below 1/2. */
    if ((t->count + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    struct acct_slot *s = probe(t->slots, t->cap, id);
    s->used = 1;
    s->id = id;
    memset(&s->acct, 0, sizeof(s->acct));
    t->count++;
    return &s->acct;
}

void acct_table_each(const struct acct_table *t, acct_table_visit_fn fn,
                     void *arg)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].used)
            fn(t->slots[i].id, &t->slots[i].acct, arg);
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int acct_table_save(const struct acct_table *t, uint8_t **out, size_t *len)
{
    size_t n = 16 + t->count * SNAP_RECORD;
    uint8_t *buf = malloc(n);
    if (!buf)
        return -1;
    memcpy(buf, SNAP_MAGIC, 8);
    put64(buf + 8, t->count);
    uint8_t *p = buf + 16;
    for (size_t i = 0; i < t->cap; i++) {
        const struct acct_slot *s = &t->slots[i];
        if (!s->used)
            continue;
        put64(p, s->id);
        put64(p + 8, s->acct.last_seq);
        put64(p + 16, (uint64_t)s->acct.balance);
        p[24] = s->acct.state;
        p += SNAP_RECORD;
    }
    *out = buf;
    *len = n;
    return 0;
}

int acct_table_load(struct acct_table *t, const uint8_t *buf, size_t len,
                    const char **why)
{
    size_t max = t->max;
    acct_table_fini(t);
    acct_table_init(t, max);
    if (len < 16 || memcmp(buf, SNAP_MAGIC, 8) != 0) {
        *why = "not an account-events snapshot (bad magic)";
        return -1;
    }
    uint64_t count = get64(buf + 8);
    if (count > (len - 16) / SNAP_RECORD || (len - 16) != count * SNAP_RECORD) {
        *why = "snapshot length does not match its account count";
        return -1;
    }
    if (max && count > max) {
        *why = "snapshot holds more accounts than --max-accounts";
        return -1;
    }
    const uint8_t *p = buf + 16;
    for (uint64_t i = 0; i < count; i++, p += SNAP_RECORD) {
        int64_t balance = (int64_t)get64(p + 16);
        if (p[24] >= ACCT_ST_COUNT || balance < 0) {
            *why = "snapshot holds an invalid state or negative balance";
            goto invalid;
        }
        uint64_t id = get64(p);
        if (acct_table_find(t, id)) {
            *why = "snapshot holds the same account twice";
            goto invalid;
        }
        struct acct *a = acct_table_get(t, id);
        if (!a) {
            *why = "out of memory restoring the snapshot";
            goto invalid;
        }
        a->last_seq = get64(p + 8);
        a->balance = balance;
        a->state = p[24];
    }
    return 0;
invalid:
    acct_table_fini(t);
    acct_table_init(t, max);
    return -1;
}
