/*
 * Small helpers every command uses: options, help and usage messages,
 * numbers, reading files.
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

int ctl_opts(int argc, char **argv, const struct ctl_opt *opts, char **pos,
             int maxpos, int *npos, const char *cmd, bool unknown_as_pos)
{
    bool rest = false;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (rest || a[0] != '-' || !a[1]) {
            if (*npos >= maxpos)
                return ctl_usage_error("too many arguments for '%s' at "
                                       "'%s'; see 'flowctl %s --help'",
                                       cmd, a, cmd);
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            rest = true;
            continue;
        }
        if (ctl_is_help(a))
            return CTL_HELP;
        const struct ctl_opt *o = NULL;
        const char *val = NULL;
        for (o = opts; o && o->lng; o++) {
            size_t n = strlen(o->lng);
            if (a[1] == '-' && !strncmp(a + 2, o->lng, n) &&
                (a[2 + n] == '\0' || (a[2 + n] == '=' && o->val))) {
                if (a[2 + n] == '=')
                    val = a + 3 + n;
                break;
            }
            if (o->shrt && a[1] == o->shrt && a[0] == '-') {
                if (a[2])
                    val = a + 2;
                break;
            }
        }
        if (!o || !o->lng) {
            if (unknown_as_pos && a[1] == '-' && *npos > 0 && *npos < maxpos) {
                pos[(*npos)++] = a;
                continue;
            }
            return ctl_usage_error("unknown option '%s' for '%s'; see "
                                   "'flowctl %s --help'",
                                   a, cmd, cmd);
        }
        if (o->flag) {
            if (val)
                return ctl_usage_error("option --%s of '%s' takes no value",
                                       o->lng, cmd);
            *o->flag = true;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc)
                return ctl_usage_error("option --%s of '%s' needs a value",
                                       o->lng, cmd);
            val = argv[++i];
        }
        *o->val = val;
    }
    return 0;
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
