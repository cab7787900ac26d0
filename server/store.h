/* flowd's store: SQLite in the data directory, schema versioned by
 * migrations (PRAGMA user_version). Thin helpers over prepared
 * statements; the SQL lives with its callers. */
#ifndef SRV_STORE_H
#define SRV_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct srv_store {
    sqlite3 *db;
    char path[4096];
    int version;
    char err[512];
} srv_store;

/* The schema version the migrations lead to. */
int srv_store_schema_version(void);

/* Opens (creating) the database at path and migrates it. Returns 0, or
 * -1 with s->err saying what failed. */
int srv_store_open(srv_store *s, const char *path);

/* Closes; safe on a zeroed or closed store. */
void srv_store_close(srv_store *s);

/* Runs one statement. types says how to bind the varargs, one letter per
 * parameter: 's' const char * (NULL binds NULL), 'i' int64_t, 'd' double.
 * Returns 0 or -1 (s->err). */
int srv_store_exec(srv_store *s, const char *sql, const char *types, ...);

/* Prepares and binds a query the same way; step it with sqlite3_step and
 * finalize it. Returns NULL on error (s->err). */
sqlite3_stmt *srv_store_query(srv_store *s, const char *sql, const char *types,
                              ...);

int srv_store_begin(srv_store *s);
int srv_store_commit(srv_store *s);

#endif
