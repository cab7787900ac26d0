/* flowd's bottom layer of small utilities: formatting that reports
 * truncation, the clock, timestamps and the name rule. They call nothing
 * else of flowd, so every layer may use them. */
#ifndef SRV_UTIL_H
#define SRV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* snprintf that reports truncation: returns 0, or -1 when buf (borrowed,
 * len bytes) was too small; buf then holds a truncated string. */
int srv_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wall clock in milliseconds. */
int64_t srv_now_ms(void);

/* Writes the ISO-8601 UTC form of an epoch second into buf (borrowed). */
void srv_iso(int64_t sec, char *buf, size_t len);

/* Is name (borrowed) a legal stream or app name? */
bool srv_name_ok(const char *name);

/* The value of hex digit c (either case), or -1. */
int srv_hexval(int c);

/* Makes dir (borrowed) a directory of this process's user with mode 0700,
 * created if missing: a symlink or another user's directory is refused
 * (EPERM). Returns 0, or -1 with errno. */
int srv_private_dir(const char *dir);

#endif
