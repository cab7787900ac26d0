/*
 * fvmap.c - counts per distinct field value (see fvmap.h).
 */
#include "fvmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void fvmap_init(struct fvmap *m, size_t max)
{
    memset(m, 0, sizeof(*m));
    m->max = max;
}

void fvmap_fini(struct fvmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

static struct fv_entry *probe(struct fv_entry *slots, size_t cap,
                              const char *key, size_t len)
{
    size_t i = (size_t)hash(key, len) & (cap - 1);
    while (slots[i].key &&
           (slots[i].len != len || memcmp(slots[i].key, key, len) != 0))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(struct fvmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    struct fv_entry *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct fv_entry *e = &m->slots[i];
        if (e->key)
            *probe(ns, ncap, e->key, e->len) = *e;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int fvmap_add(struct fvmap *m, const char *key, size_t len, uint64_t n)
{
    if (m->cap) {
        struct fv_entry *e = probe(m->slots, m->cap, key, len);
        if (e->key) {
            e->total += n;
            e->pending += n;
            return 0;
        }
    }
    if ((m->max && m->count >= m->max) ||
        ((m->count + 1) * 2 > m->cap && grow(m) < 0))
        goto overflow;
    struct fv_entry *e = probe(m->slots, m->cap, key, len);
    e->key = malloc(len + 1);
    if (!e->key)
        goto overflow;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = len;
    e->total = n;
    e->pending = n;
    m->count++;
    return 0;
overflow:
    m->overflow += n;
    return -1;
}

uint64_t fvmap_get(const struct fvmap *m, const char *key, size_t len)
{
    if (!m->cap)
        return 0;
    const struct fv_entry *e = probe(m->slots, m->cap, key, len);
    return e->key ? e->total : 0;
}

void fvmap_each(const struct fvmap *m, fvmap_fn fn, void *arg)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key)
            fn(&m->slots[i], arg);
    }
}

void fvmap_take(struct fvmap *m, fvmap_fn fn, void *arg)
{
    for (size_t i = 0; i < m->cap; i++) {
        struct fv_entry *e = &m->slots[i];
        if (e->key && e->pending) {
            fn(e, arg);
            e->pending = 0;
        }
    }
}
