/*
 * The expression language's insides, shared by expr.c (the parser),
 * expr_eval.c (the per-event evaluator) and expr_value.c (values and the
 * scratch arena).
 */
#ifndef FLOW_EXPR_IMPL_H
#define FLOW_EXPR_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "flow/expr.h"

/* Top-level payload fields read in one pass; more go by lookup. */
#define XSLOTS_MAX 16

enum xop {
    X_LIT,      /* lit */
    X_LIST,     /* {args...} */
    X_PAYLOAD,  /* the whole payload */
    X_SLOT,     /* payload.NAME read in the one pass: slot */
    X_HEADER,   /* headers.NAME: flag is an xheader */
    X_HEADERS,  /* headers as a whole: not allowed, kept for errors */
    X_PROP,     /* a.NAME: name in lit */
    X_INDEX,    /* a[b] */
    X_NEG,      /* -a */
    X_NOT,      /* !a */
    X_AND,      /* a and b */
    X_OR,       /* a or b */
    X_EQ,       /* a == b */
    X_NE,       /* a != b */
    X_LT,       /* a < b */
    X_LE,       /* a <= b */
    X_GT,       /* a > b */
    X_GE,       /* a >= b */
    X_ADD,      /* a + b */
    X_SUB,      /* a - b */
    X_MUL,      /* a * b */
    X_DIV,      /* a / b */
    X_MOD,      /* a % b */
    X_TERNARY,  /* a ? b : c */
    X_ELVIS,    /* a ?: b */
    X_MATCHES,  /* a matches re */
    X_INSTANCE, /* a instanceof T(...): flag is an xtype */
    X_METHOD,   /* a.m(args): flag is an xmethod */
    X_FUNC,     /* #f(args): flag is an xfunc */
};

enum xheader { H_TYPE, H_KEY, H_ID, H_TS, H_SEQ };

enum xtype { T_STRING, T_INT, T_DOUBLE, T_NUMBER, T_BOOL, T_LIST, T_MAP };

enum xmethod {
    M_LENGTH,
    M_SIZE,
    M_ISEMPTY,
    M_UPPER,
    M_LOWER,
    M_CONTAINS,
    M_STARTS,
    M_ENDS,
    M_SUBSTRING,
    M_SPLIT,
    M_TRIM,
    M_INDEXOF,
    M_TOSTRING,
};

enum xfunc { F_JSONPATH, F_NOW, F_HASH };

typedef struct xnode {
    uint8_t op;    /* enum xop */
    uint8_t flag;  /* per op, see above */
    bool nullsafe; /* ?. or ?[ */
    uint32_t off;  /* byte offset in the source, for errors */
    uint32_t slot; /* X_SLOT */
    struct xnode *a, *b, *c;
    struct xnode **args; /* X_LIST, X_METHOD, X_FUNC: owned array */
    uint32_t nargs;
    flow_expr_value lit; /* X_LIT; X_PROP and X_SLOT: the name (STR) */
    pcre2_code *re;      /* X_MATCHES: owned */
} xnode;

struct flow_expr {
    char *src; /* owned, NUL-terminated */
    size_t len;
    xnode *root;
    xnode **nodes; /* owned: every node, for freeing */
    size_t nnodes, capnodes;
    char **strs; /* owned: decoded string literals */
    size_t nstrs, capstrs;
    /* The top-level payload fields read in the one pass. */
    const char *slot_name[XSLOTS_MAX];
    uint32_t slot_len[XSLOTS_MAX];
    uint32_t nslots;
    uint32_t slot_lens; /* bit n: some slot's name is n bytes (n < 32) */
};

/* The scratch arena: chunks, newest first. */
struct flow__expr_chunk {
    struct flow__expr_chunk *next;
    size_t cap, used;
    char data[];
};

/* Allocates n bytes (8-aligned) from the arena; NULL when the bound is
 * reached or memory is out. */
void *flow__expr_alloc(flow_expr_scratch *sc, size_t n);
void flow__expr_scratch_reset(flow_expr_scratch *sc);

/* Turns one decoded msgpack item (v->raw spans it whole) into a value;
 * returns 0 or -FLOW_EXPR_ETYPE for an ext. */
int flow__expr_from_mp(const flow_mp_value *m, flow_expr_value *out);

/* A JSON path ($.a.b, $['a'][0]) is well formed: 0, or -1 with the offset
 * of the bad byte in *bad. */
int flow__expr_jsonpath_check(const char *p, size_t len, size_t *bad);

#endif
