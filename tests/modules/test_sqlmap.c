/*
 * Unit tests of the sql sink's option parsing: the database URL, the
 * column mapping and the identifiers put into statements.
 */
#include <criterion/criterion.h>

#include "sqlmap.h"

#include "flow/error.h"

#include <stdio.h>
#include <string.h>

static char why[512];

Test(sqlmap, url_sqlite_and_postgres)
{
    struct sql_url u;
    cr_assert_eq(sql_url_parse("sqlite:out.db", &u, why, sizeof(why)), 0);
    cr_assert_eq(u.kind, SQL_SQLITE);
    cr_assert_str_eq(u.target, "out.db");
    cr_assert_eq(sql_url_parse("sqlite:///var/x.db", &u, why, sizeof(why)), 0);
    cr_assert_str_eq(u.target, "/var/x.db");
    const char *pg = "postgresql://flow@/db?host=/run/pg&port=5433";
    cr_assert_eq(sql_url_parse(pg, &u, why, sizeof(why)), 0);
    cr_assert_eq(u.kind, SQL_POSTGRES);
    cr_assert_str_eq(u.target, pg);
    cr_assert_eq(sql_url_parse("postgres://h/db", &u, why, sizeof(why)), 0);
    cr_assert_eq(u.kind, SQL_POSTGRES);
}

Test(sqlmap, url_refusals_say_what_to_give)
{
    struct sql_url u;
    cr_assert_eq(sql_url_parse("", &u, why, sizeof(why)), -FLOW_EOPTION);
    cr_assert(strstr(why, "sqlite:PATH"), "%s", why);
    cr_assert_eq(sql_url_parse("sqlite:", &u, why, sizeof(why)), -FLOW_EOPTION);
    cr_assert(strstr(why, "names no file"), "%s", why);
    cr_assert_eq(sql_url_parse("mysql://h/db", &u, why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert(strstr(why, "unknown database"), "%s", why);
}

Test(sqlmap, columns_mapped_and_bare)
{
    struct sql_columns c;
    cr_assert_eq(sql_columns_parse("account:account_id,balance,state", &c, why,
                                   sizeof(why)),
                 0, "%s", why);
    cr_assert_eq(c.n, 3);
    cr_assert_str_eq(c.col[0].field, "account");
    cr_assert_str_eq(c.col[0].column, "account_id");
    cr_assert_str_eq(c.col[1].field, "balance");
    cr_assert_str_eq(c.col[1].column, "balance");
    cr_assert_str_eq(c.col[2].field, "state");
    cr_assert_str_eq(c.col[2].column, "state");
    /* A nested field needs a column name of its own. */
    cr_assert_eq(
        sql_columns_parse("customer.country:country", &c, why, sizeof(why)), 0);
    cr_assert_str_eq(c.col[0].field, "customer.country");
    cr_assert_str_eq(c.col[0].column, "country");
}

Test(sqlmap, columns_refused)
{
    struct sql_columns c;
    const char *bad[] = { "",       "a,,b",   ":col",
                          "a:",     "a:1x",   "a:b c",
                          "a:x\"y", "a;drop", "customer.country",
                          "a:x,b:x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(sql_columns_parse(bad[i], &c, why, sizeof(why)),
                     -FLOW_EOPTION, "%s accepted", bad[i]);
    cr_assert_eq(sql_columns_parse("a:x,b:x", &c, why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert(strstr(why, "given twice"), "%s", why);
    char many[SQL_COLUMNS_MAX * 8] = "";
    for (int i = 0; i <= SQL_COLUMNS_MAX; i++) {
        char one[8];
        snprintf(one, sizeof(one), "%sc%d", i ? "," : "", i);
        strcat(many, one);
    }
    cr_assert_eq(sql_columns_parse(many, &c, why, sizeof(why)), -FLOW_EOPTION);
}

Test(sqlmap, identifiers)
{
    cr_assert(sql_ident_ok("accounts", 8, false));
    cr_assert(sql_ident_ok("_a1", 3, false));
    cr_assert(!sql_ident_ok("1a", 2, false));
    cr_assert(!sql_ident_ok("a.b", 3, false));
    cr_assert(sql_ident_ok("app.accounts", 12, true));
    cr_assert(!sql_ident_ok("a.b.c", 5, true));
    cr_assert(!sql_ident_ok(".a", 2, true));
    cr_assert(!sql_ident_ok("a.", 2, true));
    cr_assert(!sql_ident_ok("", 0, true));
    char long_name[SQL_IDENT_MAX + 2];
    memset(long_name, 'a', sizeof(long_name));
    cr_assert(sql_ident_ok(long_name, SQL_IDENT_MAX, false));
    cr_assert(!sql_ident_ok(long_name, SQL_IDENT_MAX + 1, false));
}

Test(sqlmap, quoting)
{
    flow_buf b;
    flow_buf_init(&b);
    sql_quote_ident(&b, "app.accounts");
    flow_buf_append(&b, "", 1);
    cr_assert_str_eq((const char *)b.data, "\"app\".\"accounts\"");
    flow_buf_reset(&b);
    sql_quote_ident(&b, "we\"ird");
    flow_buf_append(&b, "", 1);
    cr_assert_str_eq((const char *)b.data, "\"we\"\"ird\"");
    flow_buf_fini(&b);
}
