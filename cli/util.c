/*
 * Small helpers every command uses: help and usage messages, numbers,
 * reading files.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

bool ctl_is_help(const char *s)
{
    return !strcmp(s, "-h") || !strcmp(s, "--help");
}

int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("flowctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EUSAGE;
}

bool ctl_parse_uint(const char *s, long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0)
        return false;
    *out = v;
    return true;
}

char *ctl_read_file(const char *path, size_t *lenp)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f) ? errno : 0;
    if (f != stdin)
        fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    if (buf) {
        buf[len] = '\0';
        if (lenp)
            *lenp = len;
    }
    return buf;
}

int ctl_help(const char *text)
{
    fputs(text, stdout);
    return CTL_OK;
}
