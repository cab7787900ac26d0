/*
 * funclib.h - loading a function library (flow/function.h) and mapping
 * events to its functions, for the `function` app and its tests.
 *
 * A library is opened with RTLD_NOW | RTLD_LOCAL, so that a symbol it
 * lacks is an error at load and nothing of it leaks into another
 * library's lookups; its table is checked (ABI version of the table and
 * of every function, names, a process callback) before anything of it is
 * called but flow_functions itself.
 */
#ifndef FLOW_MODULES_FUNCLIB_H
#define FLOW_MODULES_FUNCLIB_H

#include "flow/event.h"
#include "flow/expr.h"
#include "flow/function.h"
#include "flow/mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct funclib {
    void *handle; /* dlopen's (owned: funclib_close) */
    const flow_function_lib *lib;
} funclib;

/*
 * Opens the library at path; fd >= 0 is an open descriptor of that file,
 * which is loaded instead of the path (so that the file checked is the
 * file loaded). Returns 0, or -1 with the reason in why: the loader's
 * message, a missing flow_functions, or a table that fails the checks
 * (the ABI version first, so a library of another version is told so).
 */
int funclib_open(funclib *fl, const char *path, int fd, char *why,
                 size_t whylen);

/* Checks a table as funclib_open does. Returns 0 or -1 with why. */
int funclib_check(const flow_function_lib *lib, char *why, size_t whylen);

/* The function of that name, or NULL. */
const flow_function *funclib_find(const funclib *fl, const char *name);

/* Closes the library (safe on a zeroed or closed one). */
void funclib_close(funclib *fl);

/*
 * The library described as one JSON object, NUL-terminated in out:
 * {"abi_version":1,"name":...,"snapshot":bool,"functions":[{"name":..,
 * "description":..,"snapshot":bool}, ...]}, where snapshot says whether
 * the library's own state, or a function's, is kept across restarts.
 * Returns 0 or -FLOW_ENOMEM.
 */
int funclib_describe(const funclib *fl, flow_buf *out);

/* One action of --actions: events whose action is value go to fn. */
typedef struct funclib_action {
    char *value; /* owned */
    size_t len;
    char *fn; /* owned: the function's name */
} funclib_action;

typedef struct funclib_actions {
    funclib_action *v; /* owned */
    size_t n;
} funclib_actions;

/*
 * Parses "V1:fn1,V2:fn2": a value may not be empty nor appear twice; a
 * function name may serve several values. Returns 0, or -1 with why
 * ("--actions: ... at offset N"). Free with funclib_actions_free.
 */
int funclib_actions_parse(const char *text, funclib_actions *out, char *why,
                          size_t whylen);
void funclib_actions_free(funclib_actions *a);

/* The action whose value is s, or NULL. */
const funclib_action *funclib_actions_find(const funclib_actions *a,
                                           const char *s, size_t len);

/*
 * The action of an event: the text of --action-expression's result, an
 * expression of the language of flow/expr.h (docs/expressions.md), e.g.
 * payload.type or headers.type.
 */
typedef struct funclib_key {
    flow_expr *expr;      /* owned */
    flow_expr_scratch sc; /* the evaluations' scratch */
} funclib_key;

/* Compiles expr into k. Returns 0, or -1 with why (the offset of the
 * mistake and what was expected). */
int funclib_key_parse(const char *expr, funclib_key *k, char *why,
                      size_t whylen);
void funclib_key_free(funclib_key *k);

/*
 * The action of ev as text: *s (borrowed from ev or k's scratch, valid
 * until the next evaluation) and its length. Returns the length, or -1
 * with the reason in why (an error of the expression, a null result such
 * as a missing field, a list or a map).
 */
int funclib_key_eval(funclib_key *k, const flow_event *ev, const char **s,
                     char *why, size_t whylen);

#endif
