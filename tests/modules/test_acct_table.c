/*
 * Unit tests of the account table: lookups, growth, the cap, snapshots.
 */
#include <criterion/criterion.h>

#include "acct_table.h"

#include <stdlib.h>
#include <string.h>

Test(acct_table, get_creates_and_find_finds)
{
    struct acct_table t;
    acct_table_init(&t, 0);
    cr_assert_null(acct_table_find(&t, 42));
    for (uint64_t id = 0; id < 10000; id++) {
        struct acct *a = acct_table_get(&t, id * 7919);
        cr_assert_not_null(a);
        cr_assert_eq(a->state, ACCT_ST_CREATED);
        a->balance = (int64_t)id;
    }
    cr_assert_eq(t.count, 10000);
    for (uint64_t id = 0; id < 10000; id++) {
        struct acct *a = acct_table_find(&t, id * 7919);
        cr_assert_not_null(a);
        cr_assert_eq(a->balance, (int64_t)id);
        cr_assert_eq(acct_table_get(&t, id * 7919), a);
    }
    cr_assert_null(acct_table_find(&t, 1));
    acct_table_fini(&t);
    acct_table_fini(&t); /* safe twice */
}

Test(acct_table, cap_refuses_new_accounts)
{
    struct acct_table t;
    acct_table_init(&t, 3);
    cr_assert_not_null(acct_table_get(&t, 1));
    cr_assert_not_null(acct_table_get(&t, 2));
    cr_assert_not_null(acct_table_get(&t, 3));
    cr_assert_null(acct_table_get(&t, 4));
    cr_assert_not_null(acct_table_get(&t, 2), "existing ones still found");
    acct_table_fini(&t);
}

Test(acct_table, snapshot_round_trip)
{
    struct acct_table t, u;
    acct_table_init(&t, 0);
    acct_table_init(&u, 0);
    for (uint64_t id = 1; id <= 500; id++) {
        struct acct *a = acct_table_get(&t, id);
        a->state = (uint8_t)(id % ACCT_ST_COUNT);
        a->balance = (int64_t)(id * 1000);
        a->last_seq = id + 3;
    }
    uint8_t *buf;
    size_t len;
    cr_assert_eq(acct_table_save(&t, &buf, &len), 0);
    cr_assert_eq(len, 16 + 500 * 25);
    const char *why = NULL;
    acct_table_get(&u, 9999); /* replaced by the load */
    cr_assert_eq(acct_table_load(&u, buf, len, &why), 0, "%s", why);
    cr_assert_eq(u.count, 500);
    cr_assert_null(acct_table_find(&u, 9999));
    for (uint64_t id = 1; id <= 500; id++) {
        struct acct *a = acct_table_find(&u, id);
        cr_assert_not_null(a);
        cr_assert_eq(a->state, id % ACCT_ST_COUNT);
        cr_assert_eq(a->balance, (int64_t)(id * 1000));
        cr_assert_eq(a->last_seq, id + 3);
    }
    free(buf);
    acct_table_fini(&t);
    acct_table_fini(&u);
}

Test(acct_table, bad_snapshots_are_refused)
{
    struct acct_table t;
    acct_table_init(&t, 2);
    struct acct *a = acct_table_get(&t, 5);
    a->balance = 1;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(acct_table_save(&t, &buf, &len), 0);
    const char *why = NULL;

    cr_assert_eq(acct_table_load(&t, buf, 3, &why), -1);
    cr_assert_not_null(why);
    cr_assert_eq(acct_table_load(&t, buf, len - 1, &why), -1);
    cr_assert(strstr(why, "length") != NULL, "%s", why);

    buf[16 + 24] = 17; /* state out of range */
    cr_assert_eq(acct_table_load(&t, buf, len, &why), -1);
    cr_assert(strstr(why, "state") != NULL, "%s", why);
    buf[16 + 24] = ACCT_ST_ACTIVE;

    buf[0] = 'X';
    cr_assert_eq(acct_table_load(&t, buf, len, &why), -1);
    cr_assert(strstr(why, "magic") != NULL, "%s", why);
    cr_assert_eq(t.count, 0, "a refused snapshot leaves the table empty");

    /* A huge count in a short buffer is refused without allocating. */
    buf[0] = 'F';
    memset(buf + 8, 0xff, 8);
    cr_assert_eq(acct_table_load(&t, buf, len, &why), -1);
    free(buf);
    acct_table_fini(&t);
}
