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

/* The two option rows, to put in a sink's option table; they fill the
 * struct sinkopts called member in the sink's state struct (the type
 * state), e.g. SINKOPTS_ROWS(struct counter, so). */
#define SINKOPTS_ROWS(state, member)                                          \
    { .name = "delay-us",                                                     \
      .type = FLOW_OPT_INT,                                                   \
      .def = "0",                                                             \
      .min = "0",                                                             \
      .max = "10000000",                                                      \
      FLOW_OPT_FIELD(state, member.delay_us),                                 \
      .description =                                                          \
          "Sleep this many microseconds per event (to test backpressure)." }, \
    {                                                                         \
        .name = "latency-json", .type = FLOW_OPT_PATH,                        \
        FLOW_OPT_FIELD(state, member.latency_path),                           \
        .description = "Record each event's age (now - its creation time) "   \
                       "and write count, p50, p90, p99 and max in "           \
                       "microseconds as JSON to this file at exit."           \
    }

struct sinkopts {
    int64_t delay_us;         /* --delay-us, 0 to 10000000 */
    const char *latency_path; /* --latency-json; NULL = not recording */
    struct lathist *lat;
    int64_t first_us, last_us; /* wall clock of the first and last event */
};

/* Sets up what the options ask for, once the runtime has filled them in
 * (SINKOPTS_ROWS); returns 0 or -FLOW_ENOMEM. */
int sinkopts_init(struct sinkopts *so);

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
