/*
 * jsonl - an example sink built out of tree against the installed SDK
 * (docs/sdk.md):
 *
 *     cc -o flow-jsonl jsonl.c $(pkg-config --cflags --libs flow)
 *
 * Writes each event as one JSON line {"id", "type", "key", "payload"} to
 * stdout, or appended to the file --path names. The file obeys the path
 * rules (docs/apps.md "Paths"): a relative path lies in the instance's
 * directory, an absolute one must be under a flowd --allow-path.
 */
#include <flow/flow.h>
#include <flow/mpjson.h>

#include <inttypes.h>
#include <stdio.h>

struct jsonl {
    const char *path; /* --path; NULL: stdout */
    FILE *out;
    flow_path_out file; /* the open --path */
    flow_buf line;      /* the line being built */
};

static const flow_option options[] = {
    { .name = "path",
      .type = FLOW_OPT_PATH_APPEND,
      FLOW_OPT_FIELD(struct jsonl, path),
      .description = "The file the lines are appended to (default: "
                     "stdout)." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct jsonl *s = flow_state(ctx);
    char why[1024];

    flow_buf_init(&s->line);
    if (!s->path) {
        s->out = stdout;
        return 0;
    }
    s->out = flow_path_fopen(&s->file, flow_path_rules_of(ctx), s->path,
                             FLOW_PATH_APPEND, why, sizeof why);
    if (!s->out) {
        flow_log(ctx, "cannot open --path=%s: %s", s->path, why);
        return -FLOW_EIO;
    }
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct jsonl *s = flow_state(ctx);
    flow_buf *b = &s->line;
    char id[32];

    flow_buf_reset(b);
    int n = snprintf(id, sizeof id, "{\"id\":%" PRIu64 ",\"type\":", ev->id);
    flow_buf_append(b, id, (size_t)n);
    flow_json_string(b, ev->type, ev->type_len);
    flow_buf_append(b, ",\"key\":", 7);
    if (ev->key)
        flow_json_string(b, ev->key, ev->key_len);
    else
        flow_buf_append(b, "null", 4);
    flow_buf_append(b, ",\"payload\":", 11);
    /* The event and its payload are borrowed: valid only during this
     * call, so the line is written out before it returns. */
    int rc = flow_mpjson_append(b, ev->payload, ev->payload_len);
    if (rc < 0) {
        flow_log(ctx, "event %" PRIu64 ": payload is not valid msgpack (%s)",
                 ev->id, flow_strerror(rc));
        return rc;
    }
    flow_buf_append(b, "}\n", 2);
    if (b->err)
        return b->err;
    if (fwrite(b->data, 1, b->len, s->out) != b->len || fflush(s->out)) {
        flow_log(ctx, "cannot write event %" PRIu64, ev->id);
        return -FLOW_EIO;
    }
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct jsonl *s = flow_state(ctx);
    char why[1024];

    if (s->path && s->out &&
        flow_path_fclose(&s->file, s->out, false, why, sizeof why))
        flow_log(ctx, "cannot close --path=%s: %s", s->path, why);
    flow_buf_fini(&s->line);
}

static const flow_app_desc jsonl_app = {
    .name = "jsonl",
    .role = FLOW_ROLE_SINK,
    .description = "Writes each event as a JSON line to stdout or appended "
                   "to a file.",
    .options = options,
    .state_size = sizeof(struct jsonl),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};

int main(int argc, char **argv)
{
    return flow_app_main(&jsonl_app, argc, argv);
}
