/* Supervision: what an instance's exit means (restart with exponential
 * backoff, or failed after --max-restarts within the window), SIGTERM then
 * SIGKILL, and the tick (rates, staleness, logs, adopted processes' ends). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy.h"

static int64_t backoff_ms(int consecutive)
{
    int64_t d = BACKOFF_MIN_MS;
    for (int k = 1; k < consecutive && d < BACKOFF_MAX_MS; k++)
        d *= 2;
    return d > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d;
}

static void on_backoff(uv_timer_t *t)
{
    srv_inst *i = t->data;
    srv *s = i->app->stream->s;

    if (i->state == SRV_INST_RESTARTING)
        srv_dep_spawn_inst(s, i);
}

/* Why a clean exit of i (flowd did not stop it) was not the end of its
 * work, as a last_exit text; NULL when it was. An app says why its run
 * ends in its metrics (docs/apps.md); one that says nothing (an older
 * app) is taken at its word of exit status 0. A host speaks through its
 * apps. */
static const char *early_end(srv_inst *i)
{
    srv_stream *st = i->app->stream;
    const char *end = i->end;

    if (i->host)
        for (size_t k = 0; k < st->napps && !*end; k++)
            for (int j = 0; j < st->apps[k].ninst; j++)
                if (st->apps[k].inst[j]->end[0] &&
                    strcmp(st->apps[k].inst[j]->end, FLOW_CTL_END_INPUT))
                    end = st->apps[k].inst[j]->end;
    if (!*end || strcmp(end, FLOW_CTL_END_INPUT) == 0)
        return NULL;
    if (strcmp(end, FLOW_CTL_END_SIGNAL) == 0)
        return "stopped by a signal before the end of its input "
               "(exit status 0)";
    if (strcmp(end, FLOW_CTL_END_REQUEST) == 0)
        return "stopped on request before the end of its input "
               "(exit status 0)";
    return "failed before the end of its input (exit status 0)";
}

void srv_dep_inst_gone(srv *s, srv_inst *i, int64_t status, int sig)
{
    srv_stream *st = i->app->stream;
    srv_dapp *a = i->app;
    int64_t now = srv_dep_now(s);

    /* What the app said just before a clean exit (why it ended) may not
     * be read yet: read it while the instance still has its pid. */
    if (!sig && status == 0)
        srv_control_drain(s);
    if (sig)
        snprintf(i->last_exit, sizeof i->last_exit, "killed by signal %d", sig);
    else if (status >= 0)
        snprintf(i->last_exit, sizeof i->last_exit, "exit status %lld",
                 (long long)status);
    else
        snprintf(i->last_exit, sizeof i->last_exit,
                 "gone, exit status unknown");
    i->pid = 0;
    i->rate_in = i->rate_out = 0;
    i->ident_len = 0;
    /* Its url was the dead process's: REST shows none until the next
     * process reports its own (a port of 0 is a new port each time). */
    i->url[0] = '\0';
    uv_timer_stop(i->timer);
    if (i->host)
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                st->apps[k].inst[j]->pid = 0;
                st->apps[k].inst[j]->url[0] = '\0';
                uv_timer_stop(st->apps[k].inst[j]->timer);
            }

    if (i->removing) {
        /* A scale-down's instance; when an undeploy came meanwhile and
         * this was its last process, the undeploy ends here too. */
        srv_dep_remove_inst(s, i);
        if (!st->deployed && !srv_dep_stream_has_processes(st))
            srv_dep_finish_undeploy(s, st);
        else if (!st->deployed)
            srv_dep_undeploy_next(st);
        else
            srv_deployer_refresh(s, st);
        return;
    }
    if (i->state == SRV_INST_UNDEPLOYING || !st->deployed || s->stopping) {
        i->state = SRV_INST_STOPPED;
        if (!srv_dep_stream_has_processes(st) && !st->deployed)
            srv_dep_finish_undeploy(s, st);
        else if (!st->deployed)
            srv_dep_undeploy_next(st);
        return;
    }
    if (i->recovering) {
        /* Killed by its region's recovery: started with the region. */
        srv_dep_region_check(s, i);
        srv_deployer_refresh(s, st);
        return;
    }
    const char *early = !sig && status == 0 ? early_end(i) : NULL;
    if (early)
        snprintf(i->last_exit, sizeof i->last_exit, "%s", early);
    if (!sig && status == 0 && !early) {
        /* A clean exit at the end of the app's input: a source that
         * reached --count, or an app that saw the end of its stream.
         * Not restarted, by the next flowd either: its row stays, with
         * pid 0 (see adopt_inst). */
        i->state = SRV_INST_STOPPED;
        srv_dep_save_inst(s, i);
        srv_deployer_refresh(s, st);
        return;
    }
    if (now - i->started_ms > STABLE_MS)
        i->consecutive = 0;
    i->consecutive++;
    i->restart_ms[i->restarts % SRV_RESTART_RING] = now;
    i->restarts++;
    int recent = 0;
    for (int k = 0; k < SRV_RESTART_RING && k < i->restarts; k++)
        if (now - i->restart_ms[k] <= (int64_t)a->restart_window_s * 1000)
            recent++;
    if (recent <= a->max_restarts && st->guarantee != SRV_GUARANTEE_NONE &&
        !st->host) {
        /* Its state is in its region's last checkpoint: the region
         * restarts from it as one. */
        srv_dep_region_fault(s, i, i->last_exit);
        srv_deployer_refresh(s, st);
        return;
    }
    if (recent > a->max_restarts) {
        i->state = SRV_INST_FAILED;
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr, "flowd: [%s] %s; %d restarts within %d s, giving up\n",
                id, i->last_exit, recent, a->restart_window_s);
        srv_dep_forget_inst(s, i);
    } else {
        i->state = SRV_INST_RESTARTING;
        uv_timer_start(i->timer, on_backoff,
                       (uint64_t)backoff_ms(i->consecutive), 0);
    }
    srv_deployer_refresh(s, st);
}

void srv_deployer_exited(srv *s, srv_inst *i, int64_t status, int sig)
{
    i->proc = NULL;
    srv_dep_inst_gone(s, i, status, sig);
}

/* An adopted instance's process is gone: ends it with the exit status it
 * recorded, or as killed when it recorded none. */
static void adopted_gone(srv *s, srv_inst *i)
{
    int64_t status = srv_dep_recorded_exit(s, i, i->pid);

    srv_dep_inst_gone(s, i, status, status < 0 ? SIGKILL : 0);
}

static void on_kill_timer(uv_timer_t *t)
{
    srv_inst *i = t->data;
    srv *s = i->app->stream->s;

    if (i->pid <= 0)
        return;
    if (i->adopted) {
        /* Not our child: poll until it is gone. */
        if (!srv_dep_pid_matches(s, i->pid, i->start_ticks)) {
            adopted_gone(s, i);
            return;
        }
        if (srv_dep_now(s) >= i->stop_deadline_ms)
            srv_dep_kill(s, i, SIGKILL);
        uv_timer_start(t, on_kill_timer, 20, 0);
        return;
    }
    srv_dep_kill(s, i, SIGKILL);
}

void srv_dep_stop_inst(srv_inst *i)
{
    srv *s = i->app->stream->s;

    uv_timer_stop(i->timer);
    if (i->app->stream->host && !i->host) {
        /* Part of the host process: stopped with it. */
        return;
    }
    if (i->pid <= 0) {
        if (!i->removing)
            i->state = SRV_INST_STOPPED;
        return;
    }
    srv_dep_kill(s, i, SIGTERM);
    i->stop_deadline_ms = srv_dep_now(s) + i->app->stop_timeout_ms;
    if (!i->app->stream->deployed && i->app->stream->stop_deadline_ms &&
        i->app->stream->stop_deadline_ms < i->stop_deadline_ms)
        i->stop_deadline_ms = i->app->stream->stop_deadline_ms;
    int64_t left = i->stop_deadline_ms - srv_dep_now(s);
    uv_timer_start(i->timer, on_kill_timer,
                   i->adopted ? 20 : (uint64_t)(left > 0 ? left : 0), 0);
}

static void cap_log(const char *path)
{
    char old[PATH_MAX + 80];
    char *buf = malloc(LOG_CAP / 4);
    FILE *in = fopen(path, "r");

    snprintf(old, sizeof old, "%s.1", path);
    if (buf && in && fseek(in, -(long)(LOG_CAP / 4), SEEK_END) == 0) {
        size_t n = fread(buf, 1, LOG_CAP / 4, in);
        FILE *out = fopen(old, "w");
        if (out) {
            fwrite(buf, 1, n, out);
            fclose(out);
        }
    }
    if (in)
        fclose(in);
    free(buf);
    if (truncate(path, 0) != 0)
        return;
}

void srv_deployer_tick(srv *s)
{
    char path[PATH_MAX + 64];
    struct stat sb;
    int64_t now = srv_dep_now(s);

    /* A failing store is tried once a tick, so that it is known to be
     * back even when nothing else writes. */
    if (s->store.failing)
        srv_store_probe(&s->store);
    for (srv_stream *st = s->streams; st; st = st->next) {
        srv_inst *h = st->host;
        if (h && !s->store.failing)
            srv_dep_sync_row(s, h);
        if (h && h->adopted && h->pid > 0 && h->state != SRV_INST_UNDEPLOYING &&
            !srv_dep_pid_matches(s, h->pid, h->start_ticks))
            adopted_gone(s, h);
        for (size_t k = 0; k < st->napps; k++) {
            srv_dapp *a = &st->apps[k];
            for (int j = 0; j < a->ninst; j++) {
                srv_inst *i = a->inst[j];
                if (!st->host && !s->store.failing)
                    srv_dep_sync_row(s, i);
                /* Rates over the last second. */
                i->rate_in = (double)(i->m.in - i->prev_in);
                i->rate_out = (double)(i->m.out - i->prev_out);
                if (i->m.in < i->prev_in)
                    i->rate_in = 0;
                if (i->m.out < i->prev_out)
                    i->rate_out = 0;
                i->prev_in = i->m.in;
                i->prev_out = i->m.out;
                srv_dep_window_sample(i);
                i->stale = i->state == SRV_INST_DEPLOYED && i->pid > 0 &&
                           now - i->last_seen_ms > SRV_STALE_MS;
                if (i->stale && st->guarantee != SRV_GUARANTEE_NONE &&
                    !st->host && !i->recovering) {
                    srv_dep_region_fault(s, i,
                                         "sent no metrics for 3 s (stopped?)");
                    continue;
                }
                /* Adopted processes are not our children:
                 * notice their end by polling. */
                if (i->adopted && i->pid > 0 &&
                    i->state != SRV_INST_UNDEPLOYING &&
                    !srv_dep_pid_matches(s, i->pid, i->start_ticks)) {
                    bool rem = i->removing;
                    adopted_gone(s, i);
                    if (rem)
                        j--; /* it left the array */
                    continue;
                }
                /* Cap the log: keep the newest part in
                 * .1 and start the file again (the app
                 * writes with O_APPEND). */
                srv_dep_log_path(s, i, path, sizeof path);
                if (stat(path, &sb) == 0 && sb.st_size > LOG_CAP)
                    cap_log(path);
            }
        }
        /* Staleness and error ratios move with time alone. */
        if (st->deployed)
            srv_deployer_refresh(s, st);
    }
}
