/* flowd's error table (server/error.h): names unique, statuses HTTP error
 * statuses, the lookups, and docs/rest.md listing exactly its entries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static const struct {
    int code;
    const char *name;
    int status;
    const char *msg;
} rows[] = {
#define ROW(name, status, msg) { SRV_##name, #name, status, msg },
    SRV_ERRNO_MAP(ROW)
#undef ROW
};
#define NROWS (sizeof rows / sizeof rows[0])

Test(error, names_unique_and_values_dense)
{
    cr_assert_eq(NROWS, SRV__E_COUNT - 1);
    for (size_t i = 0; i < NROWS; i++) {
        cr_assert_eq(rows[i].code, (int)i + 1, "%s", rows[i].name);
        cr_assert_eq(rows[i].name[0], 'E', "%s", rows[i].name);
        cr_assert(rows[i].msg[0], "%s has no message", rows[i].name);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(rows[i].name, rows[j].name);
    }
}

Test(error, statuses_are_http_errors)
{
    for (size_t i = 0; i < NROWS; i++)
        cr_assert(rows[i].status >= 400 && rows[i].status <= 599, "%s: %d",
                  rows[i].name, rows[i].status);
}

Test(error, lookups)
{
    for (size_t i = 0; i < NROWS; i++) {
        cr_assert_str_eq(srv_errname(-rows[i].code), rows[i].name);
        cr_assert_str_eq(srv_errname(rows[i].code), rows[i].name);
        cr_assert_eq(srv_errstatus(-rows[i].code), rows[i].status);
        cr_assert_str_eq(srv_strerror(-rows[i].code), rows[i].msg);
    }
    cr_assert_eq(srv_errstatus(-SRV_EDEPLOYED), 409);
    cr_assert_eq(srv_errstatus(-SRV_ENOTFOUND), 404);
    cr_assert_eq(srv_errstatus(-SRV_EDEFINITION), 400);
    cr_assert_eq(srv_errstatus(-SRV_EREFUSED), 403);
    cr_assert_eq(srv_errstatus(-SRV_ESTOREFULL), 507);
    cr_assert_eq(srv_errstatus(-SRV_ESTORE), 500);
    /* Out of memory is flowd's failure, never the client's. */
    cr_assert_eq(srv_errstatus(-SRV_ENOMEM), 500);
    cr_assert_str_eq(srv_strerror(-SRV_ENOMEM), "out of memory");
    cr_assert_str_eq(srv_strerror(0), "success");
    cr_assert_str_eq(srv_errname(0), "UNKNOWN");
    cr_assert_str_eq(srv_errname(-SRV__E_COUNT), "UNKNOWN");
    cr_assert_str_eq(srv_errname(-2147483647 - 1), "UNKNOWN");
    cr_assert_str_eq(srv_strerror(SRV__E_COUNT + 5), "unknown error");
    cr_assert_eq(srv_errstatus(-SRV__E_COUNT), 500);
}

/* docs/rest.md's table of codes: a row "| `NAME` | STATUS | MESSAGE |"
 * for every entry, in the table's order, and no other row. */
Test(error, rest_md_lists_the_table)
{
    FILE *f = fopen(SRV_REST_MD, "r");
    cr_assert_not_null(f, "cannot open %s", SRV_REST_MD);
    char line[2048];
    size_t next = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "| `E", 4) != 0)
            continue;
        cr_assert_lt(next, NROWS, "docs/rest.md lists a code flowd lacks: %s",
                     line);
        char want[512];
        snprintf(want, sizeof want, "| `%s` | %d | %s |", rows[next].name,
                 rows[next].status, rows[next].msg);
        cr_assert(strncmp(line, want, strlen(want)) == 0,
                  "docs/rest.md: expected a row starting '%s', found '%s'",
                  want, line);
        next++;
    }
    fclose(f);
    cr_assert_eq(next, NROWS, "docs/rest.md lists %zu of the %zu codes", next,
                 NROWS);
}
