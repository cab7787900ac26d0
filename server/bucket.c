/* Time buckets of the counter history: fixed sizes in seconds, calendar
 * months and years in UTC. Pure, unit-tested. */
#include "bucket.h"

#include <time.h>

int64_t srv_bucket_floor(int64_t t, int64_t res)
{
    if (res > 0)
        return t - ((t % res) + res) % res;
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    tm.tm_sec = tm.tm_min = tm.tm_hour = 0;
    tm.tm_mday = 1;
    if (res < 0)
        tm.tm_mon = 0;
    return (int64_t)timegm(&tm);
}

int64_t srv_bucket_next(int64_t t, int64_t res)
{
    if (res > 0)
        return t + res;
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (res < 0)
        tm.tm_year++;
    else
        tm.tm_mon++;
    return (int64_t)timegm(&tm);
}
