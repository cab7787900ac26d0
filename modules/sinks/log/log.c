/*
 * log - prints each event as one JSON line on stdout (SCDF's log sink).
 *
 * --expression chooses what is printed: an expression (docs/expressions.md)
 * whose result is printed as JSON, the payload by default; --event prints
 * the whole event (headers and payload) instead. Lines are JSON only, so
 * they can be piped into a JSON tool; --level and --name appear in the
 * --event form, and the level picks stdout (TRACE to INFO) or stderr
 * (WARN, ERROR). An event the expression fails on goes to the error output
 * with the reason.
 */
#include "apps.h"
#include "exprerr.h"
#include "flow/mpjson.h"
#include "sinkopts.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct logsink {
    const char *level;     /* --level */
    const char *name;      /* --name, then the label when not given */
    const flow_expr *expr; /* --expression */
    bool event;            /* --event */
    bool whole;            /* --expression is just payload: copy it */
    flow_expr_scratch sc;
    flow_buf value; /* the expression's result as msgpack */
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
      .description = "Logger name shown with --event (default: the label)." },
    { .name = "expression",
      .type = FLOW_OPT_EXPR,
      .def = "payload",
      FLOW_OPT_FIELD(struct logsink, expr),
      .description = "What to print, as JSON: an expression "
                     "(docs/expressions.md) such as payload.amount." },
    { .name = "event",
      .type = FLOW_OPT_BOOL,
      .def = "false",
      FLOW_OPT_FIELD(struct logsink, event),
      .description = "Print the whole event (headers and payload) instead "
                     "of --expression." },
    SINKOPTS_ROWS(struct logsink, so),
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct logsink *s = flow_state(ctx);
    s->whole = strcmp(flow_expr_source(s->expr), "payload") == 0;
    flow_expr_scratch_init(&s->sc);
    flow_buf_init(&s->value);
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
    if (s->event) {
        rc = format_event(s, ev);
    } else if (s->whole) {
        rc = flow_mpjson_append(&s->line, ev->payload, ev->payload_len);
    } else {
        flow_expr_value v;
        flow_expr_error err;
        char why[512];
        if (flow_expr_eval(s->expr, ev, &s->sc, &v, &err))
            return flow_emit_error(
                ctx, ev,
                exprerr_reason(why, sizeof(why), "expression", s->expr, &err));
        flow_buf_reset(&s->value);
        flow_expr_value_write(&v, &s->value);
        rc = s->value.err
                 ? s->value.err
                 : flow_mpjson_append(&s->line, s->value.data, s->value.len);
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
    flow_buf_fini(&s->value);
    flow_expr_scratch_fini(&s->sc);
}

const flow_app_desc log_app = {
    .name = "log",
    .role = FLOW_ROLE_SINK,
    .description = "Prints each event as a JSON line: its payload, the "
                   "result of an expression, or the whole event.",
    .options = options,
    .state_size = sizeof(struct logsink),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
