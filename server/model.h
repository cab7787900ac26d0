/* The model of flowd (layer 2, see tests/server/layers.sh): its
 * configuration, the streams with their apps and instances, the app
 * registry, analytics, taps, transport keys and the control channel to
 * the apps. Everything runs on one libuv loop. The deployment layer
 * (deploy/deployer.h) and the REST layer (api.h) sit above it; it calls
 * neither. The tables those layers register are held in srv (borrowed):
 * srv.control_ops is how control.c reports to the deployer, srv.os and
 * srv.deployer_ops are the deployer's own.
 *
 * Ownership is stated on every pointer field and parameter: "owned" is
 * freed by the struct that holds it (the function named), "borrowed" is
 * freed by someone else and outlives the holder. */
#ifndef SRV_MODEL_H
#define SRV_MODEL_H

#include <flow/control.h>
#include <flow/dsl.h>
#include <flow/curve.h>
#include <flow/endpoint.h>
#include <flow/metrics.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "error.h"
#include "http.h"
#include "props.h"
#include "status.h"
#include "store.h"
#include "util.h"

#define SRV_NAME_MAX 48
#define SRV_EP_MAX   256
/* An instance's output: up to SRV_MAX_COUNT lanes of one endpoint each,
 * separated by '|'. */
#define SRV_OUTPUT_MAX   8192
#define SRV_RESTART_RING 64
/* An instance that sent no metrics for this long is stale (apps report
 * every second). */
#define SRV_STALE_MS 3000
/* The error ratio is taken over the last this many seconds. */
#define SRV_ERR_WINDOW_S 10
/* The most app figures kept per instance (FLOW_APP_FIGURES). */
#define SRV_FIGURES 8
/* deployer.<label>.errorThreshold when it is not given, in percent. */
#define SRV_ERR_THRESHOLD 50

/* The allowed app directories: 32 --apps-dir and the built-in apps'. */
#define SRV_APPS_DIRS_MAX 33

typedef struct srv srv;
typedef struct srv_stream srv_stream;
typedef struct srv_dapp srv_dapp;
typedef struct srv_inst srv_inst;
typedef struct srv_analytics srv_analytics;
typedef struct srv_tap srv_tap;
/* The deployment layer's tables (deploy/deployer.h); the model holds
 * only borrowed pointers to them. */
typedef struct srv_deployer_ops srv_deployer_ops;
typedef struct srv_os_ops srv_os_ops;
typedef struct srv_platform_ops srv_platform_ops;

#define SRV_ALLOW_MAX        32
#define SRV_KAFKA_CONFIG_MAX 64

typedef struct srv_config {
    char bind[64];
    int port;
    char data_dir[PATH_MAX];
    char token[256];
    bool auth_none;         /* --auth=none: no token at all */
    const char *token_from; /* "--token", "FLOW_TOKEN" or "file"
                               (a static string: borrowed) */
    /* DATA_DIR/token when token_from is "file". */
    char token_file[PATH_MAX + 16];
    char dashboard_dir[PATH_MAX];
    char uplot_dir[PATH_MAX];
    /* --load, --deploy and --apps-dir as given (borrowed from argv). */
    const char *load[32];
    int nload;
    const char *deploy[32];
    int ndeploy;
    const char *apps_dir[32];
    int napps_dir;
    /* --allow-path, as given (borrowed from argv) and made absolute;
     * allow_ptr[k] points into allow[k] (see paths.c). */
    const char *allow_arg[SRV_ALLOW_MAX];
    char allow[SRV_ALLOW_MAX][PATH_MAX];
    const char *allow_ptr[SRV_ALLOW_MAX];
    int nallow;
    int max_restarts;
    int restart_window_s;
    int stop_timeout_ms;
    bool quiet;
    /* --deployer=kubernetes (else local), and its --kubeconfig (empty:
     * in-cluster), --namespace and --image (empty: the defaults). */
    bool kubernetes;
    char kubeconfig[PATH_MAX];
    char k8s_namespace[64];
    char k8s_image[256];
    /* A second endpoint of the control socket, tcp:// with CURVE, for
     * apps that run elsewhere (in-cluster kubernetes: the pods reach
     * flowd's Service there); empty: none. */
    char control_tcp[64];
    /* --kafka-brokers (borrowed from argv, NULL: no Kafka cluster, and
     * deployer.<label>.binder=kafka is refused) and --kafka-config
     * KEY=VALUE (borrowed), passed to Kafka-bound apps as
     * --flow.kafka.brokers and --flow.kafka.config (docs/kafka.md). */
    const char *kafka_brokers;
    const char *kafka_config[SRV_KAFKA_CONFIG_MAX];
    int nkafka_config;
} srv_config;

typedef enum srv_inst_state {
    SRV_INST_DEPLOYING,
    SRV_INST_DEPLOYED,
    SRV_INST_RESTARTING,
    SRV_INST_FAILED,
    SRV_INST_UNDEPLOYING,
    SRV_INST_STOPPED,
} srv_inst_state;

/* An output group of a named destination's producer instance: the PUSH
 * socket the first apps of one consumer group's streams read (see
 * deploy/wiring.c). */
typedef struct srv_group {
    /* The consumer group; for a router's group "DEST:GROUP", the
     * destination and the group of its consumers (deploy/wiring.c). */
    char group[2 * SRV_NAME_MAX + 32];
    char ep[SRV_EP_MAX];
} srv_group;

/* A consumer group or a producer of a named destination that a program
 * outside flow asked for (POST /streams/destinations/NAME/groups or
 * /producers; docs/wire.md "Outside programs"). Held in memory while
 * flowd runs: an element of s->outside (owned list, freed by
 * srv_outside_free_all). */
typedef struct srv_outside {
    bool producer;                /* a producer, else a consumer group */
    char dest[SRV_NAME_MAX + 16]; /* the destination's name */
    char name[SRV_NAME_MAX + 16]; /* the group's or the producer's */
    char ep[SRV_EP_MAX];          /* a producer's: where it binds */
    struct srv_outside *next;     /* borrowed link */
} srv_outside;

struct srv_inst {
    srv_dapp *app; /* borrowed: the app that owns it (its host's first app
                      for a host) */
    int index;
    srv_inst_state state;
    void *proc;         /* our child: borrowed, the os ops' own handle
                           (srv_os_ops.spawn); NULL when none or adopted */
    int pid;            /* 0 when no process */
    bool adopted;       /* survived a flowd restart: not our child */
    bool removing;      /* scaled away: freed once stopped */
    bool term_sent;     /* undeploy: SIGTERM sent (undeploy_next) */
    bool host;          /* the flow-host process of a single-packaged stream */
    bool recovering;    /* killed by its region's recovery: started again
                           with the region (deploy/recover.c) */
    uint64_t epoch;     /* the --flow.epoch it was started with (0: none) */
    int upstreams;      /* and its --flow.upstreams (0: a source) */
    int feedback;       /* and its --flow.feedback-channels (0: none) */
    bool row_stale;     /* its record in the store failed: written again */
    char *spawn_inputs; /* --flow.input it was started with (owned) */
    /* The output it was started with or told of since (owned; NULL when
     * not known): srv_inst_catch_up replaces it when output differs. */
    char *spawn_output;
    int restarts;
    int64_t restart_ms[SRV_RESTART_RING];
    int consecutive;
    char last_exit[64];
    int64_t started_ms;
    uint64_t start_ticks; /* /proc starttime, against pid reuse */
    /* Empty for a destination's producer; one lane per instance of the
     * next app when it has several (srv_dapp.lanes). */
    char output[SRV_OUTPUT_MAX];
    char tap[SRV_EP_MAX];
    char errors[SRV_EP_MAX]; /* --flow.error-output, read by flowd's
                                dead-letter relay (deadletter.c) */
    srv_group *groups;       /* a destination's producer or a tapped app: one
                                per consumer group or tap stream (owned) */
    int ngroups;
    unsigned char ident[256];
    size_t ident_len;
    flow_metrics m;
    uint64_t prev_in, prev_out;
    double rate_in, rate_out;
    int64_t last_seen_ms; /* the last hello or metrics */
    bool stale;           /* deployed, but silent for SRV_STALE_MS */
    /* The latest error the app reported, and why its run ends (a
     * FLOW_CTL_END_* string; empty while it runs). */
    char last_error[FLOW_CTL_MAX_ERROR + 1];
    char end[16];
    /* Where outside clients reach the instance, as its metrics say (an
     * ingest source's listening address); empty when it said none. */
    char url[256];
    /* The app's own counts from its metrics ("figures", e.g. the http
     * source's requests, events and rejects), at most SRV_FIGURES. */
    struct {
        char name[32];
        uint64_t value;
    } figures[SRV_FIGURES];
    int nfigures;
    /* Cumulative events and errors at each of the last ticks, the newest
     * at win[win_n - 1], for the error ratio over SRV_ERR_WINDOW_S. */
    struct {
        uint64_t events, errors;
    } win[SRV_ERR_WINDOW_S + 1];
    int win_n;
    uv_timer_t *timer; /* backoff, then SIGKILL timeout (owned: closed, and
                          the instance freed in its close callback, by
                          srv_inst_free) */
    int64_t stop_deadline_ms;
};

struct srv_dapp {
    srv_stream *stream; /* borrowed: the stream that owns it */
    int pos;
    char label[SRV_NAME_MAX + 16];
    char name[SRV_NAME_MAX + 16];
    char type[16];
    char uri[PATH_MAX];
    char **opts; /* "--key=value", one argv element each (owned, as is each
                    element) */
    int nopts;
    int count;
    srv_inst **inst; /* owned, as is each instance */
    int ninst;
    int max_restarts, restart_window_s, stop_timeout_ms;
    bool tcp;
    /* deployer.<label>.binder=kafka (or deployer.*.binder): the app's
     * input and output are Kafka topics (deploy/kafka.c); with
     * deployer.<label>.binder.format=json the records it writes hold JSON,
     * not msgpack. */
    bool kafka;
    bool kafka_json;
    char cpus[64]; /* deployer.<label>.cpus, passed as --flow.cpus */
    /* The directory of a registered function library that the app's
     * --library=@NAME names, passed as one more --flow.allow-path; "" for
     * none. */
    char lib_dir[PATH_MAX];
    int error_threshold; /* deployer.<label>.errorThreshold, percent */
    int rescale_to;      /* a guaranteed stream's scale waiting for its
                            checkpoint (deploy/recover.c); 0: none */
    /* The next app of the stream: its count, the lanes of each of this
     * app's outputs (1: one shared output), and its
     * app.<label>.partition-key, passed to this app as
     * --flow.partition-key (empty: round-robin). */
    int lanes;
    char partition_key[256];
    char *partition_expr; /* owned: app.<label>.partition-key-expression
                             of the next app, NULL: none */
};

/* What the control endpoint (control.c) reports to the deployment layer,
 * which registers the table in srv.control_ops (srv_deployer_attach).
 * ud is srv.control_ud and every srv_inst passed is borrowed. */
/* What the control endpoint reports to the checkpoint coordinator
 * (checkpoint/), which registers the table in srv.ckpt_ops. ud is
 * srv.ckpt_ud; i and m are borrowed. */
typedef struct srv_ckpt_ops {
    /* i's snapshot of checkpoint id is durable (bytes long). */
    void (*ack)(void *ud, srv_inst *i, uint64_t id, uint64_t bytes);
    /* i cannot take checkpoint id, for reason (borrowed, not
     * NUL-terminated: rlen bytes). */
    void (*decline)(void *ud, srv_inst *i, uint64_t id, const char *reason,
                    size_t rlen);
    /* A counter message tagged with a checkpoint (m->ckpt > 0): its
     * cumulative values. */
    void (*counter)(void *ud, srv_inst *i, const flow_ctl_msg *m);
    /* An untagged increment inc of kind/name (value: a field value, else
     * NULL) from i, whose stream keeps a guarantee: its live figure. */
    void (*live)(void *ud, srv_inst *i, const char *kind, const char *name,
                 const char *value, uint64_t inc);
} srv_ckpt_ops;

typedef struct srv_control_ops {
    /* i said hello: it is deployed now and may connect to inputs. */
    void (*hello)(void *ud, srv_inst *i);
    /* What i reports changed what its stream shows (it speaks again
     * after being stale). */
    void (*changed)(void *ud, srv_inst *i);
} srv_control_ops;

struct srv_waiter;

/* A stream: owned by s->streams, freed by srv_stream_free, which frees
 * everything it owns: its deployment (apps, their options and instances,
 * the host), its tap, its definition and properties. */
struct srv_stream {
    srv *s; /* borrowed */
    char name[SRV_NAME_MAX + 16];
    char *dsl;         /* owned */
    char *description; /* owned */
    int64_t created_ms;
    dsl_stream *ast; /* owned */
    bool deployed;
    json_t *props; /* owned reference; NULL when never deployed */
    int64_t deployed_ms;
    bool single;
    srv_dapp *apps; /* owned: the deployment's apps (built by deploy/,
                       freed by srv_stream_free_deployment) */
    size_t napps;
    srv_status status;
    char status_desc[512];
    bool pushed;
    srv_status pushed_status;
    char pushed_desc[512];
    bool restoring; /* deployment restored at start, not settled yet */
    srv_tap *tap;   /* when the stream reads a tap (owned: srv_tap_close) */
    srv_inst *host; /* deployer.packaging=single: the one process (owned) */
    int stop_pos;   /* undeploy: apps before this position were signalled */
    int64_t stop_deadline_ms; /* undeploy: SIGKILL for what is left */
    /* The deployment's CURVE key pair (Z85; empty when not deployed):
     * its instances present it when they connect over tcp://. */
    char curve_public[FLOW_CURVE_Z85];
    char curve_secret[FLOW_CURVE_Z85];
    /* Its flow.* properties (read at deploy), and the guarantee its
     * region keeps (checkpoint/: the weakest asked for in the region,
     * capped by what its sources can replay), with why it is less than
     * asked when it is (empty otherwise). */
    srv_flow_props flow;
    srv_guarantee guarantee;
    char guarantee_note[256];
    srv_stream *next; /* the next in s->streams (borrowed link) */
};

struct srv {
    uv_loop_t *loop; /* borrowed: main.c's */
    srv_config cfg;
    srv_store store;   /* owned: opened by main.c, closed at exit */
    dsl_registry *reg; /* owned */
    /* "type/name" -> {"uri","builtin","describe"} (owned reference). */
    json_t *app_uris;
    /* Function library name -> {"uri","abi_version","library","snapshot",
     * "functions"[,"error"]} (owned reference; functions.c). */
    json_t *function_libs;
    srv_stream *streams;           /* sorted by name (owned list: each
                                      stream freed by srv_stream_free) */
    srv_analytics *an;             /* owned */
    srv_http *http;                /* owned */
    void *zctx;                    /* owned: the ZeroMQ context */
    flow_curve *curve;             /* owned: flowd's own keys (keys.c) */
    void *ctl_sock;                /* owned (control.c) */
    struct flow_zwatch *ctl_watch; /* owned (control.c) */
    char ctl_endpoint[SRV_EP_MAX];
    char host_uri[PATH_MAX]; /* flow-host, for single packaging */
    /* flow-kafka beside it: flow-host built with the runtime's Kafka
     * binder, which runs a Kafka-bound built-in app (`flow-kafka APP
     * OPTIONS`); missing when flow was built without librdkafka. */
    char kafka_uri[PATH_MAX];
    /* The dead-letter relays (deadletter.c; an owned list, freed by
     * srv_dlq_close_all). */
    struct srv_dlq *dlqs;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    uv_timer_t exit_timer;
    uv_timer_t restore_timer; /* restores deployments once the loop runs */
    bool restore_done;        /* deployments restored (processes started) */
    bool ready;               /* restored and every restored stream settled */
    bool stopping;
    bool loopback;
    int64_t started_ms;
    /* The allowed app directories, resolved (owned). */
    char *apps_dirs[SRV_APPS_DIRS_MAX]; /* owned, as is each string */
    size_t napps_dirs;
    /* Registered by the layer above the deployer (borrowed table and
     * ud); zeroed: nothing is told. */
    const srv_deployer_ops *deployer_ops;
    void *deployer_ud;
    /* The deployment layer's operating system (borrowed table and ud;
     * srv_deployer_attach sets srv_os_posix when NULL). */
    const srv_os_ops *os;
    void *os_ud;
    /* Where apps are placed (borrowed table; NULL: this machine, through
     * os) and its state (owned by the table: its free). */
    const srv_platform_ops *platform;
    void *platform_ud;
    /* Registered by the deployment layer (borrowed table and ud). */
    const srv_control_ops *control_ops;
    void *control_ud;
    /* The checkpoint coordinator (owned by checkpoint/: srv_ckpt_start
     * and srv_ckpt_free), and the table it registered (borrowed). */
    struct srv_ckpt *ckpt;
    const srv_ckpt_ops *ckpt_ops;
    void *ckpt_ud;
    /* The REST layer's requests waiting for an undeploy, each naming its
     * stream (owned by streams.c; freed by srv_api_detach). */
    struct srv_waiter *waiters;
    /* Outside programs' groups and producers of destinations (owned
     * list: srv_outside_free_all). */
    srv_outside *outside;
};

/*
 * Transport keys (keys.c, docs/security.md). srv_keys_start makes or
 * takes back flowd's key pairs (the server pair of every tcp:// socket
 * that binds, and flowd's own client pair), writes DATA/flowd.keys and
 * starts flowd's ZAP handler in s->zctx, before any socket binds. In
 * every function here s, st and i are borrowed, and err, path and len
 * name the caller's buffer.
 */
int srv_keys_start(srv *s, char *err, size_t errlen);
/* Gives st a key pair: the recorded one when keep and there is one, else
 * a new one, recorded. 0, or -1 with err. */
int srv_keys_stream(srv *s, srv_stream *st, bool keep, char *err,
                    size_t errlen);
/* Forgets st's key pair and removes its instances' keys files
 * (undeploy). */
void srv_keys_forget(srv *s, srv_stream *st);
/* Writes the keys file of instance i (DATA/instances/ID/keys, mode 0600 in
 * a 0700 directory) and puts its path in path. 0, or -1 with errno set. */
int srv_keys_write_inst(srv *s, const srv_inst *i, char *path, size_t len);
/* Writes flowd's and every running instance's keys file again, so that
 * each admits the peers the deployments now give it (after a deploy or
 * an undeploy): see put_allow in keys.c. */
void srv_keys_refresh(srv *s);
/* Stops the ZAP handler and frees flowd's keys (s->curve). */
void srv_keys_stop(srv *s);

/*
 * Streams, apps and instances (model.c). Unless a comment says
 * otherwise, s, st, a, i and the strings passed are borrowed.
 */
/* The stream named name, borrowed from s->streams; NULL when none. */
srv_stream *srv_stream_find(srv *s, const char *name);
/* The consumer group of a stream that starts with a destination (`:d
 * --group=G > ...`): G, or the stream's own name without --group. NULL for
 * a stream that reads no destination. Borrowed from st. */
const char *srv_stream_group(const srv_stream *st);
/* Lane lane (taken modulo the lanes there are) of an instance's output,
 * one endpoint or lanes separated by '|', into buf; false when it does
 * not fit. */
bool srv_output_lane(const char *output, int lane, char *buf, size_t len);
/* Parses dsl and adds a stream named name to s->streams (which owns the
 * result: the returned pointer is borrowed); dsl and desc are copied.
 * NULL with err set when it does not parse or memory is out. */
srv_stream *srv_stream_add(srv *s, const char *name, const char *dsl,
                           const char *desc, int64_t created, char *err,
                           size_t errlen);
/* Frees st's deployment: its apps, their options and instances
 * (srv_inst_free), and its host; st runs nothing afterwards (napps 0).
 * The deployment layer calls it once it has stopped the processes and
 * removed their files. */
void srv_stream_free_deployment(srv_stream *st);
/* The one function that frees a stream: everything st owns (its
 * deployment, with srv_stream_free_deployment, its tap, definition,
 * parsed definition, properties and strings) and st itself. st must be
 * out of s->streams already. */
void srv_stream_free(srv_stream *st);
/* Frees every stream in memory (at exit, after srv_deployer_free_all and
 * once the loop has closed their handles); the store is left alone. */
void srv_streams_free_all(srv *s);
/* Removes a stream that runs nothing from memory and the store, and
 * frees it (st is owned by s->streams; it is gone after the call). */
void srv_stream_delete(srv *s, srv_stream *st);
/* Frees instance i and what it owns (its groups and spawn inputs). Its
 * timer, when it has one, is closed on the loop and i is freed in the
 * close callback: i must not be used after the call, and the loop must
 * run once more for the memory to go. */
void srv_inst_free(srv_inst *i);
/* The outside group (producer false) or producer named name of
 * destination dest, borrowed from s->outside; NULL when none. */
srv_outside *srv_outside_find(srv *s, const char *dest, const char *name,
                              bool producer);
/* Frees every element of s->outside (at exit). */
void srv_outside_free_all(srv *s);
/* The app of st labelled label, borrowed from st; NULL when none. */
srv_dapp *srv_stream_app(srv_stream *st, const char *label);
/* Instance i's id, STREAM.LABEL-N of its app (i->app) and index, into
 * buf. */
void srv_inst_id(const srv_inst *i, char *buf, size_t len);
/* The name of state st (a static string). */
const char *srv_inst_state_name(srv_inst_state st);
/* The state an instance is shown in: its state's name, or "stale" for a
 * deployed instance that stopped reporting metrics (a static string). */
const char *srv_inst_shown_state(const srv_inst *i);
/* Fills c (the caller's) with what app a's instances are doing, for
 * srv_status_app. */
void srv_app_counts_of(const srv_dapp *a, srv_app_counts *c);
/* Errors and events of instance i over the error window, into *events and
 * *errors (the caller's). */
void srv_inst_window(const srv_inst *i, uint64_t *events, uint64_t *errors);

/*
 * Registry (registry.c). s and the strings passed are borrowed; err and
 * real are the caller's buffers.
 */
/* Builds s->reg (owned by s) from the app directories and the apps
 * registered in the store. 0, or -1 with err. */
int srv_registry_load(srv *s, char *err, size_t errlen);
/* Runs path (already checked) with --describe and returns what it
 * printed in *json_out (new: the caller frees it). Returns 0, or with err
 * set -SRV_ENOMEM or -SRV_EUNRUNNABLE (it could not be run, failed, timed
 * out or printed too much). */
int srv_registry_describe(const char *path, char **json_out, char *err,
                          size_t errlen);
/* Runs path (already checked) with the one argument arg, as
 * srv_registry_describe runs --describe, and returns what it printed in
 * *out (new) and its exit status in *code, whatever it is. Returns 0, or
 * with err set -SRV_ENOMEM or -SRV_EUNRUNNABLE (it could not be run, was
 * killed, timed out or printed too much). */
int srv_registry_run(const char *path, const char *arg, char **out, int *code,
                     char *err, size_t errlen);
/* The one check an app's executable passes before flowd runs it
 * (apppath.h): uri is a path or file:// URI; on success the resolved
 * path is in real. Returns 0 or a SRV_APPPATH_* code with err set. */
int srv_registry_check_path(srv *s, const char *uri, char *real, size_t reallen,
                            char *err, size_t errlen);
/* The registry entry of type/name, {"uri","builtin","describe"}: a
 * borrowed reference into s->app_uris; NULL when none. */
json_t *srv_registry_entry(srv *s, const char *type, const char *name);
/* Registers uri as type/name (POST /apps/TYPE/NAME): 0, or -SRV_EEXIST
 * (registered and not force), -SRV_EINVAL (not an executable file),
 * -SRV_EREFUSED (the app path rules refuse it), -SRV_EUNRUNNABLE (its
 * --describe failed) or the store's code (srv_store_error), with err set.
 * Nothing is changed when it fails. */
int srv_registry_register(srv *s, const char *type, const char *name,
                          const char *uri, bool force, char *err,
                          size_t errlen);
/* Forgets type/name, in the store first: 0, the store's code, or
 * -SRV_ENOMEM when the registry could not be rebuilt afterwards. */
int srv_registry_unregister(srv *s, const char *type, const char *name);

/*
 * Function libraries (functions.c), registered as NAME and named in a
 * stream as function --library=@NAME. name and uri are borrowed.
 */
/* Reads the registered libraries from the store and checks each again
 * (one that fails is kept with its "error"). -1 with err on a store
 * failure. */
int srv_functions_load(srv *s, char *err, size_t errlen);
/* The entry of library name (borrowed, into s->function_libs), or NULL. */
json_t *srv_function_entry(srv *s, const char *name);
/* Registers uri as library name (POST /functions/NAME): the file passes
 * the rules of an app's executable and the function app, run in a child
 * with --describe-library, loads it and reports its functions. Returns 0,
 * or -SRV_EEXIST (registered and not force), -SRV_EINVAL, -SRV_EREFUSED,
 * -SRV_EUNRUNNABLE (it does not load or fails the ABI checks, err says
 * why) or the store's code, with err set; nothing changes on failure. */
int srv_function_register(srv *s, const char *name, const char *uri, bool force,
                          char *err, size_t errlen);
/* Forgets library name, in the store first: 0 or the store's code. */
int srv_function_unregister(srv *s, const char *name);
/* The path of registered library name, judged again by the app rules,
 * into real. Returns 0 or -SRV_EUNRUNNABLE with err set. */
int srv_function_resolve(srv *s, const char *name, char *real, size_t reallen,
                         char *err, size_t errlen);
/* Whether a stream definition names library name (--library=@NAME); the
 * first such stream's name in *stream (borrowed). */
bool srv_function_in_use(srv *s, const char *name, const char **stream);

/*
 * Paths that app options name (paths.c). s, c, i, info, opts and path
 * are borrowed; buf, why and err are the caller's buffers.
 */
/* The instance's own directory, DATA/run/STREAM.LABEL-N (a single-packaged
 * stream's host: DATA/run/STREAM-host), into buf: where its relative paths
 * resolve, its CURVE keys (.flow-keys) and its recorded exit (.flow-exit)
 * lie. Returns 0, or -1 when buf is too small. */
int srv_inst_dir(srv *s, const srv_inst *i, char *buf, size_t len);
/* A dsl_check_ctx.check_path for the --allow-path rules (ud is the srv,
 * borrowed). */
int srv_paths_check(void *ud, const char *path, dsl_path_access access,
                    char *why, size_t whylen);
/* Checks the path options among an app's final "--key=value" options;
 * -1 with "APP --OPTION: WHY" in err. */
int srv_paths_check_app(srv *s, const dsl_app_info *info, char *const *opts,
                        int nopts, char *err, size_t errlen);
/* Makes the --allow-path directories absolute (into c->allow, which
 * c->allow_ptr points into); -1 with err when one is not an existing
 * directory. */
int srv_paths_config(srv_config *c, char *err, size_t errlen);

/*
 * Control endpoint (control.c). s and i are borrowed; the strings passed
 * are borrowed (copied into the message).
 */
/* Binds s->ctl_sock (owned by s until srv_control_stop) and watches it on
 * the loop. 0, or -1 with err. */
int srv_control_start(srv *s, char *err, size_t errlen);
/* Closes the control socket and its watch. */
void srv_control_stop(srv *s);
/* Reads what apps sent and flowd has not read yet (before deciding what
 * an instance's exit means). */
void srv_control_drain(srv *s);
/* Sends an instance "connect" or "disconnect" (type) of its port "input"
 * or "output"; dropped when it has not said hello yet. */
void srv_control_send_connect(srv *s, srv_inst *i, const char *type,
                              const char *port, const char *endpoint);
/* Sends an instance "ckpt" (done false) or "ckpt_done" (done true) of
 * checkpoint id; dropped when it has not said hello yet. */
void srv_control_send_ckpt(srv *s, srv_inst *i, bool done, uint64_t id);

/*
 * Taps (tap.c): a stream that reads another stream's app through a tap
 * reads an output group of that app's instances (deploy/wiring.c), as a
 * named destination's consumer does. s and st are borrowed; stream, label
 * and err are the caller's buffers.
 */
/* Does st read a tap? Then the tapped stream's and app's names are put in
 * stream and label. */
bool srv_tap_source(srv *s, srv_stream *st, char *stream, size_t slen,
                    char *label, size_t llen);
/* Records that st reads a tap (st->tap, owned by st until srv_tap_close)
 * when its source names an app of an existing stream. 0, or -1 with err. */
int srv_tap_open(srv *s, srv_stream *st, char *err, size_t errlen);
/* Frees st's tap record, if any (st->tap becomes NULL). */
void srv_tap_close(srv_stream *st);
/* The app tap stream c reads, when c is one and that app's stream is
 * deployed; else NULL. Borrowed. */
srv_dapp *srv_tap_target(srv *s, const srv_stream *c);
/* Is c a deployed tap stream of app a? */
bool srv_tap_reads(const srv_stream *c, const srv_dapp *a);

/*
 * Dead letters (deadletter.c): every deployed app's error output
 * (--flow.error-output, srv_inst.errors) is read by a relay in flowd, one
 * per app, that hands each rejected batch to every consumer group of the
 * destination `:STREAM.LABEL.errors`, over a PUSH socket per group that
 * flowd binds. A group that cannot take a batch yet holds the relay (and
 * so, through ZeroMQ's queues, the app): nothing is dropped. With no
 * consumer group the relay reads and discards (the app has counted each
 * in its `errors`). s is borrowed.
 */
/* Is dest a dead-letter destination `S.L.errors` of an app L of an
 * existing stream S? */
bool srv_dlq_is_dest(srv *s, const char *dest);

/* The Kafka binder (kafka.c, docs/kafka.md). */

/* Is the pipe after a (to the next app of its stream) the topic
 * STREAM.LABEL: a or the next app is Kafka-bound? */
bool srv_kafka_pipe(const srv_dapp *a);

/* Does a read a Kafka topic: a Kafka-bound first app of a stream reading
 * a named destination (the topic of its name, its stream's consumer
 * group), or the app after a Kafka pipe (the pipe's topic, the stream's
 * name as group)? The topic and group go into topic and group (each may
 * be NULL). */
bool srv_kafka_in(srv *s, const srv_dapp *a, char *topic, size_t len,
                  char *group, size_t glen);

/* Does a write a Kafka topic (a Kafka pipe, or the destination a
 * Kafka-bound last app writes), and which into topic (may be NULL)? */
bool srv_kafka_out(const srv_dapp *a, char *topic, size_t len);

/* Does st write dest from a Kafka-bound last app / read it into a
 * Kafka-bound first app? */
bool srv_kafka_writes(const srv_stream *st, const char *dest);
bool srv_kafka_reads(srv *s, const srv_stream *st, const char *dest);

/* Is dest a Kafka topic: does a deployed stream write or read it over
 * Kafka? */
bool srv_kafka_dest(srv *s, const char *dest);

/* Can st, its apps built (srv_dapp.kafka set), be deployed as they are
 * bound: flowd has --kafka-brokers, no router, tap or dead-letter reader
 * is bound, and every deployed stream of st's destinations uses the same
 * binder? 0, or -1 with the message naming the property in err. */
int srv_kafka_check(srv *s, const srv_stream *st, char *err, size_t errlen);
/* Does st read a dead-letter destination? Then the names of the stream
 * and the app whose error output it is are put in stream and label. */
bool srv_dlq_source(srv *s, const srv_stream *st, char *stream, size_t slen,
                    char *label, size_t llen);
/* The endpoint consumer group group of dead-letter destination dest reads
 * (ipc://DATA/run/S.L.errors.to.GROUP, or tcp), made and bound when first
 * asked for; borrowed until the next srv_dlq_refresh. NULL when it cannot
 * be bound (then the reason is on stderr). */
const char *srv_dlq_group_endpoint(srv *s, const char *dest, const char *group);
/* Connects every relay to the error outputs of the deployed instances of
 * its app, binds the groups of the deployed consumer streams, and closes
 * what no deployed stream needs any more. */
void srv_dlq_refresh(srv *s);
/* Closes every relay (flowd's exit). */
void srv_dlq_close_all(srv *s);

/*
 * Analytics (analytics.c; the counters are in analytics.h). s, a and the
 * strings passed are borrowed.
 */
/* New analytics for s (the caller owns it: srv_analytics_destroy); NULL
 * when out of memory. */
srv_analytics *srv_analytics_new(srv *s);
/* Frees *ap (owned) and sets it to NULL. */
void srv_analytics_destroy(srv_analytics **ap);
void srv_analytics_add(srv_analytics *a, const char *kind, const char *name,
                       uint64_t inc);
void srv_analytics_add_second(srv_analytics *a, const char *kind,
                              const char *name, int64_t sec, uint64_t inc);
void srv_analytics_add_value(srv_analytics *a, const char *name,
                             const char *value, uint64_t inc);
/* Marks kind/name as fed by a guaranteed stream (srv_counter.guarded):
 * its increments are not committed, and its live figure is the checkpoint
 * coordinator's (srv_ckpt_live). value and inc are not used. */
void srv_analytics_add_live(srv_analytics *a, const char *kind,
                            const char *name, const char *value, uint64_t inc);
/* A committed delta of a checkpoint that completes: written to the store
 * inside the caller's transaction (srv_analytics_commit_store for the
 * total, and a field value when value is not NULL;
 * srv_analytics_commit_history for second sec of the history: -1 when
 * the store failed), then, once it is committed, applied in memory
 * (srv_analytics_commit_apply). The history is kept in the store only, so
 * it gains the committed deltas alone and never goes back. */
int srv_analytics_commit_store(srv_analytics *a, const char *kind,
                               const char *name, const char *value,
                               uint64_t inc);
int srv_analytics_commit_history(srv_analytics *a, const char *kind,
                                 const char *name, int64_t sec, uint64_t inc);
void srv_analytics_commit_apply(srv_analytics *a, const char *kind,
                                const char *name, const char *value,
                                uint64_t inc);
void srv_analytics_tick(srv_analytics *a);
/* Writes what the counters gained to the store; what cannot be written
 * is kept for the next flush. Returns 0 or -1 (the store failed). */
int srv_analytics_flush(srv_analytics *a);

#endif
