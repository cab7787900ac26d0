/*
 * Unit tests of key groups (flow/keygroup.h): Kafka's murmur2 against the
 * vectors of Kafka's own tests (UtilsTest.testMurmur2), the key group of
 * a key, and the ownership of key groups by instances, which the router
 * and the restore of keyed state both rely on.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "flow/keygroup.h"

static int32_t m2(const char *s)
{
    return flow_murmur2(s, strlen(s));
}

Test(keygroup, murmur2_kafka_vectors)
{
    cr_assert_eq(m2("21"), -973932308);
    cr_assert_eq(m2("foobar"), -790332482);
    cr_assert_eq(m2("a-little-bit-long-string"), -985981536);
    cr_assert_eq(m2("a-little-bit-longer-string"), -1486304829);
    cr_assert_eq(m2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
                 -58897971);
    cr_assert_eq(m2("abc"), 479470107);
    /* Every tail length (0 to 3 bytes past a multiple of 4). */
    cr_assert_eq(m2(""), 275646681);
    cr_assert_eq(m2("acct-0000001"), -1073624709);
}

Test(keygroup, key_group_is_positive_murmur2_mod_k)
{
    /* murmur2("21") & 0x7fffffff = 1173551340. */
    cr_assert_eq(flow_keygroup_of("21", 2, 128), 1173551340u % 128);
    cr_assert_eq(flow_keygroup_of("21", 2, 1000), 1173551340u % 1000);
    cr_assert_eq(flow_keygroup_of("abc", 3, 7), 479470107u % 7);
    cr_assert_eq(flow_keygroup_of("21", 2, 1), 0);
}

Test(keygroup, ownership_covers_every_key_group_once)
{
    const uint32_t ks[] = { 1, 7, 16, 128, 1000 };
    for (size_t t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
        uint32_t k = ks[t];
        for (uint32_t n = 1; n <= 16; n++) {
            uint32_t next = 0; /* ranges are contiguous and in order */
            for (uint32_t i = 0; i < n; i++) {
                uint32_t first, end;
                flow_keygroup_range(i, n, k, &first, &end);
                cr_assert_eq(first, next, "k=%u n=%u i=%u starts at %u", k, n,
                             i, first);
                cr_assert_leq(first, end);
                for (uint32_t kg = first; kg < end; kg++)
                    cr_assert_eq(flow_keygroup_owner(kg, n, k), i,
                                 "k=%u n=%u: kg %u", k, n, kg);
                next = end;
            }
            cr_assert_eq(next, k, "k=%u n=%u: ranges end at %u", k, n, next);
            for (uint32_t kg = 0; kg < k; kg++)
                cr_assert_lt(flow_keygroup_owner(kg, n, k), n);
        }
    }
}

Test(keygroup, routing_is_deterministic_and_spread)
{
    /* The same key always reaches the same lane, and 3 lanes of 128 key
     * groups each get a fair share of 30000 accounts. */
    uint32_t per[3] = { 0 };
    char key[32];
    for (int a = 0; a < 30000; a++) {
        int n = snprintf(key, sizeof(key), "acct-%07d", a);
        uint32_t kg = flow_keygroup_of(key, (size_t)n, 128);
        uint32_t lane = flow_keygroup_owner(kg, 3, 128);
        cr_assert_eq(flow_keygroup_of(key, (size_t)n, 128), kg);
        cr_assert_lt(lane, 3);
        per[lane]++;
    }
    for (int j = 0; j < 3; j++)
        cr_assert(per[j] > 8000 && per[j] < 12000, "lane %d got %u", j, per[j]);
    /* 42 lanes of 128 key groups: lane of kg 127 is 41, of kg 0 is 0. */
    cr_assert_eq(flow_keygroup_owner(127, 42, 128), 41);
    cr_assert_eq(flow_keygroup_owner(0, 42, 128), 0);
}
