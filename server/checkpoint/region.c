/* Regions: the deployed streams that restart together (a stream, the
 * streams it shares a named destination with, transitively, and the
 * deployed taps and dead-letter consumers of any of them), and the
 * guarantee each keeps. */
#include <stdio.h>
#include <string.h>

#include "coordinator.h"

/* Does st read an app of another stream: a tap of it, or its dead
 * letters (`:S.L.errors`, relayed by flowd unchanged, barriers
 * included)? Then that stream's and app's names go into stream and
 * label. */
static bool reads_app(srv *s, srv_stream *st, char *stream, size_t slen,
                      char *label, size_t llen)
{
    return srv_tap_source(s, st, stream, slen, label, llen) ||
           srv_dlq_source(s, st, stream, slen, label, llen);
}

/* The named destination st reads over ZeroMQ (not a tap nor dead
 * letters), or NULL. A Kafka topic ends a region: barriers never go into
 * Kafka, and the app reading it is a source of its own region (the topic
 * replays from the offsets in its snapshot). */
static const char *dest_read(srv *s, srv_stream *st)
{
    char stream[SRV_NAME_MAX + 16], label[SRV_NAME_MAX + 16];

    if (!st->ast || !st->ast->source ||
        reads_app(s, st, stream, sizeof stream, label, sizeof label) ||
        srv_kafka_reads(s, st, st->ast->source->name))
        return NULL;
    return st->ast->source->name;
}

/* The named destination st writes over ZeroMQ, or NULL. */
static const char *dest_written(const srv_stream *st)
{
    return st->ast && st->ast->sink &&
                   !srv_kafka_writes(st, st->ast->sink->name)
               ? st->ast->sink->name
               : NULL;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Does st write destination d: its `> :d`, or d is one its last app, a
 * router, sends to? */
static bool writes(srv *s, const srv_stream *st, const char *d)
{
    if (!d || !st->ast)
        return false;
    if (st->ast->sink)
        return strcmp(st->ast->sink->name, d) == 0 && !srv_kafka_writes(st, d);
    return st->napps && s->ckpt && s->ckpt->routes &&
           s->ckpt->routes(&st->apps[st->napps - 1], d);
}

/* Does b read an app of a (a tap of it, or its dead letters)? */
static bool taps(srv *s, srv_stream *b, const srv_stream *a)
{
    char stream[SRV_NAME_MAX + 16], label[SRV_NAME_MAX + 16];

    return reads_app(s, b, stream, sizeof stream, label, sizeof label) &&
           strcmp(stream, a->name) == 0;
}

static bool linked(srv *s, srv_stream *a, srv_stream *b)
{
    const char *ra = dest_read(s, a), *wa = dest_written(a);
    const char *rb = dest_read(s, b), *wb = dest_written(b);

    return same(ra, rb) || writes(s, b, ra) || writes(s, a, rb) ||
           same(wa, wb) || taps(s, a, b) || taps(s, b, a);
}

/* The deployed streams linked to st, st first, at most max into out;
 * returns how many (st alone when it is not deployed: 1). */
static size_t component(srv *s, srv_stream *st, srv_stream **out, size_t max)
{
    size_t n = 0;

    if (max == 0)
        return 0;
    out[n++] = st;
    for (size_t k = 0; k < n; k++)
        for (srv_stream *o = s->streams; o && n < max; o = o->next) {
            bool in = false;
            for (size_t j = 0; j < n && !in; j++)
                in = out[j] == o;
            if (!in && o->deployed && linked(s, out[k], o))
                out[n++] = o;
        }
    return n;
}

/* The first-deployed stream of a component (ties by name). */
static srv_stream *first_of(srv_stream **v, size_t n)
{
    srv_stream *f = v[0];

    for (size_t k = 1; k < n; k++)
        if (v[k]->deployed_ms < f->deployed_ms ||
            (v[k]->deployed_ms == f->deployed_ms &&
             strcmp(v[k]->name, f->name) < 0))
            f = v[k];
    return f;
}

srv_region *srv_ckpt_region_of(srv *s, srv_stream *st)
{
    srv_stream *v[SRV_CKPT_REGION_MAX];

    if (!s->ckpt || !st->deployed)
        return NULL;
    size_t n = component(s, st, v, SRV_CKPT_REGION_MAX);
    return srv_ckpt_region_get(s, first_of(v, n)->name);
}

const char *srv_ckpt_region_id(const srv_region *r)
{
    return r->id;
}

size_t srv_ckpt_region_streams(srv *s, srv_region *r, srv_stream **out,
                               size_t max)
{
    srv_stream *st = srv_stream_find(s, r->id);
    srv_stream *v[SRV_CKPT_REGION_MAX];

    if (st && st->deployed) {
        size_t n = component(s, st, v, SRV_CKPT_REGION_MAX);
        for (size_t k = 0; k < n && k < max; k++)
            out[k] = v[k];
        return n;
    }
    /* Its first stream went: whichever deployed stream names r now. */
    for (srv_stream *o = s->streams; o; o = o->next) {
        if (!o->deployed)
            continue;
        size_t n = component(s, o, v, SRV_CKPT_REGION_MAX);
        if (strcmp(first_of(v, n)->name, r->id) != 0)
            continue;
        for (size_t k = 0; k < n && k < max; k++)
            out[k] = v[k];
        return n;
    }
    return 0;
}

/* The live channels of producer p (its instances but the completed
 * ones: a producer instance that completed sends nothing more, not even
 * a barrier, so it is no channel to align on). */
static int live_channels(const srv_dapp *p)
{
    int done = 0;
    for (int j = 0; j < p->ninst; j++)
        done += p->inst[j]->state == SRV_INST_STOPPED;
    return p->count > done ? p->count - done : 0;
}

/* The back edges of a region's graph of streams: a stream is entered at
 * its first app and left at its last (pipes only go forward), and its
 * last app's destination leads into the streams that read it. */
struct dfs {
    srv *s;
    srv_stream *v[SRV_CKPT_REGION_MAX]; /* the region's streams */
    size_t n;
    int mark[SRV_CKPT_REGION_MAX]; /* 0 new, 1 on the stack, 2 done */
    /* The back edges found: producer stream -> consumer stream. */
    srv_stream *from[SRV_CKPT_REGION_MAX * 4], *to[SRV_CKPT_REGION_MAX * 4];
    size_t nback;
};

static size_t index_of(const struct dfs *d, const srv_stream *st)
{
    for (size_t k = 0; k < d->n; k++)
        if (d->v[k] == st)
            return k;
    return d->n;
}

/* The first stream of d after the name after (NULL: from the start), in
 * name order, that passes the test; d->n when none. Searching in name
 * order makes the same region always give the same back edges. */
static size_t next_by_name(const struct dfs *d, const char *after,
                           bool (*test)(const struct dfs *, srv_stream *,
                                        const void *),
                           const void *arg)
{
    size_t best = d->n;
    for (size_t k = 0; k < d->n; k++) {
        if (!test(d, d->v[k], arg) ||
            (after && strcmp(d->v[k]->name, after) <= 0))
            continue;
        if (best == d->n || strcmp(d->v[k]->name, d->v[best]->name) < 0)
            best = k;
    }
    return best;
}

static bool is_source(const struct dfs *d, srv_stream *st, const void *arg)
{
    (void)d;
    (void)arg;
    return st->napps > 0 && st->ast && !st->ast->source;
}

/* Does st read a destination the stream arg writes? (A router is never
 * wired to its own stream's input, as the deployer wires it.) */
static bool reads_from(const struct dfs *d, srv_stream *st, const void *arg)
{
    const srv_stream *p = arg;
    const char *r = st->napps ? dest_read(d->s, st) : NULL;
    if (st == p && p->ast && !p->ast->sink)
        return false;
    return r && writes(d->s, p, r);
}

static void visit(struct dfs *d, size_t k)
{
    srv_stream *st = d->v[k];
    d->mark[k] = 1;
    for (size_t j = next_by_name(d, NULL, reads_from, st); j < d->n;
         j = next_by_name(d, d->v[j]->name, reads_from, st)) {
        if (d->mark[j] == 1) {
            if (d->nback < sizeof d->from / sizeof d->from[0]) {
                d->from[d->nback] = st;
                d->to[d->nback++] = d->v[j];
            }
        } else if (d->mark[j] == 0) {
            visit(d, j);
        }
    }
    d->mark[k] = 2;
}

static bool any(const struct dfs *d, srv_stream *st, const void *arg)
{
    (void)d;
    (void)st;
    (void)arg;
    return true;
}

/* The search over d->v: from the source streams, in name order, and with
 * all, then from every stream still unvisited too. */
static void search(struct dfs *d, bool all)
{
    for (size_t k = next_by_name(d, NULL, is_source, NULL); k < d->n;
         k = next_by_name(d, d->v[k]->name, is_source, NULL))
        if (d->mark[k] == 0)
            visit(d, k);
    for (size_t k = next_by_name(d, NULL, any, NULL); all && k < d->n;
         k = next_by_name(d, d->v[k]->name, any, NULL))
        if (d->mark[k] == 0)
            visit(d, k);
}

/* The back edges of the region of st, from its source streams. */
static void back_edges(srv *s, srv_stream *st, struct dfs *d)
{
    memset(d, 0, sizeof *d);
    d->s = s;
    srv_region *r = srv_ckpt_region_of(s, st);
    if (!r)
        return;
    d->n = srv_ckpt_region_streams(s, r, d->v, SRV_CKPT_REGION_MAX);
    if (d->n > SRV_CKPT_REGION_MAX)
        d->n = SRV_CKPT_REGION_MAX;
    search(d, false);
}

/* Can the source app a (the first of its stream, reading nothing) start
 * again from a recorded position: load-sim and time from their state, the
 * file source from its files' offsets, http and tcp from their durable
 * input logs? (At the first position the name is the source's: the file
 * sink shares its name.) */
static bool replays(const srv_dapp *a)
{
    static const char *const names[] = { "load-sim", "time", "file",
                                         "http",     "tcp",  "account-web",
                                         "order-sim" };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcmp(a->name, names[k]) == 0)
            return true;
    return false;
}

/* The guarantee the component v of n streams can keep, and why it is
 * capped when it is, into note; *idle when it keeps it but takes no
 * checkpoint (note says why). */
static srv_guarantee cap_of(srv *s, srv_stream **v, size_t n, char *note,
                            size_t len, bool *idle)
{
    for (size_t k = 0; k < n; k++) {
        srv_stream *st = v[k];
        if (st->host) {
            snprintf(note, len,
                     "stream '%s' runs in one process "
                     "(deployer.packaging=single), which keeps no "
                     "checkpoints",
                     st->name);
            return SRV_GUARANTEE_NONE;
        }
    }
    for (size_t k = 0; k < n; k++) {
        srv_stream *st = v[k];
        if (st->napps == 0)
            continue;
        const char *d = dest_read(s, st);
        if (!st->ast->source && !replays(&st->apps[0])) {
            snprintf(note, len,
                     "the source '%s' of stream '%s' cannot replay its "
                     "events: at-least-once at most, for the events it has "
                     "handed on",
                     st->apps[0].label, st->name);
            return SRV_GUARANTEE_AT_LEAST_ONCE;
        }
        if (d) {
            bool produced = false;
            for (size_t j = 0; j < n && !produced; j++)
                produced = writes(s, v[j], d);
            if (!produced) {
                snprintf(note, len,
                         "':%s' is fed by a producer outside flowd, which "
                         "cannot replay: at-least-once at most",
                         d);
                return SRV_GUARANTEE_AT_LEAST_ONCE;
            }
        }
    }
    /* Every destination read is written inside the region, yet no stream
     * starts with a source: the streams make a cycle of named
     * destinations that nothing feeds, and nothing starts a checkpoint
     * (flowd tells the sources) until a stream with a source joins. The
     * guarantee stays, so that the instances need not start again then,
     * and the note says so. */
    bool source = false;
    for (size_t k = 0; k < n && !source; k++)
        source = v[k]->napps && v[k]->ast && !v[k]->ast->source;
    struct dfs d;
    memset(&d, 0, sizeof d);
    d.s = s;
    d.n = n < SRV_CKPT_REGION_MAX ? n : SRV_CKPT_REGION_MAX;
    memcpy(d.v, v, d.n * sizeof *v);
    if (!source)
        search(&d, true);
    if (!source && d.nback > 0) {
        *idle = true;
        snprintf(note, len,
                 "no stream of the region starts with a source app, so its "
                 "cycle of named destinations has nothing to start a "
                 "checkpoint: none is taken until a stream with a source "
                 "joins the region");
    }
    return SRV_GUARANTEE_EXACTLY_ONCE;
}

void srv_ckpt_regions_update(srv *s)
{
    srv_stream *v[SRV_CKPT_REGION_MAX];

    for (srv_stream *st = s->streams; st; st = st->next) {
        st->guarantee_note[0] = '\0';
        if (!st->deployed) {
            st->guarantee = SRV_GUARANTEE_NONE;
            continue;
        }
        size_t n = component(s, st, v, SRV_CKPT_REGION_MAX);
        srv_guarantee want = st->flow.guarantee;
        srv_stream *weakest = st;
        for (size_t k = 0; k < n; k++)
            if (v[k]->flow.guarantee < want) {
                want = v[k]->flow.guarantee;
                weakest = v[k];
            }
        char note[256] = "";
        bool idle = false;
        srv_guarantee cap = cap_of(s, v, n, note, sizeof note, &idle);
        if (want > cap) {
            if (st->flow.guarantee_set || cap == SRV_GUARANTEE_NONE)
                snprintf(st->guarantee_note, sizeof st->guarantee_note, "%s",
                         note);
            else
                snprintf(st->guarantee_note, sizeof st->guarantee_note,
                         "%s (the default where every source can replay "
                         "is exactly-once)",
                         note);
            want = cap;
        } else if (idle) {
            snprintf(st->guarantee_note, sizeof st->guarantee_note, "%s", note);
        } else if (want < st->flow.guarantee) {
            snprintf(st->guarantee_note, sizeof st->guarantee_note,
                     "stream '%s' of the same region asks for %s",
                     weakest->name, srv_guarantee_name(want));
        }
        st->guarantee = want;
    }
}

bool srv_ckpt_cyclic(srv *s, srv_region *r)
{
    srv_stream *v[SRV_CKPT_REGION_MAX];
    struct dfs d;

    if (srv_ckpt_region_streams(s, r, v, SRV_CKPT_REGION_MAX) == 0)
        return false;
    back_edges(s, v[0], &d);
    return d.nback > 0;
}

int srv_ckpt_feedback_of(srv *s, const srv_dapp *a, char *ids, size_t len)
{
    struct dfs d;
    int n = 0;
    size_t off = 0;

    if (len)
        ids[0] = '\0';
    if (a->pos > 0 || !srv_ckpt_reads_destination(s, a))
        return 0;
    back_edges(s, a->stream, &d);
    if (index_of(&d, a->stream) == d.n)
        return 0;
    for (size_t k = 0; k < d.nback; k++) {
        if (d.to[k] != a->stream || !d.from[k]->napps)
            continue;
        const srv_dapp *p = &d.from[k]->apps[d.from[k]->napps - 1];
        n += live_channels(p);
        int w = snprintf(ids + off, off < len ? len - off : 0, "%s%s.%s",
                         off ? "," : "", d.from[k]->name, p->label);
        if (w > 0)
            off += (size_t)w;
    }
    if (off >= len && len)
        return -1;
    return n;
}

int srv_ckpt_upstreams_of(srv *s, const srv_dapp *a)
{
    srv_stream *st = a->stream;
    char stream[SRV_NAME_MAX + 16], label[SRV_NAME_MAX + 16];

    /* The app after a Kafka pipe reads a topic: a source, no channel. */
    if (a->pos > 0)
        return srv_kafka_pipe(&st->apps[a->pos - 1])
                   ? 0
                   : st->apps[a->pos - 1].count;
    /* A tap, or dead letters: one channel per instance of the app. */
    if (reads_app(s, st, stream, sizeof stream, label, sizeof label)) {
        srv_stream *t = srv_stream_find(s, stream);
        srv_dapp *ta = t ? srv_stream_app(t, label) : NULL;
        return ta ? ta->count : 0;
    }
    const char *d = dest_read(s, st);
    if (!d)
        return 0;
    int n = 0;
    for (srv_stream *o = s->streams; o; o = o->next) {
        if (!o->deployed || !o->napps || !writes(s, o, d))
            continue;
        n += live_channels(&o->apps[o->napps - 1]);
    }
    /* The back edges of a cycle are not aligned on. */
    char ids[4096];
    int fb = srv_ckpt_feedback_of(s, a, ids, sizeof ids);
    return fb > 0 && fb < n ? n - fb : fb > 0 ? 0 : n;
}

bool srv_ckpt_reads_destination(srv *s, const srv_dapp *a)
{
    return a->pos == 0 && dest_read(s, a->stream) != NULL;
}

bool srv_ckpt_feeds(srv *s, const srv_stream *p, const srv_dapp *a)
{
    return a->pos == 0 && same(dest_written(p), dest_read(s, a->stream));
}

bool srv_ckpt_is_source(srv *s, const srv_dapp *a)
{
    return (a->pos == 0 && a->stream->ast && !a->stream->ast->source) ||
           srv_kafka_in(s, a, NULL, 0, NULL, 0);
}
