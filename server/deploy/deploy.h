/* The deployment layer's private header (server/deploy/): what its files
 * share. Above the model (streams, instances, control, keys, taps) and
 * below the REST layer, which it reports to only through
 * srv_deployer_ops.
 *
 * Ownership, for every function below: the srv, srv_stream, srv_dapp and
 * srv_inst pointers passed are borrowed. A stream owns its apps
 * (srv_stream.apps, freed by srv_dep_teardown_apps) and its host; an app
 * owns its instances (srv_dapp.inst); an instance is made by
 * srv_dep_inst_new and freed by srv_dep_inst_release (or
 * srv_dep_remove_inst, which also takes it out of its app), after its
 * timer handle has closed. Strings passed are borrowed; buffers written
 * (buf, list, dir, err) are the caller's, of the size given. */
#ifndef SRV_DEPLOY_H
#define SRV_DEPLOY_H

#include "props.h"
#include "server.h"

#define LOG_CAP        (1024 * 1024)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define STABLE_MS      10000

struct connect_ud {
    const char *type;
    srv_inst *producer;
};

/* os.c: every use of the operating system goes through s->os. */
static inline int64_t srv_dep_now(const srv *s)
{
    return s->os->now_ms(s->os_ud);
}
/* /proc/<pid>/stat field 22 (the real one, for kill_untracked). */
uint64_t srv_dep_proc_start_ticks(int pid);
/* Is pid still the process started at ticks? */
bool srv_dep_pid_matches(const srv *s, int pid, uint64_t ticks);
/* Sends sig to i's process. */
void srv_dep_kill(const srv *s, const srv_inst *i, int sig);
bool srv_dep_instance_of(srv *s, int pid, char *id, size_t len);

/* instance.c */
void srv_dep_window_sample(srv_inst *i);
void srv_dep_log_path(srv *s, const srv_inst *i, char *buf, size_t len);
int64_t srv_dep_recorded_exit(srv *s, const srv_inst *i, int pid);
int srv_dep_prepare_inst_dir(srv *s, const srv_inst *i, char *dir, size_t len);
const char *srv_dep_store_label(const srv_inst *i);
void srv_dep_sync_hosted(srv_stream *st);
void srv_dep_save_inst(srv *s, srv_inst *i);
void srv_dep_forget_inst(srv *s, srv_inst *i);
void srv_dep_sync_row(srv *s, srv_inst *i);
void srv_dep_inst_release(srv_inst *i);
srv_inst *srv_dep_inst_new(srv *s, srv_dapp *a, int index);
bool srv_dep_stream_has_processes(const srv_stream *st);
void srv_dep_remove_inst(srv *s, srv_inst *i);

/* wiring.c */
bool srv_dep_feeds_destination(const srv_dapp *a);
int srv_dep_alloc_endpoints(srv *s, srv_inst *i);
void srv_dep_save_group(srv *s, srv_inst *u, const srv_group *g);
void srv_dep_forget_group_rows(srv *s, const srv_inst *u, const char *c);
void srv_dep_take_groups(srv *s, srv_inst *u);
void srv_dep_collect_inputs(srv *s, const srv_dapp *a, bool recorded_only,
                            char *list, size_t len);
void srv_dep_for_each_consumer(srv *s, srv_dapp *a,
                               void (*fn)(srv *s, srv_dapp *c, void *ud),
                               void *ud);
void srv_dep_send_connect(srv *s, srv_dapp *c, void *ud);
void srv_dep_producers_groups(srv *s, srv_stream *c, bool connect);
void srv_dep_unlink_ipc(const char *ep);
void srv_dep_move_taken(srv *s, srv_inst *i);
void srv_dep_notify_new_outputs(srv *s, srv_dapp *a, int from);

/* spawn.c */
void srv_dep_spawn_inst(srv *s, srv_inst *i);

/* supervise.c */
void srv_dep_inst_gone(srv *s, srv_inst *i, int64_t status, int sig);
void srv_dep_stop_inst(srv_inst *i);

/* deploy.c */
void srv_dep_finish_undeploy(srv *s, srv_stream *st);
int srv_dep_build_apps(srv *s, srv_stream *st, json_t *props, char *err,
                       size_t errlen);
int srv_dep_setup_single(srv *s, srv_stream *st, char *err, size_t errlen);
void srv_dep_teardown_apps(srv_stream *st);
void srv_dep_undeploy_next(srv_stream *st);

#endif
