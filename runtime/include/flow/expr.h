/*
 * flow: the expression language (docs/expressions.md).
 *
 * A small subset of the Spring Expression Language that SCDF users write
 * in app options: `payload.amount > 1000 and payload.type == 'X'`,
 * `payload?.address?.city ?: 'none'`, `headers.type matches 'ACC.*'`,
 * `payload.name.toUpperCase()`, `#jsonPath(payload, '$.a.b')`.
 *
 * An expression is compiled once (flow_expr_compile) and evaluated per event
 * (flow_expr_eval) against the event's headers and its msgpack payload. The
 * evaluator walks the payload lazily with the bounds-checked reader of
 * flow/mp.h: it reads the top-level fields the expression names in one pass
 * and skips every other field without decoding it, and it never allocates
 * except in the caller's scratch arena. A compiled expression is immutable:
 * threads may evaluate it at once, each with its own scratch.
 *
 * Errors, at compile time and at run time, carry the byte offset inside the
 * expression of the part that failed and a message that says what was
 * expected. A run-time error (a string compared with a number, a property of
 * null, a division by zero) is a defined result, never a crash: eval returns
 * its negative FLOW_EXPR_E* code and fills the error.
 */
#ifndef FLOW_EXPR_H
#define FLOW_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/event.h"
#include "flow/mp.h"

/* Bounds that keep hostile expressions small. */
#define FLOW_EXPR_MAX_LEN     (64u * 1024) /* bytes of source */
#define FLOW_EXPR_MAX_DEPTH   64           /* nesting of the parse tree */
#define FLOW_EXPR_MAX_SCRATCH (16u * 1024 * 1024) /* scratch bytes per eval */

/* Error codes (eval and compile return their negatives). */
enum flow_expr_errno {
    FLOW_EXPR_ESYNTAX = 1, /* compile: the text is not an expression */
    FLOW_EXPR_ETYPE,       /* an operand of the wrong type */
    FLOW_EXPR_ENULL,       /* null where a value is needed (no ?.) */
    FLOW_EXPR_EARG,        /* a bad argument: index out of range, x / 0 */
    FLOW_EXPR_EPAYLOAD,    /* the payload is not well-formed msgpack */
    FLOW_EXPR_ELIMIT,      /* the scratch arena's bound was reached */
    FLOW_EXPR_ENOMEM,      /* out of memory */
};

/* What went wrong and where: offset is the byte in the expression. */
typedef struct flow_expr_error {
    int code; /* a FLOW_EXPR_E* code, 0 for none */
    size_t offset;
    char message[256];
} flow_expr_error;

typedef enum flow_expr_type {
    FLOW_EXPR_NIL,
    FLOW_EXPR_BOOL,
    FLOW_EXPR_INT,
    FLOW_EXPR_DOUBLE,
    FLOW_EXPR_STR,
    FLOW_EXPR_LIST,
    FLOW_EXPR_MAP,
} flow_expr_type;

/*
 * A value. Strings borrow the payload, the expression or the scratch
 * arena (not NUL-terminated). A list is either raw msgpack (raw != NULL:
 * an array read from the payload) or items[0..len) built by the
 * expression (in the scratch arena or the expression). A map is always
 * raw msgpack. Valid until the scratch is used again or the event goes.
 */
typedef struct flow_expr_value {
    flow_expr_type type;
    uint32_t len; /* STR: bytes; LIST: elements; MAP: entries */
    union {
        bool b;
        int64_t i;
        double d;
        const char *s;
        const struct flow_expr_value *items;
    };
    const uint8_t *raw; /* LIST, MAP: the msgpack bytes, or NULL */
    size_t raw_len;
} flow_expr_value;

/* The per-evaluation scratch arena; embedded, zero or init, then fini. */
typedef struct flow_expr_scratch {
    struct flow__expr_chunk *chunks; /* owned */
    size_t used;                     /* bytes handed out since reset */
    void *match;                     /* owned: PCRE2 match data */
} flow_expr_scratch;

void flow_expr_scratch_init(flow_expr_scratch *sc);
void flow_expr_scratch_fini(flow_expr_scratch *sc);

typedef struct flow_expr flow_expr;

/*
 * Compiles src[0..len). Returns 0 and sets *out (returns new; free with
 * flow_expr_free), or -FLOW_EXPR_ESYNTAX (err says where and why: offset
 * is the byte in src) or -FLOW_EXPR_ENOMEM. A regular expression after
 * `matches`, a header name and a JSON path written as literals are
 * checked here, so their mistakes are compile errors.
 */
int flow_expr_compile(const char *src, size_t len, flow_expr **out,
                      flow_expr_error *err);
/* NULL-safe; sets *ep to NULL. */
void flow_expr_free(flow_expr **ep);
/* The source as compiled (NUL-terminated, borrowed). */
const char *flow_expr_source(const flow_expr *e);

/*
 * Evaluates e against ev. The scratch is emptied first: what an earlier
 * eval with it returned is gone. Returns 0 and fills *out, or a negative
 * FLOW_EXPR_E* code with err filled (*out is then nil).
 */
int flow_expr_eval(const flow_expr *e, const flow_event *ev,
                   flow_expr_scratch *sc, flow_expr_value *out,
                   flow_expr_error *err);

/*
 * Evaluates e as a condition: 0 with *out set, or a negative code; a
 * result that is not a boolean is -FLOW_EXPR_ETYPE ("the expression gave
 * an int, not a boolean").
 */
int flow_expr_eval_bool(const flow_expr *e, const flow_event *ev,
                        flow_expr_scratch *sc, bool *out, flow_expr_error *err);

/* The name of a value type: "null", "boolean", "int", "double", "string",
 * "list", "map". Static. */
const char *flow_expr_type_name(flow_expr_type t);

/* True and *b set when v is a boolean. */
bool flow_expr_value_bool(const flow_expr_value *v, bool *b);

/*
 * The text of a value: a string as it is, a number or boolean as written
 * (1000, 2.5, true), null as "null", a list or map as JSON. The text may
 * live in sc. Returns 0, -FLOW_EXPR_ELIMIT or -FLOW_EXPR_ENOMEM.
 */
int flow_expr_value_text(const flow_expr_value *v, flow_expr_scratch *sc,
                         const char **s, size_t *len);

/* Appends v to b as one msgpack object (check b->err). */
void flow_expr_value_write(const flow_expr_value *v, flow_buf *b);

/* Formats "EXPR\n   ^ MESSAGE" (the source with a caret under the
 * offset) into buf; for usage errors. Returns buf. */
char *flow_expr_error_caret(const char *src, const flow_expr_error *err,
                            char *buf, size_t size);

#endif
