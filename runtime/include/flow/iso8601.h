/*
 * flow: ISO-8601 timestamps, as the counters' --time-field values and
 * flowd's ?from= and ?to= take them. Accepted (RFC 3339 and the forms
 * people type):
 *
 *   2024-02-29T13:05:09Z          date, 'T', time, 'Z'
 *   2024-02-29 13:05:09           a space for the 'T'; no zone means UTC
 *   2024-02-29t13:05:09z          'T' and 'Z' in lower case (RFC 3339)
 *   2024-02-29T13:05Z             seconds left out
 *   2024-02-29T13:05:09.250Z      a fraction of a second (any number of
 *                                 digits; dropped, the result is seconds)
 *   2024-02-29T15:05:09+02:00     a zone offset, +HH:MM or -HH:MM
 *
 * Refused: anything else, such as a date alone, a fraction without
 * seconds or without digits, a field of the wrong width, a day the month
 * does not have (2023-02-29), 24:00, trailing text. Second 60 (a leap
 * second) is taken, as the next minute's first.
 */
#ifndef FLOW_ISO8601_H
#define FLOW_ISO8601_H

#include <stddef.h>
#include <stdint.h>

/* Parses the len bytes at s (need not be NUL-terminated) into epoch
 * seconds; returns 0, or -FLOW_EINVAL with *sec untouched. */
int flow_iso8601_parse(const char *s, size_t len, int64_t *sec);

#endif
