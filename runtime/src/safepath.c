/*
 * Opening the files that options name, confined (flow/safepath.h).
 *
 * A path is first split by its text into a root it resolves under (the
 * base, an allowed directory, or for an unconfined rule the file's own
 * directory as written) and the rest, normalised without "." and "..".
 * The root is trusted and opened as it is; the directories of the rest
 * are opened beneath it with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
 * when the kernel has it, else one component at a time with O_NOFOLLOW,
 * and the file itself is always opened relative to its directory's
 * descriptor with O_NOFOLLOW. Since no symbolic link is ever followed
 * below the root, the normalised text is what the kernel resolves.
 */
#include "flow/safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "flow/error.h"

#define RECORD_NAME "/.flow-outputs"
#define RECORD_MAX  (4 * 1024 * 1024)

/* Set by the tests to exercise the component-wise walk. */
bool flow__safepath_walk_only;

const char *flow_path_access_name(flow_path_access acc)
{
    switch (acc) {
    case FLOW_PATH_READ:
        return "read";
    case FLOW_PATH_APPEND:
        return "append";
    default:
        return "write";
    }
}

static int fail(char *why, size_t whylen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/*
 * Normalises the text of in into out: no empty or "." components, ".."
 * removes the component before it. An absolute path keeps its leading
 * '/', and ".." at its top stays at "/". Returns 0, 1 when a relative path
 * climbs above its start, -1 when out is too small.
 */
static int normalise(const char *in, char *out, size_t size)
{
    size_t n = 0;
    bool abs = in[0] == '/';
    if (size < 2)
        return -1;
    if (abs)
        out[n++] = '/';
    size_t floor = n;
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/');
        size_t len = (size_t)(e - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            p = e;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (n == floor) {
                if (!abs)
                    return 1;
            } else {
                while (n > floor && out[n - 1] != '/')
                    n--;
                if (n > floor)
                    n--;
            }
            p = e;
            continue;
        }
        if (n + len + 2 > size)
            return -1;
        if (n > floor)
            out[n++] = '/';
        memcpy(out + n, p, len);
        n += len;
        p = e;
    }
    out[n] = '\0';
    return 0;
}

/* The part of path under dir (both normalised, dir absolute), or NULL
 * when path is not below dir; "" when path is dir itself. */
static const char *under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    if (dl == 1 && dir[0] == '/')
        return path + 1;
    if (strncmp(path, dir, dl) != 0)
        return NULL;
    if (path[dl] == '\0')
        return path + dl;
    return path[dl] == '/' ? path + dl + 1 : NULL;
}

/* Where a path resolves: the root directory (trusted) and the rest
 * below it (normalised, not empty). */
typedef struct resolved {
    char root[4096];
    char rest[4096];
    bool in_base; /* the root is the base directory (or "." for a
                   * relative path without one) */
} resolved;

static int resolve(const flow_path_rules *r, const char *path, resolved *out,
                   char *why, size_t whylen)
{
    char norm[4096];
    if (!path || !*path)
        return fail(why, whylen, -FLOW_EOPTION, "the path is empty");
    if (strlen(path) >= sizeof(norm))
        return fail(why, whylen, -FLOW_EOPTION, "the path is too long");
    out->in_base = false;
    if (!r->confined) {
        /* An app run by hand: the file's own directory, as written. */
        const char *slash = strrchr(path, '/');
        const char *name = slash ? slash + 1 : path;
        if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
            return fail(why, whylen, -FLOW_EOPTION,
                        "%s names a directory, not a file", path);
        if (!slash)
            snprintf(out->root, sizeof(out->root), ".");
        else if (slash == path)
            snprintf(out->root, sizeof(out->root), "/");
        else
            snprintf(out->root, sizeof(out->root), "%.*s", (int)(slash - path),
                     path);
        snprintf(out->rest, sizeof(out->rest), "%s", name);
        return 0;
    }
    int rc = normalise(path, norm, sizeof(norm));
    if (rc < 0)
        return fail(why, whylen, -FLOW_EOPTION, "the path is too long");
    if (path[0] != '/') {
        if (rc > 0)
            return fail(why, whylen, -FLOW_EOPTION,
                        "%s climbs out of the instance directory", path);
        if (!norm[0])
            return fail(why, whylen, -FLOW_EOPTION,
                        "%s names the instance directory, not a file", path);
        snprintf(out->root, sizeof(out->root), "%s", r->base ? r->base : ".");
        snprintf(out->rest, sizeof(out->rest), "%s", norm);
        out->in_base = true;
    } else {
        const char *best = NULL, *rest = NULL;
        char dir[4096];
        size_t n = r->nallow + (r->base ? 1 : 0);
        for (size_t i = 0; i < n; i++) {
            const char *d = i < r->nallow ? r->allow[i] : r->base;
            if (!d || d[0] != '/' || normalise(d, dir, sizeof(dir)) != 0)
                continue;
            const char *u = under(norm, dir);
            if (!u)
                continue;
            if (!*u)
                return fail(why, whylen, -FLOW_EOPTION,
                            "%s names a directory, not a file", path);
            if (!best || strlen(u) < strlen(rest)) {
                best = d;
                rest = u;
                out->in_base = i >= r->nallow;
            }
        }
        if (!best)
            return fail(why, whylen, -FLOW_EOPTION,
                        "%s is outside the allowed directories "
                        "(flowd --allow-path)",
                        path);
        snprintf(out->root, sizeof(out->root), "%s", best);
        snprintf(out->rest, sizeof(out->rest), "%s", rest);
    }
    if (out->in_base && r->record && !strncmp(out->rest, ".flow", 5))
        return fail(why, whylen, -FLOW_EOPTION,
                    "%s is reserved for the runtime in the instance "
                    "directory: choose another name",
                    path);
    return 0;
}

int flow_path_check(const flow_path_rules *r, const char *path, char *why,
                    size_t whylen)
{
    resolved res;
    return resolve(r, path, &res, why, whylen);
}

/* Opens the directories of rel (no symbolic links) beneath rootfd. */
static int walk_dirs(int rootfd, char *rel)
{
    int fd = dup(rootfd);
    if (fd < 0)
        return -1;
    for (char *save = NULL, *c = strtok_r(rel, "/", &save); c;
         c = strtok_r(NULL, "/", &save)) {
        int next =
            openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (next < 0) {
            errno = e;
            return -1;
        }
        fd = next;
    }
    return fd;
}

static int open_beneath(int rootfd, const char *rel)
{
    char copy[4096];
    if (!flow__safepath_walk_only) {
        struct open_how how = {
            .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
            .resolve =
                RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM && errno != E2BIG))
            return (int)fd;
    }
    snprintf(copy, sizeof(copy), "%s", rel);
    return walk_dirs(rootfd, copy);
}

/*
 * Opens the directory the file of res is in and leaves the file's name in
 * name; returns the descriptor or a negative FLOW_E* (why filled).
 */
static int open_parent(const resolved *res, const char *path, char *name,
                       size_t namelen, char *why, size_t whylen)
{
    char dirs[4096];
    const char *slash = strrchr(res->rest, '/');
    const char *base = slash ? slash + 1 : res->rest;
    if (strlen(base) >= namelen)
        return fail(why, whylen, -FLOW_EOPTION, "%s: the file name is too long",
                    path);
    snprintf(name, namelen, "%s", base);
    int rootfd = open(res->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return fail(why, whylen, flow_from_errno(errno), "directory %s: %s",
                    res->root, strerror(errno));
    if (!slash)
        return rootfd;
    snprintf(dirs, sizeof(dirs), "%.*s", (int)(slash - res->rest), res->rest);
    int fd = open_beneath(rootfd, dirs);
    int e = errno;
    close(rootfd);
    if (fd >= 0)
        return fd;
    if (e == ELOOP || e == ENOTDIR || e == EXDEV)
        return fail(why, whylen, -FLOW_EOPTION,
                    "%s: %s under %s is not a directory or goes through a "
                    "symbolic link, which is not followed",
                    path, dirs, res->root);
    if (e == ENOENT)
        return fail(why, whylen, -FLOW_ENOENT,
                    "%s: directory %s does not exist under %s", path, dirs,
                    res->root);
    return fail(why, whylen, flow_from_errno(e), "%s: directory %s: %s", path,
                dirs, strerror(e));
}

/*
 * The record of what an instance wrote: base/.flow-outputs holds one line
 * "DEV INO" per output file it published and still owns. Returns the
 * record's text, NUL-terminated, new (NULL when there is none or it is
 * unreadable).
 */
static char *record_read(const char *base)
{
    char rec[4096];
    if (snprintf(rec, sizeof(rec), "%s" RECORD_NAME, base) >= (int)sizeof(rec))
        return NULL;
    int fd = open(rec, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(RECORD_MAX + 1);
    size_t n = 0;
    while (buf && n < RECORD_MAX) {
        ssize_t k = read(fd, buf + n, RECORD_MAX - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static int record_line(char *buf, size_t size, dev_t dev, ino_t ino)
{
    return snprintf(buf, size, "%" PRIuMAX " %" PRIuMAX "\n", (uintmax_t)dev,
                    (uintmax_t)ino);
}

/* Where the line for (dev, ino) starts in text, or NULL. */
static char *record_find(char *text, dev_t dev, ino_t ino)
{
    char want[64];
    size_t wl = (size_t)record_line(want, sizeof(want), dev, ino);
    for (char *p = text; p && *p;) {
        if (!strncmp(p, want, wl))
            return p;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static bool recorded(const char *base, dev_t dev, ino_t ino)
{
    char *text = record_read(base);
    bool found = text && record_find(text, dev, ino);
    free(text);
    return found;
}

/*
 * Records (dev, ino) as written by the instance and drops the line of the
 * file it replaced (old_*, when had_old), so that the record holds only
 * what is still there. The record is rewritten through a new file renamed
 * over it; when that fails, the next run only refuses to replace this
 * output.
 */
static void record_swap(const char *base, bool had_old, dev_t old_dev,
                        ino_t old_ino, dev_t dev, ino_t ino)
{
    char rec[4096], tmp[4200], line[64];
    if (snprintf(rec, sizeof(rec), "%s" RECORD_NAME, base) >= (int)sizeof(rec))
        return;
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", rec, (long)getpid());
    char *text = record_read(base);
    char *old = text && had_old ? record_find(text, old_dev, old_ino) : NULL;
    if (old) {
        char *next = strchr(old, '\n');
        next = next ? next + 1 : old + strlen(old);
        memmove(old, next, strlen(next) + 1);
    }
    unlink(tmp);
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto free_text;
    int n = record_line(line, sizeof(line), dev, ino);
    size_t tl = text ? strlen(text) : 0;
    bool ok = (tl == 0 || write(fd, text, tl) == (ssize_t)tl) &&
              write(fd, line, (size_t)n) == n;
    if (close(fd) != 0 || !ok || rename(tmp, rec) != 0)
        unlink(tmp);
free_text:
    free(text);
}

/* Whether an existing file st may be replaced under r (see
 * flow_path_fclose); why says why not. */
static bool replaceable(const flow_path_rules *r, const struct stat *st,
                        const char *path, char *why, size_t whylen)
{
    if (!S_ISREG(st->st_mode))
        fail(why, whylen, 0, "%s exists and is not a regular file", path);
    else if (st->st_nlink != 1 || st->st_uid != geteuid())
        fail(why, whylen, 0,
             "%s exists and was not written by this app (it is left "
             "alone): remove it or choose another path",
             path);
    else if (!(st->st_mode & S_IWUSR))
        fail(why, whylen, 0,
             "%s exists and is read-only (it is left alone): remove it or "
             "choose another path",
             path);
    else if (r->record && r->base && !recorded(r->base, st->st_dev, st->st_ino))
        fail(why, whylen, 0,
             "%s exists and was not written by this instance (it is left "
             "alone): remove it or choose another path",
             path);
    else
        return true;
    return false;
}

/* Judges the existing entry name in dirfd for acc; 0 or a negative
 * FLOW_E* (why filled). */
static int judge_existing(const flow_path_rules *r, int dirfd, const char *name,
                          const char *path, flow_path_access acc,
                          struct stat *st, bool *exists, char *why,
                          size_t whylen)
{
    *exists = false;
    if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT)
            return fail(why, whylen, flow_from_errno(errno), "%s: %s", path,
                        strerror(errno));
        if (acc == FLOW_PATH_READ)
            return fail(why, whylen, -FLOW_ENOENT, "%s does not exist", path);
        return 0;
    }
    *exists = true;
    if (S_ISLNK(st->st_mode))
        return fail(why, whylen, -FLOW_EOPTION,
                    "%s is a symbolic link, which is not followed", path);
    if (acc == FLOW_PATH_READ) {
        if (!S_ISREG(st->st_mode))
            return fail(why, whylen, -FLOW_EOPTION, "%s is not a regular file",
                        path);
        return 0;
    }
    if (S_ISFIFO(st->st_mode))
        return 0;
    if (acc == FLOW_PATH_APPEND) {
        if (!S_ISREG(st->st_mode))
            return fail(why, whylen, -FLOW_EOPTION, "%s is not a regular file",
                        path);
        /* A hard link would let the append land in a file elsewhere. */
        if (st->st_nlink != 1)
            return fail(why, whylen, -FLOW_EOPTION,
                        "%s has other hard links; it is left alone", path);
        return 0;
    }
    if (!replaceable(r, st, path, why, whylen))
        return -FLOW_EOPTION;
    return 0;
}

int flow_path_probe(const flow_path_rules *r, const char *path,
                    flow_path_access acc, char *why, size_t whylen)
{
    resolved res;
    char name[256];
    struct stat st;
    bool exists;
    int rc = resolve(r, path, &res, why, whylen);
    if (rc)
        return rc;
    int dirfd = open_parent(&res, path, name, sizeof(name), why, whylen);
    if (dirfd < 0)
        return dirfd;
    rc = judge_existing(r, dirfd, name, path, acc, &st, &exists, why, whylen);
    close(dirfd);
    return rc;
}

int flow_path_open_read(const flow_path_rules *r, const char *path, char *why,
                        size_t whylen)
{
    resolved res;
    char name[256];
    struct stat st;
    int rc = resolve(r, path, &res, why, whylen);
    if (rc)
        return rc;
    int dirfd = open_parent(&res, path, name, sizeof(name), why, whylen);
    if (dirfd < 0)
        return dirfd;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(dirfd);
    if (fd < 0) {
        if (e == ENOENT)
            return fail(why, whylen, -FLOW_ENOENT, "%s does not exist", path);
        if (e == ELOOP)
            return fail(why, whylen, -FLOW_EOPTION,
                        "%s is a symbolic link, which is not followed", path);
        return fail(why, whylen, flow_from_errno(e), "%s: %s", path,
                    strerror(e));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(why, whylen, -FLOW_EOPTION, "%s is not a regular file",
                    path);
    }
    return fd;
}

/* Opens the existing FIFO or the append target of o in place. */
static int open_in_place(flow_path_out *o, flow_path_access acc,
                         const char *path, char *why, size_t whylen)
{
    int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC;
    struct stat st;
    if (acc == FLOW_PATH_APPEND)
        flags |= O_APPEND | O_CREAT;
    int fd = openat(o->dirfd, o->name, flags, 0666);
    if (fd < 0)
        return fail(why, whylen, flow_from_errno(errno), "%s: %s", path,
                    strerror(errno));
    if (fstat(fd, &st) != 0 ||
        !(S_ISFIFO(st.st_mode) || (acc == FLOW_PATH_APPEND &&
                                   S_ISREG(st.st_mode) && st.st_nlink == 1))) {
        close(fd);
        return fail(why, whylen, -FLOW_EOPTION,
                    "%s is not a regular file with one link", path);
    }
    o->in_place = true;
    return fd;
}

FILE *flow_path_fopen(flow_path_out *o, const flow_path_rules *r,
                      const char *path, flow_path_access acc, char *why,
                      size_t whylen)
{
    resolved res;
    struct stat st;
    bool exists;
    int fd = -1;

    memset(o, 0, sizeof(*o));
    o->dirfd = -1;
    o->path = path;
    if (acc == FLOW_PATH_READ) {
        fail(why, whylen, 0, "%s: an output cannot be opened for reading",
             path);
        return NULL;
    }
    if (resolve(r, path, &res, why, whylen))
        return NULL;
    o->dirfd = open_parent(&res, path, o->name, sizeof(o->name), why, whylen);
    if (o->dirfd < 0)
        return NULL;
    if (judge_existing(r, o->dirfd, o->name, path, acc, &st, &exists, why,
                       whylen))
        goto close_dir;
    if (acc == FLOW_PATH_APPEND || (exists && S_ISFIFO(st.st_mode))) {
        fd = open_in_place(o, acc, path, why, whylen);
        if (fd < 0)
            goto close_dir;
    } else {
        for (int k = 0; fd < 0 && k < 100; k++) {
            snprintf(o->tmp, sizeof(o->tmp), "%s.%ld.%d.tmp", o->name,
                     (long)getpid(), k);
            fd = openat(o->dirfd, o->tmp,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0666);
            if (fd < 0 && errno != EEXIST)
                break;
        }
        if (fd < 0) {
            fail(why, whylen, 0, "%s: cannot create a new file beside it: %s",
                 path, strerror(errno));
            goto close_dir;
        }
        if (fstat(fd, &st) == 0) {
            o->dev = st.st_dev;
            o->ino = st.st_ino;
        }
        o->record = r->record && r->base;
        o->base = r->base;
    }
    FILE *f = fdopen(fd, "w");
    if (f)
        return f;
    fail(why, whylen, 0, "%s: %s", path, strerror(errno));
    close(fd);
    if (!o->in_place)
        unlinkat(o->dirfd, o->tmp, 0);
close_dir:
    close(o->dirfd);
    o->dirfd = -1;
    return NULL;
}

int flow_path_fclose(flow_path_out *o, FILE *f, bool discard, char *why,
                     size_t whylen)
{
    int rc = 0;
    struct stat st;
    int e = 0;
    if (fflush(f) != 0 || ferror(f))
        e = errno ? errno : EIO;
    if (fclose(f) != 0 && !e)
        e = errno;
    if (o->in_place)
        goto close_dir;
    if (e || discard) {
        if (e)
            rc = fail(why, whylen, flow_from_errno(e), "%s: %s", o->path,
                      strerror(e));
        goto unlink_tmp;
    }
    bool had_old = fstatat(o->dirfd, o->name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!had_old) {
        /* New: publish without replacing whatever appears meanwhile. */
        if (linkat(o->dirfd, o->tmp, o->dirfd, o->name, 0) != 0) {
            rc = fail(why, whylen, flow_from_errno(errno), "%s: %s", o->path,
                      strerror(errno));
            goto unlink_tmp;
        }
        unlinkat(o->dirfd, o->tmp, 0);
    } else {
        flow_path_rules r = { .base = o->base, .record = o->record };
        if (S_ISLNK(st.st_mode) ||
            !replaceable(&r, &st, o->path, why, whylen)) {
            if (S_ISLNK(st.st_mode))
                fail(why, whylen, 0,
                     "%s is a symbolic link, which is not followed", o->path);
            rc = -FLOW_EOPTION;
            goto unlink_tmp;
        }
        if (renameat(o->dirfd, o->tmp, o->dirfd, o->name) != 0) {
            rc = fail(why, whylen, flow_from_errno(errno), "%s: %s", o->path,
                      strerror(errno));
            goto unlink_tmp;
        }
    }
    if (o->record)
        record_swap(o->base, had_old, st.st_dev, st.st_ino, o->dev, o->ino);
    goto close_dir;
unlink_tmp:
    unlinkat(o->dirfd, o->tmp, 0);
close_dir:
    if (o->dirfd >= 0)
        close(o->dirfd);
    o->dirfd = -1;
    return rc;
}
