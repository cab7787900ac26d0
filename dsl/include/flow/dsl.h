/*
 * flow's stream language: parser, AST, printer, app registry, checker and
 * completion helper.
 *
 * The language is Spring Cloud Data Flow's stream DSL (see docs/dsl.md):
 *
 *     accounts = load-sim --rate=50000 | account-events | counter
 *     :accounts.account-events > log
 *     :orders --group=g > filter | :checked
 *     a || b || c
 *
 * Ownership, in one place:
 *  - Every function that returns a pointer documents "returns new" (the
 *    caller frees it with the matching destroy/free) or "borrowed".
 *  - AST nodes own all their strings. Destroy a parsed file with
 *    dsl_file_destroy() and a single stream with dsl_stream_destroy(); both
 *    are NULL-safe and set the caller's pointer to NULL.
 *  - A dsl_errors list owns its messages; dsl_errors_fini() frees them and
 *    is safe on a zeroed list.
 *  - Strings returned as `char *` are malloc()ed; free them with free().
 *
 * Offsets are 0-based byte offsets into the text given to the parse call;
 * lines and columns are 1-based (columns count bytes). The library never
 * prints, logs, asserts on input or exits; it does not keep global state,
 * so separate threads may parse concurrently.
 */
#ifndef FLOW_DSL_H
#define FLOW_DSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits that keep hostile input bounded. Exceeding one is a parse error
 * with a message that names the limit. */
#define DSL_MAX_INPUT   (16u * 1024 * 1024) /* bytes per parse call */
#define DSL_MAX_TOKEN   (64u * 1024)        /* bytes in one token */
#define DSL_MAX_APPS    1024                /* apps in one stream */
#define DSL_MAX_OPTIONS 1024                /* options on one app */
#define DSL_MAX_ERRORS  100                 /* kept per list */

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* One diagnostic. `offset` is the byte where the problem was found;
 * `length` is how many bytes it spans (at least 1 unless at the end of
 * input). `message` says what was expected, e.g.
 * "unknown app 'cuonter'; did you mean 'counter'?". */
typedef struct dsl_error {
    size_t offset;
    size_t length;
    unsigned line;   /* 1-based */
    unsigned column; /* 1-based, in bytes */
    char *message;   /* owned */
} dsl_error;

/* An ordered list of diagnostics, the first one found first. It keeps
 * at most DSL_MAX_ERRORS; the last kept one then says "too many errors"
 * and later ones are dropped. */
typedef struct dsl_errors {
    dsl_error *v;
    size_t n;
    size_t cap;
} dsl_errors;

/* Free all messages; safe on a zeroed list. The list stays usable. */
void dsl_errors_fini(dsl_errors *errs);

/* Append a diagnostic at `offset` (line and column are computed from
 * `src`, which may be NULL to leave them 0). Returns 0, or -1 when out of
 * memory. */
int dsl_errors_add(dsl_errors *errs, const char *src, size_t src_len,
                   size_t offset, size_t length, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Write one diagnostic the way compilers do:
 *
 *     FILE:LINE:COL: error: MESSAGE
 *     <the source line>
 *         ^
 *
 * `file` may be NULL (then "LINE:COL: error: ..."). `src` is the text the
 * error's offsets refer to. Returns 0, or -1 on a write error. */
int dsl_error_print(FILE *out, const char *file, const char *src,
                    size_t src_len, const dsl_error *e);

/* The same text as dsl_error_print(), returned new (NULL when out of
 * memory). */
char *dsl_error_format(const char *file, const char *src, size_t src_len,
                       const dsl_error *e);

/* ------------------------------------------------------------------ */
/* AST                                                                 */
/* ------------------------------------------------------------------ */

/* `--key=value`. `key` is the dotted name without the dashes
 * ("expression", "spring.cloud.x"); `value` is exactly what the app will
 * receive: a wholly quoted value has its outer quotes dropped and doubled
 * quotes undoubled, a partly quoted one ('hi'+payload) is kept as written. */
typedef struct dsl_option {
    char *key;
    char *value;
    size_t offset;       /* of the leading "--" */
    size_t length;       /* from "--" to the end of the value */
    size_t key_offset;   /* of the first byte of the key */
    size_t value_offset; /* of the first byte of the value as written */
    size_t value_length; /* bytes of the value as written */
} dsl_option;

/* An app in a stream. `label` is the explicit label (`lbl: app`) or NULL;
 * the effective label is dsl_app_label(). `implicit` marks the "bridge"
 * app that `:a > :b` stands for (it has no text of its own). */
typedef struct dsl_app {
    char *name;
    char *label; /* explicit label, or NULL */
    dsl_option *options;
    size_t n_options;
    bool implicit;
    size_t offset;       /* start of the label, or of the name */
    size_t length;       /* through the last option */
    size_t name_offset;  /* of the app name */
    size_t label_offset; /* of the label (== offset when labelled) */
} dsl_app;

/* A named destination: `:name` on the left of `>` (source) or right
 * (sink). `name` holds the dotted name without the colon ("orders",
 * "accounts.account-events", "topic.*"). Only a source destination may
 * have options (`:dest --group=g > app`). */
typedef struct dsl_destination {
    char *name;
    dsl_option *options;
    size_t n_options;
    size_t offset; /* of the ':' */
    size_t length; /* through the name (options not included) */
} dsl_destination;

/* One stream definition. `apps` is never empty for a parsed stream (a
 * bridge `:a > :b` has one implicit app "bridge"). `is_list` is true for
 * `a || b || c`, which never has destinations. `offset`/`length` cover
 * the definition's text, including "name =". */
typedef struct dsl_stream {
    char *name; /* or NULL */
    size_t name_offset;
    dsl_destination *source; /* or NULL */
    dsl_app *apps;
    size_t n_apps;
    dsl_destination *sink; /* or NULL */
    bool is_list;
    size_t offset;
    size_t length;
} dsl_stream;

/* A stream file: many definitions, in file order. */
typedef struct dsl_file {
    dsl_stream **streams;
    size_t n_streams;
} dsl_file;

/* The effective label of an app: its explicit label, else its name.
 * Borrowed. */
const char *dsl_app_label(const dsl_app *app);

/* Find an option by key; NULL if absent (the last one wins when an option
 * is repeated). Borrowed. */
const dsl_option *dsl_app_find_option(const dsl_app *app, const char *key);

/* Destroy; NULL-safe; set *sp / *fp to NULL. */
void dsl_stream_destroy(dsl_stream **sp);
void dsl_file_destroy(dsl_file **fp);

/* Deep copy (returns new, NULL when out of memory). */
dsl_stream *dsl_stream_dup(const dsl_stream *s);

/* Structural equality: names, labels, option keys and values,
 * destinations, list flag. Offsets are ignored. */
bool dsl_stream_equal(const dsl_stream *a, const dsl_stream *b);

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

/* What the parse, check and registry calls return when they ran out of
 * memory: the text may well be valid, so this is not a verdict on it (errs may
 * hold an "out of memory" entry, or nothing when even that could not be added).
 */
#define DSL_ENOMEM (-2)

/* Parse one definition, optionally named (`name = a | b`). The text must
 * be one definition; newlines inside it are plain whitespace. On success
 * returns 0 and sets *out (returns new). On failure returns -1, leaves
 * *out NULL and appends at least one error to `errs` (offsets into
 * `text`), or DSL_ENOMEM when out of memory. `len` is the text's length
 * in bytes; NUL bytes are errors. */
int dsl_parse_stream(const char *text, size_t len, dsl_stream **out,
                     dsl_errors *errs);

/* Parse a stream file (see docs/dsl.md): `name = definition` entries, one
 * per line, a line that starts with a space or tab continuing the
 * previous one, `#` comment lines and blank lines. Every entry must be
 * named. Errors are reported for every bad entry (the parser resumes at
 * the next entry), in file order. On success returns 0 and sets *out
 * (returns new). On failure returns -1, sets *out NULL and appends the
 * errors, or DSL_ENOMEM when out of memory. */
int dsl_parse_file(const char *text, size_t len, dsl_file **out,
                   dsl_errors *errs);

/* ------------------------------------------------------------------ */
/* Printer and JSON                                                    */
/* ------------------------------------------------------------------ */

/* Canonical one-line text of a stream ("name = " first when named);
 * values are quoted only when needed. parse(print(s)) equals s.
 * Returns new (NULL when out of memory). */
char *dsl_stream_print(const dsl_stream *s);

/* Canonical text of a file: one definition per line. Returns new. */
char *dsl_file_print(const dsl_file *f);

/* The stream as the JSON object `flowctl validate -o json` prints:
 * {"name": N|null, "source": {"destination": D, "options": {...}}|null,
 *  "apps": [{"name": A, "label": L|null, "options": {...}}],
 *  "sink": {"destination": D}|null} (a sink destination written with
 * options also gets "options"). Compact text; returns new. */
char *dsl_stream_to_json(const dsl_stream *s);

/* ------------------------------------------------------------------ */
/* App registry                                                        */
/* ------------------------------------------------------------------ */

typedef enum dsl_role {
    DSL_ROLE_ANY = -1, /* only as a lookup wildcard */
    DSL_ROLE_SOURCE = 0,
    DSL_ROLE_PROCESSOR,
    DSL_ROLE_SINK,
} dsl_role;

typedef enum dsl_type {
    DSL_TYPE_STRING = 0,
    DSL_TYPE_INT,
    DSL_TYPE_FLOAT,
    DSL_TYPE_BOOL,
    DSL_TYPE_ENUM,
    DSL_TYPE_DURATION,
    DSL_TYPE_PATH, /* a file the app opens; see dsl_app_option.access */
    DSL_TYPE_EXPR, /* an expression ("expression"; docs/expressions.md),
                    * judged by dsl_check_ctx.check_expr */
} dsl_type;

/* What a path option does with its file ("access" in --describe). */
typedef enum dsl_path_access {
    DSL_PATH_WRITE = 0,
    DSL_PATH_READ,
    DSL_PATH_APPEND,
} dsl_path_access;

/* "source"/"processor"/"sink", "string"/"int"/... Borrowed static. */
const char *dsl_role_name(dsl_role role);

/* The rule for the names of streams, apps and consumer groups, which
 * name sockets, files and store rows: ^[a-z][a-z0-9-]{0,47}$. It is the
 * only one: the parser, the checker, flowd and flowctl all apply it. */
#define DSL_NAME_MAX 48
bool dsl_name_ok(const char *s, size_t len);

/* The one message for a name that breaks the rule, as every part of flow
 * gives it: "illegal stream name 'My_Stream': a name is a lowercase
 * letter, then up to 47 lowercase letters, digits or '-' (like 'accounts'
 * or 'eu-1')". `what` is "stream", "app" or "consumer group"; a long name
 * is cut. Writes into buf (always terminated) and returns it. */
const char *dsl_name_message(char *buf, size_t buflen, const char *what,
                             const char *name, size_t len);
const char *dsl_type_name(dsl_type type);

/* One option of an app, as its `--describe` gives it (docs/apps.md). */
typedef struct dsl_app_option {
    char *name;
    dsl_type type;
    bool required;
    char *default_value;    /* or NULL */
    char *min, *max;        /* bounds of an int, float or duration, as
                             * written (inclusive); NULL = none */
    char *description;      /* or NULL */
    char **values;          /* allowed values for DSL_TYPE_ENUM */
    dsl_path_access access; /* DSL_TYPE_PATH: read, write or append */
    size_t n_values;
    /* A family of options --NAME.KEY=... ("prefix": true in --describe):
     * any key that starts with NAME and a dot is this option. */
    bool prefix;
} dsl_app_option;

/* One registered app. */
typedef struct dsl_app_info {
    char *name;
    dsl_role role;
    char *description; /* or NULL */
    dsl_app_option *options;
    size_t n_options;
} dsl_app_info;

/* The registry is data: fill it from `--describe` documents or by hand.
 * An app is identified by (name, role); adding the same pair again
 * replaces the earlier entry. */
typedef struct dsl_registry dsl_registry;

dsl_registry *dsl_registry_new(void); /* returns new, NULL if no memory */
void dsl_registry_destroy(dsl_registry **rp);

/* Add a copy of `info` (borrowed). Returns 0, or -1 when out of memory or
 * `info` is malformed (no name, bad role). */
int dsl_registry_add(dsl_registry *r, const dsl_app_info *info);

/* Add one app from its `--describe` JSON object (docs/apps.md). On a
 * malformed document returns -1 and, when `err` is not NULL, sets *err to
 * a new message saying what is wrong (free it); DSL_ENOMEM when out of
 * memory (*err then says so, or is NULL). jansson reports some failed
 * allocations while it parses as syntax errors: those come back as -1,
 * "bad JSON ...". */
int dsl_registry_add_describe(dsl_registry *r, const char *json, size_t len,
                              char **err);

/* Add every element of a JSON array of `--describe` objects (the format
 * of `flowctl validate --registry FILE`). Same error convention. */
int dsl_registry_add_describe_array(dsl_registry *r, const char *json,
                                    size_t len, char **err);

/* Look up by name and role (DSL_ROLE_ANY: the first with that name).
 * Borrowed; NULL when absent. */
const dsl_app_info *dsl_registry_find(const dsl_registry *r, const char *name,
                                      dsl_role role);

/* The role the app at index i of s has by its position: the first app is
 * the source unless the stream starts at a destination, the last the sink
 * unless it ends at one, the others are processors; DSL_ROLE_ANY in a
 * list of apps and for an app alone. */
dsl_role dsl_stream_role_at(const dsl_stream *s, size_t i);

/* The registered app that the app at index i of s names: the one of that
 * name whose role fits its position (a source and a sink may share a
 * name, as SCDF's file source and file sink do), else the first of that
 * name. Borrowed; NULL when absent. */
const dsl_app_info *dsl_registry_find_at(const dsl_registry *r,
                                         const dsl_stream *s, size_t i);

/* Iterate: count and i-th entry (borrowed), in insertion order. */
size_t dsl_registry_count(const dsl_registry *r);
const dsl_app_info *dsl_registry_at(const dsl_registry *r, size_t i);

/* ------------------------------------------------------------------ */
/* Checking                                                            */
/* ------------------------------------------------------------------ */

/* What the checker knows besides the stream itself. Every field may be
 * NULL/0: without a registry only structural rules run (unique labels,
 * stream name); without known streams taps are not checked. */
typedef struct dsl_check_ctx {
    const dsl_registry *registry;
    /* Streams that exist (e.g. the server's stored definitions, or the
     * other entries of the same file). A source destination
     * `:S.L` is a tap when some known stream is named S: then S must have
     * an app labelled L. `:S.L` where no known stream is named S, and no
     * known stream writes to the destination "S.L" (`> :S.L`), is an
     * error "tap of unknown stream". */
    const dsl_stream *const *known;
    size_t n_known;
    /* Judges where a path option's value may lie (the server's
     * --allow-path rules; the checker itself only refuses an empty path).
     * Returns 0, or nonzero with the reason in why, which the error
     * message then gives as "APP --OPTION: WHY". NULL: not judged. */
    int (*check_path)(void *ud, const char *path, dsl_path_access access,
                      char *why, size_t whylen);
    void *check_path_ud;
    /* Compiles the value of an expression option (the runtime's
     * flow_expr_compile, which this library does not link). Returns 0 when
     * it is an expression, else nonzero with the byte of the value where it
     * goes wrong in *offset and the reason in why; the error then sits at
     * that byte of the definition (quotes and doubled quotes accounted
     * for), so the caret points into the expression. NULL: not judged. */
    int (*check_expr)(void *ud, const char *expr, size_t len, size_t *offset,
                      char *why, size_t whylen);
    void *check_expr_ud;
} dsl_check_ctx;

/* Check one parsed stream. Appends every problem found to `errs`
 * (offsets refer to the text the stream was parsed from; pass that text
 * as `src` so lines and columns are filled, or NULL). Returns 0 when the
 * stream is valid, -1 otherwise, DSL_ENOMEM when out of memory. Rules: labels
 * unique; an app's role fits its position (a source first unless there is a
 * source destination, a sink last unless there is a sink destination,
 * processors in between,
 * `||` lists accept any app); unknown app or option ("did you mean"
 * when one is close); required options present; values of int, float,
 * bool, enum and duration options well-formed; taps name a known stream
 * and label. The implicit "bridge" app is always accepted. */
int dsl_check_stream(const dsl_stream *s, const dsl_check_ctx *ctx,
                     const char *src, size_t src_len, dsl_errors *errs);

/* Check every stream of a file; the file's own streams are added to
 * ctx->known for taps (ctx may be NULL). Stream names must be unique in
 * the file. Returns 0 when all are valid, -1 otherwise, DSL_ENOMEM when
 * out of memory. */
int dsl_check_file(const dsl_file *f, const dsl_check_ctx *ctx, const char *src,
                   size_t src_len, dsl_errors *errs);

/* The rule for an option's value, the one the checker applies to the
 * options of a definition (and flowd to deployment properties): NULL when
 * `value` is acceptable for `def` (well-formed and within its min and
 * max), else what is expected ("an integer", "an integer from 1 to 100",
 * "one of A, B, C; did you mean 'B'?"), a static string or `buf`. */
const char *dsl_option_expect(const dsl_app_option *def, const char *value,
                              char *buf, size_t len);

/* The closest candidate to `word` by edit distance, when close enough to
 * be a likely typo (distance <= max(1, len/3)); NULL otherwise.
 * Borrowed (one of `candidates`). */
const char *dsl_suggest(const char *word, const char *const *candidates,
                        size_t n);

/* ------------------------------------------------------------------ */
/* Completion                                                          */
/* ------------------------------------------------------------------ */

typedef enum dsl_completion_kind {
    DSL_COMPLETE_APP,         /* an app name */
    DSL_COMPLETE_OPTION,      /* `--name=` of the app being typed */
    DSL_COMPLETE_VALUE,       /* an allowed value of an enum/bool option */
    DSL_COMPLETE_PIPE,        /* ` | ` */
    DSL_COMPLETE_DESTINATION, /* ` > :` */
} dsl_completion_kind;

/* One proposal. `text` is the whole definition with the proposal applied
 * (SCDF's /completions/stream returns it this way); `insert` is only what
 * gets appended to the start text after replacing its last partial word
 * of `replace` bytes. */
typedef struct dsl_completion {
    dsl_completion_kind kind;
    char *text;
    char *insert;
    size_t replace;
    char *description; /* or NULL */
} dsl_completion;

typedef struct dsl_completions {
    dsl_completion *v;
    size_t n;
    size_t cap;
} dsl_completions;

void dsl_completions_fini(dsl_completions *c); /* safe on zeroed */

/* What may come next after `start` (a partial definition): the apps that
 * fit the position (role-aware when `reg` is given) and start with the
 * word being typed; the options of the app being typed that are not set
 * yet; values of an enum/bool option after `--opt=`; `|` and `>` after a
 * complete app. Returns 0 (possibly with no proposals) or -1 when out of
 * memory. Proposals are sorted by kind then text. */
int dsl_complete(const char *start, size_t len, const dsl_registry *reg,
                 dsl_completions *out);

#ifdef __cplusplus
}
#endif

#endif /* FLOW_DSL_H */
