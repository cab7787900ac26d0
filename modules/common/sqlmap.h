/*
 * sqlmap.h - what the sql sink parses from its options: the database URL
 * (--url=sqlite:PATH or postgresql://...), the column mapping
 * (--columns=account:account_id,balance,state: payload field, then the
 * column it goes to; a bare name maps to itself) and the identifiers it
 * puts in its statements, checked and quoted.
 */
#ifndef FLOW_MODULES_SQLMAP_H
#define FLOW_MODULES_SQLMAP_H

#include "flow/mp.h"

#include <stddef.h>

enum sql_kind { SQL_SQLITE, SQL_POSTGRES };

struct sql_url {
    enum sql_kind kind;
    const char *target; /* SQLite: the path; PostgreSQL: the whole URL
                         * (libpq reads it); borrowed from the option */
};

/* Parses url; returns 0, or -FLOW_EOPTION with the reason in why. */
int sql_url_parse(const char *url, struct sql_url *out, char *why,
                  size_t whylen);

/* The longest identifier accepted (PostgreSQL's NAMEDATALEN - 1). */
#define SQL_IDENT_MAX 63
/* At most this many columns. */
#define SQL_COLUMNS_MAX 64

/* Whether s is an identifier the sink accepts: 1 to SQL_IDENT_MAX bytes of
 * ASCII letters, digits and underscores, not starting with a digit. A
 * table may be schema-qualified ("app.accounts") when dots is set. */
bool sql_ident_ok(const char *s, size_t len, bool dots);

struct sql_column {
    char field[256];                /* payload field path (fieldpath.h) */
    char column[SQL_IDENT_MAX + 1]; /* table column */
};

struct sql_columns {
    struct sql_column col[SQL_COLUMNS_MAX];
    size_t n;
};

/* Parses --columns; returns 0, or -FLOW_EOPTION with the reason in why
 * (an empty entry, a bad column name, a column given twice, too many). */
int sql_columns_parse(const char *spec, struct sql_columns *out, char *why,
                      size_t whylen);

/* Appends the identifier double-quoted ("a"."b" for a dotted table). */
void sql_quote_ident(flow_buf *b, const char *s);

#endif
