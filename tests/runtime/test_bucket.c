/*
 * Unit tests of the calendar time buckets (flow/bucket.h), which the
 * aggregate-counter app and flowd's analytics both count in.
 */
#include <criterion/criterion.h>

#include "flow/bucket.h"

/* 2026-11-26T09:36:41Z */
#define T 1795685801LL
/* 2024-02-29T13:45:30Z (a leap day) */
#define L 1709214330LL

Test(bucket, fixed_sizes)
{
    cr_assert_eq(flow_bucket_floor(T, FLOW_BUCKET_SECOND), T);
    cr_assert_eq(flow_bucket_floor(T, FLOW_BUCKET_MINUTE), T - 41);
    cr_assert_eq(flow_bucket_floor(T, FLOW_BUCKET_HOUR), T - 36 * 60 - 41);
    cr_assert_eq(flow_bucket_floor(T, FLOW_BUCKET_DAY),
                 T - 9 * 3600 - 36 * 60 - 41);
    cr_assert_eq(flow_bucket_next(T - 41, FLOW_BUCKET_MINUTE), T + 19);
    cr_assert_eq(flow_bucket_next(T, FLOW_BUCKET_MINUTE), T + 19,
                 "the bucket after the one holding t");
    cr_assert_eq(flow_bucket_floor(L, FLOW_BUCKET_MINUTE), 1709214300LL);
    cr_assert_eq(flow_bucket_floor(L, FLOW_BUCKET_HOUR), 1709211600LL);
    cr_assert_eq(flow_bucket_floor(L, FLOW_BUCKET_DAY), 1709164800LL);
    cr_assert_eq(flow_bucket_floor(300, 7), 294, "any positive size");
}

Test(bucket, before_the_epoch)
{
    cr_assert_eq(flow_bucket_floor(-1, FLOW_BUCKET_MINUTE), -60,
                 "floors, not truncates, before the epoch");
    cr_assert_eq(flow_bucket_floor(-1, FLOW_BUCKET_DAY), -86400);
    cr_assert_eq(flow_bucket_floor(-1, FLOW_BUCKET_MONTH),
                 -31 * 86400LL); /* 1969-12-01 */
    cr_assert_eq(flow_bucket_floor(-1, FLOW_BUCKET_YEAR),
                 -31536000LL); /* 1969-01-01 */
    cr_assert_eq(flow_bucket_next(-1, FLOW_BUCKET_YEAR), 0);
    cr_assert_eq(flow_bucket_next(-1, FLOW_BUCKET_MONTH), 0);
}

Test(bucket, calendar)
{
    int64_t m = flow_bucket_floor(T, FLOW_BUCKET_MONTH);
    cr_assert_eq(m, 1793491200); /* 2026-11-01T00:00:00Z */
    cr_assert_eq(flow_bucket_next(m, FLOW_BUCKET_MONTH),
                 1796083200); /* 2026-12-01 */
    int64_t y = flow_bucket_floor(T, FLOW_BUCKET_YEAR);
    cr_assert_eq(y, 1767225600); /* 2026-01-01 */
    cr_assert_eq(flow_bucket_next(y, FLOW_BUCKET_YEAR), 1798761600);
    cr_assert_eq(flow_bucket_next(1796083200, FLOW_BUCKET_MONTH), 1798761600,
                 "December rolls into January");
    /* A leap February, the first second of a month, December's last. */
    cr_assert_eq(flow_bucket_floor(L, FLOW_BUCKET_MONTH),
                 1706745600LL); /* 2024-02-01 */
    cr_assert_eq(flow_bucket_next(L, FLOW_BUCKET_MONTH),
                 1709251200LL); /* 2024-03-01 */
    cr_assert_eq(flow_bucket_floor(L, FLOW_BUCKET_YEAR),
                 1704067200LL); /* 2024-01-01 */
    cr_assert_eq(flow_bucket_floor(1709251200LL, FLOW_BUCKET_MONTH),
                 1709251200LL);
    cr_assert_eq(flow_bucket_floor(1735689599LL, FLOW_BUCKET_MONTH),
                 1733011200LL); /* 2024-12-31T23:59:59Z: 2024-12-01 */
    cr_assert_eq(flow_bucket_next(1704067200LL, FLOW_BUCKET_YEAR), 1735689600LL,
                 "a leap year is 366 days");
}
