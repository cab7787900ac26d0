#include "store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Each entry moves the schema from version i to i + 1. Never edit a
 * migration that has shipped; add a new one. */
static const char *const migrations[] = {
    /* 1: definitions, deployments, instances, registry, counters. */
    "CREATE TABLE streams ("
    "  name TEXT PRIMARY KEY,"
    "  dsl TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE deployments ("
    "  stream TEXT PRIMARY KEY REFERENCES streams(name) ON DELETE CASCADE,"
    "  properties TEXT NOT NULL,"
    "  deployed_at INTEGER NOT NULL);"
    "CREATE TABLE instances ("
    "  stream TEXT NOT NULL,"
    "  label TEXT NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  pid INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  PRIMARY KEY (stream, label, idx));"
    "CREATE TABLE apps ("
    "  type TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  uri TEXT NOT NULL,"
    "  PRIMARY KEY (type, name));"
    "CREATE TABLE counters ("
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  total INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, name));"
    "CREATE TABLE counter_values ("
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY (name, value));",
    /* 2: counter history, one row per bucket and resolution (seconds). */
    "CREATE TABLE counter_history ("
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  res INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, name, res, ts)) WITHOUT ROWID;",
    /* 3: the endpoints each instance was started with, which a flowd
     * adopting it takes back (a tcp port is not derived from names).
     * Parenthesized: two literals joined on purpose, one migration. */
    ("ALTER TABLE instances ADD COLUMN output TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE instances ADD COLUMN tap TEXT NOT NULL DEFAULT '';"),
    /* 4: the output groups of a named destination's producer instances,
     * one per consumer stream, taken back like the outputs (a tcp port
     * is not derived from names). */
    "CREATE TABLE output_groups ("
    "  stream TEXT NOT NULL,"
    "  label TEXT NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  consumer TEXT NOT NULL,"
    "  endpoint TEXT NOT NULL,"
    "  PRIMARY KEY (stream, label, idx, consumer)) WITHOUT ROWID;",
    /* 5: CURVE key pairs (Z85) of flowd ("flowd.server", "flowd.client")
     * and of each deployment ("stream NAME"), which a restarted flowd
     * and its restarted apps keep using with the apps it adopts. */
    "CREATE TABLE transport_keys ("
    "  owner TEXT PRIMARY KEY,"
    "  public TEXT NOT NULL,"
    "  secret TEXT NOT NULL) WITHOUT ROWID;",
    /* 6: function libraries (flowctl function register), by name, with
     * the resolved path of the shared object. */
    "CREATE TABLE functions ("
    "  name TEXT PRIMARY KEY,"
    "  uri TEXT NOT NULL) WITHOUT ROWID;",
    /* 7: checkpoints (checkpoint/): each region's epoch, its complete
     * checkpoints with the snapshot files they are made of, and the
     * counter values committed by the last complete one, per counter,
     * key ("" the total, "v:VALUE" a field value, "s:SECOND" a second)
     * and instance. */
    ("CREATE TABLE regions ("
     "  id TEXT PRIMARY KEY,"
     "  epoch INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE checkpoints ("
     "  region TEXT NOT NULL,"
     "  id INTEGER NOT NULL,"
     "  epoch INTEGER NOT NULL,"
     "  completed_at INTEGER NOT NULL,"
     "  files TEXT NOT NULL,"
     "  PRIMARY KEY (region, id)) WITHOUT ROWID;"
     "CREATE TABLE checkpoint_counters ("
     "  region TEXT NOT NULL,"
     "  stream TEXT NOT NULL,"
     "  label TEXT NOT NULL,"
     "  instance INTEGER NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  key TEXT NOT NULL,"
     "  value INTEGER NOT NULL,"
     "  PRIMARY KEY (region, stream, label, instance, kind, name, key))"
     "  WITHOUT ROWID;"),
};

#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int srv_store_schema_version(void)
{
    return NMIGRATIONS;
}

static int fail(srv_store *s, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what,
             s->db ? sqlite3_errmsg(s->db) : "no database");
    s->code = s->db ? sqlite3_errcode(s->db) & 0xff : SQLITE_ERROR;
    return -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The kind of a write: its verb and the table it writes ("INSERT
 * counters", "DELETE streams", "COMMIT"). */
static void kind_of(const char *sql, char *buf, size_t len)
{
    char w[4][32];
    int n = 0;

    for (const char *p = sql; *p && n < 4;) {
        while (*p && !isalnum((unsigned char)*p) && *p != '_')
            p++;
        size_t k = 0;
        while (*p && (isalnum((unsigned char)*p) || *p == '_')) {
            if (k + 1 < sizeof w[n])
                w[n][k++] = *p;
            p++;
        }
        w[n][k] = '\0';
        if (k)
            n++;
    }
    const char *table = NULL;
    for (int k = 1; k < n && !table; k++)
        if (strcasecmp(w[k], "INTO") == 0 || strcasecmp(w[k], "FROM") == 0)
            table = k + 1 < n ? w[k + 1] : NULL;
    if (!table && n > 1 && strcasecmp(w[0], "UPDATE") == 0)
        table = w[1];
    if (n == 0)
        snprintf(buf, len, "statement");
    else if (table)
        snprintf(buf, len, "%s %s", w[0], table);
    else
        snprintf(buf, len, "%s", w[0]);
}

/* A write failed: counts it, and logs it when it is the first of its kind
 * in this outage. */
static void write_failed(srv_store *s, const char *sql)
{
    char kind[72];
    srv_store_kind *k = NULL;

    if (s->probing)
        snprintf(kind, sizeof kind, "probe");
    else
        kind_of(sql, kind, sizeof kind);
    for (int j = 0; j < s->nkinds && !k; j++)
        if (strcmp(s->kinds[j].name, kind) == 0)
            k = &s->kinds[j];
    if (!k && s->nkinds < SRV_STORE_KINDS) {
        k = &s->kinds[s->nkinds++];
        snprintf(k->name, sizeof k->name, "%s", kind);
    }
    if (!k)
        k = &s->kinds[SRV_STORE_KINDS - 1];
    if (!s->failing)
        s->failing_since_ms = now_ms();
    s->failing = true;
    s->failed_total++;
    s->last_code = s->code;
    snprintf(s->last_err, sizeof s->last_err, "%s", s->err);
    k->failed++;
    if (!k->logged && !s->quiet)
        fprintf(stderr,
                "flowd: the store %s cannot be written (%s): %s; further "
                "failures of this kind are counted, see GET /about\n",
                s->path, kind, s->err);
    k->logged = true;
}

/* A write succeeded: ends an outage. */
static void write_ok(srv_store *s)
{
    char counts[1024] = "";
    size_t off = 0;

    if (!s->failing)
        return;
    s->failing = false;
    for (int j = 0; j < s->nkinds; j++) {
        if (!s->kinds[j].logged)
            continue;
        s->kinds[j].logged = false;
        int n = snprintf(counts + off, sizeof counts - off, "%s%s: %llu",
                         off ? ", " : "", s->kinds[j].name,
                         (unsigned long long)s->kinds[j].failed);
        if (n > 0 && (size_t)n < sizeof counts - off)
            off += (size_t)n;
    }
    if (!s->quiet)
        fprintf(stderr,
                "flowd: the store %s is written again after %lld ms; "
                "failed writes since flowd started: %s\n",
                s->path, (long long)(now_ms() - s->failing_since_ms), counts);
}

static int get_version(srv_store *s)
{
    sqlite3_stmt *st;
    int v = -1;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL))
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int srv_store_open(srv_store *s, const char *path)
{
    char sql[64];

    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        fail(s, "cannot open the store");
        srv_store_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 2000);
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=ON;",
                     NULL, NULL, NULL))
        return fail(s, "cannot configure the store");
    int v = get_version(s);
    if (v < 0)
        return fail(s, "cannot read the schema version");
    if (v > NMIGRATIONS) {
        snprintf(s->err, sizeof s->err,
                 "the store %s has schema version %d, newer than this "
                 "flowd's %d; use a newer flowd",
                 path, v, NMIGRATIONS);
        return -1;
    }
    for (; v < NMIGRATIONS; v++) {
        if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) ||
            sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL)) {
            char what[64];
            snprintf(what, sizeof what, "migration %d failed", v + 1);
            fail(s, what);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) ||
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) {
            fail(s, "cannot record the schema version");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    s->version = NMIGRATIONS;
    return 0;
}

void srv_store_close(srv_store *s)
{
    if (s->db)
        sqlite3_close_v2(s->db);
    s->db = NULL;
}

static sqlite3_stmt *vquery(srv_store *s, const char *sql, const char *types,
                            va_list ap)
{
    sqlite3_stmt *st;

    if (!s->db) {
        fail(s, "store closed");
        return NULL;
    }
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail(s, "cannot prepare a statement");
        return NULL;
    }
    for (int i = 0; types && types[i]; i++) {
        int rc = SQLITE_OK;
        switch (types[i]) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, i + 1);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        case 'd':
            rc = sqlite3_bind_double(st, i + 1, va_arg(ap, double));
            break;
        default:
            rc = SQLITE_MISUSE;
        }
        if (rc != SQLITE_OK) {
            fail(s, "cannot bind a parameter");
            sqlite3_finalize(st);
            return NULL;
        }
    }
    return st;
}

sqlite3_stmt *srv_store_query(srv_store *s, const char *sql, const char *types,
                              ...)
{
    va_list ap;

    va_start(ap, types);
    sqlite3_stmt *st = vquery(s, sql, types, ap);
    va_end(ap);
    return st;
}

int srv_store_exec(srv_store *s, const char *sql, const char *types, ...)
{
    va_list ap;

    if (s->db && sqlite3_get_autocommit(s->db))
        s->total0 = sqlite3_total_changes(s->db);
    va_start(ap, types);
    sqlite3_stmt *st = vquery(s, sql, types, ap);
    va_end(ap);
    if (!st) {
        write_failed(s, sql);
        srv_store_rollback(s);
        return -1;
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fail(s, "a write failed");
        write_failed(s, sql);
        srv_store_rollback(s);
        return -1;
    }
    /* Only what reached the disk ends an outage: a committed change (a
     * DELETE that matched nothing, or a BEGIN, writes nothing). */
    if (sqlite3_get_autocommit(s->db) &&
        (s->probing || sqlite3_total_changes(s->db) > s->total0))
        write_ok(s);
    return 0;
}

int srv_store_error(const srv_store *s)
{
    return s->code == SQLITE_FULL ? -SRV_ESTOREFULL : -SRV_ESTORE;
}

const char *srv_store_advice(const srv_store *s)
{
    return s->code == SQLITE_FULL
               ? "free space on the store's disk, then retry"
               : "see flowd's log and GET /about, then retry";
}

int srv_store_probe(srv_store *s)
{
    char sql[64];

    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", s->version);
    s->probing = true;
    int rc = srv_store_exec(s, sql, NULL);
    s->probing = false;
    return rc;
}

int srv_store_begin(srv_store *s)
{
    return srv_store_exec(s, "BEGIN IMMEDIATE", NULL);
}

int srv_store_commit(srv_store *s)
{
    return srv_store_exec(s, "COMMIT", NULL);
}

void srv_store_rollback(srv_store *s)
{
    if (s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}
