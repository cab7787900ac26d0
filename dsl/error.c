/*
 * Diagnostics: a growable list of errors with byte offsets, turned into
 * line:column and a caret only when printed.
 */
#include "flow/dsl.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void dsl_errors_fini(dsl_errors *errs)
{
    if (!errs)
        return;
    for (size_t i = 0; i < errs->n; i++)
        free(errs->v[i].message);
    free(errs->v);
    errs->v = NULL;
    errs->n = errs->cap = 0;
}

/* Compute the 1-based line and column of `offset` in `src`. */
static void line_col(const char *src, size_t len, size_t offset, unsigned *line,
                     unsigned *col)
{
    unsigned l = 1;
    size_t bol = 0;
    if (offset > len)
        offset = len;
    for (size_t i = 0; i < offset; i++) {
        if (src[i] == '\n') {
            l++;
            bol = i + 1;
        }
    }
    *line = l;
    *col = (unsigned)(offset - bol + 1);
}

int dsl_errors_add(dsl_errors *errs, const char *src, size_t src_len,
                   size_t offset, size_t length, const char *fmt, ...)
{
    /* Past the cap, one final note and then nothing: hostile input
     * cannot make the list grow without bound. */
    if (errs->n > DSL_MAX_ERRORS)
        return 0;
    bool last = errs->n == DSL_MAX_ERRORS;
    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 4;
        dsl_error *v = realloc(errs->v, cap * sizeof(*v));
        if (!v)
            return -1;
        errs->v = v;
        errs->cap = cap;
    }
    char *msg = NULL;
    int rc;
    if (last) {
        rc = asprintf(&msg, "too many errors (more than %u); stopping here",
                      DSL_MAX_ERRORS);
    } else {
        va_list ap;
        va_start(ap, fmt);
        rc = vasprintf(&msg, fmt, ap);
        va_end(ap);
    }
    if (rc < 0)
        return -1;
    dsl_error *e = &errs->v[errs->n++];
    memset(e, 0, sizeof(*e));
    e->offset = offset;
    e->length = length;
    e->message = msg;
    if (src)
        line_col(src, src_len, offset, &e->line, &e->column);
    return 0;
}

/* Append to a growable buffer; returns -1 when out of memory. */
static int buf_put(char **buf, size_t *n, size_t *cap, const char *s,
                   size_t len)
{
    if (*n + len + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *n + len + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b)
            return -1;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *n, s, len);
    *n += len;
    (*buf)[*n] = '\0';
    return 0;
}

char *dsl_error_format(const char *file, const char *src, size_t src_len,
                       const dsl_error *e)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    unsigned line = e->line, col = e->column;
    if (src && line == 0)
        line_col(src, src_len, e->offset, &line, &col);
    char *head = NULL;
    int rc;
    if (file)
        rc = asprintf(&head, "%s:%u:%u: error: %s\n", file, line, col,
                      e->message);
    else
        rc = asprintf(&head, "%u:%u: error: %s\n", line, col, e->message);
    if (rc < 0)
        return NULL;
    if (buf_put(&buf, &n, &cap, head, strlen(head)) < 0)
        goto fail_head;
    free(head);
    head = NULL;
    if (src) {
        size_t off = e->offset > src_len ? src_len : e->offset;
        size_t bol = off, eol = off;
        while (bol > 0 && src[bol - 1] != '\n')
            bol--;
        while (eol < src_len && src[eol] != '\n')
            eol++;
        /* Tabs in the line are kept under the caret so it lines up. */
        if (buf_put(&buf, &n, &cap, src + bol, eol - bol) < 0 ||
            buf_put(&buf, &n, &cap, "\n", 1) < 0)
            goto fail;
        for (size_t i = bol; i < off; i++) {
            const char *pad = src[i] == '\t' ? "\t" : " ";
            if (buf_put(&buf, &n, &cap, pad, 1) < 0)
                goto fail;
        }
        if (buf_put(&buf, &n, &cap, "^\n", 2) < 0)
            goto fail;
    }
    return buf;
fail_head:
    free(head);
fail:
    free(buf);
    return NULL;
}

int dsl_error_print(FILE *out, const char *file, const char *src,
                    size_t src_len, const dsl_error *e)
{
    char *s = dsl_error_format(file, src, src_len, e);
    if (!s)
        return -1;
    int rc = fputs(s, out) < 0 ? -1 : 0;
    free(s);
    return rc;
}
