/*
 * luascript - a user's Lua script in a sandbox, for the script processor.
 *
 * One lscript owns one Lua 5.4 state holding only the safe parts of the
 * standard library (no os, io, package, require, debug, dofile, loadfile;
 * load takes text chunks only; collectgarbage only "collect", "count",
 * "step" and "isrunning"; print writes to the app's log), with two limits:
 *
 *   - an instruction budget per call (lscript_process, and each of init,
 *     snapshot and restore): a count hook stops the script once it has run
 *     that many Lua VM instructions, coroutines included;
 *   - a memory cap: the state's allocator refuses what would take the
 *     state's memory past it, which Lua raises as a memory error.
 *
 * Every failure of a call (budget, memory, a runtime error, a bad return
 * value, a payload that cannot be converted) leaves the state usable and
 * comes back as a negative FLOW_E* with a message in err; the caller sends
 * the event to the error output. The contract a script follows is in
 * docs/apps.md "Scripts".
 *
 * Conversion between msgpack and Lua values (lscript_push_msgpack,
 * lscript_to_msgpack) is bounds-checked: nesting deeper than
 * LSCRIPT_MAX_DEPTH, an ext value, a map key that is nil or a container,
 * and an encoding over LSCRIPT_MAX_ENCODED bytes are refused with a
 * message.
 */
#ifndef FLOW_LUASCRIPT_H
#define FLOW_LUASCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/event.h"
#include "flow/mp.h"

#include <lua.h>

/* Containers nested deeper than this are refused both ways. */
#define LSCRIPT_MAX_DEPTH FLOW_MP_MAX_DEPTH
/* The largest msgpack encoding of one value (an event's payload). */
#define LSCRIPT_MAX_ENCODED (1u * 1024 * 1024)

typedef struct lscript lscript;

typedef struct lscript_limits {
    int64_t max_instructions; /* per call, at least 1 */
    size_t max_memory;        /* bytes the state may hold, at least 64 KiB */
} lscript_limits;

/* Where print() writes one line (without its newline); NULL: stderr. */
typedef void (*lscript_log_fn)(void *arg, const char *line);

/* An event a script returned; the strings borrow the Lua state until the
 * next call into it. */
typedef struct lscript_out {
    const char *type; /* NULL: the input's type */
    size_t type_len;
    const char *key; /* NULL: the input's key (see key_set) */
    size_t key_len;
    bool key_set;  /* the script set key (to nil when key is NULL) */
    int64_t ts_us; /* 0: the input's time */
    const uint8_t *payload;
    size_t payload_len;
} lscript_out;

/* Called once per event a script returned, in order. Nonzero stops the
 * rest and is returned by lscript_process. */
typedef int (*lscript_emit_fn)(void *arg, const lscript_out *out);

/*
 * Makes a sandboxed state; returns a new lscript, or NULL with the reason
 * in err when out of memory. log and log_arg are borrowed for its life.
 */
lscript *lscript_new(const lscript_limits *lim, lscript_log_fn log,
                     void *log_arg, char *err, size_t errlen);
/* Frees *sp and its Lua state and sets *sp to NULL; NULL-safe. */
void lscript_destroy(lscript **sp);

/* The state, borrowed, for the tests. */
lua_State *lscript_state(lscript *s);

/*
 * Loads a script's text under the name chunkname (messages then say
 * "chunkname:line:") and runs its top level under the limits. Then
 * process must be a global function. Returns 0, or -FLOW_EOPTION with the
 * Lua message in err.
 */
int lscript_load(lscript *s, const char *chunkname, const char *text,
                 size_t len, char *err, size_t errlen);

/*
 * Calls init(options) when the script defines it, options a table of the
 * names and values given as "NAME=VALUE" pairs separated by commas or
 * newlines (values are strings). A pair without '=' or with an empty name
 * is refused. Returns 0 or -FLOW_EOPTION with the message in err.
 */
int lscript_init(lscript *s, const char *options, char *err, size_t errlen);

/* Whether the script defines snapshot and restore. */
bool lscript_has_snapshot(lscript *s);
bool lscript_has_restore(lscript *s);

/*
 * Runs process(event) on one event and hands each event it returned to
 * emit. The event table is {id, type, key, ts, seq, payload}. Returns 0
 * (also for a drop), what emit returned, or a negative FLOW_E* with the
 * message in err: -FLOW_ETOOBIG for the budget or the memory cap,
 * -FLOW_EMALFORMED for a payload that cannot be converted, -FLOW_EINVAL
 * for a runtime error or a bad return value. Nothing is emitted when the
 * call fails.
 */
int lscript_process(lscript *s, const flow_event *ev, lscript_emit_fn emit,
                    void *arg, char *err, size_t errlen);

/*
 * Calls snapshot() and appends the string it returns to out (nothing for
 * nil). Returns 0 (also when the script has no snapshot) or a negative
 * FLOW_E* with the message in err.
 */
int lscript_snapshot(lscript *s, flow_buf *out, char *err, size_t errlen);

/* Calls restore(state) with the bytes a snapshot wrote. Returns 0 (also
 * when the script has no restore) or a negative FLOW_E* with the message
 * in err. */
int lscript_restore(lscript *s, const void *data, size_t len, char *err,
                    size_t errlen);

/*
 * Pushes the Lua value of one msgpack object, data[0..len) being exactly
 * that object (msgpack nil is the sentinel `null` inside containers and
 * at the top). Runs protected: returns 0, or a negative FLOW_E* with the
 * reason in err and nothing pushed.
 */
int lscript_push_msgpack(lscript *s, const void *data, size_t len, char *err,
                         size_t errlen);

/* Appends the msgpack encoding of the value at idx to out, protected.
 * Returns 0 or a negative FLOW_E* with the reason in err. */
int lscript_to_msgpack(lscript *s, int idx, flow_buf *out, char *err,
                       size_t errlen);

#endif
