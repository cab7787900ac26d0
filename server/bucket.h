/* Time buckets of the counter history. */
#ifndef SRV_BUCKET_H
#define SRV_BUCKET_H

#include <stdint.h>

/* Resolutions of the stored history, in seconds; months and years are
 * SRV_RES_MONTH and SRV_RES_YEAR. */
#define SRV_RES_SECOND 1
#define SRV_RES_MINUTE 60
#define SRV_RES_HOUR   3600
#define SRV_RES_DAY    86400
#define SRV_RES_MONTH  0
#define SRV_RES_YEAR   (-1)

/* The start of the bucket of res that holds epoch second t. */
int64_t srv_bucket_floor(int64_t t, int64_t res);

/* The start of the bucket after the one starting at t. */
int64_t srv_bucket_next(int64_t t, int64_t res);

#endif
