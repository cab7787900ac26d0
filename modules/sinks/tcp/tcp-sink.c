/*
 * tcp - sends each event's payload over a TCP connection (SCDF's tcp
 * sink): a string payload as its bytes, any other as JSON text, framed by
 * --encoder (LF or CRLF after each, or L4: a 4-byte big-endian length
 * before each).
 *
 * The connection is made at start and again whenever it breaks, with
 * exponential backoff (--backoff doubling up to --max-backoff). Frames
 * wait in a buffer of at most --buffer bytes; a full buffer holds the
 * loop until the peer takes bytes, which is the stream's backpressure.
 * Under a guarantee, at on_checkpoint every frame before the barrier has
 * been handed to the kernel. Bytes the kernel had taken when a
 * connection breaks may be lost: TCP gives no receipt.
 */
#include "apps.h"
#include "frames.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct tcpsink {
    const char *host;    /* --host */
    int64_t port;        /* --port */
    const char *encoder; /* --encoder */
    int64_t backoff_us;  /* --backoff */
    int64_t max_backoff_us;
    int64_t buffer; /* --buffer */
    int enc;        /* enum frame_encoder */
    int fd;         /* -1: not connected */
    int64_t next_try_us;
    int64_t wait_us; /* the current backoff */
    flow_buf out;    /* frames not yet sent */
    size_t sent;     /* bytes of out already sent */
    flow_buf ends;   /* size_t: where each frame in out ends */
    uint64_t connects;
};

static const char *const encoders[] = { "LF", "CRLF", "L4", NULL };

static const flow_option options[] = {
    { .name = "host",
      .type = FLOW_OPT_STRING,
      .def = "127.0.0.1",
      FLOW_OPT_FIELD(struct tcpsink, host),
      .description = "The host to connect to (a name or an address)." },
    { .name = "port",
      .type = FLOW_OPT_INT,
      .required = true,
      .min = "1",
      .max = "65535",
      FLOW_OPT_FIELD(struct tcpsink, port),
      .description = "The port to connect to." },
    { .name = "encoder",
      .type = FLOW_OPT_ENUM,
      .def = "LF",
      .values = encoders,
      FLOW_OPT_FIELD(struct tcpsink, encoder),
      .description = "Framing: LF or CRLF after each payload, or L4, a "
                     "4-byte big-endian length before it." },
    { .name = "backoff",
      .type = FLOW_OPT_DURATION,
      .def = "100ms",
      .min = "1ms",
      .max = "1m",
      FLOW_OPT_FIELD(struct tcpsink, backoff_us),
      .description = "Wait before the first reconnection; doubled after "
                     "each failure." },
    { .name = "max-backoff",
      .type = FLOW_OPT_DURATION,
      .def = "5s",
      .min = "1ms",
      .max = "1h",
      FLOW_OPT_FIELD(struct tcpsink, max_backoff_us),
      .description = "The longest wait between two connection attempts." },
    { .name = "buffer",
      .type = FLOW_OPT_INT,
      .def = "1048576",
      .min = "1024",
      .max = "1073741824",
      FLOW_OPT_FIELD(struct tcpsink, buffer),
      .description = "Bytes of frames kept while the peer is slow or "
                     "away; a full buffer holds the stream." },
    { .name = NULL },
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void disconnect(flow_ctx *ctx, struct tcpsink *s, const char *why)
{
    /* Said once per outage, not at every attempt. */
    if (s->fd >= 0 || s->wait_us == s->backoff_us)
        flow_log(ctx, "%s:%" PRId64 ": %s; reconnecting with backoff", s->host,
                 s->port, why);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    /* A frame cut in the middle cannot be resumed on a new connection:
     * the new one starts at the first frame not sent whole. */
    if (s->sent > 0) {
        flow_buf *b = &s->out;
        size_t *ends = (size_t *)s->ends.data;
        size_t n = s->ends.len / sizeof(size_t), k = 0, cut = 0;
        while (k < n && ends[k] <= s->sent)
            cut = ends[k++];
        memmove(b->data, b->data + cut, b->len - cut);
        b->len -= cut;
        for (size_t i = k; i < n; i++)
            ends[i - k] = ends[i] - cut;
        s->ends.len = (n - k) * sizeof(size_t);
        s->sent = 0;
    }
    s->next_try_us = mono_us() + s->wait_us;
    s->wait_us *= 2;
    if (s->wait_us > s->max_backoff_us)
        s->wait_us = s->max_backoff_us;
}

/* One connection attempt, waiting at most timeout_ms. */
static void try_connect(flow_ctx *ctx, struct tcpsink *s, int timeout_ms)
{
    if (s->fd >= 0 || mono_us() < s->next_try_us)
        return;
    char port[8];
    snprintf(port, sizeof(port), "%" PRId64, s->port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int rc = getaddrinfo(s->host, port, &hints, &ai);
    if (rc != 0) {
        flow_log(ctx, "--host=%s: %s", s->host, gai_strerror(rc));
        disconnect(ctx, s, "no address");
        return;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 &&
            errno != EINPROGRESS) {
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t len = sizeof(err);
        if (poll(&p, 1, timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        disconnect(ctx, s, "cannot connect");
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->fd = fd;
    s->wait_us = s->backoff_us;
    s->connects++;
    flow_log(ctx, "connected to %s:%" PRId64, s->host, s->port);
}

/* Sends what the kernel takes now, or waits up to wait_ms for room. */
static void pump(flow_ctx *ctx, struct tcpsink *s, int wait_ms)
{
    try_connect(ctx, s, wait_ms);
    while (s->fd >= 0 && s->sent < s->out.len) {
        ssize_t n = send(s->fd, s->out.data + s->sent, s->out.len - s->sent,
                         MSG_NOSIGNAL);
        if (n > 0) {
            s->sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = s->fd, .events = POLLOUT };
            if (wait_ms <= 0 || poll(&p, 1, wait_ms) != 1)
                break;
            if (p.revents & (POLLERR | POLLHUP)) {
                disconnect(ctx, s, "connection closed by the peer");
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        disconnect(ctx, s, n == 0 ? "nothing sent" : strerror(errno));
        break;
    }
    if (s->sent == s->out.len) {
        flow_buf_reset(&s->out);
        flow_buf_reset(&s->ends);
        s->sent = 0;
    }
}

/* Sends everything buffered, retrying the connection, for at most
 * limit_us (0: however long it takes): the stream waits meanwhile.
 * Returns the bytes left. */
static size_t drain(flow_ctx *ctx, struct tcpsink *s, int64_t limit_us)
{
    int64_t end = mono_us() + limit_us;
    while (s->out.len > s->sent && (limit_us == 0 || mono_us() < end)) {
        pump(ctx, s, 100);
        if (s->fd < 0 && s->out.len > s->sent) {
            int64_t left = s->next_try_us - mono_us();
            if (left > 0)
                usleep((useconds_t)(left < 100000 ? left : 100000));
        }
    }
    return s->out.len - s->sent;
}

static int init(flow_ctx *ctx)
{
    struct tcpsink *s = flow_state(ctx);
    s->enc = frame_encoder_of(s->encoder);
    s->fd = -1;
    s->wait_us = s->backoff_us;
    flow_buf_init(&s->out);
    flow_buf_init(&s->ends);
    try_connect(ctx, s, 1000);
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct tcpsink *s = flow_state(ctx);
    int rc = frame_append(&s->out, (enum frame_encoder)s->enc, ev->payload,
                          ev->payload_len);
    if (rc == -FLOW_EMALFORMED)
        return flow_emit_error(ctx, ev, "payload is not valid msgpack");
    if (rc == -FLOW_ETOOBIG)
        return flow_emit_error(ctx, ev, "payload over 4 GiB");
    if (rc < 0)
        return rc;
    size_t end = s->out.len;
    flow_buf_append(&s->ends, &end, sizeof(end));
    if (s->out.err || s->ends.err)
        return s->out.err ? s->out.err : s->ends.err;
    pump(ctx, s, 0);
    /* A full buffer: hold the stream until the peer has taken it. */
    if (s->out.len - s->sent > (size_t)s->buffer)
        drain(ctx, s, 0);
    return 0;
}

static int on_tick(flow_ctx *ctx)
{
    struct tcpsink *s = flow_state(ctx);
    pump(ctx, s, 0);
    return FLOW_TICK_IDLE;
}

static int on_checkpoint(flow_ctx *ctx, uint64_t n)
{
    (void)n;
    drain(ctx, flow_state(ctx), 0);
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct tcpsink *s = flow_state(ctx);
    /* What is buffered at a clean exit is sent, as the last events, if
     * the peer takes it within 10 s. */
    size_t left = drain(ctx, s, 10000000);
    if (left > 0)
        flow_log(ctx,
                 "%zu bytes not sent at exit: %s:%" PRId64
                 " took nothing for 10 s",
                 left, s->host, s->port);
    if (s->fd >= 0) {
        shutdown(s->fd, SHUT_WR);
        close(s->fd);
    }
    flow_buf_fini(&s->out);
    flow_buf_fini(&s->ends);
}

const flow_app_desc tcp_sink_app = {
    .name = "tcp",
    .role = FLOW_ROLE_SINK,
    .description = "Sends each event's payload over TCP, framed by LF, "
                   "CRLF or a 4-byte length, reconnecting with backoff.",
    .options = options,
    .state_size = sizeof(struct tcpsink),
    .init = init,
    .on_event = on_event,
    .on_tick = on_tick,
    .tick_us = 50000,
    .on_checkpoint = on_checkpoint,
    .fini = fini,
};
