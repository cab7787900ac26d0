/*
 * flow: functions, user code in a shared object that the `function` app
 * loads (docs/functions.md).
 *
 * A function library is a shared object that exports one symbol,
 *
 *     const flow_function_lib *flow_functions(void);
 *
 * returning a table of its functions. Each function is a flow_function:
 * an ABI version, a name, optional init/snapshot/restore/fini and a
 * process callback that is called for every event the app routes to it:
 *
 *     static const char *on_created(void *state, const flow_event *in,
 *                                   flow_fn_out *out)
 *     {
 *         return flow_fn_emit(out, in) ? "cannot emit" : NULL;
 *     }
 *     static const flow_function fns[] = {
 *         { .abi_version = FLOW_FUNCTION_ABI_VERSION, .name = "on_created",
 *           .process = on_created },
 *     };
 *     static const flow_function_lib lib = {
 *         .abi_version = FLOW_FUNCTION_ABI_VERSION, .functions = fns,
 *         .nfunctions = 1,
 *     };
 *     const flow_function_lib *flow_functions(void) { return &lib; }
 *
 * Build it with `cc -shared -fPIC -I<prefix>/include lib.c -o lib.so`
 * (undefined symbols allowed: they are the app's, see below).
 *
 * Threading: every callback runs on the app's one event-loop thread, one
 * at a time, never two at once; a library needs no locks for its state.
 * A flow_fn_out is valid only during the callback it is passed to, and
 * only that thread may call through it: a library must not keep it nor
 * start threads that call into flow. Events passed in borrow the
 * received message, as in an app's on_event (flow/event.h).
 *
 * What a library may call: the flow_fn_* functions below (through the
 * flow_fn_out it is given), and the functions of flow/mp.h and
 * flow/event.h (msgpack reading and writing), which the `function` app
 * exports to the libraries it loads. Nothing else of flow's.
 *
 * The app refuses (exit status 2, at start) a library whose table or
 * any of whose functions has another abi_version than the app's
 * FLOW_FUNCTION_ABI_VERSION, and a function name that the library does
 * not list.
 */
#ifndef FLOW_FUNCTION_H
#define FLOW_FUNCTION_H

#include <stddef.h>
#include <stdint.h>

#include "flow/event.h"
#include "flow/mp.h"

/* Changes whenever flow_function, flow_function_lib or flow_fn_host
 * change in a way that an old library would misread. */
#define FLOW_FUNCTION_ABI_VERSION 1

/* The name of the symbol a library exports. */
#define FLOW_FUNCTIONS_SYMBOL "flow_functions"

typedef struct flow_fn_host flow_fn_host;

/* The handle a callback is given to reach the app: the host's table and
 * the app's private data for this call. Opaque to the library: use the
 * flow_fn_* functions. */
typedef struct flow_fn_out {
    const flow_fn_host *host;
    void *impl;
} flow_fn_out;

/* The app's side of the ABI, filled by the app. */
struct flow_fn_host {
    uint32_t abi_version; /* FLOW_FUNCTION_ABI_VERSION */
    int (*emit)(void *impl, const flow_event *ev);
    int (*emit_error)(void *impl, const char *reason);
    int (*write)(void *impl, const void *data, size_t len);
    void (*log)(void *impl, const char *msg);
    void *(*library_state)(void *impl);
};

/*
 * Sends an event to the output (process only). Everything is copied, so
 * the caller keeps its buffers; the headers are ev's (id and ts_us 0 mean
 * the input event's, as with flow_emit_event). To pass the input on
 * unchanged, emit it; to change its payload, copy the event, point
 * .payload at a new msgpack map and emit the copy. Returns 0 or a
 * negative FLOW_E* (too big, out of memory, not inside process).
 */
static inline int flow_fn_emit(flow_fn_out *out, const flow_event *ev)
{
    return out->host->emit(out->impl, ev);
}

/*
 * Sends the input event to the error output with reason (process only),
 * as returning reason from process does; a function that also emitted
 * events may use it to reject the input after all. Returns 0 or a
 * negative FLOW_E*.
 */
static inline int flow_fn_emit_error(flow_fn_out *out, const char *reason)
{
    return out->host->emit_error(out->impl, reason);
}

/* Appends bytes to the snapshot being written (snapshot only). Returns 0
 * or a negative FLOW_E*. */
static inline int flow_fn_write(flow_fn_out *out, const void *data, size_t len)
{
    return out->host->write(out->impl, data, len);
}

/* The library's own state, shared by all its functions: what the
 * library's init set (NULL without one), in any callback of a function.
 * A library whose functions act on one model (the accounts the account
 * actions fold) keeps it there rather than in each function. */
static inline void *flow_fn_library_state(flow_fn_out *out)
{
    return out->host->library_state(out->impl);
}

/* Logs one line to the app's stderr, prefixed with the app's and the
 * function's names (any callback). */
static inline void flow_fn_log(flow_fn_out *out, const char *msg)
{
    out->host->log(out->impl, msg);
}

typedef struct flow_function {
    uint32_t abi_version;    /* FLOW_FUNCTION_ABI_VERSION */
    const char *name;        /* [A-Za-z_][A-Za-z0-9_-]*, unique in the
                                library */
    const char *description; /* one sentence, or NULL */
    /*
     * Called once at start, before any event, for each function the app
     * runs. options is the app's --function-options text as given (NULL
     * when unset). Sets *state to the function's own state (or leaves it
     * NULL); the app hands it back to every later callback. Returns 0,
     * or nonzero to refuse to start (say why with flow_fn_log first).
     */
    int (*init)(void **state, const char *options, flow_fn_out *out);
    /*
     * Called for every event routed to the function. Returns NULL when
     * the event is done with (whatever it emitted, possibly nothing), or
     * a reason: the input event then goes to the error output with it.
     * The reason is copied at once; a static string is fine.
     */
    const char *(*process)(void *state, const flow_event *in, flow_fn_out *out);
    /* Writes the state, with flow_fn_write, at a clean exit when the app
     * keeps state (--flow.state). Returns 0 or nonzero on failure. */
    int (*snapshot)(void *state, flow_fn_out *out);
    /* Reads back what snapshot wrote, after init. Returns 0 or nonzero
     * when data is not a state it wrote (the app then does not start). */
    int (*restore)(void *state, const void *data, size_t len, flow_fn_out *out);
    /* Called once at exit, after the last event; frees the state. */
    void (*fini)(void *state);
} flow_function;

typedef struct flow_function_lib {
    uint32_t abi_version; /* FLOW_FUNCTION_ABI_VERSION */
    const char *name;     /* the library's own name, for messages, or NULL */
    const flow_function *functions;
    size_t nfunctions;
    /*
     * Optional: the library's own state, shared by its functions
     * (flow_fn_library_state), with the same contracts as a function's
     * callbacks. init runs once before any function's init, fini once
     * after every function's fini; snapshot and restore keep the state
     * under the name "@library" of the app's snapshot, beside each
     * function's under its own name.
     */
    int (*init)(void **state, const char *options, flow_fn_out *out);
    int (*snapshot)(void *state, flow_fn_out *out);
    int (*restore)(void *state, const void *data, size_t len, flow_fn_out *out);
    void (*fini)(void *state);
} flow_function_lib;

/* The symbol a function library exports. */
const flow_function_lib *flow_functions(void);

#endif
