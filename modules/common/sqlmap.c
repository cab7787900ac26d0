#include "sqlmap.h"

#include "flow/error.h"

#include <stdio.h>
#include <string.h>

int sql_url_parse(const char *url, struct sql_url *out, char *why,
                  size_t whylen)
{
    if (!url || !*url) {
        snprintf(why, whylen,
                 "--url is empty: give sqlite:PATH or "
                 "postgresql://HOST/DB");
        return -FLOW_EOPTION;
    }
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *p = url + 7;
        /* sqlite:///abs/path and sqlite://rel as other tools write them. */
        if (strncmp(p, "//", 2) == 0)
            p += 2;
        if (!*p) {
            snprintf(why, whylen,
                     "--url=%s names no file: give "
                     "sqlite:PATH",
                     url);
            return -FLOW_EOPTION;
        }
        out->kind = SQL_SQLITE;
        out->target = p;
        return 0;
    }
    if (strncmp(url, "postgresql://", 13) == 0 ||
        strncmp(url, "postgres://", 11) == 0) {
        out->kind = SQL_POSTGRES;
        out->target = url;
        return 0;
    }
    snprintf(why, whylen,
             "--url=%s: unknown database, give sqlite:PATH or "
             "postgresql://HOST/DB",
             url);
    return -FLOW_EOPTION;
}

bool sql_ident_ok(const char *s, size_t len, bool dots)
{
    if (len == 0 || len > SQL_IDENT_MAX * 2 + 1)
        return false;
    size_t part = 0;
    bool dotted = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.' && dots && !dotted) {
            if (part == 0)
                return false;
            dotted = true;
            part = 0;
            continue;
        }
        bool letter =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!letter && !(digit && part > 0))
            return false;
        if (++part > SQL_IDENT_MAX)
            return false;
    }
    return part > 0;
}

int sql_columns_parse(const char *spec, struct sql_columns *out, char *why,
                      size_t whylen)
{
    out->n = 0;
    if (!spec || !*spec) {
        snprintf(why, whylen, "--columns is empty: give FIELD[:COLUMN],...");
        return -FLOW_EOPTION;
    }
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        size_t flen = colon ? (size_t)(colon - p) : len;
        const char *c = colon ? colon + 1 : p;
        size_t clen = colon ? len - flen - 1 : len;
        if (flen == 0) {
            snprintf(why, whylen,
                     "--columns=%s: an entry names no payload "
                     "field",
                     spec);
            return -FLOW_EOPTION;
        }
        if (out->n == SQL_COLUMNS_MAX) {
            snprintf(why, whylen, "--columns=%s: more than %d columns", spec,
                     SQL_COLUMNS_MAX);
            return -FLOW_EOPTION;
        }
        if (flen >= sizeof(out->col[0].field)) {
            snprintf(why, whylen, "--columns: field \"%.*s...\" is too long",
                     32, p);
            return -FLOW_EOPTION;
        }
        if (!sql_ident_ok(c, clen, false)) {
            snprintf(why, whylen,
                     "--columns: column \"%.*s\" is not a "
                     "name (letters, digits, _, not starting with a digit, "
                     "at most %d)",
                     (int)clen, c, SQL_IDENT_MAX);
            return -FLOW_EOPTION;
        }
        struct sql_column *col = &out->col[out->n];
        memcpy(col->field, p, flen);
        col->field[flen] = '\0';
        memcpy(col->column, c, clen);
        col->column[clen] = '\0';
        for (size_t i = 0; i < out->n; i++) {
            if (strcmp(out->col[i].column, col->column) == 0) {
                snprintf(why, whylen, "--columns: column %s is given twice",
                         col->column);
                return -FLOW_EOPTION;
            }
        }
        out->n++;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

void sql_quote_ident(flow_buf *b, const char *s)
{
    flow_buf_append(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '.') {
            flow_buf_append(b, "\".\"", 3);
        } else if (*s == '"') {
            flow_buf_append(b, "\"\"", 2);
        } else {
            flow_buf_append(b, s, 1);
        }
    }
    flow_buf_append(b, "\"", 1);
}
