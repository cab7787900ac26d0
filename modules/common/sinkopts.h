/*
 * sinkopts.h - what the sinks share: a per-event delay for simulating a
 * slow consumer (--delay-us) and an end-to-end latency recorder
 * (--latency-json=PATH) that the benchmark reads.
 */
#ifndef FLOW_MODULES_SINKOPTS_H
#define FLOW_MODULES_SINKOPTS_H

#include "flow/app.h"
#include "lathist.h"

#include <stdbool.h>
#include <stdint.h>

/* The two option rows, to put in a sink's option table. */
#define SINKOPTS_ROWS                                                       \
    { "delay-us",                                                           \
      FLOW_OPT_INT,                                                         \
      "0",                                                                  \
      false,                                                                \
      NULL,                                                                 \
      "Sleep this many microseconds per event (to test backpressure)." },   \
    {                                                                       \
        "latency-json", FLOW_OPT_PATH, NULL, false, NULL,                   \
            "Record each event's age (now - its creation time) and write "  \
            "count, p50, p90, p99 and max in microseconds as JSON to this " \
            "file at exit."                                                 \
    }

struct sinkopts {
    int64_t delay_us;
    const char *latency_path; /* NULL = not recording */
    struct lathist *lat;
    int64_t first_us, last_us; /* wall clock of the first and last event */
};

/* Reads the options; returns 0 or -FLOW_EOPTION (logged). */
int sinkopts_init(struct sinkopts *so, flow_ctx *ctx);

/* Per event: records its age (from its creation to its frame's arrival,
 * both CLOCK_REALTIME) and sleeps when asked. */
void sinkopts_event(struct sinkopts *so, flow_ctx *ctx, const flow_event *ev);

struct fvmap;

/*
 * Prints a counter's final counts as one JSON line on stdout, in the shape
 * of a "counters" entry of --flow.metrics-json: kind, name, total and, for
 * a field-value counter (values != NULL), the count per value.
 */
/* Writes b (one JSON line) to stdout, unless it ran out of memory, and
 * frees it. */
void sinkopts_print_line(flow_buf *b);

void sinkopts_print_final(const char *kind, const char *name, uint64_t total,
                          const struct fvmap *values);

/* Writes the latency file (if asked) and frees; safe on zeroed memory. */
void sinkopts_fini(struct sinkopts *so, flow_ctx *ctx);

#endif
