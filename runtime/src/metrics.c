/* Latency histograms. */
#include "flow/metrics.h"

const uint32_t flow_hist_bounds_us[FLOW_HIST_BUCKETS] = {
    10,    20,    50,     100,    150,    200,     250,     300,  400,
    500,   750,   1000,   1500,   2000,   3000,    5000,    7500, 10000,
    20000, 50000, 100000, 200000, 500000, 1000000, 5000000, 0,
};

static int bucket_of(int64_t us)
{
    if (us < 0)
        us = 0;
    /* Binary search over the finite bounds. */
    int lo = 0, hi = FLOW_HIST_BUCKETS - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (us <= (int64_t)flow_hist_bounds_us[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void flow_hist_add(flow_hist *h, int64_t us, uint64_t n)
{
    h->counts[bucket_of(us)] += n;
}

uint64_t flow_hist_total(const flow_hist *h)
{
    uint64_t t = 0;
    for (int i = 0; i < FLOW_HIST_BUCKETS; i++)
        t += h->counts[i];
    return t;
}

double flow_hist_quantile(const flow_hist *h, double q)
{
    uint64_t total = flow_hist_total(h);
    if (total == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    double rank = q * (double)total;
    uint64_t seen = 0;
    for (int i = 0; i < FLOW_HIST_BUCKETS; i++) {
        uint64_t c = h->counts[i];
        if (c && (double)(seen + c) >= rank) {
            double lo = i ? flow_hist_bounds_us[i - 1] : 0;
            double hi = flow_hist_bounds_us[i];
            if (i == FLOW_HIST_BUCKETS - 1)
                hi = 2.0 * flow_hist_bounds_us[FLOW_HIST_BUCKETS - 2];
            return lo + (hi - lo) * ((rank - (double)seen) / (double)c);
        }
        seen += c;
    }
    return flow_hist_bounds_us[FLOW_HIST_BUCKETS - 2];
}
