/*
 * Checkpoints in a running app (docs/guarantees.md, docs/apps.md
 * "Checkpoints"): a source takes checkpoint n when flowd's "ckpt" says so;
 * a processor or sink when barrier n came from every channel of its input
 * (exactly-once holds the frames of the channels that are ahead). Taking
 * it: flush, snapshot (unkeyed, keyed, counters), on_checkpoint, write
 * the file durably, barrier n on every output, tagged counters, ack.
 * Restore at start reads the files of --flow.restore.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "flow/keygroup.h"
#include "ctx.h"
#include "flow/error.h"

struct flow__ckpt {
    flow__align al;
    uint64_t src_want;  /* a source: the ckpt asked for, not taken yet */
    bool src_done;      /* a source's on_tick is done: the next ckpt ends */
    uint64_t src_final; /* the first checkpoint taken after that */
    bool input_ended;   /* every channel ended: stop once ready is empty */
    uint64_t last_fwd;  /* the last barrier sent on */
    uint64_t committed; /* the last ckpt_done */
    uint64_t declined;  /* aligning this one is given up (overflow) */
    uint64_t in_ckpt;   /* flow_checkpoint_id */
    size_t replay_left; /* restored channel-state frames still queued */
    bool ctl_fresh;     /* the control connection is new: all counters */
    void *mon_s;        /* PAIR receiving the control socket's events */
    flow_zwatch *mon_w;
    uv_idle_t ready_idle; /* processes released frames */
    bool idle_init;
    flow_buf body, keyed, unkeyed, file;
};

struct flow_keyed_writer {
    flow_ctx *ctx;
    flow_buf *b;
    uint32_t n;
};

int flow_keyed_put(flow_keyed_writer *w, const void *key, size_t klen,
                   const void *data, size_t dlen)
{
    flow_buf *b = w->b;
    if (w->n == UINT32_MAX)
        return -FLOW_ETOOBIG;
    flow_mp_put_array(b, 3);
    flow_mp_put_uint(b, flow_keygroup_of(key, klen, w->ctx->conf.key_groups));
    flow_mp_put_bin(b, key, klen);
    flow_mp_put_bin(b, data, dlen);
    if (b->err)
        return b->err;
    w->n++;
    return 0;
}

uint64_t flow_checkpoint_id(flow_ctx *ctx)
{
    return ctx->ck ? ctx->ck->in_ckpt : 0;
}

bool flow_guaranteed(flow_ctx *ctx)
{
    return ctx->conf.guarantee != FLOW_GUARANTEE_NONE;
}

static void ctl_msg(flow_ctx *ctx)
{
    if (ctx->ctl_w && !ctx->ctlbuf.err)
        flow_zwatch_send_buf(ctx->ctl_w, ctx->ctlbuf.data, ctx->ctlbuf.len, 0);
}

static void decline(flow_ctx *ctx, uint64_t n, const char *reason)
{
    flow_ctl_ident id;
    flow__ident_of(ctx, &id);
    flow_log(ctx, "declined checkpoint %llu: %s", (unsigned long long)n,
             reason);
    flow__note_error(ctx, "declined checkpoint %llu: %s", (unsigned long long)n,
                     reason);
    flow_ctl_encode_decline(&ctx->ctlbuf, &id, n, reason);
    ctl_msg(ctx);
}

/* The snapshot of checkpoint n into ck->body, unframed; with feedback
 * channels its channel state (the seventh part) is still to come. 0 or a
 * reason in why. */
static int build(flow_ctx *ctx, uint64_t n, char *why, size_t whylen)
{
    flow__ckpt *ck = ctx->ck;
    const flow_app_desc *a = ctx->app;
    flow_keyed_writer w = { ctx, &ck->keyed, 0 };
    int rc;
    flow_buf_reset(&ck->unkeyed);
    flow_buf_reset(&ck->keyed);
    flow_buf_reset(&ck->body);
    if (a->snapshot &&
        ((rc = a->snapshot(ctx, &ck->unkeyed)) || (rc = ck->unkeyed.err))) {
        snprintf(why, whylen, "the snapshot callback failed: %s",
                 flow_strerror(rc));
        return rc;
    }
    if (a->snapshot_keys &&
        ((rc = a->snapshot_keys(ctx, &w)) || (rc = ck->keyed.err))) {
        snprintf(why, whylen, "the snapshot_keys callback failed: %s",
                 flow_strerror(rc));
        return rc;
    }
    flow_buf *b = &ck->body;
    flow_mp_put_array(b, ck->al.fb_want ? 7 : 6);
    flow_mp_put_uint(b, n);
    flow_mp_put_uint(b, ctx->epoch);
    flow_mp_put_cstr(b, a->name);
    if (a->snapshot)
        flow_mp_put_bin(b, ck->unkeyed.data, ck->unkeyed.len);
    else
        flow_mp_put_nil(b);
    flow_mp_put_array(b, w.n);
    flow_mp_put_raw(b, ck->keyed.data, ck->keyed.len);
    flow__counters_snap(ctx, b);
    if ((rc = b->err)) {
        snprintf(why, whylen, "cannot build the snapshot: %s",
                 flow_strerror(rc));
        return rc;
    }
    return 0;
}

/* Frames ck->body and writes it durably as this instance's file of n. */
static int seal(flow_ctx *ctx, uint64_t n, char *why, size_t whylen)
{
    flow__ckpt *ck = ctx->ck;
    char name[1024];
    int rc;
    if ((rc = ck->body.err) ||
        (rc = flow__snap_frame(&ck->file, ck->body.data, ck->body.len))) {
        snprintf(why, whylen, "cannot build the snapshot: %s",
                 flow_strerror(rc));
        return rc;
    }
    snprintf(name, sizeof(name), "%s.%s.%u.snap", ctx->conf.stream,
             ctx->conf.label, ctx->conf.instance);
    return flow__snap_write(ctx->conf.ckpt_dir, n, name, ck->file.data,
                            ck->file.len, why, whylen);
}

static void ack(flow_ctx *ctx, uint64_t n)
{
    flow_ctl_ident id;
    flow__ident_of(ctx, &id);
    flow_ctl_encode_ack(&ctx->ctlbuf, &id, n, ctx->ck->file.len);
    ctl_msg(ctx);
}

static void aligned(flow_ctx *ctx, uint64_t n);

/*
 * Every feedback channel delivered the barrier of the checkpoint being
 * recorded: its channel state goes into the snapshot, which is written
 * and only then acknowledged. A newer checkpoint that aligned meanwhile
 * is taken now.
 */
static void finish_record(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    flow__align *al = &ck->al;
    uint64_t n = al->rec;
    char why[1024];
    int rc;
    if (al->rec_over) {
        snprintf(why, sizeof(why),
                 "the frames recorded on its feedback channels went over "
                 "%zu bytes",
                 al->max_held);
        rc = -FLOW_ETOOBIG;
    } else {
        flow_mp_put_array(&ck->body, (uint32_t)al->nrec);
        for (size_t i = 0; i < al->nrec; i++)
            flow_mp_put_bin(&ck->body, al->rec_frames[i].data,
                            al->rec_frames[i].len);
        rc = seal(ctx, n, why, sizeof(why));
    }
    flow__align_record_end(al);
    if (rc) {
        decline(ctx, n, why);
        /* Its counters went to flowd tagged n, which is aborted now: the
         * next checkpoint sends them all again. */
        ck->ctl_fresh = true;
    } else {
        ack(ctx, n);
    }
    if (flow__align_check(al) == FLOW_ALIGN_ALIGNED)
        aligned(ctx, al->done);
}

/* Takes checkpoint n (the input is aligned, or a source between ticks). */
static void take(flow_ctx *ctx, uint64_t n)
{
    flow__ckpt *ck = ctx->ck;
    char why[1024];
    int rc;
    bool feedback = ck->al.fb_want > 0;
    flow__flush(ctx);
    ck->in_ckpt = n;
    if (!ctx->conf.ckpt_dir) {
        snprintf(why, sizeof(why), "no --flow.checkpoint-dir to write it to");
        rc = -FLOW_EUSAGE;
    } else {
        rc = build(ctx, n, why, sizeof(why));
    }
    if (!rc && ctx->app->on_checkpoint &&
        (rc = ctx->app->on_checkpoint(ctx, n)))
        snprintf(why, sizeof(why), "on_checkpoint failed: %s",
                 flow_strerror(rc));
    /* The Kafka part first: the .snap file, written last (by seal, at
     * once or once a feedback recording ends), makes the checkpoint's
     * files of this instance whole. */
    if (!rc && ctx->kafka)
        rc = flow__kafka_checkpoint(ctx, n, why, sizeof(why));
    if (!rc && !feedback)
        rc = seal(ctx, n, why, sizeof(why));
    ck->in_ckpt = 0;
    /* Declined or not, the barrier goes on: the apps downstream must not
     * wait for it. */
    flow__out_barrier(ctx, n);
    ck->last_fwd = n;
    if (rc) {
        decline(ctx, n, why);
        return;
    }
    /* The counters as of the snapshot, before any frame recorded. */
    flow__counters_tagged(ctx, n, ck->ctl_fresh);
    ck->ctl_fresh = false;
    if (feedback) {
        flow__align_record_start(&ck->al, n);
        if (flow__align_record_complete(&ck->al))
            finish_record(ctx);
        return;
    }
    ack(ctx, n);
}

static void ready_cb(uv_idle_t *h)
{
    flow_ctx *ctx = h->data;
    flow__ckpt *ck = ctx->ck;
    if (ck->al.ready_head >= ck->al.nready || flow__blocked(ctx) ||
        ctx->phase != PH_RUN || !ctx->in_w) {
        uv_idle_stop(h);
        return;
    }
    flow__input_cb(ctx->in_w, 0, ctx);
}

/* Released frames wait: have them processed while the output takes. */
static void kick_ready(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    if (ck->idle_init && ck->al.ready_head < ck->al.nready &&
        ctx->phase == PH_RUN)
        uv_idle_start(&ck->ready_idle, ready_cb);
}

bool flow__ckpt_ready(flow_ctx *ctx, uint8_t **data, size_t *len, bool *replay)
{
    flow__ckpt *ck = ctx->ck;
    if (!flow__align_next(&ck->al, data, len))
        return false;
    *replay = ck->replay_left > 0;
    if (ck->replay_left)
        ck->replay_left--;
    return true;
}

void flow__ckpt_after_input(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    if (ck->al.ready_head < ck->al.nready) {
        if (!flow__blocked(ctx))
            kick_ready(ctx);
        return;
    }
    if (ck->input_ended && ctx->phase == PH_RUN && !ctx->conf.open_input) {
        ctx->eos_pending = true;
        flow__begin_stop(ctx, FLOW_CTL_END_INPUT, 0);
    }
}

void flow__ckpt_resume(flow_ctx *ctx)
{
    kick_ready(ctx);
}

/* The input aligned checkpoint n. */
static void aligned(flow_ctx *ctx, uint64_t n)
{
    flow__ckpt *ck = ctx->ck;
    if (n == ck->declined) {
        flow__flush(ctx);
        flow__out_barrier(ctx, n);
        ck->last_fwd = n;
        return;
    }
    take(ctx, n);
}

bool flow__ckpt_frame(flow_ctx *ctx, const flow_frame *f, const void *data,
                      size_t len)
{
    flow__ckpt *ck = ctx->ck;
    flow__align *al = &ck->al;
    flow__chan *ch = flow__align_chan(al, f->app, f->app_len, f->instance);
    if (!ch)
        return true; /* no memory: processed as without a guarantee */
    if (ch->feedback) {
        /* A back edge: processed at once, recorded after a snapshot
         * until its barrier comes. */
        if (f->barrier) {
            flow__align_barrier(al, ch, f->barrier);
        } else if (f->count == 0) {
            if (ch->ended)
                return false;
            ctx->eos_seen++;
            flow__align_end(al, ch);
        } else {
            /* Over the limit, the checkpoint is declined once its
             * barrier comes; without memory, it misses the frame and
             * is declined as well. */
            if (flow__align_record(al, ch, data, len) == -FLOW_ENOMEM)
                al->rec_over = true;
            return true;
        }
        if (flow__align_record_complete(al))
            finish_record(ctx);
        return false;
    }
    if (flow__align_holds(al, ch)) {
        uint64_t cur = al->cur;
        int rc = flow__align_hold(al, ch, data, len);
        if (rc == 1) {
            char why[128];
            snprintf(why, sizeof(why),
                     "the frames held while aligning went over %zu bytes",
                     al->max_held);
            ck->declined = cur;
            decline(ctx, cur, why);
        }
        if (rc >= 0)
            return false;
        /* Without memory to hold it, it is taken now. */
    }
    if (f->barrier) {
        if (flow__align_barrier(al, ch, f->barrier) == FLOW_ALIGN_ALIGNED)
            aligned(ctx, al->done);
        return false;
    }
    if (f->count == 0) {
        if (ch->ended)
            return false; /* a repeated end of stream */
        ctx->eos_seen++;
        if (flow__align_end(al, ch) == FLOW_ALIGN_ALIGNED)
            aligned(ctx, al->done);
        /* A named destination's reader goes on: another producer may
         * come (flowd then restarts it with that producer's channel). */
        if (flow__align_all_ended(al) && !ctx->conf.open_input)
            ck->input_ended = true;
        return false;
    }
    return true;
}

/*
 * A source whose input is done ends its stream only once a checkpoint
 * taken after its last event is complete (its barrier sent on, and
 * ckpt_done of it come back): a checkpoint that failed is taken again at
 * the next ckpt, so the last events are committed before anything ends.
 */
static void source_end(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    if (ctx->phase != PH_RUN || !ck->src_final || ck->committed < ck->src_final)
        return;
    ctx->eos_pending = true;
    flow__begin_stop(ctx, FLOW_CTL_END_INPUT, 0);
}

void flow__ckpt_control(flow_ctx *ctx, const flow_ctl_msg *m)
{
    flow__ckpt *ck = ctx->ck;
    if (!ck || !m->id)
        return;
    if (m->type == FLOW_CTL_CKPT) {
        /* A barrier tells the others, but an app reading Kafka is a
         * source of its region (its topic replays from committed
         * offsets); and in a cycle whose sources have ended, flowd tells
         * every instance, and one whose channels besides the feedback
         * ones all ended starts it. */
        if (ctx->app->role != FLOW_ROLE_SOURCE &&
            !(ctx->kafka && ctx->conf.kafka.input)) {
            if (m->id > ck->last_fwd &&
                flow__align_start(&ck->al, m->id) == FLOW_ALIGN_ALIGNED)
                aligned(ctx, ck->al.done);
            return;
        }
        if (m->id > ck->src_want && m->id > ck->last_fwd)
            ck->src_want = m->id;
        if (ctx->phase == PH_RUN && !flow__blocked(ctx))
            flow__ckpt_tick(ctx);
        return;
    }
    if (m->type == FLOW_CTL_CKPT_DONE) {
        if (m->id > ck->committed)
            ck->committed = m->id;
        if (ctx->kafka)
            flow__kafka_commit(ctx, m->id);
        if (ctx->app->on_commit)
            ctx->app->on_commit(ctx, m->id);
        if (ck->src_done)
            source_end(ctx);
        if (ctx->phase == PH_DRAIN)
            flow__maybe_finish(ctx);
    }
}

bool flow__ckpt_tick(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    if (ck->src_want && !flow__blocked(ctx)) {
        uint64_t n = ck->src_want;
        ck->src_want = 0;
        take(ctx, n);
        if (ck->src_done) {
            if (!ck->src_final)
                ck->src_final = n;
            source_end(ctx);
            return true;
        }
    }
    return ck->src_done;
}

bool flow__ckpt_source_done(flow_ctx *ctx)
{
    ctx->ck->src_done = true;
    flow__flush(ctx);
    return true;
}

bool flow__ckpt_may_finish(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    /* After the end of the input, the last checkpoint is waited for
     * (within the drain time) so that the last events are committed. */
    return !ctx->ctl_w || !ctx->end || strcmp(ctx->end, FLOW_CTL_END_INPUT) ||
           ck->committed >= ck->last_fwd;
}

static void mon_cb(flow_zwatch *w, int ready, void *arg)
{
    flow_ctx *ctx = arg;
    zmq_msg_t addr;
    uint16_t ev;
    int32_t value;
    (void)ready;
    zmq_msg_init(&addr);
    for (int i = 0; i < 64; i++) {
        if (flow_zwatch_recv_event(w, &addr, &ev, &value))
            break;
        if (ev == ZMQ_EVENT_CONNECTED)
            ctx->ck->ctl_fresh = true;
    }
    zmq_msg_close(&addr);
}

static int watch_control(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    char addr[64];
    snprintf(addr, sizeof(addr), "inproc://flow-ctl-monitor-%p", (void *)ctx);
    if (zmq_socket_monitor(ctx->ctl_s, addr, ZMQ_EVENT_CONNECTED) != 0)
        return flow_from_zmq();
    ck->mon_s = zmq_socket(ctx->zctx, ZMQ_PAIR);
    if (!ck->mon_s)
        return flow_from_zmq();
    if (zmq_connect(ck->mon_s, addr) != 0)
        return flow_from_zmq();
    return flow_zwatch_new(&ctx->loop, ck->mon_s, FLOW_ZW_READABLE, mon_cb, ctx,
                           &ck->mon_w);
}

/* The instance index in a snapshot file's name, .../S.L.<i>.snap. */
static int instance_of(const char *path, uint32_t *out)
{
    size_t n = strlen(path);
    if (n < 6 || strcmp(path + n - 5, ".snap"))
        return -1;
    size_t end = n - 5, start = end;
    while (start > 0 && path[start - 1] >= '0' && path[start - 1] <= '9')
        start--;
    if (start == end || start == 0 || path[start - 1] != '.' || end - start > 9)
        return -1;
    uint32_t v = 0;
    for (size_t i = start; i < end; i++)
        v = v * 10 + (uint32_t)(path[i] - '0');
    *out = v;
    return 0;
}

/* Applies one checked snapshot (of old instance inst). */
static int apply(flow_ctx *ctx, const char *path, const flow__snap *s,
                 uint32_t inst)
{
    const flow_app_desc *a = ctx->app;
    const flow__conf *c = &ctx->conf;
    int rc;
    if (inst == c->instance && s->unkeyed && a->restore &&
        (rc = a->restore(ctx, s->unkeyed, s->unkeyed_len))) {
        flow_log(ctx, "--flow.restore: %s: the restore callback failed: %s",
                 path, flow_strerror(rc));
        return rc;
    }
    flow_mp_reader r;
    flow_mp_reader_init(&r, s->keyed, (size_t)(s->counters - s->keyed));
    for (uint32_t i = 0; i < s->nkeyed; i++) {
        uint32_t kg, kl, vl;
        const uint8_t *k, *v;
        flow__snap_next_key(&r, &kg, &k, &kl, &v, &vl);
        /* An app reading Kafka under a guarantee owns the keys of its
         * partitions (kafka.c); any other those of its key groups. */
        uint32_t owner;
        if (!ctx->kafka || flow__kafka_owner(ctx, k, kl, &owner))
            owner = flow_keygroup_owner(kg, c->instances, c->key_groups);
        if (owner != c->instance)
            continue;
        if (!a->restore_key) {
            flow_log(ctx,
                     "--flow.restore: %s has keyed state but %s has no "
                     "restore_key callback",
                     path, a->name);
            return -FLOW_EINVAL;
        }
        if ((rc = a->restore_key(ctx, (const char *)k, kl, v, vl))) {
            flow_log(ctx, "--flow.restore: %s: restore_key failed: %s", path,
                     flow_strerror(rc));
            return rc;
        }
    }
    bool own =
        inst == c->instance || (c->instance == 0 && inst >= c->instances);
    if (own &&
        (rc = flow__counters_restore(ctx, s->counters, s->counters_len))) {
        flow_log(ctx, "--flow.restore: %s: its counters do not restore: %s",
                 path, flow_strerror(rc));
        return rc;
    }
    /* The channel state: the frames recorded on the feedback channels,
     * processed before any new input. */
    if (own && s->nchan && ctx->ck) {
        flow_mp_reader cr;
        flow_mp_value v;
        flow_mp_reader_init(&cr, s->chan, s->chan_len);
        for (uint32_t i = 0; i < s->nchan; i++) {
            if (flow_mp_read(&cr, &v) || v.type != FLOW_MP_BIN)
                return -FLOW_EMALFORMED;
            if ((rc = flow__align_push_ready(&ctx->ck->al, v.str, v.len)))
                return rc;
            ctx->ck->replay_left++;
        }
    }
    return 0;
}

/* One file of --flow.restore: its path (borrowed from the copy of the
 * list), bytes (owned) and the old instance it was saved by. */
struct restore_file {
    const char *path;
    flow_buf bytes;
    uint32_t instance;
    flow__snap snap;
};

/* Reads and checks one file; 0 or a negative FLOW_E* after saying why. */
static int check_file(flow_ctx *ctx, struct restore_file *f)
{
    char why[512];
    int rc;
    if (instance_of(f->path, &f->instance)) {
        flow_log(ctx,
                 "--flow.restore: %s: the name does not end in "
                 ".<instance>.snap",
                 f->path);
        return -FLOW_EUSAGE;
    }
    if ((rc = flow__snap_read(f->path, &f->bytes, why, sizeof(why))) ||
        (rc = flow__snap_parse(f->bytes.data, f->bytes.len, &f->snap, why,
                               sizeof(why)))) {
        flow_log(ctx, "--flow.restore: %s: %s; not restoring from it", f->path,
                 why);
        return rc;
    }
    const char *name = ctx->app->name;
    if (f->snap.app_len != strlen(name) ||
        memcmp(f->snap.app, name, f->snap.app_len)) {
        flow_log(ctx,
                 "--flow.restore: %s is a snapshot of app '%.*s', not of %s",
                 f->path, (int)f->snap.app_len, f->snap.app, name);
        return -FLOW_EMALFORMED;
    }
    return 0;
}

/* --flow.restore: every file is checked first, then they are applied. */
static int restore(flow_ctx *ctx)
{
    size_t n = 1;
    for (const char *p = ctx->conf.restore; *p; p++)
        n += *p == ',';
    char *list = strdup(ctx->conf.restore);
    struct restore_file *files = calloc(n, sizeof(*files));
    int rc = -FLOW_ENOMEM;
    size_t nfiles = 0;
    if (!list || !files)
        goto free_files;
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p;
         p = strtok_r(NULL, ",", &save)) {
        struct restore_file *f = &files[nfiles++];
        f->path = p;
        flow_buf_init(&f->bytes);
        if ((rc = check_file(ctx, f)))
            goto free_files;
        if (f->snap.n != files[0].snap.n) {
            flow_log(ctx,
                     "--flow.restore: %s is of checkpoint %llu, %s of %llu: "
                     "give the files of one checkpoint",
                     p, (unsigned long long)f->snap.n, files[0].path,
                     (unsigned long long)files[0].snap.n);
            rc = -FLOW_EMALFORMED;
            goto free_files;
        }
    }
    for (size_t i = 0; i < nfiles; i++) {
        if ((rc = apply(ctx, files[i].path, &files[i].snap, files[i].instance)))
            goto free_files;
        if (ctx->kafka &&
            (rc = flow__kafka_restore(ctx, files[i].path, files[i].instance)))
            goto free_files;
    }
    uint64_t id = nfiles ? files[0].snap.n : 0;
    if (ctx->ck)
        ctx->ck->al.done = ctx->ck->last_fwd = ctx->ck->committed = id;
    flow_log(ctx, "restored checkpoint %llu from %zu file(s)",
             (unsigned long long)id, nfiles);
    rc = 0;

free_files:
    for (size_t i = 0; i < nfiles; i++)
        flow_buf_fini(&files[i].bytes);
    free(files);
    free(list);
    return rc;
}

int flow__ckpt_start(flow_ctx *ctx)
{
    const flow__conf *c = &ctx->conf;
    int rc;
    if (c->guarantee != FLOW_GUARANTEE_NONE) {
        if (!ctx->ctl_s) {
            flow_log(ctx, "--flow.guarantee needs --flow.control: flowd "
                          "coordinates the checkpoints");
            return -FLOW_EUSAGE;
        }
        flow__ckpt *ck = calloc(1, sizeof(*ck));
        if (!ck)
            return -FLOW_ENOMEM;
        ctx->ck = ck;
        flow__align_init(&ck->al, c->upstreams,
                         c->guarantee == FLOW_GUARANTEE_EXACTLY_ONCE);
        if (c->feedback && *c->feedback) {
            if ((rc = flow__align_feedback(&ck->al, c->feedback,
                                           c->feedback_channels)))
                return rc;
            /* Fed by feedback channels alone (its other producers all
             * completed): no other channel to wait for. */
            if (!c->upstreams)
                ck->al.want = 0;
        }
        flow_buf_init(&ck->body);
        flow_buf_init(&ck->keyed);
        flow_buf_init(&ck->unkeyed);
        flow_buf_init(&ck->file);
        ck->ctl_fresh = true;
        uv_idle_init(&ctx->loop, &ck->ready_idle);
        ck->ready_idle.data = ctx;
        ck->idle_init = true;
        if ((rc = watch_control(ctx)))
            return rc;
    }
    if (c->restore && *c->restore && (rc = restore(ctx)))
        return rc;
    if (ctx->ck)
        kick_ready(ctx);
    return 0;
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

void flow__ckpt_close(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    if (!ck)
        return;
    flow_zwatch_close(&ck->mon_w);
    if (ck->idle_init && !uv_is_closing((uv_handle_t *)&ck->ready_idle))
        uv_close((uv_handle_t *)&ck->ready_idle, close_cb);
}

void flow__ckpt_close_sockets(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    if (!ck || !ck->mon_s)
        return;
    zmq_socket_monitor(ctx->ctl_s, NULL, 0);
    int zero = 0;
    zmq_setsockopt(ck->mon_s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_close(ck->mon_s);
    ck->mon_s = NULL;
}

void flow__ckpt_free(flow_ctx *ctx)
{
    flow__ckpt *ck = ctx->ck;
    if (!ck)
        return;
    flow__align_fini(&ck->al);
    flow_buf_fini(&ck->body);
    flow_buf_fini(&ck->keyed);
    flow_buf_fini(&ck->unkeyed);
    flow_buf_fini(&ck->file);
    free(ck);
    ctx->ck = NULL;
}
