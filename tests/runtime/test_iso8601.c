/*
 * Unit tests of ISO-8601 parsing (flow/iso8601.h): every accepted form
 * and the refusals, as the counters' --time-field and flowd's ?from= and
 * ?to= take them.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "flow/error.h"
#include "flow/iso8601.h"

/* 2024-02-29T13:05:09Z */
#define T 1709211909LL

static int parse(const char *s, int64_t *sec)
{
    return flow_iso8601_parse(s, strlen(s), sec);
}

static void accepts(const char *s, int64_t want)
{
    int64_t t = -1;
    cr_assert_eq(parse(s, &t), 0, "refused %s", s);
    cr_assert_eq(t, want, "%s gave %lld, not %lld", s, (long long)t,
                 (long long)want);
}

static void refuses(const char *s)
{
    int64_t t = 42;
    cr_assert_eq(parse(s, &t), -FLOW_EINVAL, "took %s", s);
    cr_assert_eq(t, 42, "%s changed the result", s);
}

Test(iso8601, every_form)
{
    accepts("2024-02-29T13:05:09Z", T);
    accepts("2024-02-29T13:05:09", T);
    accepts("2024-02-29 13:05:09Z", T);
    accepts("2024-02-29 13:05:09", T);
    accepts("2024-02-29t13:05:09z", T);
    accepts("2024-02-29T13:05Z", T - 9);
    accepts("2024-02-29T13:05", T - 9);
    accepts("2024-02-29T13:05:09.123", T);
    accepts("2024-02-29T13:05:09.999999999Z", T);
    accepts("2024-02-29T13:05:09.5+00:00", T);
    accepts("2024-02-29T15:05:09+02:00", T);
    accepts("2024-02-29T08:35:09-04:30", T);
    accepts("2024-02-29T13:05+01:00", T - 9 - 3600);
    accepts("2026-11-26T09:00:00Z", 1795683600LL);
    accepts("1970-01-01T00:00:00Z", 0);
    accepts("1969-12-31T23:59:59Z", -1);
    accepts("2000-02-29T00:00:00Z", 951782400LL);
    accepts("2024-02-29T13:05:60Z", T + 51); /* leap second */
}

Test(iso8601, only_the_given_bytes)
{
    int64_t t;
    const char *s = "2024-02-29T13:05:09Zjunk";
    cr_assert_eq(flow_iso8601_parse(s, 20, &t), 0);
    cr_assert_eq(t, T);
    cr_assert_eq(flow_iso8601_parse(s, 21, &t), -FLOW_EINVAL);
    cr_assert_eq(flow_iso8601_parse(s, 15, &t), -FLOW_EINVAL);
    cr_assert_eq(flow_iso8601_parse(s, 0, &t), -FLOW_EINVAL);
}

Test(iso8601, refusals)
{
    refuses("");
    refuses("yesterday");
    refuses("1709211909");
    refuses("2024-02-29");                 /* a date alone */
    refuses("2024-02-29T");                /* no time */
    refuses("2024-02-29T13");              /* no minutes */
    refuses("2024-02-29T13:05:");          /* colon without seconds */
    refuses("2024-02-29T13:05:9");         /* one digit of seconds */
    refuses("2024-02-29T13:05.5");         /* a fraction without seconds */
    refuses("2024-02-29T13:05:09.");       /* a fraction without digits */
    refuses("2024-02-29T13:05:09.Z");      /* the same before a Z */
    refuses("2024-2-29T13:05:09Z");        /* month of one digit */
    refuses("2024-02-9T13:05:09Z");        /* day of one digit */
    refuses("2024-02-29T3:05:09Z");        /* hour of one digit */
    refuses("24-02-29T13:05:09Z");         /* year of two digits */
    refuses("2024/02/29T13:05:09Z");       /* wrong separators */
    refuses("2024-02-29_13:05:09Z");       /* wrong date/time separator */
    refuses("2024-13-29T13:05:09Z");       /* month 13 */
    refuses("2024-00-29T13:05:09Z");       /* month 0 */
    refuses("2024-02-00T13:05:09Z");       /* day 0 */
    refuses("2024-02-30T13:05:09Z");       /* a day February lacks */
    refuses("2023-02-29T13:05:09Z");       /* not a leap year */
    refuses("1900-02-29T00:00:00Z");       /* nor is 1900 */
    refuses("2024-04-31T00:00:00Z");       /* April has 30 */
    refuses("2024-02-29T24:00:00Z");       /* hour 24 */
    refuses("2024-02-29T13:60:00Z");       /* minute 60 */
    refuses("2024-02-29T13:05:61Z");       /* second 61 */
    refuses("2024-02-29T13:05:09ZZ");      /* trailing text */
    refuses("2024-02-29T13:05:09 ");       /* trailing space */
    refuses(" 2024-02-29T13:05:09Z");      /* leading space */
    refuses("2024-02-29T13:05:09+02");     /* offset without minutes */
    refuses("2024-02-29T13:05:09+0200");   /* offset without a colon */
    refuses("2024-02-29T13:05:09+24:00");  /* offset hour 24 */
    refuses("2024-02-29T13:05:09+02:60");  /* offset minute 60 */
    refuses("2024-02-29T13:05:09Z+02:00"); /* both Z and an offset */
    refuses("2024-02-29T13:05:09-");
    refuses("+024-02-29T13:05:09Z");
}
