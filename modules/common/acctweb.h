/*
 * acctweb.h - what the account-web app decides without I/O: which
 * resource a request names, what an If-Match or a page query says, and
 * the HAL links of an account in a state. Pure, so the tests check it
 * apart from the HTTP server.
 */
#ifndef FLOW_MODULES_ACCTWEB_H
#define FLOW_MODULES_ACCTWEB_H

#include <stdbool.h>
#include <stdint.h>

#include "account.h"
#include "flow/mp.h"

/* The resources of the API (docs/apps.md "account-web"). */
enum acctweb_res {
    ACCTWEB_ACCOUNTS, /* /v1/accounts: GET list, POST create */
    ACCTWEB_ACCOUNT,  /* /v1/accounts/{id}: GET */
    ACCTWEB_COMMANDS, /* /v1/accounts/{id}/commands: GET */
    ACCTWEB_COMMAND,  /* /v1/accounts/{id}/commands/{name}: POST */
    ACCTWEB_EVENTS,   /* /v1/accounts/{id}/events: GET */
    ACCTWEB_EVENT,    /* /v1/events/{id}-{seq}: GET */
};

typedef struct acctweb_route {
    enum acctweb_res res;
    uint64_t account;      /* ACCOUNT .. EVENT */
    uint64_t seq;          /* EVENT */
    enum acct_event event; /* COMMAND: the event the command makes */
    const char *allow;     /* the methods the resource takes */
} acctweb_route;

/*
 * Which resource method and path name. 0 and *r filled; -404 when the
 * path names no resource (an id that is not a decimal number from 1, a
 * command that is none); -405 when the resource does not take the
 * method (r->allow says which it takes).
 */
int acctweb_route_of(const char *method, const char *path, acctweb_route *r);

/* The command names (confirm .. withdraw) and the events they make. */
const char *acctweb_command_name(enum acct_event ev);
int acctweb_command_parse(const char *s);

/*
 * An If-Match value: "" or "*" (any version) 0; "\"N\"", "W/\"N\"" or
 * a bare N 1 with *version = N; anything else -1.
 */
int acctweb_if_match(const char *v, uint64_t *version);

/*
 * A query's page and size ("page=N&size=M", both optional, other
 * parameters ignored): page from 0 (default 0), size 1..max (default
 * def). 0, or -1 with *bad naming the parameter that is not a number in
 * range.
 */
int acctweb_page(const char *query, uint64_t def, uint64_t max, uint64_t *page,
                 uint64_t *size, const char **bad);

/* The commands legal in state st, in event order (a bit per event). */
unsigned acctweb_legal(enum acct_state st);

/*
 * Appends the "_links" member (without a leading comma) of account id in
 * state st: self, events, commands and one link per legal command.
 */
void acctweb_links(flow_buf *out, uint64_t id, enum acct_state st);

/*
 * Appends the commands resource of account id in state st: {"accountId",
 * "status", "commands": [{"name","href","method"}...], "_links"}.
 */
void acctweb_commands(flow_buf *out, uint64_t id, enum acct_state st);

/* Appends printf-formatted text (the JSON the app writes). */
void acctweb_printf(flow_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
