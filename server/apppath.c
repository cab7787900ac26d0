#include "apppath.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int srv_apppath_from_uri(const char *uri, char *out, size_t outlen, char *err,
                         size_t errlen)
{
    const char *p = uri;
    size_t n = 0;
    bool file = strncmp(p, "file:", 5) == 0;

    if (file) {
        p += 5;
        if (strncmp(p, "//localhost/", 12) == 0)
            p += 11;
        else if (strncmp(p, "///", 3) == 0)
            p += 2;
        else if (strncmp(p, "//", 2) == 0) {
            snprintf(err, errlen,
                     "'%s' names a file on another host; use "
                     "file:///PATH for a file on this one",
                     uri);
            return SRV_APPPATH_INVALID;
        }
    }
    if (p[0] != '/') {
        snprintf(err, errlen,
                 "uri must be the absolute path of an executable or a "
                 "file:///PATH URI, not '%s'",
                 uri);
        return SRV_APPPATH_INVALID;
    }
    for (; *p; p++) {
        char c = *p;
        if (c == '%' && file) {
            int hi = srv_hexval(p[1]), lo = hi < 0 ? -1 : srv_hexval(p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                snprintf(err, errlen,
                         "'%s' has a bad %%-escape: use %%XX with two hex "
                         "digits, not %%00",
                         uri);
                return SRV_APPPATH_INVALID;
            }
            c = (char)(hi * 16 + lo);
            p += 2;
        }
        if (n + 1 >= outlen) {
            snprintf(err, errlen, "'%.64s...' is too long a path", uri);
            return SRV_APPPATH_INVALID;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

/* Says what is wrong with the owner or mode of one file or directory
 * (what: "the file" or "directory D"), or returns 0. */
static int owner_mode(const char *real, const char *what, const struct stat *sb,
                      uid_t uid, char *err, size_t errlen)
{
    if (sb->st_uid != 0 && sb->st_uid != uid) {
        snprintf(err, errlen,
                 "%s: %s is owned by uid %u, not by root or flowd's user "
                 "(uid %u)",
                 real, what, (unsigned)sb->st_uid, (unsigned)uid);
        return SRV_APPPATH_REFUSED;
    }
    /* A sticky directory of root's (/tmp) lets others add entries but not
     * rename or remove one they do not own, so what lies below it is safe
     * when that entry passes these rules itself. */
    bool sticky_root =
        S_ISDIR(sb->st_mode) && (sb->st_mode & S_ISVTX) && sb->st_uid == 0;
    if ((sb->st_mode & S_IWOTH) && !sticky_root) {
        snprintf(err, errlen, "%s: %s is writable by others", real, what);
        return SRV_APPPATH_REFUSED;
    }
    if ((sb->st_mode & S_IWGRP) && !sticky_root) {
        snprintf(err, errlen, "%s: %s is writable by group", real, what);
        return SRV_APPPATH_REFUSED;
    }
    return 0;
}

/* Is real inside dir (both resolved)? */
static bool is_under(const char *real, const char *dir)
{
    size_t n = strlen(dir);

    if (n == 1 && dir[0] == '/')
        return true;
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(real, dir, n) == 0 && real[n] == '/';
}

int srv_apppath_check_real(const char *real, uid_t uid, const char *const *dirs,
                           size_t ndirs, srv_apppath_stat_fn st, void *ud,
                           char *err, size_t errlen)
{
    struct stat sb;
    char dir[PATH_MAX];
    char what[PATH_MAX + 16];
    int rc;

    if (real[0] != '/' || strlen(real) >= sizeof dir) {
        snprintf(err, errlen, "'%s' is not an absolute path", real);
        return SRV_APPPATH_INVALID;
    }
    if (st(ud, real, &sb)) {
        snprintf(err, errlen, "%s: %s", real, strerror(errno));
        return SRV_APPPATH_INVALID;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", real);
        return SRV_APPPATH_INVALID;
    }
    if (!(sb.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) {
        snprintf(err, errlen, "%s: not executable", real);
        return SRV_APPPATH_INVALID;
    }
    rc = owner_mode(real, "the file", &sb, uid, err, errlen);
    if (rc)
        return rc;
    /* Every directory above it, nearest first: whoever may write one of
     * them may swap the file (or a directory on its way) for another. */
    snprintf(dir, sizeof dir, "%s", real);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (st(ud, dir, &sb)) {
            snprintf(err, errlen, "%s: directory %s: %s", real, dir,
                     strerror(errno));
            return SRV_APPPATH_INVALID;
        }
        snprintf(what, sizeof what, "directory %s", dir);
        rc = owner_mode(real, what, &sb, uid, err, errlen);
        if (rc)
            return rc;
        if (strcmp(dir, "/") == 0)
            break;
    }
    for (size_t k = 0; k < ndirs; k++)
        if (is_under(real, dirs[k]))
            return 0;
    size_t n = (size_t)snprintf(
        err, errlen, "%s: not under an allowed app directory (", real);
    for (size_t k = 0; k < ndirs && n < errlen; k++)
        n += (size_t)snprintf(err + n, errlen - n, "%s%s", k ? ", " : "",
                              dirs[k]);
    if (n < errlen)
        snprintf(err + n, errlen - n,
                 "); start flowd with --apps-dir=DIR to allow another");
    return SRV_APPPATH_REFUSED;
}

static int stat_fn(void *ud, const char *path, struct stat *sb)
{
    (void)ud;
    return stat(path, sb);
}

int srv_apppath_check(const char *uri, uid_t uid, const char *const *dirs,
                      size_t ndirs, char *real, size_t reallen, char *err,
                      size_t errlen)
{
    char path[PATH_MAX];
    char *r;
    int rc = srv_apppath_from_uri(uri, path, sizeof path, err, errlen);

    if (rc)
        return rc;
    r = realpath(path, NULL);
    if (!r) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return SRV_APPPATH_INVALID;
    }
    if (strlen(r) >= reallen) {
        snprintf(err, errlen, "%s: too long a path", r);
        free(r);
        return SRV_APPPATH_INVALID;
    }
    snprintf(real, reallen, "%s", r);
    free(r);
    return srv_apppath_check_real(real, uid, dirs, ndirs, stat_fn, NULL, err,
                                  errlen);
}
