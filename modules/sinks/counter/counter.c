/*
 * counter - counts events (SCDF's counter sink). With --name-expression
 * it keeps one counter per distinct result of the expression, named by
 * its text (SCDF 1.x's counter), e.g. --name-expression=payload.type
 * counts each event type under its own name. The runtime reports the
 * increments on the control socket and the totals in --flow.metrics-json;
 * run without a control endpoint, it prints each final count as one JSON
 * line on stdout at exit.
 */
#include "apps.h"
#include "exprerr.h"
#include "fvmap.h"
#include "sinkopts.h"

#include <string.h>

/* Distinct names --name-expression may make; an event whose result would
 * be one more goes to the error output. */
#define MAX_NAMES 10000
/* The longest name (flowd keeps counter names up to this). */
#define NAME_MAX_LEN 127

struct counter {
    flow_counter *c;         /* the one counter without --name-expression */
    const char *name;        /* --name, then the label when not given */
    const flow_expr *name_e; /* --name-expression; NULL = one counter */
    flow_expr_scratch sc;
    struct fvmap names; /* the names --name-expression made */
    struct sinkopts so;
};

static const flow_option options[] = {
    { .name = "name",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct counter, name),
      .description = "Name of the counter (default: the app's label)." },
    { .name = "name-expression",
      .type = FLOW_OPT_EXPR,
      FLOW_OPT_FIELD(struct counter, name_e),
      .description = "Count each event under the counter named by the text "
                     "of this expression's result (docs/expressions.md), "
                     "e.g. payload.type; not with --name." },
    SINKOPTS_ROWS(struct counter, so),
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct counter *s = flow_state(ctx);
    if (s->name_e && flow_opt_is_set(ctx, "name")) {
        flow_log(ctx, "give --name or --name-expression, not both");
        return -FLOW_EOPTION;
    }
    if (!s->name || !*s->name)
        s->name = flow_label(ctx);
    flow_expr_scratch_init(&s->sc);
    fvmap_init(&s->names, MAX_NAMES);
    int rc = sinkopts_init(&s->so);
    if (rc == 0 && !s->name_e) {
        s->c = flow_counter_get(ctx, FLOW_COUNTER, s->name);
        rc = s->c ? 0 : -FLOW_ENOMEM;
    }
    if (rc < 0) {
        sinkopts_fini(&s->so, ctx);
        fvmap_fini(&s->names);
        flow_expr_scratch_fini(&s->sc);
    }
    return rc;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct counter *s = flow_state(ctx);
    char name[NAME_MAX_LEN + 1], why[600];
    sinkopts_event(&s->so, ctx, ev);
    if (!s->name_e)
        return flow_counter_add(s->c, -1, NULL, 0, 1);
    int n = exprerr_text(s->name_e, "name-expression", ev, &s->sc, name,
                         sizeof(name), why, sizeof(why));
    if (n < 0)
        return flow_emit_error(ctx, ev, why);
    if (fvmap_add(&s->names, name, (size_t)n, 1) < 0) {
        snprintf(why, sizeof(why),
                 "--name-expression: '%s' would be counter %d; at most %d "
                 "distinct names are kept",
                 name, MAX_NAMES + 1, MAX_NAMES);
        return flow_emit_error(ctx, ev, why);
    }
    flow_counter *c = flow_counter_get(ctx, FLOW_COUNTER, name);
    return c ? flow_counter_add(c, -1, NULL, 0, 1) : -FLOW_ENOMEM;
}

static void print_one(const struct fv_entry *e, void *arg)
{
    (void)arg;
    sinkopts_print_final("counter", e->key, e->total, NULL);
}

static void fini(flow_ctx *ctx)
{
    struct counter *s = flow_state(ctx);
    if (!flow_has_control(ctx)) {
        if (s->name_e)
            fvmap_each(&s->names, print_one, NULL);
        else
            sinkopts_print_final("counter", s->name,
                                 flow_counter_total(s->c, NULL, 0), NULL);
    }
    sinkopts_fini(&s->so, ctx);
    fvmap_fini(&s->names);
    flow_expr_scratch_fini(&s->sc);
}

const flow_app_desc counter_app = {
    .name = "counter",
    .role = FLOW_ROLE_SINK,
    .description = "Counts events under a name, or under each distinct "
                   "result of --name-expression; the counts go to the "
                   "server's analytics with per-second increments.",
    .options = options,
    .state_size = sizeof(struct counter),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
