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

/* The value of app a's last --KEY=VALUE option, or NULL. */
static const char *opt_value(const srv_dapp *a, const char *key)
{
    const char *v = NULL;
    size_t n = strlen(key);

    for (int k = 0; k < a->nopts; k++)
        if (strncmp(a->opts[k], "--", 2) == 0 &&
            strncmp(a->opts[k] + 2, key, n) == 0 && a->opts[k][2 + n] == '=')
            v = a->opts[k] + 3 + n;
    return v;
}

bool srv_dep_is_router(const srv_dapp *a)
{
    return strcmp(a->name, "router") == 0 &&
           a->pos + 1 == (int)a->stream->napps && a->stream->ast &&
           !a->stream->ast->sink;
}

/* Calls fn for each destination of --destination-mappings=V1:D1,V2:D2
 * (the part after each item's last ':', blanks trimmed) until it returns
 * true; returns whether one did. */
static bool each_mapped(const char *maps,
                        bool (*fn)(const char *d, size_t n, void *ud), void *ud)
{
    for (const char *p = maps; *p;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *d = p;
        for (const char *q = p; q < end; q++)
            if (*q == ':')
                d = q + 1;
        while (d < end && (*d == ' ' || *d == '\t'))
            d++;
        const char *e = end;
        while (e > d && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (d > p && e > d && fn(d, (size_t)(e - d), ud))
            return true;
        p = *end ? end + 1 : end;
    }
    return false;
}

static bool same_name(const char *d, size_t n, void *ud)
{
    const char *dest = ud;
    return strlen(dest) == n && strncmp(d, dest, n) == 0;
}

bool srv_dep_routes_to(const srv_dapp *a, const char *dest)
{
    if (!srv_dep_is_router(a))
        return false;
    const char *maps = opt_value(a, "destination-mappings");
    const char *def = opt_value(a, "default-output-channel");
    if (def && strcmp(def, dest) == 0)
        return true;
    if (!maps || !*maps)
        return true; /* the result names the destination: any */
    return each_mapped(maps, same_name, (void *)dest);
}

struct dests_ud {
    char (*names)[SRV_NAME_MAX + 16];
    int n, max;
};

static bool add_dest(const char *d, size_t n, void *ud)
{
    struct dests_ud *u = ud;
    char name[SRV_NAME_MAX + 16];

    snprintf(name, sizeof name, "%.*s", (int)n, d);
    for (int k = 0; k < u->n; k++)
        if (strcmp(u->names[k], name) == 0)
            return false;
    if (u->n < u->max)
        snprintf(u->names[u->n++], sizeof name, "%s", name);
    return false;
}

int srv_dep_router_dests(const srv_dapp *a, char (*names)[SRV_NAME_MAX + 16],
                         int max)
{
    struct dests_ud u = { names, 0, max };
    const char *maps = opt_value(a, "destination-mappings");
    const char *def = opt_value(a, "default-output-channel");

    if (!srv_dep_is_router(a))
        return 0;
    if (!maps || !*maps)
        return -1;
    each_mapped(maps, add_dest, &u);
    if (def && *def)
        add_dest(def, strlen(def), &u);
    return u.n;
}

bool srv_dep_feeds_destination(const srv_dapp *a)
{
    return (a->pos + 1 == (int)a->stream->napps && a->stream->ast->sink) ||
           srv_dep_is_router(a);
}

/* Does consumer stream c read what producer app a writes: the destination
 * a writes (the last app of a stream that feeds one), for a router one it
 * routes to, or a tap of a? */
static bool consumes_from(const srv_dapp *a, const srv_stream *c)
{
    if (c != a->stream && srv_tap_reads(c, a))
        return true;
    if (!c->deployed || !c->ast || !c->ast->source || c->tap || !c->napps)
        return false;
    /* A Kafka topic between them: neither has a ZeroMQ side. */
    if (c->apps[0].kafka || (srv_dep_feeds_destination(a) && a->kafka))
        return false;
    if (srv_dep_is_router(a))
        return c != a->stream && srv_dep_routes_to(a, c->ast->source->name);
    return srv_dep_feeds_destination(a) &&
           strcmp(c->ast->source->name, a->stream->ast->sink->name) == 0;
}

/* The name producer app a knows consumer stream c's group by: its
 * consumer group, or for a router "DEST:GROUP". NULL for a name that
 * must not become a path. */
static const char *group_key(const srv_dapp *a, const srv_stream *c, char *buf,
                             size_t len)
{
    const char *name = srv_stream_group(c);

    /* A stored definition may predate the check of group names; such a
     * name never becomes a path. */
    if (!name || !srv_name_ok(name))
        return NULL;
    if (!srv_dep_is_router(a))
        return name;
    if (srv_fmt(buf, len, "%s:%s", c->ast->source->name, name))
        return NULL;
    return buf;
}

/* The control port of a's output group for consumer stream c: "output",
 * or "output.DEST" for a router's destination. */
static const char *out_port(const srv_dapp *a, const srv_stream *c, char *buf,
                            size_t len)
{
    if (!srv_dep_is_router(a))
        return "output";
    snprintf(buf, len, "output.%s", c->ast->source->name);
    return buf;
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

/* Writes the lanes of instance i's output (a->lanes > 1): over ipc://
 * unless the app uses tcp or a path is too long for sun_path; -1 with
 * errno set when no TCP port is free. */
static int lane_endpoints(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;
    char ep[SRV_EP_MAX];
    bool tcp = a->tcp;
    size_t off = 0;

    i->output[0] = '\0';
    for (int j = 0; j < a->lanes; j++) {
        if (!tcp &&
            (srv_fmt(ep, sizeof ep, "ipc://%s/run/%s.%s.%d.l%d",
                     s->cfg.data_dir, a->stream->name, a->label, i->index, j) ||
             strlen(ep) >= 100)) {
            /* sun_path holds 108 bytes: every lane over tcp, from the
             * first. */
            tcp = true;
            off = 0;
            i->output[0] = '\0';
            j = -1;
            continue;
        }
        if (tcp && tcp_endpoint(s, ep, sizeof ep))
            return -1;
        int w = snprintf(i->output + off, sizeof i->output - off, "%s%s",
                         j ? "|" : "", ep);
        if (w < 0 || (size_t)w >= sizeof i->output - off) {
            errno = ENAMETOOLONG;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Sets i's error output: ipc://DATA/run/STREAM.LABEL.N.errors, or tcp
 * like its other endpoints. */
static int errors_endpoint(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;

    if (!a->tcp &&
        !srv_fmt(i->errors, sizeof i->errors, "ipc://%s/run/%s.%s.%d.errors",
                 s->cfg.data_dir, a->stream->name, a->label, i->index) &&
        strlen(i->errors) < 100)
        return 0;
    return tcp_endpoint(s, i->errors, sizeof i->errors);
}

int srv_dep_alloc_endpoints(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;
    bool sink = a->pos + 1 == (int)a->stream->napps && !a->stream->ast->sink;

    i->output[0] = i->tap[0] = i->errors[0] = '\0';
    /* Every app, a sink too, may reject events. */
    if (errors_endpoint(s, i))
        return -1;
    if (sink)
        return 0;
    if (a->lanes > 1 && !srv_dep_feeds_destination(a)) {
        if (lane_endpoints(s, i))
            return -1;
        if (a->tcp ||
            srv_fmt(i->tap, sizeof i->tap, "ipc://%s/run/%s.%s.%d.tap",
                    s->cfg.data_dir, a->stream->name, a->label, i->index) ||
            strlen(i->tap) >= 100)
            return tcp_endpoint(s, i->tap, sizeof i->tap);
        return 0;
    }
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

/* How many '|'-separated lanes ep has. */
static int lanes_in(const char *ep)
{
    int n = 1;

    for (const char *p = ep; (p = strchr(p, '|')); p++)
        n++;
    return n;
}

/* Makes the group endpoint base (len bytes) the list of n lanes: for an
 * ipc:// base BASE.l0|BASE.l1|..., for tcp:// a free port each. -1 with
 * errno set when it does not fit or no port is free. */
static int group_lanes_make(srv *s, char *base, size_t len, int n)
{
    char first[SRV_EP_MAX], ep[SRV_EP_MAX];
    bool ipc = strncmp(base, "ipc://", 6) == 0;
    size_t off = 0;

    snprintf(first, sizeof first, "%s", base);
    base[0] = '\0';
    for (int j = 0; j < n; j++) {
        if (ipc && srv_fmt(ep, sizeof ep, "%s.l%d", first, j)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (!ipc && tcp_endpoint(s, ep, sizeof ep))
            return -1;
        int w = snprintf(base + off, len - off, "%s%s", j ? "|" : "", ep);
        if (w < 0 || (size_t)w >= len - off) {
            errno = ENAMETOOLONG;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/*
 * The lanes of producer app a's group for consumer stream c, and into
 * first (optional) the lane of c's instance 0. Under a guarantee a
 * barrier must reach every instance that reads the group, and a PUSH
 * socket hands each message to one of its readers only: a group that
 * several instances read (a consumer stream scaled, or several streams of
 * one consumer group) is one lane per reader instance, in the order of
 * the streams. Otherwise (and for a router's and a tap's groups) one
 * lane, which its readers share.
 */
static int group_lanes(srv *s, const srv_dapp *a, const srv_stream *c,
                       int *first)
{
    const char *name = srv_stream_group(c);
    int n = 0;

    if (first)
        *first = 0;
    if (a->stream->guarantee == SRV_GUARANTEE_NONE || !name ||
        srv_dep_is_router(a) || c->tap || srv_tap_reads(c, a))
        return 1;
    for (srv_stream *o = s->streams; o; o = o->next) {
        const char *og = srv_stream_group(o);
        if (o->tap || !og || strcmp(og, name) != 0 || !consumes_from(a, o))
            continue;
        if (o == c && first)
            *first = n;
        n += o->apps[0].count;
    }
    return n > 1 ? n : 1;
}

/*
 * Producer instance u's output group named name, made when first asked
 * for unless recorded_only (while flowd works out what adopted instances
 * read, only the groups taken back from the store exist):
 * ipc://DATA/run/STREAM.LABEL.N.to.GROUP, or for a router's destination
 * dest ipc://DATA/run/STREAM.LABEL.N.route.DEST.to.GROUP (tcp like the
 * instance's other endpoints when the path is too long or the app uses
 * tcp). NULL when out of memory or of free TCP ports.
 */
static const char *group_make(srv *s, srv_inst *u, const char *name,
                              const char *dest, const char *group, int lanes,
                              bool recorded_only)
{
    srv_dapp *a = u->app;
    int rc;

    /* A stored definition may predate the check of group names; such a
     * name never becomes a path. */
    if (!name || !group || !srv_name_ok(group))
        return NULL;
    for (int k = 0; k < u->ngroups; k++) {
        if (strcmp(u->groups[k].group, name) != 0)
            continue;
        if (recorded_only || lanes_in(u->groups[k].ep) == lanes)
            return u->groups[k].ep;
        /* Its readers changed: the group is made again with a lane
         * each. */
        if (u->ident_len)
            srv_control_send_connect(s, u, "disconnect", "output",
                                     u->groups[k].ep);
        srv_dep_forget_group_rows(s, u, name);
        srv_dep_unlink_ipc(u->groups[k].ep);
        u->groups[k] = u->groups[--u->ngroups];
        break;
    }
    if (recorded_only)
        return NULL;
    srv_group *n = realloc(u->groups, (size_t)(u->ngroups + 1) * sizeof *n);
    if (!n)
        return NULL;
    u->groups = n;
    srv_group *g = &n[u->ngroups++];
    snprintf(g->group, sizeof g->group, "%s", name);
    if (dest)
        rc = srv_fmt(g->ep, sizeof g->ep,
                     "ipc://%s/run/%s.%s.%d.route.%s.to.%s", s->cfg.data_dir,
                     a->stream->name, a->label, u->index, dest, group);
    else
        rc = srv_fmt(g->ep, sizeof g->ep, "ipc://%s/run/%s.%s.%d.to.%s",
                     s->cfg.data_dir, a->stream->name, a->label, u->index,
                     group);
    if ((a->tcp || rc || strlen(g->ep) + (lanes > 1 ? 4 : 0) >= 100) &&
        tcp_endpoint(s, g->ep, sizeof g->ep)) {
        u->ngroups--;
        return NULL;
    }
    if (lanes > 1 && group_lanes_make(s, g->ep, sizeof g->ep, lanes)) {
        u->ngroups--;
        return NULL;
    }
    srv_dep_save_group(s, u, g);
    return g->ep;
}

/* Producer instance u's output group named name (an outside consumer
 * group's, say), as group_make. */
static const char *group_named(srv *s, srv_inst *u, const char *name,
                               bool recorded_only)
{
    return group_make(s, u, name, NULL, name, 1, recorded_only);
}

/* The output group of producer instance u that consumer stream c reads:
 * the one of c's consumer group (srv_stream_group), shared by every
 * stream of that group; a router's is per destination. */
static const char *group_of(srv *s, srv_inst *u, const srv_stream *c,
                            bool recorded_only)
{
    char key[sizeof u->groups[0].group];
    const char *name = group_key(u->app, c, key, sizeof key);
    bool router = srv_dep_is_router(u->app);

    return group_make(s, u, name, router ? c->ast->source->name : NULL,
                      srv_stream_group(c), group_lanes(s, u->app, c, NULL),
                      recorded_only);
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
        if (strcmp(c, SRV_DEP_ERRORS_ROW) == 0) {
            snprintf(u->errors, sizeof u->errors, "%s", ep);
            continue;
        }
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
 * for c (c reads u's destination or taps u's app), or its shared output. */
static const char *output_for(srv *s, srv_inst *u, const srv_stream *c,
                              bool recorded_only)
{
    if (c != u->app->stream &&
        (srv_dep_feeds_destination(u->app) || srv_tap_reads(c, u->app)))
        return group_of(s, u, c, recorded_only);
    return u->output;
}

/* Appends ep to the ';'-separated list unless it is there. */
static void spec_add(char *list, size_t len, const char *ep)
{
    size_t n = strlen(ep), off = strlen(list);

    if (!ep[0])
        return;
    for (const char *p = strstr(list, ep); p; p = strstr(p + 1, ep))
        if ((p == list || p[-1] == ';') && (p[n] == ';' || !p[n]))
            return;
    snprintf(list + off, len - off, "%s%s", off ? ";" : "", ep);
}

/* Appends to list what every running instance of a gives instance idx of
 * stream c's consumer to read: its output (lane idx of it, when it has
 * lanes), or its group for c when a feeds a destination. */
static void add_outputs(srv *s, const srv_dapp *a, const srv_stream *c, int idx,
                        bool recorded_only, char *list, size_t len)
{
    char lane[SRV_EP_MAX];

    for (int k = 0; k < a->ninst; k++) {
        srv_inst *u = a->inst[k];
        size_t off = strlen(list);
        const char *ep =
            u->removing ? NULL : output_for(s, u, c, recorded_only);
        if (!ep || !ep[0])
            continue;
        if (strchr(ep, '|')) {
            int first = 0;
            if (ep != u->output)
                group_lanes(s, a, c, &first);
            if (!srv_output_lane(ep, first + idx, lane, sizeof lane))
                continue;
            ep = lane;
        }
        snprintf(list + off, len - off, "%s%s", off ? "," : "", ep);
    }
}

/* Is o a deployed stream that writes to destination dest (`... > :dest`)? */
static bool writes_dest(const srv_stream *o, const char *dest)
{
    if (!o->deployed || !o->ast || !o->napps || srv_kafka_writes(o, dest))
        return false;
    if (!o->ast->sink)
        return srv_dep_routes_to(&o->apps[o->napps - 1], dest);
    return strcmp(o->ast->sink->name, dest) == 0;
}

/* Is c a deployed stream that reads destination dest (`:dest > ...`; a
 * tap reads an app, not a destination)? */
static bool reads_dest(const srv_stream *c, const char *dest)
{
    return c->deployed && c->ast && c->ast->source && !c->tap && c->napps &&
           !c->apps[0].kafka && strcmp(c->ast->source->name, dest) == 0;
}

void srv_dep_output_spec(srv *s, srv_inst *i, char *buf, size_t len)
{
    srv_dapp *a = i->app;
    bool tapped = false;
    /* It writes one destination (a router's are told at its hello). */
    bool writes = a->pos + 1 == (int)a->stream->napps && a->stream->ast->sink &&
                  !srv_dep_is_router(a);

    snprintf(buf, len, "%s", i->output);
    for (srv_stream *c = s->streams; c && !tapped; c = c->next)
        tapped = srv_tap_reads(c, a);
    /*
     * Under a guarantee the groups of the destination it writes are there
     * from the first event on: a group told at the hello would miss the
     * batches sent to the others before it came (a producer starts as
     * soon as its first group is there), and those events are after the
     * restored cut in its state but in no consumer's, so no replay
     * brings them back (a restarted saga lost the first commands to the
     * warehouse that way).
     */
    if (!tapped && !(writes && a->stream->guarantee != SRV_GUARANTEE_NONE))
        return;
    /* The tap streams' groups are there from the first event on, and so
     * then are a destination's (a producer without them would send its
     * first batches to its taps alone). */
    for (srv_stream *c = s->streams; c; c = c->next) {
        bool dest = writes && reads_dest(c, a->stream->ast->sink->name);
        const char *ep =
            dest || srv_tap_reads(c, a) ? group_of(s, i, c, false) : NULL;
        if (ep)
            spec_add(buf, len, ep);
    }
}

void srv_dep_collect_inputs(srv *s, const srv_dapp *a, int idx,
                            bool recorded_only, char *list, size_t len)
{
    srv_stream *st = a->stream;

    list[0] = '\0';
    /* A topic is read through the Kafka client (spawn.c's kafka_args). */
    if (srv_kafka_in(s, a, NULL, 0, NULL, 0))
        return;
    if (a->pos > 0) {
        add_outputs(s, &st->apps[a->pos - 1], st, idx, recorded_only, list,
                    len);
        return;
    }
    if (st->tap) {
        srv_dapp *t = srv_tap_target(s, st);
        if (t)
            add_outputs(s, t, st, idx, recorded_only, list, len);
        return;
    }
    if (!st->ast->source)
        return;
    if (srv_dlq_is_dest(s, st->ast->source->name)) {
        const char *ep = srv_dlq_group_endpoint(s, st->ast->source->name,
                                                srv_stream_group(st));
        snprintf(list, len, "%s", ep ? ep : "");
        return;
    }
    for (srv_stream *o = s->streams; o; o = o->next)
        if (writes_dest(o, st->ast->source->name))
            add_outputs(s, &o->apps[o->napps - 1], st, idx, recorded_only, list,
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

    for (srv_stream *o = s->streams; o; o = o->next)
        if (o != st && srv_tap_reads(o, a))
            fn(s, &o->apps[0], ud);
    if (a->pos + 1 < (int)st->napps) {
        if (!srv_kafka_pipe(a))
            fn(s, &st->apps[a->pos + 1], ud);
        return;
    }
    if (!srv_dep_feeds_destination(a))
        return;
    for (srv_stream *o = s->streams; o; o = o->next)
        if (!o->tap && consumes_from(a, o))
            fn(s, &o->apps[0], ud);
}

void srv_dep_send_connect(srv *s, srv_dapp *c, void *ud)
{
    struct connect_ud *cu = ud;
    const char *ep = output_for(s, cu->producer, c->stream, false);
    char lane[SRV_EP_MAX];

    int first = 0;

    if (!ep || !ep[0])
        return;
    if (ep != cu->producer->output)
        group_lanes(s, cu->producer->app, c->stream, &first);
    for (int k = 0; k < c->ninst; k++) {
        const char *mine = ep;
        if (strchr(ep, '|')) {
            if (!srv_output_lane(ep, first + c->inst[k]->index, lane,
                                 sizeof lane))
                continue;
            mine = lane;
        }
        srv_control_send_connect(s, c->inst[k], cu->type, "input", mine);
    }
}

/* Instance i runs with another output than it has now (its consumer was
 * scaled): the old one goes first, so that no event reaches both. */
static void catch_up_output(srv *s, srv_inst *i)
{
    if (!i->spawn_output || strcmp(i->spawn_output, i->output) == 0)
        return;
    char *now = strdup(i->output);
    if (!now)
        return;
    if (i->spawn_output[0])
        srv_control_send_connect(s, i, "disconnect", "output", i->spawn_output);
    if (now[0])
        srv_control_send_connect(s, i, "connect", "output", now);
    free(i->spawn_output);
    i->spawn_output = now;
}

void srv_dep_relane(srv *s, srv_dapp *p, int lanes)
{
    srv_stream *st = p->stream;
    char *old = malloc(SRV_OUTPUT_MAX);

    if (lanes < 1)
        lanes = 1;
    if (p->lanes == lanes || !old || p->pos + 1 >= (int)st->napps ||
        srv_dep_feeds_destination(p)) {
        p->lanes = lanes;
        free(old);
        return;
    }
    p->lanes = lanes;
    for (int k = 0; k < p->ninst; k++) {
        srv_inst *u = p->inst[k];
        if (u->removing)
            continue;
        snprintf(old, SRV_OUTPUT_MAX, "%s", u->output);
        if (srv_dep_alloc_endpoints(s, u)) {
            char id[160];
            srv_inst_id(u, id, sizeof id);
            fprintf(stderr,
                    "flowd: [%s] cannot make an output of %d lanes (%s); it "
                    "keeps %s\n",
                    id, lanes, strerror(errno), old);
            snprintf(u->output, sizeof u->output, "%s", old);
            continue;
        }
        srv_dep_save_inst(s, u);
        /* Before its hello it is told at the hello (catch_up_output). */
        if (u->ident_len)
            catch_up_output(s, u);
    }
    free(old);
    srv_dapp *c = &st->apps[p->pos + 1];
    for (int k = 0; k < c->ninst; k++)
        if (!c->inst[k]->removing && c->inst[k]->ident_len)
            srv_inst_catch_up(s, c->inst[k]);
}

/* Sends producer instance u "connect" of its output group for every
 * deployed stream that reads its destination or taps its app. */
static void connect_groups(srv *s, srv_inst *u)
{
    char port[SRV_NAME_MAX + 32];

    for (srv_stream *c = s->streams; c; c = c->next) {
        if (!consumes_from(u->app, c))
            continue;
        const char *ep = group_of(s, u, c, false);
        if (ep)
            srv_control_send_connect(
                s, u, "connect", out_port(u->app, c, port, sizeof port), ep);
    }
    for (srv_outside *x = s->outside; x && srv_dep_feeds_destination(u->app);
         x = x->next) {
        if (x->producer || strcmp(x->dest, u->app->stream->ast->sink->name))
            continue;
        const char *ep = group_named(s, u, x->name, false);
        if (ep)
            srv_control_send_connect(s, u, "connect", "output", ep);
    }
}

/* Is another deployed stream than c in c's consumer group of the
 * destination or tap c reads? */
static bool group_shared(srv *s, const srv_stream *c)
{
    const char *name = srv_stream_group(c);

    for (srv_stream *o = s->streams; o; o = o->next) {
        if (o == c || !o->deployed || !o->ast || !o->ast->source || !o->napps ||
            !o->tap != !c->tap ||
            strcmp(o->ast->source->name, c->ast->source->name))
            continue;
        const char *og = srv_stream_group(o);
        if (og && name && strcmp(og, name) == 0)
            return true;
    }
    return false;
}

/* A producer instance of the destination c reads whose group for c has
 * other lanes than its readers need now (a stream of a shared consumer
 * group came or went), or NULL. */
static srv_inst *group_relaned(srv *s, const srv_stream *c)
{
    char key[sizeof((srv_group *)0)->group];

    if (c->tap)
        return NULL;
    for (srv_stream *o = s->streams; o; o = o->next) {
        if (!writes_dest(o, c->ast->source->name))
            continue;
        srv_dapp *last = &o->apps[o->napps - 1];
        const char *name = group_key(last, c, key, sizeof key);
        int lanes = group_lanes(s, last, c, NULL);
        for (int j = 0; name && j < last->ninst; j++) {
            srv_inst *u = last->inst[j];
            for (int k = 0; k < u->ngroups; k++)
                if (!u->removing && strcmp(u->groups[k].group, name) == 0 &&
                    lanes_in(u->groups[k].ep) != lanes)
                    return u;
        }
    }
    return NULL;
}

void srv_dep_producers_groups(srv *s, srv_stream *c, bool connect)
{
    if (!c->ast || !c->ast->source)
        return;
    /* Under a guarantee a group of lanes cannot change its readers while
     * events and barriers are on their way: its region restarts from its
     * last checkpoint, and every producer makes the group again. */
    srv_inst *relaned = group_relaned(s, c);
    if (relaned) {
        srv_dep_region_fault(s, relaned,
                             "the readers of its consumer group changed");
        return;
    }
    if (!connect && group_shared(s, c))
        return;
    srv_dapp *t = srv_tap_target(s, c);
    for (srv_stream *o = s->streams; o; o = o->next) {
        srv_dapp *last = NULL;
        if (c->tap && t && t->stream == o)
            last = t;
        else if (!c->tap && writes_dest(o, c->ast->source->name))
            last = &o->apps[o->napps - 1];
        if (!last)
            continue;
        char port[SRV_NAME_MAX + 32], key[sizeof last->inst[0]->groups->group];
        for (int j = 0; j < last->ninst; j++) {
            srv_inst *u = last->inst[j];
            const char *ep = group_of(s, u, c, false);
            const char *name = group_key(last, c, key, sizeof key);
            if (!ep || !name)
                continue;
            srv_control_send_connect(s, u, connect ? "connect" : "disconnect",
                                     out_port(last, c, port, sizeof port), ep);
            if (!connect)
                forget_group(s, u, name);
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

    connect_groups(s, i);
    if (!srv_dep_feeds_destination(a) && !a->stream->host)
        catch_up_output(s, i);
    if (a->pos > 0 && a->stream->host)
        return;
    srv_dep_collect_inputs(s, a, i->index, false, now, sizeof now);
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
    char lane[SRV_EP_MAX];
    const char *bar;

    /* An output of lanes: each of them. */
    while ((bar = strchr(ep, '|'))) {
        if (srv_output_lane(ep, 0, lane, sizeof lane))
            srv_dep_unlink_ipc(lane);
        ep = bar + 1;
    }
    if (strncmp(ep, "ipc://", 6) == 0)
        unlink(ep + 6);
}

/* The first apps of the deployed streams of consumer group g that read
 * producer instance u's destination read u's group g, which moved from
 * old. */
static void send_moved_group(srv *s, srv_inst *u, const srv_group *g,
                             const char *old)
{
    char key[sizeof g->group];

    for (srv_stream *c = s->streams; c; c = c->next) {
        if (!consumes_from(u->app, c))
            continue;
        const char *cg = group_key(u->app, c, key, sizeof key);
        if (!cg || strcmp(cg, g->group))
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
    if (i->tap[0] && !s->os->tcp_free(s->os_ud, i->tap))
        move_ep(s, id, "tap", i->tap, sizeof i->tap, old);
    if (i->errors[0] && !s->os->tcp_free(s->os_ud, i->errors) &&
        move_ep(s, id, "error output", i->errors, sizeof i->errors, old))
        srv_dlq_refresh(s);
    /* An output of lanes keeps its ports (they are not moved). */
    if (i->output[0] && !strchr(i->output, '|') &&
        !s->os->tcp_free(s->os_ud, i->output) &&
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
        char what[sizeof g->group + 32];
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

void srv_dep_send_tap_connect(srv *s, srv_dapp *c, void *ud)
{
    struct connect_ud *cu = ud;

    if (srv_tap_reads(c->stream, cu->producer->app))
        srv_dep_send_connect(s, c, ud);
}

void srv_dep_notify_taps(srv *s, srv_stream *st)
{
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++) {
            struct connect_ud cu = { "connect", st->apps[k].inst[j] };
            srv_dep_for_each_consumer(s, &st->apps[k], srv_dep_send_tap_connect,
                                      &cu);
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
