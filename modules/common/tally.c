/*
 * tally.c - totals, the last hour per second, increments to report.
 */
#include "tally.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(int64_t sec)
{
    int64_t m = sec % TALLY_HOUR;
    return (size_t)(m < 0 ? m + TALLY_HOUR : m);
}

int tally_init(struct tally *t)
{
    memset(t, 0, sizeof(*t));
    t->newest = INT64_MIN;
    for (size_t i = 0; i < TALLY_HOUR; i++)
        t->ring[i].sec = INT64_MIN;
    t->pending = calloc(TALLY_PENDING_MAX * 2, sizeof(*t->pending));
    return t->pending ? 0 : -1;
}

void tally_fini(struct tally *t)
{
    free(t->pending);
    t->pending = NULL;
}

static void pending_add(struct tally *t, int64_t sec, uint64_t n)
{
    const size_t cap = TALLY_PENDING_MAX * 2;
    size_t i = ((uint64_t)sec * 0x9e3779b97f4a7c15ULL) >> 51;
    for (;; i = (i + 1) & (cap - 1)) {
        struct tally_sec *s = &t->pending[i & (cap - 1)];
        if (s->count && s->sec == sec) {
            s->count += n;
            return;
        }
        if (!s->count) {
            if (t->npending >= TALLY_PENDING_MAX) {
                t->lost_seconds += n;
                return;
            }
            s->sec = sec;
            s->count = n;
            t->npending++;
            return;
        }
    }
}

void tally_add(struct tally *t, int64_t sec, uint64_t n)
{
    if (n == 0)
        return;
    t->total += n;
    if (t->pending)
        pending_add(t, sec, n);
    if (t->newest != INT64_MIN && sec <= t->newest - TALLY_HOUR)
        return; /* older than the hour kept */
    if (sec > t->newest)
        t->newest = sec;
    struct tally_sec *r = &t->ring[slot_of(sec)];
    if (r->sec != sec) {
        r->sec = sec;
        r->count = 0;
    }
    r->count += n;
}

uint64_t tally_second(const struct tally *t, int64_t sec)
{
    if (t->newest == INT64_MIN || sec <= t->newest - TALLY_HOUR ||
        sec > t->newest)
        return 0;
    const struct tally_sec *r = &t->ring[slot_of(sec)];
    return r->sec == sec ? r->count : 0;
}

uint64_t tally_take(struct tally *t, tally_sec_fn fn, void *arg)
{
    uint64_t inc = t->total - t->reported;
    t->reported = t->total;
    if (!t->pending || t->npending == 0)
        return inc;
    for (size_t i = 0; i < TALLY_PENDING_MAX * 2; i++) {
        struct tally_sec *s = &t->pending[i];
        if (s->count) {
            if (fn)
                fn(s->sec, s->count, arg);
            s->count = 0;
        }
    }
    t->npending = 0;
    return inc;
}
