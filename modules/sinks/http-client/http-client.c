/*
 * http-client - POSTs events as JSON to --url (SCDF's http-request role,
 * as a sink): each event's payload as a JSON value, or, with
 * --batch-size above 1, a JSON array of up to that many.
 *
 * Every request carries Idempotency-Key: the event's id (with batches,
 * FIRST-LAST, the ids of its first and last event), which a replay after
 * a recovery sends again unchanged, so that the server can drop what it
 * has seen. A transport error, a 5xx or a 429 is retried after --backoff,
 * doubled each time up to --max-backoff, at most --max-retries times;
 * any other status outside 2xx, or the last retry failing, sends the
 * request's events to the error output with the status. At most --window
 * requests are in flight (retries waiting included); when all are, the
 * stream waits. libcurl's multi interface runs on the app's loop: every
 * event and every tick (1 ms) moves the transfers on without blocking;
 * only a full window waits, in slices of at most 10 ms.
 */
#include "flow/app.h"
#include "flow/mpjson.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An event kept until its request succeeds or fails for good. */
struct held {
    flow_event ev;
    uint8_t *bytes; /* type, key and payload, owned */
};

struct req {
    struct req *next; /* in the sink's list of live requests */
    struct held *evs;
    size_t nevs;
    flow_buf body;
    char key[64];
    CURL *easy;
    struct curl_slist *hdrs;
    int attempts;
    int64_t due_us; /* waiting for a retry: when; 0 = in flight */
    long status;    /* the last answer (0: none) */
    char err[CURL_ERROR_SIZE];
};

struct httpsink {
    const char *url;
    int64_t batch_size;
    int64_t max_retries;
    int64_t backoff_us;
    int64_t max_backoff_us;
    int64_t window;
    int64_t timeout_us;
    CURLM *multi;
    struct req *live; /* in flight or waiting for a retry */
    size_t nlive;
    struct req *cur; /* the batch being filled */
    uint64_t sent, failed, retries;
};

static const flow_option options[] = {
    { .name = "url",
      .type = FLOW_OPT_STRING,
      .required = true,
      FLOW_OPT_FIELD(struct httpsink, url),
      .description = "Where to POST (http:// or https://)." },
    { .name = "batch-size",
      .type = FLOW_OPT_INT,
      .def = "1",
      .min = "1",
      .max = "10000",
      FLOW_OPT_FIELD(struct httpsink, batch_size),
      .description = "Events per request: 1 posts the payload alone, more "
                     "a JSON array of payloads." },
    { .name = "max-retries",
      .type = FLOW_OPT_INT,
      .def = "5",
      .min = "0",
      .max = "100",
      FLOW_OPT_FIELD(struct httpsink, max_retries),
      .description = "Retries of a request that failed in transport, with "
                     "a 5xx or a 429, before its events go to the error "
                     "output." },
    { .name = "backoff",
      .type = FLOW_OPT_DURATION,
      .def = "100ms",
      .min = "1ms",
      .max = "1m",
      FLOW_OPT_FIELD(struct httpsink, backoff_us),
      .description = "Wait before the first retry; doubled at each next." },
    { .name = "max-backoff",
      .type = FLOW_OPT_DURATION,
      .def = "10s",
      .min = "1ms",
      .max = "1h",
      FLOW_OPT_FIELD(struct httpsink, max_backoff_us),
      .description = "The longest wait between two attempts." },
    { .name = "window",
      .type = FLOW_OPT_INT,
      .def = "16",
      .min = "1",
      .max = "1024",
      FLOW_OPT_FIELD(struct httpsink, window),
      .description = "Requests in flight at most (retries waiting "
                     "included); when all are, the stream waits." },
    { .name = "timeout",
      .type = FLOW_OPT_DURATION,
      .def = "30s",
      .min = "1ms",
      .max = "1h",
      FLOW_OPT_FIELD(struct httpsink, timeout_us),
      .description = "The longest one attempt may take." },
    { .name = NULL },
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void req_free(struct req *r)
{
    for (size_t i = 0; i < r->nevs; i++)
        free(r->evs[i].bytes);
    free(r->evs);
    flow_buf_fini(&r->body);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    free(r);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static int start(flow_ctx *ctx, struct httpsink *s, struct req *r)
{
    if (!r->easy) {
        r->easy = curl_easy_init();
        if (!r->easy)
            return -FLOW_ENOMEM;
        char h[96];
        snprintf(h, sizeof(h), "Idempotency-Key: %s", r->key);
        r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        r->hdrs = curl_slist_append(r->hdrs, h);
        r->hdrs = curl_slist_append(r->hdrs, "Expect:");
        CURL *e = r->easy;
        curl_easy_setopt(e, CURLOPT_URL, s->url);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)r->body.data);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)r->body.len);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(s->timeout_us / 1000));
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
        curl_easy_setopt(e, CURLOPT_PRIVATE, r);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    r->err[0] = '\0';
    r->due_us = 0;
    r->attempts++;
    if (curl_multi_add_handle(s->multi, r->easy) != CURLM_OK) {
        flow_log(ctx, "cannot start a request to %s", s->url);
        return -FLOW_ENOMEM;
    }
    return 0;
}

static void unlink_req(struct httpsink *s, struct req *r)
{
    for (struct req **p = &s->live; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            s->nlive--;
            return;
        }
    }
}

static void fail(flow_ctx *ctx, struct httpsink *s, struct req *r)
{
    char reason[CURL_ERROR_SIZE + 128];
    if (r->status)
        snprintf(reason, sizeof(reason),
                 "POST %s answered %ld after %d attempt(s)", s->url, r->status,
                 r->attempts);
    else
        snprintf(reason, sizeof(reason),
                 "POST %s failed after %d "
                 "attempt(s): %s",
                 s->url, r->attempts, r->err[0] ? r->err : "no answer");
    for (size_t i = 0; i < r->nevs; i++)
        flow_emit_error(ctx, &r->evs[i].ev, reason);
    s->failed += r->nevs;
}

/* Takes the finished transfers: done, retried later or failed. */
static void reap(flow_ctx *ctx, struct httpsink *s)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode res = m->data.result;
        curl_multi_remove_handle(s->multi, m->easy_handle);
        r->status = 0;
        if (res == CURLE_OK)
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (res == CURLE_OK && r->status >= 200 && r->status < 300) {
            s->sent += r->nevs;
            unlink_req(s, r);
            req_free(r);
            continue;
        }
        bool again = res != CURLE_OK || r->status >= 500 || r->status == 429 ||
                     r->status == 408;
        if (again && r->attempts <= s->max_retries) {
            int64_t wait = s->backoff_us;
            for (int i = 1; i < r->attempts && wait < s->max_backoff_us; i++)
                wait *= 2;
            if (wait > s->max_backoff_us)
                wait = s->max_backoff_us;
            r->due_us = mono_us() + wait;
            s->retries++;
            continue;
        }
        unlink_req(s, r);
        fail(ctx, s, r);
        req_free(r);
    }
}

/* Moves everything on without waiting (wait_ms 0), or for at most
 * wait_ms for something to happen. */
static void pump(flow_ctx *ctx, struct httpsink *s, int wait_ms)
{
    int64_t now = mono_us();
    for (struct req *r = s->live; r; r = r->next) {
        if (r->due_us && r->due_us <= now && start(ctx, s, r) < 0)
            r->due_us = now + s->backoff_us;
    }
    int running;
    curl_multi_perform(s->multi, &running);
    if (wait_ms > 0) {
        curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
        curl_multi_perform(s->multi, &running);
    }
    reap(ctx, s);
}

/* Sends the batch being filled. */
static int submit(flow_ctx *ctx, struct httpsink *s)
{
    struct req *r = s->cur;
    if (!r)
        return 0;
    s->cur = NULL;
    if (s->batch_size > 1)
        flow_buf_append(&r->body, "]", 1);
    flow_buf_append(&r->body, "", 1);
    if (r->body.err) {
        req_free(r);
        return -FLOW_ENOMEM;
    }
    r->body.len--; /* the NUL is not sent */
    if (r->nevs == 1)
        snprintf(r->key, sizeof(r->key), "%" PRIu64, r->evs[0].ev.id);
    else
        snprintf(r->key, sizeof(r->key), "%" PRIu64 "-%" PRIu64,
                 r->evs[0].ev.id, r->evs[r->nevs - 1].ev.id);
    /* A full window holds the stream until a request is done. */
    while (s->nlive >= (size_t)s->window)
        pump(ctx, s, 10);
    r->next = s->live;
    s->live = r;
    s->nlive++;
    int rc = start(ctx, s, r);
    if (rc < 0) {
        unlink_req(s, r);
        req_free(r);
    }
    return rc;
}

static int hold(struct req *r, const flow_event *ev)
{
    struct held *h = &r->evs[r->nevs];
    size_t n = (size_t)ev->type_len + ev->key_len + ev->payload_len;
    h->bytes = malloc(n ? n : 1);
    if (!h->bytes)
        return -FLOW_ENOMEM;
    h->ev = *ev;
    memcpy(h->bytes, ev->type, ev->type_len);
    h->ev.type = (const char *)h->bytes;
    if (ev->key) {
        memcpy(h->bytes + ev->type_len, ev->key, ev->key_len);
        h->ev.key = (const char *)h->bytes + ev->type_len;
    }
    memcpy(h->bytes + ev->type_len + ev->key_len, ev->payload, ev->payload_len);
    h->ev.payload = h->bytes + ev->type_len + ev->key_len;
    h->ev.app = NULL;
    h->ev.app_len = 0;
    r->nevs++;
    return 0;
}

static int init(flow_ctx *ctx)
{
    struct httpsink *s = flow_state(ctx);
    if (strncmp(s->url, "http://", 7) != 0 &&
        strncmp(s->url, "https://", 8) != 0) {
        flow_log(ctx, "--url=%s: give an http:// or https:// URL", s->url);
        return -FLOW_EUSAGE;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return -FLOW_ENOMEM;
    s->multi = curl_multi_init();
    return s->multi ? 0 : -FLOW_ENOMEM;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct httpsink *s = flow_state(ctx);
    struct req *r = s->cur;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (r)
            r->evs = calloc((size_t)s->batch_size, sizeof(*r->evs));
        if (!r || !r->evs) {
            free(r);
            return -FLOW_ENOMEM;
        }
        flow_buf_init(&r->body);
        if (s->batch_size > 1)
            flow_buf_append(&r->body, "[", 1);
        s->cur = r;
    }
    size_t mark = r->body.len;
    if (r->nevs > 0)
        flow_buf_append(&r->body, ",", 1);
    int rc = flow_mpjson_append(&r->body, ev->payload, ev->payload_len);
    if (rc < 0) {
        r->body.len = mark;
        return flow_emit_error(ctx, ev, "payload is not valid msgpack");
    }
    if ((rc = hold(r, ev)) < 0)
        return rc;
    if (r->nevs == (size_t)s->batch_size)
        rc = submit(ctx, s);
    pump(ctx, s, 0);
    return rc;
}

static int on_tick(flow_ctx *ctx)
{
    struct httpsink *s = flow_state(ctx);
    /* A batch not full goes at the next tick, not when the stream has
     * more. */
    if (s->cur)
        submit(ctx, s);
    if (s->nlive)
        pump(ctx, s, 0);
    return FLOW_TICK_IDLE;
}

/* Until every request is done or failed for good; bounded by the drain
 * time when asked. */
static void drain(flow_ctx *ctx, struct httpsink *s, bool bounded)
{
    submit(ctx, s);
    while (s->nlive && (!bounded || flow_end_left_us(ctx) > 0))
        pump(ctx, s, 10);
}

/* The run ends: the requests in flight get their answers (or fail) while
 * the error output is still open, within the drain time. */
static void on_end(flow_ctx *ctx)
{
    drain(ctx, flow_state(ctx), true);
}

static int on_checkpoint(flow_ctx *ctx, uint64_t n)
{
    (void)n;
    drain(ctx, flow_state(ctx), false);
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct httpsink *s = flow_state(ctx);
    if (s->multi)
        drain(ctx, s, false);
    flow_log(ctx,
             "%" PRIu64 " events posted, %" PRIu64 " failed, %" PRIu64
             " retries",
             s->sent, s->failed, s->retries);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    curl_global_cleanup();
}

const flow_app_desc http_client_app = {
    .name = "http-client",
    .role = FLOW_ROLE_SINK,
    .description = "POSTs events as JSON to a URL with an Idempotency-Key, "
                   "retrying with backoff; what fails goes to the error "
                   "output.",
    .options = options,
    .state_size = sizeof(struct httpsink),
    .init = init,
    .on_event = on_event,
    .on_tick = on_tick,
    .tick_us = 1000,
    .on_checkpoint = on_checkpoint,
    .on_end = on_end,
    .fini = fini,
};
