/*
 * account-web - the web role of the accounts context: an HTTP API in HAL
 * (docs/apps.md "account-web"). Every accepted command is appended to
 * the app's command log and made durable (group commit, ingest_src.h)
 * before it is answered, then emitted from the log, which is the app's
 * replay position under a guarantee. The write side (state, balance and
 * version of every account, the next account id) is the fold of that
 * log with the account state machine (account.h), so that 409 and 412
 * never depend on the read model; reads come from the read model, a
 * SQLite database that account-view writes and this app opens read-only.
 */
#include "acctweb.h"
#include "apps.h"
#include "ingest_decode.h"
#include "ingest_http.h"
#include "ingest_src.h"

#include "flow/mpjson.h"
#include "flow/safepath.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

/* Connections served at once; one more is answered 503 and closed. */
#define WEB_MAX_CONNS 256
/* The longest name or email taken. */
#define WEB_FIELD_MAX 256

struct conn;

/* One account's write side. */
struct wacct {
    struct acct a; /* a.last_seq is the version */
};

struct web {
    int64_t port;           /* --port (0: any free one) */
    const char *host;       /* --host */
    const char *read_model; /* --read-model */
    int64_t max_body;       /* --max-body, bytes */
    int64_t max_accounts;   /* --max-accounts */
    int64_t max_pending;    /* --max-pending, bytes */
    int64_t segment;        /* --segment-size, bytes */
    ingest_src is;
    uv_tcp_t *server; /* heap: its close may finish after fini */
    struct conn *conns;
    unsigned nconns;
    struct wacct *accts; /* accts[id - 1]; owned */
    uint64_t naccts, cap;
    sqlite3 *db; /* the read model, read-only; NULL until it opens */
    char dbpath[4096];
    flow_buf rec, scratch, body;
    char *url;
    uint64_t requests, accepted, rejected, stale, errors;
};

struct conn {
    uv_tcp_t tcp;
    struct web *s; /* NULL once the app is gone */
    struct conn *next, **pprev;
    char *buf;
    size_t len, cap;
    long head_len; /* > 0: the head is parsed */
    ingest_head h;
    bool reading, closing, close_after, head_only;
    ingest_waiter w;
    uv_write_t wr, cont_wr;
    bool continued;
    flow_buf resp;   /* the answer being written */
    flow_buf answer; /* the answer to send once the command is durable */
    int answer_status;
    char answer_extra[256];
};

static const flow_option options[] = {
    { .name = "port",
      .type = FLOW_OPT_INT,
      .def = "0",
      .min = "0",
      .max = "65535",
      FLOW_OPT_FIELD(struct web, port),
      .description = "The TCP port of the API; 0 takes a free one, "
                     "reported as the instance's url." },
    { .name = "host",
      .type = FLOW_OPT_STRING,
      .def = "127.0.0.1",
      FLOW_OPT_FIELD(struct web, host),
      .description = "The address to listen on (0.0.0.0: every "
                     "interface)." },
    { .name = "read-model",
      .type = FLOW_OPT_PATH_APPEND,
      .required = true,
      FLOW_OPT_FIELD(struct web, read_model),
      .description = "The read model's SQLite database (account-view "
                     "writes it; opened read-only, and while it does not "
                     "exist yet reads show nothing applied)." },
    { .name = "max-body",
      .type = FLOW_OPT_INT,
      .def = "16384",
      .min = "64",
      .max = "1048576",
      FLOW_OPT_FIELD(struct web, max_body),
      .description = "The largest request body in bytes; larger ones are "
                     "answered 413." },
    { .name = "max-accounts",
      .type = FLOW_OPT_INT,
      .def = "10000000",
      .min = "1",
      FLOW_OPT_FIELD(struct web, max_accounts),
      .description = "Accounts the write side holds at most; creating one "
                     "more is answered 507." },
    { .name = "max-pending",
      .type = FLOW_OPT_INT,
      .def = "67108864",
      .min = "1",
      FLOW_OPT_FIELD(struct web, max_pending),
      .description = "Bytes of the command log accepted but not yet "
                     "emitted downstream; past it commands are answered "
                     "429." },
    { .name = "segment-size",
      .type = FLOW_OPT_INT,
      .def = "67108864",
      .min = "4096",
      FLOW_OPT_FIELD(struct web, segment),
      .description = "The size of one command log segment file in "
                     "bytes." },
    { .name = NULL },
};

static void report(struct web *s)
{
    flow_report_figure(s->is.ctx, "requests", s->requests);
    flow_report_figure(s->is.ctx, "accepted", s->accepted);
    flow_report_figure(s->is.ctx, "rejected", s->rejected);
    flow_report_figure(s->is.ctx, "stale", s->stale);
    flow_report_figure(s->is.ctx, "accounts", s->naccts);
    flow_report_figure(s->is.ctx, "syncs", s->is.syncs);
}

/* ---- The write side: the fold of the command log. ---- */

static struct wacct *account_of(struct web *s, uint64_t id)
{
    return id >= 1 && id <= s->naccts ? &s->accts[id - 1] : NULL;
}

/* Makes room for account id (ids come in order, 1, 2, 3 ...). */
static struct wacct *account_add(struct web *s, uint64_t id)
{
    if (id != s->naccts + 1 || id > (uint64_t)s->max_accounts)
        return NULL;
    if (s->naccts == s->cap) {
        uint64_t ncap = s->cap ? s->cap * 2 : 1024;
        struct wacct *n = realloc(s->accts, ncap * sizeof(*n));
        if (!n)
            return NULL;
        s->accts = n;
        s->cap = ncap;
    }
    struct wacct *w = &s->accts[s->naccts++];
    memset(w, 0, sizeof(*w));
    return w;
}

/* One record of the log folded in. Records this app wrote only; one that
 * does not fold is a log written by something else: refuse to start. */
static int fold(struct web *s, const void *p, size_t n)
{
    flow_mp_value v;
    uint64_t id, seq;
    int64_t amount = 0;
    int ev;
    if (flow_mp_map_find(p, n, "account", &v) || v.type != FLOW_MP_INT ||
        v.is_neg)
        return -FLOW_EMALFORMED;
    id = v.u;
    if (flow_mp_map_find(p, n, "seq", &v) || v.type != FLOW_MP_INT || v.is_neg)
        return -FLOW_EMALFORMED;
    seq = v.u;
    if (flow_mp_map_find(p, n, "type", &v) || v.type != FLOW_MP_STR ||
        (ev = acct_event_parse(v.str, v.len)) < 0)
        return -FLOW_EMALFORMED;
    if (flow_mp_map_find(p, n, "amount", &v) == 0 &&
        !flow_mp_as_int(&v, &amount))
        return -FLOW_EMALFORMED;
    struct wacct *w =
        ev == ACCT_EV_CREATED ? account_add(s, id) : account_of(s, id);
    if (!w || seq != w->a.last_seq + 1 ||
        acct_apply(&w->a, (enum acct_event)ev, amount) != ACCT_OK)
        return -FLOW_EMALFORMED;
    w->a.last_seq = seq;
    return 0;
}

static int fold_log(struct web *s)
{
    ingest_log *l = &s->is.log;
    uint64_t off = ingest_log_first(l);
    if (off != 0) {
        flow_log(s->is.ctx,
                 "the command log in %s starts at offset %llu: its head is "
                 "gone, so the accounts cannot be rebuilt; restore the "
                 "instance's directory",
                 l->dir, (unsigned long long)off);
        return -FLOW_ESTATE;
    }
    while (off < l->durable) {
        ingest_rec rec;
        int64_t next = ingest_log_read(l, off, &rec, &s->scratch);
        if (next <= 0 || fold(s, rec.payload, rec.plen) < 0) {
            flow_log(s->is.ctx,
                     "the command log in %s: the record at offset %llu is "
                     "not a command this app wrote",
                     l->dir, (unsigned long long)off);
            return -FLOW_EMALFORMED;
        }
        off = (uint64_t)next;
    }
    return 0;
}

/* ---- The read model. ---- */

/* The read model, opened on first use (account-view may create it after
 * this app starts); NULL while it cannot be opened. */
static sqlite3 *read_model(struct web *s)
{
    if (s->db)
        return s->db;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(s->dbpath, &db,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 200);
    /* The tables appear when account-view has set the database up. */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM accounts, events LIMIT 0", -1,
                           &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_finalize(st);
    s->db = db;
    return db;
}

static sqlite3_stmt *query(struct web *s, const char *sql)
{
    sqlite3 *db = read_model(s);
    sqlite3_stmt *st = NULL;
    if (!db)
        return NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        flow_log(s->is.ctx, "read model %s: %s", s->dbpath, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static void put_text(flow_buf *b, const unsigned char *t)
{
    if (!t) {
        acctweb_printf(b, "null");
        return;
    }
    flow_json_string(b, (const char *)t, strlen((const char *)t));
}

static void put_time(flow_buf *b, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char iso[40];
    gmtime_r(&t, &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
    acctweb_printf(b, "\"%s.%03dZ\"", iso, (int)(ms % 1000));
}

/*
 * Appends account id as the read model has it, with what the write side
 * knows beyond it. full: the HAL resource (links), else an embedded one
 * (its self link only). *read_version: the version the read reflects.
 */
static void put_account(struct web *s, flow_buf *b, uint64_t id,
                        const struct wacct *w, bool full,
                        uint64_t *read_version)
{
    sqlite3_stmt *st =
        query(s, "SELECT first_name, last_name, email, state, balance, "
                 "version, updated_ms FROM accounts WHERE id = ?");
    uint64_t rv = 0;
    acctweb_printf(b, "{\"accountId\": %llu, ", (unsigned long long)id);
    if (st && (sqlite3_bind_int64(st, 1, (sqlite3_int64)id), 1) &&
        sqlite3_step(st) == SQLITE_ROW) {
        rv = (uint64_t)sqlite3_column_int64(st, 5);
        acctweb_printf(b, "\"firstName\": ");
        put_text(b, sqlite3_column_text(st, 0));
        acctweb_printf(b, ", \"lastName\": ");
        put_text(b, sqlite3_column_text(st, 1));
        acctweb_printf(b, ", \"email\": ");
        put_text(b, sqlite3_column_text(st, 2));
        acctweb_printf(b, ", \"status\": ");
        put_text(b, sqlite3_column_text(st, 3));
        acctweb_printf(b,
                       ", \"balance\": %lld, \"version\": %llu, "
                       "\"updated\": ",
                       (long long)sqlite3_column_int64(st, 4),
                       (unsigned long long)rv);
        put_time(b, sqlite3_column_int64(st, 6));
    } else {
        acctweb_printf(b, "\"firstName\": null, \"lastName\": null, "
                          "\"email\": null, \"status\": null, \"balance\": "
                          "null, \"version\": 0, \"updated\": null");
    }
    sqlite3_finalize(st);
    uint64_t wv = w->a.last_seq;
    acctweb_printf(b,
                   ", \"readVersion\": %llu, \"writeVersion\": %llu, "
                   "\"pendingCommands\": %llu, \"consistent\": %s, ",
                   (unsigned long long)rv, (unsigned long long)wv,
                   (unsigned long long)(wv > rv ? wv - rv : 0),
                   wv <= rv ? "true" : "false");
    if (full)
        acctweb_links(b, id, (enum acct_state)w->a.state);
    else
        acctweb_printf(b,
                       "\"_links\": {\"self\": {\"href\": "
                       "\"/v1/accounts/%llu\"}}",
                       (unsigned long long)id);
    acctweb_printf(b, "}");
    if (read_version)
        *read_version = rv;
}

/* Appends one event row (seq, type, issued_ms, applied_ms, payload). */
static void put_event(flow_buf *b, uint64_t id, sqlite3_stmt *st)
{
    unsigned long long i = (unsigned long long)id;
    unsigned long long q = (unsigned long long)sqlite3_column_int64(st, 0);
    const unsigned char *payload = sqlite3_column_text(st, 4);
    acctweb_printf(b,
                   "{\"eventId\": \"%llu-%llu\", \"accountId\": %llu, "
                   "\"version\": %llu, \"type\": ",
                   i, q, i, q);
    put_text(b, sqlite3_column_text(st, 1));
    acctweb_printf(b, ", \"time\": ");
    put_time(b, sqlite3_column_int64(st, 2));
    acctweb_printf(b,
                   ", \"issuedMs\": %lld, \"appliedMs\": %lld, "
                   "\"payload\": %s, \"_links\": {\"self\": {\"href\": "
                   "\"/v1/events/%llu-%llu\"}, \"account\": {\"href\": "
                   "\"/v1/accounts/%llu\"}}}",
                   (long long)sqlite3_column_int64(st, 2),
                   (long long)sqlite3_column_int64(st, 3),
                   payload && *payload ? (const char *)payload : "null", i, q,
                   i);
}

/* ---- HTTP. ---- */

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    free(c->buf);
    flow_buf_fini(&c->resp);
    flow_buf_fini(&c->answer);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->pprev) {
        *c->pprev = c->next;
        if (c->next)
            c->next->pprev = c->pprev;
        c->pprev = NULL;
        if (c->s)
            c->s->nconns--;
    }
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void process(struct conn *c);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static size_t conn_limit(const struct conn *c)
{
    return INGEST_HEAD_MAX + (c->s ? (size_t)c->s->max_body : 0) + 1;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = h->data;
    (void)hint;
    size_t want = c->len + 65536;
    if (want > conn_limit(c))
        want = conn_limit(c);
    if (want > c->cap) {
        char *nb = realloc(c->buf, want);
        if (nb) {
            c->buf = nb;
            c->cap = want;
        }
    }
    b->base = c->buf + c->len;
    b->len = c->cap > c->len ? c->cap - c->len : 0;
}

static void read_start(struct conn *c)
{
    if (!c->reading && !c->closing)
        c->reading =
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
}

static void read_stop(struct conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void on_written(uv_write_t *wr, int status)
{
    struct conn *c = wr->data;
    if (status < 0 || c->close_after || !c->s) {
        conn_close(c);
        return;
    }
    size_t used = (size_t)c->head_len + (size_t)c->h.content_length;
    if (used > c->len)
        used = c->len;
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    c->head_len = 0;
    c->continued = false;
    read_start(c);
    process(c);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    default:
        return "Error";
    }
}

/* Answers with body (len bytes; hal: application/hal+json, else
 * application/json). extra: more header lines, each ending CRLF. */
static void respond(struct conn *c, int status, const char *extra, bool hal,
                    const void *body, size_t len)
{
    if (!c->h.keep_alive)
        c->close_after = true;
    flow_buf_reset(&c->resp);
    acctweb_printf(&c->resp,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\n%s%s\r\n",
                   status, reason_of(status),
                   hal ? "application/hal+json" : "application/json", len,
                   extra, c->close_after ? "Connection: close\r\n" : "");
    if (!c->head_only)
        flow_buf_append(&c->resp, body, len);
    read_stop(c);
    if (c->resp.err) {
        conn_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->resp.data, (unsigned)c->resp.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        conn_close(c);
}

/* A JSON error {"error": why, "status": N}; why is this app's own text
 * and any reason the state machine gives. */
static void respond_error(struct conn *c, int status, const char *extra,
                          const char *why)
{
    flow_buf b;
    flow_buf_init(&b);
    acctweb_printf(&b, "{\"error\": ");
    flow_json_string(&b, why, strlen(why));
    acctweb_printf(&b, ", \"status\": %d}", status);
    if (c->s && status >= 500)
        c->s->errors++;
    respond(c, status, extra, false, b.data ? (const char *)b.data : "{}",
            b.data ? b.len : 2);
    flow_buf_fini(&b);
}

static void respond_buf(struct conn *c, int status, const char *extra,
                        flow_buf *b)
{
    if (b->err) {
        respond_error(c, 503, "", "out of memory");
        return;
    }
    respond(c, status, extra, true, b->data, b->len);
}

static void durable(ingest_waiter *w, int status)
{
    struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, w));
    if (c->closing)
        return;
    if (status == -FLOW_ETERM || !c->s) {
        conn_close(c);
        return;
    }
    if (status < 0) {
        respond_error(c, 503, "", "the command log cannot be written");
        return;
    }
    respond_buf(c, c->answer_status, c->answer_extra, &c->answer);
}

/* The JSON body as a msgpack map into s->body (empty when there is no
 * body and none is required); false when an answer was sent. */
static bool body_map(struct conn *c, bool required)
{
    struct web *s = c->s;
    ingest_body kind;
    ingest_error err = { 0 };
    const char *body = c->buf + c->head_len;
    size_t blen = (size_t)c->h.content_length;
    flow_buf_reset(&s->body);
    if (blen == 0 && !required)
        return true;
    if (blen == 0) {
        respond_error(c, 400, "", "a JSON object body is required");
        return false;
    }
    /* curl -d labels a body form-urlencoded: taken as the JSON it is. */
    const char *ct = c->h.content_type;
    if (ct[0] &&
        strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 &&
        (ingest_body_of(ct, strlen(ct), &kind) || kind != INGEST_BODY_JSON)) {
        respond_error(c, 415, "", "Content-Type must be application/json");
        return false;
    }
    flow_mp_value v;
    flow_mp_reader r;
    if (ingest_json_to_mp(body, blen, 1, &s->body, &err) < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "malformed JSON body at line %u column "
                 "%u: %s",
                 err.line, err.column, err.what);
        respond_error(c, 400, "", msg);
        return false;
    }
    flow_mp_reader_init(&r, s->body.data, s->body.len);
    if (s->body.err || flow_mp_read(&r, &v) || v.type != FLOW_MP_MAP) {
        respond_error(c, 400, "", "the body must be a JSON object");
        return false;
    }
    return true;
}

/* A string field of the body, 1..WEB_FIELD_MAX bytes; false when an
 * answer was sent. */
static bool body_str(struct conn *c, const char *name, flow_mp_value *v)
{
    struct web *s = c->s;
    char msg[160];
    if (flow_mp_map_find(s->body.data, s->body.len, name, v) == 0 &&
        v->type == FLOW_MP_STR && v->len >= 1 && v->len <= WEB_FIELD_MAX)
        return true;
    snprintf(msg, sizeof(msg),
             "body field \"%s\": a string of 1 to %d bytes is required", name,
             WEB_FIELD_MAX);
    respond_error(c, 400, "", msg);
    return false;
}

/* Appends the command's record to the log; the answer (prepared in
 * c->answer) goes once it is durable. False when the log refused it
 * (answered 503): the caller then undoes the command on the write side,
 * which must stay the fold of the log. */
static bool commit_command(struct conn *c, uint64_t id)
{
    struct web *s = c->s;
    char key[24];
    int n = snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
    flow_buf_reset(&s->rec);
    ingest_log_put(&s->rec, key, (size_t)n, s->scratch.data, s->scratch.len);
    read_stop(c);
    c->w.done = durable;
    if (s->rec.err ||
        ingest_src_append(&s->is, s->rec.data, s->rec.len, &c->w) < 0) {
        respond_error(c, 503, "", "the command log cannot be written");
        return false;
    }
    s->accepted++;
    return true;
}

/* The command's event payload (docs/apps.md "account-web") into
 * s->scratch. */
static void command_payload(struct web *s, enum acct_event ev, uint64_t id,
                            uint64_t seq, int64_t amount,
                            const flow_mp_value *names)
{
    flow_buf *b = &s->scratch;
    bool money = ev == ACCT_EV_DEPOSITED || ev == ACCT_EV_WITHDRAWN;
    flow_buf_reset(b);
    flow_mp_put_map(b, 5 + (money ? 1 : 0) + (names ? 3 : 0));
    flow_mp_put_cstr(b, "type");
    flow_mp_put_cstr(b, acct_event_name(ev));
    flow_mp_put_cstr(b, "account");
    flow_mp_put_uint(b, id);
    flow_mp_put_cstr(b, "seq");
    flow_mp_put_uint(b, seq);
    flow_mp_put_cstr(b, "command");
    flow_mp_put_cstr(b, acctweb_command_name(ev));
    flow_mp_put_cstr(b, "issued_ms");
    flow_mp_put_int(b, flow_clock_us() / 1000);
    if (money) {
        flow_mp_put_cstr(b, "amount");
        flow_mp_put_uint(b, (uint64_t)amount);
    }
    if (names) {
        static const char *const keys[3] = { "first_name", "last_name",
                                             "email" };
        for (int i = 0; i < 3; i++) {
            flow_mp_put_cstr(b, keys[i]);
            flow_mp_put_str(b, names[i].str, names[i].len);
        }
    }
}

static bool room_for_command(struct conn *c)
{
    struct web *s = c->s;
    if (ingest_src_pending(&s->is) < s->is.max_pending)
        return true;
    respond_error(c, 429, "Retry-After: 1\r\n",
                  "the stream is behind: retry later");
    return false;
}

static void create_account(struct conn *c)
{
    struct web *s = c->s;
    flow_mp_value names[3];
    if (!body_map(c, true) || !body_str(c, "firstName", &names[0]) ||
        !body_str(c, "lastName", &names[1]) ||
        !body_str(c, "email", &names[2]) || !room_for_command(c))
        return;
    uint64_t id = s->naccts + 1;
    struct wacct *w = account_add(s, id);
    if (!w) {
        respond_error(c, 507, "",
                      "no room for another account "
                      "(--max-accounts)");
        return;
    }
    acct_apply(&w->a, ACCT_EV_CREATED, 0);
    w->a.last_seq = 1;
    command_payload(s, ACCT_EV_CREATED, id, 1, 0, names);
    unsigned long long i = (unsigned long long)id;
    flow_buf *b = &c->answer;
    flow_buf_reset(b);
    acctweb_printf(b, "{\"accountId\": %llu, \"firstName\": ", i);
    flow_json_string(b, names[0].str, names[0].len);
    acctweb_printf(b, ", \"lastName\": ");
    flow_json_string(b, names[1].str, names[1].len);
    acctweb_printf(b, ", \"email\": ");
    flow_json_string(b, names[2].str, names[2].len);
    acctweb_printf(b, ", \"status\": \"%s\", \"balance\": 0, \"version\": 1, ",
                   acct_state_name(ACCT_ST_PENDING));
    acctweb_links(b, id, ACCT_ST_PENDING);
    acctweb_printf(b, "}");
    c->answer_status = 201;
    snprintf(c->answer_extra, sizeof(c->answer_extra),
             "Location: /v1/accounts/%llu\r\nETag: \"1\"\r\n", i);
    if (!commit_command(c, id))
        s->naccts--;
}

static void run_command(struct conn *c, const acctweb_route *r)
{
    struct web *s = c->s;
    struct wacct *w = account_of(s, r->account);
    uint64_t expect = 0;
    int64_t amount = 0;
    char msg[256];
    if (!w) {
        respond_error(c, 404, "", "no such account");
        return;
    }
    int im = acctweb_if_match(c->h.if_match, &expect);
    if (im < 0) {
        respond_error(c, 400, "",
                      "If-Match: give the account's version as an entity "
                      "tag, e.g. If-Match: \"3\"");
        return;
    }
    bool money = r->event == ACCT_EV_DEPOSITED || r->event == ACCT_EV_WITHDRAWN;
    if (!body_map(c, money))
        return;
    if (money) {
        flow_mp_value v;
        if (flow_mp_map_find(s->body.data, s->body.len, "amount", &v) ||
            v.type != FLOW_MP_INT || v.is_neg || v.u == 0 ||
            v.u > (uint64_t)INT64_MAX) {
            respond_error(c, 400, "",
                          "body field \"amount\": an integer > 0 is required");
            return;
        }
        amount = (int64_t)v.u;
    }
    if (im == 1 && expect != w->a.last_seq) {
        s->stale++;
        snprintf(msg, sizeof(msg),
                 "If-Match \"%llu\" is stale: the account is at version "
                 "%llu",
                 (unsigned long long)expect, (unsigned long long)w->a.last_seq);
        snprintf(c->answer_extra, sizeof(c->answer_extra), "ETag: \"%llu\"\r\n",
                 (unsigned long long)w->a.last_seq);
        respond_error(c, 412, c->answer_extra, msg);
        return;
    }
    struct acct next = w->a;
    enum acct_result res = acct_apply(&next, r->event, amount);
    if (res != ACCT_OK) {
        s->rejected++;
        snprintf(msg, sizeof(msg), "%s: %s is not possible in state %s",
                 acct_result_str(res), acctweb_command_name(r->event),
                 acct_state_name((enum acct_state)w->a.state));
        respond_error(c, 409, "", msg);
        return;
    }
    if (!room_for_command(c))
        return;
    next.last_seq = w->a.last_seq + 1;
    struct acct before = w->a;
    w->a = next;
    unsigned long long i = (unsigned long long)r->account;
    unsigned long long ver = (unsigned long long)next.last_seq;
    command_payload(s, r->event, r->account, next.last_seq, amount, NULL);
    flow_buf *b = &c->answer;
    flow_buf_reset(b);
    acctweb_printf(b,
                   "{\"accountId\": %llu, \"command\": \"%s\", "
                   "\"event\": \"%s\", \"version\": %llu, \"status\": "
                   "\"%s\", \"balance\": %lld, ",
                   i, acctweb_command_name(r->event), acct_event_name(r->event),
                   ver, acct_state_name((enum acct_state)next.state),
                   (long long)next.balance);
    acctweb_links(b, r->account, (enum acct_state)next.state);
    acctweb_printf(b, "}");
    c->answer_status = 202;
    snprintf(c->answer_extra, sizeof(c->answer_extra),
             "Location: /v1/accounts/%llu\r\nETag: \"%llu\"\r\n", i, ver);
    if (!commit_command(c, r->account))
        w->a = before;
}

/* first/prev/next/last links of a page of total items at base. */
static void page_links(flow_buf *b, const char *base, uint64_t page,
                       uint64_t size, uint64_t total)
{
    unsigned long long last = total ? (total - 1) / size : 0;
    unsigned long long p = page, z = size;
    acctweb_printf(b,
                   "\"page\": {\"number\": %llu, \"size\": %llu, "
                   "\"totalElements\": %llu, \"totalPages\": %llu}, "
                   "\"_links\": {\"self\": {\"href\": "
                   "\"%s?page=%llu&size=%llu\"}, \"first\": {\"href\": "
                   "\"%s?page=0&size=%llu\"}, \"last\": {\"href\": "
                   "\"%s?page=%llu&size=%llu\"}",
                   p, z, (unsigned long long)total, last + 1, base, p, z, base,
                   z, base, last, z);
    if (p > 0)
        acctweb_printf(b, ", \"prev\": {\"href\": \"%s?page=%llu&size=%llu\"}",
                       base, (p > last ? last : p - 1), z);
    if (p < last)
        acctweb_printf(b, ", \"next\": {\"href\": \"%s?page=%llu&size=%llu\"}",
                       base, p + 1, z);
    acctweb_printf(b, "}");
}

static bool page_of(struct conn *c, uint64_t *page, uint64_t *size)
{
    const char *bad = NULL;
    char msg[128];
    if (acctweb_page(c->h.query, 20, 100, page, size, &bad) == 0)
        return true;
    snprintf(msg, sizeof(msg),
             "query parameter \"%s\": page is a number from 0, size 1 to 100",
             bad);
    respond_error(c, 400, "", msg);
    return false;
}

static void list_accounts(struct conn *c)
{
    struct web *s = c->s;
    uint64_t page, size;
    if (!page_of(c, &page, &size))
        return;
    flow_buf b;
    flow_buf_init(&b);
    uint64_t total = s->naccts;
    acctweb_printf(&b, "{\"_embedded\": {\"accounts\": [");
    for (uint64_t k = 0; k < size && page * size + k < total; k++) {
        uint64_t id = page * size + k + 1;
        if (k)
            acctweb_printf(&b, ", ");
        put_account(s, &b, id, account_of(s, id), false, NULL);
    }
    acctweb_printf(&b, "]}, ");
    page_links(&b, "/v1/accounts", page, size, total);
    acctweb_printf(&b, "}");
    respond_buf(c, 200, "", &b);
    flow_buf_fini(&b);
}

static void get_account(struct conn *c, const acctweb_route *r)
{
    struct web *s = c->s;
    struct wacct *w = account_of(s, r->account);
    char extra[64];
    uint64_t rv = 0;
    if (!w) {
        respond_error(c, 404, "", "no such account");
        return;
    }
    flow_buf b;
    flow_buf_init(&b);
    put_account(s, &b, r->account, w, true, &rv);
    snprintf(extra, sizeof(extra), "ETag: \"%llu\"\r\n",
             (unsigned long long)rv);
    respond_buf(c, 200, extra, &b);
    flow_buf_fini(&b);
}

static void get_commands(struct conn *c, const acctweb_route *r)
{
    struct wacct *w = account_of(c->s, r->account);
    char extra[64];
    if (!w) {
        respond_error(c, 404, "", "no such account");
        return;
    }
    flow_buf b;
    flow_buf_init(&b);
    acctweb_commands(&b, r->account, (enum acct_state)w->a.state);
    snprintf(extra, sizeof(extra), "ETag: \"%llu\"\r\n",
             (unsigned long long)w->a.last_seq);
    respond_buf(c, 200, extra, &b);
    flow_buf_fini(&b);
}

static void get_events(struct conn *c, const acctweb_route *r)
{
    struct web *s = c->s;
    uint64_t page, size, total = 0;
    char base[64];
    if (!account_of(s, r->account)) {
        respond_error(c, 404, "", "no such account");
        return;
    }
    if (!page_of(c, &page, &size))
        return;
    sqlite3_stmt *cnt = query(s, "SELECT count(*) FROM events WHERE account "
                                 "= ?");
    if (cnt) {
        sqlite3_bind_int64(cnt, 1, (sqlite3_int64)r->account);
        if (sqlite3_step(cnt) == SQLITE_ROW)
            total = (uint64_t)sqlite3_column_int64(cnt, 0);
        sqlite3_finalize(cnt);
    }
    flow_buf b;
    flow_buf_init(&b);
    acctweb_printf(&b, "{\"accountId\": %llu, \"_embedded\": {\"events\": [",
                   (unsigned long long)r->account);
    sqlite3_stmt *st = query(s, "SELECT seq, type, issued_ms, applied_ms, "
                                "payload FROM events WHERE account = ? ORDER "
                                "BY seq LIMIT ? OFFSET ?");
    if (st) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)r->account);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)(page * size));
        for (int k = 0; sqlite3_step(st) == SQLITE_ROW; k++) {
            if (k)
                acctweb_printf(&b, ", ");
            put_event(&b, r->account, st);
        }
        sqlite3_finalize(st);
    }
    acctweb_printf(&b, "]}, ");
    snprintf(base, sizeof(base), "/v1/accounts/%llu/events",
             (unsigned long long)r->account);
    page_links(&b, base, page, size, total);
    acctweb_printf(&b, "}");
    respond_buf(c, 200, "", &b);
    flow_buf_fini(&b);
}

static void get_event(struct conn *c, const acctweb_route *r)
{
    struct web *s = c->s;
    sqlite3_stmt *st = query(s, "SELECT seq, type, issued_ms, applied_ms, "
                                "payload FROM events WHERE account = ? AND "
                                "seq = ?");
    if (!st) {
        respond_error(c, 404, "",
                      "no such event (the read model is not "
                      "there yet)");
        return;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->account);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r->seq);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        respond_error(c, 404, "", "no such event");
        return;
    }
    flow_buf b;
    flow_buf_init(&b);
    put_event(&b, r->account, st);
    sqlite3_finalize(st);
    respond_buf(c, 200, "", &b);
    flow_buf_fini(&b);
}

static void handle(struct conn *c)
{
    acctweb_route r;
    char extra[64];
    int rc = acctweb_route_of(c->h.method, c->h.path, &r);
    if (rc == -404) {
        respond_error(c, 404, "",
                      "no such resource: the API is under "
                      "/v1/accounts and /v1/events");
        return;
    }
    if (rc == -405) {
        snprintf(extra, sizeof(extra), "Allow: %s\r\n", r.allow);
        respond_error(c, 405, extra, "method not allowed here");
        return;
    }
    switch (r.res) {
    case ACCTWEB_ACCOUNTS:
        if (strcmp(c->h.method, "POST") == 0)
            create_account(c);
        else
            list_accounts(c);
        return;
    case ACCTWEB_ACCOUNT:
        get_account(c, &r);
        return;
    case ACCTWEB_COMMANDS:
        get_commands(c, &r);
        return;
    case ACCTWEB_COMMAND:
        run_command(c, &r);
        return;
    case ACCTWEB_EVENTS:
        get_events(c, &r);
        return;
    case ACCTWEB_EVENT:
        get_event(c, &r);
        return;
    }
}

static void on_continued(uv_write_t *wr, int status)
{
    struct conn *c = wr->data;
    if (status < 0)
        conn_close(c);
}

static void process(struct conn *c)
{
    struct web *s = c->s;
    if (!s || c->closing)
        return;
    if (c->head_len == 0) {
        long r = ingest_http_head(c->buf, c->len, &c->h);
        if (r == 0)
            return;
        s->requests++;
        if (r < 0) {
            c->h.keep_alive = false;
            respond_error(c, (int)-r, "", "malformed request head");
            return;
        }
        c->head_len = r;
        c->head_only = strcmp(c->h.method, "HEAD") == 0;
        if (c->h.query_long) {
            c->close_after = true;
            respond_error(c, 414, "", "the query is over 255 bytes");
            return;
        }
        if (c->h.chunked) {
            c->close_after = true;
            respond_error(c, 411, "", "send the body with a Content-Length");
            return;
        }
        if (c->h.content_length > (uint64_t)s->max_body) {
            c->close_after = true;
            respond_error(c, 413, "", "the body is over --max-body");
            return;
        }
    }
    if (c->len - (size_t)c->head_len < c->h.content_length) {
        if (c->h.expect_continue && !c->continued) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
            c->continued = true;
            c->cont_wr.data = c;
            if (uv_write(&c->cont_wr, (uv_stream_t *)&c->tcp, &b, 1,
                         on_continued) < 0)
                conn_close(c);
        }
        return;
    }
    handle(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    (void)b;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    if (n > 0)
        process(c);
    if (!c->closing && c->reading && c->len == c->cap &&
        c->cap >= conn_limit(c))
        conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct web *s = server->data;
    if (status < 0 || !s)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    flow_buf_init(&c->resp);
    flow_buf_init(&c->answer);
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->s = s;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->pprev = &c->next;
    s->conns = c;
    c->pprev = &s->conns;
    s->nconns++;
    if (s->nconns > WEB_MAX_CONNS) {
        c->h.keep_alive = false;
        respond_error(c, 503, "", "too many connections");
        return;
    }
    read_start(c);
}

static void server_closed(uv_handle_t *h)
{
    free(h);
}

static void fini(flow_ctx *ctx);

static int init_listen(flow_ctx *ctx)
{
    struct web *s = flow_state(ctx);
    char addr[64];
    int rc;
    const flow_path_rules *rules = flow_path_rules_of(ctx);
    flow_buf_init(&s->rec);
    flow_buf_init(&s->scratch);
    flow_buf_init(&s->body);
    /* A relative path resolves under the instance's directory, as every
     * path an app is given does. */
    if (s->read_model[0] != '/' && rules && rules->base)
        snprintf(s->dbpath, sizeof(s->dbpath), "%s/%s", rules->base,
                 s->read_model);
    else
        snprintf(s->dbpath, sizeof(s->dbpath), "%s", s->read_model);
    if ((rc = ingest_src_init(&s->is, ctx, "account-command",
                              (uint64_t)s->max_pending, (uint64_t)s->segment)))
        return rc;
    s->is.keep = true;
    if ((rc = fold_log(s)))
        return rc;
    flow_log(ctx, "command log: %llu accounts folded",
             (unsigned long long)s->naccts);
    int port;
    bool v6;
    if ((rc = ingest_listen(ctx, s->host, s->port, on_connection, s, &s->server,
                            &port, &v6)))
        return rc;
    snprintf(addr, sizeof(addr), "%s%s%s", v6 ? "[" : "", s->host,
             v6 ? "]" : "");
    size_t ulen = strlen(addr) + 48;
    s->url = malloc(ulen);
    if (!s->url)
        return -FLOW_ENOMEM;
    snprintf(s->url, ulen, "http://%s:%d/v1/accounts", addr, port);
    flow_report_url(ctx, s->url);
    flow_log(ctx, "listening on %s", s->url);
    report(s);
    return 0;
}

/* The runtime calls no fini after a failed init: undo here. */
static int init(flow_ctx *ctx)
{
    int rc = init_listen(ctx);
    if (rc)
        fini(ctx);
    return rc;
}

static int on_tick(flow_ctx *ctx)
{
    struct web *s = flow_state(ctx);
    report(s);
    return ingest_src_tick(&s->is);
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct web *s = flow_state(ctx);
    return ingest_src_snapshot(&s->is, out);
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct web *s = flow_state(ctx);
    return ingest_src_restore(&s->is, data, len);
}

static void on_commit(flow_ctx *ctx, uint64_t n)
{
    struct web *s = flow_state(ctx);
    ingest_src_commit(&s->is, n);
}

static void fini(flow_ctx *ctx)
{
    struct web *s = flow_state(ctx);
    if (s->is.ctx)
        report(s);
    while (s->conns) {
        struct conn *c = s->conns;
        c->s = NULL;
        conn_close(c);
    }
    if (s->server) {
        s->server->data = NULL;
        uv_close((uv_handle_t *)s->server, server_closed);
        s->server = NULL;
    }
    if (s->is.ctx)
        ingest_src_fini(&s->is);
    sqlite3_close(s->db);
    s->db = NULL;
    flow_buf_fini(&s->rec);
    flow_buf_fini(&s->scratch);
    flow_buf_fini(&s->body);
    free(s->accts);
    s->accts = NULL;
    free(s->url);
    s->url = NULL;
}

const flow_app_desc account_web_app = {
    .name = "account-web",
    .role = FLOW_ROLE_SOURCE,
    .description = "The accounts' web role: a HAL API that takes account "
                   "commands into a durable command log, emits them as "
                   "events, and reads accounts and their event logs from "
                   "the read model.",
    .options = options,
    .state_size = sizeof(struct web),
    .init = init,
    .on_tick = on_tick,
    .tick_us = 5000,
    .snapshot = snapshot,
    .restore = restore,
    .on_commit = on_commit,
    .fini = fini,
};
