/*
 * account-view - the accounts' read model: folds the applied events of
 * account-events into a SQLite database (WAL mode) that account-web reads.
 *
 * Each applied event updates its account's row in `accounts` (state,
 * balance, version = its seq, names and email from ACCOUNT_CREATED) and
 * adds one row to `events` (account, seq, type, issued_ms, applied_ms,
 * the payload as JSON). An event whose (account, seq) the database holds
 * already is a duplicate: skipped and counted in "dups". As account-events
 * applies each account's sequence numbers in increasing order, this key
 * tells a replayed event from a new one whatever the input channels, so a
 * replay never applies an event twice.
 *
 * Under a guarantee the events of checkpoint n are written at
 * on_checkpoint(n) in one transaction that also records n in the progress
 * table flow_progress (docs/apps.md "account-view"); without one, pending
 * events are written every tick. The lag from command to read model
 * (applied_ms - issued_ms) is reported as the figures lag_p50_ms,
 * lag_p99_ms, lag_max_ms and lag_last_ms.
 */
#include "flow/app.h"
#include "flow/mpjson.h"
#include "lathist.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct account_view {
    const char *read_model; /* --read-model */
    int64_t batch_size;     /* --batch-size */
    sqlite3 *db;
    sqlite3_stmt *ins_event, *upsert, *progress;
    bool guaranteed;
    /* Pending payloads: u32 length then the bytes, one per event. */
    flow_buf pending;
    size_t npending;
    flow_buf json;
    struct lathist lag; /* in µs, as lathist counts */
    int64_t lag_last_ms, lag_max_ms;
    uint64_t applied, dups;
};

static const flow_option options[] = {
    { .name = "read-model",
      .type = FLOW_OPT_PATH_APPEND,
      .required = true,
      FLOW_OPT_FIELD(struct account_view, read_model),
      .description = "The read model's SQLite database (created if missing, "
                     "WAL mode), which account-web reads." },
    { .name = "batch-size",
      .type = FLOW_OPT_INT,
      .def = "1000",
      .min = "1",
      .max = "1000000",
      FLOW_OPT_FIELD(struct account_view, batch_size),
      .description = "Without a guarantee, events per transaction (pending "
                     "events are also written every 100 ms)." },
    { .name = NULL },
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY, "
    "first_name TEXT, last_name TEXT, email TEXT, state TEXT NOT NULL, "
    "balance INTEGER NOT NULL, version INTEGER NOT NULL, "
    "updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events(account INTEGER NOT NULL, "
    "seq INTEGER NOT NULL, type TEXT NOT NULL, issued_ms INTEGER NOT NULL, "
    "applied_ms INTEGER NOT NULL, payload TEXT NOT NULL, "
    "PRIMARY KEY(account, seq));"
    "CREATE TABLE IF NOT EXISTS flow_progress(stream TEXT NOT NULL, "
    "label TEXT NOT NULL, instance INTEGER NOT NULL, "
    "checkpoint INTEGER NOT NULL, applied INTEGER NOT NULL, "
    "PRIMARY KEY(stream, label, instance));";

/* An account's row moves forward only: a newer version replaces it, the
 * names of ACCOUNT_CREATED stay when later events carry none. */
static const char upsert_sql[] =
    "INSERT INTO accounts(id, first_name, last_name, email, state, balance, "
    "version, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT(id) DO UPDATE SET "
    "first_name = coalesce(excluded.first_name, first_name), "
    "last_name = coalesce(excluded.last_name, last_name), "
    "email = coalesce(excluded.email, email), state = excluded.state, "
    "balance = excluded.balance, version = excluded.version, "
    "updated_ms = excluded.updated_ms WHERE excluded.version > version";

static const char ins_event_sql[] =
    "INSERT OR IGNORE INTO events(account, seq, type, issued_ms, "
    "applied_ms, payload) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";

static const char progress_sql[] =
    "INSERT INTO flow_progress(stream, label, instance, checkpoint, applied) "
    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(stream, label, instance) DO "
    "UPDATE SET checkpoint = excluded.checkpoint, applied = excluded.applied";

static int db_exec(flow_ctx *ctx, struct account_view *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        flow_log(ctx, "read model %s: %.60s...: %s", s->read_model, sql,
                 err ? err : sqlite3_errmsg(s->db));
        sqlite3_free(err);
        return -FLOW_EIO;
    }
    return 0;
}

static int prepare(flow_ctx *ctx, struct account_view *s, const char *sql,
                   sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        flow_log(ctx, "read model %s: %s", s->read_model,
                 sqlite3_errmsg(s->db));
        return -FLOW_EIO;
    }
    return 0;
}

static void report(flow_ctx *ctx, struct account_view *s);

/* The events this instance applied in its earlier runs, as its progress
 * row says (0 when it has none): the figure "applied" goes on from it. */
static int read_applied(flow_ctx *ctx, struct account_view *s)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(ctx, s,
                     "SELECT applied FROM flow_progress WHERE stream = ?1 "
                     "AND label = ?2 AND instance = ?3",
                     &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, flow_stream(ctx), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, flow_label(ctx), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, flow_instance(ctx));
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        s->applied = (uint64_t)sqlite3_column_int64(st, 0);
    else if (step != SQLITE_DONE)
        rc = -FLOW_EIO;
    if (rc < 0)
        flow_log(ctx, "read model %s: flow_progress: %s", s->read_model,
                 sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc;
}

static int init(flow_ctx *ctx)
{
    struct account_view *s = flow_state(ctx);
    flow_buf_init(&s->pending);
    flow_buf_init(&s->json);
    s->guaranteed = flow_guaranteed(ctx);
    const flow_path_rules *rules = flow_path_rules_of(ctx);
    /* A relative path resolves under the instance's directory, as every
     * path an app is given does. */
    char path[4096];
    if (s->read_model[0] != '/' && rules->base)
        snprintf(path, sizeof(path), "%s/%s", rules->base, s->read_model);
    else
        snprintf(path, sizeof(path), "%s", s->read_model);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        flow_log(ctx, "--read-model: cannot open %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return -FLOW_EIO;
    }
    /* account-web reads while this writes: a busy database is waited for. */
    sqlite3_busy_timeout(s->db, 10000);
    int rc = db_exec(ctx, s, schema);
    if (rc == 0)
        rc = prepare(ctx, s, ins_event_sql, &s->ins_event);
    if (rc == 0)
        rc = prepare(ctx, s, upsert_sql, &s->upsert);
    if (rc == 0)
        rc = prepare(ctx, s, progress_sql, &s->progress);
    if (rc == 0 && s->guaranteed)
        rc = read_applied(ctx, s);
    report(ctx, s);
    return rc;
}

/* The fields of an applied event, borrowed from its payload. */
struct applied {
    int64_t account, seq, balance, issued_ms;
    bool has_issued;
    flow_mp_value type, state, first, last, email;
};

static bool find_int(const uint8_t *p, size_t len, const char *key,
                     int64_t *out)
{
    flow_mp_value v;
    return flow_mp_map_find(p, len, key, &v) == 0 && flow_mp_as_int(&v, out);
}

static bool find_str(const uint8_t *p, size_t len, const char *key,
                     flow_mp_value *v)
{
    return flow_mp_map_find(p, len, key, v) == 0 && v->type == FLOW_MP_STR;
}

static void bind_opt_str(sqlite3_stmt *st, int k, bool has,
                         const flow_mp_value *v)
{
    if (has)
        sqlite3_bind_text(st, k, v->str, (int)v->len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, k);
}

static void count_lag(struct account_view *s, int64_t lag_ms)
{
    if (lag_ms < 0)
        lag_ms = 0; /* clock skew between the two roles' hosts */
    lathist_add(&s->lag, lag_ms * 1000);
    s->lag_last_ms = lag_ms;
    if (lag_ms > s->lag_max_ms)
        s->lag_max_ms = lag_ms;
}

/* Folds one applied event into the open transaction; *dup when the
 * database holds it already. Counts the lag only once it is committed
 * (by the caller), so *lag_ms is set for a new event with issued_ms. */
static int fold(flow_ctx *ctx, struct account_view *s, const uint8_t *p,
                size_t len, int64_t applied_ms, bool *dup, int64_t *lag_ms)
{
    struct applied a;
    memset(&a, 0, sizeof(a));
    *dup = false;
    *lag_ms = -1;
    if (!find_int(p, len, "account", &a.account) ||
        !find_int(p, len, "seq", &a.seq) ||
        !find_str(p, len, "type", &a.type) ||
        !find_str(p, len, "state", &a.state) ||
        !find_int(p, len, "balance", &a.balance))
        return -FLOW_EMALFORMED;
    a.has_issued = find_int(p, len, "issued_ms", &a.issued_ms);
    bool has_first = find_str(p, len, "first_name", &a.first);
    bool has_last = find_str(p, len, "last_name", &a.last);
    bool has_email = find_str(p, len, "email", &a.email);
    flow_buf_reset(&s->json);
    int rc = flow_mpjson_append(&s->json, p, len);
    if (rc < 0)
        return rc;

    sqlite3_stmt *st = s->ins_event;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, a.account);
    sqlite3_bind_int64(st, 2, a.seq);
    sqlite3_bind_text(st, 3, a.type.str, (int)a.type.len, SQLITE_STATIC);
    /* An event that did not come through account-web has no issued_ms:
     * its time is when it was applied, and it gives no lag sample. */
    sqlite3_bind_int64(st, 4, a.has_issued ? a.issued_ms : applied_ms);
    sqlite3_bind_int64(st, 5, applied_ms);
    sqlite3_bind_text(st, 6, (const char *)s->json.data, (int)s->json.len,
                      SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    if (sqlite3_changes(s->db) == 0) {
        *dup = true;
        return 0;
    }
    st = s->upsert;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, a.account);
    bind_opt_str(st, 2, has_first, &a.first);
    bind_opt_str(st, 3, has_last, &a.last);
    bind_opt_str(st, 4, has_email, &a.email);
    sqlite3_bind_text(st, 5, a.state.str, (int)a.state.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, a.balance);
    sqlite3_bind_int64(st, 7, a.seq);
    sqlite3_bind_int64(st, 8, applied_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    if (a.has_issued)
        *lag_ms = applied_ms - a.issued_ms;
    return 0;
fail:
    flow_log(ctx, "read model %s: account %" PRId64 " seq %" PRId64 ": %s",
             s->read_model, a.account, a.seq, sqlite3_errmsg(s->db));
    return -FLOW_EIO;
}

static int write_progress(flow_ctx *ctx, struct account_view *s, uint64_t n,
                          uint64_t applied)
{
    sqlite3_stmt *st = s->progress;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, flow_stream(ctx), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, flow_label(ctx), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, flow_instance(ctx));
    sqlite3_bind_int64(st, 4, (int64_t)n);
    sqlite3_bind_int64(st, 5, (int64_t)applied);
    if (sqlite3_step(st) != SQLITE_DONE) {
        flow_log(ctx, "read model %s: flow_progress: %s", s->read_model,
                 sqlite3_errmsg(s->db));
        return -FLOW_EIO;
    }
    return 0;
}

/* A quantile of the lags in ms. */
static uint64_t lag_quantile(const struct account_view *s, double q)
{
    return (uint64_t)(lathist_quantile(&s->lag, q) / 1000.0);
}

static void report(flow_ctx *ctx, struct account_view *s)
{
    flow_report_figure(ctx, "applied", s->applied);
    flow_report_figure(ctx, "lag_p50_ms", lag_quantile(s, 0.5));
    flow_report_figure(ctx, "lag_p99_ms", lag_quantile(s, 0.99));
    flow_report_figure(ctx, "lag_max_ms", (uint64_t)s->lag_max_ms);
    flow_report_figure(ctx, "lag_last_ms", (uint64_t)s->lag_last_ms);
}

/* Writes the pending events (and, under a guarantee, progress n) in one
 * transaction; on failure rolls back and keeps them pending. */
static int flush(flow_ctx *ctx, struct account_view *s, uint64_t n)
{
    if (s->npending == 0 && !s->guaranteed)
        return 0;
    int64_t applied_ms = flow_now_us(ctx) / 1000;
    int rc = db_exec(ctx, s, "BEGIN IMMEDIATE");
    if (rc < 0)
        return rc;
    /* The lags are counted once the transaction committed. */
    int64_t *lags = calloc(s->npending ? s->npending : 1, sizeof(int64_t));
    if (!lags) {
        db_exec(ctx, s, "ROLLBACK");
        return -FLOW_ENOMEM;
    }
    size_t at = 0;
    uint64_t applied = 0, dups = 0;
    for (size_t i = 0; i < s->npending && rc == 0; i++) {
        uint32_t len;
        bool dup;
        memcpy(&len, s->pending.data + at, 4);
        rc = fold(ctx, s, s->pending.data + at + 4, len, applied_ms, &dup,
                  &lags[i]);
        if (rc == -FLOW_EMALFORMED) {
            /* The checks of on_event let only well-formed events here. */
            rc = -FLOW_EIO;
        }
        dup ? dups++ : applied++;
        at += 4 + len;
    }
    if (rc == 0 && s->guaranteed)
        rc = write_progress(ctx, s, n, s->applied + applied);
    if (rc == 0)
        rc = db_exec(ctx, s, "COMMIT");
    if (rc < 0) {
        db_exec(ctx, s, "ROLLBACK");
        free(lags);
        return rc;
    }
    for (size_t i = 0; i < s->npending; i++)
        if (lags[i] >= 0)
            count_lag(s, lags[i]);
    free(lags);
    s->applied += applied;
    s->dups += dups;
    if (dups)
        flow_count_dups(ctx, dups);
    s->npending = 0;
    flow_buf_reset(&s->pending);
    report(ctx, s);
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct account_view *s = flow_state(ctx);
    int64_t account, seq, balance;
    flow_mp_value type, state;
    if (!find_int(ev->payload, ev->payload_len, "account", &account) ||
        !find_int(ev->payload, ev->payload_len, "seq", &seq) ||
        !find_str(ev->payload, ev->payload_len, "type", &type) ||
        !find_str(ev->payload, ev->payload_len, "state", &state) ||
        !find_int(ev->payload, ev->payload_len, "balance", &balance))
        return flow_emit_error(ctx, ev,
                               "not an applied account event: the payload "
                               "needs account, seq, type, state and balance "
                               "(account-events' output)");
    /* What the events table cannot hold is refused here, not at the
     * checkpoint, whose transaction would then fail again and again. */
    flow_buf_reset(&s->json);
    if (flow_mpjson_append(&s->json, ev->payload, ev->payload_len) < 0)
        return flow_emit_error(ctx, ev,
                               "the payload cannot be written as JSON");
    uint32_t len = ev->payload_len;
    flow_buf_append(&s->pending, &len, 4);
    flow_buf_append(&s->pending, ev->payload, len);
    if (s->pending.err)
        return s->pending.err;
    s->npending++;
    if (!s->guaranteed && s->npending >= (size_t)s->batch_size)
        return flush(ctx, s, 0);
    return 0;
}

static int on_tick(flow_ctx *ctx)
{
    struct account_view *s = flow_state(ctx);
    if (!s->guaranteed && s->npending > 0 && flush(ctx, s, 0) < 0)
        flow_log(ctx, "%zu events kept pending, retried at the next tick",
                 s->npending);
    return FLOW_TICK_IDLE;
}

/* The read model is the state; the snapshot holds the checkpoint alone. */
static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    flow_mp_put_uint(out, flow_checkpoint_id(ctx));
    return out->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct account_view *s = flow_state(ctx);
    /* What was pending was never committed: the replay brings it again. */
    s->npending = 0;
    flow_buf_reset(&s->pending);
    if (len > 0) {
        flow_mp_reader r;
        flow_mp_value v;
        flow_mp_reader_init(&r, data, len);
        if (flow_mp_read(&r, &v) < 0 || v.type != FLOW_MP_INT) {
            flow_log(ctx, "the snapshot is not one of this sink's");
            return -FLOW_EMALFORMED;
        }
        flow_log(ctx,
                 "restored checkpoint %" PRIu64 ": events the read model "
                 "holds already are skipped as they come again",
                 v.u);
    }
    return 0;
}

static int on_checkpoint(flow_ctx *ctx, uint64_t n)
{
    struct account_view *s = flow_state(ctx);
    return flush(ctx, s, n);
}

static void fini(flow_ctx *ctx)
{
    struct account_view *s = flow_state(ctx);
    /* Under a guarantee, what is pending at exit was never part of a
     * checkpoint: the replay brings it again. */
    if (!s->guaranteed && s->npending > 0 && flush(ctx, s, 0) < 0)
        flow_log(ctx, "%zu events not written at exit", s->npending);
    sqlite3_finalize(s->ins_event);
    sqlite3_finalize(s->upsert);
    sqlite3_finalize(s->progress);
    if (s->db)
        sqlite3_close(s->db);
    flow_buf_fini(&s->pending);
    flow_buf_fini(&s->json);
}

const flow_app_desc account_view_app = {
    .name = "account-view",
    .role = FLOW_ROLE_SINK,
    .description = "Folds account-events' applied events into the accounts' "
                   "read model (SQLite), exactly once under a guarantee.",
    .options = options,
    .state_size = sizeof(struct account_view),
    .init = init,
    .on_event = on_event,
    .on_tick = on_tick,
    .tick_us = 100000,
    .snapshot = snapshot,
    .restore = restore,
    .on_checkpoint = on_checkpoint,
    .fini = fini,
};
