/*
 * file - writes each event to a file in a directory (SCDF's file sink).
 *
 * The file is DIRECTORY/NAME.SUFFIX (DIRECTORY/NAME without a suffix):
 * one line per event with --format=json (the payload as JSON) or text (a
 * string payload as it is, anything else as JSON), or the payloads'
 * msgpack back to back with --format=msgpack.
 *
 * Without a guarantee the bytes are written through, buffered and
 * flushed every 50 ms. Under a guarantee (--flow.guarantee) they go to a
 * staging file, .NAME.SUFFIX.staging beside it, which is fsync'd at each
 * checkpoint's barrier (on_checkpoint); when flowd says the checkpoint is
 * complete (on_commit) its bytes are appended to the visible file, which
 * is fsync'd, and .NAME.SUFFIX.committed records the checkpoint and the
 * visible file's committed length. The snapshot records that length, so
 * that a sink restored from a checkpoint cuts the visible file back to it
 * (or completes it from the staging file, had it died before publishing):
 * the visible file holds each committed event once, whatever was killed.
 */
#include "apps.h"
#include "filestage.h"
#include "flow/mpjson.h"
#include "sinkopts.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum format { FMT_JSON, FMT_TEXT, FMT_MSGPACK };

struct file_sink {
    const char *directory; /* --directory */
    const char *name;      /* --name */
    const char *suffix;    /* --suffix */
    const char *format;    /* --format */
    const char *mode;      /* --mode */
    enum format fmt;
    bool staged; /* under a guarantee: through the staging file */
    bool opened; /* the files are open */
    bool failed; /* opening failed: the sink stops */
    char vis[PATH_MAX], stg[PATH_MAX], rec[PATH_MAX];
    FILE *visf, *stgf;
    int stg_rd; /* the staging file, for reading it back (-1: none) */
    flow_path_out vo, so;
    struct filestage st;
    flow_buf line;
    struct sinkopts so_opts;
};

static const char *const formats[] = { "json", "text", "msgpack", NULL };
static const char *const mode_values[] = { "append", "replace", "fail", NULL };

static const flow_option options[] = {
    { .name = "directory",
      .type = FLOW_OPT_STRING,
      .required = true,
      FLOW_OPT_FIELD(struct file_sink, directory),
      .description = "The directory of the file, under the path rules "
                     "(relative: under the instance directory)." },
    { .name = "name",
      .type = FLOW_OPT_STRING,
      .def = "file-sink",
      FLOW_OPT_FIELD(struct file_sink, name),
      .description = "The file's name, without the suffix." },
    { .name = "suffix",
      .type = FLOW_OPT_STRING,
      .def = "",
      FLOW_OPT_FIELD(struct file_sink, suffix),
      .description = "The file's suffix, after a '.' (none when empty)." },
    { .name = "format",
      .type = FLOW_OPT_ENUM,
      .def = "json",
      .values = formats,
      FLOW_OPT_FIELD(struct file_sink, format),
      .description = "json: the payload as a JSON line; text: a string "
                     "payload as a line (others as JSON); msgpack: the "
                     "payloads back to back." },
    { .name = "mode",
      .type = FLOW_OPT_ENUM,
      .def = "append",
      .values = mode_values,
      FLOW_OPT_FIELD(struct file_sink, mode),
      .description = "At a start that is no restore: append to the file, "
                     "replace it, or fail when it exists." },
    SINKOPTS_ROWS(struct file_sink, so_opts),
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct file_sink *s = flow_state(ctx);
    flow_buf_init(&s->line);
    filestage_init(&s->st, -1, -1, 0);
    s->stg_rd = -1;
    int rc = sinkopts_init(&s->so_opts);
    if (rc)
        return rc;
    s->fmt = strcmp(s->format, "text") == 0      ? FMT_TEXT
             : strcmp(s->format, "msgpack") == 0 ? FMT_MSGPACK
                                                 : FMT_JSON;
    s->staged = flow_guaranteed(ctx);
    if (!*s->name || strchr(s->name, '/') || strchr(s->suffix, '/')) {
        flow_log(ctx, "--name and --suffix name a file in --directory: no "
                      "'/' in them, and a name is needed");
        return -FLOW_EUSAGE;
    }
    const char *dot = *s->suffix ? "." : "";
    int a = snprintf(s->vis, sizeof s->vis, "%s/%s%s%s", s->directory, s->name,
                     dot, s->suffix);
    int b = snprintf(s->stg, sizeof s->stg, "%s/.%s%s%s.staging", s->directory,
                     s->name, dot, s->suffix);
    int c = snprintf(s->rec, sizeof s->rec, "%s/.%s%s%s.committed",
                     s->directory, s->name, dot, s->suffix);
    if (a < 0 || b < 0 || c < 0 || (size_t)b >= sizeof s->stg ||
        (size_t)c >= sizeof s->rec) {
        flow_log(ctx, "--directory: the path is too long");
        return -FLOW_EUSAGE;
    }
    char why[1024];
    if (flow_path_check(flow_path_rules_of(ctx), s->vis, why, sizeof why)) {
        flow_log(ctx, "--directory: %s", why);
        return -FLOW_EUSAGE;
    }
    return 0;
}

static int open_files(flow_ctx *ctx, struct file_sink *s, bool fresh);

/* Without a guarantee nothing is restored from a checkpoint: the files
 * open now, under --mode. With one, they open when restore says what the
 * visible file holds, or at the first event or tick of a fresh start. */
static int init_files(flow_ctx *ctx)
{
    struct file_sink *s = flow_state(ctx);
    int rc = init(ctx);
    if (!rc && !s->staged)
        rc = open_files(ctx, s, true);
    return rc;
}

/* Opens the visible file (and, under a guarantee, the staging file).
 * fresh: a start that is not a restore, where --mode applies. */
static int open_files(flow_ctx *ctx, struct file_sink *s, bool fresh)
{
    const flow_path_rules *r = flow_path_rules_of(ctx);
    char why[1024];
    if (fresh && strcmp(s->mode, "fail") == 0) {
        int fd = flow_path_open_read(r, s->vis, why, sizeof why);
        if (fd >= 0) {
            close(fd);
            flow_log(ctx,
                     "%s exists and --mode=fail: remove it, or use "
                     "--mode=append or --mode=replace",
                     s->vis);
            return -FLOW_ESTATE;
        }
    }
    if (fresh && strcmp(s->mode, "replace") == 0) {
        flow_path_out o = { 0 };
        FILE *f =
            flow_path_fopen(&o, r, s->vis, FLOW_PATH_WRITE, why, sizeof why);
        if (!f || flow_path_fclose(&o, f, false, why, sizeof why)) {
            flow_log(ctx, "cannot replace %s: %s", s->vis, why);
            return -FLOW_EIO;
        }
    }
    memset(&s->vo, 0, sizeof s->vo);
    s->visf =
        flow_path_fopen(&s->vo, r, s->vis, FLOW_PATH_APPEND, why, sizeof why);
    if (!s->visf) {
        flow_log(ctx, "cannot open %s: %s", s->vis, why);
        return -FLOW_EIO;
    }
    struct stat st;
    if (fstat(fileno(s->visf), &st) != 0)
        return -FLOW_EIO;
    int stg = -1;
    if (s->staged) {
        memset(&s->so, 0, sizeof s->so);
        s->stgf = flow_path_fopen(&s->so, r, s->stg, FLOW_PATH_APPEND, why,
                                  sizeof why);
        if (!s->stgf) {
            flow_log(ctx, "cannot open %s: %s", s->stg, why);
            return -FLOW_EIO;
        }
        stg = fileno(s->stgf);
        /* A fresh start publishes nothing staged before it. */
        if (fresh && ftruncate(stg, 0) != 0) {
            flow_log(ctx, "cannot empty %s: %s", s->stg, strerror(errno));
            return -FLOW_EIO;
        }
    }
    filestage_init(&s->st, fileno(s->visf), stg, (uint64_t)st.st_size);
    if (s->staged) {
        /* The staging file is opened for appending: reading it back takes
         * a descriptor of its own, under the same rules. */
        s->stg_rd = flow_path_open_read(r, s->stg, why, sizeof why);
        if (s->stg_rd < 0) {
            flow_log(ctx, "cannot read %s: %s", s->stg, why);
            return -FLOW_EIO;
        }
        s->st.stg_rd = s->stg_rd;
    }
    s->opened = true;
    return 0;
}

static int ensure_open(flow_ctx *ctx, struct file_sink *s)
{
    if (s->opened)
        return 0;
    if (s->failed)
        return -FLOW_EIO;
    /* A failure stops the sink at its next tick, with exit status 1. */
    int rc = open_files(ctx, s, true);
    s->failed = rc != 0;
    return rc;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct file_sink *s = flow_state(ctx);
    sinkopts_event(&s->so_opts, ctx, ev);
    int rc = ensure_open(ctx, s);
    if (rc)
        return rc;
    if (s->fmt == FMT_MSGPACK)
        return filestage_write(&s->st, ev->payload, ev->payload_len);
    flow_buf_reset(&s->line);
    flow_mp_value v;
    flow_mp_reader rd;
    flow_mp_reader_init(&rd, ev->payload, ev->payload_len);
    if (s->fmt == FMT_TEXT && flow_mp_read(&rd, &v) == 0 &&
        v.type == FLOW_MP_STR && flow_mp_remaining(&rd) == 0)
        flow_buf_append(&s->line, v.str, v.len);
    else if ((rc =
                  flow_mpjson_append(&s->line, ev->payload, ev->payload_len))) {
        flow_log(ctx, "event %" PRIu64 ": %s", ev->id,
                 rc == -FLOW_ENOMEM ? "out of memory writing its JSON"
                                    : "payload is not valid msgpack");
        return rc;
    }
    flow_buf_append(&s->line, "\n", 1);
    if (s->line.err)
        return s->line.err;
    return filestage_write(&s->st, s->line.data, s->line.len);
}

static int on_tick(flow_ctx *ctx)
{
    struct file_sink *s = flow_state(ctx);
    int rc = ensure_open(ctx, s);
    if (rc)
        return rc;
    if (!s->staged && (rc = filestage_flush(&s->st))) {
        flow_log(ctx, "cannot write %s: %s", s->vis, strerror(errno));
        return rc;
    }
    return FLOW_TICK_IDLE;
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct file_sink *s = flow_state(ctx);
    int rc = ensure_open(ctx, s);
    if (rc)
        return rc;
    if (!s->staged && (rc = filestage_flush(&s->st)))
        return rc;
    uint64_t vis_len, stg_end;
    filestage_position(&s->st, &vis_len, &stg_end);
    flow_mp_put_array(out, 3);
    flow_mp_put_uint(out, 1);
    flow_mp_put_uint(out, vis_len);
    flow_mp_put_uint(out, stg_end);
    return out->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct file_sink *s = flow_state(ctx);
    flow_mp_reader r;
    flow_mp_value v, a, b;
    if (len == 0 || !s->staged)
        return 0; /* written through: what is there stays */
    flow_mp_reader_init(&r, data, len);
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY || v.len != 3 ||
        flow_mp_read(&r, &v) || v.type != FLOW_MP_INT || v.u != 1 ||
        flow_mp_read(&r, &a) || a.type != FLOW_MP_INT || a.is_neg ||
        flow_mp_read(&r, &b) || b.type != FLOW_MP_INT || b.is_neg ||
        flow_mp_remaining(&r)) {
        flow_log(ctx, "cannot restore: not a file sink snapshot");
        return -FLOW_EMALFORMED;
    }
    int rc = open_files(ctx, s, false);
    if (rc)
        return rc;
    rc = filestage_restore(&s->st, a.u, b.u);
    if (rc) {
        flow_log(ctx,
                 "cannot restore %s to its committed length %" PRIu64 ": %s",
                 s->vis, a.u,
                 rc == -FLOW_EMALFORMED
                     ? "the staging file lacks the bytes it was missing"
                     : strerror(errno));
        return rc;
    }
    flow_log(ctx, "restored: %s holds its committed %" PRIu64 " bytes", s->vis,
             a.u);
    return 0;
}

static int on_checkpoint(flow_ctx *ctx, uint64_t n)
{
    struct file_sink *s = flow_state(ctx);
    int rc = ensure_open(ctx, s);
    if (rc || (rc = filestage_barrier(&s->st, n)))
        flow_log(ctx, "checkpoint %" PRIu64 ": cannot make %s durable: %s", n,
                 s->stg, strerror(errno));
    return rc;
}

/* .NAME.SUFFIX.committed: "CHECKPOINT LENGTH\n", replaced whole. */
static void write_record(flow_ctx *ctx, struct file_sink *s)
{
    char why[1024];
    flow_path_out o = { 0 };
    FILE *f = flow_path_fopen(&o, flow_path_rules_of(ctx), s->rec,
                              FLOW_PATH_WRITE, why, sizeof why);
    if (!f) {
        flow_log(ctx, "cannot write %s: %s", s->rec, why);
        return;
    }
    fprintf(f, "%" PRIu64 " %" PRIu64 "\n", s->st.last_n, s->st.pub);
    bool bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    if (flow_path_fclose(&o, f, bad, why, sizeof why) || bad)
        flow_log(ctx, "cannot write %s: %s", s->rec,
                 bad ? strerror(errno) : why);
}

static void on_commit(flow_ctx *ctx, uint64_t n)
{
    struct file_sink *s = flow_state(ctx);
    bool published;
    if (!s->opened)
        return;
    int rc = filestage_commit(&s->st, n, &published);
    if (rc) {
        flow_log(ctx,
                 "checkpoint %" PRIu64 ": cannot append its events to %s: "
                 "%s; tried again at the next one",
                 n, s->vis, strerror(errno));
        return;
    }
    if (published)
        write_record(ctx, s);
}

static void fini(flow_ctx *ctx)
{
    struct file_sink *s = flow_state(ctx);
    char why[1024];
    if (s->opened && filestage_flush(&s->st))
        flow_log(ctx, "cannot write %s: %s", s->staged ? s->stg : s->vis,
                 strerror(errno));
    if (s->visf && flow_path_fclose(&s->vo, s->visf, false, why, sizeof why))
        flow_log(ctx, "%s", why);
    if (s->stgf && flow_path_fclose(&s->so, s->stgf, false, why, sizeof why))
        flow_log(ctx, "%s", why);
    if (s->stg_rd >= 0)
        close(s->stg_rd);
    filestage_fini(&s->st);
    flow_buf_fini(&s->line);
    sinkopts_fini(&s->so_opts, ctx);
}

const flow_app_desc file_sink_app = {
    .name = "file",
    .role = FLOW_ROLE_SINK,
    .description = "Writes each event to a file in a directory (JSON lines, "
                   "text lines or msgpack); under a guarantee, an event "
                   "becomes visible when its checkpoint completes.",
    .options = options,
    .state_size = sizeof(struct file_sink),
    .init = init_files,
    .on_event = on_event,
    .on_tick = on_tick,
    .tick_us = 50000,
    .snapshot = snapshot,
    .restore = restore,
    .on_checkpoint = on_checkpoint,
    .on_commit = on_commit,
    .fini = fini,
};
