/*
 * The inside of flow_ctx: one running app instance. Shared by app.c (setup,
 * control, exit), loop.c (the per-event hot path), options.c, counter.c and
 * host.c. Not a public header.
 */
#ifndef FLOW_SRC_CTX_H
#define FLOW_SRC_CTX_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "flow/app.h"
#include "flow/control.h"
#include "flow/cpus.h"
#include "flow/curve.h"
#include "flow/endpoint.h"
#include "flow/expr.h"
#include "flow/metrics.h"
#include "flow/wire.h"
#include "flow/zwatch.h"
#include "kafka.h"

/* A parsed option value. */
typedef struct flow__optval {
    bool set;        /* given on the command line */
    bool has;        /* has a value (given or default) */
    const char *s;   /* the text (borrowed from argv or the table) */
    int64_t i;       /* INT, DURATION (µs) */
    double f;        /* FLOAT */
    bool b;          /* BOOL */
    flow_expr *expr; /* owned: EXPR, compiled */
} flow__optval;

/* One --NAME.KEY=VALUE of a prefix option. */
typedef struct flow__prefixval {
    size_t opt;      /* its row in the option table */
    char *key;       /* owned: KEY */
    const char *s;   /* VALUE (borrowed from argv) */
    flow_expr *expr; /* owned: EXPR rows, compiled */
} flow__prefixval;

/* --flow.cpus: placed by the app itself (the default), by the kernel, or
 * pinned to a list of CPUs. */
enum { FLOW_PLACE_AUTO, FLOW_PLACE_ANY, FLOW_PLACE_FIXED };

/* The most --flow.allow-path flags an app takes. */
#define FLOW__ALLOW_MAX 32

/* The runtime's own --flow.* settings. */
typedef struct flow__conf {
    const char *input, *output, *error_output, *tap, *control;
    const char *stream, *label, *metrics_json, *state;
    const char *keys;        /* --flow.keys: CURVE keys for tcp:// (curve.h) */
    const char *producer_id; /* --flow.producer-id (default: the label) */
    const char *partition_key; /* --flow.partition-key (NULL: unkeyed) */
    /* --flow.partition-key-expression, compiled (owned; NULL: none): the
     * text of its result is the key routing hashes. */
    flow_expr *partition_expr;
    uint64_t epoch;      /* --flow.epoch (0: none, no fencing) */
    uint32_t key_groups; /* --flow.key-groups */
    uint32_t instance;
    int64_t linger_us;
    uint64_t hwm_events;
    uint32_t batch_max;
    uint32_t batch_bytes;
    int64_t drain_ms;
    uint32_t eos_exit;
    /* --flow.open-input: more producers may come after all have ended. */
    bool open_input;
    const char *cpus;                   /* --flow.cpus as given (NULL: auto) */
    int cpus_mode;                      /* FLOW_PLACE_*, from cpus */
    cpu_set_t cpus_set;                 /* FLOW_PLACE_FIXED: the CPUs */
    const char *instance_dir;           /* --flow.instance-dir (NULL: none) */
    const char *allow[FLOW__ALLOW_MAX]; /* --flow.allow-path, in order */
    size_t nallow;
    flow_path_rules paths; /* built from the two above */
    /* Checkpoints (checkpoint.c; docs/apps.md "Checkpoints"). */
    int guarantee;        /* FLOW_GUARANTEE_* */
    uint32_t upstreams;   /* --flow.upstreams: 0 = not given (1) */
    const char *feedback; /* --flow.feedback, comma-separated producer ids */
    uint32_t feedback_channels; /* --flow.feedback-channels (0: one per id) */
    const char *ckpt_dir;       /* --flow.checkpoint-dir (NULL: none) */
    const char *restore;        /* --flow.restore, comma-separated paths */
    uint32_t instances;         /* --flow.instances, at least 1 */
    flow__kafka_conf kafka;     /* --flow.kafka.* (kafka.h) */
} flow__conf;

/* --flow.guarantee. */
enum {
    FLOW_GUARANTEE_NONE,
    FLOW_GUARANTEE_AT_LEAST_ONCE,
    FLOW_GUARANTEE_EXACTLY_ONCE,
};

/* The checkpoint state of an instance (checkpoint.c; NULL without a
 * guarantee). */
typedef struct flow__ckpt flow__ckpt;

/* Where the app's threads run (placement.c). */
typedef struct flow__placement {
    int mode;
    bool packed;          /* auto: on the home CPU only */
    int home;             /* auto: the CPU a light app runs on */
    cpu_set_t allowed;    /* auto: what the process may use */
    uint64_t next_check;  /* events in+out at which to look at the rate */
    uint64_t mark_events; /* events and time at the last look */
    int64_t mark_us;
    uint64_t tick_events; /* events and time at the last tick */
    int64_t tick_us;
    uint64_t cpu_busy, cpu_total; /* home CPU, last /proc/stat reading */
    int64_t pack_after_us;        /* a spread app stays so until then */
    int64_t backoff_us;
} flow__placement;

struct flow__laneset;

/*
 * An output port: a batch being filled and where it goes. The error
 * output's has its own PUSH socket (zsock, w); the output's (ctx->out)
 * goes to every single-lane group and a lane set's port to its lane of
 * every group of that many lanes (set, lane).
 */
typedef struct flow__port {
    void *zsock;
    flow_zwatch *w;
    struct flow__laneset *set; /* NULL: not a lane's */
    uint32_t lane;
    zmq_msg_t xmsg; /* the error output: a broadcast frame not sent yet */
    bool has_x;
    flow_batch batch;
    uint64_t seq;
    bool open;          /* batch_begin done and not yet sent */
    bool blocked;       /* the last send hit the high-water mark */
    bool eos;           /* its end of stream is sent or pending: never twice */
    uint64_t barrier_n; /* the error output's barrier still to send */
    size_t cap_hint;    /* storage for the next batch (the buffer of a sent
                           one is handed to ZeroMQ) */
    char *dest;         /* owned: the destination of a port made by
                           flow_emit_to; NULL for the output and error
                           output */
} flow__port;

/*
 * The batches of the lanes of every group of n lanes (n > 1): an event
 * goes to one of them (keyed: the owner of its key group; else the
 * lanes take whole batches in turn), and lane j's batch to lane j of each
 * such group. Owned by the context, freed with its last group.
 */
typedef struct flow__laneset {
    uint32_t n;
    uint32_t rr;       /* unkeyed: the lane of the next batch */
    uint32_t users;    /* groups of n lanes */
    flow__port *ports; /* n */
} flow__laneset;

/*
 * An output group's lane: one PUSH socket. A group of one lane gets every
 * batch of the output.
 * The instances connected to one group share its batches; every group
 * gets all of them (flowd adds one group per consumer stream of a named
 * destination). A batch a group's socket does not take at once waits in
 * pending, a reference to the same bytes the other groups got.
 */
typedef struct flow__group {
    flow_ctx *ctx;
    void *zsock;
    flow_zwatch *w;
    void *mon_s; /* PAIR receiving the socket's monitor events */
    flow_zwatch *mon_w;
    char *key;          /* the endpoint a control message names it by
                           (owned; --flow.output's by their text) */
    uint32_t lane;      /* which lane of its group (0 for one lane) */
    uint32_t nlanes;    /* lanes of its group: ctx->groups holds them all */
    flow__laneset *set; /* nlanes > 1: the batches of its lane count */
    char *dest;         /* owned: the destination whose batches it gets
                           (control port "output.DEST"); NULL: the output's */
    zmq_msg_t pending;  /* a batch the socket has not taken yet */
    bool has_pending;
    bool blocked;       /* pending or eos_left, waiting for writable */
    uint32_t pending_n; /* events in pending */
    int eos_left;       /* end-of-stream copies still to send */
    zmq_msg_t barrier;  /* a barrier waiting behind pending (has_barrier) */
    bool has_barrier;
    int peers; /* consumers connected (ipc:// and tcp:// only) */
} flow__group;

/*
 * What the tap has handed to ZeroMQ and ZeroMQ has not released yet. It
 * releases a message once its I/O thread has written it out (a small one:
 * copied it into its write buffer) or dropped it with its subscriber, on
 * that thread, so the counts are atomic; the struct is freed by the last
 * of the context and the messages still out.
 */
typedef struct flow__tapq {
    uint64_t events; /* events in the messages not released */
    uint64_t msgs;   /* messages not released */
    uint64_t refs;   /* the context and each message not released */
} flow__tapq;

/*
 * One input endpoint the app connects to. libzmq reconnects by itself
 * after a connection error but not after a protocol error (a message over
 * ZMQ_MAXMSGSIZE): a disconnection that no reconnection attempt follows
 * within a grace time is one of those, counted in rejected and connected
 * again by the app.
 */
typedef struct flow__inep {
    char addr[FLOW_ENDPOINT_MAX];
    bool cut;       /* disconnected, no reconnection attempt seen yet */
    bool handshake; /* the handshake failed: not an oversized message */
    int64_t cut_us; /* when */
} flow__inep;

struct flow_counter {
    struct flow_counter *next;
    flow_counter_kind kind;
    char *name;
    flow_ctx *ctx;
    uint64_t total, pending;
    bool dirty;
    /* Pending per-second increments: a small open-addressed table. */
    int64_t *sec_keys;
    uint64_t *sec_vals;
    uint32_t sec_cap, sec_n;
    /* Per-value totals and pending increments (field-value counters). */
    struct flow__cval *vals;
    uint32_t val_cap, val_n;
    /* Under a guarantee: the cumulative per-second totals and which of
     * them, and whether the counter, changed since the last barrier. */
    int64_t *cum_keys;
    uint64_t *cum_vals;
    uint8_t *cum_dirty;
    uint32_t cum_cap, cum_n;
    bool ck_dirty;
};

enum flow__phase { PH_INIT, PH_RUN, PH_DRAIN, PH_DONE };

struct flow_ctx {
    const flow_app_desc *app;
    flow__optval *opts; /* one per option table row */
    size_t nopts;
    flow__prefixval *pfx; /* owned: the prefix options given, in order */
    size_t npfx;
    flow__conf conf;
    flow_curve *curve; /* owned; from --flow.keys, NULL without */
    bool zap_started;  /* this app counts as a user of the ZAP handler */
    flow__placement place;
    void *state;
    void *own_state; /* owned: the app->state_size block (options.c) */

    void *zctx;
    bool own_zctx;
    uv_loop_t loop;
    bool loop_init;
    uv_signal_t sigterm, sigint;
    uv_async_t stop_async;
    uv_timer_t tick_timer, metrics_timer, drain_timer, linger_timer;
    uv_idle_t pump;
    bool handles_init;
    bool use_signals;

    void *in_s, *tap_s, *ctl_s;
    flow_zwatch *in_w, *ctl_w;
    void *in_mon_s; /* PAIR receiving the input's monitor events */
    flow_zwatch *in_mon_w;
    flow__inep *ineps; /* the input's connected endpoints */
    size_t nineps;
    uv_timer_t in_timer; /* looks at cut endpoints after the grace time */
    int64_t in_log_us;   /* the last line about a cut connection */
    uint64_t in_log_suppressed;
    flow__tapq *tapq; /* NULL without a tap */
    flow_batch tapb;  /* a Kafka-bound output's events for the tap */
    bool tapb_open;
    uint64_t tapb_seq;
    bool tap_end_sent;   /* the tap's last message is out (stopping) */
    int64_t tap_wait_us; /* a stop without end of stream waits until */
    void *tap_mon_s;     /* PAIR receiving the tap's monitor events */
    flow_zwatch *tap_mon_w;
    int *tap_fds; /* the tap subscribers' connections (ipc://, tcp://) */
    size_t ntap_fds;
    uv_timer_t tap_timer; /* polls tapq while a stop waits for the tap */
    flow__port out, err;  /* out's batch goes to every group */
    flow__port **dests;   /* owned: flow_emit_to's ports, each with its own
                             batch and sequence, for the groups of its
                             destination */
    size_t ndests;
    bool has_out, has_err;
    flow__group **groups; /* every lane of every group */
    size_t ngroups;
    size_t nsingle;       /* groups of one lane */
    flow__laneset **sets; /* one per lane count > 1 in use */
    size_t nsets;
    int groups_blocked;     /* groups with a batch or end of stream pending */
    flow_buf eos_frame;     /* the output's end of stream, sent per peer */
    uv_timer_t eos_timer;   /* resends it while consumers stay connected */
    uint64_t eos_resend_ms; /* the timer's next interval (backs off) */
    uint64_t *ended;        /* producers whose end of stream was counted */
    size_t nended, ended_cap;

    const char *role_name;
    uint64_t epoch;
    uint64_t next_id;
    const flow_event *cur; /* the input being processed */
    int64_t now_us;
    flow_metrics m;
    uint64_t eos_seen;
    bool linger_armed;
    bool source_more;
    bool eos_pending;   /* send end-of-stream once flushed */
    bool replaying;     /* the frame handled is of a restored channel state */
    bool eos_sent;      /* waiting for the consumers to disconnect */
    int peers;          /* consumers connected to the output's groups */
    bool mon_seen;      /* a monitor reported at least one connection */
    bool tick_deferred; /* a source waiting for its first consumer */
    int64_t drain_deadline_us; /* when a stop must be over */
    int64_t last_err_log_us;
    uint64_t err_log_suppressed;
    /* The latest event error or rejected message, reported in the
     * metrics as "last_error" so that flowd can say why a stream is
     * degraded. Empty when there was none. */
    char last_error[FLOW_CTL_MAX_ERROR + 1];
    int64_t last_error_us; /* now_us when it was written */
    /* Why the run ends (a FLOW_CTL_END_* string), reported in the metrics
     * as "end" from the start of the stop on; NULL while running. */
    const char *end;
    /* flow_report_url and flow_report_figure: reported in the metrics. */
    char *url; /* owned; NULL: none */
    flow_ctl_pair figures[FLOW_APP_FIGURES];
    uint32_t nfigures;

    flow_buf payload, scratch, ctlbuf;
    /* The scratch of --flow.partition-key-expression's evaluations. */
    flow_expr_scratch pk_scratch;
    bool pk_scratch_init;
    flow_counter *counters;
    flow__ckpt *ck; /* owned; NULL without a guarantee */
    /* The Kafka binder (kafka.c; owned; NULL without --flow.kafka.input,
     * output or error-output). */
    struct flow__kafka *kafka;

    enum flow__phase phase;
    int exit_code;
    int stop_requested; /* atomic */
    int async_ready;    /* atomic */
};

/* options.c */
int flow__parse_args(flow_ctx *ctx, int argc, char **argv, bool *done,
                     int *status);
void flow__opts_free(flow_ctx *ctx);

/* loop.c */
int flow__loop_start(flow_ctx *ctx);
void flow__input_cb(flow_zwatch *w, int ready, void *arg);
void flow__out_cb(flow_zwatch *w, int ready, void *arg);
void flow__group_cb(flow_zwatch *w, int ready, void *arg);
void flow__eos_timer_cb(uv_timer_t *t);
/* Sends a group what it holds; on return it is either done or blocked. */
void flow__group_push(flow_ctx *ctx, flow__group *g);
void flow__tick_cb(uv_timer_t *t);
void flow__pump_cb(uv_idle_t *h);
void flow__linger_cb(uv_timer_t *t);
int flow__flush(flow_ctx *ctx);
bool flow__flushed(flow_ctx *ctx);
/* Whether a port of flow_emit_to waits for its destination's groups. */
bool flow__dests_blocked(const flow_ctx *ctx);
/* count_drops: counts what flow_emit_to's ports still hold as dropped and
 * closes their batches (the end of a run); else frees them. */
void flow__dests_free(flow_ctx *ctx, bool count_drops);
int flow__send_eos(flow_ctx *ctx);
/*
 * Sends a prepared frame (a barrier) on every lane of every group of the
 * output and on the error output, after every batch they were sent
 * before: pending batches are flushed first. Returns 0 (sent, or left
 * pending on a lane at its high-water mark, which sends it when
 * writable), -FLOW_EAGAIN while a batch is still pending (call again once
 * flow__flushed), or -FLOW_ENOMEM.
 */
int flow__out_broadcast(flow_ctx *ctx, const void *data, size_t len);
/* A group of n > 1 lanes was added or removed: its lane set. */
flow__laneset *flow__laneset_use(flow_ctx *ctx, uint32_t n);
void flow__laneset_drop(flow_ctx *ctx, flow__laneset *set);
/* With lane sets and no group of one lane left, the events ctx->out
 * still holds go to the lanes (routed as if emitted now). */
void flow__out_reroute(flow_ctx *ctx);
/* Publishes an end of stream on the tap, its last message. */
int flow__tap_end(flow_ctx *ctx);
/* An output bound to Kafka has no ZeroMQ frame to share with the tap: its
 * events go into frames of the tap's own (tapb), published when one is
 * full and at every flush. */
void flow__tap_add(flow_ctx *ctx, const flow_event *ev);
void flow__tap_flush(flow_ctx *ctx);
/* Drops the context's reference to its tap counts (NULL-safe). */
void flow__tapq_release(flow__tapq *q);
void flow__update_now(flow_ctx *ctx);

/* input.c: watches the input's connections (list: --flow.input, may be
 * NULL); flow__input_note adds or removes a connected endpoint. */
int flow__input_watch(flow_ctx *ctx, const char *list);
void flow__input_note(flow_ctx *ctx, const char *addr, bool connected);

/* app.c */
/* Starts the stop (drain, end of stream, exit with exit_code); end is
 * why (FLOW_CTL_END_INPUT, _SIGNAL, _REQUEST or _ERROR). A second call
 * changes nothing. */
void flow__begin_stop(flow_ctx *ctx, const char *end, int exit_code);
/* Remembers the text of an error for the metrics' "last_error" (the
 * first of each batch). */
void flow__note_error(flow_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void flow__maybe_finish(flow_ctx *ctx);
/* Who this instance is, for control messages. */
void flow__ident_of(flow_ctx *ctx, flow_ctl_ident *id);
/* Parses the command line into a new context; NULL with *status set when
 * the program should exit now (--help, --describe, usage error). */
flow_ctx *flow__ctx_new(const flow_app_desc *app, int argc, char **argv,
                        int *status);
/* Runs the app to its end on the calling thread; returns the exit status.
 * zctx NULL: own context. signals: handle SIGTERM/SIGINT in the loop. */
int flow__ctx_run(flow_ctx *ctx, void *zctx, bool signals);
void flow__ctx_free(flow_ctx **ctxp);
/* Thread-safe stop request. */
void flow__request_stop(flow_ctx *ctx);
/* Process-wide malloc settings for apps (flow_app_main, flow_host_run). */
void flow__tune_malloc(void);

/* counter.c */
void flow__counters_report(flow_ctx *ctx);
void flow__counters_json(flow_ctx *ctx, FILE *f);
void flow__counters_free(flow_ctx *ctx);

/* counter.c: the counters' part in checkpoints (checkpoint.c). Appends
 * every counter's cumulative state to b as one msgpack array; sends the
 * tagged counter messages of checkpoint n (every counter when all, else
 * the ones changed since the last barrier); adds a snapshot's counters
 * (as flow__counters_snap wrote them) to the counters' totals. */
void flow__counters_snap(flow_ctx *ctx, flow_buf *b);
void flow__counters_tagged(flow_ctx *ctx, uint64_t n, bool all);
int flow__counters_restore(flow_ctx *ctx, const uint8_t *data, size_t len);

/* checkpoint.c */
int flow__ckpt_start(flow_ctx *ctx); /* after init: restore, state */
/* A parsed input frame of a guaranteed app: held, a barrier or an end
 * of stream taken; returns true when handle_frame should process its
 * events itself. */
bool flow__ckpt_frame(flow_ctx *ctx, const flow_frame *f, const void *data,
                      size_t len);
/* The next frame released after an alignment, to process before the
 * socket's (false: none). Free it with free(). */
bool flow__ckpt_ready(flow_ctx *ctx, uint8_t **data, size_t *len, bool *replay);
/* Control messages ckpt and ckpt_done. */
void flow__ckpt_control(flow_ctx *ctx, const flow_ctl_msg *m);
/* A source between two ticks: takes a checkpoint asked for. Returns true
 * when on_tick must not run (the source is done and waits). */
bool flow__ckpt_tick(flow_ctx *ctx);
/* A source's on_tick said FLOW_TICK_DONE: true when the checkpoint part
 * takes over its end (it waits for the next ckpt). */
bool flow__ckpt_source_done(flow_ctx *ctx);
/* The stop may finish now (not waiting for a ckpt_done). */
bool flow__ckpt_may_finish(flow_ctx *ctx);
/* After a round of input: released frames or the end of the input. */
void flow__ckpt_after_input(flow_ctx *ctx);
/* The output takes again: released frames go on. */
void flow__ckpt_resume(flow_ctx *ctx);
void flow__ckpt_close(flow_ctx *ctx); /* finish: the watchers */
void flow__ckpt_close_sockets(flow_ctx *ctx);
void flow__ckpt_free(flow_ctx *ctx); /* at exit: the sockets, memory */
/* Sends the barrier of checkpoint n on every group of the output and on
 * the error output, behind what they hold. */
void flow__out_barrier(flow_ctx *ctx, uint64_t n);
/* loop.c: an output is at its high-water mark (input and source wait). */
bool flow__blocked(const flow_ctx *ctx);

/* json.c */
void flow__json_str(FILE *f, const char *s, size_t len);

/* placement.c: at start, before the first socket (own_process: the app
 * is alone in its process); -FLOW_EUSAGE for a CPU list it cannot use. */
int flow__place_start(flow_ctx *ctx, bool own_process);
/* Once a second (metrics timer). */
void flow__place_tick(flow_ctx *ctx);
void flow__place_rate(flow_ctx *ctx);
/* On the hot path, after events moved: a look at the rate now and then. */
static inline void flow__place_note(flow_ctx *ctx)
{
    if (ctx->place.packed && ctx->m.in + ctx->m.out >= ctx->place.next_check)
        flow__place_rate(ctx);
}

#endif
