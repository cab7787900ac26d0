/*
 * Unit tests of the account state machine: every (state, event) pair,
 * legal or not, amounts, and the wire names.
 */
#include <criterion/criterion.h>

#include "account.h"

#include <string.h>

/* The reference architecture's transitions, written out independently of
 * the table in account.c: { from, event, to }. */
static const int legal[][3] = {
    { ACCT_ST_CREATED, ACCT_EV_CREATED, ACCT_ST_PENDING },
    { ACCT_ST_PENDING, ACCT_EV_CONFIRMED, ACCT_ST_CONFIRMED },
    { ACCT_ST_CONFIRMED, ACCT_EV_ACTIVATED, ACCT_ST_ACTIVE },
    { ACCT_ST_SUSPENDED, ACCT_EV_ACTIVATED, ACCT_ST_ACTIVE },
    { ACCT_ST_ARCHIVED, ACCT_EV_ACTIVATED, ACCT_ST_ACTIVE },
    { ACCT_ST_ACTIVE, ACCT_EV_SUSPENDED, ACCT_ST_SUSPENDED },
    { ACCT_ST_ACTIVE, ACCT_EV_ARCHIVED, ACCT_ST_ARCHIVED },
    { ACCT_ST_ACTIVE, ACCT_EV_DEPOSITED, ACCT_ST_ACTIVE },
    { ACCT_ST_ACTIVE, ACCT_EV_WITHDRAWN, ACCT_ST_ACTIVE },
};

static int expected_next(int st, int ev)
{
    for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++) {
        if (legal[i][0] == st && legal[i][1] == ev)
            return legal[i][2];
    }
    return -1;
}

Test(account, every_transition)
{
    int n_legal = 0, n_illegal = 0;
    for (int st = 0; st < ACCT_ST_COUNT; st++) {
        for (int ev = 0; ev < ACCT_EV_COUNT; ev++) {
            struct acct a = { .last_seq = 7,
                              .balance = 500,
                              .state = (uint8_t)st };
            enum acct_result r = acct_apply(&a, ev, 100);
            int want = expected_next(st, ev);
            cr_assert_eq(acct_allows(st, ev), want >= 0, "%s in %s",
                         acct_event_name(ev), acct_state_name(st));
            if (want >= 0) {
                n_legal++;
                cr_assert_eq(r, ACCT_OK, "%s in %s: %s", acct_event_name(ev),
                             acct_state_name(st), acct_result_str(r));
                cr_assert_eq(a.state, want);
                int64_t bal = ev == ACCT_EV_DEPOSITED   ? 600
                              : ev == ACCT_EV_WITHDRAWN ? 400
                                                        : 500;
                cr_assert_eq(a.balance, bal);
            } else {
                n_illegal++;
                cr_assert_neq(r, ACCT_OK, "%s in %s must be rejected",
                              acct_event_name(ev), acct_state_name(st));
                bool money = ev == ACCT_EV_DEPOSITED || ev == ACCT_EV_WITHDRAWN;
                cr_assert_eq(r,
                             money ? ACCT_NOT_ACTIVE : ACCT_ILLEGAL_TRANSITION);
                /* A rejected event leaves the account as it was. */
                cr_assert_eq(a.state, st);
                cr_assert_eq(a.balance, 500);
            }
            cr_assert_eq(a.last_seq, 7, "apply never touches the seq");
        }
    }
    cr_assert_eq(n_legal, 9);
    cr_assert_eq(n_illegal, ACCT_ST_COUNT * ACCT_EV_COUNT - 9);
}

Test(account, balance_never_below_zero)
{
    struct acct a = { .state = ACCT_ST_ACTIVE, .balance = 100 };
    cr_assert_eq(acct_apply(&a, ACCT_EV_WITHDRAWN, 101),
                 ACCT_INSUFFICIENT_FUNDS);
    cr_assert_eq(a.balance, 100);
    cr_assert_eq(acct_apply(&a, ACCT_EV_WITHDRAWN, 100), ACCT_OK);
    cr_assert_eq(a.balance, 0);
    cr_assert_eq(acct_apply(&a, ACCT_EV_WITHDRAWN, 1), ACCT_INSUFFICIENT_FUNDS);
    cr_assert_eq(a.balance, 0);
}

Test(account, amounts_must_be_positive)
{
    struct acct a = { .state = ACCT_ST_ACTIVE, .balance = 100 };
    cr_assert_eq(acct_apply(&a, ACCT_EV_DEPOSITED, 0), ACCT_BAD_AMOUNT);
    cr_assert_eq(acct_apply(&a, ACCT_EV_DEPOSITED, -5), ACCT_BAD_AMOUNT);
    cr_assert_eq(acct_apply(&a, ACCT_EV_WITHDRAWN, -5), ACCT_BAD_AMOUNT);
    cr_assert_eq(a.balance, 100);
}

Test(account, deposit_overflow_is_rejected)
{
    struct acct a = { .state = ACCT_ST_ACTIVE, .balance = INT64_MAX - 10 };
    cr_assert_eq(acct_apply(&a, ACCT_EV_DEPOSITED, 11), ACCT_BALANCE_OVERFLOW);
    cr_assert_eq(a.balance, INT64_MAX - 10);
    cr_assert_eq(acct_apply(&a, ACCT_EV_DEPOSITED, 10), ACCT_OK);
    cr_assert_eq(a.balance, INT64_MAX);
}

Test(account, out_of_range_values_are_rejected)
{
    struct acct a = { .state = 99 };
    cr_assert_neq(acct_apply(&a, ACCT_EV_CREATED, 0), ACCT_OK);
    struct acct b = { 0 };
    cr_assert_neq(acct_apply(&b, (enum acct_event)42, 0), ACCT_OK);
    cr_assert_eq(b.state, ACCT_ST_CREATED);
    cr_assert_not(acct_allows((enum acct_state)6, ACCT_EV_CREATED));
}

Test(account, duplicates)
{
    struct acct a = { 0 };
    cr_assert_not(acct_is_duplicate(&a, 1));
    a.last_seq = 5;
    cr_assert(acct_is_duplicate(&a, 5));
    cr_assert(acct_is_duplicate(&a, 1));
    cr_assert_not(acct_is_duplicate(&a, 6));
}

Test(account, names_round_trip)
{
    for (int ev = 0; ev < ACCT_EV_COUNT; ev++) {
        const char *n = acct_event_name(ev);
        cr_assert_eq(acct_event_parse(n, strlen(n)), ev);
    }
    for (int st = 0; st < ACCT_ST_COUNT; st++) {
        const char *n = acct_state_name(st);
        cr_assert_eq(acct_state_parse(n, strlen(n)), st);
    }
    cr_assert_str_eq(acct_event_name(ACCT_EV_WITHDRAWN), "ACCOUNT_WITHDRAWN");
    cr_assert_eq(acct_event_parse("ACCOUNT_CREATE", 14), -1);
    cr_assert_eq(acct_event_parse("ACCOUNT_CREATEDX", 16), -1);
    cr_assert_eq(acct_state_parse("", 0), -1);
    cr_assert_str_eq(acct_event_name((enum acct_event)77), "?");
}
