#include <criterion/criterion.h>

#include "bucket.h"

/* 2026-11-26T09:36:41Z */
#define T 1795685801

Test(bucket, fixed_sizes)
{
    cr_assert_eq(srv_bucket_floor(T, SRV_RES_SECOND), T);
    cr_assert_eq(srv_bucket_floor(T, SRV_RES_MINUTE), T - 41);
    cr_assert_eq(srv_bucket_floor(T, SRV_RES_HOUR), T - 36 * 60 - 41);
    cr_assert_eq(srv_bucket_floor(T, SRV_RES_DAY), T - 9 * 3600 - 36 * 60 - 41);
    cr_assert_eq(srv_bucket_next(T - 41, SRV_RES_MINUTE), T + 19);
    cr_assert_eq(srv_bucket_floor(-1, SRV_RES_MINUTE), -60,
                 "floors, not truncates, before the epoch");
}

Test(bucket, calendar)
{
    int64_t m = srv_bucket_floor(T, SRV_RES_MONTH);
    cr_assert_eq(m, 1793491200); /* 2026-11-01T00:00:00Z */
    cr_assert_eq(srv_bucket_next(m, SRV_RES_MONTH),
                 1796083200); /* 2026-12-01 */
    int64_t y = srv_bucket_floor(T, SRV_RES_YEAR);
    cr_assert_eq(y, 1767225600); /* 2026-01-01 */
    cr_assert_eq(srv_bucket_next(y, SRV_RES_YEAR), 1798761600);
    cr_assert_eq(srv_bucket_next(1796083200, SRV_RES_MONTH), 1798761600,
                 "December rolls into January");
}
