/*
 * aggregate-counter - counts events in minute, hour, day, month and year
 * buckets (SCDF's aggregate-counter sink), by arrival time or, with
 * --time-field, by the event's own time (late events land in their
 * bucket; --time-field is a field path or an expression, fieldsel.h).
 * The runtime reports the per-second increments; run without a
 * control endpoint, it prints the buckets held here as one JSON line on
 * stdout at exit.
 */
#include "apps.h"
#include "buckets.h"
#include "fieldpath.h"
#include "fieldsel.h"
#include "flow/mpjson.h"
#include "sinkopts.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct aggc {
    flow_counter *c;
    const char *name;       /* --name, then the label when not given */
    const char *time_field; /* --time-field; NULL = arrival time */
    struct fieldsel sel;    /* of time_field */
    struct buckets buckets;
    struct sinkopts so;
    uint64_t bad_time; /* events whose time field was missing or bad */
};

static const flow_option options[] = {
    { .name = "name",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct aggc, name),
      .description = "Name of the counter (default: the app's label)." },
    { .name = "time-field",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct aggc, time_field),
      .description = "Payload field holding the event's time (epoch s, ms or "
                     "us, or ISO-8601), or an expression giving it; "
                     "default: the arrival time." },
    SINKOPTS_ROWS(struct aggc, so),
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct aggc *s = flow_state(ctx);
    if (!s->name || !*s->name)
        s->name = flow_label(ctx);
    if (s->time_field && !*s->time_field)
        s->time_field = NULL;
    char why[1024];
    if (s->time_field &&
        fieldsel_init(&s->sel, s->time_field, why, sizeof(why))) {
        flow_log(ctx, "--time-field is not a field path nor an expression:\n%s",
                 why);
        fieldsel_fini(&s->sel);
        return -FLOW_EOPTION;
    }
    int rc = buckets_init(&s->buckets) < 0 ? -FLOW_ENOMEM : 0;
    if (rc == 0)
        rc = sinkopts_init(&s->so);
    if (rc == 0) {
        s->c = flow_counter_get(ctx, FLOW_AGGREGATE_COUNTER, s->name);
        rc = s->c ? 0 : -FLOW_ENOMEM;
    }
    if (rc < 0) {
        sinkopts_fini(&s->so, ctx);
        buckets_fini(&s->buckets);
        fieldsel_fini(&s->sel);
    }
    return rc;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct aggc *s = flow_state(ctx);
    int64_t sec = flow_now_us(ctx) / 1000000;
    sinkopts_event(&s->so, ctx, ev);
    if (s->time_field) {
        flow_mp_value v;
        int64_t t;
        char why[600];
        int rc = fieldsel_find(&s->sel, "time-field", ev, &v, why, sizeof(why));
        if (rc == -FLOW_EINVAL)
            return flow_emit_error(ctx, ev, why);
        if (rc == 0 && fieldpath_epoch_seconds(&v, &t))
            sec = t;
        else
            s->bad_time++;
    }
    buckets_add(&s->buckets, sec, 1);
    return flow_counter_add(s->c, sec, NULL, 0, 1);
}

/* One JSON line with the total and every bucket held. */
static void print_buckets(const struct aggc *s)
{
    flow_buf b;
    char tmp[64];
    int n;
    flow_buf_init(&b);
    flow_buf_append(&b, "{\"kind\": \"aggregate-counter\", \"name\": ", 38);
    flow_json_string(&b, s->name, strlen(s->name));
    n = snprintf(tmp, sizeof(tmp), ", \"total\": %" PRIu64,
                 flow_counter_total(s->c, NULL, 0));
    flow_buf_append(&b, tmp, (size_t)n);
    for (int r = 0; r < BUCKET_RES_COUNT; r++) {
        const struct bucket_list *l = &s->buckets.res[r];
        n = snprintf(tmp, sizeof(tmp), ", \"%s\": {",
                     bucket_res_name((enum bucket_res)r));
        flow_buf_append(&b, tmp, (size_t)n);
        for (size_t i = 0; i < l->n; i++) {
            n = snprintf(tmp, sizeof(tmp), "%s\"%" PRId64 "\": %" PRIu64,
                         i ? ", " : "", l->b[i].start, l->b[i].count);
            flow_buf_append(&b, tmp, (size_t)n);
        }
        flow_buf_append(&b, "}", 1);
    }
    flow_buf_append(&b, "}\n", 2);
    sinkopts_print_line(&b);
}

static void fini(flow_ctx *ctx)
{
    struct aggc *s = flow_state(ctx);
    if (s->bad_time)
        flow_log(ctx,
                 "%" PRIu64 " events had no usable '%s' time; counted "
                 "at their arrival",
                 s->bad_time, s->time_field);
    if (!flow_has_control(ctx))
        print_buckets(s);
    sinkopts_fini(&s->so, ctx);
    buckets_fini(&s->buckets);
    fieldsel_fini(&s->sel);
}

const flow_app_desc aggregate_counter_app = {
    .name = "aggregate-counter",
    .role = FLOW_ROLE_SINK,
    .description = "Counts events in minute, hour, day, month and year "
                   "buckets, by arrival time or an event time field.",
    .options = options,
    .state_size = sizeof(struct aggc),
    .init = init,
    .on_event = on_event,
    .fini = fini,
};
