/* flowd's store: SQLite in the data directory, schema versioned by
 * migrations (PRAGMA user_version). Thin helpers over prepared
 * statements; the SQL lives with its callers. */
#ifndef SRV_STORE_H
#define SRV_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* Failed writes of one kind (the statement's verb and table, "DELETE
 * streams"; "probe" for srv_store_probe), counted since flowd started. */
#define SRV_STORE_KINDS 24
typedef struct srv_store_kind {
    char name[72];
    uint64_t failed;
    bool logged; /* logged in the current outage */
} srv_store_kind;

typedef struct srv_store {
    sqlite3 *db;
    char path[4096];
    int version;
    char err[512];
    int code; /* SQLite's (primary) result code of the last failure */
    /* Writes: whether the last one failed, the last failure's message
     * and code, and the failures by kind. */
    bool failing;
    char last_err[512];
    int last_code;
    int64_t failing_since_ms;
    uint64_t failed_total;
    srv_store_kind kinds[SRV_STORE_KINDS];
    int nkinds;
    bool quiet;   /* no log lines (unit tests) */
    bool probing; /* the write under way is srv_store_probe's */
    int total0;   /* sqlite3_total_changes when the transaction began */
} srv_store;

/* The schema version the migrations lead to. */
int srv_store_schema_version(void);

/* Opens (creating) the database at path and migrates it. Returns 0, or
 * -1 with s->err saying what failed. */
int srv_store_open(srv_store *s, const char *path);

/* Closes; safe on a zeroed or closed store. */
void srv_store_close(srv_store *s);

/*
 * Runs one statement that writes (or BEGIN, COMMIT, ROLLBACK). types says
 * how to bind the varargs, one letter per parameter: 's' const char *
 * (NULL binds NULL), 'i' int64_t, 'd' double. Returns 0, or -1 with
 * s->err and s->code saying why. Every write is accounted for: a failure
 * sets s->failing and is counted under its kind, and the first failure of
 * each kind in an outage is logged on stderr; the next write that
 * succeeds ends the outage, logging the counts. A failure inside a
 * transaction rolls it back, so nothing of it is half saved.
 */
int srv_store_exec(srv_store *s, const char *sql, const char *types, ...);

/* The error code of a write that failed: -SRV_ESTOREFULL (507) when the
 * disk (or the store's size limit) is full, else -SRV_ESTORE (500). */
int srv_store_error(const srv_store *s);

/* What to do about the last failed write, for a message: free space for
 * a full disk, else look at the log. Static. */
const char *srv_store_advice(const srv_store *s);

/* Tries a write that changes nothing, so that an outage ends without
 * waiting for a real write. Returns 0 or -1 as srv_store_exec. */
int srv_store_probe(srv_store *s);

/* Prepares and binds a query the same way; step it with sqlite3_step and
 * finalize it. Returns NULL on error (s->err). */
sqlite3_stmt *srv_store_query(srv_store *s, const char *sql, const char *types,
                              ...);

/* BEGIN IMMEDIATE and COMMIT, accounted for as writes. A COMMIT that
 * fails rolls the transaction back. */
int srv_store_begin(srv_store *s);
int srv_store_commit(srv_store *s);
/* Rolls back the open transaction, if any. */
void srv_store_rollback(srv_store *s);

#endif
