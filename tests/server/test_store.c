/* The store's write accounting and the analytics over a store that fails:
 * a size limit (PRAGMA max_page_count) stands for a full disk, a trigger
 * that raises for any other failed write. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analytics.h"
#include "store.h"

static char dir[64];
static srv_store st;

static void open_store(void)
{
    char path[128];

    snprintf(dir, sizeof dir, "/tmp/flow-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/flow.db", dir);
    cr_assert_eq(srv_store_open(&st, path), 0, "%s", st.err);
    st.quiet = true;
}

static void close_store(void)
{
    char cmd[128];

    srv_store_close(&st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static int64_t count_rows(const char *sql)
{
    sqlite3_stmt *q = srv_store_query(&st, sql, NULL);
    int64_t n = -1;

    if (q && sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

static int add_stream(const char *name, size_t len)
{
    char *dsl = malloc(len + 1);
    cr_assert_not_null(dsl);
    memset(dsl, 'x', len);
    dsl[len] = '\0';
    int rc = srv_store_exec(&st,
                            "INSERT INTO streams(name, dsl, created_at) "
                            "VALUES (?, ?, ?)",
                            "ssi", name, dsl, (int64_t)0);
    free(dsl);
    return rc;
}

/* Caps the store at the pages it has: what needs another page fails with
 * SQLITE_FULL, as on a full disk. */
static void fill_store(void)
{
    char sql[64];

    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld",
             (long long)count_rows("PRAGMA page_count"));
    cr_assert_eq(sqlite3_exec(st.db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static srv_store_kind *kind(const char *name)
{
    for (int k = 0; k < st.nkinds; k++)
        if (strcmp(st.kinds[k].name, name) == 0)
            return &st.kinds[k];
    return NULL;
}

TestSuite(store, .init = open_store, .fini = close_store);

Test(store, a_full_store_fails_each_write_and_counts_it_by_kind)
{
    cr_assert_eq(add_stream("small", 10), 0, "%s", st.err);
    cr_assert(!st.failing);
    fill_store();
    cr_assert_eq(add_stream("big", 100000), -1);
    cr_assert_eq(st.code, SQLITE_FULL);
    cr_assert_eq(srv_store_error(&st), -SRV_ESTOREFULL);
    cr_assert(strstr(st.err, "database or disk is full"), "%s", st.err);
    cr_assert(st.failing);
    cr_assert_str_eq(st.last_err, st.err);
    cr_assert_eq(add_stream("big2", 100000), -1);
    cr_assert_eq(st.failed_total, 2);
    cr_assert_not_null(kind("INSERT streams"));
    cr_assert_eq(kind("INSERT streams")->failed, 2);
    cr_assert(kind("INSERT streams")->logged, "logged once, then counted");

    /* A write that changes nothing does not say the store is back. */
    cr_assert_eq(
        srv_store_exec(&st, "DELETE FROM streams WHERE name=?", "s", "none"),
        0);
    cr_assert(st.failing);

    /* Room again: the next write that changes something ends the outage;
     * the counts stay. */
    cr_assert_eq(
        sqlite3_exec(st.db, "PRAGMA max_page_count=1000000", NULL, NULL, NULL),
        SQLITE_OK);
    cr_assert_eq(add_stream("big", 100000), 0, "%s", st.err);
    cr_assert(!st.failing);
    cr_assert(!kind("INSERT streams")->logged);
    cr_assert_eq(st.failed_total, 2);
    cr_assert_eq(count_rows("SELECT count(*) FROM streams"), 2);
}

Test(store, a_failed_write_in_a_transaction_leaves_nothing_of_it)
{
    fill_store();
    cr_assert_eq(srv_store_begin(&st), 0, "%s", st.err);
    cr_assert_eq(add_stream("first", 10), 0, "%s", st.err);
    cr_assert_eq(add_stream("big", 100000), -1);
    cr_assert(sqlite3_get_autocommit(st.db), "rolled back");
    cr_assert_eq(count_rows("SELECT count(*) FROM streams"), 0);
    /* The caller's COMMIT then fails too, and is counted. */
    cr_assert_eq(srv_store_commit(&st), -1);
    cr_assert_not_null(kind("COMMIT"));
}

Test(store, other_failures_answer_500_and_the_probe_ends_an_outage)
{
    cr_assert_eq(sqlite3_exec(st.db,
                              "CREATE TEMP TRIGGER refuse BEFORE INSERT ON "
                              "apps BEGIN SELECT RAISE(FAIL, 'refused'); END",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(srv_store_exec(&st,
                                "INSERT INTO apps(type, name, uri) VALUES "
                                "('sink', 'x', '/x')",
                                NULL),
                 -1);
    cr_assert_eq(srv_store_error(&st), -SRV_ESTORE);
    cr_assert(strstr(st.err, "refused"), "%s", st.err);
    cr_assert(st.failing);
    cr_assert_eq(srv_store_probe(&st), 0, "%s", st.err);
    cr_assert(!st.failing);
}

/* Analytics over a failing store: srv_analytics_* take the srv only for
 * its store. */
static srv S;

static void open_analytics(void)
{
    open_store();
    S.store = st;
}

static void close_analytics(void)
{
    st = S.store;
    memset(&S.store, 0, sizeof S.store);
    close_store();
}

static int64_t stored(const char *sql)
{
    st = S.store;
    return count_rows(sql);
}

static void refuse_counters(bool on)
{
    cr_assert_eq(sqlite3_exec(S.store.db,
                              on ? "CREATE TEMP TRIGGER refuse BEFORE "
                                   "INSERT ON counter_history BEGIN SELECT "
                                   "RAISE(FAIL, 'refused'); END"
                                 : "DROP TRIGGER temp.refuse",
                              NULL, NULL, NULL),
                 SQLITE_OK);
}

Test(analytics, increments_that_cannot_be_stored_wait_for_the_next_flush,
     .init = open_analytics, .fini = close_analytics)
{
    srv_analytics *a = srv_analytics_new(&S);
    int64_t now = srv_now_ms() / 1000;

    cr_assert_not_null(a);
    srv_analytics_add(a, "counter", "hits", 5);
    srv_analytics_add_second(a, "counter", "hits", now, 5);
    cr_assert_eq(srv_analytics_flush(a), 0, "%s", S.store.err);
    refuse_counters(true);
    srv_analytics_add(a, "counter", "hits", 7);
    srv_analytics_add_second(a, "counter", "hits", now + 1, 7);
    cr_assert_eq(srv_analytics_flush(a), -1);
    cr_assert_eq(srv_analytics_flush(a), -1);
    cr_assert(S.store.failing);
    /* Nothing of the failed flushes is half stored. */
    cr_assert_eq(stored("SELECT total FROM counters WHERE name='hits'"), 5);
    /* Nor is the counter forgotten when its reset cannot be stored. */
    refuse_counters(false);
    cr_assert_eq(sqlite3_exec(S.store.db,
                              "CREATE TEMP TRIGGER refuse BEFORE DELETE ON "
                              "counters BEGIN SELECT RAISE(FAIL, 'refused'); "
                              "END",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(srv_analytics_reset(a, "counter", "hits"), -SRV_ESTORE);
    cr_assert_not_null(srv_analytics_find(a, "counter", "hits"));
    cr_assert_eq(
        sqlite3_exec(S.store.db, "DROP TRIGGER temp.refuse", NULL, NULL, NULL),
        SQLITE_OK);
    cr_assert_eq(srv_analytics_flush(a), 0, "%s", S.store.err);
    cr_assert(!S.store.failing);
    cr_assert_eq(stored("SELECT total FROM counters WHERE name='hits'"), 12);
    cr_assert_eq(stored("SELECT sum(count) FROM counter_history WHERE "
                        "name='hits' AND res=1"),
                 12);
    cr_assert_eq(srv_analytics_reset(a, "counter", "hits"), 0);
    cr_assert_null(srv_analytics_find(a, "counter", "hits"));
    cr_assert_eq(stored("SELECT count(*) FROM counters"), 0);
    srv_analytics_destroy(&a);
}
