/* Analytics and metrics routes: /metrics/counters, field-value-counters,
 * aggregate-counters and the Prometheus text at /metrics. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flow/iso8601.h>

#include "analytics.h"
#include "api.h"

#define MAX_BUCKETS 5000

static const char *kind_of(const char *path_kind)
{
    if (strcmp(path_kind, "counters") == 0)
        return "counter";
    if (strcmp(path_kind, "field-value-counters") == 0)
        return "field-value-counter";
    if (strcmp(path_kind, "aggregate-counters") == 0)
        return "aggregate-counter";
    return NULL;
}

static const char *list_key(const char *kind)
{
    if (strcmp(kind, "counter") == 0)
        return "counterResourceList";
    if (strcmp(kind, "field-value-counter") == 0)
        return "fieldValueCounterResourceList";
    return "aggregateCounterResourceList";
}

static json_t *counter_json(srv *s, srv_counter *c, const char *path_kind)
{
    json_t *o = json_pack("{s:s}", "name", c->name);
    if (strcmp(c->kind, "field-value-counter") == 0)
        json_object_set_new(o, "values", srv_analytics_values_sorted(c));
    else {
        json_object_set_new(o, "value", json_integer((json_int_t)c->total));
        json_object_set_new(o, "rate", json_real(c->rate));
    }
    /* Fed by a guaranteed stream: the value is what checkpoints
     * committed; what is counted and not committed yet shows beside it. */
    uint64_t live;
    if (c->guarded && srv_ckpt_live(s, c->kind, c->name, &live))
        json_object_set_new(o, "live", json_integer((json_int_t)live));
    json_object_set_new(o, "_links",
                        srv_links("/metrics/%s/%s", path_kind, c->name));
    return o;
}

void api_counters_list(srv *s, srv_req *r)
{
    const char *pk = r->match.params[0];
    const char *kind = kind_of(pk);
    char path[64];

    if (!kind) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no route for %s", r->path);
        return;
    }
    json_t *items = json_array();
    for (srv_counter *c = srv_analytics_first(s->an); c; c = c->next)
        if (strcmp(c->kind, kind) == 0)
            json_array_append_new(items, counter_json(s, c, pk));
    srv_fmt(path, sizeof path, "/metrics/%s", pk);
    json_t *p = srv_page(r, items, list_key(kind), path);
    if (p)
        srv_req_json(r, 200, p);
}

/* Parses ISO-8601 (the forms of flow/iso8601.h) or epoch seconds. */
static bool parse_time(const char *v, int64_t *out)
{
    char *e;
    long long n = strtoll(v, &e, 10);
    if (*e == '\0' && e != v) {
        *out = n;
        return true;
    }
    return flow_iso8601_parse(v, strlen(v), out) == 0;
}

static void aggregate(srv *s, srv_req *r, srv_counter *c)
{
    static const struct {
        const char *name;
        int64_t res;
        int64_t window; /* buckets by default */
    } res[] = {
        { "second", 1, 60 }, { "minute", 60, 60 }, { "hour", 3600, 24 },
        { "day", 86400, 7 }, { "month", 0, 12 },   { "year", -1, 5 },
    };
    const char *rs = srv_req_arg(r, "resolution");
    size_t k;
    int64_t from, to;
    char fiso[32], tiso[32];

    if (!rs)
        rs = "hour";
    for (k = 0; k < sizeof res / sizeof res[0]; k++)
        if (strcmp(res[k].name, rs) == 0)
            break;
    if (k == sizeof res / sizeof res[0]) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "resolution must be second, minute, hour, day, "
                      "month or year, not '%s'",
                      rs);
        return;
    }
    const char *tv = srv_req_arg(r, "to");
    const char *fv = srv_req_arg(r, "from");
    to = srv_now_ms() / 1000;
    if (tv && !parse_time(tv, &to)) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "'to' must be ISO-8601 (2026-11-26T09:00:00Z) "
                      "or epoch seconds, not '%s'",
                      tv);
        return;
    }
    to = srv_bucket_floor(to, res[k].res);
    if (fv) {
        if (!parse_time(fv, &from)) {
            srv_req_error(r, -SRV_EINVAL, NULL,
                          "'from' must be ISO-8601 "
                          "(2026-11-26T09:00:00Z) or epoch "
                          "seconds, not '%s'",
                          fv);
            return;
        }
        from = srv_bucket_floor(from, res[k].res);
    } else {
        from = to;
        for (int64_t b = 1; b < res[k].window; b++) {
            /* Step back one bucket at a time. */
            int64_t prev = srv_bucket_floor(from - 1, res[k].res);
            from = prev;
        }
    }
    if (from > to) {
        srv_req_error(r, -SRV_EINVAL, NULL, "'from' is after 'to'");
        return;
    }
    int64_t nb = 0;
    for (int64_t t = from; t <= to && nb <= MAX_BUCKETS;
         t = srv_bucket_next(t, res[k].res))
        nb++;
    if (nb > MAX_BUCKETS) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "the window holds more than %d buckets of a %s; "
                      "narrow it or use a coarser resolution",
                      MAX_BUCKETS, rs);
        return;
    }
    json_t *values =
        srv_analytics_history(s->an, c->kind, c->name, res[k].res, from, to);
    srv_iso(from, fiso, sizeof fiso);
    srv_iso(to, tiso, sizeof tiso);
    srv_req_json(
        r, 200,
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:o}", "name", c->name,
                  "resolution", rs, "from", fiso, "to", tiso, "total",
                  (json_int_t)c->total, "values",
                  values ? values : json_object(), "_links",
                  srv_links("/metrics/aggregate-counters/%s", c->name)));
}

void api_counter_get(srv *s, srv_req *r)
{
    const char *pk = r->match.params[0];
    const char *kind = kind_of(pk);
    const char *name = r->match.params[1];

    if (!kind) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no route for %s", r->path);
        return;
    }
    bool agg = strcmp(kind, "aggregate-counter") == 0;
    srv_counter *c = srv_analytics_find(s->an, agg ? NULL : kind, name);
    if (!c) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no %s named '%s'", kind, name);
        return;
    }
    if (agg) {
        aggregate(s, r, c);
        return;
    }
    srv_req_json(r, 200, counter_json(s, c, pk));
}

void api_counter_delete(srv *s, srv_req *r)
{
    const char *kind = kind_of(r->match.params[0]);

    if (!kind) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no route for %s", r->path);
        return;
    }
    int rc = srv_analytics_reset(s->an, kind, r->match.params[1]);
    if (rc == -SRV_ENOTFOUND) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no %s named '%s'", kind,
                      r->match.params[1]);
        return;
    }
    if (rc) {
        srv_req_error(r, rc, NULL,
                      "cannot delete %s '%s': the store %s refused it (%s), "
                      "so nothing was changed; %s",
                      kind, r->match.params[1], s->store.path, s->store.err,
                      srv_store_advice(&s->store));
        return;
    }
    srv_req_json(r, 204, NULL);
}

/* ---- Prometheus ---- */

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void tprintf(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tprintf(text *t, const char *fmt, ...)
{
    va_list ap;

    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL,
                          t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *np = realloc(t->p, cap);
        if (!np)
            return;
        t->p = np;
        t->cap = cap;
    }
}

/* Escapes a label value. */
static const char *esc(const char *v, char *buf, size_t len)
{
    size_t o = 0;
    for (; *v && o + 3 < len; v++) {
        if (*v == '\\' || *v == '"') {
            buf[o++] = '\\';
            buf[o++] = *v;
        } else if (*v == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *v;
        }
    }
    buf[o] = '\0';
    return buf;
}

#define FOR_INST(s)                                        \
    for (srv_stream *st = (s)->streams; st; st = st->next) \
        for (size_t k = 0; k < st->napps; k++)             \
            for (int j = 0; j < st->apps[k].ninst; j++)

static void inst_family(srv *s, text *t, const char *name, const char *type,
                        const char *help, int which)
{
    tprintf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    FOR_INST(s)
    {
        srv_inst *i = st->apps[k].inst[j];
        uint64_t v = 0;
        switch (which) {
        case 0:
            v = i->m.in;
            break;
        case 1:
            v = i->m.out;
            break;
        case 2:
            v = i->m.errors;
            break;
        case 3:
            v = i->m.rejected;
            break;
        case 4:
            v = i->m.drops;
            break;
        case 5:
            v = i->m.bytes_in;
            break;
        case 6:
            v = i->m.bytes_out;
            break;
        case 7:
            v = (uint64_t)i->restarts;
            break;
        case 8:
            v = i->state == SRV_INST_DEPLOYED;
            break;
        case 9:
            v = i->m.fenced;
            break;
        }
        tprintf(t, "%s{stream=\"%s\",app=\"%s\",instance=\"%d\"} %llu\n", name,
                st->name, st->apps[k].label, i->index, (unsigned long long)v);
    }
}

void api_prometheus(srv *s, srv_req *r)
{
    text t = { 0 };
    char e1[512];
    size_t nstreams = 0, ninst = 0;

    inst_family(s, &t, "flow_app_events_in_total", "counter",
                "Events received by an app instance.", 0);
    inst_family(s, &t, "flow_app_events_out_total", "counter",
                "Events sent by an app instance.", 1);
    inst_family(s, &t, "flow_app_errors_total", "counter",
                "Events an app instance failed to process.", 2);
    inst_family(s, &t, "flow_app_rejected_total", "counter",
                "Malformed input messages rejected by an app instance.", 3);
    inst_family(s, &t, "flow_app_fenced_total", "counter",
                "Input frames of another epoch an app instance dropped.", 9);
    inst_family(s, &t, "flow_app_drops_total", "counter",
                "Events dropped by an app instance.", 4);
    inst_family(s, &t, "flow_app_bytes_in_total", "counter",
                "Bytes received by an app instance.", 5);
    inst_family(s, &t, "flow_app_bytes_out_total", "counter",
                "Bytes sent by an app instance.", 6);
    inst_family(s, &t, "flow_app_restarts_total", "counter",
                "Restarts of an app instance by the deployer.", 7);
    inst_family(s, &t, "flow_app_up", "gauge",
                "1 when the app instance is deployed, else 0.", 8);

    const char *h = "flow_app_event_latency_seconds";
    tprintf(&t,
            "# HELP %s Per-event processing time of an app instance.\n"
            "# TYPE %s histogram\n",
            h, h);
    FOR_INST(s)
    {
        srv_inst *i = st->apps[k].inst[j];
        uint64_t cum = 0;
        double sum = 0, lo = 0;
        char lbl[256];
        snprintf(lbl, sizeof lbl, "stream=\"%s\",app=\"%s\",instance=\"%d\"",
                 st->name, st->apps[k].label, i->index);
        /* The sum is estimated from bucket midpoints: apps report
         * only the histogram. */
        for (int b = 0; b < FLOW_HIST_BUCKETS; b++) {
            double hi = flow_hist_bounds_us[b] / 1e6;
            cum += i->m.lat.counts[b];
            if (flow_hist_bounds_us[b] == 0) {
                sum += (double)i->m.lat.counts[b] * lo * 2;
                break;
            }
            sum += (double)i->m.lat.counts[b] * (lo + hi) / 2;
            lo = hi;
            tprintf(&t, "%s_bucket{%s,le=\"%g\"} %llu\n", h, lbl, hi,
                    (unsigned long long)cum);
        }
        cum = flow_hist_total(&i->m.lat);
        tprintf(&t, "%s_bucket{%s,le=\"+Inf\"} %llu\n", h, lbl,
                (unsigned long long)cum);
        tprintf(&t, "%s_sum{%s} %.9g\n", h, lbl, sum);
        tprintf(&t, "%s_count{%s} %llu\n", h, lbl, (unsigned long long)cum);
    }

    const char *rh = "flow_stream_recovery_seconds";
    tprintf(&t,
            "# HELP %s Time from an instance's death seen to every instance "
            "of its region said hello again.\n# TYPE %s histogram\n",
            rh, rh);
    for (srv_stream *st = s->streams; st; st = st->next) {
        uint64_t counts[SRV_CKPT_BUCKETS], cum = 0;
        if (st->guarantee == SRV_GUARANTEE_NONE)
            continue;
        int64_t sum_ms;
        uint64_t n = srv_ckpt_recovery_histogram(s, st, counts, &sum_ms);
        for (int b = 0; b + 1 < SRV_CKPT_BUCKETS; b++) {
            cum += counts[b];
            tprintf(&t, "%s_bucket{stream=\"%s\",le=\"%g\"} %llu\n", rh,
                    st->name, (double)srv_ckpt_recovery_bounds_ms[b] / 1000,
                    (unsigned long long)cum);
        }
        tprintf(&t, "%s_bucket{stream=\"%s\",le=\"+Inf\"} %llu\n", rh, st->name,
                (unsigned long long)n);
        tprintf(&t, "%s_sum{stream=\"%s\"} %.3f\n", rh, st->name,
                (double)sum_ms / 1000);
        tprintf(&t, "%s_count{stream=\"%s\"} %llu\n", rh, st->name,
                (unsigned long long)n);
    }

    tprintf(&t, "# HELP flow_stream_status 1 for the stream's current "
                "status.\n# TYPE flow_stream_status gauge\n");
    for (srv_stream *st = s->streams; st; st = st->next) {
        nstreams++;
        for (int v = SRV_UNDEPLOYED; v <= SRV_STATUS_LAST; v++)
            tprintf(&t,
                    "flow_stream_status{stream=\"%s\",status=\"%s\"} "
                    "%d\n",
                    st->name, srv_status_name((srv_status)v),
                    st->status == (srv_status)v);
    }
    FOR_INST(s)
    ninst += st->apps[k].inst[j]->pid > 0;

    static const struct {
        const char *kind, *metric, *help;
    } kinds[] = {
        { "counter", "flow_analytics_events_total",
          "Events counted by a counter sink." },
        { "aggregate-counter", "flow_analytics_aggregate_events_total",
          "Events counted by an aggregate-counter sink." },
    };
    for (size_t k = 0; k < 2; k++) {
        tprintf(&t, "# HELP %s %s\n# TYPE %s counter\n", kinds[k].metric,
                kinds[k].help, kinds[k].metric);
        for (srv_counter *c = srv_analytics_first(s->an); c; c = c->next)
            if (strcmp(c->kind, kinds[k].kind) == 0)
                tprintf(&t, "%s{name=\"%s\"} %llu\n", kinds[k].metric,
                        esc(c->name, e1, sizeof e1),
                        (unsigned long long)c->total);
    }
    tprintf(&t, "# HELP flow_analytics_field_value_events_total A field-value "
                "counter's count of one value.\n"
                "# TYPE flow_analytics_field_value_events_total counter\n");
    for (srv_counter *c = srv_analytics_first(s->an); c; c = c->next) {
        if (strcmp(c->kind, "field-value-counter") != 0)
            continue;
        const char *key;
        json_t *v;
        char nb[512];
        esc(c->name, nb, sizeof nb);
        json_object_foreach(c->values, key, v) tprintf(
            &t,
            "flow_analytics_field_value_events_total{name=\"%s\",value=\"%s\"} "
            "%lld\n",
            nb, esc(key, e1, sizeof e1), (long long)json_integer_value(v));
    }
    tprintf(&t,
            "# HELP flowd_streams Stream definitions known to flowd.\n"
            "# TYPE flowd_streams gauge\nflowd_streams %zu\n"
            "# HELP flowd_instances App processes flowd runs.\n"
            "# TYPE flowd_instances gauge\nflowd_instances %zu\n",
            nstreams, ninst);
    srv_req_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.p, t.len);
}
