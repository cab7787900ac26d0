/*
 * datefmt.c - SimpleDateFormat-style time formatting (see datefmt.h).
 */
#include "datefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const months[12] = { "Jan", "Feb", "Mar", "Apr",
                                        "May", "Jun", "Jul", "Aug",
                                        "Sep", "Oct", "Nov", "Dec" };
static const char *const days[7] = { "Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat" };

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int supported(char c)
{
    return strchr("yMdHhamsSEZ", c) != NULL;
}

int datefmt_check(const char *pattern, size_t *pos)
{
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == '\'') {
            size_t start = i++;
            for (;; i++) {
                if (!pattern[i]) {
                    *pos = start;
                    return -1;
                }
                if (pattern[i] == '\'') {
                    if (pattern[i + 1] == '\'')
                        i++;
                    else
                        break;
                }
            }
        } else if (is_alpha(pattern[i]) && !supported(pattern[i])) {
            *pos = i;
            return -1;
        }
    }
    return 0;
}

struct out {
    char *p;
    size_t n;
    size_t len;
};

static void put(struct out *o, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++, o->len++) {
        if (o->len + 1 < o->n)
            o->p[o->len] = s[i];
    }
}

static void putnum(struct out *o, long v, int width)
{
    char tmp[32];
    int k = snprintf(tmp, sizeof(tmp), "%0*ld", width, v);
    put(o, tmp, (size_t)k);
}

size_t datefmt_format(const char *pattern, int64_t epoch_ms, char *out,
                      size_t n)
{
    struct out o = { out, n, 0 };
    int64_t ms = epoch_ms % 1000;
    int64_t s = epoch_ms / 1000;
    if (ms < 0) {
        ms += 1000;
        s--;
    }
    time_t t = (time_t)s;
    struct tm tm;
    gmtime_r(&t, &tm);
    for (size_t i = 0; pattern[i];) {
        char c = pattern[i];
        if (c == '\'') {
            if (pattern[i + 1] == '\'') {
                put(&o, "'", 1);
                i += 2;
                continue;
            }
            for (i++; pattern[i]; i++) {
                if (pattern[i] == '\'') {
                    if (pattern[i + 1] != '\'')
                        break;
                    i++;
                }
                put(&o, &pattern[i], 1);
            }
            if (pattern[i])
                i++;
            continue;
        }
        if (!is_alpha(c)) {
            put(&o, &c, 1);
            i++;
            continue;
        }
        size_t run = 1;
        while (pattern[i + run] == c)
            run++;
        int w = (int)run;
        switch (c) {
        case 'y':
            if (run == 2)
                putnum(&o, (tm.tm_year + 1900) % 100, 2);
            else
                putnum(&o, tm.tm_year + 1900, w);
            break;
        case 'M':
            if (run >= 3)
                put(&o, months[tm.tm_mon], 3);
            else
                putnum(&o, tm.tm_mon + 1, w);
            break;
        case 'd':
            putnum(&o, tm.tm_mday, w);
            break;
        case 'H':
            putnum(&o, tm.tm_hour, w);
            break;
        case 'h':
            putnum(&o, tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12, w);
            break;
        case 'a':
            put(&o, tm.tm_hour < 12 ? "AM" : "PM", 2);
            break;
        case 'm':
            putnum(&o, tm.tm_min, w);
            break;
        case 's':
            putnum(&o, tm.tm_sec, w);
            break;
        case 'S':
            putnum(&o, (long)ms, 3);
            break;
        case 'E':
            put(&o, days[tm.tm_wday], 3);
            break;
        case 'Z':
            put(&o, "+0000", 5);
            break;
        default:
            put(&o, &pattern[i], run);
            break;
        }
        i += run;
    }
    if (n > 0)
        out[o.len < n ? o.len : n - 1] = '\0';
    return o.len;
}
