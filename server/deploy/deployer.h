/* The deployment layer's public API (layer 4, see tests/server/layers.sh):
 * deploy, undeploy and scale a stream, restore deployments after a
 * restart, supervise the instances, and the tables through which the
 * layer reports upward (srv_deployer_ops, registered by the REST layer)
 * and meets the operating system (srv_os_ops). Its files share
 * deploy/deploy.h besides.
 *
 * Ownership: in every function here s, st, a and i are borrowed (a
 * stream is owned by s->streams, its apps and instances by the stream:
 * see model.h), as are props and the strings passed; err is the caller's
 * buffer of errlen bytes. */
#ifndef SRV_DEPLOYER_H
#define SRV_DEPLOYER_H

#include "model.h"

/* What the deployment layer reports to the layer above it, which
 * registers the table in srv.deployer_ops (the REST layer: see
 * srv_api_attach). ud is srv.deployer_ud and every srv_stream passed is
 * borrowed. */
struct srv_deployer_ops {
    /* st's status or instances may have changed. */
    void (*changed)(void *ud, srv_stream *st);
    /* Every process of st's deployment is gone and the deployment is
     * freed. The callee may delete st (srv_stream_delete): the deployer
     * touches st no more after this call. */
    void (*undeployed)(void *ud, srv_stream *st);
};

/* Where the deployment layer meets the operating system. The default,
 * srv_os_posix (deploy/os.c), spawns with libuv and reads /proc; a test
 * puts its own in srv.os to drive the deployer without a process. ud is
 * srv.os_ud; every pointer passed is borrowed, except proc as said. */
struct srv_os_ops {
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
};

/* libuv and POSIX: the operating system itself (deploy/os.c). */
extern const srv_os_ops srv_os_posix;

/* Where a stream's apps are placed, chosen once at start (srv.platform):
 * NULL is the local platform, processes on this machine through
 * srv_os_ops (deploy.c, spawn.c, supervise.c and restore.c as they are);
 * another table places them elsewhere (srv_kubernetes_platform). The
 * deployment layer builds a stream's apps and instances and stores its
 * deployment as for the local platform, then hands the placing to the
 * table; the platform sets its instances' states and calls
 * srv_deployer_refresh. ud is srv.platform_ud; st and a are borrowed. */
struct srv_platform_ops {
    const char *name;
    /* st was just deployed (its apps built, its deployment stored):
     * place it. 0, or a negative SRV_E* code with err set (the caller
     * then forgets the deployment). */
    int (*deploy)(void *ud, srv_stream *st, char *err, size_t errlen);
    /* Starts removing what deploy placed and returns true: it calls
     * srv_dep_finish_undeploy once that is gone, never before returning.
     * False when nothing of st is placed (the caller finishes). */
    bool (*undeploy)(void *ud, srv_stream *st);
    /* a of st runs count instances now (its instances are there). 0, or
     * a negative SRV_E* code with err set. */
    int (*scale)(void *ud, srv_stream *st, srv_dapp *a, int count, char *err,
                 size_t errlen);
    /* st's stored deployment was read back at start: follow it again. */
    void (*restore)(void *ud, srv_stream *st);
    /* Once a second (srv_deployer_tick). */
    void (*tick)(void *ud);
    /* At exit: cancels its requests and frees ud (the loop runs once more
     * to close its handles). */
    void (*free)(void *ud);
};

/* The kubernetes platform (deploy/kubernetes.c) for flowd's
 * --deployer=kubernetes options in s->cfg: its ud into *ud (owned by the
 * table's free). NULL with err set when its configuration cannot be
 * read. */
const srv_platform_ops *srv_kubernetes_platform(srv *s, void **ud, char *err,
                                                size_t errlen);

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
 * status, or killed by signal sig (0: none). Called by the os ops; i may
 * be freed by the call. */
void srv_deployer_exited(srv *s, srv_inst *i, int64_t status, int sig);
/* Runs count instances of a (an app of st). A guaranteed stream takes a
 * checkpoint first and then restarts its region from it with the new
 * count (the call returns before: 0 once the count is recorded). Returns
 * 0, or a negative
 * SRV_E* code with err set: -SRV_EINVAL (count out of range),
 * -SRV_EUNRUNNABLE (single packaging), the store's code (nothing
 * changed), -SRV_ENOMEM, or -SRV_ESYSTEM when no port was free for a new
 * instance (those started so far stay). */
int srv_scale(srv *s, srv_stream *st, srv_dapp *a, int count, char *err,
              size_t errlen);
/* Once a second (s->tick): checks on adopted processes, takes the
 * instances' rates and error windows, and writes again the store rows
 * whose last write failed. */
void srv_deployer_tick(srv *s);
/* Reads the stored definitions and kills orphans (before serving). */
void srv_deployer_restore(srv *s);
/* Restores the stored deployments: adopts surviving apps, starts the
 * others (on the loop, while HTTP is served). */
void srv_deployer_restore_deployments(srv *s);
/* Sets s->ready once deployments are restored and none of the restored
 * streams is still deploying. */
void srv_ready_update(srv *s);
/* Stops every deployment's processes (flowd is stopping). */
void srv_deployer_stop_all(srv *s);
/* Closes every deployment's taps and handles and frees the deployments
 * (srv_stream_free_deployment) and the checkpoint coordinator
 * (srv_ckpt_free), at exit, after the processes are gone; the loop must
 * run once more for the instances' and the coordinator's timers to
 * close. */
void srv_deployer_free_all(srv *s);
/* Does no deployment have a process any more? */
bool srv_deployer_idle(srv *s);
/* Derives st's status from its instances and reports it upward
 * (srv_deployer_ops.changed). */
void srv_deployer_refresh(srv *s, srv_stream *st);

/* Is a a router, the app "router" ending a stream without `> :dest`,
 * whose events flowd wires to the destinations it names? */
bool srv_dep_is_router(const srv_dapp *a);
/* Does router a send to destination dest: one of its
 * --destination-mappings or its --default-output-channel, or any one when
 * it has no mappings? False for an app that is no router. */
bool srv_dep_routes_to(const srv_dapp *a, const char *dest);
/* A router's destinations (its --destination-mappings' and its
 * --default-output-channel, each once, at most max of them) into names;
 * returns how many, or -1 when it has no mappings and so routes to any
 * destination its expression names; 0 for an app that is no router. */
int srv_dep_router_dests(const srv_dapp *a, char (*names)[SRV_NAME_MAX + 16],
                         int max);
/* After an instance's hello: connects it to inputs that appeared since
 * it was started (a producer of its destination deployed later). */
void srv_inst_catch_up(srv *s, srv_inst *i);

/* Adds the consumer group (producer false) or the producer named name
 * that a program outside flow uses on destination dest, or finds the one
 * there is (*out, borrowed from s->outside). A group gets an output
 * group on every producer instance of dest, now and as they start; a
 * producer gets an endpoint (ipc://DATA/run/:DEST.from.NAME, tcp when
 * that path is too long) that every first app of a stream reading dest
 * connects its input to. Returns 0, or -SRV_EINVAL (not names), -SRV_EINUSE
 * (a deployed stream reads dest as that group), -SRV_ENOMEM or
 * -SRV_ESYSTEM (no port free), with err set. */
int srv_outside_add(srv *s, const char *dest, const char *name, bool producer,
                    srv_outside **out, char *err, size_t errlen);
/* Removes what srv_outside_add added: the producers of dest drop the
 * group's output groups, or the consumers of dest disconnect from the
 * producer's endpoint. 0, or -SRV_ENOTFOUND. */
int srv_outside_remove(srv *s, const char *dest, const char *name,
                       bool producer);

#endif
