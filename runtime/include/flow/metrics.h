/*
 * flow: per-instance metrics and latency histograms.
 */
#ifndef FLOW_METRICS_H
#define FLOW_METRICS_H

#include <stdint.h>

#include "flow/mp.h"

/* Histogram bucket upper bounds in microseconds; the last is 0 = +Inf. */
#define FLOW_HIST_BUCKETS 26
extern const uint32_t flow_hist_bounds_us[FLOW_HIST_BUCKETS];

/* A latency histogram: counts per bucket (not cumulative). */
typedef struct flow_hist {
    uint64_t counts[FLOW_HIST_BUCKETS];
} flow_hist;

/* Adds n samples of value us. */
void flow_hist_add(flow_hist *h, int64_t us, uint64_t n);
/* The q-quantile (0..1) in µs, interpolated inside its bucket; 0 when
 * empty. The +Inf bucket reports twice the last finite bound. */
double flow_hist_quantile(const flow_hist *h, double q);
uint64_t flow_hist_total(const flow_hist *h);

/* Cumulative counts since start, as in docs/apps.md "metrics". */
typedef struct flow_metrics {
    uint64_t in;
    uint64_t out;
    uint64_t errors;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t drops;
    uint64_t rejected;
    uint64_t dups;
    uint64_t fenced; /* frames of another epoch, dropped whole */
    flow_hist lat;   /* per-event processing time */
    flow_hist e2e;   /* now - event ts_us at receive (end-to-end age) */
} flow_metrics;

#endif
