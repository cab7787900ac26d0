/*
 * field-value-counter - counts events per distinct value of a payload
 * field (SCDF's field-value-counter sink). A list-valued field counts each
 * of its elements; an event without the field is not counted.
 * --field-name is a field path as always, or an expression whose result
 * is counted the same way (fieldsel.h tells the two apart; null counts as
 * absent, an expression that fails sends the event to the error output).
 */
#include "apps.h"
#include "fieldpath.h"
#include "fieldsel.h"
#include "fvmap.h"
#include "sinkopts.h"

/* Distinct values kept for the final print; the runtime's counter keeps
 * its own for the reports. */
#define MAX_VALUES 100000

struct fvc {
    flow_counter *c;
    const char *field; /* --field-name */
    struct fieldsel sel;
    const char *name; /* --name, then the label when not given */
    struct fvmap values;
    struct sinkopts so;
    uint64_t missing; /* events without the field, or with a map there */
};

static const flow_option options[] = {
    { .name = "field-name",
      .type = FLOW_OPT_STRING,
      .required = true,
      FLOW_OPT_FIELD(struct fvc, field),
      .description =
          "Payload field whose values are counted (a.b for nested maps), "
          "or an expression whose results are, e.g. payload.type." },
    { .name = "name",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct fvc, name),
      .description = "Name of the counter (default: the app's label)." },
    SINKOPTS_ROWS(struct fvc, so),
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct fvc *s = flow_state(ctx);
    if (!*s->field) {
        flow_log(ctx, "--field-name must name a payload field");
        return -FLOW_EOPTION;
    }
    char why[1024];
    if (fieldsel_init(&s->sel, s->field, why, sizeof(why))) {
        flow_log(ctx, "--field-name is not a field path nor an expression:\n%s",
                 why);
        fieldsel_fini(&s->sel);
        return -FLOW_EOPTION;
    }
    if (!s->name || !*s->name)
        s->name = flow_label(ctx);
    fvmap_init(&s->values, MAX_VALUES);
    int rc = sinkopts_init(&s->so);
    if (rc == 0) {
        s->c = flow_counter_get(ctx, FLOW_FIELD_VALUE_COUNTER, s->name);
        rc = s->c ? 0 : -FLOW_ENOMEM;
    }
    if (rc < 0) {
        sinkopts_fini(&s->so, ctx);
        fvmap_fini(&s->values);
        fieldsel_fini(&s->sel);
    }
    return rc;
}

static int count_scalar(struct fvc *s, const flow_mp_value *v)
{
    char buf[64];
    const char *text;
    int n = fieldpath_text(v, buf, sizeof(buf), &text);
    if (n < 0) {
        s->missing++;
        return 0;
    }
    fvmap_add(&s->values, text, (size_t)n, 1);
    return flow_counter_add(s->c, -1, text, (size_t)n, 1);
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct fvc *s = flow_state(ctx);
    flow_mp_value v;
    char why[600];
    sinkopts_event(&s->so, ctx, ev);
    int rc = fieldsel_find(&s->sel, "field-name", ev, &v, why, sizeof(why));
    if (rc == -FLOW_EINVAL)
        return flow_emit_error(ctx, ev, why);
    if (rc == -FLOW_ENOTFOUND) {
        s->missing++;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (v.type != FLOW_MP_ARRAY)
        return count_scalar(s, &v);
    /* A list: count each element (nested containers are skipped). */
    flow_mp_reader r;
    flow_mp_value e, arr;
    flow_mp_reader_init(&r, v.raw, v.raw_len);
    if ((rc = flow_mp_read(&r, &arr)) < 0)
        return rc;
    for (uint32_t i = 0; i < arr.len; i++) {
        if ((rc = flow_mp_read_object(&r, &e)) < 0)
            return rc;
        if ((rc = count_scalar(s, &e)) < 0)
            return rc;
    }
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct fvc *s = flow_state(ctx);
    if (s->missing)
        flow_log(ctx, "%llu events had no countable '%s' field",
                 (unsigned long long)s->missing, s->field);
    if (!flow_has_control(ctx))
        sinkopts_print_final("field-value-counter", s->name,
                             flow_counter_total(s->c, NULL, 0), &s->values);
    sinkopts_fini(&s->so, ctx);
    fvmap_fini(&s->values);
    fieldsel_fini(&s->sel);
}

const flow_app_desc field_value_counter_app = {
    .name = "field-value-counter",
    .role = FLOW_ROLE_SINK,
    .description = "Counts events per distinct value of a payload field or "
                   "an expression (each element of a list).",
    .options = options,
    .state_size = sizeof(struct fvc),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
