/*
 * An app instance's life: command line, sockets, the loop, control
 * messages, metrics, stop and drain, exit. The per-event path is in
 * loop.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "flow/control.h"
#include "flow/error.h"

#ifndef FLOW_VERSION_STR
#define FLOW_VERSION_STR "0.1.0"
#endif

static const char *const role_names[] = { "source", "processor", "sink" };

void *flow_state(flow_ctx *ctx)
{
    return ctx->state;
}

void flow_set_state(flow_ctx *ctx, void *state)
{
    ctx->state = state;
}

const flow_app_desc *flow_app(flow_ctx *ctx)
{
    return ctx->app;
}

const char *flow_label(flow_ctx *ctx)
{
    return ctx->conf.label;
}

const char *flow_stream(flow_ctx *ctx)
{
    return ctx->conf.stream;
}

uint32_t flow_instance(flow_ctx *ctx)
{
    return ctx->conf.instance;
}

bool flow_has_control(flow_ctx *ctx)
{
    return ctx->conf.control != NULL;
}

struct uv_loop_s *flow_uv_loop(flow_ctx *ctx)
{
    return &ctx->loop;
}

int flow_report_url(flow_ctx *ctx, const char *url)
{
    char *u = url ? strdup(url) : NULL;
    if (url && !u)
        return -FLOW_ENOMEM;
    free(ctx->url);
    ctx->url = u;
    return 0;
}

int flow_report_figure(flow_ctx *ctx, const char *name, uint64_t value)
{
    for (uint32_t i = 0; i < ctx->nfigures; i++) {
        if (strcmp(ctx->figures[i].key.ptr, name) == 0) {
            ctx->figures[i].value = value;
            return 0;
        }
    }
    if (ctx->nfigures == FLOW_APP_FIGURES)
        return -FLOW_EINVAL;
    ctx->figures[ctx->nfigures++] =
        (flow_ctl_pair){ { name, (uint32_t)strlen(name) }, value };
    return 0;
}

void flow_stop(flow_ctx *ctx)
{
    /* The app ends its own run: its work is done. */
    flow__begin_stop(ctx, FLOW_CTL_END_INPUT, 0);
}

void flow__note_error(flow_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    /* At most one text per batch (now_us moves once per input frame or
     * tick): an app failing every event pays for one format, not for
     * each. */
    if (ctx->last_error[0] && ctx->last_error_us == ctx->now_us)
        return;
    ctx->last_error_us = ctx->now_us;
    va_start(ap, fmt);
    vsnprintf(ctx->last_error, sizeof(ctx->last_error), fmt, ap);
    va_end(ap);
}

void flow_log(flow_ctx *ctx, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s:%s:%u] %s\n", role_names[ctx->app->role],
            ctx->conf.label, ctx->conf.instance, line);
}

void flow__ident_of(flow_ctx *ctx, flow_ctl_ident *id)
{
    id->stream = ctx->conf.stream;
    id->label = ctx->conf.label;
    id->app = ctx->app->name;
    id->role = role_names[ctx->app->role];
    id->version = FLOW_VERSION_STR;
    id->instance = ctx->conf.instance;
    id->pid = getpid();
}

static void ctl_send(flow_ctx *ctx)
{
    if (ctx->ctl_w && !ctx->ctlbuf.err)
        flow_zwatch_send_buf(ctx->ctl_w, ctx->ctlbuf.data, ctx->ctlbuf.len, 0);
}

static void send_metrics(flow_ctx *ctx, bool bye)
{
    flow_ctl_ident id;
    if (!ctx->ctl_w)
        return;
    flow__ident_of(ctx, &id);
    flow_ctl_status st = { .last_error = ctx->last_error,
                           .end = ctx->end,
                           .url = ctx->url,
                           .figures = ctx->figures,
                           .nfigures = ctx->nfigures };
    if (bye)
        flow_ctl_encode_bye(&ctx->ctlbuf, &id, ctx->now_us / 1000, &ctx->m,
                            &st);
    else
        flow_ctl_encode_metrics(&ctx->ctlbuf, &id, ctx->now_us / 1000, &ctx->m,
                                &st);
    ctl_send(ctx);
}

static void metrics_cb(uv_timer_t *t)
{
    flow_ctx *ctx = t->data;
    flow__update_now(ctx);
    send_metrics(ctx, false);
    flow__counters_report(ctx);
    flow__place_tick(ctx);
    /* Cheap insurance: re-read every socket's ZMQ_EVENTS once a second,
     * so no lost edge can ever stall the app for longer. */
    flow_zwatch *ws[] = { ctx->in_w, ctx->err.w, ctx->ctl_w };
    for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++)
        if (ws[i])
            flow_zwatch_kick(ws[i]);
    for (size_t k = 0; k < ctx->ngroups; k++) {
        flow_zwatch_kick(ctx->groups[k]->w);
        if (ctx->groups[k]->mon_w)
            flow_zwatch_kick(ctx->groups[k]->mon_w);
    }
}

static int add_group(flow_ctx *ctx, const char *list, const char *key,
                     const char *dest);
static void remove_group(flow_ctx *ctx, const char *key);

static flow__group *find_group(flow_ctx *ctx, const char *key)
{
    for (size_t k = 0; k < ctx->ngroups; k++)
        if (ctx->groups[k]->key && !strcmp(ctx->groups[k]->key, key))
            return ctx->groups[k];
    return NULL;
}

/*
 * Control connect/disconnect of the output: add a group (a PUSH socket
 * bound, or connected with '>', at the endpoint; lanes separated by '|')
 * or remove the one added with that endpoint. Adding one that exists
 * does nothing. dest (NULL: the output) names the destination of
 * flow_emit_to whose batches the group gets (port "output.DEST"); any app
 * may have those.
 */
static void ctl_output(flow_ctx *ctx, bool connect, const flow_ctl_str *ep,
                       const char *dest)
{
    /* Up to 64 lanes of an endpoint each. */
    char key[FLOW_ENDPOINT_MAX * 64];
    flow_endpoint parsed;
    char err[512];
    if (dest)
        ctx->has_out = true;
    if (!ctx->has_out) {
        flow_log(ctx, "ignored %s: this app has no output",
                 connect ? "connect" : "disconnect");
        return;
    }
    if (ep->len >= sizeof(key)) {
        flow_log(ctx, "ignored a control message: an output of %zu bytes",
                 (size_t)ep->len);
        return;
    }
    for (size_t at = 0; at <= ep->len;) {
        const char *bar = memchr(ep->ptr + at, '|', ep->len - at);
        size_t n = bar ? (size_t)(bar - (ep->ptr + at)) : ep->len - at;
        if (flow_endpoint_parse(ep->ptr + at, n, true, &parsed, err,
                                sizeof(err))) {
            flow_log(ctx, "ignored a control message: %s", err);
            return;
        }
        at += n + 1;
    }
    snprintf(key, sizeof(key), "%.*s", (int)ep->len, ep->ptr);
    flow__group *g = find_group(ctx, key);
    if (!connect) {
        if (g)
            remove_group(ctx, key);
        return;
    }
    if (g || ctx->phase == PH_DONE)
        return;
    bool was_blocked = ctx->out.blocked;
    int rc = add_group(ctx, key, key, dest);
    if (rc) {
        flow_log(ctx, "cannot add output %s: %s", key, flow_strerror(rc));
        return;
    }
    /* A batch waiting for a first group goes out now (or went to the
     * lanes of this one). */
    if (was_blocked || ctx->out.blocked || flow__dests_blocked(ctx))
        flow__flush(ctx);
    if (ctx->phase == PH_DRAIN)
        flow__maybe_finish(ctx);
}

static void ctl_cb(flow_zwatch *w, int ready, void *arg)
{
    flow_ctx *ctx = arg;
    zmq_msg_t msg;
    (void)ready;
    zmq_msg_init(&msg);
    for (int i = 0; i < 16; i++) {
        if (flow_zwatch_recv(w, &msg))
            break;
        flow_ctl_msg m;
        int rc = flow_ctl_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &m);
        if (rc) {
            flow_log(ctx, "ignored a malformed control message (%s)",
                     flow_strerror(rc));
            continue;
        }
        if (m.type == FLOW_CTL_STOP) {
            flow__begin_stop(ctx, FLOW_CTL_END_REQUEST, 0);
        } else if (m.type == FLOW_CTL_CKPT || m.type == FLOW_CTL_CKPT_DONE) {
            flow__ckpt_control(ctx, &m);
        } else if ((m.type == FLOW_CTL_CONNECT ||
                    m.type == FLOW_CTL_DISCONNECT) &&
                   m.port.len == 6 && !memcmp(m.port.ptr, "output", 6)) {
            ctl_output(ctx, m.type == FLOW_CTL_CONNECT, &m.endpoint, NULL);
        } else if ((m.type == FLOW_CTL_CONNECT ||
                    m.type == FLOW_CTL_DISCONNECT) &&
                   m.port.len > 7 && m.port.len < 7 + 256 &&
                   !memcmp(m.port.ptr, "output.", 7)) {
            char dest[256];
            snprintf(dest, sizeof(dest), "%.*s", (int)m.port.len - 7,
                     m.port.ptr + 7);
            ctl_output(ctx, m.type == FLOW_CTL_CONNECT, &m.endpoint, dest);
        } else if ((m.type == FLOW_CTL_CONNECT ||
                    m.type == FLOW_CTL_DISCONNECT) &&
                   m.port.len == 5 && !memcmp(m.port.ptr, "input", 5)) {
            flow_endpoint ep;
            char err[512];
            if (!ctx->in_s) {
                flow_log(ctx, "ignored %s: this app has no input",
                         m.type == FLOW_CTL_CONNECT ? "connect" : "disconnect");
            } else if (flow_endpoint_parse(m.endpoint.ptr, m.endpoint.len,
                                           false, &ep, err, sizeof(err))) {
                flow_log(ctx, "ignored a control message: %s", err);
            } else {
                int zr = m.type == FLOW_CTL_CONNECT
                             ? flow_curve_prepare(ctx->in_s, ctx->curve,
                                                  ep.addr, false) ||
                                   zmq_connect(ctx->in_s, ep.addr)
                             : zmq_disconnect(ctx->in_s, ep.addr);
                if (zr) {
                    flow_log(ctx, "cannot %s input %s: %s",
                             m.type == FLOW_CTL_CONNECT ? "connect"
                                                        : "disconnect",
                             ep.addr, zmq_strerror(zmq_errno()));
                } else {
                    flow__input_note(ctx, ep.addr, m.type == FLOW_CTL_CONNECT);
                    if (ctx->in_w)
                        flow_zwatch_kick(ctx->in_w);
                }
            }
        }
        flow_ctl_msg_fini(&m);
    }
    zmq_msg_close(&msg);
}

/*
 * Starts the app's on_tick timer. A source starts at once; a source whose
 * output is monitored waits for its first consumer (tick_deferred), since
 * until then nothing it makes can leave: its first events would wait in
 * the batch and a paced source would then catch up in one burst, both
 * counted as latency by the stream.
 */
static void start_ticks(flow_ctx *ctx)
{
    const flow_app_desc *a = ctx->app;
    uint64_t ms = a->tick_us ? (a->tick_us + 999) / 1000 : 1000;
    ctx->tick_deferred = false;
    uv_timer_start(&ctx->tick_timer, flow__tick_cb,
                   a->role == FLOW_ROLE_SOURCE ? 0 : ms, ms);
}

/* Monitor events of a group's socket: counts connected consumers. */
static void mon_cb(flow_zwatch *w, int ready, void *arg)
{
    flow__group *g = arg;
    flow_ctx *ctx = g->ctx;
    zmq_msg_t addr;
    uint16_t ev;
    int32_t value;
    (void)ready;
    zmq_msg_init(&addr);
    for (int i = 0; i < 64; i++) {
        if (flow_zwatch_recv_event(w, &addr, &ev, &value))
            break;
        if (ev == ZMQ_EVENT_ACCEPTED || ev == ZMQ_EVENT_CONNECTED) {
            g->peers++;
            ctx->peers++;
            ctx->mon_seen = true;
            if (ctx->tick_deferred && ctx->phase == PH_RUN)
                start_ticks(ctx);
        } else if (ev == ZMQ_EVENT_DISCONNECTED && g->peers > 0) {
            g->peers--;
            ctx->peers--;
        }
    }
    zmq_msg_close(&addr);
    if (ctx->phase == PH_DRAIN)
        flow__maybe_finish(ctx);
}

/* Monitor events of the tap: the subscribers' connections, by fd. */
static void tap_mon_cb(flow_zwatch *w, int ready, void *arg)
{
    flow_ctx *ctx = arg;
    zmq_msg_t addr;
    uint16_t ev;
    int32_t fd;
    (void)ready;
    zmq_msg_init(&addr);
    for (int i = 0; i < 64; i++) {
        if (flow_zwatch_recv_event(w, &addr, &ev, &fd))
            break;
        size_t k = 0;
        while (k < ctx->ntap_fds && ctx->tap_fds[k] != fd)
            k++;
        if (ev == ZMQ_EVENT_ACCEPTED && k == ctx->ntap_fds) {
            int *n = realloc(ctx->tap_fds, (k + 1) * sizeof(*n));
            if (n) {
                ctx->tap_fds = n;
                n[ctx->ntap_fds++] = fd;
            }
        } else if (ev == ZMQ_EVENT_DISCONNECTED && k < ctx->ntap_fds) {
            ctx->tap_fds[k] = ctx->tap_fds[--ctx->ntap_fds];
        }
    }
    zmq_msg_close(&addr);
}

static int open_tap_monitor(flow_ctx *ctx, void *s)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "inproc://flow-tap-monitor-%p", (void *)ctx);
    if (zmq_socket_monitor(s, addr,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0)
        return flow_from_zmq();
    ctx->tap_mon_s = zmq_socket(ctx->zctx, ZMQ_PAIR);
    if (!ctx->tap_mon_s)
        return flow_from_zmq();
    if (zmq_connect(ctx->tap_mon_s, addr) != 0)
        return flow_from_zmq();
    return flow_zwatch_new(&ctx->loop, ctx->tap_mon_s, FLOW_ZW_READABLE,
                           tap_mon_cb, ctx, &ctx->tap_mon_w);
}

/* The most bytes of the tap a subscriber has still to read from its
 * socket: libzmq discards those when the app hangs up while the
 * subscriber's queue is full. (Over tcp:// it counts up to the peer's
 * kernel only.) */
static size_t tap_unread(flow_ctx *ctx)
{
    size_t most = 0;
    for (size_t k = 0; k < ctx->ntap_fds; k++) {
        int n = 0;
        if (ioctl(ctx->tap_fds[k], SIOCOUTQ, &n) == 0 && n > 0 &&
            (size_t)n > most)
            most = (size_t)n;
    }
    return most;
}

static int open_monitor(flow_ctx *ctx, flow__group *g)
{
    char addr[64];
    int rc;
    snprintf(addr, sizeof(addr), "inproc://flow-monitor-%p", (void *)g);
    if (zmq_socket_monitor(g->zsock, addr,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CONNECTED |
                               ZMQ_EVENT_DISCONNECTED) != 0)
        return flow_from_zmq();
    g->mon_s = zmq_socket(ctx->zctx, ZMQ_PAIR);
    if (!g->mon_s)
        return flow_from_zmq();
    if (zmq_connect(g->mon_s, addr) != 0)
        return flow_from_zmq();
    if ((rc = flow_zwatch_new(&ctx->loop, g->mon_s, FLOW_ZW_READABLE, mon_cb, g,
                              &g->mon_w)))
        return rc;
    return 0;
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, close_cb);
}

/* Writes the final metrics (and counter totals) as JSON. */
static void write_metrics_json(flow_ctx *ctx)
{
    const char *path = ctx->conf.metrics_json;
    FILE *f = stdout;
    flow_path_out out;
    char why[1024];
    if (!path)
        return;
    if (strcmp(path, "-") != 0) {
        f = flow_path_fopen(&out, &ctx->conf.paths, path, FLOW_PATH_WRITE, why,
                            sizeof(why));
        if (!f) {
            flow_log(ctx, "cannot write --flow.metrics-json: %s", why);
            return;
        }
    }
    const flow_metrics *m = &ctx->m;
    fputs("{\"app\": ", f);
    flow__json_str(f, ctx->app->name, strlen(ctx->app->name));
    fputs(", \"stream\": ", f);
    flow__json_str(f, ctx->conf.stream, strlen(ctx->conf.stream));
    fputs(", \"label\": ", f);
    flow__json_str(f, ctx->conf.label, strlen(ctx->conf.label));
    fprintf(f,
            ", \"instance\": %u, \"pid\": %ld, \"in\": %llu, \"out\": %llu, "
            "\"errors\": %llu, \"bytes_in\": %llu, \"bytes_out\": %llu, "
            "\"drops\": %llu, \"rejected\": %llu, \"dups\": %llu, "
            "\"fenced\": %llu",
            ctx->conf.instance, (long)getpid(), (unsigned long long)m->in,
            (unsigned long long)m->out, (unsigned long long)m->errors,
            (unsigned long long)m->bytes_in, (unsigned long long)m->bytes_out,
            (unsigned long long)m->drops, (unsigned long long)m->rejected,
            (unsigned long long)m->dups, (unsigned long long)m->fenced);
    if (ctx->nfigures) {
        fputs(", \"figures\": {", f);
        for (uint32_t i = 0; i < ctx->nfigures; i++) {
            fputs(i ? ", " : "", f);
            flow__json_str(f, ctx->figures[i].key.ptr, ctx->figures[i].key.len);
            fprintf(f, ": %llu", (unsigned long long)ctx->figures[i].value);
        }
        fputs("}", f);
    }
    const struct {
        const char *name;
        const flow_hist *h;
    } hs[] = { { "lat_us", &m->lat }, { "e2e_us", &m->e2e } };
    for (size_t k = 0; k < 2; k++) {
        const flow_hist *h = hs[k].h;
        fprintf(f,
                ", \"%s\": {\"count\": %llu, \"p50\": %.1f, \"p90\": %.1f, "
                "\"p99\": %.1f, \"p999\": %.1f, \"buckets\": [",
                hs[k].name, (unsigned long long)flow_hist_total(h),
                flow_hist_quantile(h, 0.5), flow_hist_quantile(h, 0.9),
                flow_hist_quantile(h, 0.99), flow_hist_quantile(h, 0.999));
        for (int i = 0; i < FLOW_HIST_BUCKETS; i++)
            fprintf(f, "%s[%u, %llu]", i ? ", " : "", flow_hist_bounds_us[i],
                    (unsigned long long)h->counts[i]);
        fputs("]}", f);
    }
    fputs(", \"counters\": ", f);
    flow__counters_json(ctx, f);
    fputs("}\n", f);
    if (f == stdout) {
        fflush(f);
        return;
    }
    if (flow_path_fclose(&out, f, false, why, sizeof(why)) != 0)
        flow_log(ctx, "cannot write --flow.metrics-json=%s: %s", path, why);
}

static void save_state(flow_ctx *ctx)
{
    flow_path_out out;
    char why[1024];
    flow_buf b;
    if (!ctx->conf.state || !ctx->app->snapshot)
        return;
    flow_buf_init(&b);
    int rc = ctx->app->snapshot(ctx, &b);
    if (rc || b.err) {
        flow_log(ctx, "snapshot failed: %s", flow_strerror(rc ? rc : b.err));
        goto free_buf;
    }
    FILE *f = flow_path_fopen(&out, &ctx->conf.paths, ctx->conf.state,
                              FLOW_PATH_WRITE, why, sizeof(why));
    if (!f) {
        flow_log(ctx, "cannot save the state (--flow.state): %s", why);
        goto free_buf;
    }
    if (fwrite(b.data, 1, b.len, f) != b.len) {
        int e = errno;
        flow_path_fclose(&out, f, true, why, sizeof(why));
        flow_log(ctx, "cannot save the state to %s: %s", ctx->conf.state,
                 strerror(e));
    } else if (flow_path_fclose(&out, f, false, why, sizeof(why)) != 0) {
        flow_log(ctx, "cannot save the state to %s: %s", ctx->conf.state, why);
    }
free_buf:
    flow_buf_fini(&b);
}

static int restore_state(flow_ctx *ctx)
{
    if (!ctx->conf.state || !ctx->app->restore)
        return 0;
    char why[1024];
    int fd = flow_path_open_read(&ctx->conf.paths, ctx->conf.state, why,
                                 sizeof(why));
    if (fd == -FLOW_ENOENT)
        return 0;
    if (fd < 0) {
        flow_log(ctx, "cannot restore the state (--flow.state): %s", why);
        return fd;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return flow_from_errno(e);
    }
    flow_buf b;
    flow_buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        flow_buf_append(&b, chunk, n);
    int rc = ferror(f) ? -FLOW_EIO : b.err;
    fclose(f);
    if (!rc)
        rc = ctx->app->restore(ctx, b.data, b.len);
    if (rc)
        flow_log(ctx, "cannot restore the state from %s: %s", ctx->conf.state,
                 flow_strerror(rc));
    flow_buf_fini(&b);
    return rc;
}

/* The end of a run: everything is flushed (or the drain timed out). */
static void finish(flow_ctx *ctx)
{
    if (ctx->phase == PH_DONE)
        return;
    ctx->phase = PH_DONE;
    flow__update_now(ctx);
    /* What could not be sent in time is lost: count it. */
    if (ctx->out.open)
        ctx->m.drops += ctx->out.batch.count;
    flow__dests_free(ctx, true);
    if (ctx->err.open)
        ctx->m.drops += ctx->err.batch.count;
    ctx->out.open = ctx->err.open = false;
    for (size_t s = 0; s < ctx->nsets; s++)
        for (uint32_t j = 0; j < ctx->sets[s]->n; j++) {
            flow__port *lp = &ctx->sets[s]->ports[j];
            if (lp->open)
                ctx->m.drops += lp->batch.count;
            lp->open = false;
        }
    /* The tap's messages ZeroMQ has not written out by now are lost with
     * the socket. */
    if (ctx->tapq)
        ctx->m.drops += __atomic_load_n(&ctx->tapq->events, __ATOMIC_ACQUIRE);
    save_state(ctx);
    if (ctx->app->fini)
        ctx->app->fini(ctx);
    flow__counters_report(ctx);
    send_metrics(ctx, true);
    write_metrics_json(ctx);

    flow_zwatch_close(&ctx->in_w);
    flow_zwatch_close(&ctx->in_mon_w);
    flow_zwatch_close(&ctx->tap_mon_w);
    for (size_t k = 0; k < ctx->ngroups; k++) {
        flow_zwatch_close(&ctx->groups[k]->w);
        flow_zwatch_close(&ctx->groups[k]->mon_w);
    }
    flow_zwatch_close(&ctx->err.w);
    flow_zwatch_close(&ctx->ctl_w);
    flow__ckpt_close(ctx);
    if (ctx->kafka)
        flow__kafka_close(ctx);
    close_handle((uv_handle_t *)&ctx->tick_timer);
    close_handle((uv_handle_t *)&ctx->eos_timer);
    close_handle((uv_handle_t *)&ctx->metrics_timer);
    close_handle((uv_handle_t *)&ctx->drain_timer);
    close_handle((uv_handle_t *)&ctx->linger_timer);
    close_handle((uv_handle_t *)&ctx->in_timer);
    close_handle((uv_handle_t *)&ctx->tap_timer);
    close_handle((uv_handle_t *)&ctx->pump);
    close_handle((uv_handle_t *)&ctx->stop_async);
    if (ctx->use_signals) {
        close_handle((uv_handle_t *)&ctx->sigterm);
        close_handle((uv_handle_t *)&ctx->sigint);
    }
}

/* When an end of stream is first sent again to the consumers still
 * connected (see flow__eos_timer_cb); the interval then doubles. */
#define EOS_RESEND_MS 50
/* How often a stop looks whether the tap has written everything out, and
 * how long a stop without an end of stream (SIGTERM, flowd's undeploy)
 * waits for it at most: a subscriber that stopped reading must not hold
 * up an undeploy; what it did not get is counted in drops. */
#define TAP_POLL_MS      2
#define TAP_STOP_WAIT_MS 1000

static bool tap_written(flow_ctx *ctx);

void flow__maybe_finish(flow_ctx *ctx)
{
    if (ctx->phase != PH_DRAIN)
        return;
    if (!flow__flushed(ctx)) {
        flow__flush(ctx);
        /* With every consumer gone nothing can take the rest: stop now
         * (finish counts it as dropped) instead of waiting the drain
         * time out. inproc:// reports no connections, so this only
         * applies once the monitor has seen one. */
        if (!flow__flushed(ctx) && !(ctx->mon_seen && ctx->peers == 0))
            return;
    }
    if (ctx->eos_pending) {
        if (flow__send_eos(ctx) == -FLOW_EAGAIN)
            return;
        ctx->eos_pending = false;
        ctx->eos_sent = true;
        /* An end of stream at the high-water mark is still pending: the
         * output callback sends it and calls back here. */
        if (!flow__flushed(ctx))
            return;
    }
    /*
     * After an end of stream, stay connected until the consumers have
     * read it and gone (or the drain time is up): a consumer whose
     * receive queue is full when its producer disconnects loses what is
     * still in the kernel's socket buffer (libzmq stops reading a
     * throttled connection on hang-up).
     */
    /* Nothing more goes to the tap: see that it is written out, while
     * the consumers go. */
    bool tapped = tap_written(ctx);
    if (ctx->eos_sent && ctx->peers > 0) {
        if (!ctx->eos_resend_ms) {
            ctx->eos_resend_ms = EOS_RESEND_MS;
            uv_timer_start(&ctx->eos_timer, flow__eos_timer_cb, EOS_RESEND_MS,
                           0);
        }
        return;
    }
    if (!tapped)
        return;
    if (ctx->ck && !flow__ckpt_may_finish(ctx))
        return; /* ckpt_done calls again; the drain timer bounds it */
    finish(ctx);
}

static void drain_timeout_cb(uv_timer_t *t)
{
    flow_ctx *ctx = t->data;
    if (ctx->eos_sent && flow__flushed(ctx))
        flow_log(ctx,
                 "stop: %d consumer(s) did not disconnect within %lld ms "
                 "of the end of stream; exiting anyway",
                 ctx->peers, (long long)ctx->conf.drain_ms);
    else
        flow_log(ctx,
                 "stop: the output did not take the last events within "
                 "%lld ms; exiting anyway",
                 (long long)ctx->conf.drain_ms);
    finish(ctx);
}

static void tap_timer_cb(uv_timer_t *t)
{
    flow__maybe_finish(t->data);
}

/*
 * Has ZeroMQ written out everything the tap published (a stop waits for
 * it, within the drain time)? A message is released once written, but a
 * small one already once copied into the I/O thread's write buffer, which
 * is only refilled once written: so the tap's last message is an end of
 * stream, published once all else is released, and once that is released
 * too, every batch before it is in the kernel's hands; then it waits for
 * the subscribers to read what the kernel holds. Polled while it
 * waits: ZeroMQ's threads cannot wake the loop. After an end of stream
 * the wait lasts as long as the one for the consumers to go (the drain
 * time); else TAP_STOP_WAIT_MS at most.
 */
static bool tap_written(flow_ctx *ctx)
{
    flow__tapq *q = ctx->tapq;
    if (!q)
        return true;
    flow__tap_flush(ctx);
    int64_t now = flow_clock_us();
    if (!ctx->tap_wait_us)
        ctx->tap_wait_us = now + (int64_t)TAP_STOP_WAIT_MS * 1000;
    if (!ctx->eos_sent && now > ctx->tap_wait_us) {
        uv_timer_stop(&ctx->tap_timer);
        return true;
    }
    if (__atomic_load_n(&q->msgs, __ATOMIC_ACQUIRE) == 0) {
        if (!ctx->tap_end_sent) {
            ctx->tap_end_sent = true;
            flow__tap_end(ctx); /* when it fails, nothing is left to wait */
        }
        if (__atomic_load_n(&q->msgs, __ATOMIC_ACQUIRE) == 0 &&
            !tap_unread(ctx)) {
            uv_timer_stop(&ctx->tap_timer);
            return true;
        }
    }
    if (!uv_is_active((uv_handle_t *)&ctx->tap_timer))
        uv_timer_start(&ctx->tap_timer, tap_timer_cb, TAP_POLL_MS, TAP_POLL_MS);
    return false;
}

int64_t flow_end_left_us(flow_ctx *ctx)
{
    if (ctx->phase != PH_DRAIN)
        return 0;
    int64_t left = (int64_t)ctx->drain_deadline_us - (int64_t)flow_clock_us();
    return left > 0 ? left : 0;
}

void flow__begin_stop(flow_ctx *ctx, const char *end, int exit_code)
{
    if (ctx->phase != PH_RUN)
        return;
    ctx->phase = PH_DRAIN;
    ctx->exit_code = exit_code;
    ctx->end = end;
    /* Say why at once: the drain may take a while, and flowd decides
     * what a clean exit means by it (docs/apps.md). */
    flow__update_now(ctx);
    send_metrics(ctx, false);
    uv_timer_stop(&ctx->tick_timer);
    uv_idle_stop(&ctx->pump);
    ctx->source_more = false;
    /* Stop taking input; what zmq queued but we did not read stays
     * unread (its producer's stream was cut by the stop). */
    if (ctx->in_w)
        flow_zwatch_want(ctx->in_w, 0);
    ctx->drain_deadline_us = flow_clock_us() + ctx->conf.drain_ms * 1000;
    if (ctx->app->on_end)
        ctx->app->on_end(ctx);
    uv_timer_start(&ctx->drain_timer, drain_timeout_cb,
                   (uint64_t)ctx->conf.drain_ms, 0);
    flow__maybe_finish(ctx);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    (void)signum;
    flow__begin_stop(s->data, FLOW_CTL_END_SIGNAL, 0);
}

static void async_cb(uv_async_t *a)
{
    flow_ctx *ctx = a->data;
    if (__atomic_load_n(&ctx->stop_requested, __ATOMIC_ACQUIRE))
        flow__begin_stop(ctx, FLOW_CTL_END_REQUEST, 0);
}

void flow__request_stop(flow_ctx *ctx)
{
    __atomic_store_n(&ctx->stop_requested, 1, __ATOMIC_RELEASE);
    if (__atomic_load_n(&ctx->async_ready, __ATOMIC_ACQUIRE))
        uv_async_send(&ctx->stop_async);
}

flow_ctx *flow__ctx_new(const flow_app_desc *app, int argc, char **argv,
                        int *status)
{
    bool done = false;
    flow_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        fprintf(stderr, "flow-%s: out of memory\n", app->name);
        *status = 1;
        return NULL;
    }
    ctx->app = app;
    *status = 1;
    int rc = flow__parse_args(ctx, argc, argv, &done, status);
    if (rc || done) {
        if (rc == -FLOW_ENOMEM)
            fprintf(stderr, "flow-%s: out of memory\n", app->name);
        flow__ctx_free(&ctx);
        return NULL;
    }
    *status = 0;
    return ctx;
}

/* Retry interval of a connection, first and largest (ms). */
#define RECONNECT_IVL_MS     10
#define RECONNECT_IVL_MAX_MS 100

/*
 * Creates, configures and attaches one socket of the app. With group, the
 * socket is an output group's (stored in group->zsock at once) and, over
 * ipc:// or tcp://, is monitored before it binds, so that no consumer's
 * connection can go unseen.
 */
static void close_socket(void **sp, int linger_ms);

static int open_socket(flow_ctx *ctx, int type, const char *flag,
                       const char *list, bool bind, flow__group *group,
                       void **out)
{
    flow_endpoint eps[FLOW_ENDPOINTS_MAX];
    size_t n = 0;
    char err[512];
    /* An empty list: a socket for control "connect" later. */
    int rc = *list
                 ? flow_endpoint_parse_list(list, bind, eps, FLOW_ENDPOINTS_MAX,
                                            &n, err, sizeof(err))
                 : 0;
    if (rc) {
        flow_log(ctx, "--flow.%s: %s", flag, err);
        return rc;
    }
    void *s = zmq_socket(ctx->zctx, type);
    if (!s)
        return flow_from_zmq();
    int hwm = (int)(ctx->conf.hwm_events / ctx->conf.batch_max);
    if (hwm < 1)
        hwm = 1;
    int zero = 0, one = 1;
    int64_t maxmsg = FLOW_WIRE_MAX_FRAME;
    switch (type) {
    case ZMQ_PUSH:
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        break;
    case ZMQ_PULL:
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
        break;
    case ZMQ_PUB:
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof(one));
        break;
    case ZMQ_DEALER:
        maxmsg = FLOW_CTL_MAX_FRAME;
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
        break;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    /* A consumer often starts before its producer has bound: retry the
     * connection after 10 ms rather than ZeroMQ's 100 ms, backing off to
     * ZeroMQ's own 100 ms while the peer stays away. */
    int ivl = RECONNECT_IVL_MS, ivl_max = RECONNECT_IVL_MAX_MS;
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
    if (type == ZMQ_PUB && (rc = open_tap_monitor(ctx, s)))
        goto close_s;
    if (group) {
        group->zsock = s;
        /* inproc:// connections report no disconnection: count consumers
         * only over the other transports. */
        if ((strstr(list, "ipc://") || strstr(list, "tcp://")) &&
            (rc = open_monitor(ctx, group)))
            goto close_s;
    }
    for (size_t i = 0; i < n; i++) {
        rc = flow_curve_prepare(s, ctx->curve, eps[i].addr, eps[i].bind);
        if (rc == 0)
            rc = flow_endpoint_attach(s, &eps[i]);
        if (rc) {
            flow_log(ctx, "--flow.%s: cannot %s %s: %s", flag,
                     eps[i].bind ? "bind" : "connect to", eps[i].addr,
                     zmq_strerror(zmq_errno()));
            goto close_s;
        }
    }
    *out = s;
    return 0;

close_s:
    if (ctx->tap_mon_s && type == ZMQ_PUB) {
        zmq_socket_monitor(s, NULL, 0);
        flow_zwatch_close(&ctx->tap_mon_w);
        close_socket(&ctx->tap_mon_s, 0);
    }
    if (group) {
        if (group->mon_s)
            zmq_socket_monitor(s, NULL, 0);
        group->zsock = NULL;
    }
    zmq_close(s);
    return rc;
}

static void close_socket(void **sp, int linger_ms)
{
    if (!*sp)
        return;
    zmq_setsockopt(*sp, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
    zmq_close(*sp);
    *sp = NULL;
}

/*
 * Adds lane lane of nlanes of an output group: a PUSH socket attached to
 * list (the endpoints bind unless prefixed with '>'), known to control
 * messages as key (borrowed). Its consumers are counted by a monitor,
 * except over inproc://, which reports no disconnection.
 */
static int add_lane(flow_ctx *ctx, const char *list, const char *key,
                    uint32_t lane, uint32_t nlanes, flow__laneset *set,
                    const char *dest)
{
    flow__group **gs =
        realloc(ctx->groups, (ctx->ngroups + 1) * sizeof(*ctx->groups));
    if (!gs)
        return -FLOW_ENOMEM;
    ctx->groups = gs;
    flow__group *g = calloc(1, sizeof(*g));
    if (!g)
        return -FLOW_ENOMEM;
    g->ctx = ctx;
    g->lane = lane;
    g->nlanes = nlanes;
    g->set = set;
    int rc = -FLOW_ENOMEM;
    if ((key && !(g->key = strdup(key))) || (dest && !(g->dest = strdup(dest))))
        goto free_group;
    if ((rc = open_socket(ctx, ZMQ_PUSH, "output", list, true, g, &g->zsock)))
        goto close_monitor;
    if ((rc = flow_zwatch_new(&ctx->loop, g->zsock, 0, flow__group_cb, g,
                              &g->w)))
        goto close_zsock;
    /* Over inproc:// nothing will say when a consumer comes. */
    if (!g->mon_s && ctx->tick_deferred && ctx->phase == PH_RUN)
        start_ticks(ctx);
    ctx->groups[ctx->ngroups++] = g;
    return 0;

close_zsock:
    zmq_socket_monitor(g->zsock, NULL, 0);
    close_socket(&g->zsock, 0);
close_monitor:
    flow_zwatch_close(&g->mon_w);
    close_socket(&g->mon_s, 0);
free_group:
    free(g->key);
    free(g->dest);
    free(g);
    return rc;
}

/* Closes a group's sockets and frees it; what it held is lost. */
static void group_free(flow__group *g, int linger_ms)
{
    if (g->mon_s)
        zmq_socket_monitor(g->zsock, NULL, 0);
    close_socket(&g->zsock, linger_ms);
    close_socket(&g->mon_s, 0);
    if (g->has_pending)
        zmq_msg_close(&g->pending);
    if (g->has_barrier)
        zmq_msg_close(&g->barrier);
    free(g->key);
    free(g->dest);
    free(g);
}

/* Removes one lane's socket; what it held is counted as dropped. */
static void remove_lane(flow_ctx *ctx, flow__group *g)
{
    size_t k = 0;
    while (ctx->groups[k] != g)
        k++;
    memmove(&ctx->groups[k], &ctx->groups[k + 1],
            (ctx->ngroups - k - 1) * sizeof(*ctx->groups));
    ctx->ngroups--;
    if (g->has_pending)
        ctx->m.drops += g->pending_n;
    if (g->blocked)
        ctx->groups_blocked--;
    ctx->peers -= g->peers;
    if (g->lane == 0) {
        /* The group's own share: once per group, with its first lane. */
        if (g->set)
            flow__laneset_drop(ctx, g->set);
        else if (!g->dest)
            ctx->nsingle--;
    }
    flow_zwatch_close(&g->w);
    flow_zwatch_close(&g->mon_w);
    group_free(g, 0);
}

/*
 * Adds an output group: its lanes are separated by '|' in list, each a
 * list of endpoints (add_lane). A group of one lane gets every batch of
 * ctx->out; one of n lanes shares the lane set of n with the other groups
 * of n lanes.
 */
static int add_group(flow_ctx *ctx, const char *list, const char *key,
                     const char *dest)
{
    if (dest || !strchr(list, '|')) {
        /* A destination's group is one lane. */
        int rc = add_lane(ctx, list, key, 0, 1, NULL, dest);
        if (rc == 0 && !dest)
            ctx->nsingle++;
        return rc;
    }
    char *copy = strdup(list);
    if (!copy)
        return -FLOW_ENOMEM;
    uint32_t n = 1;
    for (const char *p = list; (p = strchr(p, '|')); p++)
        n++;
    flow__laneset *set = flow__laneset_use(ctx, n);
    int rc = set ? 0 : -FLOW_ENOMEM;
    size_t first = ctx->ngroups;
    uint32_t j = 0;
    for (char *save = NULL, *lane = strtok_r(copy, "|", &save); lane && rc == 0;
         lane = strtok_r(NULL, "|", &save))
        rc = add_lane(ctx, lane, key, j++, n, set, NULL);
    free(copy);
    if (rc == 0 && j != n)
        rc = -FLOW_EENDPOINT; /* an empty lane */
    if (rc) {
        /* Undo the lanes added: lane 0's removal drops the set. */
        bool lane0 = ctx->ngroups > first;
        while (ctx->ngroups > first)
            remove_lane(ctx, ctx->groups[ctx->ngroups - 1]);
        if (set && !lane0)
            flow__laneset_drop(ctx, set);
        return rc;
    }
    flow__out_reroute(ctx);
    return 0;
}

/*
 * Removes a group while running (its consumer stream went away): what it
 * still held for that stream is counted as dropped, and the output is no
 * longer held back by it.
 */
static void remove_group(flow_ctx *ctx, const char *key)
{
    for (size_t k = ctx->ngroups; k-- > 0;)
        if (ctx->groups[k]->key && !strcmp(ctx->groups[k]->key, key))
            remove_lane(ctx, ctx->groups[k]);
    flow__out_reroute(ctx);
    if (ctx->phase == PH_RUN && !ctx->out.blocked && !ctx->err.blocked &&
        !ctx->groups_blocked && !flow__dests_blocked(ctx))
        flow__flush(ctx);
    if (ctx->phase == PH_DRAIN)
        flow__maybe_finish(ctx);
}

/*
 * The output's groups from --flow.output: groups are separated by ';',
 * the lanes of one group by '|', the endpoints of one lane by ','. Each
 * is named by its text, so that a control "disconnect" of it removes it
 * (flowd replaces it when its consumer's parallelism changes) and a
 * "connect" of it does nothing (flowd starts a tapped app with its tap
 * streams' groups).
 */
static int open_groups(flow_ctx *ctx, const char *spec)
{
    char *copy = strdup(spec);
    if (!copy)
        return -FLOW_ENOMEM;
    int rc = 0;
    for (char *save = NULL, *list = strtok_r(copy, ";", &save); list;
         list = strtok_r(NULL, ";", &save))
        if ((rc = add_group(ctx, list, list, NULL)))
            break;
    free(copy);
    return rc;
}

static int setup(flow_ctx *ctx)
{
    flow__conf *c = &ctx->conf;
    const flow_app_desc *a = ctx->app;
    int rc;

    bool kafka_in = c->kafka.input != NULL;
    if (a->role != FLOW_ROLE_SOURCE && !c->input && !kafka_in)
        flow_log(ctx, "no --flow.input: waiting for a control 'connect'");
    if (c->input) {
        if ((rc = open_socket(ctx, ZMQ_PULL, "input", c->input, false, NULL,
                              &ctx->in_s)))
            return rc;
        if ((rc = flow_zwatch_new(&ctx->loop, ctx->in_s, FLOW_ZW_READABLE,
                                  flow__input_cb, ctx, &ctx->in_w)))
            return rc;
        if ((rc = flow__input_watch(ctx, c->input)))
            return rc;
    } else if (a->role != FLOW_ROLE_SOURCE && !kafka_in) {
        /* An input with no endpoint yet, for control "connect". */
        if ((rc = open_socket(ctx, ZMQ_PULL, "input", "", false, NULL,
                              &ctx->in_s)))
            return rc;
        if ((rc = flow_zwatch_new(&ctx->loop, ctx->in_s, FLOW_ZW_READABLE,
                                  flow__input_cb, ctx, &ctx->in_w)))
            return rc;
        if ((rc = flow__input_watch(ctx, NULL)))
            return rc;
    }
    if (c->output) {
        if ((rc = open_groups(ctx, c->output)))
            return rc;
        ctx->has_out = true;
    } else if (a->role != FLOW_ROLE_SINK && c->control) {
        /* An output with no group yet, for control "connect": what is
         * made waits for one (backpressure). */
        ctx->has_out = true;
    }
    if (c->error_output) {
        if ((rc = open_socket(ctx, ZMQ_PUSH, "error-output", c->error_output,
                              true, NULL, &ctx->err.zsock)))
            return rc;
        if ((rc = flow_zwatch_new(&ctx->loop, ctx->err.zsock, 0, flow__out_cb,
                                  ctx, &ctx->err.w)))
            return rc;
        ctx->has_err = true;
    }
    if (c->tap) {
        if ((rc = open_socket(ctx, ZMQ_PUB, "tap", c->tap, true, NULL,
                              &ctx->tap_s)))
            return rc;
        if (!(ctx->tapq = calloc(1, sizeof(*ctx->tapq))))
            return -FLOW_ENOMEM;
        ctx->tapq->refs = 1;
    }
    if (flow__kafka_used(&c->kafka)) {
        if (!flow__kafka_setup) {
            flow_log(ctx,
                     "--flow.kafka.*: this executable has no Kafka "
                     "binder; run the app as 'flow-kafka %s ...' "
                     "(docs/kafka.md)",
                     a->name);
            return -FLOW_EUSAGE;
        }
        if ((rc = flow__kafka_setup(ctx)))
            return rc;
    }
    if (c->control) {
        if ((rc = open_socket(ctx, ZMQ_DEALER, "control", c->control, false,
                              NULL, &ctx->ctl_s)))
            return rc;
        if ((rc = flow_zwatch_new(&ctx->loop, ctx->ctl_s, FLOW_ZW_READABLE,
                                  ctl_cb, ctx, &ctx->ctl_w)))
            return rc;
    }
    return 0;
}

/*
 * With --flow.keys, reads the CURVE keys its tcp:// endpoints use and
 * starts the ZAP handler that admits only the peers the file names,
 * before any socket binds (ZeroMQ lets every client in while no handler
 * is there).
 */
static int start_curve(flow_ctx *ctx)
{
    char err[1024];
    int rc;

    if (!ctx->conf.keys)
        return 0;
    ctx->curve = malloc(sizeof *ctx->curve);
    if (!ctx->curve)
        return -FLOW_ENOMEM;
    if ((rc = flow_curve_load(ctx->conf.keys, ctx->curve, err, sizeof err))) {
        flow_log(ctx, "--flow.keys: %s", err);
        return rc;
    }
    if (!zmq_has("curve")) {
        flow_log(ctx, "--flow.keys: this ZeroMQ has no CURVE security; "
                      "build it with libsodium");
        return -FLOW_EUSAGE;
    }
    if ((rc = flow_zap_start(ctx->zctx, ctx->conf.keys, err, sizeof err))) {
        flow_log(ctx, "--flow.keys: %s", err);
        return rc;
    }
    ctx->zap_started = true;
    return 0;
}

int flow__ctx_run(flow_ctx *ctx, void *zctx, bool signals)
{
    const flow_app_desc *a = ctx->app;
    int rc;
    bool inited = false;

    ctx->role_name = role_names[a->role];
    flow__update_now(ctx);
    /* The epoch is flowd's (--flow.epoch), or changes at every start:
     * microseconds and pid mixed. */
    ctx->epoch = ctx->conf.epoch
                     ? ctx->conf.epoch
                     : (uint64_t)ctx->now_us ^ ((uint64_t)getpid() << 48);
    if (uv_loop_init(&ctx->loop) != 0) {
        flow_log(ctx, "cannot create the event loop");
        return 1;
    }
    ctx->loop_init = true;
    uv_async_init(&ctx->loop, &ctx->stop_async, async_cb);
    ctx->stop_async.data = ctx;
    __atomic_store_n(&ctx->async_ready, 1, __ATOMIC_RELEASE);
    uv_timer_init(&ctx->loop, &ctx->tick_timer);
    uv_timer_init(&ctx->loop, &ctx->metrics_timer);
    uv_timer_init(&ctx->loop, &ctx->drain_timer);
    uv_timer_init(&ctx->loop, &ctx->linger_timer);
    uv_timer_init(&ctx->loop, &ctx->eos_timer);
    uv_timer_init(&ctx->loop, &ctx->in_timer);
    uv_timer_init(&ctx->loop, &ctx->tap_timer);
    uv_idle_init(&ctx->loop, &ctx->pump);
    ctx->tick_timer.data = ctx->metrics_timer.data = ctx;
    ctx->drain_timer.data = ctx->linger_timer.data = ctx;
    ctx->eos_timer.data = ctx->in_timer.data = ctx->tap_timer.data = ctx;
    ctx->pump.data = ctx;
    ctx->use_signals = signals;
    if (signals) {
        uv_signal_init(&ctx->loop, &ctx->sigterm);
        uv_signal_init(&ctx->loop, &ctx->sigint);
        ctx->sigterm.data = ctx->sigint.data = ctx;
        uv_signal_start(&ctx->sigterm, signal_cb, SIGTERM);
        uv_signal_start(&ctx->sigint, signal_cb, SIGINT);
    }
    flow_batch_init(&ctx->out.batch);
    flow_batch_init(&ctx->err.batch);
    flow_batch_init(&ctx->tapb);

    /* Before the first socket, so ZeroMQ's I/O thread, which is made then
     * by this thread, inherits the affinity too. */
    if (flow__place_start(ctx, zctx == NULL)) {
        ctx->exit_code = 2;
        goto close_loop;
    }
    if (zctx) {
        ctx->zctx = zctx;
    } else {
        ctx->zctx = zmq_ctx_new();
        ctx->own_zctx = true;
        if (!ctx->zctx) {
            flow_log(ctx, "cannot create a ZeroMQ context");
            ctx->exit_code = 1;
            goto close_loop;
        }
    }
    ctx->phase = PH_RUN;
    if ((rc = start_curve(ctx))) {
        ctx->exit_code = rc == -FLOW_EUSAGE ? 2 : 1;
        goto stop_now;
    }
    if ((rc = setup(ctx))) {
        if (rc == -FLOW_EENDPOINT || rc == -FLOW_EUSAGE)
            ctx->exit_code = 2;
        else
            ctx->exit_code = 1;
        goto stop_now;
    }
    if (a->init && (rc = a->init(ctx))) {
        flow_log(ctx, "init failed: %s", flow_strerror(rc));
        ctx->exit_code = rc == -FLOW_EOPTION || rc == -FLOW_EUSAGE ? 2 : 1;
        goto stop_now;
    }
    inited = true;
    if ((rc = restore_state(ctx))) {
        ctx->exit_code = 1;
        goto stop_now;
    }
    if ((rc = flow__ckpt_start(ctx))) {
        ctx->exit_code = rc == -FLOW_EUSAGE ? 2 : 1;
        goto stop_now;
    }
    if (ctx->kafka && (rc = flow__kafka_start(ctx))) {
        ctx->exit_code = 1;
        goto stop_now;
    }
    if (ctx->ctl_w) {
        flow_ctl_ident id;
        flow__ident_of(ctx, &id);
        flow_ctl_encode_hello(&ctx->ctlbuf, &id);
        ctl_send(ctx);
    }
    uv_timer_start(&ctx->metrics_timer, metrics_cb, 1000, 1000);
    if (a->on_tick) {
        /* A Kafka output has no consumers to wait for. */
        bool monitored =
            ctx->ngroups == 0 && ctx->has_out && !ctx->conf.kafka.output;
        for (size_t k = 0; k < ctx->ngroups; k++)
            monitored = monitored || ctx->groups[k]->mon_w;
        if (a->role == FLOW_ROLE_SOURCE && monitored && !ctx->mon_seen)
            ctx->tick_deferred = true;
        else
            start_ticks(ctx);
    }
    if (__atomic_load_n(&ctx->stop_requested, __ATOMIC_ACQUIRE))
        flow__begin_stop(ctx, FLOW_CTL_END_REQUEST, 0);
    uv_run(&ctx->loop, UV_RUN_DEFAULT);
    goto close_sockets;

stop_now:
    /* Setup failed: no drain, just close everything. */
    ctx->phase = PH_DRAIN;
    if (!inited) {
        const flow_app_desc *saved = ctx->app;
        flow_app_desc noop = *saved;
        noop.fini = NULL;
        noop.snapshot = NULL;
        ctx->app = &noop;
        ctx->conf.metrics_json = NULL;
        finish(ctx);
        ctx->app = saved;
    } else {
        ctx->conf.state = NULL;
        finish(ctx);
    }
    uv_run(&ctx->loop, UV_RUN_DEFAULT);

close_sockets:
    if (ctx->in_mon_s)
        zmq_socket_monitor(ctx->in_s, NULL, 0);
    close_socket(&ctx->in_s, 0);
    close_socket(&ctx->in_mon_s, 0);
    /* What ZeroMQ still queues gets the rest of the drain time, and none
     * when every consumer is gone. */
    int64_t left_ms = ctx->drain_deadline_us
                          ? (ctx->drain_deadline_us - flow_clock_us()) / 1000
                          : ctx->conf.drain_ms;
    if (left_ms < 0 || (ctx->mon_seen && ctx->peers == 0))
        left_ms = 0;
    /* Each group stops its monitor first: events it posted after its
     * reader closed stayed in the inproc pipe and leaked at exit. */
    for (size_t k = 0; k < ctx->ngroups; k++)
        group_free(ctx->groups[k], (int)left_ms);
    ctx->ngroups = 0;
    close_socket(&ctx->err.zsock, (int)left_ms);
    if (ctx->tap_mon_s)
        zmq_socket_monitor(ctx->tap_s, NULL, 0);
    close_socket(&ctx->tap_s, 0);
    close_socket(&ctx->tap_mon_s, 0);
    flow__ckpt_close_sockets(ctx);
    close_socket(&ctx->ctl_s, 1000);
    if (ctx->zap_started) {
        flow_zap_stop();
        ctx->zap_started = false;
    }
    if (ctx->own_zctx) {
        zmq_ctx_term(ctx->zctx);
        ctx->zctx = NULL;
    }
close_loop:
    __atomic_store_n(&ctx->async_ready, 0, __ATOMIC_RELEASE);
    if (ctx->phase != PH_DONE) {
        ctx->phase = PH_DRAIN;
        close_handle((uv_handle_t *)&ctx->tick_timer);
        close_handle((uv_handle_t *)&ctx->metrics_timer);
        close_handle((uv_handle_t *)&ctx->drain_timer);
        close_handle((uv_handle_t *)&ctx->linger_timer);
        close_handle((uv_handle_t *)&ctx->eos_timer);
        close_handle((uv_handle_t *)&ctx->in_timer);
        close_handle((uv_handle_t *)&ctx->tap_timer);
        close_handle((uv_handle_t *)&ctx->pump);
        close_handle((uv_handle_t *)&ctx->stop_async);
        if (signals) {
            close_handle((uv_handle_t *)&ctx->sigterm);
            close_handle((uv_handle_t *)&ctx->sigint);
        }
        uv_run(&ctx->loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&ctx->loop) != 0)
        flow_log(ctx, "bug: handles left open at exit");
    ctx->loop_init = false;
    return ctx->exit_code;
}

void flow__ctx_free(flow_ctx **ctxp)
{
    flow_ctx *ctx = *ctxp;
    if (!ctx)
        return;
    *ctxp = NULL;
    flow__counters_free(ctx);
    flow__ckpt_free(ctx);
    if (ctx->kafka)
        flow__kafka_free(ctx);
    flow_batch_fini(&ctx->out.batch);
    flow_batch_fini(&ctx->err.batch);
    flow_batch_fini(&ctx->tapb);
    if (ctx->err.has_x)
        zmq_msg_close(&ctx->err.xmsg);
    for (size_t s = 0; s < ctx->nsets; s++) {
        for (uint32_t j = 0; j < ctx->sets[s]->n; j++)
            flow_batch_fini(&ctx->sets[s]->ports[j].batch);
        free(ctx->sets[s]->ports);
        free(ctx->sets[s]);
    }
    free(ctx->sets);
    flow__dests_free(ctx, false);
    flow_buf_fini(&ctx->payload);
    flow_buf_fini(&ctx->scratch);
    flow_buf_fini(&ctx->ctlbuf);
    if (ctx->pk_scratch_init)
        flow_expr_scratch_fini(&ctx->pk_scratch);
    free(ctx->url);
    ctx->url = NULL;
    flow_buf_fini(&ctx->eos_frame);
    free(ctx->groups);
    free(ctx->ended);
    free(ctx->curve);
    free(ctx->ineps);
    free(ctx->tap_fds);
    flow__tapq_release(ctx->tapq);
    flow__opts_free(ctx);
    free(ctx);
}

/*
 * Received batches are allocated by ZeroMQ's I/O thread and freed by the
 * app's: with glibc's default 128 KiB trim threshold that frees memory
 * back with brk() and a TLB shootdown every few batches. Keep up to 1 MiB
 * of free heap instead.
 */
void flow__tune_malloc(void)
{
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
}

int flow_app_record_exit(int status)
{
    const char *dir = getenv("FLOW_INSTANCE_DIR");
    char tmp[4096], path[4096], line[48];

    if (!dir || !*dir)
        return status;
    int n = snprintf(line, sizeof line, "%d %d\n", (int)getpid(), status);
    if (snprintf(tmp, sizeof tmp, "%s/.flow-exit.%d.tmp", dir, (int)getpid()) >=
            (int)sizeof tmp ||
        snprintf(path, sizeof path, "%s/.flow-exit", dir) >= (int)sizeof path)
        return status;
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return status;
    bool ok = write(fd, line, (size_t)n) == n;
    if (close(fd) || !ok || rename(tmp, path))
        unlink(tmp);
    return status;
}

int flow_app_main(const flow_app_desc *app, int argc, char **argv)
{
    int status;
    signal(SIGPIPE, SIG_IGN);
    flow__tune_malloc();
    flow_ctx *ctx = flow__ctx_new(app, argc, argv, &status);
    if (!ctx)
        return flow_app_record_exit(status);
    status = flow__ctx_run(ctx, NULL, true);
    flow__ctx_free(&ctx);
    return flow_app_record_exit(status);
}
