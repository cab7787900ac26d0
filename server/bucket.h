/* Time buckets of the counter history: libflow's calendar buckets
 * (flow/bucket.h), under the names the server's analytics use. */
#ifndef SRV_BUCKET_H
#define SRV_BUCKET_H

#include <stdint.h>

#include <flow/bucket.h>

/* Resolutions of the stored history, in seconds; months and years are
 * SRV_RES_MONTH and SRV_RES_YEAR. */
#define SRV_RES_SECOND FLOW_BUCKET_SECOND
#define SRV_RES_MINUTE FLOW_BUCKET_MINUTE
#define SRV_RES_HOUR   FLOW_BUCKET_HOUR
#define SRV_RES_DAY    FLOW_BUCKET_DAY
#define SRV_RES_MONTH  FLOW_BUCKET_MONTH
#define SRV_RES_YEAR   FLOW_BUCKET_YEAR

/* The start of the bucket of res that holds epoch second t. */
static inline int64_t srv_bucket_floor(int64_t t, int64_t res)
{
    return flow_bucket_floor(t, res);
}

/* The start of the bucket after the one that holds t. */
static inline int64_t srv_bucket_next(int64_t t, int64_t res)
{
    return flow_bucket_next(t, res);
}

#endif
