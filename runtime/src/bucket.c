/* Calendar time buckets (see flow/bucket.h). */
#include "flow/bucket.h"

#include <stddef.h>

#include "civil.h"

int64_t flow_bucket_floor(int64_t t, int64_t res)
{
    if (res > 0)
        return flow__floor_div(t, res) * res;
    int64_t y;
    unsigned m;
    flow__civil_from_days(flow__floor_div(t, 86400), &y, &m, NULL);
    return flow__days_from_civil(y, res < 0 ? 1 : m, 1) * 86400;
}

int64_t flow_bucket_next(int64_t t, int64_t res)
{
    if (res > 0)
        return flow_bucket_floor(t, res) + res;
    int64_t y;
    unsigned m;
    flow__civil_from_days(flow__floor_div(t, 86400), &y, &m, NULL);
    if (res < 0)
        return flow__days_from_civil(y + 1, 1, 1) * 86400;
    return m == 12 ? flow__days_from_civil(y + 1, 1, 1) * 86400
                   : flow__days_from_civil(y, m + 1, 1) * 86400;
}
