/*
 * Unit tests of the time source's date format.
 */
#include <criterion/criterion.h>

#include "datefmt.h"

/* 2024-02-29 13:05:09.042 UTC, a Thursday. */
#define T 1709211909042LL

static void check(const char *pat, const char *want)
{
    size_t pos;
    cr_assert_eq(datefmt_check(pat, &pos), 0, "%s", pat);
    char out[128];
    size_t n = datefmt_format(pat, T, out, sizeof(out));
    cr_assert_str_eq(out, want, "pattern %s", pat);
    cr_assert_eq(n, strlen(want));
}

Test(datefmt, scdf_default_and_others)
{
    check("MM/dd/yy HH:mm:ss", "02/29/24 13:05:09");
    check("yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2024-02-29T13:05:09.042+0000");
    check("EEE, d MMM yyyy h:mm a", "Thu, 29 Feb 2024 1:05 PM");
    check("'it''s' HH 'o''clock'", "it's 13 o'clock");
    check("''", "'");
    check("", "");
}

Test(datefmt, bad_patterns_name_the_offset)
{
    size_t pos = 99;
    cr_assert_eq(datefmt_check("yyyy-MM-dd Q", &pos), -1);
    cr_assert_eq(pos, 11);
    cr_assert_eq(datefmt_check("HH 'oops", &pos), -1);
    cr_assert_eq(pos, 3);
}

Test(datefmt, truncates_like_snprintf)
{
    char out[5];
    size_t n = datefmt_format("yyyy-MM-dd", T, out, sizeof(out));
    cr_assert_eq(n, 10);
    cr_assert_str_eq(out, "2024");
    cr_assert_eq(datefmt_format("yyyy", T, NULL, 0), 4);
}
