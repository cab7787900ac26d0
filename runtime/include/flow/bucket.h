/*
 * flow: calendar time buckets in UTC, as the counters keep their history
 * (the aggregate-counter app, flowd's analytics). A resolution is a size
 * in seconds (any positive one: FLOW_BUCKET_MINUTE, ...), or a calendar
 * month or year, whose lengths vary. Pure and reentrant; valid for every
 * epoch second, also before 1970.
 */
#ifndef FLOW_BUCKET_H
#define FLOW_BUCKET_H

#include <stdint.h>

#define FLOW_BUCKET_SECOND 1
#define FLOW_BUCKET_MINUTE 60
#define FLOW_BUCKET_HOUR   3600
#define FLOW_BUCKET_DAY    86400
#define FLOW_BUCKET_MONTH  0
#define FLOW_BUCKET_YEAR   (-1)

/* The start (epoch seconds) of the bucket of resolution res that holds
 * epoch second t. */
int64_t flow_bucket_floor(int64_t t, int64_t res);

/* The start of the bucket of resolution res after the one that holds t. */
int64_t flow_bucket_next(int64_t t, int64_t res);

#endif
