/*
 * Module tests of account-view: it runs in-process (flow-host threads over
 * inproc://) behind a source that injects applied account events, and the
 * read model it wrote is read back with SQLite.
 */
#include <criterion/criterion.h>

#include "apps.h"

#include "flow/host.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One applied event as account-events emits it. */
struct ev {
    const char *type;
    int account, seq;
    const char *state;
    int balance;
    long long issued_ms; /* 0: none */
};

static const struct ev *inject_events;
static size_t inject_n;

static int inject_tick(flow_ctx *ctx)
{
    for (size_t i = 0; i < inject_n; i++) {
        const struct ev *e = &inject_events[i];
        bool created = strcmp(e->type, "ACCOUNT_CREATED") == 0;
        flow_buf *b = flow_payload_buf(ctx);
        flow_mp_put_map(b, 5 + (e->issued_ms != 0) + 3 * created);
        flow_mp_put_cstr(b, "type");
        flow_mp_put_cstr(b, e->type);
        flow_mp_put_cstr(b, "account");
        flow_mp_put_uint(b, (uint64_t)e->account);
        flow_mp_put_cstr(b, "seq");
        flow_mp_put_uint(b, (uint64_t)e->seq);
        flow_mp_put_cstr(b, "state");
        flow_mp_put_cstr(b, e->state); /* NULL: nil */
        flow_mp_put_cstr(b, "balance");
        flow_mp_put_int(b, e->balance);
        if (e->issued_ms) {
            flow_mp_put_cstr(b, "issued_ms");
            flow_mp_put_int(b, e->issued_ms);
        }
        if (created) {
            flow_mp_put_cstr(b, "first_name");
            flow_mp_put_cstr(b, "Ada");
            flow_mp_put_cstr(b, "last_name");
            flow_mp_put_cstr(b, "Lovelace");
            flow_mp_put_cstr(b, "email");
            flow_mp_put_cstr(b, "ada@example.org");
        }
        cr_assert_eq(flow_emit(ctx, "1", NULL, 0, b->data, b->len), 0);
    }
    return FLOW_TICK_DONE;
}

static const flow_app_desc inject_app = {
    .name = "inject",
    .role = FLOW_ROLE_SOURCE,
    .description = "test source",
    .on_tick = inject_tick,
    .tick_us = 1000,
};

/* Runs inject | account-view --read-model=db; returns its metrics JSON. */
static char *run(const char *db, const struct ev *evs, size_t n)
{
    inject_events = evs;
    inject_n = n;
    char ep[64], out[96], in[96], met[192], rm[256];
    snprintf(ep, sizeof(ep), "inproc://av-test-%d", (int)getpid());
    snprintf(out, sizeof(out), "--flow.output=@%s", ep);
    snprintf(in, sizeof(in), "--flow.input=%s", ep);
    snprintf(met, sizeof(met), "--flow.metrics-json=%s.json", db);
    snprintf(rm, sizeof(rm), "--read-model=%s", db);
    char *a1[] = { "inject", out };
    char *a2[] = { "account-view", in, "--flow.eos-exit=1", met, rm };
    flow_host *h = flow_host_new();
    cr_assert_not_null(h);
    cr_assert_eq(flow_host_add(h, &inject_app, 2, a1), 0);
    cr_assert_eq(flow_host_add(h, &account_view_app, 5, a2), 0);
    cr_assert_eq(flow_host_run(h), 0);
    flow_host_destroy(&h);
    char path[300];
    snprintf(path, sizeof(path), "%s.json", db);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char *json = calloc(1, 65536);
    size_t len = fread(json, 1, 65535, f);
    json[len] = '\0';
    fclose(f);
    unlink(path);
    return json;
}

static void has(const char *json, const char *s)
{
    cr_assert(strstr(json, s) != NULL, "'%s' not in %s", s, json);
}

/* The rows of a query, "|"-separated columns, one line per row. */
static char *rows(const char *db, const char *sql)
{
    sqlite3 *d;
    cr_assert_eq(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(d, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(d));
    char *buf = calloc(1, 8192);
    size_t at = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const unsigned char *t = sqlite3_column_text(st, c);
            at += (size_t)snprintf(buf + at, 8192 - at, "%s%s", c ? "|" : "",
                                   t ? (const char *)t : "NULL");
        }
        at += (size_t)snprintf(buf + at, 8192 - at, "\n");
    }
    sqlite3_finalize(st);
    sqlite3_close(d);
    return buf;
}

static char *tmp_db(char *dir)
{
    cr_assert_not_null(mkdtemp(dir));
    char *db = calloc(1, 200);
    snprintf(db, 200, "%s/rm.db", dir);
    return db;
}

static void clean(char *dir, char *db)
{
    char p[256];
    const char *sfx[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", db, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    free(db);
}

static const struct ev life[] = {
    { "ACCOUNT_CREATED", 7, 1, "PENDING", 0, 1000 },
    { "ACCOUNT_CONFIRMED", 7, 2, "CONFIRMED", 0, 1001 },
    { "ACCOUNT_ACTIVATED", 7, 3, "ACTIVE", 0, 0 },
    { "ACCOUNT_DEPOSITED", 7, 4, "ACTIVE", 250, 1003 },
    { "ACCOUNT_CREATED", 8, 1, "PENDING", 0, 1004 },
};

Test(account_view, folds_each_event_into_its_account_and_the_log, .timeout = 30)
{
    char dir[] = "/tmp/flow-av-test-XXXXXX";
    char *db = tmp_db(dir);
    char *json = run(db, life, 5);
    has(json, "\"in\": 5,");
    has(json, "\"dups\": 0,");
    has(json, "\"applied\": 5,");
    /* Four lags (one event has no issued_ms), the quantiles never above
     * the largest. */
    long long p50 = -1, p99 = -1, max = -1;
    const char *at = strstr(json, "\"lag_p50_ms\": ");
    cr_assert_not_null(at);
    cr_assert_eq(sscanf(at,
                        "\"lag_p50_ms\": %lld, \"lag_p99_ms\": %lld, "
                        "\"lag_max_ms\": %lld",
                        &p50, &p99, &max),
                 3, "%s", at);
    cr_assert(p50 > 0 && p50 <= p99 && p99 <= max, "%s", at);
    free(json);
    char *r = rows(db, "SELECT id, first_name, last_name, email, state, "
                       "balance, version FROM accounts ORDER BY id");
    cr_assert_str_eq(r, "7|Ada|Lovelace|ada@example.org|ACTIVE|250|4\n"
                        "8|Ada|Lovelace|ada@example.org|PENDING|0|1\n");
    free(r);
    r = rows(db, "SELECT account, seq, type, issued_ms = applied_ms, "
                 "json_extract(payload, '$.balance') FROM events "
                 "ORDER BY account, seq");
    /* The event without issued_ms has its applied time as its own. */
    cr_assert_str_eq(r, "7|1|ACCOUNT_CREATED|0|0\n"
                        "7|2|ACCOUNT_CONFIRMED|0|0\n"
                        "7|3|ACCOUNT_ACTIVATED|1|0\n"
                        "7|4|ACCOUNT_DEPOSITED|0|250\n"
                        "8|1|ACCOUNT_CREATED|0|0\n");
    free(r);
    r = rows(db, "PRAGMA journal_mode");
    cr_assert_str_eq(r, "wal\n");
    free(r);
    clean(dir, db);
}

/* A replay of events the read model holds applies none of them again,
 * in the same run or a later one, and an older event never moves an
 * account back. */
Test(account_view, a_replay_never_applies_an_event_twice, .timeout = 30)
{
    char dir[] = "/tmp/flow-av-test-XXXXXX";
    char *db = tmp_db(dir);
    free(run(db, life, 4));
    const struct ev again[] = {
        life[2], life[3], { "ACCOUNT_WITHDRAWN", 7, 5, "ACTIVE", 200, 1005 },
        life[3], life[4],
    };
    char *json = run(db, again, 5);
    has(json, "\"in\": 5,");
    has(json, "\"dups\": 3,");
    has(json, "\"applied\": 2,");
    free(json);
    char *r = rows(db, "SELECT id, state, balance, version FROM accounts "
                       "ORDER BY id");
    cr_assert_str_eq(r, "7|ACTIVE|200|5\n8|PENDING|0|1\n");
    free(r);
    r = rows(db, "SELECT count(*), sum(seq) FROM events");
    cr_assert_str_eq(r, "6|16\n");
    free(r);
    clean(dir, db);
}

Test(account_view, an_event_that_is_not_applied_goes_to_the_errors,
     .timeout = 30)
{
    char dir[] = "/tmp/flow-av-test-XXXXXX";
    char *db = tmp_db(dir);
    /* A command event straight from account-web: no state, no balance. */
    const struct ev bad[] = { { "ACCOUNT_CREATED", 9, 1, NULL, 0, 0 } };
    char *json = run(db, bad, 1);
    has(json, "\"errors\": 1,");
    has(json, "\"applied\": 0,");
    free(json);
    char *r = rows(db, "SELECT count(*) FROM accounts");
    cr_assert_str_eq(r, "0\n");
    free(r);
    clean(dir, db);
}
