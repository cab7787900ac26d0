/*
 * Unit tests of the counters' tally: totals, the last hour per second,
 * increments per reporting period.
 */
#include <criterion/criterion.h>

#include "tally.h"

struct seen {
    int64_t sec[16];
    uint64_t inc[16];
    int n;
};

static void collect(int64_t sec, uint64_t inc, void *arg)
{
    struct seen *s = arg;
    cr_assert_lt(s->n, 16);
    s->sec[s->n] = sec;
    s->inc[s->n] = inc;
    s->n++;
}

static uint64_t inc_of(const struct seen *s, int64_t sec)
{
    for (int i = 0; i < s->n; i++) {
        if (s->sec[i] == sec)
            return s->inc[i];
    }
    return 0;
}

Test(tally, counts_per_second_and_takes_increments)
{
    struct tally t;
    cr_assert_eq(tally_init(&t), 0);
    cr_assert_not(tally_changed(&t));
    tally_add(&t, 1000, 1);
    tally_add(&t, 1000, 2);
    tally_add(&t, 1001, 5);
    tally_add(&t, 999, 1); /* late, still within the hour */
    cr_assert_eq(t.total, 9);
    cr_assert(tally_changed(&t));
    cr_assert_eq(tally_second(&t, 1000), 3);
    cr_assert_eq(tally_second(&t, 1001), 5);
    cr_assert_eq(tally_second(&t, 999), 1);
    cr_assert_eq(tally_second(&t, 998), 0);

    struct seen s = { .n = 0 };
    cr_assert_eq(tally_take(&t, collect, &s), 9);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(inc_of(&s, 1000), 3);
    cr_assert_eq(inc_of(&s, 1001), 5);
    cr_assert_eq(inc_of(&s, 999), 1);
    cr_assert_not(tally_changed(&t));

    tally_add(&t, 1001, 1);
    struct seen s2 = { .n = 0 };
    cr_assert_eq(tally_take(&t, collect, &s2), 1);
    cr_assert_eq(s2.n, 1);
    cr_assert_eq(inc_of(&s2, 1001), 1);
    cr_assert_eq(tally_second(&t, 1001), 6, "the hour keeps the total");
    cr_assert_eq(t.total, 10);
    tally_fini(&t);
}

Test(tally, keeps_only_the_last_hour)
{
    struct tally t;
    cr_assert_eq(tally_init(&t), 0);
    tally_add(&t, 0, 4);
    tally_add(&t, 3599, 1);
    cr_assert_eq(tally_second(&t, 0), 4);
    tally_add(&t, 3600, 2); /* same slot as second 0 */
    cr_assert_eq(tally_second(&t, 0), 0);
    cr_assert_eq(tally_second(&t, 3600), 2);
    cr_assert_eq(tally_second(&t, 3599), 1);
    tally_add(&t, 0, 1); /* older than the hour: total only */
    cr_assert_eq(tally_second(&t, 0), 0);
    cr_assert_eq(tally_second(&t, 3600), 2);
    cr_assert_eq(t.total, 8);
    tally_add(&t, -7, 1); /* negative seconds do not crash */
    cr_assert_eq(t.total, 9);
    tally_fini(&t);
}

static void sum(int64_t sec, uint64_t inc, void *arg)
{
    (void)sec;
    *(uint64_t *)arg += inc;
}

Test(tally, pending_seconds_are_bounded)
{
    struct tally t;
    cr_assert_eq(tally_init(&t), 0);
    for (int64_t s = 0; s < TALLY_PENDING_MAX + 100; s++)
        tally_add(&t, s * 7, 1);
    cr_assert_eq(t.npending, TALLY_PENDING_MAX);
    cr_assert_eq(t.lost_seconds, 100);
    uint64_t total = 0;
    cr_assert_eq(tally_take(&t, sum, &total), TALLY_PENDING_MAX + 100);
    cr_assert_eq(total, TALLY_PENDING_MAX);
    cr_assert_eq(t.npending, 0);
    tally_add(&t, 1, 1);
    cr_assert_eq(t.npending, 1);
    tally_fini(&t);
}
