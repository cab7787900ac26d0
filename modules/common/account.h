/*
 * account.h - the account state machine of the reference architecture.
 *
 * An account is event-sourced: its state and balance are the fold of the
 * events applied to it. acct_apply() is that fold's step. It is pure (no
 * allocation, no I/O) so the generator (load-sim), the processor
 * (account-events) and the tests share exactly one definition of what is
 * legal.
 */
#ifndef FLOW_MODULES_ACCOUNT_H
#define FLOW_MODULES_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Event types, in the order of the account lifecycle. */
enum acct_event {
    ACCT_EV_CREATED,
    ACCT_EV_CONFIRMED,
    ACCT_EV_ACTIVATED,
    ACCT_EV_SUSPENDED,
    ACCT_EV_ARCHIVED,
    ACCT_EV_DEPOSITED,
    ACCT_EV_WITHDRAWN,
    ACCT_EV_COUNT
};

/* States. ACCT_ST_CREATED is the state of an account nothing has been
 * applied to yet: ACCOUNT_CREATED takes it to PENDING. */
enum acct_state {
    ACCT_ST_CREATED,
    ACCT_ST_PENDING,
    ACCT_ST_CONFIRMED,
    ACCT_ST_ACTIVE,
    ACCT_ST_SUSPENDED,
    ACCT_ST_ARCHIVED,
    ACCT_ST_COUNT
};

/* Why an event was not applied. ACCT_OK means it was. */
enum acct_result {
    ACCT_OK,
    ACCT_ILLEGAL_TRANSITION,
    ACCT_NOT_ACTIVE,
    ACCT_BAD_AMOUNT,
    ACCT_INSUFFICIENT_FUNDS,
    ACCT_BALANCE_OVERFLOW,
};

/* One account's folded state. Zeroed memory is a fresh account. */
struct acct {
    uint64_t last_seq; /* highest sequence number applied; 0 = none */
    int64_t balance;   /* in the smallest currency unit, never < 0 */
    uint8_t state;     /* enum acct_state */
};

/* Names as they appear on the wire ("ACCOUNT_CREATED", "ACTIVE"). */
const char *acct_event_name(enum acct_event ev);
const char *acct_state_name(enum acct_state st);

/* Parse a wire name of len bytes; returns -1 when unknown. */
int acct_event_parse(const char *s, size_t len);
int acct_state_parse(const char *s, size_t len);

/* A short human-readable reason for a result ("insufficient funds"). */
const char *acct_result_str(enum acct_result r);

/*
 * Whether ev is allowed from state st at all (ignoring amounts).
 */
bool acct_allows(enum acct_state st, enum acct_event ev);

/*
 * Apply one event to a (borrowed) account. amount is used only by
 * deposits and withdrawals and must be > 0 there. On ACCT_OK the account
 * has its new state and balance; on any other result it is unchanged.
 * Sequence numbers are the caller's business (see acct_is_duplicate).
 */
enum acct_result acct_apply(struct acct *a, enum acct_event ev, int64_t amount);

/* Whether seq was already applied to a (a duplicate to skip). */
static inline bool acct_is_duplicate(const struct acct *a, uint64_t seq)
{
    return seq <= a->last_seq;
}

#endif
