/*
 * filter - passes on the events for which --expression is true (SCDF's
 * filter processor). An event for which the expression fails or gives
 * anything but a boolean goes to the error output with the reason.
 */
#include "apps.h"
#include "exprerr.h"

struct filter {
    const flow_expr *expr; /* --expression */
    flow_expr_scratch sc;
};

static const flow_option options[] = {
    { .name = "expression",
      .type = FLOW_OPT_EXPR,
      .def = "true",
      FLOW_OPT_FIELD(struct filter, expr),
      .description = "A boolean expression (docs/expressions.md); the events "
                     "for which it is true pass, e.g. payload.amount > 1000." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct filter *f = flow_state(ctx);
    flow_expr_scratch_init(&f->sc);
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct filter *f = flow_state(ctx);
    flow_expr_error err;
    char why[512];
    bool keep;
    if (flow_expr_eval_bool(f->expr, ev, &f->sc, &keep, &err))
        return flow_emit_error(
            ctx, ev,
            exprerr_reason(why, sizeof(why), "expression", f->expr, &err));
    return keep ? flow_emit_event(ctx, ev) : 0;
}

static void fini(flow_ctx *ctx)
{
    struct filter *f = flow_state(ctx);
    flow_expr_scratch_fini(&f->sc);
}

const flow_app_desc filter_app = {
    .name = "filter",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Passes on the events for which --expression is true; an "
                   "event it cannot judge goes to the error output.",
    .options = options,
    .state_size = sizeof(struct filter),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
