/*
 * header-enricher - sets event headers from expressions (SCDF's
 * header-enricher processor): --headers.type=E and --headers.key=E set
 * the event's type and partition key to the text of E's result (a
 * string as it is, a number as written). A flow event's headers are
 * fixed (docs/wire.md), so any other NAME is refused at start with a
 * pointer to transform --set.NAME=E, which puts a value into the
 * payload. The expressions read the event as it came in. A key
 * expression that gives null clears the key; a type that is null or
 * empty, a text over 255 bytes, or an expression that fails sends the
 * event to the error output with the reason. The payload passes as it
 * is.
 */
#include "apps.h"
#include "exprerr.h"
#include "flow/wire.h"

#include <stdio.h>
#include <string.h>

struct enricher {
    const flow_expr *type_e; /* --headers.type; NULL = kept */
    const flow_expr *key_e;  /* --headers.key; NULL = kept */
    flow_expr_scratch sc;
};

static const flow_option options[] = {
    { .name = "headers",
      .type = FLOW_OPT_EXPR,
      .prefix = true,
      .description = "--headers.NAME=E sets header NAME (type or key) to the "
                     "text of E's result, e.g. --headers.key=payload.region; "
                     "repeatable." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct enricher *h = flow_state(ctx);
    size_t n = flow_opt_prefix_count(ctx, "headers");
    for (size_t i = 0; i < n; i++) {
        const char *k = flow_opt_prefix_key(ctx, "headers", i);
        const flow_expr *e = flow_opt_prefix_expr(ctx, "headers", i);
        if (!strcmp(k, "type")) {
            h->type_e = e;
        } else if (!strcmp(k, "key")) {
            h->key_e = e;
        } else {
            flow_log(ctx,
                     "--headers.%s: an event has the headers type and key "
                     "only (docs/wire.md); to carry '%s' put it into the "
                     "payload with transform --set.%s=E",
                     k, k, k);
            return -FLOW_EOPTION;
        }
    }
    flow_expr_scratch_init(&h->sc);
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct enricher *h = flow_state(ctx);
    char type[FLOW_WIRE_MAX_NAME + 1], key[FLOW_WIRE_MAX_NAME + 1], why[600];
    flow_event out = *ev;
    if (h->type_e) {
        int n = exprerr_text(h->type_e, "headers.type", ev, &h->sc, type,
                             sizeof(type), why, sizeof(why));
        if (n < 0)
            return flow_emit_error(ctx, ev, why);
        out.type = type;
        out.type_len = (uint32_t)n;
    }
    if (h->key_e) {
        flow_expr_error err;
        flow_expr_value v;
        if (flow_expr_eval(h->key_e, ev, &h->sc, &v, &err) == 0 &&
            v.type == FLOW_EXPR_NIL) {
            out.key = NULL;
            out.key_len = 0;
        } else {
            int n = exprerr_text(h->key_e, "headers.key", ev, &h->sc, key,
                                 sizeof(key), why, sizeof(why));
            if (n < 0)
                return flow_emit_error(ctx, ev, why);
            out.key = key;
            out.key_len = (uint32_t)n;
        }
    }
    return flow_emit_event(ctx, &out);
}

static void fini(flow_ctx *ctx)
{
    struct enricher *h = flow_state(ctx);
    flow_expr_scratch_fini(&h->sc);
}

const flow_app_desc header_enricher_app = {
    .name = "header-enricher",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Sets the type and key headers of each event from "
                   "--headers.NAME expressions.",
    .options = options,
    .state_size = sizeof(struct enricher),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
