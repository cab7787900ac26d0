/*
 * `flowctl tap STREAM[.APP] [-n N]`: prints the events an app emits as
 * JSON lines, without disturbing the stream. flowd reports each
 * instance's tap endpoint (a ZeroMQ PUB socket the app publishes every
 * output batch on, see apps.md `--flow.tap`) in /runtime/apps; flowctl
 * subscribes to them and decodes the batch frames of docs/wire.md:
 *   [1, producer_label, instance, epoch, [event, ...]]
 *   event = [id, type, ts_us, key | nil, seq, payload(bin: one msgpack
 *            object)]
 * A slow reader loses events at the publisher, every one counted there in
 * drops; the stream itself never waits for a tap. The tap's last message,
 * when the app stops, is an end of stream (no events), skipped here. A
 * tcp:// tap admits only the peers flowd named (CURVE, docs/security.md):
 * flowctl then presents flowd's own keys, which it reads from
 * DATA/flowd.keys (the data directory /about gives), so it must run as
 * flowd's user on its host.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flow/curve.h>
#include <flow/error.h>
#include <zmq.h>

#include "ctl.h"
#include "http.h"
#include "output.h"
#include "tapdec.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* The endpoint without czmq's bind/connect prefix. */
static const char *bare(const char *ep)
{
    return (*ep == '@' || *ep == '>') ? ep + 1 : ep;
}

/* flowd's keys for tcp:// taps, read once when first needed. */
static flow_curve *tap_keys;
static bool tap_keys_tried;

/* Reads flowd's keys file from the data directory /about names. NULL,
 * with a message unless quiet, when it cannot be read. */
static const flow_curve *load_keys(struct ctl *c, bool quiet)
{
    char path[4096], err[1024];
    json_t *about = NULL;

    if (tap_keys || tap_keys_tried)
        return tap_keys;
    tap_keys_tried = true;
    int rc = http_json_quiet(c, "GET", "/about", NULL, &about);
    const char *dir = rc ? NULL : out_str(about, "dataDir", NULL);
    if (!dir) {
        if (!quiet)
            fprintf(stderr, "flowctl: flowd's /about gives no data "
                            "directory, where the keys of its tcp:// taps "
                            "are\n");
        json_decref(about);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/flowd.keys", dir);
    json_decref(about);
    tap_keys = malloc(sizeof *tap_keys);
    if (tap_keys && flow_curve_load(path, tap_keys, err, sizeof err)) {
        if (!quiet)
            fprintf(stderr,
                    "flowctl: a tcp:// tap admits only the peers flowd "
                    "named, and %s\n"
                    "hint: run flowctl as flowd's user on flowd's host, or "
                    "tap an app over ipc:// (the default transport)\n",
                    err);
        free(tap_keys);
        tap_keys = NULL;
    }
    return tap_keys;
}

/* Looks up the app to tap and connects sock to the tap endpoint of each
 * of its instances not yet connected (kept in `connected`). Returns an
 * exit code; with quiet, only connects. */
static int connect_taps(struct ctl *c, void *sock, const char *stream,
                        const char *label, json_t *connected, bool quiet)
{
    char *es = http_escape(stream), *el = http_escape(label);
    size_t n = strlen(es) + strlen(el) + 32;
    char *path = malloc(n);
    snprintf(path, n, "/runtime/apps/%s.%s", es, el);
    free(es);
    free(el);
    json_t *app;
    int rc = quiet ? http_json_quiet(c, "GET", path, NULL, &app)
                   : http_json(c, "GET", path, NULL, &app);
    free(path);
    if (rc) {
        if (rc == CTL_ENOTFOUND && !quiet)
            fprintf(stderr,
                    "hint: is '%s' deployed? 'flowctl status %s' "
                    "tells\n",
                    stream, stream);
        return rc;
    }
    size_t i, found = 0;
    json_t *in;
    json_array_foreach(json_object_get(app, "instances"), i, in)
    {
        json_t *eps = json_object_get(in, "endpoints");
        json_t *tap = json_object_get(eps, "tap");
        const char *ep = json_string_value(tap);
        if (!ep && json_is_array(tap))
            ep = json_string_value(json_array_get(tap, 0));
        if (!ep || !*ep)
            continue;
        found++;
        if (json_object_get(connected, ep))
            continue;
        const flow_curve *keys = NULL;
        if (!strncmp(bare(ep), "tcp://", 6) && !(keys = load_keys(c, quiet)))
            continue;
        if (flow_curve_prepare(sock, keys, bare(ep), false) ||
            zmq_connect(sock, bare(ep))) {
            if (!quiet)
                fprintf(stderr, "flowctl: cannot subscribe to %s: %s\n", ep,
                        zmq_strerror(zmq_errno()));
            continue;
        }
        json_object_set_new(connected, ep, json_true());
    }
    json_decref(app);
    if (!found && !quiet) {
        fprintf(stderr,
                "flowctl: flowd reports no tap endpoint for %s.%s (none of "
                "its instances has endpoints.tap)\n"
                "hint: a tap stream reads the same events: flowctl stream "
                "create peek ':%s.%s > log' --deploy; flowctl logs peek -f\n",
                stream, label, stream, label);
        return CTL_EFAIL;
    }
    return CTL_OK;
}

/* Chooses the app to tap when only the stream is given: the last app
 * that emits events (the one before the sink). */
static int default_label(struct ctl *c, const char *stream, char *out, size_t n)
{
    char *es = http_escape(stream);
    size_t pn = strlen(es) + 32;
    char *path = malloc(pn);
    snprintf(path, pn, "/streams/definitions/%s", es);
    free(es);
    json_t *d;
    int rc = http_json(c, "GET", path, NULL, &d);
    free(path);
    if (rc)
        return rc;
    json_t *apps = json_object_get(d, "apps");
    size_t cnt = json_array_size(apps);
    json_t *last = json_array_get(apps, cnt ? cnt - 1 : 0);
    json_t *pick = last;
    bool to_dest = json_is_object(json_object_get(d, "sink"));
    if (!to_dest && cnt > 1 && !strcmp(out_str(last, "type", ""), "sink"))
        pick = json_array_get(apps, cnt - 2);
    snprintf(out, n, "%s", out_str(pick, "label", "?"));
    json_decref(d);
    return CTL_OK;
}

static const char tap_help[] =
    "usage: flowctl tap STREAM[.APP] [-n N]\n"
    "\n"
    "Prints the events an app of a running stream emits, one JSON object "
    "per\n"
    "line: {\"stream\", \"app\", \"instance\", \"id\", \"type\", \"ts\", "
    "\"key\", \"seq\",\n"
    "\"payload\"}. APP is a label; without it, the app before the sink. "
    "The\n"
    "stream is not slowed: a reader that falls behind misses events, each "
    "counted\n"
    "in the tapped instance's drops. Stops after N events (-n) or on "
    "Ctrl-C.\n"
    "\n"
    "Examples:\n"
    "  flowctl tap accounts.account-events -n 5\n"
    "  flowctl tap accounts | jq .payload\n";

int cmd_tap(struct ctl *c, int argc, char **argv)
{
    const char *count_s = NULL;
    struct ctl_opt opts[] = {
        { "count", 'n', &count_s, NULL },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 1, &npos, "tap", false);
    if (rc == CTL_HELP)
        return ctl_help(tap_help);
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("tap needs STREAM or STREAM.APP; see 'flowctl "
                               "tap --help'");
    long limit = 0;
    if (count_s && (!ctl_parse_uint(count_s, &limit) || limit < 1))
        return ctl_usage_error("-n needs a positive number of events, not "
                               "'%s'",
                               count_s);
    char stream[128], label[128];
    const char *dot = strchr(pos[0], '.');
    size_t sl = dot ? (size_t)(dot - pos[0]) : strlen(pos[0]);
    if (sl == 0 || sl >= sizeof(stream) || (dot && !dot[1]) ||
        (dot && strlen(dot + 1) >= sizeof(label)))
        return ctl_usage_error("'%s' is not STREAM or STREAM.APP", pos[0]);
    memcpy(stream, pos[0], sl);
    stream[sl] = '\0';
    if (dot) {
        snprintf(label, sizeof(label), "%s", dot + 1);
    } else {
        rc = default_label(c, stream, label, sizeof(label));
        if (rc)
            return rc;
    }
    void *zctx = zmq_ctx_new();
    void *sock = zmq_socket(zctx, ZMQ_SUB);
    int zero = 0, hwm = 10000;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
    json_t *connected = json_object();
    rc = connect_taps(c, sock, stream, label, connected, false);
    if (rc)
        goto out;
    struct sigaction sa = { 0 }, old_int, old_term, old_pipe;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGPIPE, &sa, &old_pipe);
    stop = 0;
    long seen = 0;
    int bad = 0;
    time_t last_lookup = time(NULL);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    flow_buf lines;
    flow_buf_init(&lines);
    while (!stop && (limit == 0 || seen < limit)) {
        zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
        int pr = zmq_poll(&it, 1, 500);
        if (pr < 0 && zmq_errno() != EINTR)
            break;
        if (time(NULL) - last_lookup >= 3) {
            /* Pick up instances started by scaling or restarts; stop when
             * the app is gone (the stream was undeployed). */
            int r = connect_taps(c, sock, stream, label, connected, true);
            last_lookup = time(NULL);
            if (r == CTL_ENOTFOUND) {
                fprintf(stderr, "flowctl: %s.%s is no longer deployed\n",
                        stream, label);
                break;
            }
        }
        if (pr <= 0)
            continue;
        while (!stop && (limit == 0 || seen < limit)) {
            int r = zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT);
            if (r < 0)
                break;
            long n = tap_decode(stream, zmq_msg_data(&msg), zmq_msg_size(&msg),
                                limit ? limit - seen : 0, &lines);
            fwrite(lines.data, 1, lines.len, stdout);
            flow_buf_reset(&lines);
            if (n == -FLOW_ENOMEM) {
                fprintf(stderr, "flowctl: out of memory decoding a tap "
                                "frame; stopping\n");
                rc = CTL_EFAIL;
                stop = 1;
                break;
            }
            if (n < 0 && bad++ == 0)
                fprintf(stderr, "flowctl: skipped a frame that does not "
                                "follow the wire format\n");
            if (n > 0)
                seen += n;
        }
        fflush(stdout);
        if (ferror(stdout))
            break;
    }
    zmq_msg_close(&msg);
    flow_buf_fini(&lines);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
out:
    json_decref(connected);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    free(tap_keys);
    tap_keys = NULL;
    tap_keys_tried = false;
    return rc;
}
