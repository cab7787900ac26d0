/*
 * The stream language's grammar: a pure, reentrant bison parser whose
 * actions only build the AST. Checking against the app registry is a
 * separate pass (check.c); the post-parse rules SCDF's parser applies
 * (unique labels, names in files) run in parse.c.
 *
 *   definition := STREAM_NAME? body
 *   body       := DEST options '>' pipeline ('>' DEST options)?
 *               | DEST options '>' DEST options          (a bridge)
 *               | pipeline ('>' DEST options)?
 *               | app '||' app ('||' app)*
 *   pipeline   := app ('|' app)*
 *   app        := LABEL? IDENT option*
 *   option     := OPTNAME VALUE                          ("--k=v")
 */
%require "3.8"
%define api.pure full
%define api.prefix {dsl_yy}
%define api.location.type {dsl__loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {dsl__parse *ps}

%code requires {
#include "dsl-internal.h"
}

%code {
#include <stdlib.h>
#include <string.h>

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                       \
    do {                                                                  \
        if (N) {                                                          \
            (Cur).begin = YYRHSLOC(Rhs, 1).begin;                         \
            (Cur).end = YYRHSLOC(Rhs, N).end;                             \
        } else {                                                          \
            (Cur).begin = (Cur).end = YYRHSLOC(Rhs, 0).end;               \
        }                                                                 \
    } while (0)

#define YYMAXDEPTH 10000

int dsl_yylex(DSL_YYSTYPE *lval, DSL_YYLTYPE *lloc, dsl__parse *ps);
int dsl__scan(DSL_YYSTYPE *lval, DSL_YYLTYPE *lloc, void *scanner);
static void dsl_yyerror(const DSL_YYLTYPE *loc, dsl__parse *ps,
                        const char *msg);
}

%union {
    char *str;
    char ch;
    dsl__opts *opts;
    dsl__apps *apps;
    dsl_app *app;
    dsl_destination *dest;
    dsl_stream *stream;
}

%token <str> STREAM_NAME "stream name"
%token <str> IDENT "app name"
%token <str> LABEL "label"
%token <str> DEST "destination"
%token <str> OPTNAME "option"
%token <str> VALUE "option value"
%token <ch> OTHER "character"
%token PIPE "'|'"
%token DPIPE "'||'"
%token GT "'>'"
%token EQ "'='"
%token ENDDEF "end of line"
%token ERRTOK "error token"
%token START_STREAM START_FILE

%type <str> name_opt
%type <opts> options
%type <app> app
%type <apps> pipeline list
%type <dest> srcdest sinkdest
%type <stream> definition

%destructor { free($$); } <str>
%destructor { dsl__opts_free($$); } <opts>
%destructor { dsl__apps_free($$); } <apps>
%destructor { if ($$) { dsl__app_fini($$); free($$); } } <app>
%destructor { dsl__dest_free($$); } <dest>
%destructor { dsl_stream_destroy(&$$); } <stream>

%%

input
    : START_STREAM definition       { ps->stream = $2; }
    | START_FILE entries
    ;

entries
    : %empty
    | entries definition ENDDEF     { if (dsl__file_push(ps, $2)) YYNOMEM; }
    | entries error ENDDEF          { yyerrok; }
    ;

definition
    : name_opt pipeline
        { $$ = dsl__stream_new($1, @1.begin, NULL, $2, NULL, @$);
          if (!$$) YYNOMEM; }
    | name_opt pipeline sinkdest
        { $$ = dsl__stream_new($1, @1.begin, NULL, $2, $3, @$);
          if (!$$) YYNOMEM; }
    | name_opt srcdest pipeline
        { $$ = dsl__stream_new($1, @1.begin, $2, $3, NULL, @$);
          if (!$$) YYNOMEM; }
    | name_opt srcdest pipeline sinkdest
        { $$ = dsl__stream_new($1, @1.begin, $2, $3, $4, @$);
          if (!$$) YYNOMEM; }
    | name_opt srcdest DEST options
        { dsl_destination *sink = dsl__dest_new($3, @3, $4);
          $$ = sink ? dsl__stream_new($1, @1.begin, $2, NULL, sink, @$)
                    : NULL;
          if (!sink) { free($1); dsl__dest_free($2); }
          if (!$$) YYNOMEM; }
    | name_opt list
        { $$ = dsl__stream_new($1, @1.begin, NULL, $2, NULL, @$);
          if (!$$) YYNOMEM; }
    ;

name_opt
    : %empty                        { $$ = NULL; }
    | STREAM_NAME                   { $$ = $1; }
    ;

srcdest
    : DEST options GT
        { $$ = dsl__dest_new($1, @1, $2); if (!$$) YYNOMEM; }
    ;

sinkdest
    : GT DEST options
        { $$ = dsl__dest_new($2, @2, $3); if (!$$) YYNOMEM; }
    ;

pipeline
    : app
        { $$ = NULL; if (dsl__apps_push(&$$, $1)) YYNOMEM; }
    | pipeline PIPE app
        { $$ = $1;
          if (dsl__apps_push(&$$, $3)) { dsl__apps_free($$); YYNOMEM; } }
    ;

list
    : app DPIPE app
        { $$ = NULL;
          if (dsl__apps_push(&$$, $1)) { dsl__app_fini($3); free($3);
                                         YYNOMEM; }
          if (dsl__apps_push(&$$, $3)) { dsl__apps_free($$); YYNOMEM; }
          $$->is_list = true; }
    | list DPIPE app
        { $$ = $1;
          if (dsl__apps_push(&$$, $3)) { dsl__apps_free($$); YYNOMEM; } }
    ;

app
    : IDENT options
        { $$ = calloc(1, sizeof(*$$));
          if (!$$) { free($1); dsl__opts_free($2); YYNOMEM; }
          $$->name = $1; $$->offset = $$->name_offset = @1.begin;
          $$->label_offset = @1.begin;
          $$->length = @$.end - @$.begin; dsl__app_set_opts($$, $2); }
    | LABEL IDENT options
        { $$ = calloc(1, sizeof(*$$));
          if (!$$) { free($1); free($2); dsl__opts_free($3); YYNOMEM; }
          $$->label = $1; $$->name = $2;
          $$->offset = $$->label_offset = @1.begin;
          $$->name_offset = @2.begin;
          $$->length = @$.end - @$.begin; dsl__app_set_opts($$, $3); }
    ;

options
    : %empty                        { $$ = NULL; }
    | options OPTNAME VALUE
        { dsl_option o = { .key = $2, .value = $3, .offset = @2.begin,
                           .length = @3.end - @2.begin,
                           .key_offset = @2.begin + 2,
                           .value_offset = @3.begin,
                           .value_length = @3.end - @3.begin };
          $$ = $1;
          if (dsl__opts_push(&$$, &o)) { dsl__opts_free($$); YYNOMEM; } }
    ;

%%

/* Names of tokens in messages. */
static const char *tok_desc(yysymbol_kind_t k)
{
    switch (k) {
    case YYSYMBOL_YYEOF:
        return "the end of the input";
    case YYSYMBOL_ENDDEF:
        return "the end of the line";
    case YYSYMBOL_IDENT:
        return "an app name";
    case YYSYMBOL_LABEL:
        return "a label";
    case YYSYMBOL_DEST:
        return "a destination (':name')";
    case YYSYMBOL_OPTNAME:
        return "an option ('--name=value')";
    case YYSYMBOL_PIPE:
        return "'|'";
    case YYSYMBOL_DPIPE:
        return "'||'";
    case YYSYMBOL_GT:
        return "'>'";
    default:
        return yysymbol_name(k);
    }
}

/* The text of the unexpected token, for "found 'X'". */
static void tok_text(const dsl__parse *ps, const dsl__loc *loc, char *buf,
                     size_t cap)
{
    size_t n = loc->end > loc->begin ? loc->end - loc->begin : 0;
    if (n > 40)
        n = 40;
    if (loc->begin >= ps->lex->len)
        n = 0;
    snprintf(buf, cap, "%.*s", (int)n, ps->lex->src + loc->begin);
}

/* Continue scanning to the end of the entry: SCDF tokenizes a whole
 * definition before parsing it, so a lexical error anywhere in it wins
 * over a syntax error. Returns true and fills in the offset and a new message when one is
 * found; leaves an entry end pending for the parser's error recovery. */
static bool drain_for_lexical(dsl__parse *ps, size_t *off, char **msg)
{
    dsl__lex *lx = ps->lex;
    bool found = false;
    for (;;) {
        DSL_YYSTYPE v;
        dsl__loc l;
        memset(&v, 0, sizeof(v));
        int t = dsl_yylex(&v, &l, ps);
        if (t == STREAM_NAME || t == IDENT || t == LABEL || t == DEST ||
            t == OPTNAME || t == VALUE)
            free(v.str);
        if (t == ERRTOK) {
            if (lx->err_lexical && !found) {
                found = true;
                *off = lx->err_off;
                *msg = lx->err_msg;
                lx->err_msg = NULL;
            }
            free(lx->err_msg);
            lx->err_msg = NULL;
            lx->err_set = false;
            continue;
        }
        if (t == ENDDEF || t == DSL_YYEOF || t == DSL_YYerror ||
            t == DSL_YYUNDEF) {
            lx->pending_tok = t;
            lx->pending_loc = l;
            break;
        }
    }
    return found;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, dsl__parse *ps)
{
    dsl__lex *lx = ps->lex;
    yysymbol_kind_t tok = yypcontext_token(ctx);
    const dsl__loc *loc = yypcontext_location(ctx);
    yysymbol_kind_t exp[16];
    int n = yypcontext_expected_tokens(ctx, exp, 16);
    if (n < 0)
        n = 0;
    bool want_app = false, want_dest = false, want_end = false;
    bool want_pipe = false, want_dpipe = false, want_gt = false;
    for (int i = 0; i < n; i++) {
        want_app |= exp[i] == YYSYMBOL_IDENT;
        want_dest |= exp[i] == YYSYMBOL_DEST;
        want_end |= exp[i] == YYSYMBOL_YYEOF || exp[i] == YYSYMBOL_ENDDEF;
        want_pipe |= exp[i] == YYSYMBOL_PIPE;
        want_dpipe |= exp[i] == YYSYMBOL_DPIPE;
        want_gt |= exp[i] == YYSYMBOL_GT;
    }
    /* Drain below moves the scanner on; keep what the messages need. */
    int prev_tok = lx->prev_tok;
    bool seen_dest = lx->seen_dest, seen_dpipe = lx->seen_dpipe;
    size_t first_dest = lx->first_dest, first_dpipe = lx->first_dpipe;
    size_t off = loc->begin;
    char *msg = NULL;
    char text[64];
    tok_text(ps, loc, text, sizeof(text));
    int rc = 0;

    if (tok == YYSYMBOL_ERRTOK) {
        off = lx->err_off;
        msg = lx->err_msg;
        lx->err_msg = NULL;
        lx->err_set = false;
        if (!msg)
            return YYENOMEM;
        size_t loff;
        char *lmsg;
        if (!lx->err_lexical && drain_for_lexical(ps, &loff, &lmsg)) {
            free(msg);
            off = loff;
            msg = lmsg;
        }
        goto report;
    }
    bool at_end = tok == YYSYMBOL_YYEOF || tok == YYSYMBOL_ENDDEF;
    if (!at_end) {
        size_t loff;
        char *lmsg;
        if (drain_for_lexical(ps, &loff, &lmsg)) {
            off = loff;
            msg = lmsg;
            goto report;
        }
    }
    if (at_end) {
        rc = asprintf(&msg, "unexpectedly ran out of input; expected %s",
                      want_app    ? "an app name"
                      : want_dest ? "a destination (':name')"
                                  : tok_desc(exp[0]));
    } else if (tok == YYSYMBOL_DPIPE && (want_pipe || want_gt) &&
               seen_dest) {
        rc = asprintf(&msg, "do not use '||' in a stream with "
                            "destinations; '||' lists unbound apps");
    } else if ((tok == YYSYMBOL_DPIPE && want_pipe && !want_dpipe) ||
               (tok == YYSYMBOL_PIPE && want_dpipe && !want_pipe)) {
        rc = asprintf(&msg, "do not mix '|' and '||' in one stream");
    } else if ((tok == YYSYMBOL_GT || tok == YYSYMBOL_DEST) &&
               seen_dpipe) {
        off = first_dpipe;
        rc = asprintf(&msg, "do not use '||' in a stream with "
                            "destinations; '||' lists unbound apps");
    } else if (want_gt && !want_end && !want_app && seen_dest &&
               !want_pipe) {
        /* After ":dest" at the start only '>' (or options) may come: SCDF
         * then reads the destination as a misplaced app name. */
        off = first_dest;
        rc = asprintf(&msg, "expected app name but found ':'; a source "
                            "destination must be followed by '>'");
    } else if (want_dest && !want_app &&
               (tok == YYSYMBOL_IDENT || tok == YYSYMBOL_LABEL)) {
        rc = asprintf(&msg,
                      "expected a destination after '>': write ':%s'",
                      text);
    } else if (want_app && tok == YYSYMBOL_LABEL &&
               prev_tok == LABEL) {
        rc = asprintf(&msg, "multiple labels on one app are not "
                            "supported ('%s')",
                      text);
    } else if (want_app) {
        rc = asprintf(&msg, "expected app name but found '%s'", text);
    } else if (want_end) {
        rc = asprintf(&msg, "unexpected data after stream definition: "
                            "'%s'",
                      text);
    } else {
        rc = asprintf(&msg, "unexpected '%s'; expected %s", text,
                      n > 0 ? tok_desc(exp[0]) : "something else");
    }
    if (rc < 0)
        return YYENOMEM;
report:
    rc = dsl_errors_add(ps->errs, lx->src, lx->len, off, 1, "%s", msg);
    free(msg);
    return rc < 0 ? YYENOMEM : 0;
}

int dsl_yylex(DSL_YYSTYPE *lval, DSL_YYLTYPE *lloc, dsl__parse *ps)
{
    dsl__lex *lx = ps->lex;
    if (lx->pending_tok) {
        int t = lx->pending_tok;
        *lloc = lx->pending_loc;
        /* Hand the entry end over once; EOF is sticky. */
        if (t != DSL_YYEOF)
            lx->pending_tok = 0;
        return t;
    }
    return dsl__scan(lval, lloc, ps->scanner);
}

/* Only called for "memory exhausted"; syntax errors go through
 * yyreport_syntax_error. */
static void dsl_yyerror(const DSL_YYLTYPE *loc, dsl__parse *ps,
                        const char *msg)
{
    dsl_errors_add(ps->errs, ps->lex->src, ps->lex->len, loc->begin, 1, "%s",
                   msg);
}
