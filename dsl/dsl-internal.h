/*
 * Private to dsl/: the state the scanner and the parser share, and the
 * AST building helpers the grammar actions call.
 */
#ifndef FLOW_DSL_INTERNAL_H
#define FLOW_DSL_INTERNAL_H

#include "flow/dsl.h"

#include <stdbool.h>
#include <stddef.h>

/* Byte-offset locations: [begin, end). */
typedef struct dsl__loc {
    size_t begin;
    size_t end;
} dsl__loc;

/* Growable arrays that the grammar builds; owned by the parser's value
 * stack until they are moved into an AST node. */
typedef struct dsl__opts {
    dsl_option *v;
    size_t n;
    size_t cap;
} dsl__opts;

typedef struct dsl__apps {
    dsl_app *v;
    size_t n;
    size_t cap;
    bool is_list;
} dsl__apps;

/* The scanner's extra data (yyextra). */
typedef struct dsl__lex {
    const char *src;
    size_t len;
    size_t pos; /* offset of the next byte to scan */
    bool file_mode;
    bool started;  /* the scanner has entered its first state */
    bool in_entry; /* a token was returned since the last entry end */
    /* A scanner error waiting for the parser (it got an ERRTOK). */
    bool err_set;
    bool err_lexical; /* SCDF's tokenizer would report it first */
    size_t err_off;
    char *err_msg;
    bool oom; /* an allocation failed: the run ends in DSL_ENOMEM */
    /* Per entry, for messages. */
    size_t dashdash; /* offset of the current "--" */
    int prev_tok;    /* kind of the token before the last one */
    int last_tok;
    bool seen_dpipe;
    size_t first_dpipe;
    bool seen_dest;
    size_t first_dest;
    /* After a drain: the entry end to hand to the parser next. */
    int pending_tok;
    dsl__loc pending_loc;
} dsl__lex;

/* What yyparse gets: the scanner, results and diagnostics. */
typedef struct dsl__parse {
    void *scanner;
    dsl__lex *lex;
    dsl_errors *errs;
    size_t n_errs_at_start;
    dsl_stream *stream; /* single-definition mode result */
    dsl_file *file;     /* file mode result */
    size_t file_cap;
} dsl__parse;

/* Record a scanner error (the scanner then returns ERRTOK). */
void dsl__lex_error(dsl__lex *lx, bool lexical, size_t off, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* A printable rendering of one byte for messages: "'x'", "'\\x00'". */
const char *dsl__char_name(unsigned char c, char buf[8]);

/* Turn an option value as written into what the app receives. Returns
 * new, NULL when out of memory. */
char *dsl__unquote(const char *s, size_t n);

/* AST helpers (ast.c). Each returns -1 when out of memory, leaving the
 * arguments owned by the caller. */
int dsl__opts_push(dsl__opts **opts, dsl_option *opt); /* takes *opt */
void dsl__opts_free(dsl__opts *opts);
int dsl__apps_push(dsl__apps **apps, dsl_app *app); /* takes *app */
void dsl__apps_free(dsl__apps *apps);
void dsl__app_fini(dsl_app *app);
void dsl__option_fini(dsl_option *o);
void dsl__dest_free(dsl_destination *d);
/* Move opts into the app/destination (takes opts). */
void dsl__app_set_opts(dsl_app *app, dsl__opts *opts);
dsl_destination *dsl__dest_new(char *name, dsl__loc loc, dsl__opts *opts);
/* Builds a stream (takes every argument, even on failure). */
dsl_stream *dsl__stream_new(char *name, size_t name_off, dsl_destination *src,
                            dsl__apps *apps, dsl_destination *sink,
                            dsl__loc loc);
int dsl__file_push(dsl__parse *ps, dsl_stream *s); /* takes s */

/* Post-parse rules that SCDF's parser applies (unique labels). Appends
 * to errs; returns 0, or -1 when out of memory. */
int dsl__check_labels(const dsl_stream *s, const char *src, size_t len,
                      dsl_errors *errs);

/* Sort errors added since `from` by offset (stable). */
void dsl__sort_errors(dsl_errors *errs, size_t from);

/* Levenshtein distance, capped at `cap` (returns cap+1 when beyond). */
size_t dsl__distance(const char *a, const char *b, size_t cap);

#endif
