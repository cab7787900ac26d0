/*
 * buckets.h - the time buckets of an aggregate counter: counts per minute,
 * hour, day, month and year (UTC), as SCDF 1.x's aggregate-counter keeps
 * them. Each resolution holds a bounded number of buckets; when a new one
 * does not fit, the oldest is forgotten (and counted in `evicted`). The
 * calendar arithmetic is libflow's (flow/bucket.h).
 */
#ifndef FLOW_MODULES_BUCKETS_H
#define FLOW_MODULES_BUCKETS_H

#include <stddef.h>
#include <stdint.h>

enum bucket_res {
    BUCKET_MINUTE,
    BUCKET_HOUR,
    BUCKET_DAY,
    BUCKET_MONTH,
    BUCKET_YEAR,
    BUCKET_RES_COUNT
};

/* Buckets held per resolution. */
#define BUCKETS_MAX 2048

struct bucket {
    int64_t start; /* epoch seconds of the bucket's first second */
    uint64_t count;
};

struct bucket_list {
    struct bucket *b; /* sorted by start, ascending */
    size_t n;
    uint64_t evicted;
};

struct buckets {
    struct bucket_list res[BUCKET_RES_COUNT];
};

const char *bucket_res_name(enum bucket_res r); /* "minute", ... */

/* Initialise; -1 when memory is short. fini is safe on zeroed memory. */
int buckets_init(struct buckets *bs);
void buckets_fini(struct buckets *bs);

/* Count n events at second sec in every resolution. */
void buckets_add(struct buckets *bs, int64_t sec, uint64_t n);

/* The count of the bucket of resolution r that holds sec (0 if none). */
uint64_t buckets_get(const struct buckets *bs, enum bucket_res r, int64_t sec);

#endif
