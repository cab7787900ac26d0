/* Instances in memory and in the store: their making and freeing, their
 * rows (instances, output_groups) and their directories and logs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy.h"

void srv_dep_window_sample(srv_inst *i)
{
    uint64_t in = i->m.in + i->m.rejected;
    uint64_t events = in ? in : i->m.out + i->m.errors;
    uint64_t errors = i->m.errors + i->m.rejected;
    int n = i->win_n;

    /* Counts that went back come from a new process: start again. */
    if (n > 0 &&
        (events < i->win[n - 1].events || errors < i->win[n - 1].errors))
        n = 0;
    if (n == SRV_ERR_WINDOW_S + 1) {
        memmove(&i->win[0], &i->win[1], (size_t)(n - 1) * sizeof i->win[0]);
        n--;
    }
    i->win[n].events = events;
    i->win[n].errors = errors;
    i->win_n = n + 1;
}

void srv_dep_log_path(srv *s, const srv_inst *i, char *buf, size_t len)
{
    srv_fmt(buf, len, "%s/logs/%s.%s-%d.log", s->cfg.data_dir,
            i->app->stream->name, i->app->label, i->index);
}

int64_t srv_dep_recorded_exit(srv *s, const srv_inst *i, int pid)
{
    char dir[PATH_MAX + 128], path[PATH_MAX + 160], buf[64];
    int rpid = 0, status = -1;

    if (srv_inst_dir(s, i, dir, sizeof dir) ||
        srv_fmt(path, sizeof path, "%s/.flow-exit", dir))
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    if (sscanf(buf, "%d %d", &rpid, &status) != 2 || rpid != pid || status < 0)
        return -1;
    return status;
}

int srv_dep_prepare_inst_dir(srv *s, const srv_inst *i, char *dir, size_t len)
{
    char path[PATH_MAX + 160];

    if (srv_inst_dir(s, i, dir, len)) {
        dir[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdir(dir, 0700) && errno != EEXIST)
        return -1;
    if (srv_fmt(path, sizeof path, "%s/.flow-exit", dir) == 0 && unlink(path) &&
        errno != ENOENT)
        return -1;
    return 0;
}

const char *srv_dep_store_label(const srv_inst *i)
{
    return i->host ? "*host*" : i->app->label;
}

void srv_dep_sync_hosted(srv_stream *st)
{
    srv_inst *h = st->host;

    if (!h)
        return;
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++) {
            srv_inst *i = st->apps[k].inst[j];
            i->restarts = h->restarts;
            snprintf(i->last_exit, sizeof i->last_exit, "%s", h->last_exit);
            if (h->pid > 0 && i->pid == h->pid)
                continue;
            i->pid = h->pid;
            i->started_ms = h->started_ms;
            i->start_ticks = h->start_ticks;
            i->ident_len = 0;
            i->state = h->pid > 0 ? SRV_INST_DEPLOYING : h->state;
            if (h->pid <= 0)
                i->rate_in = i->rate_out = 0;
        }
}

/* Records instance i as run by process p (i itself, or the host of a
 * single-packaged stream), with the endpoints it was started with. */
static int save_row(srv *s, const srv_inst *i, const char *label,
                    const srv_inst *p)
{
    int rc = srv_store_exec(
        &s->store,
        "INSERT OR REPLACE INTO instances(stream, label, idx, "
        "pid, started_at, output, tap) VALUES (?, ?, ?, ?, ?, ?, "
        "?)",
        "ssiiiss", i->app->stream->name, label, (int64_t)i->index,
        (int64_t)p->pid, (int64_t)p->start_ticks, i->output, i->tap);
    /* The error output is kept beside the output groups, under a name no
     * consumer group can have (srv_dep_take_groups). */
    if (!rc && i->errors[0])
        rc = srv_store_exec(&s->store,
                            "INSERT OR REPLACE INTO output_groups(stream, "
                            "label, idx, consumer, endpoint) VALUES (?, ?, "
                            "?, ?, ?)",
                            "ssiss", i->app->stream->name, label,
                            (int64_t)i->index, SRV_DEP_ERRORS_ROW, i->errors);
    return rc;
}

void srv_dep_save_inst(srv *s, srv_inst *i)
{
    srv_stream *st = i->app->stream;

    i->row_stale = save_row(s, i, srv_dep_store_label(i), i) != 0;
    if (!i->host)
        return;
    for (size_t k = 0; k < st->napps && !i->row_stale; k++)
        i->row_stale =
            save_row(s, st->apps[k].inst[0], st->apps[k].label, i) != 0;
}

void srv_dep_forget_inst(srv *s, srv_inst *i)
{
    if (i->host) {
        /* The host's row and its apps' are all the stream has. */
        i->row_stale =
            srv_store_exec(&s->store, "DELETE FROM instances WHERE stream=?",
                           "s", i->app->stream->name) != 0;
        return;
    }
    i->row_stale =
        srv_store_exec(&s->store,
                       "DELETE FROM instances WHERE stream=? AND "
                       "label=? AND idx=?",
                       "ssi", i->app->stream->name, srv_dep_store_label(i),
                       (int64_t)i->index) != 0;
}

void srv_dep_sync_row(srv *s, srv_inst *i)
{
    if (!i->row_stale)
        return;
    if (i->pid > 0 || i->state == SRV_INST_STOPPED)
        srv_dep_save_inst(s, i);
    else if (i->state == SRV_INST_FAILED)
        srv_dep_forget_inst(s, i);
    for (int k = 0; k < i->ngroups && !i->row_stale; k++)
        srv_dep_save_group(s, i, &i->groups[k]);
}

void srv_dep_unlink_groups(const srv_inst *i)
{
    for (int k = 0; k < i->ngroups; k++)
        srv_dep_unlink_ipc(i->groups[k].ep);
}

srv_inst *srv_dep_inst_new(srv *s, srv_dapp *a, int index)
{
    srv_inst *i = calloc(1, sizeof *i);

    if (!i)
        return NULL;
    i->app = a;
    i->index = index;
    i->state = SRV_INST_DEPLOYING;
    i->timer = malloc(sizeof *i->timer);
    if (!i->timer) {
        free(i);
        return NULL;
    }
    uv_timer_init(s->loop, i->timer);
    i->timer->data = i;
    return i;
}

bool srv_dep_stream_has_processes(const srv_stream *st)
{
    if (st->host && st->host->pid > 0)
        return true;
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++)
            if (st->apps[k].inst[j]->pid > 0)
                return true;
    return false;
}

void srv_dep_remove_inst(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;

    srv_dep_forget_inst(s, i);
    srv_dep_forget_group_rows(s, i, NULL);
    srv_dep_unlink_ipc(i->output);
    srv_dep_unlink_ipc(i->tap);
    srv_dep_unlink_ipc(i->errors);
    for (int k = 0; k < a->ninst; k++) {
        if (a->inst[k] == i) {
            memmove(&a->inst[k], &a->inst[k + 1],
                    (size_t)(a->ninst - k - 1) * sizeof a->inst[0]);
            a->ninst--;
            break;
        }
    }
    srv_dep_unlink_groups(i);
    srv_inst_free(i);
}
