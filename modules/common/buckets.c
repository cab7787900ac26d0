/*
 * buckets.c - minute/hour/day/month/year buckets (see buckets.h).
 */
#include "buckets.h"

#include "flow/bucket.h"

#include <stdlib.h>
#include <string.h>

static const char *const res_names[BUCKET_RES_COUNT] = { "minute", "hour",
                                                         "day", "month",
                                                         "year" };

const char *bucket_res_name(enum bucket_res r)
{
    return (unsigned)r < BUCKET_RES_COUNT ? res_names[r] : "?";
}

/* Each resolution's size in flow/bucket.h's terms. */
static const int64_t res_sizes[BUCKET_RES_COUNT] = {
    FLOW_BUCKET_MINUTE, FLOW_BUCKET_HOUR, FLOW_BUCKET_DAY, FLOW_BUCKET_MONTH,
    FLOW_BUCKET_YEAR
};

int buckets_init(struct buckets *bs)
{
    memset(bs, 0, sizeof(*bs));
    for (int r = 0; r < BUCKET_RES_COUNT; r++) {
        bs->res[r].b = calloc(BUCKETS_MAX, sizeof(struct bucket));
        if (!bs->res[r].b) {
            buckets_fini(bs);
            return -1;
        }
    }
    return 0;
}

void buckets_fini(struct buckets *bs)
{
    for (int r = 0; r < BUCKET_RES_COUNT; r++) {
        free(bs->res[r].b);
        bs->res[r].b = NULL;
        bs->res[r].n = 0;
    }
}

/* Index of the first bucket with start >= s. */
static size_t lower_bound(const struct bucket_list *l, int64_t s)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->b[mid].start < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void list_add(struct bucket_list *l, int64_t s, uint64_t n)
{
    /* The common case: the newest bucket. */
    if (l->n && l->b[l->n - 1].start == s) {
        l->b[l->n - 1].count += n;
        return;
    }
    size_t i = lower_bound(l, s);
    if (i < l->n && l->b[i].start == s) {
        l->b[i].count += n;
        return;
    }
    if (l->n == BUCKETS_MAX) {
        if (i == 0) {
            l->evicted += n; /* older than everything held */
            return;
        }
        l->evicted += l->b[0].count;
        memmove(l->b, l->b + 1, (l->n - 1) * sizeof(*l->b));
        l->n--;
        i--;
    }
    memmove(l->b + i + 1, l->b + i, (l->n - i) * sizeof(*l->b));
    l->b[i].start = s;
    l->b[i].count = n;
    l->n++;
}

void buckets_add(struct buckets *bs, int64_t sec, uint64_t n)
{
    if (n == 0)
        return;
    for (int r = 0; r < BUCKET_RES_COUNT; r++) {
        if (bs->res[r].b)
            list_add(&bs->res[r], flow_bucket_floor(sec, res_sizes[r]), n);
    }
}

uint64_t buckets_get(const struct buckets *bs, enum bucket_res r, int64_t sec)
{
    if ((unsigned)r >= BUCKET_RES_COUNT)
        return 0;
    const struct bucket_list *l = &bs->res[r];
    int64_t s = flow_bucket_floor(sec, res_sizes[r]);
    size_t i = lower_bound(l, s);
    return (i < l->n && l->b[i].start == s) ? l->b[i].count : 0;
}
