/*
 * splitter - makes one event per element of a list (SCDF's splitter
 * processor). --expression (default payload) is evaluated per event; a
 * list result gives one event per element, in order, with the input's
 * headers (id, type, key, time) and the element as the payload, and an
 * empty list gives none. Flow's headers are fixed, so the sequence SCDF
 * puts into its sequenceNumber and sequenceSize headers goes into the
 * payload (--sequence=fields, the default): a map element gets the fields
 * sequenceNumber (1 to n) and sequenceSize (n), replacing fields of those
 * names, and any other element is wrapped as {"value": element,
 * "sequenceNumber": i, "sequenceSize": n}. --sequence=none makes the
 * element the payload as it is. A result that is not a list gives one
 * event whose payload is the result, without sequence fields (with the
 * default expression: the event unchanged). An event the expression fails
 * on goes to the error output with the reason.
 */
#include "apps.h"
#include "exprerr.h"

#include <string.h>

struct splitter {
    const flow_expr *expr; /* --expression */
    const char *sequence;  /* --sequence: "fields" or "none" */
    bool fields;
    flow_expr_scratch sc;
    flow_buf elem; /* an element built by the expression, as msgpack */
    flow_buf out;
};

static const char *const sequence_values[] = { "fields", "none", NULL };

static const flow_option options[] = {
    { .name = "expression",
      .type = FLOW_OPT_EXPR,
      .def = "payload",
      FLOW_OPT_FIELD(struct splitter, expr),
      .description = "An expression (docs/expressions.md) whose list result "
                     "gives one event per element, e.g. "
                     "payload.items or payload.text.split(',')." },
    { .name = "sequence",
      .type = FLOW_OPT_ENUM,
      .def = "fields",
      .values = sequence_values,
      FLOW_OPT_FIELD(struct splitter, sequence),
      .description = "fields: add sequenceNumber and sequenceSize to each "
                     "element's payload (a non-map element is wrapped under "
                     "value); none: the element is the payload as it is." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct splitter *s = flow_state(ctx);
    s->fields = !strcmp(s->sequence, "fields");
    flow_expr_scratch_init(&s->sc);
    flow_buf_init(&s->elem);
    flow_buf_init(&s->out);
    return 0;
}

static bool is_seq_key(const flow_mp_value *k)
{
    return k->type == FLOW_MP_STR &&
           ((k->len == 14 && !memcmp(k->str, "sequenceNumber", 14)) ||
            (k->len == 12 && !memcmp(k->str, "sequenceSize", 12)));
}

/* Writes element e (one msgpack object) with its sequence fields. */
static int with_sequence(flow_buf *b, const uint8_t *e, size_t len, uint32_t i,
                         uint32_t n)
{
    flow_mp_reader r;
    flow_mp_value m, k, v;
    flow_mp_reader_init(&r, e, len);
    if (flow_mp_read(&r, &m))
        return -1;
    if (m.type != FLOW_MP_MAP) {
        flow_mp_put_map(b, 3);
        flow_mp_put_cstr(b, "value");
        flow_mp_put_raw(b, e, len);
    } else {
        /* Count the entries kept, then copy them. */
        const flow_mp_reader start = r;
        uint32_t keep = 0;
        for (uint32_t j = 0; j < m.len; j++) {
            if (flow_mp_read_object(&r, &k) || flow_mp_skip(&r))
                return -1;
            keep += !is_seq_key(&k);
        }
        r = start;
        flow_mp_put_map(b, keep + 2);
        for (uint32_t j = 0; j < m.len; j++) {
            if (flow_mp_read_object(&r, &k) || flow_mp_read_object(&r, &v))
                return -1;
            if (is_seq_key(&k))
                continue;
            flow_mp_put_raw(b, k.raw, k.raw_len);
            flow_mp_put_raw(b, v.raw, v.raw_len);
        }
    }
    flow_mp_put_cstr(b, "sequenceNumber");
    flow_mp_put_int(b, (int64_t)i + 1);
    flow_mp_put_cstr(b, "sequenceSize");
    flow_mp_put_int(b, n);
    return 0;
}

/* Emits ev with payload e[0..len), the i-th of n elements. */
static int emit_one(flow_ctx *ctx, struct splitter *s, const flow_event *ev,
                    const uint8_t *e, size_t len, uint32_t i, uint32_t n)
{
    flow_event out = *ev;
    if (s->fields) {
        flow_buf_reset(&s->out);
        if (with_sequence(&s->out, e, len, i, n))
            return flow_emit_error(ctx, ev,
                                   "the payload is not well-formed msgpack");
        if (s->out.err)
            return s->out.err;
        e = s->out.data;
        len = s->out.len;
    }
    out.payload = e;
    out.payload_len = (uint32_t)len;
    return flow_emit_event(ctx, &out);
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct splitter *s = flow_state(ctx);
    flow_expr_error err;
    flow_expr_value x;
    char why[512];
    int rc;
    if (flow_expr_eval(s->expr, ev, &s->sc, &x, &err))
        return flow_emit_error(
            ctx, ev,
            exprerr_reason(why, sizeof(why), "expression", s->expr, &err));
    if (x.type != FLOW_EXPR_LIST) {
        flow_buf_reset(&s->elem);
        flow_expr_value_write(&x, &s->elem);
        if (s->elem.err)
            return s->elem.err;
        flow_event out = *ev;
        out.payload = s->elem.data;
        out.payload_len = (uint32_t)s->elem.len;
        return flow_emit_event(ctx, &out);
    }
    if (x.raw) {
        /* An array of the payload: its elements as they are. */
        flow_mp_reader r;
        flow_mp_value a, e;
        flow_mp_reader_init(&r, x.raw, x.raw_len);
        if (flow_mp_read(&r, &a))
            return flow_emit_error(ctx, ev,
                                   "the payload is not well-formed msgpack");
        for (uint32_t i = 0; i < a.len; i++) {
            if (flow_mp_read_object(&r, &e))
                return flow_emit_error(ctx, ev,
                                       "the payload is not well-formed "
                                       "msgpack");
            if ((rc = emit_one(ctx, s, ev, e.raw, e.raw_len, i, a.len)) < 0)
                return rc;
        }
        return 0;
    }
    for (uint32_t i = 0; i < x.len; i++) {
        flow_buf_reset(&s->elem);
        flow_expr_value_write(&x.items[i], &s->elem);
        if (s->elem.err)
            return s->elem.err;
        if ((rc = emit_one(ctx, s, ev, s->elem.data, s->elem.len, i, x.len)) <
            0)
            return rc;
    }
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct splitter *s = flow_state(ctx);
    flow_expr_scratch_fini(&s->sc);
    flow_buf_fini(&s->elem);
    flow_buf_fini(&s->out);
}

const flow_app_desc splitter_app = {
    .name = "splitter",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Makes one event per element of --expression's list "
                   "result, with sequenceNumber and sequenceSize fields.",
    .options = options,
    .state_size = sizeof(struct splitter),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
