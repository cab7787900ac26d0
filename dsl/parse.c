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
    if (vasprintf(&lx->err_msg, fmt, ap) < 0)
        lx->err_msg = NULL;
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

bool dsl_is_stream_name(const char *name)
{
    if (!name)
        return false;
    unsigned char c = (unsigned char)name[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
        return false;
    for (const char *p = name + 1; *p; p++) {
        c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int dsl__check_labels(const dsl_stream *s, const char *src, size_t len,
                      dsl_errors *errs)
{
    for (size_t i = 1; i < s->n_apps; i++) {
        const char *li = dsl_app_label(&s->apps[i]);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(li, dsl_app_label(&s->apps[j])) != 0)
                continue;
            const dsl_app *a = &s->apps[j], *b = &s->apps[i];
            if (dsl_errors_add(
                    errs, src, len, b->offset, strlen(li),
                    "label '%s' should be unique but app '%s' (at %zu) "
                    "and app '%s' (at %zu) both use it; add a label, "
                    "e.g. '%s-%zu: %s'",
                    li, a->name, j, b->name, i, b->name, i + 1, b->name) < 0)
                return -1;
            return 0;
        }
    }
    return 0;
}

static int cmp_err(const void *a, const void *b)
{
    const dsl_error *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return 0;
}

/* Sort the errors added since `from` by offset, keeping the order of
 * equal offsets (insertion sort: the lists are short). */
void dsl__sort_errors(dsl_errors *errs, size_t from)
{
    for (size_t i = from + 1; i < errs->n; i++) {
        dsl_error e = errs->v[i];
        size_t j = i;
        while (j > from && cmp_err(&errs->v[j - 1], &e) > 0) {
            errs->v[j] = errs->v[j - 1];
            j--;
        }
        errs->v[j] = e;
    }
}

static int run(const char *text, size_t len, bool file_mode, dsl__parse *ps)
{
    if (len > DSL_MAX_INPUT) {
        dsl_errors_add(ps->errs, NULL, 0, DSL_MAX_INPUT, 1,
                       "input too large (%zu bytes; the limit is %u bytes)",
                       len, DSL_MAX_INPUT);
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
        rc = -1;
        goto out;
    }
    yyscan_t sc;
    if (dsl_yylex_init_extra(&lx, &sc) != 0) {
        dsl_errors_add(ps->errs, text, len, 0, 1, "out of memory");
        rc = -1;
        goto out;
    }
    scanner = sc;
    if (!dsl_yy_scan_bytes(text ? text : "", (int)len, sc)) {
        dsl_errors_add(ps->errs, text, len, 0, 1, "out of memory");
        rc = -1;
        goto out;
    }
    dsl_yyset_lineno(1, sc);
    ps->scanner = sc;
    int prc = dsl_yyparse(ps);
    if (prc == 2)
        dsl_errors_add(ps->errs, text, len, 0, 1, "out of memory");
    else if (prc != 0 && ps->errs->n == ps->n_errs_at_start)
        dsl_errors_add(ps->errs, text, len, lx.pos, 1, "syntax error");
    rc = prc == 0 && ps->errs->n == ps->n_errs_at_start ? 0 : -1;
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
    if (rc == 0 && !ps.stream) {
        dsl_errors_add(errs, text, len, 0, 1, "expected app name");
        rc = -1;
    }
    if (rc == 0 && dsl__check_labels(ps.stream, text, len, errs) < 0)
        rc = -1;
    if (rc == 0 && errs->n > ps.n_errs_at_start)
        rc = -1;
    if (rc != 0) {
        dsl_stream_destroy(&ps.stream);
        if (errs->n == ps.n_errs_at_start)
            dsl_errors_add(errs, text, len, 0, 1, "out of memory");
        return -1;
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
        return -1;
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
            rc = -1;
        if (dsl__check_labels(s, text, len, errs) < 0)
            rc = -1;
    }
    dsl__sort_errors(errs, ps.n_errs_at_start);
    if (rc != 0 || errs->n > ps.n_errs_at_start) {
        dsl_file_destroy(&ps.file);
        if (errs->n == ps.n_errs_at_start)
            dsl_errors_add(errs, text, len, 0, 1, "out of memory");
        return -1;
    }
    *out = ps.file;
    return 0;
}
