/*
 * `flowctl tap STREAM[.APP] [-n N]`: prints the events an app emits as
 * JSON lines, without disturbing the stream. flowd reports each
 * instance's tap endpoint (a ZeroMQ PUB socket the app publishes every
 * output batch on, see apps.md `--flow.tap`) in /runtime/apps; flowctl
 * subscribes to them and decodes the batch frames of docs/wire.md:
 *   [1, producer_label, instance, epoch, [event, ...]]
 *   event = [id, type, ts_us, key | nil, seq, payload(bin: one msgpack
 *            object)]
 * A slow reader loses events at the publisher (counted there as drops);
 * the stream itself never waits for a tap.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>
#include <zmq.h>

#include "ctl.h"
#include "http.h"
#include "output.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* A JSON string from bytes that may not be UTF-8: invalid bytes become
 * U+FFFD so the output stays valid JSON. Returns new. */
static json_t *jstr(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    char *buf = malloc(n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x80 && ch != 0) {
            buf[o++] = (char)ch;
        } else {
            /* Try to keep a valid multi-byte sequence whole. */
            size_t len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 0;
            json_t *t = len && i + len <= n ? json_stringn(p + i, len) : NULL;
            if (t) {
                memcpy(buf + o, p + i, len);
                o += len;
                i += len - 1;
                json_decref(t);
            } else {
                memcpy(buf + o, "\xEF\xBF\xBD", 3);
                o += 3;
            }
        }
    }
    s = json_stringn(buf, o);
    free(buf);
    return s ? s : json_string("");
}

static json_t *b64(const char *p, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)p[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)p[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    json_t *s = json_stringn(out, o);
    free(out);
    return s;
}

static json_t *to_json(const msgpack_object *o, int depth);

/* A bin holding one msgpack object (an event payload) becomes that
 * object; other bins become base64. */
static json_t *bin_json(const char *p, size_t n, int depth, bool payload)
{
    if (payload) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        json_t *j = NULL;
        if (msgpack_unpack_next(&u, p, n, &off) == MSGPACK_UNPACK_SUCCESS &&
            off == n)
            j = to_json(&u.data, depth + 1);
        msgpack_unpacked_destroy(&u);
        if (j)
            return j;
    }
    return b64(p, n);
}

static json_t *to_json(const msgpack_object *o, int depth)
{
    if (depth > 64)
        return json_string("(nested too deep)");
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return jstr(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return bin_json(o->via.bin.ptr, o->via.bin.size, depth, false);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(a, to_json(&o->via.array.ptr[i], depth + 1));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            json_t *v = to_json(&o->via.map.ptr[i].val, depth + 1);
            if (k->type == MSGPACK_OBJECT_STR) {
                json_t *ks = jstr(k->via.str.ptr, k->via.str.size);
                json_object_set_new(m, json_string_value(ks), v);
                json_decref(ks);
            } else {
                json_t *kj = to_json(k, depth + 1);
                char *ks = json_dumps(kj, JSON_ENCODE_ANY | JSON_COMPACT);
                json_object_set_new(m, ks ? ks : "?", v);
                free(ks);
                json_decref(kj);
            }
        }
        return m;
    }
    case MSGPACK_OBJECT_EXT:
        return json_pack("{s:i, s:o}", "ext", (int)o->via.ext.type, "data",
                         b64(o->via.ext.ptr, o->via.ext.size));
    }
    return json_null();
}

static bool as_uint(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = o->via.u64;
    return true;
}

/* Prints every event of one frame as a JSON line. Returns how many, or
 * -1 for a frame that does not follow the wire format. */
static long print_frame(const char *stream, const void *data, size_t len,
                        long limit)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    long n = 0;
    if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 5) {
        msgpack_unpacked_destroy(&u);
        return -1;
    }
    const msgpack_object *f = u.data.via.array.ptr;
    uint64_t version, instance, epoch;
    if (!as_uint(&f[0], &version) || version != 1 ||
        f[1].type != MSGPACK_OBJECT_STR || !as_uint(&f[2], &instance) ||
        !as_uint(&f[3], &epoch) || f[4].type != MSGPACK_OBJECT_ARRAY) {
        msgpack_unpacked_destroy(&u);
        return -1;
    }
    const msgpack_object_array *evs = &f[4].via.array;
    for (uint32_t i = 0; i < evs->size && (limit <= 0 || n < limit); i++) {
        const msgpack_object *e = &evs->ptr[i];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 6)
            continue;
        const msgpack_object *x = e->via.array.ptr;
        json_t *ev = json_object();
        json_object_set_new(ev, "stream", json_string(stream));
        json_object_set_new(ev, "app",
                            jstr(f[1].via.str.ptr, f[1].via.str.size));
        json_object_set_new(ev, "instance", json_integer((json_int_t)instance));
        json_object_set_new(ev, "id", to_json(&x[0], 0));
        json_object_set_new(ev, "type", to_json(&x[1], 0));
        int64_t us =
            x[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)x[2].via.u64
            : x[2].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? x[2].via.i64
                                                           : 0;
        time_t secs = (time_t)(us / 1000000);
        struct tm tm;
        char ts[64];
        gmtime_r(&secs, &tm);
        size_t k = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + k, sizeof(ts) - k, ".%06lldZ",
                 (long long)((us % 1000000 + 1000000) % 1000000));
        json_object_set_new(ev, "ts", json_string(ts));
        json_object_set_new(ev, "key", to_json(&x[3], 0));
        json_object_set_new(ev, "seq", to_json(&x[4], 0));
        json_object_set_new(
            ev, "payload",
            x[5].type == MSGPACK_OBJECT_BIN
                ? bin_json(x[5].via.bin.ptr, x[5].via.bin.size, 0, true)
                : to_json(&x[5], 0));
        char *line = json_dumps(ev, JSON_COMPACT);
        if (line) {
            puts(line);
            free(line);
        }
        json_decref(ev);
        n++;
    }
    msgpack_unpacked_destroy(&u);
    return n;
}

/* The endpoint without czmq's bind/connect prefix. */
static const char *bare(const char *ep)
{
    return (*ep == '@' || *ep == '>') ? ep + 1 : ep;
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
        if (zmq_connect(sock, bare(ep))) {
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
    "stream is not slowed: a reader that falls behind misses events. Stops "
    "after\n"
    "N events (-n) or on Ctrl-C.\n"
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
    if (rc == 1)
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
    while (!stop && (limit == 0 || seen < limit)) {
        zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
        int pr = zmq_poll(&it, 1, 500);
        if (pr < 0 && zmq_errno() != EINTR)
            break;
        if (time(NULL) - last_lookup >= 3) {
            /* Pick up instances started by scaling or restarts. */
            connect_taps(c, sock, stream, label, connected, true);
            last_lookup = time(NULL);
        }
        if (pr <= 0)
            continue;
        while (!stop && (limit == 0 || seen < limit)) {
            int r = zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT);
            if (r < 0)
                break;
            long n = print_frame(stream, zmq_msg_data(&msg), zmq_msg_size(&msg),
                                 limit ? limit - seen : 0);
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
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
out:
    json_decref(connected);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    return rc;
}
