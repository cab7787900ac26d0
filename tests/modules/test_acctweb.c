/*
 * Unit tests of account-web's decisions (acctweb.h): which resource a
 * request names, If-Match and page queries, and the HAL links of an
 * account in each state.
 */
#include <criterion/criterion.h>

#include "acctweb.h"

#include <string.h>

static char *text(flow_buf *b)
{
    flow_buf_append(b, "", 1);
    return (char *)b->data;
}

Test(acctweb, routes)
{
    acctweb_route r;
    cr_assert_eq(acctweb_route_of("GET", "/v1/accounts", &r), 0);
    cr_assert_eq(r.res, ACCTWEB_ACCOUNTS);
    cr_assert_eq(acctweb_route_of("POST", "/v1/accounts", &r), 0);
    cr_assert_eq(r.res, ACCTWEB_ACCOUNTS);
    cr_assert_eq(acctweb_route_of("GET", "/v1/accounts/17", &r), 0);
    cr_assert_eq(r.res, ACCTWEB_ACCOUNT);
    cr_assert_eq(r.account, 17);
    cr_assert_eq(acctweb_route_of("GET", "/v1/accounts/17/events", &r), 0);
    cr_assert_eq(r.res, ACCTWEB_EVENTS);
    cr_assert_eq(acctweb_route_of("GET", "/v1/accounts/17/commands", &r), 0);
    cr_assert_eq(r.res, ACCTWEB_COMMANDS);
    cr_assert_eq(
        acctweb_route_of("POST", "/v1/accounts/3/commands/withdraw", &r), 0);
    cr_assert_eq(r.res, ACCTWEB_COMMAND);
    cr_assert_eq(r.account, 3);
    cr_assert_eq(r.event, ACCT_EV_WITHDRAWN);
    cr_assert_eq(acctweb_route_of("GET", "/v1/events/17-3", &r), 0);
    cr_assert_eq(r.res, ACCTWEB_EVENT);
    cr_assert_eq(r.account, 17);
    cr_assert_eq(r.seq, 3);
    cr_assert_eq(acctweb_route_of("HEAD", "/v1/events/17-3", &r), 0);
}

Test(acctweb, unknown_paths_are_404)
{
    static const char *const bad[] = {
        "/",
        "/v1",
        "/v1/accountsx",
        "/v1/accounts/0",
        "/v1/accounts/01",
        "/v1/accounts/-1",
        "/v1/accounts/1x",
        "/v1/accounts/1-2",
        "/v1/accounts/1/",
        "/v1/accounts/1/eventsx",
        "/v1/accounts/1/commands/",
        "/v1/accounts/1/commands/create",
        "/v1/accounts/1/commands/fly",
        "/v1/accounts/99999999999999999999999",
        "/v1/events/1",
        "/v1/events/1-",
        "/v1/events/1-0",
        "/v1/events/1-2-3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        acctweb_route r;
        cr_assert_eq(acctweb_route_of("GET", bad[i], &r), -404, "%s", bad[i]);
        cr_assert_eq(acctweb_route_of("POST", bad[i], &r), -404, "%s", bad[i]);
    }
}

Test(acctweb, wrong_methods_are_405_with_allow)
{
    acctweb_route r;
    cr_assert_eq(acctweb_route_of("DELETE", "/v1/accounts", &r), -405);
    cr_assert_str_eq(r.allow, "GET, POST");
    cr_assert_eq(acctweb_route_of("POST", "/v1/accounts/1", &r), -405);
    cr_assert_str_eq(r.allow, "GET");
    cr_assert_eq(acctweb_route_of("GET", "/v1/accounts/1/commands/confirm", &r),
                 -405);
    cr_assert_str_eq(r.allow, "POST");
    cr_assert_eq(acctweb_route_of("PUT", "/v1/events/1-1", &r), -405);
}

Test(acctweb, if_match)
{
    uint64_t v = 99;
    cr_assert_eq(acctweb_if_match("", &v), 0);
    cr_assert_eq(acctweb_if_match("*", &v), 0);
    cr_assert_eq(v, 99);
    cr_assert_eq(acctweb_if_match("\"3\"", &v), 1);
    cr_assert_eq(v, 3);
    cr_assert_eq(acctweb_if_match("W/\"12\"", &v), 1);
    cr_assert_eq(v, 12);
    cr_assert_eq(acctweb_if_match("7", &v), 1);
    cr_assert_eq(v, 7);
    cr_assert_eq(acctweb_if_match("\"\"", &v), -1);
    cr_assert_eq(acctweb_if_match("\"3", &v), -1);
    cr_assert_eq(acctweb_if_match("\"x\"", &v), -1);
    cr_assert_eq(acctweb_if_match("\"-1\"", &v), -1);
    cr_assert_eq(acctweb_if_match("\"1\", \"2\"", &v), -1);
    cr_assert_eq(acctweb_if_match("12345678901234567890", &v), -1);
}

Test(acctweb, pages)
{
    uint64_t page, size;
    const char *bad = NULL;
    cr_assert_eq(acctweb_page("", 20, 100, &page, &size, &bad), 0);
    cr_assert_eq(page, 0);
    cr_assert_eq(size, 20);
    cr_assert_eq(acctweb_page("x=1&size=5&page=2", 20, 100, &page, &size, &bad),
                 0);
    cr_assert_eq(page, 2);
    cr_assert_eq(size, 5);
    cr_assert_eq(acctweb_page("size=0", 20, 100, &page, &size, &bad), -1);
    cr_assert_str_eq(bad, "size");
    cr_assert_eq(acctweb_page("size=101", 20, 100, &page, &size, &bad), -1);
    cr_assert_eq(acctweb_page("page=-1", 20, 100, &page, &size, &bad), -1);
    cr_assert_str_eq(bad, "page");
    cr_assert_eq(acctweb_page("page=", 20, 100, &page, &size, &bad), -1);
    cr_assert_eq(acctweb_page("pagesize=3", 20, 100, &page, &size, &bad), 0);
    cr_assert_eq(size, 20);
}

/* Every state offers exactly the commands the state machine allows. */
Test(acctweb, legal_commands_per_state)
{
    cr_assert_eq(acctweb_legal(ACCT_ST_PENDING), 1u << ACCT_EV_CONFIRMED);
    cr_assert_eq(acctweb_legal(ACCT_ST_CONFIRMED), 1u << ACCT_EV_ACTIVATED);
    cr_assert_eq(acctweb_legal(ACCT_ST_ACTIVE),
                 (1u << ACCT_EV_SUSPENDED) | (1u << ACCT_EV_ARCHIVED) |
                     (1u << ACCT_EV_DEPOSITED) | (1u << ACCT_EV_WITHDRAWN));
    cr_assert_eq(acctweb_legal(ACCT_ST_SUSPENDED), 1u << ACCT_EV_ACTIVATED);
    cr_assert_eq(acctweb_legal(ACCT_ST_ARCHIVED), 1u << ACCT_EV_ACTIVATED);
    cr_assert_eq(acctweb_legal(ACCT_ST_CREATED), 0);
}

Test(acctweb, hal_links)
{
    flow_buf b;
    flow_buf_init(&b);
    acctweb_links(&b, 5, ACCT_ST_SUSPENDED);
    cr_assert_str_eq(
        text(&b),
        "\"_links\": {\"self\": {\"href\": \"/v1/accounts/5\"}, "
        "\"events\": {\"href\": \"/v1/accounts/5/events\"}, "
        "\"commands\": {\"href\": \"/v1/accounts/5/commands\"}, "
        "\"activate\": {\"href\": \"/v1/accounts/5/commands/activate\"}}");
    flow_buf_reset(&b);
    acctweb_links(&b, 5, ACCT_ST_ACTIVE);
    const char *t = text(&b);
    cr_assert(strstr(t, "\"suspend\": {\"href\": "
                        "\"/v1/accounts/5/commands/suspend\"}"));
    cr_assert(strstr(t, "\"withdraw\""));
    cr_assert(strstr(t, "\"deposit\""));
    cr_assert(strstr(t, "\"archive\""));
    cr_assert_null(strstr(t, "\"activate\""));
    cr_assert_null(strstr(t, "\"confirm\""));
    flow_buf_fini(&b);
}

Test(acctweb, commands_resource)
{
    flow_buf b;
    flow_buf_init(&b);
    acctweb_commands(&b, 2, ACCT_ST_PENDING);
    cr_assert_str_eq(
        text(&b),
        "{\"accountId\": 2, \"status\": \"PENDING\", \"commands\": "
        "[{\"name\": \"confirm\", \"href\": "
        "\"/v1/accounts/2/commands/confirm\", \"method\": \"POST\"}], "
        "\"_links\": {\"self\": {\"href\": \"/v1/accounts/2\"}, "
        "\"events\": {\"href\": \"/v1/accounts/2/events\"}, "
        "\"commands\": {\"href\": \"/v1/accounts/2/commands\"}, "
        "\"confirm\": {\"href\": \"/v1/accounts/2/commands/confirm\"}}}");
    flow_buf_fini(&b);
}

Test(acctweb, command_names)
{
    cr_assert_eq(acctweb_command_parse("deposit"), ACCT_EV_DEPOSITED);
    cr_assert_eq(acctweb_command_parse("create"), -1);
    cr_assert_eq(acctweb_command_parse("Deposit"), -1);
    cr_assert_str_eq(acctweb_command_name(ACCT_EV_ARCHIVED), "archive");
}
