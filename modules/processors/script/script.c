/*
 * script - runs a user's Lua script on every event.
 *
 * The script (--script=PATH or --script-text=TEXT) defines
 * process(event), and may define init(options), snapshot() and
 * restore(state); it runs in a sandbox with an instruction budget per
 * call and a memory cap (luascript.h). An event the script fails on goes
 * to the error output with the reason, and the app goes on. A script that
 * does not load, or defines no process, stops the app at start with exit
 * status 2 and the Lua message. The contract is in docs/apps.md
 * "Scripts".
 */
#include "apps.h"
#include "luascript.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest script file read. */
#define SCRIPT_MAX_FILE (4u * 1024 * 1024)

struct script {
    const char *language;     /* --language */
    const char *path;         /* --script, or NULL */
    const char *text;         /* --script-text, or NULL */
    const char *options;      /* --options, or NULL */
    int64_t max_instructions; /* --max-instructions */
    int64_t max_memory_mib;   /* --max-memory, in MiB */
    lscript *ls;
};

static const char *const languages[] = { "lua", NULL };

static const flow_option options[] = {
    { .name = "language",
      .type = FLOW_OPT_ENUM,
      .def = "lua",
      .values = languages,
      FLOW_OPT_FIELD(struct script, language),
      .description = "The script's language (Lua 5.4)." },
    { .name = "script",
      .type = FLOW_OPT_PATH_READ,
      FLOW_OPT_FIELD(struct script, path),
      .description = "The file of the script (or give --script-text)." },
    { .name = "script-text",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct script, text),
      .description = "The script itself, in place of --script (quote it "
                     "in a stream definition)." },
    { .name = "options",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct script, options),
      .description = "NAME=VALUE pairs, separated by commas or newlines, "
                     "passed to init(options) as a table of strings." },
    { .name = "max-instructions",
      .type = FLOW_OPT_INT,
      .def = "1000000",
      .min = "1000",
      FLOW_OPT_FIELD(struct script, max_instructions),
      .description = "Lua instructions one call of the script may run "
                     "(each event, and init, snapshot and restore); past "
                     "them the event goes to the error output." },
    { .name = "max-memory",
      .type = FLOW_OPT_INT,
      .def = "64",
      .min = "1",
      .max = "4096",
      FLOW_OPT_FIELD(struct script, max_memory_mib),
      .description = "MiB the script's Lua state may hold; an allocation "
                     "past them fails the event to the error output." },
    { .name = NULL },
};

static void log_line(void *arg, const char *line)
{
    flow_log(arg, "script: %s", line);
}

/* Reads the script file under the path rules into a new buffer. */
static int read_script(flow_ctx *ctx, const char *path, char **out,
                       size_t *lenp)
{
    char why[1024];
    int fd =
        flow_path_open_read(flow_path_rules_of(ctx), path, why, sizeof(why));
    if (fd < 0) {
        flow_log(ctx, "--script: cannot open '%s': %s", path, why);
        return -FLOW_EOPTION;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                rc = -FLOW_ENOMEM;
                goto done;
            }
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            flow_log(ctx, "--script: cannot read '%s': %s", path,
                     strerror(errno));
            rc = -FLOW_EOPTION;
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SCRIPT_MAX_FILE) {
            flow_log(ctx, "--script: '%s' is over %u bytes", path,
                     SCRIPT_MAX_FILE);
            rc = -FLOW_EOPTION;
            goto done;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *lenp = len;
    buf = NULL;

done:
    free(buf);
    close(fd);
    return rc;
}

static int init(flow_ctx *ctx)
{
    struct script *s = flow_state(ctx);
    char err[1024], *file = NULL, *chunk = NULL;
    const char *text = s->text;
    size_t len = text ? strlen(text) : 0;
    int rc;

    if ((s->path != NULL) == (s->text != NULL)) {
        flow_log(ctx, "give the script with exactly one of --script=PATH "
                      "and --script-text=TEXT");
        return -FLOW_EOPTION;
    }
    if (s->path && (rc = read_script(ctx, s->path, &file, &len)) < 0)
        return rc;
    if (file)
        text = file;
    /* "@PATH" and "=script-text" make Lua's messages say PATH:LINE: and
     * script-text:LINE:. */
    size_t nlen = (s->path ? strlen(s->path) : 16) + 2;
    if (!(chunk = malloc(nlen))) {
        rc = -FLOW_ENOMEM;
        goto fail;
    }
    snprintf(chunk, nlen, "%s%s", s->path ? "@" : "=",
             s->path ? s->path : "script-text");
    lscript_limits lim = {
        .max_instructions = s->max_instructions,
        .max_memory = (size_t)s->max_memory_mib * 1024 * 1024,
    };
    if (!(s->ls = lscript_new(&lim, log_line, ctx, err, sizeof(err)))) {
        flow_log(ctx, "%s", err);
        rc = -FLOW_ENOMEM;
        goto fail;
    }
    if ((rc = lscript_load(s->ls, chunk, text, len, err, sizeof(err))) < 0 ||
        (rc = lscript_init(s->ls, s->options, err, sizeof(err))) < 0) {
        flow_log(ctx, "%s", err);
        goto fail;
    }
    free(chunk);
    free(file);
    return 0;

fail:
    lscript_destroy(&s->ls);
    free(chunk);
    free(file);
    return rc;
}

struct emit_arg {
    flow_ctx *ctx;
    const flow_event *in;
};

static int emit_one(void *arg, const lscript_out *o)
{
    struct emit_arg *a = arg;
    flow_event out = *a->in;
    if (o->type) {
        out.type = o->type;
        out.type_len = (uint32_t)o->type_len;
    }
    if (o->key_set) {
        out.key = o->key;
        out.key_len = (uint32_t)o->key_len;
    }
    if (o->ts_us)
        out.ts_us = o->ts_us;
    out.payload = o->payload;
    out.payload_len = (uint32_t)o->payload_len;
    return flow_emit_event(a->ctx, &out);
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct script *s = flow_state(ctx);
    struct emit_arg a = { ctx, ev };
    char err[1024] = "";
    int rc = lscript_process(s->ls, ev, emit_one, &a, err, sizeof(err));
    if (rc == 0)
        return 0;
    if (rc == -FLOW_ETOOBIG || rc == -FLOW_EINVAL || rc == -FLOW_EMALFORMED ||
        rc == -FLOW_ENOMEM) {
        /* A failure inside the script, or an event the runtime refused. */
        if (err[0] == '\0')
            snprintf(err, sizeof(err), "cannot send the script's event: %s",
                     flow_strerror(rc));
        return flow_emit_error(ctx, ev, err);
    }
    return rc;
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct script *s = flow_state(ctx);
    char err[1024];
    int rc = lscript_snapshot(s->ls, out, err, sizeof(err));
    if (rc < 0)
        flow_log(ctx, "%s", err);
    return rc;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct script *s = flow_state(ctx);
    char err[1024];
    int rc = lscript_restore(s->ls, data, len, err, sizeof(err));
    if (rc < 0)
        flow_log(ctx, "%s", err);
    return rc;
}

static void fini(flow_ctx *ctx)
{
    struct script *s = flow_state(ctx);
    lscript_destroy(&s->ls);
}

const flow_app_desc script_app = {
    .name = "script",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Runs a Lua script's process(event) on every event, in a "
                   "sandbox with an instruction budget and a memory limit; "
                   "an event the script fails on goes to the error output "
                   "with the reason.",
    .options = options,
    .state_size = sizeof(struct script),
    .init = init,
    .on_event = on_event,
    .snapshot = snapshot,
    .restore = restore,
    .fini = fini,
};
