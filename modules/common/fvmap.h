/*
 * fvmap.h - counts per distinct field value, for field-value-counter.
 *
 * Keys are byte strings (copied). Each value has a total and an increment
 * since the last report. At most `max` distinct values are held so that a
 * field with made-up values cannot take unbounded memory; events with a
 * new value beyond that are counted in `overflow`.
 */
#ifndef FLOW_MODULES_FVMAP_H
#define FLOW_MODULES_FVMAP_H

#include <stddef.h>
#include <stdint.h>

struct fv_entry {
    char *key; /* NUL-terminated copy; NULL = free slot */
    size_t len;
    uint64_t total;
    uint64_t pending;
};

struct fvmap {
    struct fv_entry *slots;
    size_t cap; /* power of two or 0 */
    size_t count;
    size_t max;
    uint64_t overflow;
};

/* fini is safe on zeroed memory. */
void fvmap_init(struct fvmap *m, size_t max);
void fvmap_fini(struct fvmap *m);

/* Count n for the value key[0..len). Returns 0, or -1 when the value is
 * new and the map is full or memory is short (counted in overflow). */
int fvmap_add(struct fvmap *m, const char *key, size_t len, uint64_t n);

/* The total of a value (0 when unknown). */
uint64_t fvmap_get(const struct fvmap *m, const char *key, size_t len);

/* Visit every value with its total and pending increment. */
typedef void (*fvmap_fn)(const struct fv_entry *e, void *arg);
void fvmap_each(const struct fvmap *m, fvmap_fn fn, void *arg);

/* Visit the values with a non-zero pending increment, then zero them. */
void fvmap_take(struct fvmap *m, fvmap_fn fn, void *arg);

#endif
