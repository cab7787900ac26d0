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
#include <string.h>

enum expr { EXPR_PAYLOAD, EXPR_EVENT, EXPR_FIELD };

struct logsink {
    const char *level;      /* --level */
    const char *name;       /* --name, then the label when not given */
    const char *expression; /* --expression */
    enum expr expr;         /* what --expression asks for */
    const char *field;      /* EXPR_FIELD: the payload field */
    FILE *out;
    flow_buf line;
    struct sinkopts so;
};

static const char *const levels[] = { "TRACE", "DEBUG", "INFO",
                                      "WARN",  "ERROR", NULL };

static const flow_option options[] = {
    { .name = "level",
      .type = FLOW_OPT_ENUM,
      .def = "INFO",
      .values = levels,
      FLOW_OPT_FIELD(struct logsink, level),
      .description = "Log level: WARN and ERROR print on stderr, the others "
                     "on stdout." },
    { .name = "name",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct logsink, name),
      .description =
          "Logger name shown with --expression=event (default: the label)." },
    { .name = "expression",
      .type = FLOW_OPT_STRING,
      .def = "payload",
      FLOW_OPT_FIELD(struct logsink, expression),
      .description = "What to print: payload, event (headers and payload), "
                     "or a payload field name." },
    SINKOPTS_ROWS(struct logsink, so),
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct logsink *s = flow_state(ctx);
    const char *e = s->expression;
    if (!e || !*e || strcmp(e, "payload") == 0) {
        s->expr = EXPR_PAYLOAD;
    } else if (strcmp(e, "event") == 0) {
        s->expr = EXPR_EVENT;
    } else {
        s->expr = EXPR_FIELD;
        s->field = e;
    }
    if (!s->name || !*s->name)
        s->name = flow_label(ctx);
    s->out = (strcmp(s->level, "WARN") == 0 || strcmp(s->level, "ERROR") == 0)
                 ? stderr
                 : stdout;
    flow_buf_init(&s->line);
    int rc = sinkopts_init(&s->so);
    if (rc < 0)
        sinkopts_fini(&s->so, ctx);
    return rc;
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
    sinkopts_fini(&s->so, ctx);
    flow_buf_fini(&s->line);
}

const flow_app_desc log_app = {
    .name = "log",
    .role = FLOW_ROLE_SINK,
    .description = "Prints each event as a JSON line: its payload, the "
                   "whole event, or one payload field.",
    .options = options,
    .state_size = sizeof(struct logsink),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
