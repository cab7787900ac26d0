/*
 * The parse driver: runs the flex scanner and the bison parser over one
 * definition or a whole stream file, then applies the rules SCDF's parser
 * checks after parsing (unique labels) and the stream-file rules (every
 * entry named).
 */
#include "dsl-internal.h"
#include "parser.h"
#include "scanner.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the scanner's YY_FATAL_ERROR jumps (one per thread). */
__thread jmp_buf *dsl__fatal_jmp;

void dsl__lex_error(dsl__lex *lx, bool lexical, size_t off, const char *fmt,
                    ...)
{
    free(lx->err_msg);
    lx->err_msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&lx->err_msg, fmt, ap) < 0) {
        lx->err_msg = NULL;
        lx->oom = true;
    }
    va_end(ap);
    lx->err_set = true;
    lx->err_lexical = lexical;
    lx->err_off = off;
}

const char *dsl__char_name(unsigned char c, char buf[8])
{
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "'\\x%02x'", c);
    return buf;
}

char *dsl__unquote(const char *s, size_t n)
{
    if (n >= 2 && (s[0] == '\'' || s[0] == '"')) {
        char q = s[0];
        size_t i = 1;
        while (i < n) {
            if (s[i] == q) {
                if (i + 1 < n && s[i + 1] == q) {
                    i += 2;
                    continue;
                }
                break;
            }
            i++;
        }
        if (i == n - 1) {
            /* Wholly quoted: drop the outer quotes, undouble the inner. */
            char *d = malloc(n);
            if (!d)
                return NULL;
            size_t k = 0;
            for (size_t j = 1; j < n - 1; j++) {
                d[k++] = s[j];
                if (s[j] == q)
                    j++;
            }
            d[k] = '\0';
            return d;
        }
    }
    return strndup(s, n);
}

typedef struct labelref {
    const char *label;
    size_t index;
} labelref;

static int cmp_labelref(const void *a, const void *b)
{
    const labelref *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

int dsl__check_labels(const dsl_stream *s, const char *src, size_t len,
                      dsl_errors *errs)
{
    if (s->n_apps > DSL_MAX_APPS)
        return dsl_errors_add(errs, src, len, s->apps[DSL_MAX_APPS].offset, 1,
                              "too many apps in one stream (the limit is "
                              "%u)",
                              DSL_MAX_APPS);
    for (size_t i = 0; i < s->n_apps; i++)
        if (s->apps[i].n_options > DSL_MAX_OPTIONS)
            return dsl_errors_add(
                errs, src, len, s->apps[i].options[DSL_MAX_OPTIONS].offset, 1,
                "too many options on app '%s' (the limit is %u)",
                s->apps[i].name, DSL_MAX_OPTIONS);
    if (s->n_apps < 2)
        return 0;
    /* Sort (label, index) pairs: a duplicate is a run of equal labels;
     * SCDF reports the earliest app whose label was seen before. */
    labelref *v = malloc(s->n_apps * sizeof(*v));
    if (!v)
        return -1;
    for (size_t i = 0; i < s->n_apps; i++) {
        v[i].label = dsl_app_label(&s->apps[i]);
        v[i].index = i;
    }
    qsort(v, s->n_apps, sizeof(*v), cmp_labelref);
    size_t best = s->n_apps, first = 0;
    for (size_t i = 1; i < s->n_apps; i++) {
        if (strcmp(v[i].label, v[i - 1].label) != 0)
            continue;
        /* Only the second app of each run matters: it is where SCDF,
         * reading left to right, first sees that label again. */
        if (i >= 2 && !strcmp(v[i - 2].label, v[i].label))
            continue;
        if (v[i].index < best) {
            best = v[i].index;
            first = v[i - 1].index;
        }
    }
    free(v);
    if (best == s->n_apps)
        return 0;
    const dsl_app *a = &s->apps[first], *b = &s->apps[best];
    const char *li = dsl_app_label(b);
    return dsl_errors_add(errs, src, len, b->offset, strlen(li),
                          "label '%s' should be unique but app '%s' (at %zu) "
                          "and app '%s' (at %zu) both use it; add a label, "
                          "e.g. '%s-%zu: %s'",
                          li, a->name, first, b->name, best, b->name, best + 1,
                          b->name) < 0
               ? -1
               : 0;
}

/* Stable merge sort of errors by offset (lists can be long). */
void dsl__sort_errors(dsl_errors *errs, size_t from)
{
    size_t n = errs->n - from;
    if (n < 2)
        return;
    dsl_error *a = errs->v + from;
    dsl_error *tmp = malloc(n * sizeof(*tmp));
    if (!tmp)
        return; /* unsorted but complete */
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n;
            size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = a[j].offset < a[i].offset ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof(*tmp));
    }
    free(tmp);
}

static int run(const char *text, size_t len, bool file_mode, dsl__parse *ps)
{
    if (len > DSL_MAX_INPUT) {
        if (dsl_errors_add(ps->errs, NULL, 0, DSL_MAX_INPUT, 1,
                           "input too large (%zu bytes; the limit is %u "
                           "bytes)",
                           len, DSL_MAX_INPUT) < 0)
            return DSL_ENOMEM;
        ps->errs->v[ps->errs->n - 1].line = 0;
        return -1;
    }
    dsl__lex lx;
    memset(&lx, 0, sizeof(lx));
    lx.src = text;
    lx.len = len;
    lx.file_mode = file_mode;
    lx.pending_tok = file_mode ? START_FILE : START_STREAM;
    ps->lex = &lx;

    yyscan_t volatile scanner = NULL;
    jmp_buf jb;
    jmp_buf *volatile saved = dsl__fatal_jmp;
    dsl__fatal_jmp = &jb;
    int rc;
    if (setjmp(jb)) {
        dsl_errors_add(ps->errs, text, len, 0, 1,
                       "the scanner ran out of memory");
        rc = DSL_ENOMEM;
        goto out;
    }
    yyscan_t sc;
    if (dsl_yylex_init_extra(&lx, &sc) != 0) {
        dsl_errors_add(ps->errs, text, len, 0, 1, "out of memory");
        rc = DSL_ENOMEM;
        goto out;
    }
    scanner = sc;
    if (!dsl_yy_scan_bytes(text ? text : "", (int)len, sc)) {
        dsl_errors_add(ps->errs, text, len, 0, 1, "out of memory");
        rc = DSL_ENOMEM;
        goto out;
    }
    dsl_yyset_lineno(1, sc);
    ps->scanner = sc;
    int prc = dsl_yyparse(ps);
    if (prc == 2) {
        dsl_errors_add(ps->errs, text, len, 0, 1, "out of memory");
        rc = DSL_ENOMEM;
        goto out;
    }
    if (prc != 0 && ps->errs->n == ps->n_errs_at_start &&
        dsl_errors_add(ps->errs, text, len, lx.pos, 1, "syntax error") < 0) {
        rc = DSL_ENOMEM;
        goto out;
    }
    rc = prc == 0 && ps->errs->n == ps->n_errs_at_start ? 0 : -1;
    if (lx.oom)
        rc = DSL_ENOMEM;
out:
    if (scanner)
        dsl_yylex_destroy(scanner);
    dsl__fatal_jmp = saved;
    free(lx.err_msg);
    ps->lex = NULL;
    return rc;
}

int dsl_parse_stream(const char *text, size_t len, dsl_stream **out,
                     dsl_errors *errs)
{
    *out = NULL;
    dsl__parse ps;
    memset(&ps, 0, sizeof(ps));
    ps.errs = errs;
    ps.n_errs_at_start = errs->n;
    int rc = run(text, len, false, &ps);
    if (rc == 0 && !ps.stream)
        rc = dsl_errors_add(errs, text, len, 0, 1, "expected app name") < 0
                 ? DSL_ENOMEM
                 : -1;
    if (rc == 0 && dsl__check_labels(ps.stream, text, len, errs) < 0)
        rc = DSL_ENOMEM;
    if (rc == 0 && errs->n > ps.n_errs_at_start)
        rc = -1;
    if (rc != 0) {
        dsl_stream_destroy(&ps.stream);
        /* A failure that left no error could not add one. */
        if (errs->n == ps.n_errs_at_start) {
            dsl_errors_add(errs, text, len, 0, 1, "out of memory");
            rc = DSL_ENOMEM;
        }
        return rc;
    }
    *out = ps.stream;
    return 0;
}

int dsl_parse_file(const char *text, size_t len, dsl_file **out,
                   dsl_errors *errs)
{
    *out = NULL;
    dsl__parse ps;
    memset(&ps, 0, sizeof(ps));
    ps.errs = errs;
    ps.n_errs_at_start = errs->n;
    ps.file = calloc(1, sizeof(*ps.file));
    if (!ps.file) {
        dsl_errors_add(errs, text, len, 0, 1, "out of memory");
        return DSL_ENOMEM;
    }
    int rc = run(text, len, true, &ps);
    /* Entries that parsed still get the post-parse rules, so one run
     * reports every bad entry. */
    for (size_t i = 0; i < ps.file->n_streams; i++) {
        const dsl_stream *s = ps.file->streams[i];
        if (!s->name &&
            dsl_errors_add(errs, text, len, s->offset, 1,
                           "a stream file entry needs a name: write "
                           "'NAME = %s...'",
                           s->apps[0].name) < 0)
            rc = DSL_ENOMEM;
        if (dsl__check_labels(s, text, len, errs) < 0)
            rc = DSL_ENOMEM;
    }
    dsl__sort_errors(errs, ps.n_errs_at_start);
    if (rc != 0 || errs->n > ps.n_errs_at_start) {
        dsl_file_destroy(&ps.file);
        /* A failure that left no error could not add one. */
        if (errs->n == ps.n_errs_at_start) {
            dsl_errors_add(errs, text, len, 0, 1, "out of memory");
            rc = DSL_ENOMEM;
        }
        return rc ? rc : -1;
    }
    *out = ps.file;
    return 0;
}
