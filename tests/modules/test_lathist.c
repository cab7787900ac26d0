/*
 * Unit tests of the fine latency histogram.
 */
#include <criterion/criterion.h>

#include "lathist.h"

#include <math.h>

Test(lathist, quantiles_within_a_bucket)
{
    static struct lathist h;
    cr_assert_eq(lathist_quantile(&h, 0.5), 0);
    for (int i = 1; i <= 10000; i++)
        lathist_add(&h, i);
    cr_assert_eq(h.total, 10000);
    cr_assert_eq(h.max, 10000);
    double p50 = lathist_quantile(&h, 0.5);
    double p99 = lathist_quantile(&h, 0.99);
    cr_assert(fabs(p50 - 5000) / 5000 < 0.07, "p50 %f", p50);
    cr_assert(fabs(p99 - 9900) / 9900 < 0.07, "p99 %f", p99);
    cr_assert(lathist_quantile(&h, 1.0) >= 9000);
}

Test(lathist, small_and_extreme_values)
{
    static struct lathist h;
    lathist_add(&h, -5); /* clock skew */
    lathist_add(&h, 3);
    lathist_add(&h, INT64_MAX);
    cr_assert_eq(h.total, 3);
    cr_assert_eq(lathist_quantile(&h, 0.0), 0);
    cr_assert_eq(lathist_quantile(&h, 0.5), 3);
    cr_assert_gt(lathist_quantile(&h, 0.99), 1e18);
}

/* One sample in the lower half of its bucket: the bucket's middle would
 * lie above it, the quantile does not. */
Test(lathist, never_above_the_largest_sample)
{
    static struct lathist h;
    lathist_add(&h, 995000);
    cr_assert_eq(lathist_quantile(&h, 0.5), 995000);
    cr_assert_eq(lathist_quantile(&h, 0.99), 995000);
}
