/*
 * sinkopts.c - the sinks' shared options (see sinkopts.h).
 */
#include "sinkopts.h"

#include "fvmap.h"
#include "flow/mpjson.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sinkopts_init(struct sinkopts *so)
{
    if (so->latency_path && *so->latency_path) {
        so->lat = calloc(1, sizeof(*so->lat));
        if (!so->lat)
            return -FLOW_ENOMEM;
    }
    return 0;
}

void sinkopts_event(struct sinkopts *so, flow_ctx *ctx, const flow_event *ev)
{
    if (so->lat) {
        /* The frame's arrival time (one clock read per frame), unless the
         * sink sleeps per event and the clock moves within a frame. */
        int64_t now = so->delay_us > 0 ? flow_clock_us() : flow_now_us(ctx);
        lathist_add(so->lat, now - ev->ts_us);
        if (so->first_us == 0)
            so->first_us = now;
        so->last_us = now;
    }
    if (so->delay_us > 0) {
        struct timespec ts = { so->delay_us / 1000000,
                               (so->delay_us % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}

void sinkopts_fini(struct sinkopts *so, flow_ctx *ctx)
{
    if (so->lat) {
        flow_path_out out;
        char why[1024];
        FILE *f =
            flow_path_fopen(&out, flow_path_rules_of(ctx), so->latency_path,
                            FLOW_PATH_WRITE, why, sizeof(why));
        if (!f) {
            flow_log(ctx, "cannot write --latency-json: %s", why);
        } else {
            const struct lathist *h = so->lat;
            fprintf(f,
                    "{\"count\": %" PRIu64 ", \"p50_us\": %.0f, "
                    "\"p90_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %" PRId64
                    ", \"first_us\": %" PRId64 ", \"last_us\": %" PRId64 "}\n",
                    h->total, lathist_quantile(h, 0.5),
                    lathist_quantile(h, 0.9), lathist_quantile(h, 0.99), h->max,
                    so->first_us, so->last_us);
            if (flow_path_fclose(&out, f, false, why, sizeof(why)) != 0)
                flow_log(ctx, "cannot write --latency-json=%s: %s",
                         so->latency_path, why);
        }
    }
    free(so->lat);
    so->lat = NULL;
}

static void put_value(const struct fv_entry *e, void *arg)
{
    flow_buf *b = arg;
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), ": %" PRIu64, e->total);
    if (b->len && b->data[b->len - 1] != '{')
        flow_buf_append(b, ", ", 2);
    flow_json_string(b, e->key, e->len);
    flow_buf_append(b, tmp, (size_t)n);
}

void sinkopts_print_final(const char *kind, const char *name, uint64_t total,
                          const struct fvmap *values)
{
    flow_buf b;
    char tmp[64];
    flow_buf_init(&b);
    flow_buf_append(&b, "{\"kind\": ", 9);
    flow_json_string(&b, kind, strlen(kind));
    flow_buf_append(&b, ", \"name\": ", 10);
    flow_json_string(&b, name, strlen(name));
    int n = snprintf(tmp, sizeof(tmp), ", \"total\": %" PRIu64, total);
    flow_buf_append(&b, tmp, (size_t)n);
    if (values) {
        flow_buf_append(&b, ", \"values\": {", 13);
        fvmap_each(values, put_value, &b);
        flow_buf_append(&b, "}", 1);
    }
    flow_buf_append(&b, "}\n", 2);
    sinkopts_print_line(&b);
}

void sinkopts_print_line(flow_buf *b)
{
    if (!b->err) {
        fwrite(b->data, 1, b->len, stdout);
        fflush(stdout);
    }
    flow_buf_fini(b);
}
