/*
 * Unit tests of the field-value counts.
 */
#include <criterion/criterion.h>

#include "fvmap.h"

#include <stdio.h>
#include <string.h>

static void sum_pending(const struct fv_entry *e, void *arg)
{
    *(uint64_t *)arg += e->pending;
}

Test(fvmap, counts_values)
{
    struct fvmap m;
    fvmap_init(&m, 0);
    cr_assert_eq(fvmap_add(&m, "ACTIVE", 6, 1), 0);
    cr_assert_eq(fvmap_add(&m, "ACTIVE", 6, 2), 0);
    cr_assert_eq(fvmap_add(&m, "PENDING", 7, 1), 0);
    cr_assert_eq(fvmap_add(&m, "", 0, 1), 0);
    cr_assert_eq(fvmap_add(&m, "A\0B", 3, 1), 0, "embedded NUL is a value");
    cr_assert_eq(fvmap_get(&m, "ACTIVE", 6), 3);
    cr_assert_eq(fvmap_get(&m, "ACTIV", 5), 0);
    cr_assert_eq(fvmap_get(&m, "A\0B", 3), 1);
    cr_assert_eq(fvmap_get(&m, "A", 1), 0);
    cr_assert_eq(m.count, 4);
    uint64_t p = 0;
    fvmap_take(&m, sum_pending, &p);
    cr_assert_eq(p, 6);
    p = 0;
    fvmap_take(&m, sum_pending, &p);
    cr_assert_eq(p, 0);
    fvmap_add(&m, "PENDING", 7, 4);
    fvmap_take(&m, sum_pending, &p);
    cr_assert_eq(p, 4);
    cr_assert_eq(fvmap_get(&m, "PENDING", 7), 5);
    fvmap_fini(&m);
}

Test(fvmap, many_values_and_cap)
{
    struct fvmap m;
    fvmap_init(&m, 1000);
    char key[32];
    for (int i = 0; i < 1500; i++) {
        int n = snprintf(key, sizeof(key), "v%d", i);
        int r = fvmap_add(&m, key, (size_t)n, 1);
        cr_assert_eq(r, i < 1000 ? 0 : -1);
    }
    cr_assert_eq(m.count, 1000);
    cr_assert_eq(m.overflow, 500);
    cr_assert_eq(fvmap_get(&m, "v999", 4), 1);
    cr_assert_eq(fvmap_add(&m, "v3", 2, 1), 0, "known values still count");
    cr_assert_eq(fvmap_get(&m, "v3", 2), 2);
    fvmap_fini(&m);
}
