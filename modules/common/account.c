/*
 * account.c - the account state machine (see account.h).
 */
#include "account.h"

#include <string.h>

static const char *const event_names[ACCT_EV_COUNT] = {
    [ACCT_EV_CREATED] = "ACCOUNT_CREATED",
    [ACCT_EV_CONFIRMED] = "ACCOUNT_CONFIRMED",
    [ACCT_EV_ACTIVATED] = "ACCOUNT_ACTIVATED",
    [ACCT_EV_SUSPENDED] = "ACCOUNT_SUSPENDED",
    [ACCT_EV_ARCHIVED] = "ACCOUNT_ARCHIVED",
    [ACCT_EV_DEPOSITED] = "ACCOUNT_DEPOSITED",
    [ACCT_EV_WITHDRAWN] = "ACCOUNT_WITHDRAWN",
};

static const char *const state_names[ACCT_ST_COUNT] = {
    [ACCT_ST_CREATED] = "CREATED",     [ACCT_ST_PENDING] = "PENDING",
    [ACCT_ST_CONFIRMED] = "CONFIRMED", [ACCT_ST_ACTIVE] = "ACTIVE",
    [ACCT_ST_SUSPENDED] = "SUSPENDED", [ACCT_ST_ARCHIVED] = "ARCHIVED",
};

/*
 * The lifecycle transitions: next[state][event] is the new state, or -1
 * when the event is illegal there. Deposits and withdrawals keep ACTIVE.
 */
static const signed char next_state[ACCT_ST_COUNT][ACCT_EV_COUNT] = {
    [ACCT_ST_CREATED] = { ACCT_ST_PENDING, -1, -1, -1, -1, -1, -1 },
    [ACCT_ST_PENDING] = { -1, ACCT_ST_CONFIRMED, -1, -1, -1, -1, -1 },
    [ACCT_ST_CONFIRMED] = { -1, -1, ACCT_ST_ACTIVE, -1, -1, -1, -1 },
    [ACCT_ST_ACTIVE] = { -1, -1, -1, ACCT_ST_SUSPENDED, ACCT_ST_ARCHIVED,
                         ACCT_ST_ACTIVE, ACCT_ST_ACTIVE },
    [ACCT_ST_SUSPENDED] = { -1, -1, ACCT_ST_ACTIVE, -1, -1, -1, -1 },
    [ACCT_ST_ARCHIVED] = { -1, -1, ACCT_ST_ACTIVE, -1, -1, -1, -1 },
};

const char *acct_event_name(enum acct_event ev)
{
    return (unsigned)ev < ACCT_EV_COUNT ? event_names[ev] : "?";
}

const char *acct_state_name(enum acct_state st)
{
    return (unsigned)st < ACCT_ST_COUNT ? state_names[st] : "?";
}

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    }
    return -1;
}

int acct_event_parse(const char *s, size_t len)
{
    return lookup(event_names, ACCT_EV_COUNT, s, len);
}

int acct_state_parse(const char *s, size_t len)
{
    return lookup(state_names, ACCT_ST_COUNT, s, len);
}

const char *acct_result_str(enum acct_result r)
{
    switch (r) {
    case ACCT_OK:
        return "applied";
    case ACCT_ILLEGAL_TRANSITION:
        return "illegal transition";
    case ACCT_NOT_ACTIVE:
        return "account is not active";
    case ACCT_BAD_AMOUNT:
        return "amount must be a positive integer";
    case ACCT_INSUFFICIENT_FUNDS:
        return "insufficient funds";
    case ACCT_BALANCE_OVERFLOW:
        return "balance would overflow";
    }
    return "unknown result";
}

bool acct_allows(enum acct_state st, enum acct_event ev)
{
    if ((unsigned)st >= ACCT_ST_COUNT || (unsigned)ev >= ACCT_EV_COUNT)
        return false;
    return next_state[st][ev] >= 0;
}

enum acct_result acct_apply(struct acct *a, enum acct_event ev, int64_t amount)
{
    if ((unsigned)a->state >= ACCT_ST_COUNT || (unsigned)ev >= ACCT_EV_COUNT)
        return ACCT_ILLEGAL_TRANSITION;
    bool money = ev == ACCT_EV_DEPOSITED || ev == ACCT_EV_WITHDRAWN;
    if (next_state[a->state][ev] < 0)
        return money ? ACCT_NOT_ACTIVE : ACCT_ILLEGAL_TRANSITION;
    if (money) {
        if (amount <= 0)
            return ACCT_BAD_AMOUNT;
        if (ev == ACCT_EV_DEPOSITED) {
            if (a->balance > INT64_MAX - amount)
                return ACCT_BALANCE_OVERFLOW;
            a->balance += amount;
        } else {
            if (amount > a->balance)
                return ACCT_INSUFFICIENT_FUNDS;
            a->balance -= amount;
        }
    }
    a->state = (uint8_t)next_state[a->state][ev];
    return ACCT_OK;
}
