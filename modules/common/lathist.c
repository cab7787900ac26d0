/*
 * lathist.c - log-linear latency histogram (see lathist.h).
 */
#include "lathist.h"

static unsigned index_of(uint64_t v)
{
    if (v < LATHIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (msb - 4)) & (LATHIST_SUB - 1);
    return (msb - 3) * LATHIST_SUB + sub;
}

/* Lowest value and width of a bucket. */
static void bounds(unsigned i, double *lo, double *width)
{
    if (i < LATHIST_SUB) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned msb = i / LATHIST_SUB + 3;
    unsigned sub = i % LATHIST_SUB;
    double unit = (double)(1ULL << (msb - 4));
    *lo = (double)(1ULL << msb) + sub * unit;
    *width = unit;
}

void lathist_add(struct lathist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    h->counts[index_of((uint64_t)us)]++;
    h->total++;
    if (us > h->max)
        h->max = us;
}

double lathist_quantile(const struct lathist *h, double q)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->total);
    if (rank >= h->total)
        rank = h->total - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LATHIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen > rank) {
            double lo, w;
            bounds(i, &lo, &w);
            double mid = w <= 1 ? lo : lo + w / 2;
            /* The top bucket's middle may lie above every sample. */
            return mid > (double)h->max ? (double)h->max : mid;
        }
    }
    return (double)h->max;
}
