/*
 * acct_table.h - the accounts of one account-events instance, by id.
 *
 * An open-addressing hash table from a 64-bit account id to its folded
 * state. It grows by doubling up to a cap on the number of accounts, so a
 * stream of made-up ids cannot take unbounded memory.
 */
#ifndef FLOW_MODULES_ACCT_TABLE_H
#define FLOW_MODULES_ACCT_TABLE_H

#include "account.h"

#include <stddef.h>
#include <stdint.h>

struct acct_slot {
    uint64_t id;
    struct acct acct;
    uint8_t used;
};

struct acct_table {
    struct acct_slot *slots;
    size_t cap;   /* power of two, or 0 before the first insert */
    size_t count; /* accounts held */
    size_t max;   /* most accounts held, 0 = no limit */
};

/* Initialise an empty table holding at most max accounts (0 = no limit).
 * fini is safe on zeroed memory. */
void acct_table_init(struct acct_table *t, size_t max);
void acct_table_fini(struct acct_table *t);

/* The account with this id, or NULL when there is none (borrowed). */
struct acct *acct_table_find(struct acct_table *t, uint64_t id);

/* The account with this id, created zeroed when missing (borrowed). NULL
 * when the table is full (at max) or memory ran out. */
struct acct *acct_table_get(struct acct_table *t, uint64_t id);

/* Visit every account in an unspecified order. */
typedef void (*acct_table_visit_fn)(uint64_t id, const struct acct *a,
                                    void *arg);
void acct_table_each(const struct acct_table *t, acct_table_visit_fn fn,
                     void *arg);

/*
 * Snapshot: a byte string holding every account (little-endian records of
 * id, last_seq, balance, state after an 8-byte magic and a count).
 * Returns a new malloc'd buffer in *out (caller frees) or NULL on ENOMEM.
 */
int acct_table_save(const struct acct_table *t, uint8_t **out, size_t *len);

/* Replace the table's content with a snapshot. Returns 0, or -1 with a
 * reason in *why when the bytes are not a valid snapshot (the table is then
 * left empty). */
int acct_table_load(struct acct_table *t, const uint8_t *buf, size_t len,
                    const char **why);

#endif
