/*
 * lathist.h - a fine latency histogram (log-linear: 16 sub-buckets per
 * power of two, so a quantile is within about 6%), for measuring a
 * pipeline's end-to-end latency in the counter sink (--latency-json).
 */
#ifndef FLOW_MODULES_LATHIST_H
#define FLOW_MODULES_LATHIST_H

#include <stdint.h>

#define LATHIST_SUB     16
#define LATHIST_BUCKETS (64 * LATHIST_SUB)

struct lathist {
    uint64_t counts[LATHIST_BUCKETS];
    uint64_t total;
    int64_t max;
};

/* Adds one sample in µs (negative samples, from clock skew, count as 0). */
void lathist_add(struct lathist *h, int64_t us);

/* The q-quantile (0..1) in µs: the middle of the bucket holding it, but
 * never above the largest sample; 0 when empty. */
double lathist_quantile(const struct lathist *h, double q);

#endif
