/*
 * sinkopts.c - the sinks' shared options (see sinkopts.h).
 */
#include "sinkopts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sinkopts_init(struct sinkopts *so, flow_ctx *ctx)
{
    memset(so, 0, sizeof(*so));
    so->delay_us = flow_opt_int(ctx, "delay-us");
    if (so->delay_us < 0 || so->delay_us > 10000000) {
        flow_log(ctx,
                 "--delay-us=%" PRId64 " is out of range: give 0 to "
                 "10000000",
                 so->delay_us);
        return -FLOW_EOPTION;
    }
    so->latency_path = flow_opt_str(ctx, "latency-json");
    if (so->latency_path && *so->latency_path) {
        so->lat = calloc(1, sizeof(*so->lat));
        if (!so->lat)
            return -FLOW_ENOMEM;
    }
    return 0;
}

void sinkopts_event(struct sinkopts *so, const flow_event *ev)
{
    if (so->lat) {
        int64_t now = flow_clock_us();
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
        FILE *f = fopen(so->latency_path, "w");
        if (!f) {
            flow_log(ctx, "cannot write --latency-json=%s: %s",
                     so->latency_path, strerror(errno));
        } else {
            const struct lathist *h = so->lat;
            fprintf(f,
                    "{\"count\": %" PRIu64 ", \"p50_us\": %.0f, "
                    "\"p90_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %" PRId64
                    ", \"first_us\": %" PRId64 ", \"last_us\": %" PRId64 "}\n",
                    h->total, lathist_quantile(h, 0.5),
                    lathist_quantile(h, 0.9), lathist_quantile(h, 0.99), h->max,
                    so->first_us, so->last_us);
            if (fclose(f) != 0)
                flow_log(ctx, "cannot write --latency-json=%s: %s",
                         so->latency_path, strerror(errno));
        }
    }
    free(so->lat);
    so->lat = NULL;
}
