/* Analytics counters kept by flowd: totals, field values and a time
 * history, persisted in the store. */
#ifndef SRV_ANALYTICS_H
#define SRV_ANALYTICS_H

#include <jansson.h>
#include <stdint.h>

#include "bucket.h"
#include "model.h"

typedef struct srv_counter {
    char kind[24];
    char name[256];
    uint64_t total;
    uint64_t last_total;
    double rate;
    json_t *values;  /* field-value counters: value -> count (owned
                        reference) */
    json_t *pending; /* value -> increment not yet stored (owned
                        reference) */
    /* The time history, nhist entries of caphist (owned). */
    struct {
        int64_t sec;
        uint64_t inc;
    } * hist;
    size_t nhist, caphist;
    bool dirty;
    /* A guaranteed stream feeds it: its total is what checkpoints
     * committed, and its live figure is the coordinator's
     * (srv_ckpt_live). */
    bool guarded;
    struct srv_counter *next; /* the next counter (borrowed link: the
                                 srv_analytics owns the list) */
} srv_counter;

/* In every function here a and the strings passed are borrowed. */

/* Borrowed; NULL when absent. kind NULL: counter or aggregate-counter. */
srv_counter *srv_analytics_find(srv_analytics *a, const char *kind,
                                const char *name);

/* A field-value counter's values (value -> count) in decreasing count
 * order, ties by value: a new object (empty for another kind or when out
 * of memory). */
json_t *srv_analytics_values_sorted(const srv_counter *c);

/* The first counter (borrowed), for iteration with ->next. */
srv_counter *srv_analytics_first(srv_analytics *a);

/* Forgets a counter and its history, in the store first. Returns 0,
 * -SRV_ENOTFOUND when absent, or the store's code (srv_store_error) when
 * the store cannot be written (s->store.err; the counter is kept). */
int srv_analytics_reset(srv_analytics *a, const char *kind, const char *name);

/* Bucket counts of the history of kind/name at res seconds from..to
 * (epoch seconds, inclusive, aligned to res), as a JSON object of
 * ISO-8601 time -> count with every bucket (zeros included). res 0 means
 * calendar months, -1 calendar years (both from daily buckets). Returns
 * new, NULL when out of memory. */
json_t *srv_analytics_history(srv_analytics *a, const char *kind,
                              const char *name, int64_t res, int64_t from,
                              int64_t to);

#endif
