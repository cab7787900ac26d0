/*
 * buckets.c - minute/hour/day/month/year buckets (see buckets.h).
 */
#include "buckets.h"

#include <stdlib.h>
#include <string.h>

static const char *const res_names[BUCKET_RES_COUNT] = { "minute", "hour",
                                                         "day", "month",
                                                         "year" };

const char *bucket_res_name(enum bucket_res r)
{
    return (unsigned)r < BUCKET_RES_COUNT ? res_names[r] : "?";
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Howard Hinnant's civil_from_days / days_from_civil (public domain). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int64_t bucket_start(enum bucket_res r, int64_t sec)
{
    int64_t y;
    unsigned m;
    switch (r) {
    case BUCKET_MINUTE:
        return floor_div(sec, 60) * 60;
    case BUCKET_HOUR:
        return floor_div(sec, 3600) * 3600;
    case BUCKET_DAY:
        return floor_div(sec, 86400) * 86400;
    case BUCKET_MONTH:
        civil_from_days(floor_div(sec, 86400), &y, &m);
        return days_from_civil(y, m, 1) * 86400;
    case BUCKET_YEAR:
    default:
        civil_from_days(floor_div(sec, 86400), &y, &m);
        return days_from_civil(y, 1, 1) * 86400;
    }
}

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
            list_add(&bs->res[r], bucket_start((enum bucket_res)r, sec), n);
    }
}

uint64_t buckets_get(const struct buckets *bs, enum bucket_res r, int64_t sec)
{
    if ((unsigned)r >= BUCKET_RES_COUNT)
        return 0;
    const struct bucket_list *l = &bs->res[r];
    int64_t s = bucket_start(r, sec);
    size_t i = lower_bound(l, s);
    return (i < l->n && l->b[i].start == s) ? l->b[i].count : 0;
}
