/* ISO-8601 timestamps (see flow/iso8601.h). */
#include "flow/iso8601.h"

#include <stdbool.h>

#include "civil.h"
#include "flow/error.h"

/* Reads exactly n decimal digits at s. */
static bool digits(const char *s, size_t n, int64_t *out)
{
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *out = x;
    return true;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t month_days(int64_t y, int64_t m)
{
    static const int days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

int flow_iso8601_parse(const char *s, size_t n, int64_t *sec)
{
    int64_t y, mo, d, h, mi, se = 0, off = 0;

    /* YYYY-MM-DDTHH:MM */
    if (n < 16 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':')
        return -FLOW_EINVAL;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi))
        return -FLOW_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 ||
        mi > 59)
        return -FLOW_EINVAL;
    size_t i = 16;
    /* :SS, then .fraction */
    if (i < n && s[i] == ':') {
        if (n < i + 3 || !digits(s + i + 1, 2, &se) || se > 60)
            return -FLOW_EINVAL;
        i += 3;
        if (i < n && s[i] == '.') {
            size_t f = ++i;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
            if (i == f)
                return -FLOW_EINVAL;
        }
    }
    /* Z, or +HH:MM / -HH:MM, or nothing (UTC) */
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int64_t oh, om;
        if (n < i + 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -FLOW_EINVAL;
        off = (oh * 60 + om) * 60;
        if (s[i] == '-')
            off = -off;
        i += 6;
    }
    if (i != n)
        return -FLOW_EINVAL;
    *sec = flow__days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
           h * 3600 + mi * 60 + se - off;
    return 0;
}
