/*
 * bridge - passes every event on unchanged (SCDF's implicit app of
 * ":a > :b", which joins two named destinations).
 */
#include "apps.h"

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    return flow_emit_event(ctx, ev);
}

const flow_app_desc bridge_app = {
    .name = "bridge",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Passes every event on unchanged; the DSL puts it "
                   "between two named destinations (:a > :b).",
    .options = NULL,
    .on_event = on_event,
};
