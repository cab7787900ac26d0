/*
 * router - sends each event to the named destination its --expression
 * names (SCDF's router sink). With --destination-mappings=V1:dest1,...
 * the text of the result is looked up there; a value without a mapping
 * goes to --default-output-channel. Without mappings the text is the
 * destination's name itself (or, when it is no name, the default). An
 * event with no destination, or one the expression fails on, goes to
 * the error output with the reason. The events leave with flow_emit_to:
 * flowd gives the router one output group per destination and consumer
 * group (docs/flowd.md "Routers"), and a destination nobody reads yet
 * holds the router's events until a stream reading it is deployed.
 */
#include "apps.h"
#include "exprerr.h"
#include "routes.h"

#include <stdio.h>

struct router {
    const flow_expr *expr; /* --expression */
    const char *mappings;  /* --destination-mappings */
    const char *def;       /* --default-output-channel */
    struct routes rt;
    flow_expr_scratch sc;
};

static const flow_option options[] = {
    { .name = "expression",
      .type = FLOW_OPT_EXPR,
      .required = true,
      FLOW_OPT_FIELD(struct router, expr),
      .description = "An expression (docs/expressions.md) whose result, as "
                     "text, names the destination or the value to map, e.g. "
                     "payload.type." },
    { .name = "destination-mappings",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct router, mappings),
      .description = "VALUE:DESTINATION pairs separated by ',', e.g. "
                     "ACCOUNT_CREATED:created,ACCOUNT_CLOSED:closed." },
    { .name = "default-output-channel",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct router, def),
      .description = "Destination of a value without a mapping (default: "
                     "none, the event goes to the error output)." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct router *r = flow_state(ctx);
    char why[512];
    if (routes_init(&r->rt, r->mappings, r->def, why, sizeof(why))) {
        flow_log(ctx, "%s", why);
        return -FLOW_EOPTION;
    }
    flow_expr_scratch_init(&r->sc);
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct router *r = flow_state(ctx);
    char v[256], why[600];
    if (exprerr_text(r->expr, "expression", ev, &r->sc, v, sizeof(v), why,
                     sizeof(why)) < 0)
        return flow_emit_error(ctx, ev, why);
    const char *dest = routes_pick(&r->rt, v);
    if (!dest) {
        snprintf(why, sizeof(why),
                 "no destination for '%s': %s and no "
                 "--default-output-channel",
                 v,
                 r->rt.n ? "--destination-mappings has no mapping for it"
                         : "it is not a destination name");
        return flow_emit_error(ctx, ev, why);
    }
    return flow_emit_to(ctx, dest, ev);
}

static void fini(flow_ctx *ctx)
{
    struct router *r = flow_state(ctx);
    routes_fini(&r->rt);
    flow_expr_scratch_fini(&r->sc);
}

const flow_app_desc router_app = {
    .name = "router",
    .role = FLOW_ROLE_SINK,
    .description = "Sends each event to the named destination --expression "
                   "names, through --destination-mappings.",
    .options = options,
    .state_size = sizeof(struct router),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
