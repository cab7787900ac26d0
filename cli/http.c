/*
 * flowctl's HTTP client over libcurl. Every request goes through here so
 * that the server URL, the token, timeouts, unreachable-server hints and
 * the rendering of error documents are handled once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "flow-config.h"
#include "http.h"
#include "output.h"

struct sink {
    char *buf;
    size_t len, cap;
    bool failed;
};

static size_t sink_write(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t add = size * n;
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) {
            s->failed = true;
            return 0;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

void http_resp_fini(struct http_resp *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = 0;
}

char *http_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    if (!e)
        return NULL;
    char *out = strdup(e);
    curl_free(e);
    return out;
}

static bool curl_inited;

/* Prepares a handle with what every request shares. */
static CURL *prepare(struct ctl *c, const char *method, const char *path,
                     struct curl_slist **hdrs, const char *ctype)
{
    if (!curl_inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_inited = true;
    }
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    size_t n = strlen(c->server) + strlen(path) + 1;
    char *url = malloc(n);
    if (!url) {
        curl_easy_cleanup(h);
        return NULL;
    }
    snprintf(url, n, "%s%s", c->server, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "flowctl/" FLOW_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
    if (ctype) {
        char line[128];
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        *hdrs = curl_slist_append(*hdrs, line);
    }
    if (c->token && *c->token) {
        size_t tn = strlen(c->token) + 32;
        char *line = malloc(tn);
        if (line) {
            snprintf(line, tn, "Authorization: Bearer %s", c->token);
            *hdrs = curl_slist_append(*hdrs, line);
            free(line);
        }
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    return h;
}

/* Maps a transport failure to an exit code, printing what to do. */
static int transport_error(struct ctl *c, CURLcode rc, const char *errbuf)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (c->quiet)
        return rc == CURLE_URL_MALFORMAT ? CTL_EUSAGE : CTL_EUNREACH;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        fprintf(stderr,
                "flowctl: cannot reach flowd at %s: %s\n"
                "hint: start the server with 'flowd --data-dir DIR' "
                "(it listens on 127.0.0.1:9393 by default),\n"
                "      or point flowctl at it with --server URL or "
                "FLOW_SERVER=URL\n",
                c->server, why);
        return CTL_EUNREACH;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        fprintf(stderr,
                "flowctl: bad server URL '%s': %s\n"
                "hint: use --server http://HOST:PORT\n",
                c->server, why);
        return CTL_EUSAGE;
    default:
        fprintf(stderr, "flowctl: request to %s failed: %s\n", c->server, why);
        return CTL_EFAIL;
    }
}

int http_raw(struct ctl *c, const char *method, const char *path,
             const char *body, const char *ctype, struct http_resp *r)
{
    struct curl_slist *hdrs = NULL;
    struct sink s = { 0 };
    char errbuf[CURL_ERROR_SIZE] = "";
    memset(r, 0, sizeof(*r));
    CURL *h = prepare(c, method, path, &hdrs, body ? ctype : NULL);
    if (!h) {
        fprintf(stderr, "flowctl: out of memory\n");
        return CTL_EFAIL;
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT,
                     c->req_timeout_s > 0 ? (long)c->req_timeout_s : 120L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    c->status = 0;
    if (rc != CURLE_OK || s.failed) {
        ret = s.failed ? CTL_EFAIL : transport_error(c, rc, errbuf);
        if (s.failed)
            fprintf(stderr, "flowctl: out of memory reading the response\n");
        free(s.buf);
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        c->status = r->status;
        r->body = s.buf ? s.buf : strdup("");
        r->len = s.len;
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return ret;
}

struct stream_ctx {
    http_chunk_fn fn;
    void *arg;
    bool stopped;
};

static size_t stream_write(char *data, size_t size, size_t n, void *arg)
{
    struct stream_ctx *sc = arg;
    if (sc->fn(data, size * n, sc->arg)) {
        sc->stopped = true;
        return 0;
    }
    return size * n;
}

int http_stream(struct ctl *c, const char *path, http_chunk_fn fn, void *arg,
                long *status)
{
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct stream_ctx sc = { fn, arg, false };
    CURL *h = prepare(c, "GET", path, &hdrs, NULL);
    if (!h) {
        fprintf(stderr, "flowctl: out of memory\n");
        return CTL_EFAIL;
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sc);
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && sc.stopped))
        ret = transport_error(c, rc, errbuf);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return ret;
}

/* Prints `def` with a caret under byte offset off (0-based). Only the
 * line holding the offset is shown, as compilers do. */
static void print_caret(struct ctl *c, const char *def, long off, long line,
                        long col, const char *msg)
{
    size_t n = strlen(def);
    if (off < 0 && line > 0 && col > 0) {
        /* Recover the offset from line:column (both 1-based). */
        long l = 1;
        size_t i = 0;
        while (i < n && l < line) {
            if (def[i++] == '\n')
                l++;
        }
        off = (long)i + col - 1;
    }
    if (off < 0)
        off = 0;
    if ((size_t)off > n)
        off = (long)n;
    size_t start = (size_t)off;
    while (start > 0 && def[start - 1] != '\n')
        start--;
    size_t end = (size_t)off;
    while (end < n && def[end] != '\n')
        end++;
    if (line <= 0) {
        line = 1;
        for (size_t i = 0; i < start; i++)
            line += def[i] == '\n';
    }
    if (col <= 0)
        col = off - (long)start + 1;
    fprintf(stderr, "definition:%ld:%ld: %serror:%s %s\n", line, col,
            out_style(c, OUT_RED, true), out_style(c, OUT_RESET, true),
            msg ? msg : "bad definition");
    fprintf(stderr, "  %.*s\n  ", (int)(end - start), def + start);
    for (size_t i = start; i < (size_t)off; i++)
        fputc(def[i] == '\t' ? '\t' : ' ', stderr);
    fprintf(stderr, "%s^%s\n", out_style(c, OUT_GREEN, true),
            out_style(c, OUT_RESET, true));
}

static long int_field(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

void http_print_error(struct ctl *c, long status, json_t *err, const char *raw)
{
    const char *msg = json_string_value(json_object_get(err, "message"));
    json_t *errs = json_object_get(err, "errors");
    bool shown = false;
    if (json_is_array(errs) && json_array_size(errs) > 0) {
        const char *def = c->dsl;
        if (!def)
            def = json_string_value(json_object_get(err, "definition"));
        size_t i;
        json_t *e;
        if (msg && !def)
            fprintf(stderr, "flowctl: %s\n", msg);
        json_array_foreach(errs, i, e)
        {
            const char *m = json_string_value(json_object_get(e, "message"));
            long off = int_field(e, "offset");
            long line = int_field(e, "line");
            long col = int_field(e, "column");
            if (def && (off >= 0 || (line > 0 && col > 0)))
                print_caret(c, def, off, line, col, m);
            else if (m)
                fprintf(stderr, "  %s\n", m);
        }
        shown = true;
    }
    if (!shown) {
        if (msg)
            fprintf(stderr, "flowctl: %s\n", msg);
        else if (raw && *raw)
            fprintf(stderr, "flowctl: server answered %ld: %.300s\n", status,
                    raw);
        else
            fprintf(stderr, "flowctl: server answered %ld\n", status);
    }
    if (status == 401)
        fprintf(stderr, "hint: pass the server's token with --token or "
                        "FLOW_TOKEN, or run flowctl as flowd's user with "
                        "FLOW_DATA_DIR set to flowd's data directory\n");
}

static int json_call(struct ctl *c, const char *method, const char *path,
                     json_t *body, json_t **out, bool quiet)
{
    char *text = NULL;
    bool was_quiet = c->quiet;
    if (out)
        *out = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text) {
            fprintf(stderr, "flowctl: cannot encode the request\n");
            return CTL_EFAIL;
        }
    }
    struct http_resp r;
    c->quiet = was_quiet || quiet;
    int rc = http_raw(c, method, path, text, "application/json", &r);
    c->quiet = was_quiet;
    free(text);
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *doc = NULL;
    if (r.len > 0)
        doc = json_loadb(r.body, r.len, JSON_DECODE_ANY, &jerr);
    if (r.status < 200 || r.status > 299) {
        if (!quiet)
            http_print_error(c, r.status, doc, r.body);
        rc = r.status == 404 ? CTL_ENOTFOUND : CTL_EFAIL;
        json_decref(doc);
        http_resp_fini(&r);
        return rc;
    }
    if (r.len > 0 && !doc) {
        if (!quiet)
            fprintf(stderr,
                    "flowctl: the server's answer to %s %s is not JSON: "
                    "%s at byte %d\n",
                    method, path, jerr.text, jerr.position);
        http_resp_fini(&r);
        return CTL_EFAIL;
    }
    http_resp_fini(&r);
    if (out)
        *out = doc;
    else
        json_decref(doc);
    return CTL_OK;
}

int http_json(struct ctl *c, const char *method, const char *path, json_t *body,
              json_t **out)
{
    return json_call(c, method, path, body, out, false);
}

int http_json_quiet(struct ctl *c, const char *method, const char *path,
                    json_t *body, json_t **out)
{
    return json_call(c, method, path, body, out, true);
}

int http_get_all(struct ctl *c, const char *path, json_t **doc, json_t **items)
{
    char first[2048];
    snprintf(first, sizeof(first), "%s%csize=1000", path,
             strchr(path, '?') ? '&' : '?');
    *doc = NULL;
    *items = NULL;
    json_t *d;
    int rc = http_json(c, "GET", first, NULL, &d);
    if (rc)
        return rc;
    json_t *all = out_items(d, NULL);
    if (!all) {
        /* No embedded list: make an empty one so callers need not care. */
        json_t *emb = json_object_get(d, "_embedded");
        if (!json_is_object(emb)) {
            emb = json_object();
            json_object_set_new(d, "_embedded", emb);
        }
        all = json_array();
        json_object_set_new(emb, "items", all);
    }
    json_t *page = d;
    json_incref(page);
    for (int n = 0; n < 1000; n++) {
        const char *next = json_string_value(json_object_get(
            json_object_get(json_object_get(page, "_links"), "next"), "href"));
        if (!next || next[0] != '/')
            break;
        json_t *p;
        rc = http_json(c, "GET", next, NULL, &p);
        if (rc) {
            json_decref(page);
            json_decref(d);
            return rc;
        }
        json_t *more = out_items(p, NULL);
        if (more)
            json_array_extend(all, more);
        json_decref(page);
        page = p;
    }
    json_decref(page);
    /* The merged document is one page holding everything. */
    json_object_del(json_object_get(d, "_links"), "next");
    *doc = d;
    *items = all;
    return CTL_OK;
}
