/* flowd's shared state: configuration, the store, the app registry, the
 * streams with their deployments and instances, analytics, the HTTP
 * server and the control endpoint. Everything runs on one libuv loop. */
#ifndef SRV_SERVER_H
#define SRV_SERVER_H

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
#include "status.h"
#include "store.h"
#include "util.h"

#define SRV_NAME_MAX     48
#define SRV_EP_MAX       256
#define SRV_RESTART_RING 64
/* An instance that sent no metrics for this long is stale (apps report
 * every second). */
#define SRV_STALE_MS 3000
/* The error ratio is taken over the last this many seconds. */
#define SRV_ERR_WINDOW_S 10
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

#define SRV_ALLOW_MAX 32

typedef struct srv_config {
    char bind[64];
    int port;
    char data_dir[PATH_MAX];
    char token[256];
    bool auth_none;         /* --auth=none: no token at all */
    const char *token_from; /* "--token", "FLOW_TOKEN" or "file" (static) */
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
    char group[SRV_NAME_MAX + 16]; /* the consumer group */
    char ep[SRV_EP_MAX];
} srv_group;

struct srv_inst {
    srv_dapp *app; /* borrowed: the app that owns it (its host's first app
                      for a host) */
    int index;
    srv_inst_state state;
    void *proc;         /* our child (srv_os_ops.spawn's); NULL when none or
                           adopted */
    int pid;            /* 0 when no process */
    bool adopted;       /* survived a flowd restart: not our child */
    bool removing;      /* scaled away: freed once stopped */
    bool term_sent;     /* undeploy: SIGTERM sent (undeploy_next) */
    bool host;          /* the flow-host process of a single-packaged stream */
    bool row_stale;     /* its record in the store failed: written again */
    char *spawn_inputs; /* --flow.input it was started with (owned) */
    int restarts;
    int64_t restart_ms[SRV_RESTART_RING];
    int consecutive;
    char last_exit[64];
    int64_t started_ms;
    uint64_t start_ticks;    /* /proc starttime, against pid reuse */
    char output[SRV_EP_MAX]; /* empty for a destination's producer */
    char tap[SRV_EP_MAX];
    srv_group *groups; /* a destination's producer: one per consumer
                          group (owned) */
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
    /* Cumulative events and errors at each of the last ticks, the newest
     * at win[win_n - 1], for the error ratio over SRV_ERR_WINDOW_S. */
    struct {
        uint64_t events, errors;
    } win[SRV_ERR_WINDOW_S + 1];
    int win_n;
    uv_timer_t *timer; /* backoff, then SIGKILL timeout (owned: closed, and
                          the instance freed, by srv_dep_inst_release) */
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
    char cpus[64];       /* deployer.<label>.cpus, passed as --flow.cpus */
    int error_threshold; /* deployer.<label>.errorThreshold, percent */
};

/* What the deployment layer reports to the layer above it, which
 * registers the table in srv.deployer_ops (the REST layer: see
 * srv_api_attach). Every srv_stream passed is borrowed. */
typedef struct srv_deployer_ops {
    /* st's status or instances may have changed. */
    void (*changed)(void *ud, srv_stream *st);
    /* Every process of st's deployment is gone and the deployment is
     * freed. The callee may delete st (srv_stream_delete): the deployer
     * touches st no more after this call. */
    void (*undeployed)(void *ud, srv_stream *st);
} srv_deployer_ops;

/* What the control endpoint (control.c) reports to the deployment layer,
 * which registers the table in srv.control_ops (srv_deployer_attach).
 * Every srv_inst passed is borrowed. */
typedef struct srv_control_ops {
    /* i said hello: it is deployed now and may connect to inputs. */
    void (*hello)(void *ud, srv_inst *i);
    /* What i reports changed what its stream shows (it speaks again
     * after being stale). */
    void (*changed)(void *ud, srv_inst *i);
} srv_control_ops;

/* Where the deployment layer meets the operating system. The default,
 * srv_os_posix (deploy/os.c), spawns with libuv and reads /proc; a test
 * puts its own in srv.os to drive the deployer without a process. Every
 * pointer passed is borrowed. */
typedef struct srv_os_ops {
    /* Starts file with argv and envp (NULL-terminated), stdout and stderr
     * to log_fd (-1: none; the caller closes it), for instance i. On
     * success returns 0 with *pid and *proc set: proc is the ops' own
     * until they report its exit with srv_deployer_exited, or until
     * detach. Else a negative libuv error code. */
    int (*spawn)(void *ud, srv_inst *i, const char *file, char **argv,
                 char **envp, int log_fd, void **proc, int *pid);
    /* Sends sig to an instance's process: proc when it is flowd's child,
     * else (adopted, proc NULL) pid. */
    void (*kill)(void *ud, void *proc, int pid, int sig);
    /* Its instance is freed: proc's exit is reported no more. */
    void (*detach)(void *ud, void *proc);
    /* The start time of process pid (/proc starttime, against pid
     * reuse), or 0 when no such process runs. */
    uint64_t (*start_ticks)(void *ud, int pid);
    /* Wall clock in milliseconds. */
    int64_t (*now_ms)(void *ud);
    /* A loopback TCP port free now, or -1 with errno set. */
    int (*free_tcp_port)(void *ud);
    /* Is the port of loopback tcp:// endpoint ep free to bind (true for
     * an endpoint of another kind)? */
    bool (*tcp_free)(void *ud, const char *ep);
} srv_os_ops;

/* libuv and POSIX: the operating system itself (deploy/os.c). */
extern const srv_os_ops srv_os_posix;

struct srv_waiter;

/* A stream: owned by s->streams; freed by model.c's stream_free once its
 * deployment (apps, host, tap) is gone (srv_dep_teardown_apps,
 * srv_tap_close). */
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
    srv_dapp *apps; /* owned: the deployment's apps (deploy/) */
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
    srv_stream *next; /* the next in s->streams (borrowed link) */
};

struct srv {
    uv_loop_t *loop; /* borrowed: main.c's */
    srv_config cfg;
    srv_store store;
    dsl_registry *reg; /* owned */
    /* "type/name" -> {"uri","builtin","describe"} (owned reference). */
    json_t *app_uris;
    srv_stream *streams;           /* sorted by name (owned list) */
    srv_analytics *an;             /* owned */
    srv_http *http;                /* owned */
    void *zctx;                    /* owned: the ZeroMQ context */
    flow_curve *curve;             /* owned: flowd's own keys (keys.c) */
    void *ctl_sock;                /* owned (control.c) */
    struct flow_zwatch *ctl_watch; /* owned (control.c) */
    char ctl_endpoint[SRV_EP_MAX];
    char host_uri[PATH_MAX]; /* flow-host, for single packaging */
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
    char *apps_dirs[SRV_APPS_DIRS_MAX];
    size_t napps_dirs;
    /* Registered by the layer above the deployer (borrowed table and
     * ud); zeroed: nothing is told. */
    const srv_deployer_ops *deployer_ops;
    void *deployer_ud;
    /* The deployment layer's operating system (borrowed table and ud;
     * srv_deployer_attach sets srv_os_posix when NULL). */
    const srv_os_ops *os;
    void *os_ud;
    /* Registered by the deployment layer (borrowed table and ud). */
    const srv_control_ops *control_ops;
    void *control_ud;
    /* The REST layer's requests waiting for an undeploy, each naming its
     * stream (owned by streams.c; freed by srv_api_detach). */
    struct srv_waiter *waiters;
};

/*
 * Transport keys (keys.c, docs/security.md). srv_keys_start makes or
 * takes back flowd's key pairs (the server pair of every tcp:// socket
 * that binds, and flowd's own client pair), writes DATA/flowd.keys and
 * starts flowd's ZAP handler in s->zctx, before any socket binds.
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
void srv_keys_stop(srv *s);

/* Streams. */
srv_stream *srv_stream_find(srv *s, const char *name);
/* The consumer group of a stream that starts with a destination (`:d
 * --group=G > ...`): G, or the stream's own name without --group. NULL for
 * a stream that reads no destination. Borrowed from st. */
const char *srv_stream_group(const srv_stream *st);
srv_stream *srv_stream_add(srv *s, const char *name, const char *dsl,
                           const char *desc, int64_t created, char *err,
                           size_t errlen);
/* Frees every stream in memory (at exit, after srv_deployer_free_all and
 * once the loop has closed their handles); the store is left alone. */
void srv_streams_free_all(srv *s);
/* Removes a stream that runs nothing from memory and the store, and
 * frees it (st is owned by s->streams; it is gone after the call). */
void srv_stream_delete(srv *s, srv_stream *st);
/* Registers the REST layer's srv_deployer_ops in s (streams.c). */
void srv_api_attach(srv *s);
/* Frees the requests still waiting for an undeploy (at exit, once the
 * HTTP server, which owned the requests, is gone). */
void srv_api_detach(srv *s);
json_t *srv_stream_json(srv *s, srv_stream *st);
json_t *srv_deployment_json(srv *s, srv_stream *st);
json_t *srv_app_status_json(srv *s, srv_dapp *a);
json_t *srv_links(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads a JSON or form body into an object; answers the request with an
 * error and returns NULL when it cannot. */
json_t *srv_req_body(srv_req *r, bool form_ok);
/* Wraps items (taken) in a page of _embedded.key. */
json_t *srv_page(srv_req *r, json_t *items, const char *key, const char *path);

/* Authentication (auth.c): fills c->token from --token, FLOW_TOKEN or
 * the data directory's token file, made on the first start. Returns 0, or
 * -1 with err saying what is wrong and what to do. */
int srv_auth_setup(srv_config *c, char *err, size_t errlen);

/* Routes an HTTP request (the http layer's dispatch callback). */
void srv_api_dispatch(void *ud, srv_req *r);
/* Prints the route table the dispatcher uses, one "METHOD PATTERN" line
 * per method of each route, in table order (flowd --routes). */
void srv_api_routes_print(FILE *out);

/* Static files. */
void srv_static_serve(srv *s, srv_req *r, const char *dir, const char *rel);

/* Registry. */
int srv_registry_load(srv *s, char *err, size_t errlen);
/* Runs path (already checked) with --describe and returns what it
 * printed in *json_out (new). Returns 0, or with err set -SRV_ENOMEM or
 * -SRV_EUNRUNNABLE (it could not be run, failed, timed out or printed
 * too much). */
int srv_registry_describe(const char *path, char **json_out, char *err,
                          size_t errlen);
/* The one check an app's executable passes before flowd runs it
 * (apppath.h): uri is a path or file:// URI; on success the resolved
 * path is in real. Returns 0 or a SRV_APPPATH_* code with err set. */
int srv_registry_check_path(srv *s, const char *uri, char *real, size_t reallen,
                            char *err, size_t errlen);
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

/* Deployer. */
/* Deploys st with the deployment properties props (borrowed; NULL: none).
 * Returns 0, or a negative SRV_E* code with err set: -SRV_EDEPLOYED,
 * -SRV_EDEFINITION (its consumer group), -SRV_EPROPS, -SRV_EPATH,
 * -SRV_EUNRUNNABLE, -SRV_ENOMEM, -SRV_EINTERNAL or the store's code.
 * Nothing runs and nothing is stored when it fails. */
int srv_deploy(srv *s, srv_stream *st, json_t *props, char *err, size_t errlen);
/* Forgets st's deployment in the store, and its definition too when
 * definition is true, in one transaction. Returns 0, or -1 when the store
 * cannot be written (s->store.err): nothing is forgotten then, and the
 * caller changes nothing either. */
int srv_forget_deployment(srv *s, srv_stream *st, bool definition);
/* Starts undeploying (in memory and processes: srv_forget_deployment
 * first); srv_deployer_ops.undeployed is called once all are gone.
 * Returns true when already nothing runs (undeployed was called). */
bool srv_undeploy(srv *s, srv_stream *st);
/* Registers the deployer's srv_control_ops in s (before the control
 * endpoint starts), and srv_os_posix when s->os is NULL. */
void srv_deployer_attach(srv *s);
/* Instance i's process (started by s->os->spawn) ended: exit status
 * status, or killed by signal sig (0: none). Called by the os ops. */
void srv_deployer_exited(srv *s, srv_inst *i, int64_t status, int sig);
/* Runs count instances of a. Returns 0, or a negative SRV_E* code with err
 * set: -SRV_EINVAL (count out of range), -SRV_EUNRUNNABLE (single
 * packaging), the store's code (nothing changed), -SRV_ENOMEM, or
 * -SRV_ESYSTEM when no port was free for a new instance (those started
 * so far stay). */
int srv_scale(srv *s, srv_stream *st, srv_dapp *a, int count, char *err,
              size_t errlen);
void srv_deployer_tick(srv *s);
/* Reads the stored definitions and kills orphans (before serving). */
void srv_deployer_restore(srv *s);
/* Restores the stored deployments: adopts surviving apps, starts the
 * others (on the loop, while HTTP is served). */
void srv_deployer_restore_deployments(srv *s);
/* Sets s->ready once deployments are restored and none of the restored
 * streams is still deploying. */
void srv_ready_update(srv *s);
void srv_deployer_stop_all(srv *s);
/* Frees every deployment's instances, taps and handles (at exit, after
 * the processes are gone). */
void srv_deployer_free_all(srv *s);
bool srv_deployer_idle(srv *s);
/* Derives st's status from its instances and reports it upward
 * (srv_deployer_ops.changed). */
void srv_deployer_refresh(srv *s, srv_stream *st);
srv_dapp *srv_stream_app(srv_stream *st, const char *label);
void srv_inst_id(const srv_inst *i, char *buf, size_t len);
/* After an instance's hello: connects it to inputs that appeared since
 * it was started (a producer of its destination deployed later). */
void srv_inst_catch_up(srv *s, srv_inst *i);
const char *srv_inst_state_name(srv_inst_state st);
/* The state an instance is shown in: its state's name, or "stale" for a
 * deployed instance that stopped reporting metrics. */
const char *srv_inst_shown_state(const srv_inst *i);
/* Fills c with what app a's instances are doing, for srv_status_app. */
void srv_app_counts_of(const srv_dapp *a, srv_app_counts *c);
/* Errors and events of instance i over the error window. */
void srv_inst_window(const srv_inst *i, uint64_t *events, uint64_t *errors);

/* Paths that app options name (paths.c). */
/* The instance's own directory, DATA/run/STREAM.LABEL-N (a single-packaged
 * stream's host: DATA/run/STREAM-host), into buf: where its relative paths
 * resolve, its CURVE keys (.flow-keys) and its recorded exit (.flow-exit)
 * lie. Returns 0, or -1 when buf is too small. */
int srv_inst_dir(srv *s, const srv_inst *i, char *buf, size_t len);
/* A dsl_check_ctx.check_path for the --allow-path rules (ud is the srv). */
int srv_paths_check(void *ud, const char *path, dsl_path_access access,
                    char *why, size_t whylen);
/* Checks the path options among an app's final "--key=value" options;
 * -1 with "APP --OPTION: WHY" in err. */
int srv_paths_check_app(srv *s, const dsl_app_info *info, char *const *opts,
                        int nopts, char *err, size_t errlen);
/* Makes the --allow-path directories absolute; -1 with err when one is
 * not an existing directory. */
int srv_paths_config(srv_config *c, char *err, size_t errlen);

/* Control endpoint. */
int srv_control_start(srv *s, char *err, size_t errlen);
void srv_control_stop(srv *s);
/* Reads what apps sent and flowd has not read yet (before deciding what
 * an instance's exit means). */
void srv_control_drain(srv *s);
/* Sends an instance "connect" or "disconnect" (type) of its port "input"
 * or "output"; dropped when it has not said hello yet. */
void srv_control_send_connect(srv *s, srv_inst *i, const char *type,
                              const char *port, const char *endpoint);

/* Taps. */
bool srv_tap_source(srv *s, srv_stream *st, char *stream, size_t slen,
                    char *label, size_t llen);
int srv_tap_open(srv *s, srv_stream *st, char *err, size_t errlen);
void srv_tap_close(srv_stream *st);
const char *srv_tap_endpoint(const srv_stream *st);
void srv_tap_refresh(srv *s);

/* Analytics. */
srv_analytics *srv_analytics_new(srv *s);
void srv_analytics_destroy(srv_analytics **ap);
void srv_analytics_add(srv_analytics *a, const char *kind, const char *name,
                       uint64_t inc);
void srv_analytics_add_second(srv_analytics *a, const char *kind,
                              const char *name, int64_t sec, uint64_t inc);
void srv_analytics_add_value(srv_analytics *a, const char *name,
                             const char *value, uint64_t inc);
void srv_analytics_tick(srv_analytics *a);
/* Writes what the counters gained to the store; what cannot be written
 * is kept for the next flush. Returns 0 or -1 (the store failed). */
int srv_analytics_flush(srv_analytics *a);

/* Server-sent events at /events (events.c). */
/* Broadcasts the instances' rates and the counters (every second). */
void srv_events_tick(srv *s);
/* Broadcasts st's status when it differs from the one last sent. */
void srv_events_status(srv *s, srv_stream *st);
/* Broadcasts that the stream named name was destroyed. */
void srv_events_deleted(srv *s, const char *name);

#endif
