/* Wiring: the endpoints of instances, the output groups a destination's
 * producers keep for each consumer group, what each instance reads, and
 * the connect/disconnect messages that follow when producers and
 * consumers come and go. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deploy.h"

bool srv_dep_feeds_destination(const srv_dapp *a)
{
    return a->pos + 1 == (int)a->stream->napps && a->stream->ast->sink;
}

/* Writes a loopback tcp:// endpoint on a port free now into buf; -1 with
 * errno set, buf untouched, when no port is free. */
static int tcp_endpoint(srv *s, char *buf, size_t len)
{
    int port = s->os->free_tcp_port(s->os_ud);

    if (port < 0)
        return -1;
    snprintf(buf, len, "tcp://127.0.0.1:%d", port);
    return 0;
}

int srv_dep_alloc_endpoints(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;
    bool sink = a->pos + 1 == (int)a->stream->napps && !a->stream->ast->sink;

    i->output[0] = i->tap[0] = '\0';
    if (sink)
        return 0;
    if (a->tcp) {
        if (tcp_endpoint(s, i->output, sizeof i->output) ||
            tcp_endpoint(s, i->tap, sizeof i->tap))
            return -1;
    } else if (srv_fmt(i->output, sizeof i->output, "ipc://%s/run/%s.%s.%d",
                       s->cfg.data_dir, a->stream->name, a->label, i->index) ||
               strlen(i->output) >= 100 ||
               srv_fmt(i->tap, sizeof i->tap, "ipc://%s/run/%s.%s.%d.tap",
                       s->cfg.data_dir, a->stream->name, a->label, i->index) ||
               strlen(i->tap) >= 100) {
        /* sun_path holds 108 bytes: fall back to tcp for long paths. */
        if (tcp_endpoint(s, i->output, sizeof i->output) ||
            tcp_endpoint(s, i->tap, sizeof i->tap))
            return -1;
    }
    if (srv_dep_feeds_destination(a))
        i->output[0] = '\0';
    return 0;
}

void srv_dep_save_group(srv *s, srv_inst *u, const srv_group *g)
{
    if (srv_store_exec(&s->store,
                       "INSERT OR REPLACE INTO output_groups(stream, label, "
                       "idx, consumer, endpoint) VALUES (?, ?, ?, ?, ?)",
                       "ssiss", u->app->stream->name, u->app->label,
                       (int64_t)u->index, g->group, g->ep))
        u->row_stale = true;
}

void srv_dep_forget_group_rows(srv *s, const srv_inst *u, const char *c)
{
    srv_store_exec(&s->store,
                   "DELETE FROM output_groups WHERE stream=?1 AND "
                   "label=?2 AND idx=?3 AND (?4 IS NULL OR consumer=?4)",
                   "ssis", u->app->stream->name, u->app->label,
                   (int64_t)u->index, c);
}

/*
 * Producer instance u's output group named name, made when first asked
 * for unless recorded_only:
 * ipc://DATA/run/STREAM.LABEL.N.to.GROUP (tcp like the instance's other
 * endpoints when the path is too long or the app uses tcp). NULL when out of
 * memory or of free TCP ports.
 */
static const char *group_named(srv *s, srv_inst *u, const char *name,
                               bool recorded_only)
{
    srv_dapp *a = u->app;

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
        tcp_endpoint(s, g->ep, sizeof g->ep)) {
        u->ngroups--;
        return NULL;
    }
    srv_dep_save_group(s, u, g);
    return g->ep;
}

/* The output group of producer instance u that consumer stream c reads:
 * the one of c's consumer group (srv_stream_group), shared by every
 * stream of that group (while flowd works out what adopted instances
 * read, only the groups taken back from the store exist). */
static const char *group_of(srv *s, srv_inst *u, const srv_stream *c,
                            bool recorded_only)
{
    return group_named(s, u, srv_stream_group(c), recorded_only);
}

void srv_dep_take_groups(srv *s, srv_inst *u)
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
            srv_dep_forget_group_rows(s, u, name);
            srv_dep_unlink_ipc(u->groups[k].ep);
            u->groups[k] = u->groups[--u->ngroups];
            return;
        }
}

/* The endpoint producer instance u's consumers in stream c read: its group
 * for c, or its shared output. */
static const char *output_for(srv *s, srv_inst *u, const srv_stream *c,
                              bool recorded_only)
{
    if (srv_dep_feeds_destination(u->app) && c != u->app->stream)
        return group_of(s, u, c, recorded_only);
    return u->output;
}

/* Appends to list what every running instance of a gives stream c to read:
 * its output, or its group for c when a feeds a destination. */
static void add_outputs(srv *s, const srv_dapp *a, const srv_stream *c,
                        bool recorded_only, char *list, size_t len)
{
    for (int k = 0; k < a->ninst; k++) {
        srv_inst *u = a->inst[k];
        size_t off = strlen(list);
        const char *ep =
            u->removing ? NULL : output_for(s, u, c, recorded_only);
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

void srv_dep_collect_inputs(srv *s, const srv_dapp *a, bool recorded_only,
                            char *list, size_t len)
{
    srv_stream *st = a->stream;

    list[0] = '\0';
    if (a->pos > 0) {
        add_outputs(s, &st->apps[a->pos - 1], st, recorded_only, list, len);
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
            add_outputs(s, &o->apps[o->napps - 1], st, recorded_only, list,
                        len);
    for (srv_outside *x = s->outside; x; x = x->next)
        if (x->producer && strcmp(x->dest, st->ast->source->name) == 0) {
            size_t off = strlen(list);
            snprintf(list + off, len - off, "%s%s", off ? "," : "", x->ep);
        }
}

void srv_dep_for_each_consumer(srv *s, srv_dapp *a,
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

void srv_dep_send_connect(srv *s, srv_dapp *c, void *ud)
{
    struct connect_ud *cu = ud;
    const char *ep = output_for(s, cu->producer, c->stream, false);

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
        const char *ep = group_of(s, u, c, false);
        if (ep)
            srv_control_send_connect(s, u, "connect", "output", ep);
    }
    for (srv_outside *x = s->outside; x; x = x->next) {
        if (x->producer || strcmp(x->dest, st->ast->sink->name))
            continue;
        const char *ep = group_named(s, u, x->name, false);
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

void srv_dep_producers_groups(srv *s, srv_stream *c, bool connect)
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
            const char *ep = group_of(s, u, c, false);
            if (!ep)
                continue;
            srv_control_send_connect(s, u, connect ? "connect" : "disconnect",
                                     "output", ep);
            if (!connect)
                forget_group(s, u, srv_stream_group(c));
        }
    }
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

    if (srv_dep_feeds_destination(a))
        connect_groups(s, i);
    if ((a->pos == 0 && a->stream->tap) || (a->pos > 0 && a->stream->host))
        return;
    srv_dep_collect_inputs(s, a, false, now, sizeof now);
    snprintf(had, sizeof had, "%s", i->spawn_inputs ? i->spawn_inputs : "");
    char *cur = strdup(now);
    send_missing(s, i, "connect", now, had);
    if (cur) {
        send_missing(s, i, "disconnect", had, cur);
        free(i->spawn_inputs);
        i->spawn_inputs = cur;
    }
}

void srv_dep_unlink_ipc(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0)
        unlink(ep + 6);
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
static bool move_ep(srv *s, const char *id, const char *what, char *ep,
                    size_t len, char *old)
{
    snprintf(old, SRV_EP_MAX, "%s", ep);
    if (tcp_endpoint(s, ep, len)) {
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

void srv_dep_move_taken(srv *s, srv_inst *i)
{
    char old[SRV_EP_MAX];
    char id[160];
    srv_dapp *a = i->app;

    srv_inst_id(i, id, sizeof id);
    if (i->tap[0] && !s->os->tcp_free(s->os_ud, i->tap) &&
        move_ep(s, id, "tap", i->tap, sizeof i->tap, old))
        srv_tap_refresh(s);
    if (i->output[0] && !s->os->tcp_free(s->os_ud, i->output) &&
        move_ep(s, id, "output", i->output, sizeof i->output, old)) {
        /* Only an app followed by another in its stream has an output
         * of its own (see srv_dep_alloc_endpoints). */
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
        if (s->os->tcp_free(s->os_ud, g->ep) ||
            !move_ep(s, id, what, g->ep, sizeof g->ep, old))
            continue;
        srv_dep_save_group(s, i, g);
        send_moved_group(s, i, g, old);
    }
}

void srv_dep_notify_new_outputs(srv *s, srv_dapp *a, int from)
{
    for (int j = from; j < a->ninst; j++) {
        struct connect_ud cu = { "connect", a->inst[j] };
        srv_dep_for_each_consumer(s, a, srv_dep_send_connect, &cu);
    }
}

/* Is an outside group or producer name usable as a file name's part and
 * free? */
static int outside_check(srv *s, const char *dest, const char *name,
                         bool producer, char *err, size_t errlen)
{
    if (!srv_name_ok(dest) || !srv_name_ok(name)) {
        snprintf(err, errlen,
                 "'%s' and '%s' must be names: a lowercase letter, then "
                 "up to 47 lowercase letters, digits or '-'",
                 dest, name);
        return -SRV_EINVAL;
    }
    if (producer)
        return 0;
    for (srv_stream *c = s->streams; c; c = c->next) {
        const char *g = srv_stream_group(c);
        if (reads_dest(c, dest) && g && strcmp(g, name) == 0) {
            snprintf(err, errlen,
                     "stream %s reads :%s as consumer group '%s'; pick "
                     "another group name",
                     c->name, dest, name);
            return -SRV_EINUSE;
        }
    }
    return 0;
}

int srv_outside_add(srv *s, const char *dest, const char *name, bool producer,
                    srv_outside **out, char *err, size_t errlen)
{
    *out = srv_outside_find(s, dest, name, producer);
    if (*out)
        return 0;
    int rc = outside_check(s, dest, name, producer, err, errlen);
    if (rc)
        return rc;
    srv_outside *x = calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    x->producer = producer;
    snprintf(x->dest, sizeof x->dest, "%s", dest);
    snprintf(x->name, sizeof x->name, "%s", name);
    if (producer &&
        (srv_fmt(x->ep, sizeof x->ep, "ipc://%s/run/:%s.from.%s",
                 s->cfg.data_dir, dest, name) ||
         strlen(x->ep) >= 100) &&
        tcp_endpoint(s, x->ep, sizeof x->ep)) {
        snprintf(err, errlen, "no loopback TCP port is free: %s",
                 strerror(errno));
        free(x);
        return -SRV_ESYSTEM;
    }
    x->next = s->outside;
    s->outside = x;
    for (srv_stream *o = s->streams; o; o = o->next) {
        if (producer && reads_dest(o, dest)) {
            /* The first apps of the streams reading dest read it too. */
            srv_dapp *c = &o->apps[0];
            for (int k = 0; k < c->ninst; k++)
                srv_control_send_connect(s, c->inst[k], "connect", "input",
                                         x->ep);
        } else if (!producer && writes_dest(o, dest)) {
            /* Every producer instance of dest gets a group for it. */
            srv_dapp *last = &o->apps[o->napps - 1];
            for (int k = 0; k < last->ninst; k++) {
                const char *ep = group_named(s, last->inst[k], name, false);
                if (ep)
                    srv_control_send_connect(s, last->inst[k], "connect",
                                             "output", ep);
            }
        }
    }
    *out = x;
    return 0;
}

int srv_outside_remove(srv *s, const char *dest, const char *name,
                       bool producer)
{
    srv_outside **pp = &s->outside;

    while (*pp &&
           !((*pp)->producer == producer && strcmp((*pp)->dest, dest) == 0 &&
             strcmp((*pp)->name, name) == 0))
        pp = &(*pp)->next;
    srv_outside *x = *pp;
    if (!x)
        return -SRV_ENOTFOUND;
    *pp = x->next;
    for (srv_stream *o = s->streams; o; o = o->next) {
        if (producer && reads_dest(o, dest)) {
            srv_dapp *c = &o->apps[0];
            for (int k = 0; k < c->ninst; k++)
                srv_control_send_connect(s, c->inst[k], "disconnect", "input",
                                         x->ep);
        } else if (!producer && writes_dest(o, dest)) {
            srv_dapp *last = &o->apps[o->napps - 1];
            for (int k = 0; k < last->ninst; k++) {
                srv_inst *u = last->inst[k];
                const char *ep = group_named(s, u, name, true);
                if (!ep)
                    continue;
                srv_control_send_connect(s, u, "disconnect", "output", ep);
                forget_group(s, u, name);
            }
        }
    }
    free(x);
    return 0;
}
