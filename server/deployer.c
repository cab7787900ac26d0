/* The local deployer: one process per app instance (uv_spawn of an
 * absolute path, an allowlisted environment, one argv element per option,
 * never a shell), ipc:// or loopback tcp:// endpoints allocated here,
 * supervision with exponential backoff, SIGTERM then SIGKILL on undeploy,
 * adoption of surviving apps after a flowd restart. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "props.h"
#include "server.h"

#define LOG_CAP        (1024 * 1024)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define STABLE_MS      10000

static const char *const env_allow[] = {
    "PATH",         "HOME",          "LANG",         "LC_ALL", "TZ",
    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR",
};

static void spawn_inst(srv *s, srv_inst *i);
static void inst_release(srv_inst *i);

static void window_sample(srv_inst *i)
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

/* /proc/<pid>/stat field 22: the start time in clock ticks since boot. */
static uint64_t proc_start_ticks(int pid)
{
    char path[64], buf[1024];
    uint64_t t = 0;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* Fields after the command: state is 3; starttime is 22. */
    p += 2;
    if (*p == 'Z' || *p == 'X')
        return 0;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (p)
        t = strtoull(p, NULL, 10);
    return t;
}

/* Is pid still the process we started (same start time)? */
static bool pid_matches(int pid, uint64_t ticks)
{
    if (pid <= 0)
        return false;
    uint64_t now = proc_start_ticks(pid);
    return now != 0 && now == ticks;
}

/* A loopback TCP port free now (the kernel's pick), or -1 with errno set
 * when none can be had (out of descriptors or of ephemeral ports). */
static int free_tcp_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    if (fd < 0)
        return -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    int e = errno;
    close(fd);
    if (port <= 0) {
        errno = port == 0 ? EADDRNOTAVAIL : e;
        return -1;
    }
    return port;
}

/* Is the port of a loopback tcp:// endpoint free to bind? An endpoint
 * of another kind is never moved, so it counts as free. SO_REUSEADDR as
 * ZeroMQ's listeners have: connections of the process that bound it
 * before, still in TIME_WAIT, do not make it taken; a listener does. */
static bool tcp_free(const char *ep)
{
    static const char pre[] = "tcp://127.0.0.1:";
    struct sockaddr_in a = { .sin_family = AF_INET };
    int one = 1;

    if (strncmp(ep, pre, sizeof pre - 1) != 0)
        return true;
    char *end;
    long port = strtol(ep + sizeof pre - 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return true;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
              bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Does app a write to a named destination (`... > :dest`)? Its instances
 * then have no shared output but one output group per consumer group. */
static bool feeds_destination(const srv_dapp *a)
{
    return a->pos + 1 == (int)a->stream->napps && a->stream->ast->sink;
}

/* Writes a loopback tcp:// endpoint on a port free now into buf; -1 with
 * errno set, buf untouched, when no port is free. */
static int tcp_endpoint(char *buf, size_t len)
{
    int port = free_tcp_port();

    if (port < 0)
        return -1;
    snprintf(buf, len, "tcp://127.0.0.1:%d", port);
    return 0;
}

/* Allocates the output (and tap) endpoint of an instance; -1 with errno
 * set when it needs a TCP port and none is free. */
static int alloc_endpoints(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;
    bool sink = a->pos + 1 == (int)a->stream->napps && !a->stream->ast->sink;

    i->output[0] = i->tap[0] = '\0';
    if (sink)
        return 0;
    if (a->tcp) {
        if (tcp_endpoint(i->output, sizeof i->output) ||
            tcp_endpoint(i->tap, sizeof i->tap))
            return -1;
    } else if (srv_fmt(i->output, sizeof i->output, "ipc://%s/run/%s.%s.%d",
                       s->cfg.data_dir, a->stream->name, a->label, i->index) ||
               strlen(i->output) >= 100 ||
               srv_fmt(i->tap, sizeof i->tap, "ipc://%s/run/%s.%s.%d.tap",
                       s->cfg.data_dir, a->stream->name, a->label, i->index) ||
               strlen(i->tap) >= 100) {
        /* sun_path holds 108 bytes: fall back to tcp for long paths. */
        if (tcp_endpoint(i->output, sizeof i->output) ||
            tcp_endpoint(i->tap, sizeof i->tap))
            return -1;
    }
    if (feeds_destination(a))
        i->output[0] = '\0';
    return 0;
}

static void unlink_ipc(const char *ep);

/* Records producer instance u's group g, which a flowd adopting u (or
 * starting it again) takes back. The row's consumer is the group's name.
 * When the store cannot be written, u is marked row_stale: sync_row
 * writes its groups again with its row. */
static void save_group(srv *s, srv_inst *u, const srv_group *g)
{
    if (srv_store_exec(&s->store,
                       "INSERT OR REPLACE INTO output_groups(stream, label, "
                       "idx, consumer, endpoint) VALUES (?, ?, ?, ?, ?)",
                       "ssiss", u->app->stream->name, u->app->label,
                       (int64_t)u->index, g->group, g->ep))
        u->row_stale = true;
}

/* Forgets the record of u's group c, or of every group of u when c is
 * NULL. */
static void forget_group_rows(srv *s, const srv_inst *u, const char *c)
{
    srv_store_exec(&s->store,
                   "DELETE FROM output_groups WHERE stream=?1 AND "
                   "label=?2 AND idx=?3 AND (?4 IS NULL OR consumer=?4)",
                   "ssis", u->app->stream->name, u->app->label,
                   (int64_t)u->index, c);
}

/* Set while flowd works out what adopted instances read: only the groups
 * taken back from the store exist then, none is made. */
static bool recorded_only;

/*
 * The output group of producer instance u that consumer stream c reads:
 * the one of c's consumer group (srv_stream_group), shared by every
 * stream of that group, made when first asked for (unless recorded_only):
 * ipc://DATA/run/STREAM.LABEL.N.to.GROUP (tcp like the instance's other
 * endpoints when the path is too long or the app uses tcp). NULL when out of
 * memory or of free TCP ports.
 */
static const char *group_of(srv *s, srv_inst *u, const srv_stream *c)
{
    srv_dapp *a = u->app;
    const char *name = srv_stream_group(c);

    /* A stored definition may predate the check of group names; such a
     * name never becomes a path. */
    if (!name || !srv_name_ok(name))
        return NULL;
    for (int k = 0; k < u->ngroups; k++)
        if (strcmp(u->groups[k].group, name) == 0)
            return u->groups[k].ep;
    if (recorded_only)
        return NULL;
    srv_group *n = realloc(u->groups, (size_t)(u->ngroups + 1) * sizeof *n);
    if (!n)
        return NULL;
    u->groups = n;
    srv_group *g = &n[u->ngroups++];
    snprintf(g->group, sizeof g->group, "%s", name);
    if ((a->tcp ||
         srv_fmt(g->ep, sizeof g->ep, "ipc://%s/run/%s.%s.%d.to.%s",
                 s->cfg.data_dir, a->stream->name, a->label, u->index, name) ||
         strlen(g->ep) >= 100) &&
        tcp_endpoint(g->ep, sizeof g->ep)) {
        u->ngroups--;
        return NULL;
    }
    save_group(s, u, g);
    return g->ep;
}

/* Takes back the output groups recorded for producer instance u (adopted,
 * or started again after a flowd restart), so that it and its consumers
 * meet on the endpoints they already have. */
static void take_groups(srv *s, srv_inst *u)
{
    sqlite3_stmt *q = srv_store_query(
        &s->store,
        "SELECT consumer, endpoint FROM output_groups WHERE stream=? AND "
        "label=? AND idx=? ORDER BY consumer",
        "ssi", u->app->stream->name, u->app->label, (int64_t)u->index);

    while (q && sqlite3_step(q) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(q, 0);
        const char *ep = (const char *)sqlite3_column_text(q, 1);
        bool have = false;
        for (int k = 0; k < u->ngroups && !have; k++)
            have = strcmp(u->groups[k].group, c) == 0;
        if (have || !ep[0])
            continue;
        srv_group *n = realloc(u->groups, (size_t)(u->ngroups + 1) * sizeof *n);
        if (!n)
            break;
        u->groups = n;
        srv_group *g = &n[u->ngroups++];
        snprintf(g->group, sizeof g->group, "%s", c);
        snprintf(g->ep, sizeof g->ep, "%s", ep);
    }
    sqlite3_finalize(q);
}

/* Forgets producer instance u's group named name. */
static void forget_group(srv *s, srv_inst *u, const char *name)
{
    for (int k = 0; k < u->ngroups; k++)
        if (strcmp(u->groups[k].group, name) == 0) {
            forget_group_rows(s, u, name);
            unlink_ipc(u->groups[k].ep);
            u->groups[k] = u->groups[--u->ngroups];
            return;
        }
}

/* The endpoint producer instance u's consumers in stream c read: its group
 * for c, or its shared output. */
static const char *output_for(srv *s, srv_inst *u, const srv_stream *c)
{
    if (feeds_destination(u->app) && c != u->app->stream)
        return group_of(s, u, c);
    return u->output;
}

/* Appends to list what every running instance of a gives stream c to read:
 * its output, or its group for c when a feeds a destination. */
static void add_outputs(srv *s, const srv_dapp *a, const srv_stream *c,
                        char *list, size_t len)
{
    for (int k = 0; k < a->ninst; k++) {
        srv_inst *u = a->inst[k];
        size_t off = strlen(list);
        const char *ep = u->removing ? NULL : output_for(s, u, c);
        if (!ep || !ep[0])
            continue;
        snprintf(list + off, len - off, "%s%s", off ? "," : "", ep);
    }
}

/* Is o a deployed stream that writes to destination dest (`... > :dest`)? */
static bool writes_dest(const srv_stream *o, const char *dest)
{
    return o->deployed && o->ast && o->ast->sink && o->napps &&
           strcmp(o->ast->sink->name, dest) == 0;
}

/* Is c a deployed stream that reads destination dest (`:dest > ...`; a
 * tap reads an app, not a destination)? */
static bool reads_dest(const srv_stream *c, const char *dest)
{
    return c->deployed && c->ast && c->ast->source && !c->tap && c->napps &&
           strcmp(c->ast->source->name, dest) == 0;
}

/* The apps whose outputs feed app a (the previous app, or the producers of
 * its source destination). */
static void collect_inputs(srv *s, const srv_dapp *a, char *list, size_t len)
{
    srv_stream *st = a->stream;

    list[0] = '\0';
    if (a->pos > 0) {
        add_outputs(s, &st->apps[a->pos - 1], st, list, len);
        return;
    }
    if (st->tap) {
        snprintf(list, len, "%s", srv_tap_endpoint(st));
        return;
    }
    if (!st->ast->source)
        return;
    for (srv_stream *o = s->streams; o; o = o->next)
        if (writes_dest(o, st->ast->source->name))
            add_outputs(s, &o->apps[o->napps - 1], st, list, len);
}

/* The apps fed by a's outputs. */
static void for_each_consumer(srv *s, srv_dapp *a,
                              void (*fn)(srv *s, srv_dapp *c, void *ud),
                              void *ud)
{
    srv_stream *st = a->stream;

    if (a->pos + 1 < (int)st->napps) {
        fn(s, &st->apps[a->pos + 1], ud);
        return;
    }
    if (!st->ast->sink)
        return;
    for (srv_stream *o = s->streams; o; o = o->next)
        if (reads_dest(o, st->ast->sink->name))
            fn(s, &o->apps[0], ud);
}

struct connect_ud {
    const char *type;
    srv_inst *producer;
};

/* Tells consumer app c's instances that what producer gives it to read
 * comes or goes. */
static void send_connect(srv *s, srv_dapp *c, void *ud)
{
    struct connect_ud *cu = ud;
    const char *ep = output_for(s, cu->producer, c->stream);

    if (!ep || !ep[0])
        return;
    for (int k = 0; k < c->ninst; k++)
        srv_control_send_connect(s, c->inst[k], cu->type, "input", ep);
}

/* Sends producer instance u "connect" of its output group for every
 * deployed stream that reads its destination. */
static void connect_groups(srv *s, srv_inst *u)
{
    srv_stream *st = u->app->stream;

    for (srv_stream *c = s->streams; c; c = c->next) {
        if (!reads_dest(c, st->ast->sink->name))
            continue;
        const char *ep = group_of(s, u, c);
        if (ep)
            srv_control_send_connect(s, u, "connect", "output", ep);
    }
}

/* Is another deployed stream than c in c's consumer group of the
 * destination c reads? */
static bool group_shared(srv *s, const srv_stream *c)
{
    const char *name = srv_stream_group(c);

    for (srv_stream *o = s->streams; o; o = o->next) {
        if (o == c || !reads_dest(o, c->ast->source->name))
            continue;
        const char *og = srv_stream_group(o);
        if (og && name && strcmp(og, name) == 0)
            return true;
    }
    return false;
}

/* Consumer stream c comes (connect) or goes (disconnect): the producers of
 * its source destination add or remove the output group of its consumer
 * group, which goes only with the group's last deployed stream. */
static void producers_groups(srv *s, srv_stream *c, bool connect)
{
    if (!c->ast || !c->ast->source || c->tap)
        return;
    if (!connect && group_shared(s, c))
        return;
    for (srv_stream *o = s->streams; o; o = o->next) {
        if (!writes_dest(o, c->ast->source->name))
            continue;
        srv_dapp *last = &o->apps[o->napps - 1];
        for (int j = 0; j < last->ninst; j++) {
            srv_inst *u = last->inst[j];
            const char *ep = group_of(s, u, c);
            if (!ep)
                continue;
            srv_control_send_connect(s, u, connect ? "connect" : "disconnect",
                                     "output", ep);
            if (!connect)
                forget_group(s, u, srv_stream_group(c));
        }
    }
}

static void log_path(srv *s, const srv_inst *i, char *buf, size_t len)
{
    srv_fmt(buf, len, "%s/logs/%s.%s-%d.log", s->cfg.data_dir,
            i->app->stream->name, i->app->label, i->index);
}

/* The exit status an instance that is not flowd's child recorded in its
 * directory: 0 or more, or -1 when it recorded none (it was killed, or
 * never told where). Only a record of pid counts. */
static int64_t recorded_exit(srv *s, const srv_inst *i, int pid)
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

/* Makes instance i's directory (its path in dir, empty when too long) and
 * removes a recorded exit of an earlier process, so that what is found
 * there later is the new process's. Returns 0, or -1 (errno). */
static int prepare_inst_dir(srv *s, const srv_inst *i, char *dir, size_t len)
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

/* The label an instance is stored under (the host has its own). */
static const char *store_label(const srv_inst *i)
{
    return i->host ? "*host*" : i->app->label;
}

/* Mirrors the host process of a single-packaged stream onto its apps'
 * instances. */
static void sync_hosted(srv_stream *st)
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
    return srv_store_exec(
        &s->store,
        "INSERT OR REPLACE INTO instances(stream, label, idx, "
        "pid, started_at, output, tap) VALUES (?, ?, ?, ?, ?, ?, "
        "?)",
        "ssiiiss", i->app->stream->name, label, (int64_t)i->index,
        (int64_t)p->pid, (int64_t)p->start_ticks, i->output, i->tap);
}

/* A host is recorded with a row of its own and one per hosted app, which
 * holds that app's endpoints. When the store cannot be written, i is
 * marked row_stale and srv_deployer_tick writes it again until it can. */
static void save_inst(srv *s, srv_inst *i)
{
    srv_stream *st = i->app->stream;

    i->row_stale = save_row(s, i, store_label(i), i) != 0;
    if (!i->host)
        return;
    for (size_t k = 0; k < st->napps && !i->row_stale; k++)
        i->row_stale =
            save_row(s, st->apps[k].inst[0], st->apps[k].label, i) != 0;
}

/* Forgets i's record; marks it row_stale when the store cannot be
 * written, like save_inst. */
static void forget_inst(srv *s, srv_inst *i)
{
    if (i->host) {
        /* The host's row and its apps' are all the stream has. */
        i->row_stale =
            srv_store_exec(&s->store, "DELETE FROM instances WHERE stream=?",
                           "s", i->app->stream->name) != 0;
        return;
    }
    i->row_stale = srv_store_exec(&s->store,
                                  "DELETE FROM instances WHERE stream=? AND "
                                  "label=? AND idx=?",
                                  "ssi", i->app->stream->name, store_label(i),
                                  (int64_t)i->index) != 0;
}

/* Writes again the record of an instance whose last write failed: its
 * process, or that it completed, or, when it failed, no row. */
static void sync_row(srv *s, srv_inst *i)
{
    if (!i->row_stale)
        return;
    if (i->pid > 0 || i->state == SRV_INST_STOPPED)
        save_inst(s, i);
    else if (i->state == SRV_INST_FAILED)
        forget_inst(s, i);
    for (int k = 0; k < i->ngroups && !i->row_stale; k++)
        save_group(s, i, &i->groups[k]);
}

static void on_proc_close(uv_handle_t *h)
{
    free(h);
}

static void inst_free(srv_inst *i)
{
    for (int k = 0; k < i->ngroups; k++)
        unlink_ipc(i->groups[k].ep);
    free(i->groups);
    free(i->spawn_inputs);
    free(i);
}

static void on_timer_close(uv_handle_t *h)
{
    srv_inst *i = h->data;
    free(h);
    inst_free(i);
}

/* Is ep one of the comma-separated endpoints of list? */
static bool list_has(const char *list, const char *ep)
{
    size_t n = strlen(ep);

    for (const char *p = strstr(list, ep); p; p = strstr(p + 1, ep))
        if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
            return true;
    return false;
}

/* Sends i "type" of its input for every endpoint of list that other does
 * not hold. list is consumed by strtok_r. */
static void send_missing(srv *s, srv_inst *i, const char *type, char *list,
                         const char *other)
{
    for (char *save = NULL, *ep = strtok_r(list, ",", &save); ep;
         ep = strtok_r(NULL, ",", &save))
        if (!list_has(other, ep))
            srv_control_send_connect(s, i, type, "input", ep);
}

/* Control messages sent before an instance's hello are dropped, so at its
 * hello it is told what changed since it was started (or adopted): inputs
 * that appeared (a producer of its destination deployed later, a scaled
 * up or restarted producer on a new tcp:// port) and those that went. */
void srv_inst_catch_up(srv *s, srv_inst *i)
{
    char now[8192], had[8192];
    srv_dapp *a = i->app;

    if (feeds_destination(a))
        connect_groups(s, i);
    if ((a->pos == 0 && a->stream->tap) || (a->pos > 0 && a->stream->host))
        return;
    collect_inputs(s, a, now, sizeof now);
    snprintf(had, sizeof had, "%s", i->spawn_inputs ? i->spawn_inputs : "");
    char *cur = strdup(now);
    send_missing(s, i, "connect", now, had);
    if (cur) {
        send_missing(s, i, "disconnect", had, cur);
        free(i->spawn_inputs);
        i->spawn_inputs = cur;
    }
}

static void inst_release(srv_inst *i)
{
    if (i->timer) {
        uv_timer_stop(i->timer);
        uv_close((uv_handle_t *)i->timer, on_timer_close);
    } else {
        inst_free(i);
    }
}

static srv_inst *inst_new(srv *s, srv_dapp *a, int index)
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

static void unlink_ipc(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0)
        unlink(ep + 6);
}

/* Everything of a stream's deployment is gone: free it and answer those
 * who waited. */
static void finish_undeploy(srv *s, srv_stream *st)
{
    for (size_t k = 0; k < st->napps; k++) {
        srv_dapp *a = &st->apps[k];
        for (int j = 0; j < a->ninst; j++) {
            unlink_ipc(a->inst[j]->output);
            unlink_ipc(a->inst[j]->tap);
            inst_release(a->inst[j]);
        }
        free(a->inst);
        for (int j = 0; j < a->nopts; j++)
            free(a->opts[j]);
        free(a->opts);
    }
    free(st->apps);
    st->apps = NULL;
    st->napps = 0;
    if (st->host) {
        inst_release(st->host);
        st->host = NULL;
    }
    st->single = false;
    srv_tap_close(st);
    srv_tap_refresh(s);
    srv_deployer_refresh(s, st);
    if (s->deployer_ops)
        s->deployer_ops->undeployed(s->deployer_ud, st);
}

static bool stream_has_processes(const srv_stream *st)
{
    if (st->host && st->host->pid > 0)
        return true;
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++)
            if (st->apps[k].inst[j]->pid > 0)
                return true;
    return false;
}

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
        spawn_inst(s, i);
}

static void remove_inst(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;

    forget_inst(s, i);
    forget_group_rows(s, i, NULL);
    unlink_ipc(i->output);
    unlink_ipc(i->tap);
    for (int k = 0; k < a->ninst; k++) {
        if (a->inst[k] == i) {
            memmove(&a->inst[k], &a->inst[k + 1],
                    (size_t)(a->ninst - k - 1) * sizeof a->inst[0]);
            a->ninst--;
            break;
        }
    }
    inst_release(i);
}

/* An instance's process is gone (exit status or noticed by polling). */
static void stop_inst(srv_inst *i);
static void undeploy_next(srv_stream *st);

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

static void inst_gone(srv *s, srv_inst *i, int64_t status, int sig)
{
    srv_stream *st = i->app->stream;
    srv_dapp *a = i->app;
    int64_t now = srv_now_ms();

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
    uv_timer_stop(i->timer);
    if (i->host)
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                st->apps[k].inst[j]->pid = 0;
                uv_timer_stop(st->apps[k].inst[j]->timer);
            }

    if (i->removing) {
        /* A scale-down's instance; when an undeploy came meanwhile and
         * this was its last process, the undeploy ends here too. */
        remove_inst(s, i);
        if (!st->deployed && !stream_has_processes(st))
            finish_undeploy(s, st);
        else if (!st->deployed)
            undeploy_next(st);
        else
            srv_deployer_refresh(s, st);
        return;
    }
    if (i->state == SRV_INST_UNDEPLOYING || !st->deployed || s->stopping) {
        i->state = SRV_INST_STOPPED;
        if (!stream_has_processes(st) && !st->deployed)
            finish_undeploy(s, st);
        else if (!st->deployed)
            undeploy_next(st);
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
        save_inst(s, i);
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
    if (recent > a->max_restarts) {
        i->state = SRV_INST_FAILED;
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr, "flowd: [%s] %s; %d restarts within %d s, giving up\n",
                id, i->last_exit, recent, a->restart_window_s);
        forget_inst(s, i);
    } else {
        i->state = SRV_INST_RESTARTING;
        uv_timer_start(i->timer, on_backoff,
                       (uint64_t)backoff_ms(i->consecutive), 0);
    }
    srv_deployer_refresh(s, st);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    srv_inst *i = p->data;

    uv_close((uv_handle_t *)p, on_proc_close);
    if (!i)
        return;
    i->proc = NULL;
    inst_gone(i->app->stream->s, i, status, sig);
}

/* A growing argv of owned strings. */
typedef struct strv {
    char **v;
    int n, cap;
    bool oom;
} strv;

static void strv_add(strv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void strv_add(strv *a, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    if (a->n + 2 > a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        char **nv = realloc(a->v, (size_t)cap * sizeof *nv);
        if (!nv) {
            a->oom = true;
            return;
        }
        a->v = nv;
        a->cap = cap;
    }
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
        a->oom = true;
    }
    va_end(ap);
    if (s) {
        a->v[a->n++] = s;
        a->v[a->n] = NULL;
    }
}

static void strv_free(strv *a)
{
    for (int k = 0; k < a->n; k++)
        free(a->v[k]);
    free(a->v);
}

/* The command line of one app instance (without the program), which
 * reads its transport keys from the file keys. */
static void app_args(srv *s, srv_inst *i, const char *keys, strv *av)
{
    srv_dapp *a = i->app;
    char inputs[8192];
    char dir[PATH_MAX];

    for (int k = 0; k < a->nopts; k++)
        strv_add(av, "%s", a->opts[k]);
    collect_inputs(s, a, inputs, sizeof inputs);
    free(i->spawn_inputs);
    i->spawn_inputs = strdup(inputs);
    if (inputs[0] && (!a->stream->host || a->pos == 0))
        strv_add(av, "--flow.input=%s", inputs);
    if (i->output[0])
        strv_add(av, "--flow.output=%s", i->output);
    if (i->tap[0])
        strv_add(av, "--flow.tap=%s", i->tap);
    strv_add(av, "--flow.control=%s", s->ctl_endpoint);
    strv_add(av, "--flow.keys=%s", keys);
    strv_add(av, "--flow.stream=%s", a->stream->name);
    strv_add(av, "--flow.label=%s", a->label);
    strv_add(av, "--flow.instance=%d", i->index);
    /* The instance's own directory, where its relative paths resolve; it
     * is kept after undeploy, so the files written there stay. */
    srv_inst_dir(s, i, dir, sizeof dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        fprintf(stderr, "flowd: cannot create %s: %s\n", dir, strerror(errno));
    strv_add(av, "--flow.instance-dir=%s", dir);
    for (int k = 0; k < s->cfg.nallow; k++)
        strv_add(av, "--flow.allow-path=%s", s->cfg.allow[k]);
    if (a->cpus[0])
        strv_add(av, "--flow.cpus=%s", a->cpus);
}

/* The first apps of the deployed streams of consumer group g that read
 * producer instance u's destination read u's group g, which moved from
 * old. */
static void send_moved_group(srv *s, srv_inst *u, const srv_group *g,
                             const char *old)
{
    const char *dest = u->app->stream->ast->sink->name;

    for (srv_stream *c = s->streams; c; c = c->next) {
        const char *cg = srv_stream_group(c);
        if (!reads_dest(c, dest) || !cg || strcmp(cg, g->group))
            continue;
        srv_dapp *a = &c->apps[0];
        for (int k = 0; k < a->ninst; k++) {
            srv_control_send_connect(s, a->inst[k], "disconnect", "input", old);
            srv_control_send_connect(s, a->inst[k], "connect", "input", g->ep);
        }
    }
}

/* Moves endpoint ep (what of instance id), whose port is taken, to a free
 * port, keeping the old one in old (SRV_EP_MAX bytes). True when it moved;
 * with no port free it stays, and the instance starts on it (a bind that
 * fails is then a crash, retried with back-off). */
static bool move_ep(const char *id, const char *what, char *ep, size_t len,
                    char *old)
{
    snprintf(old, SRV_EP_MAX, "%s", ep);
    if (tcp_endpoint(ep, len)) {
        fprintf(stderr,
                "flowd: [%s] %s %s is taken and no other loopback port is "
                "free (%s); it is kept\n",
                id, what, old, strerror(errno));
        return false;
    }
    fprintf(stderr, "flowd: [%s] %s %s is taken; using %s\n", id, what, old,
            ep);
    return true;
}

/* Instance i is about to be started on the endpoints it had (a restart,
 * or after a flowd restart): a tcp:// port taken by another process
 * meanwhile is replaced by a free one, and the consumers of an output or
 * group that moved are told (now, or at their hello when they have not
 * said it yet; see srv_inst_catch_up). */
static void move_taken(srv *s, srv_inst *i)
{
    char old[SRV_EP_MAX];
    char id[160];
    srv_dapp *a = i->app;

    srv_inst_id(i, id, sizeof id);
    if (i->tap[0] && !tcp_free(i->tap) &&
        move_ep(id, "tap", i->tap, sizeof i->tap, old))
        srv_tap_refresh(s);
    if (i->output[0] && !tcp_free(i->output) &&
        move_ep(id, "output", i->output, sizeof i->output, old)) {
        /* Only an app followed by another in its stream has an output
         * of its own (see alloc_endpoints). */
        if (a->pos + 1 < (int)a->stream->napps) {
            srv_dapp *c = &a->stream->apps[a->pos + 1];
            for (int k = 0; k < c->ninst; k++) {
                srv_control_send_connect(s, c->inst[k], "disconnect", "input",
                                         old);
                srv_control_send_connect(s, c->inst[k], "connect", "input",
                                         i->output);
            }
        }
    }
    for (int k = 0; k < i->ngroups; k++) {
        srv_group *g = &i->groups[k];
        char what[128];
        snprintf(what, sizeof what, "output group '%s'", g->group);
        if (tcp_free(g->ep) || !move_ep(id, what, g->ep, sizeof g->ep, old))
            continue;
        save_group(s, i, g);
        send_moved_group(s, i, g, old);
    }
}

static void spawn_inst(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;
    srv_stream *st = a->stream;
    char path[PATH_MAX + 64];
    char *envp[sizeof env_allow / sizeof env_allow[0] + 2];
    char dir[PATH_MAX + 128] = "", direnv[PATH_MAX + 160];
    char envbuf[sizeof env_allow / sizeof env_allow[0]][1024];
    int envc = 0;
    strv av = { 0 };
    const char *file = i->host ? s->host_uri : a->uri;
    char keys[PATH_MAX];

    if (srv_keys_write_inst(s, i, keys, sizeof keys)) {
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr,
                "flowd: [%s] cannot write its transport keys %s: %s; "
                "not started\n",
                id, keys, strerror(errno));
        inst_gone(s, i, 127, 0);
        return;
    }
    if (i->host)
        for (size_t k = 0; k < st->napps; k++)
            move_taken(s, st->apps[k].inst[0]);
    else
        move_taken(s, i);
    strv_add(&av, "%s", file);
    if (i->host) {
        /* flow-host APP [OPTIONS] '|' APP ...: consecutive apps are
         * wired over inproc:// by the host. */
        for (size_t k = 0; k < st->napps; k++) {
            if (k > 0)
                strv_add(&av, "|");
            strv_add(&av, "%s", st->apps[k].name);
            app_args(s, st->apps[k].inst[0], keys, &av);
            unlink_ipc(st->apps[k].inst[0]->output);
            unlink_ipc(st->apps[k].inst[0]->tap);
        }
    } else {
        app_args(s, i, keys, &av);
    }
    if (av.oom) {
        strv_free(&av);
        inst_gone(s, i, 127, 0);
        return;
    }
    /* Checked again at each start: a restart must not run what another
     * user put in its place since the deploy. */
    char real[PATH_MAX] = "", why[1024];
    int bad =
        srv_registry_check_path(s, file, real, sizeof real, why, sizeof why);
    if (!bad && strcmp(real, file) != 0) {
        srv_fmt(why, sizeof why, "%s now resolves to %s", file, real);
        bad = -1;
    }
    if (bad) {
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr, "flowd: [%s] refusing to start %s: %s\n", id, file,
                why);
        strv_free(&av);
        inst_gone(s, i, 127, 0);
        return;
    }

    for (size_t k = 0; k < sizeof env_allow / sizeof env_allow[0]; k++) {
        const char *v = getenv(env_allow[k]);
        if (!v)
            continue;
        snprintf(envbuf[envc], sizeof envbuf[envc], "%s=%s", env_allow[k], v);
        envp[envc] = envbuf[envc];
        envc++;
    }
    /* Set even when the directory cannot be made (a full disk): it is
     * also how the next flowd knows the process is one of its instances
     * (kill_untracked). */
    if (prepare_inst_dir(s, i, dir, sizeof dir))
        fprintf(stderr,
                "flowd: cannot prepare the directory %s (%s): the exit of "
                "this instance will not be known after a flowd restart\n",
                dir, strerror(errno));
    if (dir[0] &&
        srv_fmt(direnv, sizeof direnv, "FLOW_INSTANCE_DIR=%s", dir) == 0)
        envp[envc++] = direnv;
    envp[envc] = NULL;

    log_path(s, i, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE },
        { .flags = fd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = fd },
        { .flags = fd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = fd },
    };
    uv_process_options_t o = {
        .exit_cb = on_exit_cb,
        .file = file,
        .args = av.v,
        .env = envp,
        .stdio_count = 3,
        .stdio = stdio,
    };
    uv_process_t *p = calloc(1, sizeof *p);
    if (!p) {
        if (fd >= 0)
            close(fd);
        strv_free(&av);
        inst_gone(s, i, 127, 0);
        return;
    }
    p->data = i;
    unlink_ipc(i->output);
    unlink_ipc(i->tap);
    int rc = uv_spawn(s->loop, p, &o);
    if (fd >= 0)
        close(fd);
    strv_free(&av);
    if (rc) {
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr, "flowd: [%s] cannot start %s: %s\n", id, file,
                uv_strerror(rc));
        p->data = NULL;
        uv_close((uv_handle_t *)p, on_proc_close);
        inst_gone(s, i, 127, 0);
        return;
    }
    i->proc = p;
    i->pid = p->pid;
    i->adopted = false;
    i->started_ms = srv_now_ms();
    i->start_ticks = proc_start_ticks(p->pid);
    i->state = SRV_INST_DEPLOYING;
    memset(&i->m, 0, sizeof i->m);
    i->prev_in = i->prev_out = 0;
    i->end[0] = '\0';
    i->stale = false;
    i->win_n = 0;
    save_inst(s, i);
    if (i->host)
        srv_deployer_refresh(s, st);
}

static void set_opt(srv_dapp *a, const char *key, const char *value)
{
    size_t klen = strlen(key);

    for (int k = 0; k < a->nopts; k++) {
        if (strncmp(a->opts[k] + 2, key, klen) == 0 &&
            a->opts[k][2 + klen] == '=') {
            free(a->opts[k]);
            a->opts[k] = NULL;
            if (asprintf(&a->opts[k], "--%s=%s", key, value) < 0)
                a->opts[k] = NULL;
            return;
        }
    }
    char **n = realloc(a->opts, (size_t)(a->nopts + 1) * sizeof *n);
    if (!n)
        return;
    a->opts = n;
    if (asprintf(&a->opts[a->nopts], "--%s=%s", key, value) >= 0)
        a->nopts++;
}

struct set_opt_ud {
    srv_dapp *a;
    const dsl_app_info *info;
};

/* An app.*.<option> property reaches only the apps that have the option
 * (an app.<label>.<option> the app lacks was refused at deploy). */
static void set_opt_cb(void *ud, const char *key, const char *value)
{
    struct set_opt_ud *u = ud;

    if (srv_props_app_option(u->info, key))
        set_opt(u->a, key, value);
}

/* Builds the apps of a deployment from the parsed definition. */
static int build_apps(srv *s, srv_stream *st, json_t *props, char *err,
                      size_t errlen)
{
    st->apps = calloc(st->ast->n_apps, sizeof *st->apps);
    if (!st->apps) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->napps = st->ast->n_apps;
    for (size_t k = 0; k < st->napps; k++) {
        const dsl_app *da = &st->ast->apps[k];
        srv_dapp *a = &st->apps[k];
        a->stream = st;
        a->pos = (int)k;
        snprintf(a->label, sizeof a->label, "%s", dsl_app_label(da));
        snprintf(a->name, sizeof a->name, "%s", da->name);
        const dsl_app_info *info =
            dsl_registry_find(s->reg, da->name, DSL_ROLE_ANY);
        if (!info) {
            snprintf(err, errlen, "app '%s' is not registered", da->name);
            return -1;
        }
        snprintf(a->type, sizeof a->type, "%s", dsl_role_name(info->role));
        json_t *e = srv_registry_entry(s, a->type, a->name);
        const char *uri = json_string_value(json_object_get(e, "uri"));
        if (!uri) {
            snprintf(err, errlen, "app '%s' has no executable", da->name);
            return -1;
        }
        /* It passed the rules when it was registered; whoever may have
         * changed it or a directory above it since is not trusted now. */
        char why[1024];
        if (srv_registry_check_path(s, uri, a->uri, sizeof a->uri, why,
                                    sizeof why)) {
            snprintf(err, errlen, "app '%s' is not run: %s", da->name, why);
            return -1;
        }
        for (size_t o = 0; o < da->n_options; o++)
            set_opt(a, da->options[o].key, da->options[o].value);
        struct set_opt_ud su = { a, info };
        srv_props_app_options(props, a->label, set_opt_cb, &su);
        for (int o = 0; o < a->nopts; o++) {
            if (!a->opts[o]) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        if (srv_paths_check_app(s, info, a->opts, a->nopts, err, errlen))
            return 400;
        a->count = (int)srv_props_deployer_int(props, a->label, "count", 1);
        a->max_restarts = (int)srv_props_deployer_int(
            props, a->label, "maxRestarts", s->cfg.max_restarts);
        a->restart_window_s = (int)srv_props_deployer_int(
            props, a->label, "restartWindow", s->cfg.restart_window_s);
        a->stop_timeout_ms = (int)srv_props_deployer_int(
            props, a->label, "stopTimeout", s->cfg.stop_timeout_ms);
        const char *tr = srv_props_deployer(props, a->label, "transport");
        a->tcp = tr && strcmp(tr, "tcp") == 0;
        const char *cpus = srv_props_deployer(props, a->label, "cpus");
        snprintf(a->cpus, sizeof a->cpus, "%s", cpus ? cpus : "");
        a->error_threshold = (int)srv_props_deployer_int(
            props, a->label, "errorThreshold", SRV_ERR_THRESHOLD);
        a->inst = calloc((size_t)a->count, sizeof *a->inst);
        if (!a->inst) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int j = 0; j < a->count; j++) {
            a->inst[j] = inst_new(s, a, j);
            if (!a->inst[j]) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            a->ninst++;
            if (alloc_endpoints(s, a->inst[j])) {
                snprintf(err, errlen,
                         "no loopback TCP port is free for app '%s' (%s); "
                         "free descriptors or ports on this machine and "
                         "deploy again",
                         a->label, strerror(errno));
                return -1;
            }
        }
    }
    return 0;
}

/* deployer.packaging=single: one flow-host process runs every app; the
 * apps talk over inproc:// inside it, so only the stream's end keeps its
 * output endpoint. Every app keeps its own tap endpoint (ipc:// or tcp://
 * as for its own process), so taps see a hosted app like any other. */
static int setup_single(srv *s, srv_stream *st, char *err, size_t errlen)
{
    for (size_t k = 0; k + 1 < st->napps; k++)
        st->apps[k].inst[0]->output[0] = '\0';
    st->host = inst_new(s, &st->apps[0], 0);
    if (!st->host) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->host->host = true;
    st->single = true;
    return 0;
}

static void teardown_apps(srv_stream *st)
{
    if (st->host) {
        inst_release(st->host);
        st->host = NULL;
    }
    st->single = false;
    for (size_t k = 0; k < st->napps; k++) {
        srv_dapp *a = &st->apps[k];
        for (int j = 0; j < a->ninst; j++)
            inst_release(a->inst[j]);
        free(a->inst);
        for (int j = 0; j < a->nopts; j++)
            free(a->opts[j]);
        free(a->opts);
    }
    free(st->apps);
    st->apps = NULL;
    st->napps = 0;
}

static void notify_new_outputs(srv *s, srv_dapp *a, int from)
{
    for (int j = from; j < a->ninst; j++) {
        struct connect_ud cu = { "connect", a->inst[j] };
        for_each_consumer(s, a, send_connect, &cu);
    }
}

int srv_deploy(srv *s, srv_stream *st, json_t *props, char *err, size_t errlen)
{
    const char *labels[DSL_MAX_APPS];
    const dsl_app_info *infos[DSL_MAX_APPS];
    json_t *norm = NULL;
    size_t n = st->ast->n_apps < DSL_MAX_APPS ? st->ast->n_apps : DSL_MAX_APPS;

    if (st->deployed || st->napps) {
        snprintf(err, errlen,
                 "stream '%s' is already deployed; undeploy it first "
                 "or scale its apps",
                 st->name);
        return 409;
    }
    const char *group = srv_stream_group(st);
    if (group && !srv_name_ok(group)) {
        char msg[256];
        snprintf(err, errlen, "%s, on ':%s'; change --group in the definition",
                 dsl_name_message(msg, sizeof msg, "consumer group", group,
                                  strlen(group)),
                 st->ast->source->name);
        return 400;
    }
    for (size_t k = 0; k < n; k++) {
        labels[k] = dsl_app_label(&st->ast->apps[k]);
        infos[k] =
            dsl_registry_find(s->reg, st->ast->apps[k].name, DSL_ROLE_ANY);
    }
    if (srv_props_parse(props, labels, n, &norm, err, errlen))
        return 400;
    if (srv_props_check_apps(norm, st->name, labels, infos, n, err, errlen)) {
        json_decref(norm);
        return 400;
    }
    bool single = strcmp(srv_props_packaging(norm), "single") == 0;
    if (single) {
        for (size_t k = 0; k < n; k++) {
            if (srv_props_deployer_int(norm, labels[k], "count", 1) != 1) {
                snprintf(err, errlen,
                         "deployer.packaging=single runs one instance of "
                         "each app; drop the count of '%s'",
                         labels[k]);
                json_decref(norm);
                return 400;
            }
        }
        if (access(s->host_uri, X_OK) != 0) {
            snprintf(err, errlen,
                     "deployer.packaging=single needs flow-host, which is "
                     "not at %s",
                     s->host_uri);
            json_decref(norm);
            return 422;
        }
    }
    int built = build_apps(s, st, norm, err, errlen);
    if (built || (single && setup_single(s, st, err, errlen))) {
        teardown_apps(st);
        json_decref(norm);
        return built == 400 ? 400 : 422;
    }
    char *text = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS);
    int64_t now = srv_now_ms();
    if (!text || srv_store_exec(&s->store,
                                "INSERT OR REPLACE INTO deployments(stream, "
                                "properties, deployed_at) VALUES (?, ?, ?)",
                                "ssi", st->name, text, now)) {
        if (text)
            snprintf(err, errlen,
                     "cannot deploy '%s': the store %s refused it (%s), so "
                     "nothing was changed; %s",
                     st->name, s->store.path, s->store.err,
                     srv_store_advice(&s->store));
        else
            snprintf(err, errlen, "out of memory");
        free(text);
        teardown_apps(st);
        json_decref(norm);
        return text ? srv_store_http_status(&s->store) : 500;
    }
    free(text);
    if (srv_keys_stream(s, st, false, err, errlen)) {
        srv_store_exec(&s->store, "DELETE FROM deployments WHERE stream=?", "s",
                       st->name);
        teardown_apps(st);
        json_decref(norm);
        return 500;
    }
    if (srv_tap_open(s, st, err, errlen)) {
        srv_keys_forget(s, st);
        teardown_apps(st);
        json_decref(norm);
        return 500;
    }
    json_decref(st->props);
    st->props = norm;
    st->deployed = true;
    st->deployed_ms = now;
    /* Every app admits the new deployment's instances before they start
     * (a consumer of a destination connects to other streams' apps). */
    srv_keys_refresh(s);
    /* Each instance's record is written on its own, so that one that
     * cannot be is known (row_stale) and written again later. */
    if (st->host)
        spawn_inst(s, st->host);
    else
        for (size_t k = st->napps; k-- > 0;)
            for (int j = 0; j < st->apps[k].ninst; j++)
                spawn_inst(s, st->apps[k].inst[j]);
    notify_new_outputs(s, &st->apps[st->napps - 1], 0);
    producers_groups(s, st, true);
    srv_tap_refresh(s);
    srv_deployer_refresh(s, st);
    return 0;
}

/* An adopted instance's process is gone: ends it with the exit status it
 * recorded, or as killed when it recorded none. */
static void adopted_gone(srv *s, srv_inst *i)
{
    int64_t status = recorded_exit(s, i, i->pid);

    inst_gone(s, i, status, status < 0 ? SIGKILL : 0);
}

static void on_kill_timer(uv_timer_t *t)
{
    srv_inst *i = t->data;
    srv *s = i->app->stream->s;

    if (i->pid <= 0)
        return;
    if (i->adopted) {
        /* Not our child: poll until it is gone. */
        if (!pid_matches(i->pid, i->start_ticks)) {
            adopted_gone(s, i);
            return;
        }
        if (srv_now_ms() >= i->stop_deadline_ms)
            kill(i->pid, SIGKILL);
        uv_timer_start(t, on_kill_timer, 20, 0);
        return;
    }
    kill(i->pid, SIGKILL);
}

static void stop_inst(srv_inst *i)
{
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
    if (i->proc)
        uv_process_kill(i->proc, SIGTERM);
    else
        kill(i->pid, SIGTERM);
    i->stop_deadline_ms = srv_now_ms() + i->app->stop_timeout_ms;
    if (!i->app->stream->deployed && i->app->stream->stop_deadline_ms &&
        i->app->stream->stop_deadline_ms < i->stop_deadline_ms)
        i->stop_deadline_ms = i->app->stream->stop_deadline_ms;
    int64_t left = i->stop_deadline_ms - srv_now_ms();
    uv_timer_start(i->timer, on_kill_timer,
                   i->adopted ? 20 : (uint64_t)(left > 0 ? left : 0), 0);
}

static bool pos_has_processes(const srv_stream *st, int pos)
{
    const srv_dapp *a = &st->apps[pos];
    for (int j = 0; j < a->ninst; j++)
        if (a->inst[j]->pid > 0)
            return true;
    return false;
}

/*
 * An undeploy stops a stream from its source down: each app gets SIGTERM
 * once every app before it has exited, so what a producer still holds
 * when it stops reaches a consumer that is still reading, and no producer
 * waits out its linger on a consumer that stopped first. SIGKILL comes for
 * whatever is left when the stream's stop time is up.
 */
static void undeploy_next(srv_stream *st)
{
    while (st->stop_pos < (int)st->napps &&
           !pos_has_processes(st, st->stop_pos))
        st->stop_pos++;
    if (st->stop_pos >= (int)st->napps)
        return;
    srv_dapp *a = &st->apps[st->stop_pos];
    for (int j = 0; j < a->ninst; j++)
        if (a->inst[j]->pid > 0 && !a->inst[j]->term_sent) {
            a->inst[j]->term_sent = true;
            stop_inst(a->inst[j]);
        }
}

int srv_forget_deployment(srv *s, srv_stream *st, bool definition)
{
    srv_store *db = &s->store;

    if (srv_store_begin(db) ||
        srv_store_exec(db, "DELETE FROM deployments WHERE stream=?", "s",
                       st->name) ||
        srv_store_exec(db, "DELETE FROM instances WHERE stream=?", "s",
                       st->name) ||
        srv_store_exec(db, "DELETE FROM output_groups WHERE stream=?", "s",
                       st->name) ||
        (definition && srv_store_exec(db, "DELETE FROM streams WHERE name=?",
                                      "s", st->name)) ||
        srv_store_commit(db))
        return -1;
    return 0;
}

bool srv_undeploy(srv *s, srv_stream *st)
{
    if (st->deployed) {
        st->deployed = false;
        srv_keys_forget(s, st);
        srv_keys_refresh(s);
        /* Tell consumers in other streams that these outputs go, and
         * the producers of its source destination that it goes. */
        if (st->napps) {
            srv_dapp *last = &st->apps[st->napps - 1];
            for (int j = 0; j < last->ninst; j++) {
                struct connect_ud cu = { "disconnect", last->inst[j] };
                for_each_consumer(s, last, send_connect, &cu);
            }
        }
        producers_groups(s, st, false);
        int64_t longest = 0;
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                srv_inst *i = st->apps[k].inst[j];
                uv_timer_stop(i->timer); /* no restart from here on */
                i->term_sent = false;
                if (i->pid > 0)
                    i->state = SRV_INST_UNDEPLOYING;
                else if (!i->removing)
                    i->state = SRV_INST_STOPPED;
                if (st->apps[k].stop_timeout_ms > longest)
                    longest = st->apps[k].stop_timeout_ms;
            }
        st->stop_pos = 0;
        st->stop_deadline_ms = srv_now_ms() + longest;
        if (!st->host)
            undeploy_next(st);
        if (st->host) {
            if (st->host->pid > 0)
                st->host->state = SRV_INST_UNDEPLOYING;
            stop_inst(st->host);
        }
    }
    if (!stream_has_processes(st)) {
        finish_undeploy(s, st);
        return true;
    }
    srv_deployer_refresh(s, st);
    return false;
}

int srv_scale(srv *s, srv_stream *st, srv_dapp *a, int count, char *err,
              size_t errlen)
{
    char key[128], val[16];
    int rc = 0;

    if (count < 1 || count > SRV_MAX_COUNT) {
        snprintf(err, errlen, "count must be from 1 to %d", SRV_MAX_COUNT);
        return 400;
    }
    if (st->host) {
        snprintf(err, errlen,
                 "stream '%s' runs in one process (deployer.packaging="
                 "single); redeploy it with multi packaging to scale",
                 st->name);
        return 422;
    }
    /* The new count is stored first: a scale the store does not hold
     * would be undone by the next flowd. */
    snprintf(key, sizeof key, "deployer.%s.count", a->label);
    snprintf(val, sizeof val, "%d", count);
    json_t *props = json_deep_copy(st->props);
    char *text = NULL;
    if (!props || json_object_set_new(props, key, json_string(val)) ||
        !(text = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS))) {
        json_decref(props);
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    int stored = srv_store_exec(&s->store,
                                "UPDATE deployments SET properties=? WHERE "
                                "stream=?",
                                "ss", text, st->name);
    free(text);
    if (stored) {
        json_decref(props);
        snprintf(err, errlen,
                 "cannot scale '%s': the store %s refused the new count "
                 "(%s), so nothing was changed; %s",
                 a->label, s->store.path, s->store.err,
                 srv_store_advice(&s->store));
        return srv_store_http_status(&s->store);
    }
    json_decref(st->props);
    st->props = props;
    int live = 0;
    for (int j = 0; j < a->ninst; j++)
        if (!a->inst[j]->removing)
            live++;
    if (count > live) {
        int first = a->ninst;
        srv_inst **n =
            realloc(a->inst, (size_t)(a->ninst + count - live) * sizeof *n);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            return 500;
        }
        a->inst = n;
        for (int j = live; j < count; j++) {
            int idx = 0;
            /* The lowest index not in use. */
            for (bool used = true; used; idx++) {
                used = false;
                for (int k = 0; k < a->ninst; k++)
                    if (a->inst[k]->index == idx)
                        used = true;
                if (!used)
                    break;
            }
            srv_inst *i = inst_new(s, a, idx);
            if (!i) {
                snprintf(err, errlen, "out of memory");
                return 500;
            }
            a->inst[a->ninst++] = i;
            if (alloc_endpoints(s, i)) {
                snprintf(err, errlen,
                         "no loopback TCP port is free for a new instance "
                         "of '%s' (%s); free descriptors or ports on this "
                         "machine and scale again",
                         a->label, strerror(errno));
                remove_inst(s, i);
                /* The instances started so far stay, and are counted. */
                count = j;
                rc = 500;
                break;
            }
            spawn_inst(s, i);
        }
        notify_new_outputs(s, a, first);
    } else if (count < live) {
        int drop = live - count;
        for (int j = a->ninst; j-- > 0 && drop > 0;) {
            srv_inst *i = a->inst[j];
            if (i->removing)
                continue;
            i->removing = true;
            drop--;
            struct connect_ud cu = { "disconnect", i };
            for_each_consumer(s, a, send_connect, &cu);
            if (i->pid > 0) {
                i->state = SRV_INST_UNDEPLOYING;
                stop_inst(i);
            } else {
                remove_inst(s, i);
            }
        }
    }
    a->count = count;
    srv_tap_refresh(s);
    srv_deployer_refresh(s, st);
    return rc;
}

void srv_deployer_refresh(srv *s, srv_stream *st)
{
    sync_hosted(st);
    size_t n = st->napps;
    srv_app_counts *c = calloc(n + 1, sizeof *c);

    if (!c)
        return;
    for (size_t k = 0; k < n; k++)
        srv_app_counts_of(&st->apps[k], &c[k]);
    st->status = srv_status_stream(st->deployed, c, n, st->status_desc,
                                   sizeof st->status_desc);
    free(c);
    if (st->restoring && st->status != SRV_DEPLOYING) {
        st->restoring = false;
        srv_ready_update(s);
    }
    if (s->deployer_ops)
        s->deployer_ops->changed(s->deployer_ud, st);
}

static void on_ctl_hello(void *ud, srv_inst *i)
{
    srv_inst_catch_up(ud, i);
    srv_deployer_refresh(ud, i->app->stream);
}

static void on_ctl_changed(void *ud, srv_inst *i)
{
    srv_deployer_refresh(ud, i->app->stream);
}

static const srv_control_ops deployer_control_ops = {
    .hello = on_ctl_hello,
    .changed = on_ctl_changed,
};

void srv_deployer_attach(srv *s)
{
    s->control_ops = &deployer_control_ops;
    s->control_ud = s;
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
    int64_t now = srv_now_ms();

    /* A failing store is tried once a tick, so that it is known to be
     * back even when nothing else writes. */
    if (s->store.failing)
        srv_store_probe(&s->store);
    for (srv_stream *st = s->streams; st; st = st->next) {
        srv_inst *h = st->host;
        if (h && !s->store.failing)
            sync_row(s, h);
        if (h && h->adopted && h->pid > 0 && h->state != SRV_INST_UNDEPLOYING &&
            !pid_matches(h->pid, h->start_ticks))
            adopted_gone(s, h);
        for (size_t k = 0; k < st->napps; k++) {
            srv_dapp *a = &st->apps[k];
            for (int j = 0; j < a->ninst; j++) {
                srv_inst *i = a->inst[j];
                if (!st->host && !s->store.failing)
                    sync_row(s, i);
                /* Rates over the last second. */
                i->rate_in = (double)(i->m.in - i->prev_in);
                i->rate_out = (double)(i->m.out - i->prev_out);
                if (i->m.in < i->prev_in)
                    i->rate_in = 0;
                if (i->m.out < i->prev_out)
                    i->rate_out = 0;
                i->prev_in = i->m.in;
                i->prev_out = i->m.out;
                window_sample(i);
                i->stale = i->state == SRV_INST_DEPLOYED && i->pid > 0 &&
                           now - i->last_seen_ms > SRV_STALE_MS;
                /* Adopted processes are not our children:
                 * notice their end by polling. */
                if (i->adopted && i->pid > 0 &&
                    i->state != SRV_INST_UNDEPLOYING &&
                    !pid_matches(i->pid, i->start_ticks)) {
                    bool rem = i->removing;
                    adopted_gone(s, i);
                    if (rem)
                        j--; /* it left the array */
                    continue;
                }
                /* Cap the log: keep the newest part in
                 * .1 and start the file again (the app
                 * writes with O_APPEND). */
                log_path(s, i, path, sizeof path);
                if (stat(path, &sb) == 0 && sb.st_size > LOG_CAP)
                    cap_log(path);
            }
        }
        /* Staleness and error ratios move with time alone. */
        if (st->deployed)
            srv_deployer_refresh(s, st);
    }
}

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
 * (spawn_inst moves a tcp:// one whose port was taken meanwhile). Returns
 * whether it adopted i. */
static bool adopt_inst(srv *s, srv_inst *i)
{
    srv_stream *st = i->app->stream;
    sqlite3_stmt *q = srv_store_query(
        &s->store,
        "SELECT pid, started_at, output, tap FROM instances WHERE "
        "stream=? AND label=? AND idx=?",
        "ssi", st->name, store_label(i), (int64_t)i->index);
    bool adopted = false;

    if (q && sqlite3_step(q) == SQLITE_ROW) {
        int pid = sqlite3_column_int(q, 0);
        uint64_t ticks = (uint64_t)sqlite3_column_int64(q, 1);
        if (pid == 0) {
            /* It completed (a clean exit, see inst_gone): it stays so. */
            i->state = SRV_INST_STOPPED;
            snprintf(i->last_exit, sizeof i->last_exit, "exit status 0");
        } else if (pid_matches(pid, ticks)) {
            i->pid = pid;
            i->start_ticks = ticks;
            i->adopted = adopted = true;
            i->state = SRV_INST_DEPLOYING;
            i->started_ms = srv_now_ms();
        }
        if (!i->host)
            take_endpoints(i, q, 2);
    }
    sqlite3_finalize(q);
    if (!i->host && feeds_destination(i->app))
        take_groups(s, i);
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
        srv_dapp *last = &st->apps[st->napps - 1];
        if (feeds_destination(last))
            take_groups(s, last->inst[0]);
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
            recorded_only = true;
            collect_inputs(s, &st->apps[k], inputs, sizeof inputs);
            recorded_only = false;
            free(i->spawn_inputs);
            i->spawn_inputs = strdup(inputs);
        }
}

/* Starts the instances of a restored stream that were neither adopted nor
 * completed, wired to the adopted ones. */
static void spawn_rest(srv *s, srv_stream *st)
{
    if (st->host) {
        if (!st->host->adopted && st->host->state != SRV_INST_STOPPED)
            spawn_inst(s, st->host);
        return;
    }
    for (size_t k = st->napps; k-- > 0;)
        for (int j = 0; j < st->apps[k].ninst; j++) {
            srv_inst *i = st->apps[k].inst[j];
            if (!i->adopted && i->state != SRV_INST_STOPPED)
                spawn_inst(s, i);
        }
}

/* Loads one definition row into memory. */
srv_stream *srv_stream_add(srv *s, const char *name, const char *dsl,
                           const char *desc, int64_t created, char *err,
                           size_t errlen);

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

/* Forgets the recorded output groups that no deployed stream reads any
 * more (its consumer group's last stream was undeployed while flowd was
 * down, or a group of a definition that changed). */
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
        if (st && st->ast->sink && group_read(s, st->ast->sink->name, g))
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
        if (pid_matches(pid, (uint64_t)sqlite3_column_int64(q, 1)))
            kill(pid, SIGKILL);
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

/* The instance directory process pid was started with, when it is one of
 * this data directory's (FLOW_INSTANCE_DIR=DATA/run/ID in its
 * environment): copies ID to id. */
static bool instance_of(srv *s, int pid, char *id, size_t len)
{
    char path[64], want[PATH_MAX + 40];
    static char env[65536];

    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    if (srv_fmt(want, sizeof want, "FLOW_INSTANCE_DIR=%s/run/",
                s->cfg.data_dir))
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, env, sizeof env - 1);
    close(fd);
    if (n <= 0)
        return false;
    env[n] = '\0';
    size_t wl = strlen(want);
    for (char *e = env; e < env + n; e += strlen(e) + 1)
        if (strncmp(e, want, wl) == 0 && e[wl]) {
            snprintf(id, len, "%s", e + wl);
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
            !proc_start_ticks((int)pid) || pid_tracked(s, (int)pid) ||
            !instance_of(s, (int)pid, id, sizeof id))
            continue;
        fprintf(stderr,
                "flowd: killing process %ld of instance %s: the store does "
                "not hold it (it was started while the store could not be "
                "written)\n",
                pid, id);
        kill((int)pid, SIGKILL);
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
        if (!st || !props || build_apps(s, st, props, err, sizeof err) ||
            (strcmp(srv_props_packaging(props), "single") == 0 &&
             setup_single(s, st, err, sizeof err))) {
            fprintf(stderr, "flowd: deployment of '%s' not restored: %s\n",
                    name, st && props ? err : "bad record");
            if (st)
                teardown_apps(st);
            json_decref(props);
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
            if (pid_matches(pid, (uint64_t)sqlite3_column_int64(o, 3)))
                kill(pid, SIGKILL);
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
    /* Every restored stream's survivors are adopted, with their recorded
     * endpoints, before anything is started: an instance started again
     * is given, and a consumer is known to read, the endpoints that
     * really exist, in its own stream and across destinations. */
    kill_untracked(s);
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->restoring)
            adopted_inputs(s, st);
    srv_keys_refresh(s);
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->restoring) {
            spawn_rest(s, st);
            srv_deployer_refresh(s, st);
        }
    srv_tap_refresh(s);
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
            stop_inst(st->host);
        }
    for (srv_stream *st = s->streams; st; st = st->next)
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                srv_inst *i = st->apps[k].inst[j];
                if (i->pid > 0) {
                    i->state = SRV_INST_UNDEPLOYING;
                    stop_inst(i);
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
                    st->apps[k].inst[j]->proc->data = NULL;
        if (st->host && st->host->proc)
            st->host->proc->data = NULL;
        teardown_apps(st);
    }
}

bool srv_deployer_idle(srv *s)
{
    for (srv_stream *st = s->streams; st; st = st->next)
        if (stream_has_processes(st))
            return false;
    return true;
}
