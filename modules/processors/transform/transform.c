/*
 * transform - rewrites each event's payload (SCDF's transform processor):
 * --expression=E makes E's result the payload, and every --set.FIELD=E
 * sets FIELD of the payload map to E's result, keeping the other fields
 * (in their order; a new field goes at the end). The --set expressions
 * read the event as it came in, not one another's results. An event an
 * expression fails on goes to the error output with the reason.
 */
#include "apps.h"
#include "exprerr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One --set.FIELD (the last one wins when a FIELD is given twice). */
struct setter {
    const char *field; /* borrowed from the runtime */
    size_t len;
    const flow_expr *expr;
    flow_expr_scratch sc; /* its value lives here until the emit */
    flow_expr_value v;
    bool written; /* in this event's output already */
};

struct transform {
    const flow_expr *expr; /* --expression */
    flow_expr_scratch sc;
    struct setter *sets; /* owned */
    size_t nsets;
    flow_buf out;
};

static const flow_option options[] = {
    { .name = "expression",
      .type = FLOW_OPT_EXPR,
      .def = "payload",
      FLOW_OPT_FIELD(struct transform, expr),
      .description =
          "An expression whose result becomes the payload "
          "(docs/expressions.md), e.g. payload.name.toUpperCase()." },
    { .name = "set",
      .type = FLOW_OPT_EXPR,
      .prefix = true,
      .description = "--set.FIELD=E sets (or adds) the payload field FIELD "
                     "to the result of E and keeps the other fields; "
                     "repeatable." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct transform *t = flow_state(ctx);
    size_t n = flow_opt_prefix_count(ctx, "set");
    flow_expr_scratch_init(&t->sc);
    flow_buf_init(&t->out);
    t->sets = calloc(n ? n : 1, sizeof(*t->sets));
    if (!t->sets)
        return -FLOW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *f = flow_opt_prefix_key(ctx, "set", i);
        size_t k;
        for (k = 0; k < t->nsets; k++)
            if (!strcmp(t->sets[k].field, f))
                break;
        if (k == t->nsets)
            t->nsets++;
        t->sets[k].field = f;
        t->sets[k].len = strlen(f);
        t->sets[k].expr = flow_opt_prefix_expr(ctx, "set", i);
        flow_expr_scratch_init(&t->sets[k].sc);
    }
    return 0;
}

static int fail(flow_ctx *ctx, const flow_event *ev, const char *opt,
                const flow_expr *e, const flow_expr_error *err)
{
    char why[512];
    return flow_emit_error(ctx, ev,
                           exprerr_reason(why, sizeof(why), opt, e, err));
}

/* Writes base (a map, or nil for none) with the setters applied. */
static int merge(struct transform *t, const flow_expr_value *base)
{
    flow_buf *b = &t->out;
    flow_mp_reader r;
    flow_mp_value m, k;
    uint32_t n = base->type == FLOW_EXPR_MAP ? base->len : 0;
    uint32_t added = 0;
    for (size_t i = 0; i < t->nsets; i++)
        t->sets[i].written = false;
    /* First count the fields the setters add, then write the map. */
    if (n) {
        flow_mp_reader_init(&r, base->raw, base->raw_len);
        if (flow_mp_read(&r, &m))
            return -1;
    }
    uint32_t replaced = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (flow_mp_read_object(&r, &k) || flow_mp_skip(&r))
            return -1;
        for (size_t j = 0; j < t->nsets; j++) {
            if (k.type == FLOW_MP_STR && k.len == t->sets[j].len &&
                !memcmp(k.str, t->sets[j].field, k.len) &&
                !t->sets[j].written) {
                t->sets[j].written = true;
                replaced++;
            }
        }
    }
    added = (uint32_t)t->nsets - replaced;
    for (size_t i = 0; i < t->nsets; i++)
        t->sets[i].written = false;
    flow_mp_put_map(b, n + added);
    if (n) {
        flow_mp_reader_init(&r, base->raw, base->raw_len);
        (void)flow_mp_read(&r, &m);
    }
    for (uint32_t i = 0; i < n; i++) {
        flow_mp_value v;
        if (flow_mp_read_object(&r, &k) || flow_mp_read_object(&r, &v))
            return -1;
        flow_mp_put_raw(b, k.raw, k.raw_len);
        size_t j;
        for (j = 0; j < t->nsets; j++)
            if (k.type == FLOW_MP_STR && k.len == t->sets[j].len &&
                !memcmp(k.str, t->sets[j].field, k.len) && !t->sets[j].written)
                break;
        if (j < t->nsets) {
            t->sets[j].written = true;
            flow_expr_value_write(&t->sets[j].v, b);
        } else {
            flow_mp_put_raw(b, v.raw, v.raw_len);
        }
    }
    for (size_t j = 0; j < t->nsets; j++) {
        if (t->sets[j].written)
            continue;
        flow_mp_put_str(b, t->sets[j].field, t->sets[j].len);
        flow_expr_value_write(&t->sets[j].v, b);
    }
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct transform *t = flow_state(ctx);
    flow_expr_error err;
    flow_expr_value base;
    if (flow_expr_eval(t->expr, ev, &t->sc, &base, &err))
        return fail(ctx, ev, "expression", t->expr, &err);
    flow_buf_reset(&t->out);
    if (t->nsets == 0) {
        flow_expr_value_write(&base, &t->out);
    } else {
        if (base.type != FLOW_EXPR_MAP && base.type != FLOW_EXPR_NIL) {
            char why[160];
            snprintf(why, sizeof(why),
                     "--set needs the payload (of --expression) to be a "
                     "map, not a %s",
                     flow_expr_type_name(base.type));
            return flow_emit_error(ctx, ev, why);
        }
        for (size_t i = 0; i < t->nsets; i++) {
            struct setter *s = &t->sets[i];
            if (flow_expr_eval(s->expr, ev, &s->sc, &s->v, &err)) {
                char opt[300];
                snprintf(opt, sizeof(opt), "set.%s", s->field);
                return fail(ctx, ev, opt, s->expr, &err);
            }
        }
        if (merge(t, &base))
            return flow_emit_error(ctx, ev,
                                   "the payload is not well-formed "
                                   "msgpack");
    }
    if (t->out.err)
        return t->out.err;
    flow_event out = *ev;
    out.payload = t->out.data;
    out.payload_len = (uint32_t)t->out.len;
    return flow_emit_event(ctx, &out);
}

static void fini(flow_ctx *ctx)
{
    struct transform *t = flow_state(ctx);
    for (size_t i = 0; t->sets && i < t->nsets; i++)
        flow_expr_scratch_fini(&t->sets[i].sc);
    free(t->sets);
    flow_expr_scratch_fini(&t->sc);
    flow_buf_fini(&t->out);
}

const flow_app_desc transform_app = {
    .name = "transform",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Rewrites the payload: --expression's result becomes it, "
                   "and each --set.FIELD=E sets one field of it.",
    .options = options,
    .state_size = sizeof(struct transform),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
