/*
 * sql - writes one row per event to a table of SQLite (--url=sqlite:PATH)
 * or PostgreSQL (--url=postgresql://...), the payload fields named by
 * --columns going to their columns.
 *
 * Without a guarantee, rows are inserted in batches, a transaction per
 * batch (--batch-size, and whatever is pending every tick). Under a
 * guarantee, the rows of checkpoint n are inserted at on_checkpoint(n) in
 * one transaction that also records, in the progress table, how many
 * events of each input channel the sink has consumed up to barrier n. A
 * restore compares those counts with its snapshot's and skips the events
 * the database already holds (docs/apps.md "sql": the argument).
 */
#include "fieldpath.h"
#include "flow/app.h"
#include "flow/mpjson.h"
#include "sqlmap.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAN_MAX 64

/* An input channel (producer label, instance): the events of one are
 * replayed in the same order after a restore. */
struct chan {
    char name[160]; /* "LABEL/INSTANCE" */
    uint64_t count; /* events consumed, cumulative since the first run */
    uint64_t skip;  /* events to skip: the database has them already */
};

struct sqlsink {
    const char *url;      /* --url */
    const char *table;    /* --table */
    const char *columns;  /* --columns */
    const char *progress; /* --progress-table */
    int64_t batch_size;   /* --batch-size */
    struct sql_url u;
    struct sql_columns cols;
    sqlite3 *lite;
    sqlite3_stmt *ins;
    PGconn *pg;
    bool guaranteed;
    /* Pending payloads: u32 length then the bytes, one per row. */
    flow_buf pending;
    size_t npending;
    struct chan chan[CHAN_MAX];
    size_t nchan;
    /* A PostgreSQL COMMIT whose answer was lost (the connection broke):
     * whether it took effect is read back from the progress table
     * before the next transaction. doubt_text is the consumed counts it
     * recorded; its rows are the first doubt_rows pending (doubt_bytes
     * bytes). */
    bool doubt;
    size_t doubt_rows, doubt_bytes;
    flow_buf doubt_text;
    flow_buf last_text; /* the counts of the last write_progress */
    uint64_t rows;      /* rows written */
    uint64_t skipped;   /* events skipped after a restore */
    flow_buf sql, val;
};

static const flow_option options[] = {
    { .name = "url",
      .type = FLOW_OPT_STRING,
      .def = "sqlite:flow.db",
      FLOW_OPT_FIELD(struct sqlsink, url),
      .description = "The database: sqlite:PATH (under the path rules) or "
                     "postgresql://USER@HOST:PORT/DB (a libpq URL)." },
    { .name = "table",
      .type = FLOW_OPT_STRING,
      .required = true,
      FLOW_OPT_FIELD(struct sqlsink, table),
      .description = "The table rows go to (it must exist; SCHEMA.TABLE "
                     "allowed)." },
    { .name = "columns",
      .type = FLOW_OPT_STRING,
      .required = true,
      FLOW_OPT_FIELD(struct sqlsink, columns),
      .description = "Payload field to column, comma-separated: "
                     "FIELD:COLUMN, or FIELD alone for a column of the same "
                     "name (e.g. account:account_id,balance,state)." },
    { .name = "progress-table",
      .type = FLOW_OPT_STRING,
      .def = "flow_progress",
      FLOW_OPT_FIELD(struct sqlsink, progress),
      .description = "Under a guarantee, the table (created if missing) "
                     "where each transaction records the checkpoint and "
                     "the input consumed." },
    { .name = "batch-size",
      .type = FLOW_OPT_INT,
      .def = "1000",
      .min = "1",
      .max = "1000000",
      FLOW_OPT_FIELD(struct sqlsink, batch_size),
      .description = "Without a guarantee, rows per transaction (pending "
                     "rows are also written every 100 ms)." },
    { .name = NULL },
};

/* ---- The two databases ------------------------------------------------ */

static int lite_exec(flow_ctx *ctx, struct sqlsink *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->lite, sql, NULL, NULL, &err) != SQLITE_OK) {
        flow_log(ctx, "sqlite %s: %s: %s", s->u.target, sql,
                 err ? err : sqlite3_errmsg(s->lite));
        sqlite3_free(err);
        return -FLOW_EIO;
    }
    return 0;
}

static int pg_exec(flow_ctx *ctx, struct sqlsink *s, const char *sql)
{
    PGresult *r = PQexec(s->pg, sql);
    int st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        flow_log(ctx, "postgresql: %s: %s", sql, PQerrorMessage(s->pg));
        rc = -FLOW_EIO;
    }
    PQclear(r);
    return rc;
}

/* The server's notices (e.g. that the progress table exists already) are
 * not the user's concern. */
static void pg_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int db_exec(flow_ctx *ctx, struct sqlsink *s, const char *sql)
{
    return s->lite ? lite_exec(ctx, s, sql) : pg_exec(ctx, s, sql);
}

/* The INSERT, with placeholders ?1.. (SQLite) or $1.. (PostgreSQL). */
static int build_insert(struct sqlsink *s)
{
    flow_buf *b = &s->sql;
    flow_buf_reset(b);
    flow_buf_append(b, "INSERT INTO ", 12);
    sql_quote_ident(b, s->table);
    flow_buf_append(b, " (", 2);
    for (size_t i = 0; i < s->cols.n; i++) {
        if (i)
            flow_buf_append(b, ", ", 2);
        sql_quote_ident(b, s->cols.col[i].column);
    }
    flow_buf_append(b, ") VALUES (", 10);
    for (size_t i = 0; i < s->cols.n; i++) {
        char ph[16];
        int n = snprintf(ph, sizeof(ph), "%s%c%zu", i ? ", " : "",
                         s->lite ? '?' : '$', i + 1);
        flow_buf_append(b, ph, (size_t)n);
    }
    flow_buf_append(b, ")", 2); /* with the NUL */
    return b->err;
}

static int db_open(flow_ctx *ctx, struct sqlsink *s)
{
    int rc = build_insert(s);
    if (rc < 0)
        return rc;
    if (s->u.kind == SQL_SQLITE) {
        char why[512];
        const flow_path_rules *rules = flow_path_rules_of(ctx);
        /* The database is appended to: the directories on the way must be
         * real ones under the rules, the file missing or writable. */
        if (flow_path_probe(rules, s->u.target, FLOW_PATH_APPEND, why,
                            sizeof(why)) < 0) {
            flow_log(ctx, "--url: %s", why);
            return -FLOW_EUSAGE;
        }
        /* A relative path resolves under the instance's directory, as
         * every path an app is given does. */
        char path[4096];
        if (s->u.target[0] != '/' && rules->base)
            snprintf(path, sizeof(path), "%s/%s", rules->base, s->u.target);
        else
            snprintf(path, sizeof(path), "%s", s->u.target);
        if (sqlite3_open_v2(path, &s->lite,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                SQLITE_OPEN_NOFOLLOW,
                            NULL) != SQLITE_OK) {
            flow_log(ctx, "--url: cannot open %s: %s", path,
                     s->lite ? sqlite3_errmsg(s->lite) : "out of memory");
            return -FLOW_EIO;
        }
        sqlite3_busy_timeout(s->lite, 10000);
        if (sqlite3_prepare_v2(s->lite, (const char *)s->sql.data, -1, &s->ins,
                               NULL) != SQLITE_OK) {
            flow_log(ctx, "sqlite %s: table %s with columns %s: %s",
                     s->u.target, s->table, s->columns,
                     sqlite3_errmsg(s->lite));
            return -FLOW_EIO;
        }
    } else {
        s->pg = PQconnectdb(s->u.target);
        if (!s->pg || PQstatus(s->pg) != CONNECTION_OK) {
            flow_log(ctx, "--url: cannot connect to PostgreSQL: %s",
                     s->pg ? PQerrorMessage(s->pg) : "out of memory");
            return -FLOW_EIO;
        }
        PQsetNoticeProcessor(s->pg, pg_notice, NULL);
        PGresult *r = PQprepare(s->pg, "flow_ins", (const char *)s->sql.data,
                                (int)s->cols.n, NULL);
        int st = PQresultStatus(r);
        PQclear(r);
        if (st != PGRES_COMMAND_OK) {
            flow_log(ctx, "postgresql: table %s with columns %s: %s", s->table,
                     s->columns, PQerrorMessage(s->pg));
            return -FLOW_EIO;
        }
    }
    if (!s->guaranteed)
        return 0;
    flow_buf *b = &s->sql;
    flow_buf_reset(b);
    flow_buf_append(b, "CREATE TABLE IF NOT EXISTS ", 27);
    sql_quote_ident(b, s->progress);
    const char *cols = " (stream TEXT NOT NULL, label TEXT NOT NULL, "
                       "instance INTEGER NOT NULL, checkpoint BIGINT NOT "
                       "NULL, consumed TEXT NOT NULL, "
                       "PRIMARY KEY (stream, label, instance))";
    flow_buf_append(b, cols, strlen(cols) + 1);
    if (b->err)
        return b->err;
    return db_exec(ctx, s, (const char *)b->data);
}

/* One row's values from a payload: text in s->val, NUL-separated;
 * isnull[i] when the field is missing or nil. */
static int row_values(struct sqlsink *s, const uint8_t *p, size_t len,
                      size_t *off, bool *isnull, int64_t *ints, int *kinds)
{
    flow_buf *b = &s->val;
    flow_buf_reset(b);
    for (size_t i = 0; i < s->cols.n; i++) {
        flow_mp_value v;
        off[i] = b->len;
        isnull[i] = false;
        kinds[i] = 0; /* text */
        int rc = fieldpath_find(p, len, s->cols.col[i].field, &v);
        if (rc == -FLOW_ENOTFOUND || (rc == 0 && v.type == FLOW_MP_NIL)) {
            isnull[i] = true;
            flow_buf_append(b, "", 1);
            continue;
        }
        if (rc < 0)
            return rc;
        if (v.type == FLOW_MP_ARRAY || v.type == FLOW_MP_MAP) {
            if ((rc = flow_mpjson_append(b, v.raw, v.raw_len)) < 0)
                return rc;
        } else {
            char tmp[64];
            const char *t;
            int n = fieldpath_text(&v, tmp, sizeof(tmp), &t);
            if (n < 0)
                return -FLOW_EMALFORMED;
            if (v.type != FLOW_MP_STR && flow_mp_as_int(&v, &ints[i]))
                kinds[i] = 1;
            if (v.type == FLOW_MP_BOOL) {
                /* Stored as 1/0 in SQLite, true/false in PostgreSQL. */
                ints[i] = strcmp(t, "true") == 0;
                kinds[i] = 2;
            }
            flow_buf_append(b, t, (size_t)n);
        }
        flow_buf_append(b, "", 1);
    }
    return b->err;
}

static int insert_row(flow_ctx *ctx, struct sqlsink *s, const uint8_t *p,
                      size_t len)
{
    size_t off[SQL_COLUMNS_MAX];
    bool isnull[SQL_COLUMNS_MAX];
    int64_t ints[SQL_COLUMNS_MAX];
    int kinds[SQL_COLUMNS_MAX];
    int rc = row_values(s, p, len, off, isnull, ints, kinds);
    if (rc < 0)
        return rc;
    const char *base = (const char *)s->val.data;
    if (s->lite) {
        sqlite3_reset(s->ins);
        for (size_t i = 0; i < s->cols.n; i++) {
            int k = (int)i + 1;
            if (isnull[i])
                sqlite3_bind_null(s->ins, k);
            else if (kinds[i])
                sqlite3_bind_int64(s->ins, k, ints[i]);
            else
                sqlite3_bind_text(s->ins, k, base + off[i], -1, SQLITE_STATIC);
        }
        if (sqlite3_step(s->ins) != SQLITE_DONE) {
            flow_log(ctx, "sqlite %s: insert into %s: %s", s->u.target,
                     s->table, sqlite3_errmsg(s->lite));
            return -FLOW_EIO;
        }
        return 0;
    }
    const char *vals[SQL_COLUMNS_MAX];
    for (size_t i = 0; i < s->cols.n; i++) {
        vals[i] = isnull[i] ? NULL : base + off[i];
        if (kinds[i] == 2)
            vals[i] = ints[i] ? "true" : "false";
    }
    PGresult *r =
        PQexecPrepared(s->pg, "flow_ins", (int)s->cols.n, vals, NULL, NULL, 0);
    int st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK) {
        flow_log(ctx, "postgresql: insert into %s: %s", s->table,
                 PQerrorMessage(s->pg));
        return -FLOW_EIO;
    }
    return 0;
}

/* The channel counts as progress text: "NAME COUNT\n" per channel. */
static int consumed_text(struct sqlsink *s, flow_buf *b)
{
    flow_buf_reset(b);
    for (size_t i = 0; i < s->nchan; i++) {
        char line[200];
        int n = snprintf(line, sizeof(line), "%s %" PRIu64 "\n",
                         s->chan[i].name, s->chan[i].count);
        flow_buf_append(b, line, (size_t)n);
    }
    flow_buf_append(b, "", 1);
    return b->err;
}

static int write_progress(flow_ctx *ctx, struct sqlsink *s, uint64_t n)
{
    flow_buf text;
    flow_buf_init(&text);
    int rc = consumed_text(s, &text);
    if (rc < 0)
        goto out;
    flow_buf_reset(&s->last_text);
    flow_buf_append(&s->last_text, text.data, text.len);
    if ((rc = s->last_text.err) < 0)
        goto out;
    flow_buf *b = &s->sql;
    flow_buf_reset(b);
    flow_buf_append(b, "INSERT INTO ", 12);
    sql_quote_ident(b, s->progress);
    char ph[128];
    snprintf(ph, sizeof(ph),
             " (stream, label, instance, checkpoint, consumed) VALUES "
             "(%c1, %c2, %c3, %c4, %c5)",
             s->lite ? '?' : '$', s->lite ? '?' : '$', s->lite ? '?' : '$',
             s->lite ? '?' : '$', s->lite ? '?' : '$');
    flow_buf_append(b, ph, strlen(ph));
    const char *up = " ON CONFLICT (stream, label, instance) DO UPDATE SET "
                     "checkpoint = excluded.checkpoint, "
                     "consumed = excluded.consumed";
    flow_buf_append(b, up, strlen(up) + 1);
    if ((rc = b->err) < 0)
        goto out;
    char inst[16], ck[24];
    snprintf(inst, sizeof(inst), "%" PRIu32, flow_instance(ctx));
    snprintf(ck, sizeof(ck), "%" PRIu64, n);
    const char *vals[5] = { flow_stream(ctx), flow_label(ctx), inst, ck,
                            (const char *)text.data };
    if (s->lite) {
        sqlite3_stmt *st = NULL;
        rc = -FLOW_EIO;
        if (sqlite3_prepare_v2(s->lite, (const char *)b->data, -1, &st, NULL) ==
            SQLITE_OK) {
            for (int i = 0; i < 5; i++)
                sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_DONE)
                rc = 0;
        }
        if (rc < 0)
            flow_log(ctx, "sqlite %s: progress table %s: %s", s->u.target,
                     s->progress, sqlite3_errmsg(s->lite));
        sqlite3_finalize(st);
    } else {
        PGresult *r = PQexecParams(s->pg, (const char *)b->data, 5, NULL, vals,
                                   NULL, NULL, 0);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -FLOW_EIO;
        if (rc < 0)
            flow_log(ctx, "postgresql: progress table %s: %s", s->progress,
                     PQerrorMessage(s->pg));
        PQclear(r);
    }
out:
    flow_buf_fini(&text);
    return rc;
}

/* A PostgreSQL connection that broke (the server restarted) is made
 * again, and the insert prepared again, before the next transaction. */
static int pg_reconnect(flow_ctx *ctx, struct sqlsink *s)
{
    if (!s->pg || PQstatus(s->pg) == CONNECTION_OK)
        return 0;
    PQreset(s->pg);
    if (PQstatus(s->pg) != CONNECTION_OK) {
        flow_log(ctx, "postgresql: connection lost, reconnecting: %s",
                 PQerrorMessage(s->pg));
        return -FLOW_EIO;
    }
    int rc = build_insert(s);
    if (rc < 0)
        return rc;
    PGresult *r = PQprepare(s->pg, "flow_ins", (const char *)s->sql.data,
                            (int)s->cols.n, NULL);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -FLOW_EIO;
    PQclear(r);
    if (rc < 0)
        flow_log(ctx, "postgresql: table %s: %s", s->table,
                 PQerrorMessage(s->pg));
    else
        flow_log(ctx, "postgresql: connected again");
    return rc;
}

static int read_progress(flow_ctx *ctx, struct sqlsink *s, flow_buf *text,
                         bool *found);

/* After a COMMIT in doubt: if the progress table holds the counts it
 * recorded, it took effect and its rows leave the pending ones. */
static int resolve_doubt(flow_ctx *ctx, struct sqlsink *s)
{
    if (!s->doubt)
        return 0;
    flow_buf text;
    flow_buf_init(&text);
    bool found;
    int rc = read_progress(ctx, s, &text, &found);
    if (rc == 0) {
        s->doubt = false;
        if (found && text.len == s->doubt_text.len &&
            memcmp(text.data, s->doubt_text.data, text.len) == 0) {
            flow_buf *b = &s->pending;
            memmove(b->data, b->data + s->doubt_bytes, b->len - s->doubt_bytes);
            b->len -= s->doubt_bytes;
            s->npending -= s->doubt_rows;
            s->rows += s->doubt_rows;
            flow_log(ctx, "the commit in doubt took effect: %zu rows",
                     s->doubt_rows);
        } else {
            flow_log(ctx,
                     "the commit in doubt did not take effect: its "
                     "%zu rows are written again",
                     s->doubt_rows);
        }
    }
    flow_buf_fini(&text);
    return rc;
}

/* Writes the pending rows (and, under a guarantee, progress n) in one
 * transaction; on failure rolls back and keeps them pending. */
static int flush(flow_ctx *ctx, struct sqlsink *s, uint64_t n)
{
    if (s->npending == 0 && !s->guaranteed)
        return 0;
    int rc = pg_reconnect(ctx, s);
    if (rc < 0)
        return rc;
    if ((rc = resolve_doubt(ctx, s)) < 0)
        return rc;
    if (s->npending == 0 && !s->guaranteed)
        return 0;
    rc = db_exec(ctx, s, "BEGIN");
    if (rc < 0)
        return rc;
    size_t at = 0;
    for (size_t i = 0; i < s->npending && rc == 0; i++) {
        uint32_t len;
        memcpy(&len, s->pending.data + at, 4);
        rc = insert_row(ctx, s, s->pending.data + at + 4, len);
        at += 4 + len;
    }
    if (rc == 0 && s->guaranteed)
        rc = write_progress(ctx, s, n);
    if (rc < 0) {
        db_exec(ctx, s, "ROLLBACK");
        return rc;
    }
    rc = db_exec(ctx, s, "COMMIT");
    if (rc < 0 && s->pg && s->guaranteed && PQstatus(s->pg) != CONNECTION_OK) {
        /* The server may have committed before the connection broke. */
        flow_buf_reset(&s->doubt_text);
        flow_buf_append(&s->doubt_text, s->last_text.data, s->last_text.len);
        if (s->doubt_text.err)
            return s->doubt_text.err;
        s->doubt = true;
        s->doubt_rows = s->npending;
        s->doubt_bytes = s->pending.len;
        return rc;
    }
    if (rc < 0) {
        db_exec(ctx, s, "ROLLBACK");
        return rc;
    }
    s->rows += s->npending;
    s->npending = 0;
    flow_buf_reset(&s->pending);
    return 0;
}

/* ---- Callbacks ------------------------------------------------------- */

static int init(flow_ctx *ctx)
{
    struct sqlsink *s = flow_state(ctx);
    char why[512];
    flow_buf_init(&s->pending);
    flow_buf_init(&s->sql);
    flow_buf_init(&s->val);
    flow_buf_init(&s->doubt_text);
    flow_buf_init(&s->last_text);
    s->guaranteed = flow_guaranteed(ctx);
    if (sql_url_parse(s->url, &s->u, why, sizeof(why)) < 0 ||
        sql_columns_parse(s->columns, &s->cols, why, sizeof(why)) < 0) {
        flow_log(ctx, "%s", why);
        return -FLOW_EUSAGE;
    }
    if (!sql_ident_ok(s->table, strlen(s->table), true)) {
        flow_log(ctx,
                 "--table=%s is not a table name (letters, digits, _, "
                 "SCHEMA.TABLE allowed)",
                 s->table);
        return -FLOW_EUSAGE;
    }
    if (!sql_ident_ok(s->progress, strlen(s->progress), true)) {
        flow_log(ctx, "--progress-table=%s is not a table name", s->progress);
        return -FLOW_EUSAGE;
    }
    return db_open(ctx, s);
}

static struct chan *chan_of(struct sqlsink *s, const char *name)
{
    for (size_t i = 0; i < s->nchan; i++)
        if (strcmp(s->chan[i].name, name) == 0)
            return &s->chan[i];
    if (s->nchan == CHAN_MAX)
        return NULL;
    struct chan *c = &s->chan[s->nchan++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    return c;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct sqlsink *s = flow_state(ctx);
    if (s->guaranteed) {
        char name[160];
        snprintf(name, sizeof(name), "%.*s/%" PRIu32, (int)ev->app_len,
                 ev->app ? ev->app : "", ev->instance);
        for (char *p = name; *p; p++)
            if (*p == ' ' || *p == '\n')
                *p = '_';
        struct chan *c = chan_of(s, name);
        if (!c) {
            flow_log(ctx, "more than %d input channels", CHAN_MAX);
            return -FLOW_ENOMEM;
        }
        c->count++;
        if (c->skip > 0) {
            /* Written by a transaction after the checkpoint restored. */
            c->skip--;
            s->skipped++;
            flow_count_dups(ctx, 1);
            return 0;
        }
    }
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
    struct sqlsink *s = flow_state(ctx);
    if (!s->guaranteed && s->npending > 0 && flush(ctx, s, 0) < 0)
        flow_log(ctx, "%zu rows kept pending, retried at the next tick",
                 s->npending);
    return FLOW_TICK_IDLE;
}

/* [checkpoint, [[channel, count], ...]] */
static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct sqlsink *s = flow_state(ctx);
    flow_mp_put_array(out, 2);
    flow_mp_put_uint(out, flow_checkpoint_id(ctx));
    flow_mp_put_array(out, (uint32_t)s->nchan);
    for (size_t i = 0; i < s->nchan; i++) {
        flow_mp_put_array(out, 2);
        flow_mp_put_cstr(out, s->chan[i].name);
        flow_mp_put_uint(out, s->chan[i].count);
    }
    return out->err;
}

/* The consumed counts the database holds for this instance; 0 when it
 * has none (*found false). */
static int read_progress(flow_ctx *ctx, struct sqlsink *s, flow_buf *text,
                         bool *found)
{
    *found = false;
    flow_buf *b = &s->sql;
    flow_buf_reset(b);
    flow_buf_append(b, "SELECT consumed FROM ", 21);
    sql_quote_ident(b, s->progress);
    char tail[96];
    snprintf(tail, sizeof(tail),
             " WHERE stream = %c1 AND label = %c2 AND instance = %c3",
             s->lite ? '?' : '$', s->lite ? '?' : '$', s->lite ? '?' : '$');
    flow_buf_append(b, tail, strlen(tail) + 1);
    if (b->err)
        return b->err;
    char inst[16];
    snprintf(inst, sizeof(inst), "%" PRIu32, flow_instance(ctx));
    const char *vals[3] = { flow_stream(ctx), flow_label(ctx), inst };
    int rc = 0;
    if (s->lite) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->lite, (const char *)b->data, -1, &st, NULL) !=
            SQLITE_OK) {
            rc = -FLOW_EIO;
        } else {
            for (int i = 0; i < 3; i++)
                sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
            int step = sqlite3_step(st);
            if (step == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                flow_buf_append(text, t ? (const char *)t : "",
                                t ? strlen((const char *)t) : 0);
                *found = true;
            } else if (step != SQLITE_DONE) {
                rc = -FLOW_EIO;
            }
        }
        if (rc < 0)
            flow_log(ctx, "sqlite %s: reading %s: %s", s->u.target, s->progress,
                     sqlite3_errmsg(s->lite));
        sqlite3_finalize(st);
    } else {
        PGresult *r = PQexecParams(s->pg, (const char *)b->data, 3, NULL, vals,
                                   NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            flow_log(ctx, "postgresql: reading %s: %s", s->progress,
                     PQerrorMessage(s->pg));
            rc = -FLOW_EIO;
        } else if (PQntuples(r) > 0) {
            const char *t = PQgetvalue(r, 0, 0);
            flow_buf_append(text, t, strlen(t));
            *found = true;
        }
        PQclear(r);
    }
    flow_buf_append(text, "", 1);
    return rc < 0 ? rc : text->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct sqlsink *s = flow_state(ctx);
    s->nchan = 0;
    uint64_t m = 0;
    if (len > 0) {
        flow_mp_reader r;
        flow_mp_value v, a, e;
        flow_mp_reader_init(&r, data, len);
        if (flow_mp_read(&r, &v) < 0 || v.type != FLOW_MP_ARRAY || v.len != 2 ||
            flow_mp_read(&r, &e) < 0 || !flow_mp_as_int(&e, (int64_t *)&m) ||
            flow_mp_read(&r, &a) < 0 || a.type != FLOW_MP_ARRAY)
            goto bad;
        for (uint32_t i = 0; i < a.len; i++) {
            flow_mp_value pair, name, count;
            int64_t c;
            if (flow_mp_read(&r, &pair) < 0 || pair.type != FLOW_MP_ARRAY ||
                pair.len != 2 || flow_mp_read(&r, &name) < 0 ||
                name.type != FLOW_MP_STR || flow_mp_read(&r, &count) < 0 ||
                !flow_mp_as_int(&count, &c) || c < 0)
                goto bad;
            char nm[160];
            snprintf(nm, sizeof(nm), "%.*s", (int)name.len, name.str);
            struct chan *ch = chan_of(s, nm);
            if (!ch)
                goto bad;
            ch->count = (uint64_t)c;
        }
    }
    if (!s->guaranteed)
        return 0;
    flow_buf text;
    flow_buf_init(&text);
    bool found;
    int rc = read_progress(ctx, s, &text, &found);
    if (rc < 0 || !found) {
        flow_buf_fini(&text);
        return rc;
    }
    /* What the database holds beyond the snapshot is skipped. */
    uint64_t held = 0;
    for (char *line = (char *)text.data; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *sp = strrchr(line, ' ');
        if (sp) {
            *sp = '\0';
            uint64_t db = strtoull(sp + 1, NULL, 10);
            struct chan *ch = chan_of(s, line);
            if (ch && db > ch->count) {
                ch->skip = db - ch->count;
                held += ch->skip;
            }
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    flow_buf_fini(&text);
    flow_log(ctx,
             "restored checkpoint %" PRIu64 ": %s holds %" PRIu64
             " more events, skipped as they come again",
             m, s->table, held);
    return 0;
bad:
    flow_log(ctx, "the snapshot is not one of this sink's");
    return -FLOW_EMALFORMED;
}

static int on_checkpoint(flow_ctx *ctx, uint64_t n)
{
    struct sqlsink *s = flow_state(ctx);
    return flush(ctx, s, n);
}

static void fini(flow_ctx *ctx)
{
    struct sqlsink *s = flow_state(ctx);
    /* Under a guarantee, what is pending at exit was never part of a
     * checkpoint: the replay brings it again. */
    if (!s->guaranteed && s->npending > 0 && flush(ctx, s, 0) < 0)
        flow_log(ctx, "%zu rows not written at exit", s->npending);
    if (s->ins)
        sqlite3_finalize(s->ins);
    if (s->lite)
        sqlite3_close(s->lite);
    if (s->pg)
        PQfinish(s->pg);
    flow_buf_fini(&s->pending);
    flow_buf_fini(&s->sql);
    flow_buf_fini(&s->val);
    flow_buf_fini(&s->doubt_text);
    flow_buf_fini(&s->last_text);
}

const flow_app_desc sql_app = {
    .name = "sql",
    .role = FLOW_ROLE_SINK,
    .description = "Writes a row per event to a SQLite or PostgreSQL "
                   "table, exactly once under a guarantee.",
    .options = options,
    .state_size = sizeof(struct sqlsink),
    .init = init,
    .on_event = on_event,
    .on_tick = on_tick,
    .tick_us = 100000,
    .snapshot = snapshot,
    .restore = restore,
    .on_checkpoint = on_checkpoint,
    .fini = fini,
};
