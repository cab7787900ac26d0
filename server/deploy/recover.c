/* Recovery of a guaranteed stream: its region (the streams that restart
 * together, checkpoint/) stops as one (SIGKILL to every instance, the
 * silent and the stopped ones too) and starts again as one, in the next
 * epoch, every instance restoring its snapshot of the last complete
 * checkpoint. A rescale of a guaranteed stream is the same restart, after
 * a checkpoint taken for it, with the new parallelism. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "deploy.h"

#define REGION_MAX 64

/* Kills every instance of r's streams that runs, and marks every one
 * that is not done for the restart. */
static void kill_region(srv *s, srv_region *r)
{
    srv_stream *v[REGION_MAX];
    size_t n = srv_ckpt_region_streams(s, r, v, REGION_MAX);

    for (size_t k = 0; k < n; k++)
        for (size_t a = 0; a < v[k]->napps; a++)
            for (int j = 0; j < v[k]->apps[a].ninst; j++) {
                srv_inst *i = v[k]->apps[a].inst[j];
                if (i->removing || i->state == SRV_INST_UNDEPLOYING ||
                    i->state == SRV_INST_FAILED ||
                    (i->state == SRV_INST_STOPPED && i->pid <= 0))
                    continue;
                uv_timer_stop(i->timer);
                i->recovering = true;
                i->state = SRV_INST_RESTARTING;
                if (i->pid > 0)
                    srv_dep_kill(s, i, SIGKILL);
            }
}

void srv_dep_region_fault(srv *s, srv_inst *i, const char *why)
{
    srv_region *r = srv_ckpt_region_of(s, i->app->stream);
    char id[160];

    if (!r)
        return;
    srv_inst_id(i, id, sizeof id);
    if (srv_ckpt_recovery_begin(s, r, why) && !s->store.quiet)
        fprintf(stderr,
                "flowd: [%s] %s: restarting region '%s' from checkpoint "
                "%llu in epoch %llu\n",
                id, why, srv_ckpt_region_id(r),
                (unsigned long long)srv_ckpt_last_complete(r),
                (unsigned long long)srv_ckpt_epoch(r) + 1);
    i->recovering = true;
    kill_region(s, r);
    srv_dep_region_check(s, i);
}

/* A rescale that waited for the checkpoint: app a gets its new count,
 * the instances that go are forgotten (none runs), the new ones are made
 * (started with the others). Returns the index in a->inst of the first
 * new instance, a->ninst when none. */
static int reshape(srv *s, srv_dapp *a)
{
    int count = a->rescale_to, first;

    a->rescale_to = 0;
    /* The app feeding a gives each of a's new instances a lane of its
     * own. */
    if (a->pos > 0)
        srv_dep_relane(s, &a->stream->apps[a->pos - 1], count);
    for (int j = a->ninst; j-- > 0;)
        if (a->inst[j]->index >= count)
            srv_dep_remove_inst(s, a->inst[j]);
    first = a->ninst;
    if (a->ninst < count) {
        srv_inst **n = realloc(a->inst, (size_t)count * sizeof *n);
        if (!n)
            return first;
        a->inst = n;
    }
    for (int idx = 0; idx < count; idx++) {
        bool used = false;
        for (int k = 0; k < a->ninst && !used; k++)
            used = a->inst[k]->index == idx;
        if (used)
            continue;
        srv_inst *i = srv_dep_inst_new(s, a, idx);
        if (!i)
            break;
        a->inst[a->ninst++] = i;
        if (srv_dep_alloc_endpoints(s, i)) {
            fprintf(stderr,
                    "flowd: [%s] no loopback TCP port is free for instance "
                    "%d of '%s' (%s); it is not started\n",
                    a->stream->name, idx, a->label, strerror(errno));
            srv_dep_remove_inst(s, i);
            break;
        }
        i->recovering = true;
        i->state = SRV_INST_RESTARTING;
    }
    /* A scale-up cut short counts, and records, what runs, as srv_scale
     * does without a guarantee: the feeding app's lanes match the
     * instances that read them, and a later flowd starts no more. */
    if (a->ninst != count) {
        if (a->pos > 0)
            srv_dep_relane(s, &a->stream->apps[a->pos - 1], a->ninst);
        if (srv_dep_record_count(s, a->stream, a, a->ninst))
            fprintf(stderr,
                    "flowd: [%s] cannot record that '%s' runs %d instances "
                    "(%s); the store keeps the count asked for\n",
                    a->stream->name, a->label, a->ninst, s->store.err);
    }
    a->count = a->ninst;
    return first;
}

void srv_dep_region_check(srv *s, srv_inst *i)
{
    srv_region *r = srv_ckpt_region_of(s, i->app->stream);
    srv_stream *v[REGION_MAX];
    int first[REGION_MAX][DSL_MAX_APPS];

    if (!r || !srv_ckpt_recovering(r)) {
        /* Killed by unguard (no recovery of its region): started again
         * alone, as it is started now. */
        if (i->recovering && i->pid <= 0) {
            i->recovering = false;
            srv_dep_spawn_inst(s, i);
        }
        return;
    }
    size_t n = srv_ckpt_region_streams(s, r, v, REGION_MAX);
    for (size_t k = 0; k < n; k++)
        for (size_t a = 0; a < v[k]->napps; a++)
            for (int j = 0; j < v[k]->apps[a].ninst; j++)
                if (v[k]->apps[a].inst[j]->pid > 0 &&
                    v[k]->apps[a].inst[j]->recovering)
                    return;
    for (size_t k = 0; k < n; k++)
        for (size_t a = 0; a < v[k]->napps && a < DSL_MAX_APPS; a++)
            first[k][a] = v[k]->apps[a].rescale_to ? reshape(s, &v[k]->apps[a])
                                                   : v[k]->apps[a].ninst;
    if (srv_ckpt_recovery_restart(s, r) && !s->store.quiet)
        fprintf(stderr,
                "flowd: [region %s] cannot record epoch %llu in the store "
                "(%s); it holds in memory\n",
                srv_ckpt_region_id(r), (unsigned long long)srv_ckpt_epoch(r),
                s->store.err);
    /* Sinks first, as a deploy starts them, so that each producer finds
     * its consumers. */
    for (size_t k = 0; k < n; k++)
        for (size_t a = v[k]->napps; a-- > 0;)
            for (int j = 0; j < v[k]->apps[a].ninst; j++) {
                srv_inst *o = v[k]->apps[a].inst[j];
                if (!o->recovering)
                    continue;
                o->recovering = false;
                srv_dep_spawn_inst(s, o);
            }
    for (size_t k = 0; k < n; k++) {
        for (size_t a = 0; a < v[k]->napps && a < DSL_MAX_APPS; a++)
            if (first[k][a] < v[k]->apps[a].ninst)
                srv_dep_notify_new_outputs(s, &v[k]->apps[a], first[k][a]);
        srv_deployer_refresh(s, v[k]);
    }
    srv_dlq_refresh(s);
}

/* st joined a region that keeps no guarantee now (st asks for none, or
 * runs in one process): the instances of the region's other streams that
 * were started under a guarantee would wait for barriers that never come
 * (their counters commit only at checkpoints) and fence off st's frames,
 * which carry no epoch of the region's. Each is killed and started again
 * at once without the flags of the checkpoint protocol, from no
 * checkpoint, as a stream with flow.guarantee=none is; not counted as a
 * restart. */
static void unguard(srv *s, srv_stream *st)
{
    srv_region *r = srv_ckpt_region_of(s, st);
    srv_stream *v[REGION_MAX];

    if (!r)
        return;
    /* The instances a recovery has started already were started without
     * st (no group of its readers in its producers, no channel of it in
     * the apps it feeds): checked once every instance is back. */
    if (srv_ckpt_recovering(r)) {
        st->join_pending = true;
        return;
    }
    st->join_pending = false;
    size_t n = srv_ckpt_region_streams(s, r, v, REGION_MAX);
    for (size_t k = 0; k < n; k++) {
        if (v[k]->host || v[k]->guarantee != SRV_GUARANTEE_NONE)
            continue;
        for (size_t a = 0; a < v[k]->napps; a++)
            for (int j = 0; j < v[k]->apps[a].ninst; j++) {
                srv_inst *i = v[k]->apps[a].inst[j];
                if (i->pid <= 0 || !i->epoch || i->removing ||
                    i->state == SRV_INST_UNDEPLOYING)
                    continue;
                if (!s->store.quiet) {
                    char id[160];
                    srv_inst_id(i, id, sizeof id);
                    fprintf(stderr,
                            "flowd: [%s] its region keeps no guarantee now "
                            "(%s): restarted without checkpoints\n",
                            id, v[k]->guarantee_note);
                }
                uv_timer_stop(i->timer);
                i->recovering = true;
                i->state = SRV_INST_RESTARTING;
                srv_dep_kill(s, i, SIGKILL);
            }
    }
}

/* How many feedback channels app a's instances are started with. */
static int feedback_of(srv *s, const srv_dapp *a)
{
    char ids[4096];
    int n = srv_ckpt_feedback_of(s, a, ids, sizeof ids);
    return n > 0 ? n : 0;
}

void srv_dep_region_joined(srv *s, srv_stream *st)
{
    srv_region *r = st->guarantee != SRV_GUARANTEE_NONE && !st->host
                        ? srv_ckpt_region_of(s, st)
                        : NULL;
    srv_stream *v[REGION_MAX];
    srv_inst *other = NULL;
    uint64_t newest = 0;

    if (st->guarantee == SRV_GUARANTEE_NONE || st->host) {
        unguard(s, st);
        return;
    }
    if (!r || srv_ckpt_recovering(r))
        return;
    size_t n = srv_ckpt_region_streams(s, r, v, REGION_MAX);
    for (size_t k = 0; k < n; k++)
        for (size_t a = 0; a < v[k]->napps; a++)
            for (int j = 0; j < v[k]->apps[a].ninst; j++) {
                srv_inst *i = v[k]->apps[a].inst[j];
                if (i->pid <= 0 || !i->epoch)
                    continue;
                if (i->epoch > newest)
                    newest = i->epoch;
                /* Another epoch, or producers that are not those it
                 * aligns on any more: a destination's producer came (st,
                 * also when it takes the place of one that completed). */
                if (i->epoch != srv_ckpt_epoch(r) ||
                    i->upstreams != srv_ckpt_upstreams_of(s, i->app) ||
                    i->feedback != feedback_of(s, i->app) ||
                    (v[k] != st && srv_ckpt_feeds(s, st, i->app)))
                    other = i;
            }
    if (!other)
        return;
    srv_ckpt_epoch_at_least(r, newest);
    srv_dep_region_fault(s, other,
                         other->epoch != srv_ckpt_epoch(r)
                             ? "its region joined another, which runs in "
                               "another epoch"
                             : "the producers feeding it changed");
}

void srv_dep_region_recovered(srv *s, srv_stream *st)
{
    srv_region *r = st->guarantee != SRV_GUARANTEE_NONE && !st->host
                        ? srv_ckpt_region_of(s, st)
                        : NULL;
    srv_stream *v[REGION_MAX];

    if (!r || srv_ckpt_recovering(r))
        return;
    size_t n = srv_ckpt_region_streams(s, r, v, REGION_MAX);
    for (size_t k = 0; k < n && !srv_ckpt_recovering(r); k++)
        if (v[k]->join_pending)
            srv_dep_region_joined(s, v[k]);
}

void srv_dep_rescale(srv *s, srv_region *r, srv_dapp *a)
{
    srv_stream *v[REGION_MAX];
    size_t n = srv_ckpt_region_streams(s, r, v, REGION_MAX);
    bool sources = false;

    for (size_t k = 0; k < n && !sources; k++)
        sources = v[k]->napps && !v[k]->ast->source;
    if (sources) {
        /* Now, or at the next interval when an instance is not ready. */
        srv_ckpt_trigger(s, r);
        return;
    }
    if (a->ninst > 0 && !srv_ckpt_recovering(r)) {
        char why[160];
        snprintf(why, sizeof why, "'%s' scales to %d", a->label, a->rescale_to);
        srv_dep_region_fault(s, a->inst[0], why);
    }
}

void srv_dep_checkpoint_complete(void *ud, srv_region *r)
{
    srv *s = ud;
    srv_stream *v[REGION_MAX];
    size_t n = srv_ckpt_region_streams(s, r, v, REGION_MAX);

    for (size_t k = 0; k < n; k++)
        for (size_t a = 0; a < v[k]->napps; a++)
            if (v[k]->apps[a].rescale_to && v[k]->apps[a].ninst > 0) {
                char why[160];
                snprintf(why, sizeof why, "'%s' scales to %d",
                         v[k]->apps[a].label, v[k]->apps[a].rescale_to);
                srv_dep_region_fault(s, v[k]->apps[a].inst[0], why);
                return;
            }
}

void srv_dep_guarantee_args(srv *s, srv_inst *i,
                            void (*add)(void *ud, const char *arg), void *ud)
{
    srv_dapp *a = i->app;
    srv_stream *st = a->stream;
    srv_region *r;
    char buf[16100], dir[PATH_MAX];

    i->epoch = 0;
    i->upstreams = 0;
    i->feedback = 0;
    if (st->guarantee == SRV_GUARANTEE_NONE || st->host ||
        !(r = srv_ckpt_region_of(s, st)))
        return;
    snprintf(buf, sizeof buf, "--flow.guarantee=%s",
             srv_guarantee_name(st->guarantee));
    add(ud, buf);
    i->epoch = srv_ckpt_epoch(r);
    snprintf(buf, sizeof buf, "--flow.epoch=%llu",
             (unsigned long long)i->epoch);
    add(ud, buf);
    /* A source reads no producer: no --flow.upstreams (at least 1). */
    int ups = srv_ckpt_upstreams_of(s, a);
    i->upstreams = ups;
    /* The back edges of a cycle into it: recorded, not aligned on (with
     * them and no --flow.upstreams, it has no other channel). */
    char fb[4096];
    int nfb = srv_ckpt_feedback_of(s, a, fb, sizeof fb);
    i->feedback = nfb > 0 ? nfb : 0;
    if (nfb > 0) {
        snprintf(buf, sizeof buf, "--flow.feedback=%s", fb);
        add(ud, buf);
        snprintf(buf, sizeof buf, "--flow.feedback-channels=%d", nfb);
        add(ud, buf);
    }
    if (ups > 0) {
        snprintf(buf, sizeof buf, "--flow.upstreams=%d", ups);
        add(ud, buf);
    }
    /* Its producers may all end and another come later: it waits. */
    if (srv_ckpt_reads_destination(s, a))
        add(ud, "--flow.open-input=true");
    snprintf(buf, sizeof buf, "--flow.producer-id=%s.%s", st->name, a->label);
    add(ud, buf);
    if (srv_ckpt_dir_of(s, r, dir, sizeof dir) == 0) {
        snprintf(buf, sizeof buf, "--flow.checkpoint-dir=%s", dir);
        add(ud, buf);
    }
    snprintf(buf, sizeof buf, "--flow.instances=%d", a->count);
    add(ud, buf);
    snprintf(buf, sizeof buf, "--flow.key-groups=%d", st->flow.key_groups);
    add(ud, buf);
    char files[16000];
    /* Nothing complete yet: a fresh start, without --flow.restore. */
    if (srv_ckpt_restore_of(s, r, a, files, sizeof files)) {
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr,
                "flowd: [%s] the snapshot files of checkpoint %llu do not "
                "fit on a command line; it starts without them\n",
                id, (unsigned long long)srv_ckpt_last_complete(r));
    } else if (files[0]) {
        snprintf(buf, sizeof buf, "--flow.restore=%s", files);
        add(ud, buf);
    }
}
