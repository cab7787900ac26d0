/*
 * log - prints each event as one JSON line on stdout (SCDF's log sink).
 *
 * --expression chooses what is printed: "payload" (the default), "event"
 * (headers and payload) or the name of a payload field (its value).
 * Lines are JSON only, so they can be piped into a JSON tool; --level and
 * --name appear in the "event" form, and the level picks stdout (TRACE to
 * INFO) or stderr (WARN, ERROR).
 */
#include "apps.h"
#include "fieldpath.h"
#include "flow/mpjson.h"
#include "sinkopts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum expr { EXPR_PAYLOAD, EXPR_EVENT, EXPR_FIELD };

struct logsink {
    enum expr expr;
    const char *field;
    const char *name;
    const char *level;
    FILE *out;
    flow_buf line;
    struct sinkopts so;
};

static const char *const levels[] = { "TRACE", "DEBUG", "INFO",
                                      "WARN",  "ERROR", NULL };

static const flow_option options[] = {
    { "level", FLOW_OPT_ENUM, "INFO", false, levels,
      "Log level: WARN and ERROR print on stderr, the others on stdout." },
    { "name", FLOW_OPT_STRING, NULL, false, NULL,
      "Logger name shown with --expression=event (default: the label)." },
    { "expression", FLOW_OPT_STRING, "payload", false, NULL,
      "What to print: payload, event (headers and payload), or a payload "
      "field name." },
    SINKOPTS_ROWS,
    { NULL, 0, NULL, false, NULL, NULL },
};

static int init(flow_ctx *ctx)
{
    struct logsink *s = calloc(1, sizeof(*s));
    if (!s)
        return -FLOW_ENOMEM;
    const char *e = flow_opt_str(ctx, "expression");
    const char *name = flow_opt_str(ctx, "name");
    if (!e || !*e || strcmp(e, "payload") == 0) {
        s->expr = EXPR_PAYLOAD;
    } else if (strcmp(e, "event") == 0) {
        s->expr = EXPR_EVENT;
    } else {
        s->expr = EXPR_FIELD;
        s->field = e;
    }
    s->level = flow_opt_enum(ctx, "level");
    s->name = name && *name ? name : flow_label(ctx);
    s->out = (strcmp(s->level, "WARN") == 0 || strcmp(s->level, "ERROR") == 0)
                 ? stderr
                 : stdout;
    flow_buf_init(&s->line);
    int rc = sinkopts_init(&s->so, ctx);
    if (rc < 0) {
        sinkopts_fini(&s->so, ctx);
        free(s);
        return rc;
    }
    flow_set_state(ctx, s);
    return 0;
}

static int format_event(struct logsink *s, const flow_event *ev)
{
    flow_buf *b = &s->line;
    char tmp[96];
    int n = snprintf(tmp, sizeof(tmp),
                     "{\"level\":\"%s\",\"id\":%" PRIu64 ",\"ts_us\":%" PRId64
                     ",\"name\":",
                     s->level, ev->id, ev->ts_us);
    flow_buf_append(b, tmp, (size_t)n);
    flow_json_string(b, s->name, strlen(s->name));
    flow_buf_append(b, ",\"type\":", 8);
    flow_json_string(b, ev->type, ev->type_len);
    flow_buf_append(b, ",\"key\":", 7);
    if (ev->key)
        flow_json_string(b, ev->key, ev->key_len);
    else
        flow_buf_append(b, "null", 4);
    flow_buf_append(b, ",\"payload\":", 11);
    int rc = flow_mpjson_append(b, ev->payload, ev->payload_len);
    flow_buf_append(b, "}", 1);
    return rc;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct logsink *s = flow_state(ctx);
    int rc = 0;
    sinkopts_event(&s->so, ctx, ev);
    flow_buf_reset(&s->line);
    switch (s->expr) {
    case EXPR_PAYLOAD:
        rc = flow_mpjson_append(&s->line, ev->payload, ev->payload_len);
        break;
    case EXPR_EVENT:
        rc = format_event(s, ev);
        break;
    case EXPR_FIELD: {
        flow_mp_value v;
        rc = fieldpath_find(ev->payload, ev->payload_len, s->field, &v);
        if (rc == -FLOW_ENOTFOUND) {
            flow_buf_append(&s->line, "null", 4);
            rc = 0;
        } else if (rc == 0) {
            rc = flow_mpjson_append(&s->line, v.raw, v.raw_len);
        }
        break;
    }
    }
    if (rc == -FLOW_ENOMEM) {
        flow_log(ctx, "event %" PRIu64 ": out of memory writing its JSON",
                 ev->id);
        return rc;
    }
    if (rc < 0) {
        flow_log(ctx, "event %" PRIu64 ": payload is not valid msgpack (%s)",
                 ev->id, flow_strerror(rc));
        return rc;
    }
    flow_buf_append(&s->line, "\n", 1);
    if (s->line.err)
        return s->line.err;
    fwrite(s->line.data, 1, s->line.len, s->out);
    /* One line per event, visible at once, as a logger would. */
    fflush(s->out);
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct logsink *s = flow_state(ctx);
    if (!s)
        return;
    sinkopts_fini(&s->so, ctx);
    flow_buf_fini(&s->line);
    free(s);
    flow_set_state(ctx, NULL);
}

const flow_app_desc log_app = {
    .name = "log",
    .role = FLOW_ROLE_SINK,
    .description = "Prints each event as a JSON line: its payload, the "
                   "whole event, or one payload field.",
    .options = options,
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
