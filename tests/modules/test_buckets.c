/*
 * Unit tests of the aggregate counter's time buckets.
 */
#include <criterion/criterion.h>

#include "buckets.h"

/* 2024-02-29 13:45:30 UTC (a leap day). */
#define T 1709214330LL

/* The calendar arithmetic is libflow's, tested in
 * tests/runtime/test_bucket.c; here the store of counts. */
Test(buckets, resolution_names)
{
    cr_assert_str_eq(bucket_res_name(BUCKET_MINUTE), "minute");
    cr_assert_str_eq(bucket_res_name(BUCKET_HOUR), "hour");
    cr_assert_str_eq(bucket_res_name(BUCKET_DAY), "day");
    cr_assert_str_eq(bucket_res_name(BUCKET_MONTH), "month");
    cr_assert_str_eq(bucket_res_name(BUCKET_YEAR), "year");
    cr_assert_str_eq(bucket_res_name(BUCKET_RES_COUNT), "?");
}

Test(buckets, counts_land_in_every_resolution)
{
    struct buckets b;
    cr_assert_eq(buckets_init(&b), 0);
    buckets_add(&b, T, 2);
    buckets_add(&b, T + 29, 1);   /* same minute */
    buckets_add(&b, T + 30, 1);   /* next minute, same hour */
    buckets_add(&b, T - 3600, 5); /* an hour earlier, out of order */
    cr_assert_eq(buckets_get(&b, BUCKET_MINUTE, T), 3);
    cr_assert_eq(buckets_get(&b, BUCKET_MINUTE, T + 30), 1);
    cr_assert_eq(buckets_get(&b, BUCKET_HOUR, T), 4);
    cr_assert_eq(buckets_get(&b, BUCKET_HOUR, T - 3600), 5);
    cr_assert_eq(buckets_get(&b, BUCKET_DAY, T), 9);
    cr_assert_eq(buckets_get(&b, BUCKET_MONTH, T), 9);
    cr_assert_eq(buckets_get(&b, BUCKET_YEAR, T), 9);
    cr_assert_eq(buckets_get(&b, BUCKET_YEAR, T + 366 * 86400), 0);
    /* Sorted by start. */
    struct bucket_list *l = &b.res[BUCKET_MINUTE];
    cr_assert_eq(l->n, 3);
    for (size_t i = 1; i < l->n; i++)
        cr_assert_lt(l->b[i - 1].start, l->b[i].start);
    buckets_fini(&b);
    buckets_fini(&b);
}

Test(buckets, oldest_buckets_are_evicted)
{
    struct buckets b;
    cr_assert_eq(buckets_init(&b), 0);
    for (int64_t m = 0; m < BUCKETS_MAX + 10; m++)
        buckets_add(&b, m * 60, 1);
    struct bucket_list *l = &b.res[BUCKET_MINUTE];
    cr_assert_eq(l->n, BUCKETS_MAX);
    cr_assert_eq(l->evicted, 10);
    cr_assert_eq(l->b[0].start, 600);
    buckets_add(&b, 0, 1); /* older than all held */
    cr_assert_eq(l->evicted, 11);
    cr_assert_eq(buckets_get(&b, BUCKET_YEAR, 0), BUCKETS_MAX + 11);
    buckets_fini(&b);
}
