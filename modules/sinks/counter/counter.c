/*
 * counter - counts events (SCDF's counter sink). The runtime reports the
 * increments on the control socket and the totals in --flow.metrics-json;
 * run without a control endpoint, it prints the final count as one JSON
 * line on stdout at exit.
 */
#include "apps.h"
#include "sinkopts.h"

#include <stdlib.h>

struct counter {
    flow_counter *c;
    const char *name;
    struct sinkopts so;
};

static const flow_option options[] = {
    { "name", FLOW_OPT_STRING, NULL, false, NULL,
      "Name of the counter (default: the app's label)." },
    SINKOPTS_ROWS,
    { NULL, 0, NULL, false, NULL, NULL },
};

static int init(flow_ctx *ctx)
{
    const char *name = flow_opt_str(ctx, "name");
    struct counter *s = calloc(1, sizeof(*s));
    if (!s)
        return -FLOW_ENOMEM;
    int rc = sinkopts_init(&s->so, ctx);
    s->name = name && *name ? name : flow_label(ctx);
    if (rc == 0) {
        s->c = flow_counter_get(ctx, FLOW_COUNTER, s->name);
        rc = s->c ? 0 : -FLOW_ENOMEM;
    }
    if (rc < 0) {
        sinkopts_fini(&s->so, ctx);
        free(s);
        return rc;
    }
    flow_set_state(ctx, s);
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct counter *s = flow_state(ctx);
    sinkopts_event(&s->so, ctx, ev);
    return flow_counter_add(s->c, -1, NULL, 0, 1);
}

static void fini(flow_ctx *ctx)
{
    struct counter *s = flow_state(ctx);
    if (!s)
        return;
    if (!flow_has_control(ctx))
        sinkopts_print_final("counter", s->name,
                             flow_counter_total(s->c, NULL, 0), NULL);
    sinkopts_fini(&s->so, ctx);
    free(s);
    flow_set_state(ctx, NULL);
}

const flow_app_desc counter_app = {
    .name = "counter",
    .role = FLOW_ROLE_SINK,
    .description = "Counts events under a name; the count goes to the "
                   "server's analytics with per-second increments.",
    .options = options,
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
