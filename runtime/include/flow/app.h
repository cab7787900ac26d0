/*
 * flow: an app is a descriptor.
 *
 * A module fills one flow_app_desc (name, role, description, option table,
 * callbacks) and its main is one line:
 *
 *     int main(int argc, char **argv)
 *     {
 *         return flow_app_main(&counter_app, argc, argv);
 *     }
 *
 * The runtime owns main, the libuv loop, the ZeroMQ sockets and the
 * signals. The option table drives --key=value parsing, defaults, --help
 * and --describe. Callbacks run on the app's loop thread, one at a time.
 * The command line and the control protocol are in docs/apps.md.
 */
#ifndef FLOW_APP_H
#define FLOW_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/error.h"
#include "flow/event.h"
#include "flow/expr.h"
#include "flow/mp.h"
#include "flow/safepath.h"

typedef struct flow_ctx flow_ctx;
/* Collects keyed state for a checkpoint (snapshot_keys). */
typedef struct flow_keyed_writer flow_keyed_writer;

typedef enum flow_role {
    FLOW_ROLE_SOURCE,
    FLOW_ROLE_PROCESSOR,
    FLOW_ROLE_SINK,
} flow_role;

typedef enum flow_opt_type {
    FLOW_OPT_STRING,
    FLOW_OPT_INT,      /* int64, decimal (a leading - allowed) */
    FLOW_OPT_FLOAT,    /* double */
    FLOW_OPT_BOOL,     /* true/false/1/0/yes/no/on/off; bare --x means true */
    FLOW_OPT_ENUM,     /* one of values[] */
    FLOW_OPT_DURATION, /* a number with a unit: us, ms, s, m, h (bare = ms) */
    /* A file that the app opens under the path rules of flow/safepath.h
     * (docs/apps.md "Paths"); --describe says "type": "path" and its
     * "access": */
    FLOW_OPT_PATH,        /* "write": an output written whole */
    FLOW_OPT_PATH_READ,   /* "read": an input */
    FLOW_OPT_PATH_APPEND, /* "append": an output appended to */
    /* An expression (docs/expressions.md), compiled once before init: a
     * bad one is a usage error (exit 2) that shows the expression with a
     * caret under the spot. --describe says "type": "expression", so that
     * flowd and flowctl compile it at create time too. */
    FLOW_OPT_EXPR,
} flow_opt_type;

/* Whether t is one of the FLOW_OPT_PATH* types, and its access. */
bool flow_opt_type_is_path(flow_opt_type t);
flow_path_access flow_opt_path_access(flow_opt_type t);

/*
 * One row of an app's option table; the table ends with a row whose name
 * is NULL. Write rows with designated initializers:
 *
 *     { .name = "rate", .type = FLOW_OPT_INT, .def = "1000", .min = "0",
 *       FLOW_OPT_FIELD(struct load_sim, rate),
 *       .description = "Events per second." },
 *
 * The runtime parses every option, refuses a value outside [min, max]
 * with a usage error naming the option, and writes the value into the
 * field named by FLOW_OPT_FIELD in the app state (flow_app_desc
 * .state_size) before init. A field's C type follows the option's type:
 *
 *     FLOW_OPT_INT, FLOW_OPT_DURATION (in µs)    int64_t
 *     FLOW_OPT_FLOAT                             double
 *     FLOW_OPT_BOOL                              bool
 *     FLOW_OPT_STRING, FLOW_OPT_ENUM, FLOW_OPT_PATH*
 *                                                const char * (borrowed
 *                                                from argv or the table,
 *                                                valid while the app runs;
 *                                                NULL when unset)
 *     FLOW_OPT_EXPR                              const flow_expr * (owned
 *                                                by the runtime, valid
 *                                                while the app runs; NULL
 *                                                when unset)
 *
 * A table that breaks these rules (a field of the wrong size or outside
 * the state, a bound on a type without order, a default or bound that
 * does not parse or is out of range) is an app bug: the app says so and
 * exits 1 at start, --help and --describe included.
 */
typedef struct flow_option {
    const char *name; /* without the leading --, e.g. "field-name" */
    flow_opt_type type;
    const char *def;           /* default as written on a command line; NULL
                                * = none (the option is then unset) */
    bool required;             /* must be given (def is then ignored) */
    const char *const *values; /* ENUM: allowed values, NULL-terminated */
    const char *description;   /* one sentence for --help and --describe */
    /* Bounds of an INT, FLOAT or DURATION option, inclusive, written as a
     * value is ("1", "0.5", "10ms"); NULL = no bound. */
    const char *min;
    const char *max;
    /* Where the value goes in the app state: set both with
     * FLOW_OPT_FIELD. size 0 = no field (read it with flow_opt_*). */
    size_t offset;
    size_t size;
    /* The row names a family of options, --NAME.KEY=VALUE, given any
     * number of times with any non-empty KEY (transform's
     * --set.FIELD=EXPR). Only a STRING or EXPR row may be one; it has no
     * default, no field and is not required. Read the values, in command
     * line order, with flow_opt_prefix_*. --describe says "prefix": true
     * and the DSL accepts --NAME.anything for it. */
    bool prefix;
} flow_option;

/* The field of the app's state struct an option fills, e.g.
 * FLOW_OPT_FIELD(struct counter, name) or, in a nested struct,
 * FLOW_OPT_FIELD(struct counter, so.delay_us). */
#define FLOW_OPT_FIELD(type, member) \
    .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)

/* Return values of on_tick (negative FLOW_E* codes mean failure: exit 1). */
enum {
    FLOW_TICK_IDLE = 0, /* nothing more now: call again after tick_us */
    FLOW_TICK_MORE = 1, /* more to do: call again as soon as the output has
                         * room (a source running flat out) */
    FLOW_TICK_DONE = 2, /* finished (a source reached --count): flush, send
                         * end-of-stream downstream, exit 0 */
};

typedef struct flow_app_desc {
    const char *name; /* the DSL name, e.g. "account-events" */
    flow_role role;
    const char *description;
    const flow_option *options; /* may be NULL: no options */
    /* The size of the app state (its own struct). Nonzero: the runtime
     * allocates it zeroed, fills the fields of the options, makes it the
     * state (flow_state) before init and frees it after fini; the app
     * frees only what it allocated inside it. 0: the app makes its own
     * state with flow_set_state, if any. */
    size_t state_size;

    /* Called once after options are parsed and before any event; with
     * state_size 0 it may set the app state with flow_set_state. Nonzero
     * (negative FLOW_E*) aborts with exit status 1; use flow_log to say why. */
    int (*init)(flow_ctx *ctx);
    /* Called for every input event (processors and sinks). The event
     * borrows the received message. Return 0; a negative FLOW_E* counts an
     * error for the event (it is not retried) and processing goes on. */
    int (*on_event)(flow_ctx *ctx, const flow_event *ev);
    /* Called every tick_us (sources produce here), see FLOW_TICK_*. A
     * source with an ipc:// or tcp:// output, or with an output that has
     * no group yet (--flow.control without --flow.output), is first
     * called once a consumer has connected, since nothing it made before
     * could leave. */
    int (*on_tick)(flow_ctx *ctx);
    uint32_t tick_us; /* on_tick period; 0 with on_tick set = 1 s */
    /* Writes the app state into out (any bytes, typically msgpack); called
     * at a clean exit when --flow.state=PATH is given, and at every
     * checkpoint under --flow.guarantee (the unkeyed state; see
     * flow_checkpoint_id). Nonzero declines a checkpoint. */
    int (*snapshot)(flow_ctx *ctx, flow_buf *out);
    /* Restores what snapshot wrote; called after init when the
     * --flow.state file exists, and with the unkeyed state of this
     * instance's index in --flow.restore (maybe empty). */
    int (*restore)(flow_ctx *ctx, const void *data, size_t len);
    /* Called once at exit, after the last event; frees the app state. */
    void (*fini)(flow_ctx *ctx);

    /* ---- Checkpoints (docs/guarantees.md) ---- */
    /* Writes the keyed state, one flow_keyed_put per key, at every
     * checkpoint (snapshot writes the rest, the unkeyed state, then too).
     * Nonzero: the checkpoint is declined. */
    int (*snapshot_keys)(flow_ctx *ctx, flow_keyed_writer *w);
    /* Restores one key's state at start (--flow.restore): called for the
     * keys whose key group this instance owns, after init. Nonzero
     * refuses the restore (exit 1). */
    int (*restore_key)(flow_ctx *ctx, const char *key, size_t klen,
                       const void *data, size_t dlen);
    /* After the snapshot of checkpoint n, before it is acknowledged: a
     * sink makes its output durable here. Nonzero declines it. */
    int (*on_checkpoint)(flow_ctx *ctx, uint64_t n);
    /* flowd says checkpoint n is complete: a sink publishes here. */
    void (*on_commit)(flow_ctx *ctx, uint64_t n);

    /* ---- The end of a run ---- */
    /* Called once when the run starts to end (its input ended, a stop
     * was asked for or a signal came), before the last flush and the end
     * of stream: an app with work in flight (requests waiting for an
     * answer, say) finishes it here, and what it emits now, to the output
     * or the error output, still goes out ahead of the end of stream. It
     * may block, for at most flow_end_left_us. */
    void (*on_end)(flow_ctx *ctx);
} flow_app_desc;

/* In on_end: the microseconds left of the drain time (--flow.drain-ms)
 * before what is not sent is given up; 0 outside the end of a run. */
int64_t flow_end_left_us(flow_ctx *ctx);

/*
 * Inside snapshot_keys: adds one key's state (both copied). The key is
 * the one events are routed by (their key header or partition key), so
 * that its key group is the one the router gives it. Returns 0 or a
 * negative FLOW_E* (give it back from snapshot_keys).
 */
int flow_keyed_put(flow_keyed_writer *w, const void *key, size_t klen,
                   const void *data, size_t dlen);

/* The checkpoint id a callback runs in (snapshot, snapshot_keys,
 * on_checkpoint), 0 outside one (the --flow.state snapshot at exit). */
uint64_t flow_checkpoint_id(flow_ctx *ctx);

/* Whether this instance runs under a guarantee (--flow.guarantee other
 * than none): a sink then makes its output durable in on_checkpoint only. */
bool flow_guaranteed(flow_ctx *ctx);

/*
 * Runs an app as a program: parses argv, handles --help and --describe,
 * sets up the sockets, runs the loop until SIGTERM/SIGINT, a control
 * "stop", end of stream or FLOW_TICK_DONE, and returns the exit status:
 * 0 clean, 2 usage error (message on stderr naming the option), 1 other.
 */
int flow_app_main(const flow_app_desc *app, int argc, char **argv);

/*
 * Records a process's exit status for flowd, which cannot wait for a
 * process it did not start (an app it adopted after a restart): when the
 * environment names the instance's directory (FLOW_INSTANCE_DIR), writes
 * "PID STATUS\n" to its file ".flow-exit", atomically (a temporary file, then
 * rename). Does nothing without FLOW_INSTANCE_DIR or when it cannot write.
 * flow_app_main calls it; a program that runs apps itself (flow-host)
 * calls it once, just before it exits. Returns status.
 */
int flow_app_record_exit(int status);

/* ---- Inside callbacks ---------------------------------------------- */

/* The app-private state pointer: the one the runtime made for
 * state_size, else NULL until flow_set_state. */
void *flow_state(flow_ctx *ctx);
void flow_set_state(flow_ctx *ctx, void *state);

/* Parsed option values (the default when not given), for an app
 * without fields (FLOW_OPT_FIELD fills the state instead). Asking for a name
 * not in the table, or with the wrong type, is a programmer error
 * (assert). flow_opt_str returns NULL for an unset option without default;
 * flow_opt_is_set tells whether the user gave it. */
const char *flow_opt_str(flow_ctx *ctx, const char *name);
int64_t flow_opt_int(flow_ctx *ctx, const char *name);
double flow_opt_float(flow_ctx *ctx, const char *name);
bool flow_opt_bool(flow_ctx *ctx, const char *name);
const char *flow_opt_enum(flow_ctx *ctx, const char *name);
int64_t flow_opt_duration_us(flow_ctx *ctx, const char *name);
bool flow_opt_is_set(flow_ctx *ctx, const char *name);
/* A FLOW_OPT_PATH* option as given (NULL when unset). The runtime has checked
 * it with flow_path_probe before init; open it with flow_path_fopen or
 * flow_path_open_read and flow_path_rules_of. */
const char *flow_opt_path(flow_ctx *ctx, const char *name);

/* A FLOW_OPT_EXPR option, compiled (NULL when unset); owned by the
 * runtime, valid while the app runs. flow_opt_str gives its text. */
const flow_expr *flow_opt_expr(flow_ctx *ctx, const char *name);

/* The values of a prefix option (flow_option.prefix), in command line
 * order: how many, and the i-th one's KEY (after "NAME."), its text and,
 * for an EXPR row, its compiled expression (else NULL). Borrowed, valid
 * while the app runs. */
size_t flow_opt_prefix_count(flow_ctx *ctx, const char *name);
const char *flow_opt_prefix_key(flow_ctx *ctx, const char *name, size_t i);
const char *flow_opt_prefix_value(flow_ctx *ctx, const char *name, size_t i);
const flow_expr *flow_opt_prefix_expr(flow_ctx *ctx, const char *name,
                                      size_t i);

/* The path rules of this instance (--flow.instance-dir,
 * --flow.allow-path); borrowed, valid while the app runs. */
const flow_path_rules *flow_path_rules_of(flow_ctx *ctx);

/* Identity of this instance. */
const flow_app_desc *flow_app(flow_ctx *ctx);
const char *flow_label(flow_ctx *ctx);  /* --flow.label, default app name */
const char *flow_stream(flow_ctx *ctx); /* --flow.stream, default "" */
uint32_t flow_instance(flow_ctx *ctx);  /* --flow.instance, default 0 */
/* True when --flow.control was given: the app reports to a server. */
bool flow_has_control(flow_ctx *ctx);
/* The app's libuv loop (the loop callbacks run on), for an app that
 * serves outside clients itself (the http and tcp sources). Handles the
 * app opens on it must be closed in fini, which runs before the loop is
 * closed; loop thread only. */
struct uv_loop_s;
struct uv_loop_s *flow_uv_loop(flow_ctx *ctx);

/* Where outside clients reach the app (e.g. "http://127.0.0.1:4321/ingest"),
 * sent in every metrics message as "url" (flowd shows it as the
 * instance's url); copied. NULL clears it. 0 or -FLOW_ENOMEM. */
int flow_report_url(flow_ctx *ctx, const char *url);

/* The most figures an app reports with flow_report_figure. */
#define FLOW_APP_FIGURES 8
/* Sets one of the app's own counts (name: a string literal or one that
 * lives while the app runs), sent in every metrics message in the map
 * "figures" and written to --flow.metrics-json under "figures". 0, or
 * -FLOW_EINVAL past FLOW_APP_FIGURES names. */
int flow_report_figure(flow_ctx *ctx, const char *name, uint64_t value);

/* Wall-clock time in microseconds since the epoch, read once per loop
 * iteration (cheap; good enough for headers and per-second counters). */
int64_t flow_now_us(flow_ctx *ctx);
/* The precise wall clock, microseconds since the epoch. */
int64_t flow_clock_us(void);

/*
 * Sends an event to the output. Copies everything (payload included) into
 * the pending batch, so the caller keeps ownership of its buffers. type is
 * NUL-terminated; key may be NULL; ts_us 0 means "the input event's time"
 * inside on_event and "now" elsewhere. The id is the input event's inside
 * on_event and the next per-instance number elsewhere. Returns 0,
 * -FLOW_ETOOBIG (payload over FLOW_WIRE_MAX_EVENT) or -FLOW_ENOMEM.
 * The batch goes to every output group (wire.md). Without --flow.output
 * the event is counted as a drop, unless the app has --flow.control: then
 * its output waits for a group that flowd adds.
 */
int flow_emit(flow_ctx *ctx, const char *type, const char *key, int64_t ts_us,
              const void *payload, size_t payload_len);

/* The same with every header from ev (id 0 and ts_us 0 as for flow_emit;
 * the producer fields of ev are ignored). */
int flow_emit_event(flow_ctx *ctx, const flow_event *ev);

/*
 * Sends an event (as flow_emit_event) to the named destination dest
 * instead of the output: it goes to the output groups flowd adds for
 * that destination with the control port "output.DEST" (docs/apps.md),
 * in batches and with sequence numbers of its own, and the end of stream
 * goes to every group. Any app may use it (the router sink does). Until
 * the destination has a group its events wait, holding the app back, as
 * a stream writing to a destination nobody reads yet does. Without
 * --flow.control no group can come: the event is counted as a drop.
 * Returns 0, -FLOW_EINVAL (empty dest), -FLOW_ETOOBIG or -FLOW_ENOMEM.
 */
int flow_emit_to(flow_ctx *ctx, const char *dest, const flow_event *ev);

/*
 * Sends a rejected event to the error output, with the same headers and a
 * payload map {"error": reason, "event": <original payload>}. Counts it in
 * "errors". Without --flow.error-output it is logged (rate limited) and
 * counted. Returns 0 or a negative FLOW_E*.
 */
int flow_emit_error(flow_ctx *ctx, const flow_event *ev, const char *reason);

/*
 * How many more events a source may emit before the runtime must push the
 * output (0 when the output is blocked by backpressure). A source emits at
 * most this many per on_tick and returns FLOW_TICK_MORE to be called again.
 */
size_t flow_emit_room(flow_ctx *ctx);

/* A scratch buffer for building payloads, emptied by each call. Owned by
 * the runtime, valid until the next flow_payload_buf call. */
flow_buf *flow_payload_buf(flow_ctx *ctx);

/* Counts duplicates skipped by the app (metrics "dups"). */
void flow_count_dups(flow_ctx *ctx, uint64_t n);

/* Asks for a clean stop (as SIGTERM does). */
void flow_stop(flow_ctx *ctx);

/* Logs one line to stderr prefixed with [role:label:instance]. */
void flow_log(flow_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Analytics counters (docs/apps.md "counter" messages) ---------- */

typedef enum flow_counter_kind {
    FLOW_COUNTER,             /* "counter" */
    FLOW_FIELD_VALUE_COUNTER, /* "field-value-counter" */
    FLOW_AGGREGATE_COUNTER,   /* "aggregate-counter" */
} flow_counter_kind;

typedef struct flow_counter flow_counter;

/*
 * Returns the counter of that kind and name, creating it on first use.
 * Owned by the runtime (freed at exit); NULL only when out of memory.
 * The runtime sends each counter's increments on the control socket once a
 * second when they changed and at exit, and adds its totals to
 * --flow.metrics-json.
 */
flow_counter *flow_counter_get(flow_ctx *ctx, flow_counter_kind kind,
                               const char *name);

/*
 * Adds n to a counter. second is the epoch second the increment belongs to
 * (< 0: the arrival time, flow_now_us). value/value_len name the field
 * value for a field-value counter (ignored otherwise; NULL = none).
 * Returns 0 or -FLOW_ENOMEM.
 */
int flow_counter_add(flow_counter *c, int64_t second, const char *value,
                     size_t value_len, uint64_t n);

/* Totals since start (value NULL: the counter's total). */
uint64_t flow_counter_total(const flow_counter *c, const char *value,
                            size_t value_len);

#endif
