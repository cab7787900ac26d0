/*
 * amount-threshold - an example processor built out of tree against the
 * installed SDK (docs/sdk.md):
 *
 *     cc -o flow-amount-threshold amount-threshold.c \
 *         $(pkg-config --cflags --libs flow)
 *
 * Passes on every event whose payload field "amount" is an integer of at
 * least --min-amount and drops the others. An event without an integer
 * "amount" goes to the error output with the reason.
 */
#include <flow/flow.h>

#include <inttypes.h>

/* The app state: the runtime allocates it zeroed (state_size), fills the
 * option fields before init and frees it after fini. */
struct threshold {
    int64_t min_amount; /* --min-amount */
    uint64_t dropped;   /* events below the threshold */
};

static const flow_option options[] = {
    { .name = "min-amount",
      .type = FLOW_OPT_INT,
      .def = "1000",
      .min = "0",
      FLOW_OPT_FIELD(struct threshold, min_amount),
      .description = "The smallest amount passed on." },
    { .name = NULL },
};

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct threshold *t = flow_state(ctx);
    flow_mp_value v;
    int64_t amount;

    if (flow_mp_map_find(ev->payload, ev->payload_len, "amount", &v) < 0 ||
        !flow_mp_as_int(&v, &amount))
        return flow_emit_error(ctx, ev,
                               "payload field 'amount' is missing or not an "
                               "integer");
    if (amount < t->min_amount) {
        t->dropped++;
        return 0;
    }
    /* The event goes on unchanged: same id, type, key and payload. */
    return flow_emit_event(ctx, ev);
}

static void fini(flow_ctx *ctx)
{
    struct threshold *t = flow_state(ctx);
    flow_log(ctx, "%" PRIu64 " events below %" PRId64 " dropped", t->dropped,
             t->min_amount);
}

/* The descriptor: what flowd reads with --describe and what the runtime
 * runs. Constant, so nothing in this app is a mutable global. */
static const flow_app_desc amount_threshold_app = {
    .name = "amount-threshold",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Passes on the events whose integer 'amount' is at least "
                   "--min-amount; the others are dropped.",
    .options = options,
    .state_size = sizeof(struct threshold),
    .on_event = on_event,
    .fini = fini,
};

int main(int argc, char **argv)
{
    return flow_app_main(&amount_threshold_app, argc, argv);
}
