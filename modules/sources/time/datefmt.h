/*
 * datefmt.h - the subset of Java's SimpleDateFormat patterns that SCDF's
 * time source takes in --date-format (default "MM/dd/yy HH:mm:ss").
 *
 * Letters: yyyy/yy (year), MM/M (month), MMM (Jan), dd/d (day), HH/H
 * (hour 0-23), hh/h (hour 1-12), a (AM/PM), mm/m (minute), ss/s (second),
 * SSS (milliseconds), EEE (Mon), Z (+0000), and 'quoted text' with '' for
 * a quote. Other ASCII letters are errors; anything else is copied.
 */
#ifndef FLOW_MODULES_DATEFMT_H
#define FLOW_MODULES_DATEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Check a pattern. Returns 0, or -1 with *pos set to the byte offset of
 * the first unsupported letter or unterminated quote.
 */
int datefmt_check(const char *pattern, size_t *pos);

/*
 * Format epoch milliseconds (UTC) with a checked pattern into out (size
 * n, always NUL-terminated when n > 0). Returns the length it needed, like
 * snprintf.
 */
size_t datefmt_format(const char *pattern, int64_t epoch_ms, char *out,
                      size_t n);

#endif
