/*
 * tally.h - what every counter sink keeps: a total, per-second counts for
 * the last hour (for live charts), and the increments per second since the
 * last report to the control endpoint.
 */
#ifndef FLOW_MODULES_TALLY_H
#define FLOW_MODULES_TALLY_H

#include <stddef.h>
#include <stdint.h>

#define TALLY_HOUR 3600
/* Distinct seconds held between two reports; more are counted as lost. */
#define TALLY_PENDING_MAX 4096

struct tally_sec {
    int64_t sec;
    uint64_t count;
};

struct tally {
    uint64_t total;
    uint64_t reported;     /* total at the last report */
    uint64_t lost_seconds; /* increments that found no room in pending */
    int64_t newest;        /* newest second counted, INT64_MIN = none */
    struct tally_sec ring[TALLY_HOUR]; /* slot = sec mod 3600 */
    struct tally_sec *pending;         /* open addressing, count 0 = free */
    size_t npending;
};

/* Initialise; returns -1 when memory is short. fini is safe on zeroed
 * memory. */
int tally_init(struct tally *t);
void tally_fini(struct tally *t);

/* Count n events in second sec (epoch seconds). */
void tally_add(struct tally *t, int64_t sec, uint64_t n);

/* The count of second sec if it is within the last hour held, else 0. */
uint64_t tally_second(const struct tally *t, int64_t sec);

/*
 * Take the increments since the last report: calls fn for every second with
 * a non-zero increment (in no particular order), returns the total
 * increment, and starts a new reporting period.
 */
typedef void (*tally_sec_fn)(int64_t sec, uint64_t inc, void *arg);
uint64_t tally_take(struct tally *t, tally_sec_fn fn, void *arg);

/* Whether anything was counted since the last tally_take(). */
static inline int tally_changed(const struct tally *t)
{
    return t->total != t->reported;
}

#endif
