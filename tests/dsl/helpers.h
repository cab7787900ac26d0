/*
 * Shared helpers for the dsl tests: parse-or-fail wrappers that report
 * the parser's own message when an expectation does not hold.
 */
#ifndef FLOW_TEST_DSL_HELPERS_H
#define FLOW_TEST_DSL_HELPERS_H

#include "flow/dsl.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse one definition that must be valid; returns new. */
static inline dsl_stream *parse_ok(const char *def)
{
    dsl_stream *s = NULL;
    dsl_errors e = { 0 };
    int rc = dsl_parse_stream(def, strlen(def), &s, &e);
    cr_assert_eq(rc, 0, "'%s' should parse but: %s (at %zu)", def,
                 e.n ? e.v[0].message : "?", e.n ? e.v[0].offset : 0);
    cr_assert_not_null(s);
    dsl_errors_fini(&e);
    return s;
}

/* Parse one definition that must fail with its first error at `off`
 * (and a message holding `part`, when given). */
static inline void parse_err(const char *def, size_t off, const char *part)
{
    dsl_stream *s = NULL;
    dsl_errors e = { 0 };
    int rc = dsl_parse_stream(def, strlen(def), &s, &e);
    cr_assert_eq(rc, -1, "'%s' should not parse", def);
    cr_assert_null(s);
    cr_assert_geq(e.n, 1);
    cr_expect_eq(e.v[0].offset, off, "'%s': error at %zu, want %zu: %s", def,
                 e.v[0].offset, off, e.v[0].message);
    if (part)
        cr_expect(strstr(e.v[0].message, part) != NULL,
                  "'%s': message '%s' lacks '%s'", def, e.v[0].message, part);
    dsl_errors_fini(&e);
}

/* The value of option `key` of app `i`. */
static inline const char *opt(const dsl_stream *s, size_t i, const char *key)
{
    cr_assert_lt(i, s->n_apps);
    const dsl_option *o = dsl_app_find_option(&s->apps[i], key);
    cr_assert_not_null(o, "app %zu has no option '%s'", i, key);
    return o->value;
}

/* Read a file under the source tree; returns new, NUL-terminated. */
static inline char *read_src(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}

#endif
