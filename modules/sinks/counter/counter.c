/*
 * counter - counts events (SCDF's counter sink). The runtime reports the
 * increments on the control socket and the totals in --flow.metrics-json;
 * run without a control endpoint, it prints the final count as one JSON
 * line on stdout at exit.
 */
#include "apps.h"
#include "sinkopts.h"

struct counter {
    flow_counter *c;
    const char *name; /* --name, then the label when not given */
    struct sinkopts so;
};

static const flow_option options[] = {
    { .name = "name",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct counter, name),
      .description = "Name of the counter (default: the app's label)." },
    SINKOPTS_ROWS(struct counter, so),
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct counter *s = flow_state(ctx);
    if (!s->name || !*s->name)
        s->name = flow_label(ctx);
    int rc = sinkopts_init(&s->so);
    if (rc == 0) {
        s->c = flow_counter_get(ctx, FLOW_COUNTER, s->name);
        rc = s->c ? 0 : -FLOW_ENOMEM;
    }
    if (rc < 0)
        sinkopts_fini(&s->so, ctx);
    return rc;
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
    if (!flow_has_control(ctx))
        sinkopts_print_final("counter", s->name,
                             flow_counter_total(s->c, NULL, 0), NULL);
    sinkopts_fini(&s->so, ctx);
}

const flow_app_desc counter_app = {
    .name = "counter",
    .role = FLOW_ROLE_SINK,
    .description = "Counts events under a name; the count goes to the "
                   "server's analytics with per-second increments.",
    .options = options,
    .state_size = sizeof(struct counter),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
