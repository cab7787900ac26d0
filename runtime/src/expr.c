/*
 * The expression language's compiler: a recursive-descent parser that turns
 * the text into a tree of xnode (expr_impl.h), checks literal regular
 * expressions, header names and JSON paths, and gives each top-level payload
 * field the expression reads a slot of the one-pass payload scan. Runs once
 * per expression, at app start; nothing here is on the per-event path.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_impl.h"
#include "flow/error.h"

typedef struct parser {
    flow_expr *e;
    const char *s;
    size_t len;
    size_t pos;
    int depth;
    flow_expr_error *err;
    int rc; /* 0, or the first error's negative code */
} parser;

static int fail(parser *p, size_t off, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(parser *p, size_t off, int code, const char *fmt, ...)
{
    if (p->rc)
        return p->rc;
    p->rc = -code;
    if (p->err) {
        va_list ap;
        va_start(ap, fmt);
        p->err->code = code;
        p->err->offset = off;
        vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
        va_end(ap);
    }
    return p->rc;
}

static xnode *node(parser *p, int op, size_t off)
{
    flow_expr *e = p->e;
    if (p->rc)
        return NULL;
    if (e->nnodes == e->capnodes) {
        size_t cap = e->capnodes ? e->capnodes * 2 : 16;
        xnode **v = realloc(e->nodes, cap * sizeof(*v));
        if (!v) {
            fail(p, off, FLOW_EXPR_ENOMEM, "out of memory");
            return NULL;
        }
        e->nodes = v;
        e->capnodes = cap;
    }
    xnode *n = calloc(1, sizeof(*n));
    if (!n) {
        fail(p, off, FLOW_EXPR_ENOMEM, "out of memory");
        return NULL;
    }
    n->op = (uint8_t)op;
    n->off = (uint32_t)off;
    e->nodes[e->nnodes++] = n;
    return n;
}

/* Keeps a decoded string for the expression's lifetime. */
static char *keep_str(parser *p, char *s, size_t off)
{
    flow_expr *e = p->e;
    if (e->nstrs == e->capstrs) {
        size_t cap = e->capstrs ? e->capstrs * 2 : 8;
        char **v = realloc(e->strs, cap * sizeof(*v));
        if (!v) {
            free(s);
            fail(p, off, FLOW_EXPR_ENOMEM, "out of memory");
            return NULL;
        }
        e->strs = v;
        e->capstrs = cap;
    }
    e->strs[e->nstrs++] = s;
    return s;
}

/* ---- Lexing helpers ----------------------------------------------- */

static void skip_ws(parser *p)
{
    while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static bool peek_is(parser *p, const char *tok)
{
    skip_ws(p);
    size_t n = strlen(tok);
    return p->len - p->pos >= n && memcmp(p->s + p->pos, tok, n) == 0;
}

static bool accept(parser *p, const char *tok)
{
    if (!peek_is(p, tok))
        return false;
    p->pos += strlen(tok);
    return true;
}

static bool is_ident_start(int c)
{
    return isalpha(c) || c == '_' || c == '$';
}

static bool is_ident(int c)
{
    return isalnum(c) || c == '_' || c == '$';
}

/* The identifier at pos (not consumed): its length, 0 when none. */
static size_t ident_len(parser *p)
{
    skip_ws(p);
    size_t i = p->pos;
    if (i >= p->len || !is_ident_start((unsigned char)p->s[i]))
        return 0;
    while (i < p->len && is_ident((unsigned char)p->s[i]))
        i++;
    return i - p->pos;
}

/* A keyword (case-insensitive, whole word) at pos: consumes it. */
static bool accept_kw(parser *p, const char *kw)
{
    size_t n = ident_len(p);
    if (n != strlen(kw) || strncasecmp(p->s + p->pos, kw, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static bool peek_kw(parser *p, const char *kw)
{
    size_t save = p->pos;
    bool ok = accept_kw(p, kw);
    p->pos = save;
    return ok;
}

static const char *const reserved[] = { "and",        "or",  "not", "eq",
                                        "ne",         "lt",  "le",  "gt",
                                        "ge",         "div", "mod", "matches",
                                        "instanceof", NULL };

/* Describes what is at pos, for "expected X, found Y". */
static void found(parser *p, char *buf, size_t size)
{
    skip_ws(p);
    if (p->pos >= p->len) {
        snprintf(buf, size, "the end of the expression");
        return;
    }
    size_t n = ident_len(p);
    if (n)
        snprintf(buf, size, "'%.*s'", (int)(n > 40 ? 40 : n), p->s + p->pos);
    else
        snprintf(buf, size, "'%c'", p->s[p->pos]);
}

static int expect(parser *p, const char *tok, const char *what)
{
    if (accept(p, tok))
        return 0;
    char f[64];
    found(p, f, sizeof(f));
    return fail(p, p->pos, FLOW_EXPR_ESYNTAX, "expected %s, found %s", what, f);
}

/* ---- Literals ----------------------------------------------------- */

/* A string literal at pos ('...' or "...", the quote doubled inside). */
static xnode *string_lit(parser *p)
{
    size_t start = p->pos;
    char q = p->s[p->pos++];
    char *out = malloc(p->len - start + 1);
    size_t n = 0;
    if (!out) {
        fail(p, start, FLOW_EXPR_ENOMEM, "out of memory");
        return NULL;
    }
    for (;;) {
        if (p->pos >= p->len) {
            free(out);
            fail(p, start, FLOW_EXPR_ESYNTAX,
                 "this string is not closed (add a %c; write %c%c for a "
                 "quote inside)",
                 q, q, q);
            return NULL;
        }
        char c = p->s[p->pos++];
        if (c == q) {
            if (p->pos < p->len && p->s[p->pos] == q) {
                out[n++] = q;
                p->pos++;
                continue;
            }
            break;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    if (!keep_str(p, out, start))
        return NULL;
    xnode *x = node(p, X_LIT, start);
    if (!x)
        return NULL;
    x->lit = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                .len = (uint32_t)n,
                                .s = out };
    return x;
}

static xnode *number_lit(parser *p)
{
    size_t start = p->pos;
    const char *s = p->s;
    size_t i = p->pos;
    bool dbl = false;
    char buf[128];
    xnode *x;
    if (i + 1 < p->len && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        i += 2;
        size_t d = i;
        while (i < p->len && isxdigit((unsigned char)s[i]))
            i++;
        if (i == d || i - start >= sizeof(buf)) {
            fail(p, start, FLOW_EXPR_ESYNTAX,
                 "a hexadecimal number needs "
                 "digits after 0x");
            return NULL;
        }
    } else {
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
        if (i + 1 < p->len && s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
            dbl = true;
            i++;
            while (i < p->len && isdigit((unsigned char)s[i]))
                i++;
        }
        if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < p->len && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j < p->len && isdigit((unsigned char)s[j])) {
                dbl = true;
                i = j;
                while (i < p->len && isdigit((unsigned char)s[i]))
                    i++;
            }
        }
    }
    size_t n = i - start;
    if (n >= sizeof(buf)) {
        fail(p, start, FLOW_EXPR_ESYNTAX, "this number is too long");
        return NULL;
    }
    memcpy(buf, s + start, n);
    buf[n] = '\0';
    /* Java's suffixes: L for long, d or f for floating point. */
    if (i < p->len && (s[i] == 'L' || s[i] == 'l')) {
        i++;
    } else if (i < p->len &&
               (s[i] == 'd' || s[i] == 'D' || s[i] == 'f' || s[i] == 'F')) {
        dbl = true;
        i++;
    }
    if (i < p->len && is_ident((unsigned char)s[i])) {
        fail(p, i, FLOW_EXPR_ESYNTAX, "unexpected '%c' after the number %s",
             s[i], buf);
        return NULL;
    }
    p->pos = i;
    x = node(p, X_LIT, start);
    if (!x)
        return NULL;
    errno = 0;
    if (dbl) {
        double d = strtod(buf, NULL);
        if (errno || !isfinite(d)) {
            fail(p, start, FLOW_EXPR_ESYNTAX, "the number %s is out of range",
                 buf);
            return NULL;
        }
        x->lit = (flow_expr_value){ .type = FLOW_EXPR_DOUBLE, .d = d };
    } else {
        unsigned long long u = strtoull(buf, NULL, 0);
        if (errno || u > (unsigned long long)INT64_MAX) {
            fail(p, start, FLOW_EXPR_ESYNTAX,
                 "the integer %s is out of range (at most %lld)", buf,
                 (long long)INT64_MAX);
            return NULL;
        }
        x->lit = (flow_expr_value){ .type = FLOW_EXPR_INT, .i = (int64_t)u };
    }
    return x;
}

/* ---- Expressions -------------------------------------------------- */

static xnode *ternary(parser *p);

static xnode *bin(parser *p, int op, size_t off, xnode *a, xnode *b)
{
    if (!a || !b)
        return NULL;
    xnode *x = node(p, op, off);
    if (x) {
        x->a = a;
        x->b = b;
    }
    return x;
}

/* Arguments after '(' up to ')': into x->args. */
static int args(parser *p, xnode *x, char close)
{
    char end[2] = { close, '\0' };
    size_t cap = 0;
    if (accept(p, end))
        return 0;
    for (;;) {
        xnode *a = ternary(p);
        if (!a)
            return p->rc;
        if (x->nargs == cap) {
            cap = cap ? cap * 2 : 4;
            xnode **v = realloc(x->args, cap * sizeof(*v));
            if (!v)
                return fail(p, p->pos, FLOW_EXPR_ENOMEM, "out of memory");
            x->args = v;
        }
        x->args[x->nargs++] = a;
        if (accept(p, ","))
            continue;
        return expect(p, end, close == ')' ? "',' or ')'" : "',' or '}'");
    }
}

static const struct {
    const char *name;
    enum xmethod m;
    int min, max; /* argument count */
} methods[] = {
    { "length", M_LENGTH, 0, 0 },       { "size", M_SIZE, 0, 0 },
    { "isEmpty", M_ISEMPTY, 0, 0 },     { "toUpperCase", M_UPPER, 0, 0 },
    { "toLowerCase", M_LOWER, 0, 0 },   { "contains", M_CONTAINS, 1, 1 },
    { "startsWith", M_STARTS, 1, 1 },   { "endsWith", M_ENDS, 1, 1 },
    { "substring", M_SUBSTRING, 1, 2 }, { "split", M_SPLIT, 1, 1 },
    { "trim", M_TRIM, 0, 0 },           { "indexOf", M_INDEXOF, 1, 1 },
    { "toString", M_TOSTRING, 0, 0 },
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static const struct {
    const char *name;
    enum xheader h;
} header_names[] = {
    { "type", H_TYPE }, { "key", H_KEY }, { "id", H_ID },
    { "ts", H_TS },     { "seq", H_SEQ },
};

static xnode *header(parser *p, const char *name, size_t n, size_t off)
{
    for (size_t i = 0; i < sizeof(header_names) / sizeof(header_names[0]);
         i++) {
        if (strlen(header_names[i].name) == n &&
            memcmp(header_names[i].name, name, n) == 0) {
            xnode *x = node(p, X_HEADER, off);
            if (x)
                x->flag = (uint8_t)header_names[i].h;
            return x;
        }
    }
    fail(p, off, FLOW_EXPR_ESYNTAX,
         "unknown header '%.*s' (the headers are type, key, id, ts and seq)",
         (int)(n > 40 ? 40 : n), name);
    return NULL;
}

/* payload.NAME or payload['NAME']: a slot of the one-pass scan. */
static xnode *slot(parser *p, const char *name, size_t n, size_t off,
                   bool nullsafe)
{
    flow_expr *e = p->e;
    xnode *x = node(p, X_SLOT, off);
    if (!x)
        return NULL;
    x->nullsafe = nullsafe;
    x->lit = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                .len = (uint32_t)n,
                                .s = name };
    for (uint32_t i = 0; i < e->nslots; i++) {
        if (e->slot_len[i] == n && memcmp(e->slot_name[i], name, n) == 0) {
            x->slot = i;
            return x;
        }
    }
    if (e->nslots == XSLOTS_MAX) {
        /* Past the one-pass table: an ordinary lookup. */
        x->op = X_PROP;
        x->a = node(p, X_PAYLOAD, off);
        return x->a ? x : NULL;
    }
    e->slot_name[e->nslots] = name;
    e->slot_len[e->nslots] = (uint32_t)n;
    if (n < 32)
        e->slot_lens |= 1u << n;
    x->slot = e->nslots++;
    return x;
}

/* A name after '.' or '?.', with its arguments when it is a method. */
static xnode *member(parser *p, xnode *base, bool nullsafe)
{
    size_t n = ident_len(p);
    size_t off = p->pos;
    if (!n) {
        char f[64];
        found(p, f, sizeof(f));
        fail(p, p->pos, FLOW_EXPR_ESYNTAX,
             "expected a property or method name after '%s', found %s",
             nullsafe ? "?." : ".", f);
        return NULL;
    }
    const char *name = p->s + off;
    p->pos += n;
    if (accept(p, "(")) {
        size_t i;
        for (i = 0; i < N_METHODS; i++)
            if (strlen(methods[i].name) == n &&
                memcmp(methods[i].name, name, n) == 0)
                break;
        if (i == N_METHODS) {
            fail(p, off, FLOW_EXPR_ESYNTAX,
                 "unknown method '%.*s' (docs/expressions.md lists the "
                 "methods)",
                 (int)(n > 40 ? 40 : n), name);
            return NULL;
        }
        if (base->op == X_HEADERS) {
            fail(p, off, FLOW_EXPR_ESYNTAX,
                 "headers has no methods; name a header (headers.type)");
            return NULL;
        }
        xnode *x = node(p, X_METHOD, off);
        if (!x)
            return NULL;
        x->flag = (uint8_t)methods[i].m;
        x->a = base;
        x->nullsafe = nullsafe;
        if (args(p, x, ')'))
            return NULL;
        if ((int)x->nargs < methods[i].min || (int)x->nargs > methods[i].max) {
            if (methods[i].min == methods[i].max)
                fail(p, off, FLOW_EXPR_ESYNTAX,
                     "%s() takes %d argument%s, not %u", methods[i].name,
                     methods[i].min, methods[i].min == 1 ? "" : "s", x->nargs);
            else
                fail(p, off, FLOW_EXPR_ESYNTAX,
                     "%s() takes %d or %d arguments, not %u", methods[i].name,
                     methods[i].min, methods[i].max, x->nargs);
            return NULL;
        }
        return x;
    }
    if (base->op == X_HEADERS)
        return header(p, name, n, off);
    if (base->op == X_PAYLOAD)
        return slot(p, name, n, off, nullsafe);
    xnode *x = node(p, X_PROP, off);
    if (!x)
        return NULL;
    x->a = base;
    x->nullsafe = nullsafe;
    x->lit = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                .len = (uint32_t)n,
                                .s = name };
    return x;
}

static xnode *postfix(parser *p, xnode *x)
{
    while (x) {
        if (accept(p, "?.")) {
            x = member(p, x, true);
        } else if (peek_is(p, ".") &&
                   !(p->pos + 1 < p->len &&
                     isdigit((unsigned char)p->s[p->pos + 1]))) {
            p->pos++;
            x = member(p, x, false);
        } else if (peek_is(p, "[") || peek_is(p, "?[")) {
            bool ns = p->s[p->pos] == '?';
            size_t off = p->pos;
            p->pos += ns ? 2 : 1;
            if (++p->depth > FLOW_EXPR_MAX_DEPTH) {
                fail(p, off, FLOW_EXPR_ESYNTAX,
                     "the expression nests deeper than %d",
                     FLOW_EXPR_MAX_DEPTH);
                return NULL;
            }
            xnode *i = ternary(p);
            p->depth--;
            if (!i || expect(p, "]", "']'"))
                return NULL;
            bool lit_str = i->op == X_LIT && i->lit.type == FLOW_EXPR_STR;
            if (x->op == X_HEADERS) {
                if (!lit_str) {
                    fail(p, i->off, FLOW_EXPR_ESYNTAX,
                         "a header is named by a string: headers['type']");
                    return NULL;
                }
                x = header(p, i->lit.s, i->lit.len, i->off);
            } else if (x->op == X_PAYLOAD && lit_str) {
                x = slot(p, i->lit.s, i->lit.len, i->off, ns);
            } else {
                x = bin(p, X_INDEX, off, x, i);
                if (x)
                    x->nullsafe = ns;
            }
        } else {
            break;
        }
    }
    if (x && x->op == X_HEADERS) {
        fail(p, x->off, FLOW_EXPR_ESYNTAX,
             "headers is not a value; name a header (headers.type, "
             "headers['key'])");
        return NULL;
    }
    return x;
}

static const struct {
    const char *name;
    enum xfunc f;
    int min, max;
} funcs[] = {
    { "jsonPath", F_JSONPATH, 2, 2 },
    { "now", F_NOW, 0, 0 },
    { "hash", F_HASH, 1, 1 },
};

static xnode *function(parser *p)
{
    size_t off = p->pos - 1;
    size_t n = ident_len(p);
    size_t i;
    if (!n) {
        fail(p, p->pos, FLOW_EXPR_ESYNTAX,
             "expected a function name after '#' (#jsonPath, #now, #hash)");
        return NULL;
    }
    const char *name = p->s + p->pos;
    for (i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (strlen(funcs[i].name) == n && memcmp(funcs[i].name, name, n) == 0)
            break;
    if (i == sizeof(funcs) / sizeof(funcs[0])) {
        fail(p, off, FLOW_EXPR_ESYNTAX,
             "unknown function '#%.*s' (the functions are #jsonPath, #now "
             "and #hash)",
             (int)(n > 40 ? 40 : n), name);
        return NULL;
    }
    p->pos += n;
    if (expect(p, "(", "'(' after the function name"))
        return NULL;
    xnode *x = node(p, X_FUNC, off);
    if (!x)
        return NULL;
    x->flag = (uint8_t)funcs[i].f;
    if (args(p, x, ')'))
        return NULL;
    if ((int)x->nargs < funcs[i].min || (int)x->nargs > funcs[i].max) {
        fail(p, off, FLOW_EXPR_ESYNTAX, "#%s() takes %d argument%s, not %u",
             funcs[i].name, funcs[i].min, funcs[i].min == 1 ? "" : "s",
             x->nargs);
        return NULL;
    }
    if (x->flag == F_JSONPATH) {
        xnode *a = x->args[1];
        size_t bad;
        if (a->op == X_LIT && a->lit.type == FLOW_EXPR_STR &&
            flow__expr_jsonpath_check(a->lit.s, a->lit.len, &bad)) {
            /* The literal's bytes start after its quote; a doubled quote
             * would shift them, which the caret may then miss by one. */
            fail(p, a->off + 1 + bad, FLOW_EXPR_ESYNTAX,
                 "bad JSON path: expected $ then .name, ['name'] or [index]");
            return NULL;
        }
    }
    return x;
}

static xnode *primary(parser *p)
{
    skip_ws(p);
    size_t off = p->pos;
    char f[64];
    if (p->pos >= p->len) {
        fail(p, off, FLOW_EXPR_ESYNTAX,
             "expected a value (a number, a string, payload, headers, ...), "
             "found the end of the expression");
        return NULL;
    }
    char c = p->s[p->pos];
    if (c == '\'' || c == '"')
        return string_lit(p);
    if (isdigit((unsigned char)c) || (c == '.' && p->pos + 1 < p->len &&
                                      isdigit((unsigned char)p->s[p->pos + 1])))
        return number_lit(p);
    if (c == '(') {
        p->pos++;
        xnode *x = ternary(p);
        if (!x || expect(p, ")", "')'"))
            return NULL;
        return x;
    }
    if (c == '{') {
        p->pos++;
        xnode *x = node(p, X_LIST, off);
        if (!x || args(p, x, '}'))
            return NULL;
        return x;
    }
    if (c == '#') {
        p->pos++;
        return function(p);
    }
    size_t n = ident_len(p);
    if (n) {
        const char *w = p->s + p->pos;
        xnode *x;
        if (accept_kw(p, "true") || accept_kw(p, "false")) {
            x = node(p, X_LIT, off);
            if (x)
                x->lit =
                    (flow_expr_value){ .type = FLOW_EXPR_BOOL,
                                       .b = tolower((unsigned char)*w) == 't' };
            return x;
        }
        if (accept_kw(p, "null"))
            return node(p, X_LIT, off);
        if (n == 7 && !memcmp(w, "payload", 7)) {
            p->pos += n;
            return node(p, X_PAYLOAD, off);
        }
        if (n == 7 && !memcmp(w, "headers", 7)) {
            p->pos += n;
            return node(p, X_HEADERS, off);
        }
        for (size_t i = 0; reserved[i]; i++) {
            if (n == strlen(reserved[i]) && !strncasecmp(w, reserved[i], n)) {
                fail(p, off, FLOW_EXPR_ESYNTAX,
                     "expected a value before '%.*s'", (int)n, w);
                return NULL;
            }
        }
        if (n == 1 && *w == 'T' && p->pos + 1 < p->len && w[1] == '(') {
            fail(p, off, FLOW_EXPR_ESYNTAX,
                 "T(...) is only supported after instanceof");
            return NULL;
        }
        fail(p, off, FLOW_EXPR_ESYNTAX,
             "unknown name '%.*s': an expression starts from payload or "
             "headers (payload.%.*s?)",
             (int)(n > 40 ? 40 : n), w, (int)(n > 40 ? 40 : n), w);
        return NULL;
    }
    found(p, f, sizeof(f));
    fail(p, off, FLOW_EXPR_ESYNTAX,
         "expected a value (a number, a string, payload, headers, ...), "
         "found %s",
         f);
    return NULL;
}

static xnode *unary(parser *p)
{
    skip_ws(p);
    size_t off = p->pos;
    xnode *x;
    if (++p->depth > FLOW_EXPR_MAX_DEPTH) {
        fail(p, off, FLOW_EXPR_ESYNTAX, "the expression nests deeper than %d",
             FLOW_EXPR_MAX_DEPTH);
        return NULL;
    }
    if ((peek_is(p, "!") && !peek_is(p, "!=")) || accept_kw(p, "not")) {
        if (p->s[off] == '!')
            p->pos++;
        xnode *a = unary(p);
        x = a ? node(p, X_NOT, off) : NULL;
        if (x)
            x->a = a;
    } else if (accept(p, "-")) {
        x = unary(p);
        if (x && x->op == X_LIT && x->lit.type == FLOW_EXPR_INT) {
            x->lit.i = -x->lit.i;
        } else if (x && x->op == X_LIT && x->lit.type == FLOW_EXPR_DOUBLE) {
            x->lit.d = -x->lit.d;
        } else if (x) {
            xnode *a = x;
            x = node(p, X_NEG, off);
            if (x)
                x->a = a;
        }
    } else if (accept(p, "+")) {
        x = unary(p);
    } else {
        x = postfix(p, primary(p));
    }
    p->depth--;
    return x;
}

static xnode *mul(parser *p)
{
    xnode *x = unary(p);
    while (x) {
        skip_ws(p);
        size_t off = p->pos;
        int op;
        if (accept(p, "*"))
            op = X_MUL;
        else if (accept(p, "/") || accept_kw(p, "div"))
            op = X_DIV;
        else if (accept(p, "%") || accept_kw(p, "mod"))
            op = X_MOD;
        else
            break;
        x = bin(p, op, off, x, unary(p));
    }
    return x;
}

static xnode *add(parser *p)
{
    xnode *x = mul(p);
    while (x) {
        skip_ws(p);
        size_t off = p->pos;
        int op;
        if (accept(p, "+"))
            op = X_ADD;
        else if (accept(p, "-"))
            op = X_SUB;
        else
            break;
        x = bin(p, op, off, x, mul(p));
    }
    return x;
}

static const struct {
    const char *name;
    enum xtype t;
} type_names[] = {
    { "String", T_STRING }, { "java.lang.String", T_STRING },
    { "Integer", T_INT },   { "java.lang.Integer", T_INT },
    { "Long", T_INT },      { "java.lang.Long", T_INT },
    { "Double", T_DOUBLE }, { "java.lang.Double", T_DOUBLE },
    { "Float", T_DOUBLE },  { "java.lang.Float", T_DOUBLE },
    { "Number", T_NUMBER }, { "java.lang.Number", T_NUMBER },
    { "Boolean", T_BOOL },  { "java.lang.Boolean", T_BOOL },
    { "List", T_LIST },     { "java.util.List", T_LIST },
    { "Map", T_MAP },       { "java.util.Map", T_MAP },
};

static xnode *type_test(parser *p, xnode *a, size_t off)
{
    skip_ws(p);
    size_t toff = p->pos;
    if (!accept(p, "T(")) {
        fail(p, toff, FLOW_EXPR_ESYNTAX,
             "expected a type after instanceof: T(String), T(Integer), "
             "T(Long), T(Double), T(Number), T(Boolean), T(List) or T(Map)");
        return NULL;
    }
    skip_ws(p);
    size_t s = p->pos;
    while (p->pos < p->len &&
           (is_ident((unsigned char)p->s[p->pos]) || p->s[p->pos] == '.'))
        p->pos++;
    size_t n = p->pos - s;
    size_t i;
    for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strlen(type_names[i].name) == n &&
            memcmp(type_names[i].name, p->s + s, n) == 0)
            break;
    if (i == sizeof(type_names) / sizeof(type_names[0])) {
        fail(p, s, FLOW_EXPR_ESYNTAX,
             "unknown type '%.*s' (String, Integer, Long, Double, Float, "
             "Number, Boolean, List or Map)",
             (int)(n > 40 ? 40 : n), p->s + s);
        return NULL;
    }
    if (expect(p, ")", "')' after the type name"))
        return NULL;
    xnode *x = node(p, X_INSTANCE, off);
    if (x) {
        x->a = a;
        x->flag = (uint8_t)type_names[i].t;
    }
    return x;
}

static xnode *regex(parser *p, xnode *a, size_t off)
{
    xnode *r = add(p);
    if (!r)
        return NULL;
    if (r->op != X_LIT || r->lit.type != FLOW_EXPR_STR) {
        fail(p, r->off, FLOW_EXPR_ESYNTAX,
             "the right side of matches must be a string literal (the "
             "regular expression)");
        return NULL;
    }
    xnode *x = bin(p, X_MATCHES, off, a, r);
    if (!x)
        return NULL;
    int ec;
    PCRE2_SIZE eo;
    x->re = pcre2_compile((PCRE2_SPTR)r->lit.s, r->lit.len,
                          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ANCHORED |
                              PCRE2_ENDANCHORED,
                          &ec, &eo, NULL);
    if (!x->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        fail(p, r->off + 1 + eo, FLOW_EXPR_ESYNTAX,
             "bad regular expression: %s", (const char *)msg);
        return NULL;
    }
    /* JIT is an optimisation only: matching works without it. */
    (void)pcre2_jit_compile(x->re, PCRE2_JIT_COMPLETE);
    return x;
}

static xnode *rel(parser *p)
{
    xnode *x = add(p);
    while (x) {
        skip_ws(p);
        size_t off = p->pos;
        int op;
        if (accept(p, "<=") || accept_kw(p, "le"))
            op = X_LE;
        else if (accept(p, ">=") || accept_kw(p, "ge"))
            op = X_GE;
        else if ((peek_is(p, "<") && !peek_is(p, "<>")) || peek_kw(p, "lt")) {
            if (!accept(p, "<"))
                accept_kw(p, "lt");
            op = X_LT;
        } else if (accept(p, ">") || accept_kw(p, "gt"))
            op = X_GT;
        else if (accept_kw(p, "matches")) {
            x = regex(p, x, off);
            continue;
        } else if (accept_kw(p, "instanceof")) {
            x = type_test(p, x, off);
            continue;
        } else
            break;
        x = bin(p, op, off, x, add(p));
    }
    return x;
}

static xnode *eq(parser *p)
{
    xnode *x = rel(p);
    while (x) {
        skip_ws(p);
        size_t off = p->pos;
        int op;
        if (accept(p, "==") || accept_kw(p, "eq"))
            op = X_EQ;
        else if (accept(p, "!=") || accept_kw(p, "ne"))
            op = X_NE;
        else if (peek_is(p, "=") && !peek_is(p, "=>")) {
            fail(p, off, FLOW_EXPR_ESYNTAX,
                 "'=' is assignment, which is not supported; compare with "
                 "'=='");
            return NULL;
        } else
            break;
        x = bin(p, op, off, x, rel(p));
    }
    return x;
}

static xnode *and_(parser *p)
{
    xnode *x = eq(p);
    while (x) {
        skip_ws(p);
        size_t off = p->pos;
        if (!accept(p, "&&") && !accept_kw(p, "and"))
            break;
        x = bin(p, X_AND, off, x, eq(p));
    }
    return x;
}

static xnode *or_(parser *p)
{
    xnode *x = and_(p);
    while (x) {
        skip_ws(p);
        size_t off = p->pos;
        if (!accept(p, "||") && !accept_kw(p, "or"))
            break;
        x = bin(p, X_OR, off, x, and_(p));
    }
    return x;
}

static xnode *ternary(parser *p)
{
    if (++p->depth > FLOW_EXPR_MAX_DEPTH) {
        fail(p, p->pos, FLOW_EXPR_ESYNTAX,
             "the expression nests deeper than %d", FLOW_EXPR_MAX_DEPTH);
        return NULL;
    }
    xnode *x = or_(p);
    if (x) {
        skip_ws(p);
        size_t off = p->pos;
        if (accept(p, "?:")) {
            x = bin(p, X_ELVIS, off, x, ternary(p));
        } else if (!peek_is(p, "?.") && !peek_is(p, "?[") && accept(p, "?")) {
            xnode *t = ternary(p);
            if (t && !expect(p, ":", "':' of the ternary a ? b : c")) {
                xnode *f = ternary(p);
                x = bin(p, X_TERNARY, off, x, t);
                if (x && f)
                    x->c = f;
                else
                    x = NULL;
            } else {
                x = NULL;
            }
        }
    }
    p->depth--;
    return x;
}

/* ---- Public ------------------------------------------------------- */

int flow_expr_compile(const char *src, size_t len, flow_expr **out,
                      flow_expr_error *err)
{
    flow_expr_error dummy;
    if (!err)
        err = &dummy;
    *err = (flow_expr_error){ 0 };
    *out = NULL;
    flow_expr *e = calloc(1, sizeof(*e));
    parser p = { .e = e, .s = src, .len = len, .err = err };
    if (!e)
        return fail(&p, 0, FLOW_EXPR_ENOMEM, "out of memory");
    if (len > FLOW_EXPR_MAX_LEN) {
        fail(&p, FLOW_EXPR_MAX_LEN, FLOW_EXPR_ESYNTAX,
             "the expression is longer than %u bytes", FLOW_EXPR_MAX_LEN);
        goto fail;
    }
    if (memchr(src, '\0', len)) {
        fail(&p, (size_t)((const char *)memchr(src, '\0', len) - src),
             FLOW_EXPR_ESYNTAX, "a NUL byte cannot appear in an expression");
        goto fail;
    }
    e->src = malloc(len + 1);
    if (!e->src) {
        fail(&p, 0, FLOW_EXPR_ENOMEM, "out of memory");
        goto fail;
    }
    memcpy(e->src, src, len);
    e->src[len] = '\0';
    e->len = len;
    /* Names borrow e->src, which lives as long as the expression. */
    p.s = e->src;
    skip_ws(&p);
    if (p.pos == len) {
        fail(&p, p.pos, FLOW_EXPR_ESYNTAX, "the expression is empty");
        goto fail;
    }
    e->root = ternary(&p);
    if (e->root) {
        skip_ws(&p);
        if (p.pos < len) {
            char f[64];
            found(&p, f, sizeof(f));
            fail(&p, p.pos, FLOW_EXPR_ESYNTAX,
                 "expected an operator or the end of the expression, found "
                 "%s",
                 f);
        }
    }
    if (p.rc)
        goto fail;
    *out = e;
    return 0;
fail:
    flow_expr_free(&e);
    return p.rc;
}

void flow_expr_free(flow_expr **ep)
{
    flow_expr *e = ep ? *ep : NULL;
    if (!e)
        return;
    for (size_t i = 0; i < e->nnodes; i++) {
        free(e->nodes[i]->args);
        pcre2_code_free(e->nodes[i]->re);
        free(e->nodes[i]);
    }
    for (size_t i = 0; i < e->nstrs; i++)
        free(e->strs[i]);
    free(e->nodes);
    free(e->strs);
    free(e->src);
    free(e);
    *ep = NULL;
}

const char *flow_expr_source(const flow_expr *e)
{
    return e->src;
}

char *flow_expr_error_caret(const char *src, const flow_expr_error *err,
                            char *buf, size_t size)
{
    size_t len = strlen(src);
    size_t off = err->offset > len ? len : err->offset;
    int n = snprintf(buf, size, "  %s\n  ", src);
    for (size_t i = 0; i < off && n >= 0 && (size_t)n + 1 < size; i++)
        buf[n++] = src[i] == '\t' ? '\t' : ' ';
    if (n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "^ %s", err->message);
    return buf;
}
