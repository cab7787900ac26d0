/* Restore after a flowd restart: the stored definitions and deployments
 * read back, surviving instances adopted, orphans killed, the rest
 * started; and the stop and free of everything at exit. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deploy.h"

/* Takes back the endpoints a recorded instance was started with. Rows
 * written before endpoints were recorded hold empty strings: the
 * allocated endpoints stay then (the same ones for ipc://). */
static void take_endpoints(srv_inst *i, sqlite3_stmt *q, int col)
{
    const char *output = (const char *)sqlite3_column_text(q, col);
    const char *tap = (const char *)sqlite3_column_text(q, col + 1);

    if (output && output[0])
        snprintf(i->output, sizeof i->output, "%s", output);
    if (tap && tap[0])
        snprintf(i->tap, sizeof i->tap, "%s", tap);
}

/* Takes back the endpoints recorded for i, and adopts i when the process
 * recorded for it still runs (same start time): flowd does not start it
 * again. An instance whose process is gone is started again on its
 * recorded endpoints, which its adopted consumers are still connected to
 * (srv_dep_spawn_inst moves a tcp:// one whose port was taken meanwhile).
 * Returns whether it adopted i. */
static bool adopt_inst(srv *s, srv_inst *i)
{
    srv_stream *st = i->app->stream;
    sqlite3_stmt *q = srv_store_query(
        &s->store,
        "SELECT pid, started_at, output, tap FROM instances WHERE "
        "stream=? AND label=? AND idx=?",
        "ssi", st->name, srv_dep_store_label(i), (int64_t)i->index);
    bool adopted = false;

    if (q && sqlite3_step(q) == SQLITE_ROW) {
        int pid = sqlite3_column_int(q, 0);
        uint64_t ticks = (uint64_t)sqlite3_column_int64(q, 1);
        if (pid == 0) {
            /* It completed (a clean exit, see srv_dep_inst_gone): it stays so.
             */
            i->state = SRV_INST_STOPPED;
            snprintf(i->last_exit, sizeof i->last_exit, "exit status 0");
        } else if (srv_dep_pid_matches(s, pid, ticks)) {
            i->pid = pid;
            i->start_ticks = ticks;
            i->adopted = adopted = true;
            i->state = SRV_INST_DEPLOYING;
            i->started_ms = srv_dep_now(s);
        }
        if (!i->host)
            take_endpoints(i, q, 2);
    }
    sqlite3_finalize(q);
    /* A destination's producer's groups, a tapped app's, and the error
     * output of every app. */
    if (!i->host)
        srv_dep_take_groups(s, i);
    return adopted;
}

/* The apps of an adopted host take back their endpoints from their rows.
 * An app without a row of this host's was started by a flowd that gave
 * hosted apps no tap: it has none. */
static void adopt_hosted(srv *s, srv_stream *st)
{
    for (size_t k = 0; k < st->napps; k++) {
        srv_inst *i = st->apps[k].inst[0];
        sqlite3_stmt *q =
            srv_store_query(&s->store,
                            "SELECT output, tap FROM instances WHERE "
                            "stream=? AND label=? AND idx=? AND pid=?",
                            "ssii", st->name, st->apps[k].label,
                            (int64_t)i->index, (int64_t)st->host->pid);
        if (q && sqlite3_step(q) == SQLITE_ROW)
            take_endpoints(i, q, 0);
        else
            i->tap[0] = '\0';
        sqlite3_finalize(q);
    }
}

/* Adopts the surviving instances of a restored stream and takes back the
 * recorded endpoints of all of them. */
static void adopt_stream(srv *s, srv_stream *st)
{
    if (st->host) {
        if (adopt_inst(s, st->host))
            adopt_hosted(s, st);
        for (size_t k = 0; k < st->napps; k++)
            srv_dep_take_groups(s, st->apps[k].inst[0]);
        return;
    }
    for (size_t k = st->napps; k-- > 0;)
        for (int j = 0; j < st->apps[k].ninst; j++)
            adopt_inst(s, st->apps[k].inst[j]);
}

/* What an adopted instance reads is what its producers had when flowd
 * went down: the endpoints taken back. srv_inst_catch_up tells it of any
 * that differ by its hello. */
static void adopted_inputs(srv *s, srv_stream *st)
{
    char inputs[8192];

    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++) {
            srv_inst *i = st->apps[k].inst[j];
            if (!i->adopted && !(st->host && st->host->adopted))
                continue;
            srv_dep_collect_inputs(s, &st->apps[k], i->index, true, inputs,
                                   sizeof inputs);
            free(i->spawn_inputs);
            i->spawn_inputs = strdup(inputs);
            free(i->spawn_output);
            i->spawn_output = strdup(i->output);
        }
}

/* Starts the instances of a restored stream that were neither adopted nor
 * completed, wired to the adopted ones. */
static void spawn_rest(srv *s, srv_stream *st)
{
    if (st->host) {
        if (!st->host->adopted && st->host->state != SRV_INST_STOPPED)
            srv_dep_spawn_inst(s, st->host);
        return;
    }
    for (size_t k = st->napps; k-- > 0;)
        for (int j = 0; j < st->apps[k].ninst; j++) {
            srv_inst *i = st->apps[k].inst[j];
            if (!i->adopted && i->state != SRV_INST_STOPPED && !i->recovering)
                srv_dep_spawn_inst(s, i);
        }
}

/* An instance of a guaranteed stream that died while flowd was down
 * while others of its region live on: the region restarts as one, from
 * its last complete checkpoint (the survivors hold state past it). */
static void recover_lost(srv *s, srv_stream *st)
{
    srv_inst *lost = NULL;
    bool alive = false;

    if (st->guarantee == SRV_GUARANTEE_NONE || st->host)
        return;
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++) {
            srv_inst *i = st->apps[k].inst[j];
            if (i->adopted)
                alive = true;
            else if (i->state != SRV_INST_STOPPED && !i->recovering)
                lost = i;
        }
    srv_region *r = srv_ckpt_region_of(s, st);
    if (!lost || !r)
        return;
    srv_stream *v[64];
    size_t n = srv_ckpt_region_streams(s, r, v, 64);
    for (size_t k = 0; k < n && !alive; k++)
        for (size_t a = 0; a < v[k]->napps && !alive; a++)
            for (int j = 0; j < v[k]->apps[a].ninst && !alive; j++)
                alive = v[k]->apps[a].inst[j]->adopted;
    if (alive)
        srv_dep_region_fault(s, lost, "gone while flowd was down");
}

/* Does a deployed stream of consumer group g read destination dest? */
static bool group_read(srv *s, const char *dest, const char *g)
{
    char ts[128], tl[128];

    for (srv_stream *c = s->streams; c; c = c->next) {
        const char *cg = srv_stream_group(c);
        if (!cg || strcmp(cg, g) || strcmp(c->ast->source->name, dest) ||
            srv_tap_source(s, c, ts, sizeof ts, tl, sizeof tl))
            continue;
        sqlite3_stmt *q = srv_store_query(
            &s->store, "SELECT 1 FROM deployments WHERE stream=?", "s",
            c->name);
        bool deployed = q && sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
        if (deployed)
            return true;
    }
    return false;
}

/* Is a stream of consumer group g, deployed by the store, a tap of an app
 * of stream p? */
static bool tap_read(srv *s, const char *p, const char *g)
{
    char ts[128], tl[128];

    for (srv_stream *c = s->streams; c; c = c->next) {
        const char *cg = srv_stream_group(c);
        if (!cg || strcmp(cg, g) ||
            !srv_tap_source(s, c, ts, sizeof ts, tl, sizeof tl) ||
            strcmp(ts, p))
            continue;
        sqlite3_stmt *q = srv_store_query(
            &s->store, "SELECT 1 FROM deployments WHERE stream=?", "s",
            c->name);
        bool deployed = q && sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
        if (deployed)
            return true;
    }
    return false;
}

/* Forgets the recorded output groups that no deployed stream reads any
 * more (its consumer group's last stream, or its tap stream, was
 * undeployed while flowd was down, or a group of a definition that
 * changed). The rows of the error outputs stay. */
static void forget_unread_groups(srv *s)
{
    sqlite3_stmt *q = srv_store_query(
        &s->store, "SELECT DISTINCT stream, consumer FROM output_groups", NULL);
    struct pair {
        char stream[SRV_NAME_MAX + 16], group[SRV_NAME_MAX + 16];
    } *gone = NULL;
    size_t n = 0;

    while (q && sqlite3_step(q) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(q, 0);
        const char *g = (const char *)sqlite3_column_text(q, 1);
        srv_stream *st = srv_stream_find(s, p);
        if (strcmp(g, SRV_DEP_ERRORS_ROW) == 0 || tap_read(s, p, g) ||
            (st && st->ast->sink && group_read(s, st->ast->sink->name, g)))
            continue;
        struct pair *m = realloc(gone, (n + 1) * sizeof *m);
        if (!m)
            break;
        gone = m;
        snprintf(gone[n].stream, sizeof gone[n].stream, "%s", p);
        snprintf(gone[n].group, sizeof gone[n].group, "%s", g);
        n++;
    }
    sqlite3_finalize(q);
    for (size_t k = 0; k < n; k++)
        srv_store_exec(&s->store,
                       "DELETE FROM output_groups WHERE stream=? AND "
                       "consumer=?",
                       "ss", gone[k].stream, gone[k].group);
    free(gone);
}

void srv_deployer_restore(srv *s)
{
    sqlite3_stmt *q = srv_store_query(
        &s->store,
        "SELECT name, dsl, description, created_at FROM streams ORDER "
        "BY name",
        NULL);
    char err[1024];

    while (q && sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        if (!srv_stream_add(s, name, (const char *)sqlite3_column_text(q, 1),
                            (const char *)sqlite3_column_text(q, 2),
                            sqlite3_column_int64(q, 3), err, sizeof err))
            fprintf(stderr, "flowd: stored stream '%s' skipped: %s\n", name,
                    err);
    }
    sqlite3_finalize(q);

    /* Kill instances that belong to no deployment any more. */
    q = srv_store_query(&s->store,
                        "SELECT pid, started_at FROM instances WHERE "
                        "stream NOT IN (SELECT stream FROM deployments)",
                        NULL);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        int pid = sqlite3_column_int(q, 0);
        if (srv_dep_pid_matches(s, pid, (uint64_t)sqlite3_column_int64(q, 1)))
            s->os->kill(s->os_ud, NULL, pid, SIGKILL);
    }
    sqlite3_finalize(q);
    srv_store_exec(&s->store,
                   "DELETE FROM instances WHERE stream NOT IN (SELECT "
                   "stream FROM deployments)",
                   NULL);
    srv_store_exec(&s->store,
                   "DELETE FROM output_groups WHERE stream NOT IN (SELECT "
                   "stream FROM deployments)",
                   NULL);
    forget_unread_groups(s);
}

/* Does a stream's instance (or host) run as process pid? */
static bool pid_tracked(srv *s, int pid)
{
    for (srv_stream *st = s->streams; st; st = st->next) {
        if (st->host && st->host->pid == pid)
            return true;
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++)
                if (st->apps[k].inst[j]->pid == pid)
                    return true;
    }
    return false;
}

/*
 * Reconciles by instance id, not by the recorded pids alone: a process of
 * this data directory's instances that no instance took back (one started
 * while the store could not record it, then flowd died) is killed, so that
 * it neither runs beside the instance started in its place nor survives an
 * undeploy. Runs after adoption and before anything is started.
 */
static void kill_untracked(srv *s)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    char id[PATH_MAX];

    if (!d)
        return;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() ||
            !srv_dep_proc_start_ticks((int)pid) || pid_tracked(s, (int)pid) ||
            !srv_dep_instance_of(s, (int)pid, id, sizeof id))
            continue;
        fprintf(stderr,
                "flowd: killing process %ld of instance %s: the store does "
                "not hold it (it was started while the store could not be "
                "written)\n",
                pid, id);
        s->os->kill(s->os_ud, NULL, (int)pid, SIGKILL);
    }
    closedir(d);
}

void srv_deployer_restore_deployments(srv *s)
{
    char err[1024];
    sqlite3_stmt *q =
        srv_store_query(&s->store,
                        "SELECT stream, properties, deployed_at FROM "
                        "deployments",
                        NULL);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        srv_stream *st = srv_stream_find(s, name);
        json_t *props =
            json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
        if (!st || !props ||
            srv_dep_build_apps(s, st, props, err, sizeof err) ||
            (strcmp(srv_props_packaging(props), "single") == 0 &&
             srv_dep_setup_single(s, st, err, sizeof err))) {
            fprintf(stderr, "flowd: deployment of '%s' not restored: %s\n",
                    name, st && props ? err : "bad record");
            if (st)
                srv_dep_release_deployment(st);
            json_decref(props);
            continue;
        }
        if (s->platform) {
            /* The platform follows what it placed (no process here). */
            st->props = props;
            st->deployed = true;
            st->deployed_ms = sqlite3_column_int64(q, 2);
            srv_dep_platform_guarantee(s, st);
            if (srv_keys_stream(s, st, true, err, sizeof err))
                fprintf(stderr, "flowd: stream '%s': %s\n", name, err);
            s->platform->restore(s->platform_ud, st);
            continue;
        }
        /* Instances beyond the stored count are orphans. */
        sqlite3_stmt *o =
            srv_store_query(&s->store,
                            "SELECT label, idx, pid, started_at FROM instances "
                            "WHERE stream=?",
                            "s", name);
        while (o && sqlite3_step(o) == SQLITE_ROW) {
            const char *lab = (const char *)sqlite3_column_text(o, 0);
            srv_dapp *a = srv_stream_app(st, lab);
            int idx = sqlite3_column_int(o, 1);
            /* A single-packaged stream's apps are rows of its host. */
            if (a && idx < a->count)
                continue;
            if (st->host && strcmp(lab, "*host*") == 0 && idx == 0)
                continue;
            int pid = sqlite3_column_int(o, 2);
            if (srv_dep_pid_matches(s, pid,
                                    (uint64_t)sqlite3_column_int64(o, 3)))
                s->os->kill(s->os_ud, NULL, pid, SIGKILL);
        }
        sqlite3_finalize(o);
        for (size_t k = 0; k < st->napps; k++)
            srv_store_exec(&s->store,
                           "DELETE FROM output_groups WHERE stream=? AND "
                           "label=? AND idx>=?",
                           "ssi", name, st->apps[k].label,
                           (int64_t)st->apps[k].count);
        st->props = props;
        st->deployed = true;
        st->deployed_ms = sqlite3_column_int64(q, 2);
        if (srv_keys_stream(s, st, true, err, sizeof err))
            fprintf(stderr, "flowd: stream '%s': %s\n", name, err);
        if (srv_tap_open(s, st, err, sizeof err))
            fprintf(stderr, "flowd: stream '%s': %s\n", name, err);
        st->restoring = true;
        adopt_stream(s, st);
    }
    sqlite3_finalize(q);
    if (s->platform) {
        /* Nothing runs here to adopt, wire or recover: the platform
         * follows its streams; flowd admits their keys. */
        srv_keys_refresh(s);
        s->restore_done = true;
        srv_ready_update(s);
        return;
    }
    /* Every restored stream's survivors are adopted, with their recorded
     * endpoints, before anything is started: an instance started again
     * is given, and a consumer is known to read, the endpoints that
     * really exist, in its own stream and across destinations. */
    kill_untracked(s);
    srv_ckpt_regions_update(s);
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->restoring)
            adopted_inputs(s, st);
    srv_keys_refresh(s);
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->restoring)
            recover_lost(s, st);
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->restoring) {
            spawn_rest(s, st);
            srv_deployer_refresh(s, st);
        }
    srv_dlq_refresh(s);
    s->restore_done = true;
    srv_ready_update(s);
}

void srv_ready_update(srv *s)
{
    if (s->ready || !s->restore_done)
        return;
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->restoring)
            return;
    s->ready = true;
}

void srv_deployer_stop_all(srv *s)
{
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->host && st->host->pid > 0) {
            st->host->state = SRV_INST_UNDEPLOYING;
            srv_dep_stop_inst(st->host);
        }
    for (srv_stream *st = s->streams; st; st = st->next)
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                srv_inst *i = st->apps[k].inst[j];
                if (i->pid > 0) {
                    i->state = SRV_INST_UNDEPLOYING;
                    srv_dep_stop_inst(i);
                } else {
                    uv_timer_stop(i->timer);
                }
            }
}

void srv_deployer_free_all(srv *s)
{
    for (srv_stream *st = s->streams; st; st = st->next) {
        srv_tap_close(st);
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++)
                if (st->apps[k].inst[j]->proc)
                    s->os->detach(s->os_ud, st->apps[k].inst[j]->proc);
        if (st->host && st->host->proc)
            s->os->detach(s->os_ud, st->host->proc);
        srv_dep_release_deployment(st);
    }
    srv_ckpt_free(s);
    srv_dlq_close_all(s);
    if (s->platform) {
        s->platform->free(s->platform_ud);
        s->platform = NULL;
        s->platform_ud = NULL;
    }
}

bool srv_deployer_idle(srv *s)
{
    for (srv_stream *st = s->streams; st; st = st->next)
        if (srv_dep_stream_has_processes(st))
            return false;
    return true;
}
