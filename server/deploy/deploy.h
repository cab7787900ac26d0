/* The deployment layer's private header (server/deploy/): what its files
 * share. Above the model (streams, instances, control, keys, taps) and
 * below the REST layer, which it reports to only through
 * srv_deployer_ops.
 *
 * Ownership, for every function below: the srv, srv_stream, srv_dapp and
 * srv_inst pointers passed are borrowed. A stream owns its apps
 * (srv_stream.apps) and its host; an app owns its instances
 * (srv_dapp.inst). The deployment layer builds them (srv_dep_build_apps,
 * srv_dep_inst_new) but frees none itself: it stops their processes and
 * removes their files, then hands them to the model, whose
 * srv_inst_free and srv_stream_free_deployment free the memory (see
 * srv_dep_release_deployment and srv_dep_remove_inst). Strings passed
 * are borrowed; buffers written (buf, list, dir, err) are the caller's,
 * of the size given. */
#ifndef SRV_DEPLOY_H
#define SRV_DEPLOY_H

#include "props.h"
#include "checkpoint/checkpoint.h"
#include "deployer.h"

#define LOG_CAP        (1024 * 1024)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define STABLE_MS      10000

/* What srv_dep_send_connect tells a consumer (its ud), on the caller's
 * stack. */
/* The consumer name of the row of output_groups that records an
 * instance's error output (not a group name: those start with a letter). */
#define SRV_DEP_ERRORS_ROW ".errors"

struct connect_ud {
    const char *type;   /* "connect" or "disconnect" (a static string) */
    srv_inst *producer; /* borrowed: the instance whose output it is */
};

/* os.c: every use of the operating system goes through s->os. */

/* The deployer's clock (s->os). */
static inline int64_t srv_dep_now(const srv *s)
{
    return s->os->now_ms(s->os_ud);
}
/* /proc/<pid>/stat field 22: the start time in clock ticks since boot,
 * or 0 when pid runs no more (srv_os_posix's start_ticks, and
 * kill_untracked's scan of the real /proc). */
uint64_t srv_dep_proc_start_ticks(int pid);
/* Is pid still the process started at ticks (s->os)? */
bool srv_dep_pid_matches(const srv *s, int pid, uint64_t ticks);
/* Sends sig to i's process (s->os): flowd's child, or an adopted pid. */
void srv_dep_kill(const srv *s, const srv_inst *i, int sig);
/* The instance directory process pid was started with, when it is one of
 * this data directory's (FLOW_INSTANCE_DIR=DATA/run/ID in its
 * environment): copies ID to id. */
bool srv_dep_instance_of(srv *s, int pid, char *id, size_t len);

/* instance.c */
/* Adds i's cumulative events and errors of this tick to its error
 * window (srv_inst_window). */
void srv_dep_window_sample(srv_inst *i);
/* The path of i's log, DATA/logs/STREAM.LABEL-N.log, into buf. */
void srv_dep_log_path(srv *s, const srv_inst *i, char *buf, size_t len);
/* The exit status an instance that is not flowd's child recorded in its
 * directory: 0 or more, or -1 when it recorded none (it was killed, or
 * never told where). Only a record of pid counts. */
int64_t srv_dep_recorded_exit(srv *s, const srv_inst *i, int pid);
/* Makes instance i's directory (its path in dir, empty when too long) and
 * removes a recorded exit of an earlier process, so that what is found
 * there later is the new process's. Returns 0, or -1 (errno). */
int srv_dep_prepare_inst_dir(srv *s, const srv_inst *i, char *dir, size_t len);
/* The label an instance is stored under (the host has its own). */
const char *srv_dep_store_label(const srv_inst *i);
/* Mirrors the host process of a single-packaged stream onto its apps'
 * instances. */
void srv_dep_sync_hosted(srv_stream *st);
/* A host is recorded with a row of its own and one per hosted app, which
 * holds that app's endpoints. When the store cannot be written, i is
 * marked row_stale and srv_deployer_tick writes it again until it can. */
void srv_dep_save_inst(srv *s, srv_inst *i);
/* Forgets i's record; marks it row_stale when the store cannot be
 * written, like srv_dep_save_inst. */
void srv_dep_forget_inst(srv *s, srv_inst *i);
/* Writes again the record of an instance whose last write failed: its
 * process, or that it completed, or, when it failed, no row. */
void srv_dep_sync_row(srv *s, srv_inst *i);
/* Removes the socket files of i's ipc:// output groups (before the model
 * frees i). */
void srv_dep_unlink_groups(const srv_inst *i);
/* A new instance of app a (borrowed; a owns the result once it is put in
 * a->inst), deploying, with its timer on s->loop; NULL when out of
 * memory. */
srv_inst *srv_dep_inst_new(srv *s, srv_dapp *a, int index);
/* Does any instance (or the host) of st still have a process? */
bool srv_dep_stream_has_processes(const srv_stream *st);
/* Forgets scaled-away instance i in the store, removes its files, takes
 * it out of its app's array and frees it (srv_inst_free). */
void srv_dep_remove_inst(srv *s, srv_inst *i);

/* wiring.c */
/* Does app a write to a named destination (`... > :dest`)? Its instances
 * then have no shared output but one output group per consumer group. */
bool srv_dep_feeds_destination(const srv_dapp *a);
/* A router (srv_dep_is_router) feeds destinations too; its output
 * groups are per destination and consumer group, "DEST:GROUP", connected
 * on the control port "output.DEST". */
/* Allocates the output (and tap) endpoint of an instance; -1 with errno
 * set when it needs a TCP port and none is free. The output has one lane
 * per instance of the next app when it has several (srv_dapp.lanes):
 * ipc://DATA/run/STREAM.LABEL.N.lJ, '|' between lanes. */
int srv_dep_alloc_endpoints(srv *s, srv_inst *i);
/* Producer app p's consumer in its stream now runs lanes instances:
 * each running instance of p replaces its output with one of that many
 * lanes (control disconnect of the old one, connect of the new; what the
 * old one held is counted in its drops) and the consumer's instances
 * connect to their lanes (srv_inst_catch_up). */
void srv_dep_relane(srv *s, srv_dapp *p, int lanes);
/* Records producer instance u's group g, which a flowd adopting u (or
 * starting it again) takes back. The row's consumer is the group's name.
 * When the store cannot be written, u is marked row_stale: srv_dep_sync_row
 * writes its groups again with its row. */
void srv_dep_save_group(srv *s, srv_inst *u, const srv_group *g);
/* Forgets the record of u's group c, or of every group of u when c is
 * NULL. */
void srv_dep_forget_group_rows(srv *s, const srv_inst *u, const char *c);
/* Takes back the output groups recorded for producer instance u (adopted,
 * or started again after a flowd restart), so that it and its consumers
 * meet on the endpoints they already have. */
void srv_dep_take_groups(srv *s, srv_inst *u);
/* Writes into list (len bytes) the comma-separated endpoints instance
 * index idx of app a reads: the previous app's outputs (of each, the lane
 * idx when it has lanes), or the producers' of its source destination.
 * With recorded_only, only output groups taken back from the store count
 * and none is made (while flowd works out what adopted instances read). */
void srv_dep_collect_inputs(srv *s, const srv_dapp *a, int idx,
                            bool recorded_only, char *list, size_t len);
/* Calls fn with each app fed by a's outputs (borrowed) and ud (passed
 * through, borrowed). */
void srv_dep_for_each_consumer(srv *s, srv_dapp *a,
                               void (*fn)(srv *s, srv_dapp *c, void *ud),
                               void *ud);
/* Tells consumer app c's instances that what producer gives it to read
 * comes or goes (ud: a struct connect_ud, borrowed). */
void srv_dep_send_connect(srv *s, srv_dapp *c, void *ud);
/* The same, only when c's stream is a tap stream of the producer's app. */
void srv_dep_send_tap_connect(srv *s, srv_dapp *c, void *ud);
/* Consumer stream c comes (connect) or goes (disconnect): the producers of
 * its source destination, or the instances of the app it taps, add or
 * remove the output group of its consumer group, which goes only with the
 * group's last deployed stream. */
void srv_dep_producers_groups(srv *s, srv_stream *c, bool connect);
/* Removes the socket file of an ipc:// endpoint (others: nothing). */
void srv_dep_unlink_ipc(const char *ep);
/* Instance i is about to be started on the endpoints it had (a restart,
 * or after a flowd restart): a tcp:// port taken by another process
 * meanwhile is replaced by a free one, and the consumers of an output or
 * group that moved are told (now, or at their hello when they have not
 * said it yet; see srv_inst_catch_up). */
void srv_dep_move_taken(srv *s, srv_inst *i);
/* Tells the consumers of app a that its instances from index from on
 * have an output to read ("connect"). */
void srv_dep_notify_new_outputs(srv *s, srv_dapp *a, int from);
/* Tells the deployed tap streams of the apps of st, just deployed, what
 * to read: each tapped instance's output group for them. */
void srv_dep_notify_taps(srv *s, srv_stream *st);
/* What instance i is given as --flow.output (buf, len bytes): its own
 * output, and, when tap streams read its app, their output groups and
 * those of its destination's consumer groups, separated by ';'. */
void srv_dep_output_spec(srv *s, srv_inst *i, char *buf, size_t len);

/* spawn.c */

/* Starts i's process through s->os (i's host process for a
 * single-packaged stream), after its keys, its endpoints and the path
 * rules; a start that fails is an exit with status 127 (srv_dep_inst_gone). */
void srv_dep_spawn_inst(srv *s, srv_inst *i);

/* supervise.c */

/* i's process is gone (exit status, or killed by sig, or noticed by
 * polling): removes a scaled-away i, moves an undeploy on, or restarts
 * i with backoff, or fails it after maxRestarts within the window. i may
 * be freed by the call. */
void srv_dep_inst_gone(srv *s, srv_inst *i, int64_t status, int sig);
/* SIGTERM to i's process, and SIGKILL at its stop deadline (the earlier
 * of its own stopTimeout and its undeploying stream's). */
void srv_dep_stop_inst(srv_inst *i);

/* recover.c: a guaranteed stream's region restarts as one (docs/flowd.md,
 * "Checkpoints and recovery"). */

/* i of a guaranteed stream ended uncleanly or went silent (why says how):
 * every instance of its region is killed (SIGKILL) and, once all are
 * gone, started again from the last complete checkpoint in the next
 * epoch (srv_dep_region_check). */
void srv_dep_region_fault(srv *s, srv_inst *i, const char *why);
/* After an exit of an instance killed by a recovery: when nothing of
 * i's region runs any more, starts every instance again (i alone, at
 * once, when its region is not recovering). */
void srv_dep_region_check(srv *s, srv_inst *i);
/* st was just deployed and started: when it joined two regions into one,
 * or came to feed a destination that running instances read, its region
 * restarts as one: instances that run in another epoch than the
 * region's (their frames would be fenced off) or that align on another
 * number of producer channels than now feed them. When the region keeps
 * no guarantee now (st keeps none), the instances of its other streams
 * started under one are restarted without it instead. */
void srv_dep_region_joined(srv *s, srv_stream *st);
/* The recovery of st's region ended: the streams that joined it meanwhile
 * are checked as srv_dep_region_joined does. */
void srv_dep_region_recovered(srv *s, srv_stream *st);
/* App a of region r is to run a->rescale_to instances: a checkpoint now,
 * and the restart once it completes (srv_dep_checkpoint_complete); a
 * region without a source, which takes no checkpoint, restarts now. */
void srv_dep_rescale(srv *s, srv_region *r, srv_dapp *a);
/* A checkpoint of region r completed (srv_ckpt_set_on_complete, ud the
 * srv): a rescale that waited for it goes on. */
void srv_dep_checkpoint_complete(void *ud, srv_region *r);
/* The flags of an instance of a guaranteed stream (--flow.guarantee,
 * --flow.epoch, ...) are added to av by spawn.c through this: calls add
 * with each "--flow.x=v" (ud passed through). */
void srv_dep_guarantee_args(srv *s, srv_inst *i,
                            void (*add)(void *ud, const char *arg), void *ud);

/* deploy.c */
/* st runs on s->platform (not the local one): its guarantee is none,
 * with a note saying why. */
void srv_dep_platform_guarantee(srv *s, srv_stream *st);
/* Records count as app a's deployer.LABEL.count in the store and in
 * st->props. Returns 0, -1 when the store refused it, or -2 when out of
 * memory; st->props is left as it was unless 0. */
int srv_dep_record_count(srv *s, srv_stream *st, const srv_dapp *a, int count);
/* Every process of st's deployment is gone: frees the deployment and
 * reports srv_deployer_ops.undeployed (after which st may be gone). */
void srv_dep_finish_undeploy(srv *s, srv_stream *st);
/* Builds st's apps (owned by st) from its parsed definition and props
 * (borrowed). Returns 0, or with err set -SRV_ENOMEM, -SRV_EUNRUNNABLE
 * (an app flowd cannot run) or -SRV_EPATH (a path option the rules
 * refuse); the caller then frees what was built with
 * srv_dep_release_deployment. */
int srv_dep_build_apps(srv *s, srv_stream *st, json_t *props, char *err,
                       size_t errlen);
/* deployer.packaging=single: one flow-host process runs every app; the
 * apps talk over inproc:// inside it, so only the stream's end keeps its
 * output endpoint. Every app keeps its own tap endpoint (ipc:// or tcp://
 * as for its own process), so taps see a hosted app like any other. */
int srv_dep_setup_single(srv *s, srv_stream *st, char *err, size_t errlen);
/* Removes the socket files of the output groups of st's instances and
 * host, then frees the deployment (srv_stream_free_deployment, the
 * model's): the processes must be gone or detached. */
void srv_dep_release_deployment(srv_stream *st);
/*
 * An undeploy stops a stream from its source down: each app gets SIGTERM
 * once every app before it has exited, so what a producer still holds
 * when it stops reaches a consumer that is still reading, and no producer
 * waits out its linger on a consumer that stopped first. SIGKILL comes for
 * whatever is left when the stream's stop time is up.
 */
void srv_dep_undeploy_next(srv_stream *st);

#endif
