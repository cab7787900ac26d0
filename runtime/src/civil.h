/*
 * Days of the proleptic Gregorian calendar, counted from 1970-01-01, for
 * any year (Howard Hinnant's days_from_civil and civil_from_days, public
 * domain). Internal to libflow: flow/bucket.h and flow/iso8601.h are the
 * public faces.
 */
#ifndef FLOW_CIVIL_H
#define FLOW_CIVIL_H

#include <stdint.h>

/* floor(a / b) for b > 0, also for negative a. */
int64_t flow__floor_div(int64_t a, int64_t b);

/* The day number of year y, month m (1-12), day d (1-31). */
int64_t flow__days_from_civil(int64_t y, unsigned m, unsigned d);

/* The year and month (1-12) of day number z; day is the day of the month
 * (1-31) when not NULL. */
void flow__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *day);

#endif
