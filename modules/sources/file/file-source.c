/*
 * file - reads the files of a directory as events (SCDF's file source).
 *
 * The files whose names match --filename-pattern are read in name order:
 * with --mode=lines one event per line, with --mode=contents one event
 * per file. A line (or file) that is JSON becomes that value as msgpack,
 * anything else a string. With --follow the directory is polled: new
 * files are read, and lines appended to a file are read once they are
 * complete (a last line without its '\n' waits for it). Without --follow
 * the source reads what is there, a last line without '\n' included, and
 * ends.
 *
 * Its position, how far each file has been read (always to the end of a
 * line), is its checkpointed state (snapshot/restore): restored from a
 * checkpoint it goes on from exactly there, so no line is skipped or read
 * twice, and a stream it feeds can be exactly-once.
 */
#include "apps.h"
#include "fileline.h"
#include "flow/wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The longest line or file carried: what fits one event with room for
 * its msgpack header. */
#define MAX_LINE (FLOW_WIRE_MAX_EVENT - 16)
/* Bytes read at once. */
#define CHUNK (64u * 1024)

struct file_source {
    const char *directory; /* --directory */
    const char *pattern;   /* --filename-pattern */
    const char *mode;      /* --mode */
    bool follow;           /* --follow */
    bool contents;
    char dir[PATH_MAX]; /* the directory, resolved for listing */
    struct filepos pos;
    flow_buf rd;      /* bytes read, from the entry's offset on */
    flow_buf payload; /* one event's payload */
    char **names;     /* the files listed this tick, sorted */
    size_t nnames, capnames;
};

static const char *const modes[] = { "contents", "lines", NULL };

static const flow_option options[] = {
    { .name = "directory",
      .type = FLOW_OPT_STRING,
      .required = true,
      FLOW_OPT_FIELD(struct file_source, directory),
      .description = "The directory to read, under the path rules (relative: "
                     "under the instance directory)." },
    { .name = "filename-pattern",
      .type = FLOW_OPT_STRING,
      .def = "*",
      FLOW_OPT_FIELD(struct file_source, pattern),
      .description = "Which files to read: a shell pattern on their names "
                     "(names starting with '.' are never read)." },
    { .name = "mode",
      .type = FLOW_OPT_ENUM,
      .def = "contents",
      .values = modes,
      FLOW_OPT_FIELD(struct file_source, mode),
      .description = "contents: one event per file; lines: one event per "
                     "line." },
    { .name = "follow",
      .type = FLOW_OPT_BOOL,
      .def = "false",
      FLOW_OPT_FIELD(struct file_source, follow),
      .description = "Keep polling for new files and appended lines instead "
                     "of ending after the files there are." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct file_source *s = flow_state(ctx);
    const flow_path_rules *r = flow_path_rules_of(ctx);
    char why[1024];
    filepos_init(&s->pos);
    flow_buf_init(&s->rd);
    flow_buf_init(&s->payload);
    s->contents = strcmp(s->mode, "contents") == 0;
    if (flow_path_check(r, s->directory, why, sizeof why)) {
        flow_log(ctx, "--directory: %s", why);
        return -FLOW_EUSAGE;
    }
    int n;
    if (s->directory[0] != '/' && r->base)
        n = snprintf(s->dir, sizeof s->dir, "%s/%s", r->base, s->directory);
    else
        n = snprintf(s->dir, sizeof s->dir, "%s", s->directory);
    if (n < 0 || (size_t)n >= sizeof s->dir) {
        flow_log(ctx, "--directory: the path is too long");
        return -FLOW_EUSAGE;
    }
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        flow_log(ctx,
                 "--directory: cannot open %s: %s; create it or name an "
                 "existing directory",
                 s->directory, strerror(errno));
        return -FLOW_EUSAGE;
    }
    close(fd);
    return 0;
}

static void free_names(struct file_source *s)
{
    for (size_t i = 0; i < s->nnames; i++)
        free(s->names[i]);
    s->nnames = 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The matching regular files of the directory, sorted by name. */
static int list(flow_ctx *ctx, struct file_source *s)
{
    free_names(s);
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        flow_log(ctx, "cannot read the directory %s: %s", s->directory,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -FLOW_EIO;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || fnmatch(s->pattern, e->d_name, 0) != 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (s->nnames == s->capnames) {
            size_t cap = s->capnames ? s->capnames * 2 : 16;
            char **v = realloc(s->names, cap * sizeof *v);
            if (!v) {
                rc = -FLOW_ENOMEM;
                break;
            }
            s->names = v;
            s->capnames = cap;
        }
        if (!(s->names[s->nnames] = strdup(e->d_name))) {
            rc = -FLOW_ENOMEM;
            break;
        }
        s->nnames++;
    }
    closedir(d);
    qsort(s->names, s->nnames, sizeof *s->names, cmp_name);
    return rc;
}

/* One event of a line or a file's contents. */
static int emit(flow_ctx *ctx, struct file_source *s, const char *data,
                size_t len)
{
    bool is_json;
    flow_buf_reset(&s->payload);
    int rc = fileline_payload(&s->payload, data, len, &is_json);
    if (rc)
        return rc;
    char type[65];
    snprintf(type, sizeof type, "%s", s->contents ? "file" : "line");
    flow_mp_value t;
    if (is_json &&
        flow_mp_map_find(s->payload.data, s->payload.len, "type", &t) == 0 &&
        t.type == FLOW_MP_STR && t.len > 0 && t.len < sizeof type &&
        !memchr(t.str, '\0', t.len))
        snprintf(type, sizeof type, "%.*s", (int)t.len, t.str);
    return flow_emit(ctx, type, NULL, 0, s->payload.data, s->payload.len);
}

/* Reads up to want bytes at off into s->rd. */
static int read_at(int fd, struct file_source *s, uint64_t off, size_t want)
{
    flow_buf_reset(&s->rd);
    if (flow_buf_reserve(&s->rd, want))
        return -FLOW_ENOMEM;
    while (s->rd.len < want) {
        ssize_t r = pread(fd, s->rd.data + s->rd.len, want - s->rd.len,
                          (off_t)(off + s->rd.len));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -FLOW_EIO;
        if (r == 0)
            break;
        s->rd.len += (size_t)r;
    }
    return 0;
}

/* A line longer than MAX_LINE at e->offset: skips to after its '\n' (or,
 * when the file is complete, to its end). Returns 1 when skipped, 0 when
 * its end is not there yet. */
static int skip_long(flow_ctx *ctx, struct file_source *s, int fd,
                     struct filepos_entry *e, uint64_t size)
{
    uint64_t at = e->offset + MAX_LINE;
    while (at < size) {
        size_t want = size - at < CHUNK ? (size_t)(size - at) : CHUNK;
        int rc = read_at(fd, s, at, want);
        if (rc)
            return rc;
        const char *nl = memchr(s->rd.data, '\n', s->rd.len);
        if (nl) {
            at += (uint64_t)(nl - (const char *)s->rd.data) + 1;
            goto skipped;
        }
        if (s->rd.len == 0)
            break;
        at += s->rd.len;
    }
    if (s->follow)
        return 0;
    at = size;
skipped:
    flow_log(ctx,
             "%s: the line at byte %" PRIu64 " is over %u bytes, more than "
             "an event holds: skipped",
             e->name, e->offset, (unsigned)MAX_LINE);
    e->offset = at;
    return 1;
}

/* Reads lines of one file while the output has room. Returns 1 when the
 * output is full, 0 when the file has nothing more now, or an error. */
static int read_lines(flow_ctx *ctx, struct file_source *s, int fd,
                      struct filepos_entry *e, uint64_t size)
{
    while (e->offset < size) {
        size_t room = flow_emit_room(ctx);
        if (room == 0)
            return 1;
        uint64_t left = size - e->offset;
        size_t want = left < CHUNK ? (size_t)left : CHUNK;
        int rc = read_at(fd, s, e->offset, want);
        if (rc)
            return rc;
        if (s->rd.len == 0)
            return 0; /* shrank under us: seen at the next look */
        size_t used = 0, line_len, took;
        const char *p = (const char *)s->rd.data;
        while (room > 0 &&
               (took = fileline_next(p + used, s->rd.len - used, &line_len))) {
            if (line_len > 0 && (rc = emit(ctx, s, p + used, line_len)))
                return rc;
            used += took;
            room--;
        }
        e->offset += used;
        if (used > 0)
            continue;
        if (room == 0)
            return 1;
        /* No '\n' in what was read: a line longer than the chunk, or the
         * last line, not complete yet. */
        if (left > s->rd.len || s->rd.len == CHUNK) {
            want = left < MAX_LINE + 1 ? (size_t)left : MAX_LINE + 1;
            if ((rc = read_at(fd, s, e->offset, want)))
                return rc;
            p = (const char *)s->rd.data;
            if ((took = fileline_next(p, s->rd.len, &line_len))) {
                if (line_len > 0 && (rc = emit(ctx, s, p, line_len)))
                    return rc;
                e->offset += took;
                continue;
            }
            if (s->rd.len > MAX_LINE) {
                if ((rc = skip_long(ctx, s, fd, e, size)) <= 0)
                    return rc;
                continue;
            }
        }
        if (s->follow)
            return 0; /* the line's end has not been written yet */
        /* The file is complete: its last line has no '\n'. */
        if (s->rd.len > 0 && (rc = emit(ctx, s, p, s->rd.len)))
            return rc;
        e->offset += s->rd.len;
    }
    return 0;
}

static int read_contents(flow_ctx *ctx, struct file_source *s, int fd,
                         struct filepos_entry *e, uint64_t size)
{
    if (flow_emit_room(ctx) == 0)
        return 1;
    if (size > MAX_LINE) {
        flow_log(ctx,
                 "%s: %" PRIu64 " bytes, more than an event holds (%u): "
                 "skipped",
                 e->name, size, (unsigned)MAX_LINE);
    } else {
        int rc = read_at(fd, s, 0, (size_t)size);
        if (rc || (rc = emit(ctx, s, (const char *)s->rd.data, s->rd.len)))
            return rc;
    }
    e->offset = size;
    e->done = true;
    return 0;
}

/* One file: what there is to read now. */
static int read_file(flow_ctx *ctx, struct file_source *s,
                     struct filepos_entry *e)
{
    char path[PATH_MAX + 256], why[1024];
    snprintf(path, sizeof path, "%s/%s", s->directory, e->name);
    int fd =
        flow_path_open_read(flow_path_rules_of(ctx), path, why, sizeof why);
    if (fd == -FLOW_ENOENT) {
        e->done = !s->follow; /* gone since the listing */
        return 0;
    }
    if (fd < 0) {
        flow_log(ctx, "%s: %s: skipped", path, why);
        e->done = true;
        return 0;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -FLOW_EIO;
        goto close_fd;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < e->offset) {
        flow_log(ctx,
                 "%s: shorter (%" PRIu64 " bytes) than what was read from it "
                 "(%" PRIu64 "): it is not read again; write new data to new "
                 "files or append",
                 path, size, e->offset);
        e->done = true;
        goto close_fd;
    }
    if (s->contents)
        rc = read_contents(ctx, s, fd, e, size);
    else if ((rc = read_lines(ctx, s, fd, e, size)) == 0 && !s->follow)
        e->done = true;
close_fd:
    close(fd);
    return rc;
}

static int on_tick(flow_ctx *ctx)
{
    struct file_source *s = flow_state(ctx);
    int rc = list(ctx, s);
    if (rc)
        return rc;
    for (size_t i = 0; i < s->nnames; i++) {
        struct filepos_entry *e = filepos_get(&s->pos, s->names[i]);
        if (!e)
            return -FLOW_ENOMEM;
        if (e->done)
            continue;
        rc = read_file(ctx, s, e);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return FLOW_TICK_MORE;
        if (!s->follow && !e->done)
            return FLOW_TICK_MORE;
    }
    return s->follow ? FLOW_TICK_IDLE : FLOW_TICK_DONE;
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct file_source *s = flow_state(ctx);
    filepos_snapshot(&s->pos, out);
    return out->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct file_source *s = flow_state(ctx);
    if (len == 0)
        return 0;
    int rc = filepos_restore(&s->pos, data, len);
    if (rc) {
        flow_log(ctx, "cannot restore the position: %s",
                 rc == -FLOW_ENOMEM ? "out of memory"
                                    : "not a file source snapshot");
        return rc;
    }
    flow_log(ctx, "restored: the position in %zu files", s->pos.n);
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct file_source *s = flow_state(ctx);
    free_names(s);
    free(s->names);
    filepos_fini(&s->pos);
    flow_buf_fini(&s->rd);
    flow_buf_fini(&s->payload);
}

const flow_app_desc file_source_app = {
    .name = "file",
    .role = FLOW_ROLE_SOURCE,
    .description = "Reads the files of a directory in name order, one event "
                   "per file or per line (JSON where it is JSON, else text); "
                   "with --follow, new files and appended lines too.",
    .options = options,
    .state_size = sizeof(struct file_source),
    .init = init,
    .on_tick = on_tick,
    .tick_us = 50000,
    .snapshot = snapshot,
    .restore = restore,
    .fini = fini,
};
