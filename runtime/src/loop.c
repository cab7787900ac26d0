/*
 * The per-event hot path: receiving frames, calling on_event, emitting into
 * batches, flushing them and backpressure. No allocation per event once
 * the buffers have grown, no syscall per event: two clock reads per
 * received message, one send per batch.
 *
 * Batching is opportunistic: events gather in the pending batch while input
 * keeps arriving and go out when the batch is full or the input has
 * nothing more to read (or, with --flow.batch-linger-us, when the linger
 * expires). When a send hits the output's high-water mark the batch stays
 * pending, input reading and the source pump pause, and everything resumes
 * when the output becomes writable: a slow consumer slows its producer.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "flow/error.h"
#include "flow/fieldpath.h"
#include "flow/keygroup.h"

/* Messages taken from the input per watcher callback. */
#define RECV_BUDGET 64
/* on_tick calls per pump callback. */
#define PUMP_BUDGET 8

int64_t flow_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void flow__update_now(flow_ctx *ctx)
{
    ctx->now_us = flow_clock_us();
}

int64_t flow_now_us(flow_ctx *ctx)
{
    return ctx->now_us;
}

/* Whether a port of flow_emit_to holds a batch (with events, when
 * nonempty) or is blocked. */
static bool dests_open(const flow_ctx *ctx, bool nonempty)
{
    for (size_t k = 0; k < ctx->ndests; k++)
        if (ctx->dests[k]->open && (!nonempty || ctx->dests[k]->batch.count))
            return true;
    return false;
}

bool flow__dests_blocked(const flow_ctx *ctx)
{
    for (size_t k = 0; k < ctx->ndests; k++)
        if (ctx->dests[k]->blocked)
            return true;
    return false;
}

static bool blocked(const flow_ctx *ctx)
{
    return ctx->out.blocked || ctx->err.blocked || ctx->groups_blocked > 0 ||
           flow__dests_blocked(ctx);
}

bool flow__blocked(const flow_ctx *ctx)
{
    return blocked(ctx);
}

static int port_send(flow_ctx *ctx, flow__port *p, bool is_out);

/*
 * Appends an event to a port's batch. A batch never grows past what a
 * receiver takes (FLOW_WIRE_MAX_FRAME bytes, FLOW_WIRE_MAX_EVENTS
 * events): one that would is sent first and the event starts the next.
 * When that send cannot go (the output is at its high-water mark while
 * one callback emits more than a frame holds), the event is dropped and
 * counted.
 */
/* Would ev take batch b past what a receiver takes? */
static bool batch_overflows(const flow_batch *b, const flow_event *ev)
{
    return b->count >= FLOW_WIRE_MAX_EVENTS ||
           b->buf.len + FLOW_WIRE_EVENT_OVERHEAD + ev->type_len + ev->key_len +
                   ev->payload_len >
               FLOW_WIRE_MAX_FRAME;
}

static int port_add(flow_ctx *ctx, flow__port *p, const flow_event *ev)
{
    if (p->open && batch_overflows(&p->batch, ev)) {
        port_send(ctx, p, p != &ctx->err);
        if (p->open) {
            ctx->m.drops++;
            return -FLOW_EAGAIN;
        }
    }
    if (!p->open) {
        if (p->batch.buf.cap == 0 && p->cap_hint)
            flow_buf_reserve(&p->batch.buf, p->cap_hint);
        flow_batch_begin(&p->batch, ctx->conf.producer_id, ctx->conf.instance,
                         ctx->epoch);
        p->open = true;
    }
    int rc = flow_batch_add(&p->batch, ev, p->seq + 1);
    if (rc == 0)
        p->seq++;
    return rc;
}

/* Pauses or resumes the producers of events: input and source pump. */
static void set_paused(flow_ctx *ctx, bool paused)
{
    if (ctx->in_w)
        flow_zwatch_want(ctx->in_w, paused ? 0 : FLOW_ZW_READABLE);
    if (!paused && ctx->source_more && ctx->phase == PH_RUN)
        uv_idle_start(&ctx->pump, flow__pump_cb);
    if (!paused && ctx->ck)
        flow__ckpt_resume(ctx);
}

static void free_frame(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/*
 * A frame sent both to the output and to the tap: two ZeroMQ messages
 * over the same bytes, each with its own release, so that the tap's is
 * seen (flow__tapq). It lives in the frame's buffer, after the frame;
 * the last release frees the buffer.
 */
typedef struct shared_frame {
    uint32_t refs; /* messages not released */
    uint32_t n;    /* events in the frame */
    flow__tapq *q;
} shared_frame;

static void tapq_unref(flow__tapq *q)
{
    if (__atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(q);
}

void flow__tapq_release(flow__tapq *q)
{
    if (q)
        tapq_unref(q);
}

static void shared_unref(void *data, shared_frame *sh)
{
    if (__atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(data);
}

static void free_shared(void *data, void *hint)
{
    shared_unref(data, hint);
}

static void free_tapped(void *data, void *hint)
{
    shared_frame *sh = hint;
    flow__tapq *q = sh->q;
    __atomic_sub_fetch(&q->events, sh->n, __ATOMIC_RELEASE);
    __atomic_sub_fetch(&q->msgs, 1, __ATOMIC_RELEASE);
    shared_unref(data, sh);
    tapq_unref(q);
}

/* Room for a shared_frame after len bytes of b; NULL without memory. */
static shared_frame *shared_of(flow_buf *b, size_t len)
{
    size_t off = (len + 7) & ~(size_t)7;
    if (flow_buf_reserve(b, off - len + sizeof(shared_frame)))
        return NULL;
    return (shared_frame *)(void *)(b->data + off);
}

/*
 * Publishes a frame's bytes (shared with the message main, when given)
 * on the tap. With ZMQ_XPUB_NODROP the socket refuses a message that a
 * subscriber has no room for instead of dropping it unseen: its events
 * are counted in drops. The bytes must be followed by room for sh.
 */
static void tap_publish(flow_ctx *ctx, void *data, size_t len, uint32_t n,
                        shared_frame *sh)
{
    flow__tapq *q = ctx->tapq;
    zmq_msg_t t;
    sh->n = n;
    sh->q = q;
    __atomic_add_fetch(&q->events, n, __ATOMIC_RELAXED);
    __atomic_add_fetch(&q->msgs, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&q->refs, 1, __ATOMIC_RELAXED);
    if (zmq_msg_init_data(&t, data, len, free_tapped, sh) != 0) {
        free_tapped(data, sh);
        ctx->m.drops += n;
        return;
    }
    if (zmq_msg_send(&t, ctx->tap_s, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&t); /* releases it: free_tapped */
        ctx->m.drops += n; /* a tap subscriber that cannot keep up */
    }
}

int flow__tap_end(flow_ctx *ctx)
{
    flow_batch b;
    size_t len;
    flow_batch_init(&b);
    flow_batch_begin(&b, ctx->conf.producer_id, ctx->conf.instance, ctx->epoch);
    flow_batch_finish(&b, &len);
    shared_frame *sh = shared_of(&b.buf, len);
    if (!sh || b.buf.err) {
        flow_batch_fini(&b);
        return -FLOW_ENOMEM;
    }
    sh->refs = 1;
    void *data = b.buf.data;
    b.buf.data = NULL;
    b.buf.len = b.buf.cap = 0;
    flow_batch_fini(&b);
    tap_publish(ctx, data, len, 0, sh);
    return 0;
}

void flow__tap_flush(flow_ctx *ctx)
{
    flow_batch *b = &ctx->tapb;
    if (!ctx->tapb_open)
        return;
    ctx->tapb_open = false;
    size_t len;
    uint32_t n = b->count;
    flow_batch_finish(b, &len);
    shared_frame *sh = shared_of(&b->buf, len);
    if (!sh || b->buf.err) {
        ctx->m.drops += n;
        flow_buf_reset(&b->buf);
        return;
    }
    sh->refs = 1;
    void *data = b->buf.data;
    b->buf.data = NULL;
    b->buf.len = b->buf.cap = 0;
    tap_publish(ctx, data, len, n, sh);
}

void flow__tap_add(flow_ctx *ctx, const flow_event *ev)
{
    flow_batch *b = &ctx->tapb;
    if (!ctx->tap_s || ctx->tap_end_sent)
        return;
    if (ctx->tapb_open && batch_overflows(b, ev))
        flow__tap_flush(ctx);
    if (!ctx->tapb_open) {
        flow_batch_begin(b, ctx->conf.producer_id, ctx->conf.instance,
                         ctx->epoch);
        ctx->tapb_open = true;
    }
    if (flow_batch_add(b, ev, ctx->tapb_seq + 1) == 0)
        ctx->tapb_seq++;
    else
        ctx->m.drops++;
    if (b->count >= ctx->conf.batch_max || b->buf.len >= ctx->conf.batch_bytes)
        flow__tap_flush(ctx);
}

/*
 * Sends a finished frame without copying it: ZeroMQ takes the batch's
 * buffer (and frees it once delivered, in whichever thread) and the next
 * batch gets fresh storage. A refused send gives the bytes back to the
 * batch, so it stays pending as it was.
 */
static int send_frame(flow__port *p, size_t len)
{
    flow_buf *b = &p->batch.buf;
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, b->data, len, free_frame, NULL) != 0)
        return flow_zwatch_send_buf(p->w, b->data, len, 0);
    int rc = flow_zwatch_send(p->w, &msg, 0);
    if (rc == 0) {
        /* Enough for a batch like this one without regrowing. */
        p->cap_hint = len + len / 4 > 256 ? len + len / 4 : 256;
        b->data = NULL;
        b->len = b->cap = 0;
        return 0;
    }
    /* Closing the message frees the bytes: keep a copy first. */
    uint8_t *copy = malloc(b->cap);
    if (copy)
        memcpy(copy, b->data, len);
    zmq_msg_close(&msg);
    b->data = copy;
    if (!copy) {
        b->len = b->cap = 0;
        return rc == -FLOW_EAGAIN ? -FLOW_ENOMEM : rc;
    }
    return rc;
}

static void group_set_blocked(flow_ctx *ctx, flow__group *g, bool on)
{
    if (g->blocked == on)
        return;
    g->blocked = on;
    ctx->groups_blocked += on ? 1 : -1;
    flow_zwatch_want(g->w, on ? FLOW_ZW_WRITABLE : 0);
    if (on)
        set_paused(ctx, true);
}

/*
 * Sends a group its pending batch, then the end-of-stream copies it still
 * owes, until the socket refuses one (the group stays blocked and its
 * watcher calls back when writable) or all are sent.
 */
void flow__group_push(flow_ctx *ctx, flow__group *g)
{
    while (g->has_pending || g->has_barrier || g->eos_left > 0) {
        int rc;
        if (g->has_pending) {
            rc = flow_zwatch_send(g->w, &g->pending, 0);
            if (rc == 0)
                g->has_pending = false; /* the socket took the message */
        } else if (g->has_barrier) {
            rc = flow_zwatch_send(g->w, &g->barrier, 0);
            if (rc == 0)
                g->has_barrier = false;
        } else {
            rc = flow_zwatch_send_buf(g->w, ctx->eos_frame.data,
                                      ctx->eos_frame.len, 0);
            if (rc == 0)
                g->eos_left--;
        }
        if (rc == -FLOW_EAGAIN) {
            group_set_blocked(ctx, g, true);
            return;
        }
        if (rc && g->has_pending) {
            zmq_msg_close(&g->pending);
            g->has_pending = false;
            ctx->m.drops += g->pending_n;
        } else if (rc && g->has_barrier) {
            zmq_msg_close(&g->barrier);
            g->has_barrier = false;
        } else if (rc) {
            g->eos_left = 0;
        }
    }
    group_set_blocked(ctx, g, false);
}

/* Whether group g gets the batches of output port p: a destination's go
 * to its own groups; the output's to the groups without a destination,
 * ctx->out's to those of one lane and a lane set's port's to its lane of
 * the groups of that many lanes. */
static bool group_takes(const flow__group *g, const flow__port *p)
{
    if (p->dest || g->dest)
        return p->dest && g->dest && strcmp(p->dest, g->dest) == 0;
    return g->nlanes == (p->set ? p->set->n : 1) && g->lane == p->lane;
}

/*
 * Hands the output's finished batch to every group without copying it:
 * each group holds a reference to the same ZeroMQ message (freed once
 * the last socket has delivered it), and the next batch gets fresh
 * storage. ctx->out's batch goes to every group of one lane, a lane
 * set's port's to its lane of every group of that many lanes. With no
 * group yet the batch stays pending and the output is blocked until one
 * is added. Returns 0 or -FLOW_EAGAIN (still pending).
 */
static int out_send(flow_ctx *ctx, flow__port *p)
{
    if (!p->open)
        return 0;
    if (ctx->groups_blocked)
        return -FLOW_EAGAIN;
    size_t takers = 0;
    for (size_t k = 0; k < ctx->ngroups; k++)
        takers += group_takes(ctx->groups[k], p);
    if (takers == 0) {
        if (!p->blocked) {
            p->blocked = true;
            set_paused(ctx, true);
        }
        return -FLOW_EAGAIN;
    }
    size_t len;
    uint32_t n = p->batch.count;
    flow_batch_finish(&p->batch, &len);
    flow_buf *b = &p->batch.buf;
    zmq_msg_t msg;
    p->open = false;
    p->blocked = false;
    /* Every event is counted and tapped once: from ctx->out's batches, or
     * without a group of one lane from the first lane set's. */
    bool primary = !p->set || (ctx->nsingle == 0 && p->set == ctx->sets[0]);
    uint32_t nlanes = p->set ? p->set->n : 1;
    if (p->set && !ctx->conf.partition_key && !ctx->conf.partition_expr)
        p->set->rr = (p->lane + 1) % nlanes;
    shared_frame *sh = primary && ctx->tap_s && n ? shared_of(b, len) : NULL;
    if (sh)
        sh->refs = 2;
    else if (primary && ctx->tap_s && n)
        ctx->m.drops += n; /* no memory to share it with the tap */
    if (zmq_msg_init_data(&msg, b->data, len, sh ? free_shared : free_frame,
                          sh) != 0) {
        ctx->m.drops += n;
        return -FLOW_ENOMEM;
    }
    void *data = b->data;
    /* Enough for a batch like this one without regrowing. */
    p->cap_hint = len + len / 4 > 256 ? len + len / 4 : 256;
    b->data = NULL;
    b->len = b->cap = 0;
    for (size_t k = 0; k < ctx->ngroups; k++) {
        flow__group *g = ctx->groups[k];
        if (!group_takes(g, p))
            continue;
        zmq_msg_init(&g->pending);
        zmq_msg_copy(&g->pending, &msg);
        g->has_pending = true;
        g->pending_n = n;
        flow__group_push(ctx, g);
    }
    if (sh)
        tap_publish(ctx, data, len, n, sh);
    zmq_msg_close(&msg);
    if (primary) {
        ctx->m.out += n;
        ctx->m.bytes_out += len;
    }
    flow__place_note(ctx);
    return ctx->groups_blocked ? -FLOW_EAGAIN : 0;
}

/* Sends a port's pending frame. Returns 0, -FLOW_EAGAIN (kept pending and
 * blocked) or another error (the batch is dropped and counted). */
static int port_send(flow_ctx *ctx, flow__port *p, bool is_out)
{
    if (is_out)
        return out_send(ctx, p);
    if (p->has_x) {
        /* A broadcast frame goes before the batch made after it. */
        int xr = flow_zwatch_send(p->w, &p->xmsg, 0);
        if (xr == -FLOW_EAGAIN) {
            if (!p->blocked) {
                p->blocked = true;
                flow_zwatch_want(p->w, FLOW_ZW_WRITABLE);
                set_paused(ctx, true);
            }
            return xr;
        }
        if (xr)
            zmq_msg_close(&p->xmsg);
        p->has_x = false;
    }
    if (!p->open) {
        if (p->blocked) {
            p->blocked = false;
            flow_zwatch_want(p->w, 0);
        }
        return 0;
    }
    size_t len;
    uint32_t n = p->batch.count;
    flow_batch_finish(&p->batch, &len);
    int rc = send_frame(p, len);
    if (rc == -FLOW_EAGAIN) {
        if (!p->blocked) {
            p->blocked = true;
            flow_zwatch_want(p->w, FLOW_ZW_WRITABLE);
            set_paused(ctx, true);
        }
        return rc;
    }
    p->open = false;
    if (p->blocked) {
        p->blocked = false;
        flow_zwatch_want(p->w, 0);
    }
    if (rc) {
        ctx->m.drops += n;
        return rc;
    }
    return 0;
}

int flow__flush(flow_ctx *ctx)
{
    int rc = 0;
    flow__tap_flush(ctx);
    if (ctx->linger_armed) {
        uv_timer_stop(&ctx->linger_timer);
        ctx->linger_armed = false;
    }
    if (ctx->has_out && ctx->out.open && ctx->out.batch.count)
        rc = port_send(ctx, &ctx->out, true);
    for (size_t s = 0; s < ctx->nsets; s++) {
        flow__laneset *set = ctx->sets[s];
        for (uint32_t j = 0; j < set->n; j++) {
            flow__port *lp = &set->ports[j];
            if (lp->open && lp->batch.count) {
                int rc2 = port_send(ctx, lp, true);
                rc = rc ? rc : rc2;
            }
        }
    }
    for (size_t k = 0; k < ctx->ndests && !ctx->groups_blocked; k++) {
        flow__port *d = ctx->dests[k];
        if (d->open && d->batch.count) {
            int rc2 = port_send(ctx, d, true);
            rc = rc ? rc : rc2;
        }
    }
    if (ctx->has_err && ctx->err.open && ctx->err.batch.count) {
        int rc2 = port_send(ctx, &ctx->err, false);
        rc = rc ? rc : rc2;
    }
    if (!blocked(ctx))
        set_paused(ctx, false);
    return rc;
}

/* Has a lane set a batch with events not sent yet? */
static bool lanes_open(const flow_ctx *ctx)
{
    for (size_t s = 0; s < ctx->nsets; s++)
        for (uint32_t j = 0; j < ctx->sets[s]->n; j++)
            if (ctx->sets[s]->ports[j].open &&
                ctx->sets[s]->ports[j].batch.count)
                return true;
    return false;
}

bool flow__flushed(flow_ctx *ctx)
{
    return !ctx->out.open && !ctx->err.open && !ctx->err.has_x &&
           ctx->groups_blocked == 0 && (ctx->nsets == 0 || !lanes_open(ctx)) &&
           !dests_open(ctx, false);
}

/*
 * Sends the error output's barrier (p->barrier_n) unless it is held up;
 * -FLOW_EAGAIN while the socket does not take it (out_cb sends it when
 * writable).
 */
static int err_barrier_send(flow_ctx *ctx)
{
    flow__port *p = &ctx->err;
    if (!p->barrier_n)
        return 0;
    if (flow_wire_barrier(&ctx->scratch, ctx->conf.producer_id,
                          ctx->conf.instance, ctx->epoch, p->barrier_n))
        return ctx->scratch.err;
    int rc = flow_zwatch_send_buf(p->w, ctx->scratch.data, ctx->scratch.len, 0);
    if (rc == -FLOW_EAGAIN) {
        if (!p->blocked) {
            p->blocked = true;
            flow_zwatch_want(p->w, FLOW_ZW_WRITABLE);
            set_paused(ctx, true);
        }
        return rc;
    }
    p->barrier_n = 0;
    if (p->blocked) {
        p->blocked = false;
        flow_zwatch_want(p->w, 0);
    }
    return 0;
}

/*
 * The barrier of checkpoint n behind everything the output's groups and
 * the error output hold (the caller flushed the batches first). A group
 * still holding an older barrier gets the newer one in its place.
 */
void flow__out_barrier(flow_ctx *ctx, uint64_t n)
{
    flow_buf *b = &ctx->scratch;
    if (ctx->has_out && !flow_wire_barrier(b, ctx->conf.producer_id,
                                           ctx->conf.instance, ctx->epoch, n)) {
        for (size_t k = 0; k < ctx->ngroups; k++) {
            flow__group *g = ctx->groups[k];
            if (g->has_barrier)
                zmq_msg_close(&g->barrier);
            if (zmq_msg_init_size(&g->barrier, b->len) != 0) {
                g->has_barrier = false;
                continue;
            }
            memcpy(zmq_msg_data(&g->barrier), b->data, b->len);
            g->has_barrier = true;
            flow__group_push(ctx, g);
        }
    }
    if (ctx->has_err) {
        ctx->err.barrier_n = n;
        if (!(ctx->err.open && ctx->err.batch.count) && !ctx->err.blocked)
            err_barrier_send(ctx);
    }
}

/* Sends (or leaves pending until writable) one port's end of stream. */
static int port_eos(flow_ctx *ctx, flow__port *p, bool is_out)
{
    if (p->eos)
        return 0;
    if ((p->open && p->batch.count) || p->barrier_n)
        return -FLOW_EAGAIN; /* flush first */
    if (!p->open) {
        flow_batch_begin(&p->batch, ctx->conf.producer_id, ctx->conf.instance,
                         ctx->epoch);
        p->open = true;
    }
    p->eos = true;
    /* At the high-water mark the empty frame stays pending and out_cb
     * sends it: it must not be built a second time. */
    int rc = port_send(ctx, p, is_out);
    return rc == -FLOW_EAGAIN ? 0 : rc;
}

/*
 * Ends the stream on every group of the output: one copy per lane of a
 * group of lanes (each lane has one consumer), and to a group of one lane
 * one copy per connected consumer (at least one), since PUSH hands each
 * message to one consumer only. ZeroMQ's round-robin skips a consumer whose
 * queue is full, so one consumer may get two copies and another none; the
 * resend timer (flow__eos_timer_cb) covers that, and receivers count one end of
 * stream per producer instance and epoch.
 */
static int out_eos(flow_ctx *ctx)
{
    flow__port *p = &ctx->out;
    if (p->eos)
        return 0;
    if ((p->open && p->batch.count) || ctx->groups_blocked ||
        (ctx->nsets && lanes_open(ctx)) || dests_open(ctx, true))
        return -FLOW_EAGAIN; /* flush first */
    size_t len;
    if (!p->open)
        flow_batch_begin(&p->batch, ctx->conf.producer_id, ctx->conf.instance,
                         ctx->epoch);
    const uint8_t *d = flow_batch_finish(&p->batch, &len);
    p->open = false;
    p->eos = true;
    flow_buf_reset(&ctx->eos_frame);
    flow_buf_append(&ctx->eos_frame, d, len);
    if (ctx->eos_frame.err)
        return ctx->eos_frame.err;
    for (size_t k = 0; k < ctx->ngroups; k++) {
        flow__group *g = ctx->groups[k];
        g->eos_left = g->nlanes == 1 && g->peers > 0 ? g->peers : 1;
        flow__group_push(ctx, g);
    }
    return 0;
}

/*
 * While consumers stay connected after the end of stream, sends each
 * group of one lane that still has some one more copy: one that missed it (its
 * queue was full) gets it now, one that had it counts it once. The interval
 * doubles up to a second, so a consumer that stays connected gets a
 * handful of repeats, not a flood.
 */
void flow__eos_timer_cb(uv_timer_t *t)
{
    flow_ctx *ctx = t->data;
    if (!ctx->eos_frame.len || ctx->phase != PH_DRAIN)
        return;
    for (size_t k = 0; k < ctx->ngroups; k++) {
        flow__group *g = ctx->groups[k];
        if (g->nlanes == 1 && g->peers > 0 && !g->blocked) {
            g->eos_left = 1;
            flow__group_push(ctx, g);
        }
    }
    if (ctx->eos_resend_ms < 1000)
        ctx->eos_resend_ms *= 2;
    uv_timer_start(t, flow__eos_timer_cb, ctx->eos_resend_ms, 0);
}

/*
 * Ends the stream on the output and on the error output, so that a
 * consumer of rejected events ends too. Returns -FLOW_EAGAIN while a
 * port still has events to flush first; else 0 (a failed send is counted
 * as a drop by port_send).
 */
int flow__send_eos(flow_ctx *ctx)
{
    int rc = 0;
    if (ctx->has_out && out_eos(ctx) == -FLOW_EAGAIN)
        rc = -FLOW_EAGAIN;
    if (ctx->has_err && port_eos(ctx, &ctx->err, false) == -FLOW_EAGAIN)
        rc = -FLOW_EAGAIN;
    return rc;
}

/* Flushes now, or after the linger when one is configured. */
static void idle_flush(flow_ctx *ctx)
{
    if (ctx->conf.linger_us == 0 || ctx->phase != PH_RUN) {
        flow__flush(ctx);
        return;
    }
    if ((ctx->out.open && ctx->out.batch.count) ||
        (ctx->err.open && ctx->err.batch.count) ||
        (ctx->nsets && lanes_open(ctx)) || dests_open(ctx, true)) {
        if (!ctx->linger_armed) {
            uint64_t ms = (uint64_t)(ctx->conf.linger_us + 999) / 1000;
            uv_timer_start(&ctx->linger_timer, flow__linger_cb, ms, 0);
            ctx->linger_armed = true;
        }
    }
}

void flow__linger_cb(uv_timer_t *t)
{
    flow_ctx *ctx = t->data;
    ctx->linger_armed = false;
    flow__flush(ctx);
}

static bool port_full(const flow_ctx *ctx, const flow__port *p)
{
    return p->open && (p->batch.count >= ctx->conf.batch_max ||
                       p->batch.buf.len >= ctx->conf.batch_bytes);
}

static bool batch_full(const flow_ctx *ctx)
{
    for (size_t k = 0; k < ctx->ndests; k++)
        if (port_full(ctx, ctx->dests[k]))
            return true;
    return (ctx->out.open &&
            (ctx->out.batch.count >= ctx->conf.batch_max ||
             ctx->out.batch.buf.len >= ctx->conf.batch_bytes)) ||
           (ctx->err.open && (ctx->err.batch.count >= ctx->conf.batch_max ||
                              ctx->err.batch.buf.len >= ctx->conf.batch_bytes));
}

static void log_rejected(flow_ctx *ctx, size_t len, int rc)
{
    /* At most one line a second, with the count of the ones not shown. */
    if (ctx->now_us - ctx->last_err_log_us < 1000000) {
        ctx->err_log_suppressed++;
        return;
    }
    flow_log(ctx,
             "rejected a malformed input message of %zu bytes (%s); "
             "%llu more rejected since the last report",
             len, flow_strerror(rc),
             (unsigned long long)ctx->err_log_suppressed);
    ctx->last_err_log_us = ctx->now_us;
    ctx->err_log_suppressed = 0;
}

/*
 * Is this end of stream the first from its producer instance and epoch?
 * A producer sends one per connected consumer and may resend it, so a
 * consumer can see it more than once and counts it once.
 */
static bool first_end(flow_ctx *ctx, const flow_frame *f)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (uint32_t i = 0; i < f->app_len; i++)
        h = (h ^ (uint8_t)f->app[i]) * 1099511628211ULL;
    h = (h ^ f->instance) * 1099511628211ULL;
    h ^= f->epoch * 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < ctx->nended; i++)
        if (ctx->ended[i] == h)
            return false;
    if (ctx->nended == ctx->ended_cap) {
        size_t cap = ctx->ended_cap ? ctx->ended_cap * 2 : 8;
        uint64_t *n = realloc(ctx->ended, cap * sizeof(*n));
        if (!n)
            return true; /* count it; a repeat may count again */
        ctx->ended = n;
        ctx->ended_cap = cap;
    }
    ctx->ended[ctx->nended++] = h;
    return true;
}

static void handle_frame(flow_ctx *ctx, const void *data, size_t len)
{
    flow_frame f;
    int64_t t0 = flow_clock_us();
    ctx->now_us = t0;
    ctx->m.bytes_in += len;
    int rc = flow_frame_parse(&f, data, len);
    if (rc) {
        ctx->m.rejected++;
        flow__note_error(ctx,
                         "rejected a malformed input message of %zu bytes "
                         "(%s)",
                         len, flow_strerror(rc));
        log_rejected(ctx, len, rc);
        return;
    }
    if (ctx->conf.epoch && f.epoch < ctx->conf.epoch && !ctx->replaying) {
        /* A producer of an older epoch (one flowd has replaced): none of
         * its frames counts, end of stream included. A later epoch is no
         * zombie's: a producer outside flowd stamps its start time. */
        ctx->m.fenced++;
        return;
    }
    if (ctx->ck && !flow__ckpt_frame(ctx, &f, data, len))
        return;
    if (f.barrier)
        return; /* without a guarantee there is nothing to align */
    if (f.count == 0) {
        if (!first_end(ctx, &f))
            return;
        ctx->eos_seen++;
        if (ctx->conf.eos_exit && ctx->eos_seen >= ctx->conf.eos_exit) {
            ctx->eos_pending = true;
            flow__begin_stop(ctx, FLOW_CTL_END_INPUT, 0);
        }
        return;
    }
    flow_event ev;
    int (*on_event)(flow_ctx *, const flow_event *) = ctx->app->on_event;
    while (flow_frame_next(&f, &ev)) {
        ctx->m.in++;
        flow_hist_add(&ctx->m.e2e, t0 - ev.ts_us, 1);
        ctx->cur = &ev;
        int erc = on_event ? on_event(ctx, &ev) : 0;
        if (erc < 0) {
            ctx->m.errors++;
            flow__note_error(ctx, "a %.*s event failed: %s", (int)ev.type_len,
                             ev.type, flow_strerror(erc));
        }
    }
    ctx->cur = NULL;
    flow__place_note(ctx);
    int64_t t1 = flow_clock_us();
    ctx->now_us = t1;
    flow_hist_add(&ctx->m.lat, (t1 - t0) / f.count, f.count);
}

void flow__input_cb(flow_zwatch *w, int ready, void *arg)
{
    flow_ctx *ctx = arg;
    zmq_msg_t msg;
    bool drained = false;
    (void)ready;
    zmq_msg_init(&msg);
    for (int i = 0; i < RECV_BUDGET; i++) {
        if (blocked(ctx) || ctx->phase != PH_RUN)
            break;
        uint8_t *held;
        size_t hlen;
        bool replay;
        if (ctx->ck && flow__ckpt_ready(ctx, &held, &hlen, &replay)) {
            /* Frames released by an alignment go before new ones; their
             * bytes were counted when they arrived. The frames of a
             * restored channel state go first of all, from the epoch
             * before the fence. */
            if (!replay)
                ctx->m.bytes_in -= hlen;
            ctx->replaying = replay;
            handle_frame(ctx, held, hlen);
            ctx->replaying = false;
            free(held);
            if (batch_full(ctx))
                flow__flush(ctx);
            continue;
        }
        int rc = flow_zwatch_recv(w, &msg);
        if (rc) {
            drained = rc == -FLOW_EAGAIN;
            break;
        }
        handle_frame(ctx, zmq_msg_data(&msg), zmq_msg_size(&msg));
        if (batch_full(ctx))
            flow__flush(ctx);
    }
    zmq_msg_close(&msg);
    if (drained && !blocked(ctx))
        idle_flush(ctx);
    if (ctx->ck)
        flow__ckpt_after_input(ctx);
    if (ctx->phase == PH_DRAIN)
        flow__maybe_finish(ctx);
}

/* Everything an output was waiting for went out: carry on. The lanes'
 * batches that waited behind it go now: no more input may come to flush
 * them. */
static void unblocked(flow_ctx *ctx)
{
    if (!blocked(ctx)) {
        if (batch_full(ctx) || ctx->phase != PH_RUN ||
            (ctx->nsets && lanes_open(ctx)))
            flow__flush(ctx);
        set_paused(ctx, false);
    }
    if (ctx->phase == PH_DRAIN)
        flow__maybe_finish(ctx);
}

void flow__group_cb(flow_zwatch *w, int ready, void *arg)
{
    flow__group *g = arg;
    flow_ctx *ctx = g->ctx;
    (void)ready;
    if (!g->blocked) {
        flow_zwatch_want(w, 0);
        return;
    }
    flow__group_push(ctx, g);
    if (!g->blocked)
        unblocked(ctx);
}

/* The error output's watcher. */
void flow__out_cb(flow_zwatch *w, int ready, void *arg)
{
    flow_ctx *ctx = arg;
    (void)ready;
    flow__port *p = &ctx->err;
    if (!p->blocked) {
        flow_zwatch_want(w, 0);
        return;
    }
    if (port_send(ctx, p, false) == -FLOW_EAGAIN)
        return;
    if (err_barrier_send(ctx) == -FLOW_EAGAIN)
        return;
    unblocked(ctx);
}

/* One on_tick call and what its result asks for. */
static void run_tick(flow_ctx *ctx)
{
    flow__update_now(ctx);
    if (ctx->ck && flow__ckpt_tick(ctx))
        return; /* a done source waits for its last checkpoint */
    int rc = ctx->app->on_tick(ctx);
    if (batch_full(ctx))
        flow__flush(ctx);
    if (rc < 0) {
        flow_log(ctx, "on_tick failed: %s", flow_strerror(rc));
        flow__note_error(ctx, "on_tick failed: %s", flow_strerror(rc));
        flow__begin_stop(ctx, FLOW_CTL_END_ERROR, 1);
    } else if (rc == FLOW_TICK_DONE) {
        ctx->source_more = false;
        uv_idle_stop(&ctx->pump);
        if (ctx->ck && flow__ckpt_source_done(ctx))
            return;
        ctx->eos_pending = true;
        flow__begin_stop(ctx, FLOW_CTL_END_INPUT, 0);
    } else if (rc == FLOW_TICK_MORE) {
        ctx->source_more = true;
        if (!blocked(ctx))
            uv_idle_start(&ctx->pump, flow__pump_cb);
    } else {
        ctx->source_more = false;
        uv_idle_stop(&ctx->pump);
        idle_flush(ctx);
    }
}

void flow__tick_cb(uv_timer_t *t)
{
    flow_ctx *ctx = t->data;
    if (ctx->phase == PH_RUN && !blocked(ctx))
        run_tick(ctx);
}

void flow__pump_cb(uv_idle_t *h)
{
    flow_ctx *ctx = h->data;
    for (int i = 0; i < PUMP_BUDGET; i++) {
        if (ctx->phase != PH_RUN || blocked(ctx) || !ctx->source_more) {
            uv_idle_stop(&ctx->pump);
            return;
        }
        run_tick(ctx);
    }
}

/*
 * The key group of an event under --flow.partition-key: of its key
 * header ("key") or of the text of a scalar payload field (integers in
 * decimal, as the counters show them). -FLOW_ENOTFOUND when it has none
 * (no key header, the field absent, nil or not a scalar).
 */
static int key_group(flow_ctx *ctx, const flow_event *e, uint32_t *kg)
{
    const char *pk = ctx->conf.partition_key;
    const char *k;
    size_t klen;
    char text[64];
    if (ctx->conf.partition_expr) {
        /* The text of the expression's result; null, or an error, is no
         * key. */
        flow_expr_value v;
        flow_expr_error err;
        if (!ctx->pk_scratch_init) {
            flow_expr_scratch_init(&ctx->pk_scratch);
            ctx->pk_scratch_init = true;
        }
        if (flow_expr_eval(ctx->conf.partition_expr, e, &ctx->pk_scratch, &v,
                           &err) ||
            v.type == FLOW_EXPR_NIL ||
            flow_expr_value_text(&v, &ctx->pk_scratch, &k, &klen))
            return -FLOW_ENOTFOUND;
    } else if (!strcmp(pk, "key")) {
        if (!e->key)
            return -FLOW_ENOTFOUND;
        k = e->key;
        klen = e->key_len;
    } else {
        flow_mp_value v;
        if (flow_fieldpath_find(e->payload, e->payload_len, pk, &v) ||
            v.type == FLOW_MP_NIL)
            return -FLOW_ENOTFOUND;
        int n = flow_fieldpath_text(&v, text, sizeof(text), &k);
        if (n < 0)
            return -FLOW_ENOTFOUND;
        klen = (size_t)n;
    }
    *kg = flow_keygroup_of(k, klen, ctx->conf.key_groups);
    return 0;
}

/*
 * Adds an event to one lane's batch of every lane set: the owner of its
 * key group when keyed (an event without a key goes to the error output
 * instead, counted in errors), else the lane whose turn it is. A lane's
 * batch goes out as soon as it is full.
 */
static int route_lanes(flow_ctx *ctx, const flow_event *e)
{
    uint32_t kg = 0;
    bool keyed = ctx->conf.partition_key || ctx->conf.partition_expr;
    if (keyed && key_group(ctx, e, &kg))
        return flow_emit_error(ctx, e, "no partition key");
    int rc = 0;
    for (size_t s = 0; s < ctx->nsets; s++) {
        flow__laneset *set = ctx->sets[s];
        uint32_t lane =
            keyed ? flow_keygroup_owner(kg, set->n, ctx->conf.key_groups)
                  : set->rr;
        flow__port *p = &set->ports[lane];
        int r = port_add(ctx, p, e);
        if (r == 0 && (p->batch.count >= ctx->conf.batch_max ||
                       p->batch.buf.len >= ctx->conf.batch_bytes))
            port_send(ctx, p, true); /* at the high-water mark: pending */
        if (r && !rc)
            rc = r;
    }
    return rc;
}

/* An event for an output with groups of several lanes (and maybe some of
 * one lane: those get it through ctx->out). */
static int emit_lanes(flow_ctx *ctx, const flow_event *e)
{
    int rc = ctx->nsingle ? port_add(ctx, &ctx->out, e) : 0;
    int r = route_lanes(ctx, e);
    return rc ? rc : r;
}

void flow__out_reroute(flow_ctx *ctx)
{
    flow__port *p = &ctx->out;
    if (ctx->nsingle || !ctx->nsets || !p->open || !p->batch.count)
        return;
    size_t len;
    const uint8_t *d = flow_batch_finish(&p->batch, &len);
    flow_frame f;
    flow_event ev;
    p->open = false;
    p->blocked = false;
    if (flow_frame_parse(&f, d, len)) {
        ctx->m.drops += p->batch.count; /* cannot happen: our own frame */
        return;
    }
    while (flow_frame_next(&f, &ev))
        route_lanes(ctx, &ev);
}

flow__laneset *flow__laneset_use(flow_ctx *ctx, uint32_t n)
{
    for (size_t s = 0; s < ctx->nsets; s++)
        if (ctx->sets[s]->n == n) {
            ctx->sets[s]->users++;
            return ctx->sets[s];
        }
    flow__laneset **ss =
        realloc(ctx->sets, (ctx->nsets + 1) * sizeof(*ctx->sets));
    if (!ss)
        return NULL;
    ctx->sets = ss;
    flow__laneset *set = calloc(1, sizeof(*set));
    if (!set)
        return NULL;
    set->ports = calloc(n, sizeof(*set->ports));
    if (!set->ports) {
        free(set);
        return NULL;
    }
    set->n = n;
    set->users = 1;
    for (uint32_t j = 0; j < n; j++) {
        flow_batch_init(&set->ports[j].batch);
        set->ports[j].set = set;
        set->ports[j].lane = j;
    }
    ctx->sets[ctx->nsets++] = set;
    return set;
}

void flow__laneset_drop(flow_ctx *ctx, flow__laneset *set)
{
    if (--set->users > 0)
        return;
    for (uint32_t j = 0; j < set->n; j++) {
        if (set->ports[j].open)
            ctx->m.drops += set->ports[j].batch.count;
        flow_batch_fini(&set->ports[j].batch);
    }
    size_t s = 0;
    while (ctx->sets[s] != set)
        s++;
    memmove(&ctx->sets[s], &ctx->sets[s + 1],
            (ctx->nsets - s - 1) * sizeof(*ctx->sets));
    ctx->nsets--;
    free(set->ports);
    free(set);
}

int flow__out_broadcast(flow_ctx *ctx, const void *data, size_t len)
{
    if (!flow__flushed(ctx)) {
        flow__flush(ctx);
        if (!flow__flushed(ctx))
            return -FLOW_EAGAIN;
    }
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, len) != 0)
        return -FLOW_ENOMEM;
    memcpy(zmq_msg_data(&msg), data, len);
    for (size_t k = 0; k < ctx->ngroups; k++) {
        flow__group *g = ctx->groups[k];
        zmq_msg_init(&g->pending);
        zmq_msg_copy(&g->pending, &msg);
        g->has_pending = true;
        g->pending_n = 0;
        flow__group_push(ctx, g);
    }
    if (ctx->has_err) {
        zmq_msg_init(&ctx->err.xmsg);
        zmq_msg_copy(&ctx->err.xmsg, &msg);
        ctx->err.has_x = true;
        port_send(ctx, &ctx->err, false);
    }
    zmq_msg_close(&msg);
    return 0;
}

int flow_emit_event(flow_ctx *ctx, const flow_event *ev)
{
    if (ev->payload_len > FLOW_WIRE_MAX_EVENT ||
        ev->type_len > FLOW_WIRE_MAX_NAME || ev->key_len > FLOW_WIRE_MAX_NAME)
        return -FLOW_ETOOBIG;
    if (!ctx->has_out || ctx->phase == PH_DONE) {
        /* No output, or emitted from fini after the last flush. */
        ctx->m.drops++;
        return 0;
    }
    flow_event e = *ev;
    if (e.id == 0)
        e.id = ctx->cur ? ctx->cur->id : ++ctx->next_id;
    if (e.ts_us == 0)
        e.ts_us = ctx->cur ? ctx->cur->ts_us : ctx->now_us;
    if (ctx->kafka && ctx->conf.kafka.output) {
        if (ctx->tap_s)
            flow__tap_add(ctx, &e);
        return flow__kafka_emit(ctx, &e, false);
    }
    if (ctx->nsets)
        return emit_lanes(ctx, &e);
    return port_add(ctx, &ctx->out, &e);
}

int flow_emit_to(flow_ctx *ctx, const char *dest, const flow_event *ev)
{
    if (ev->payload_len > FLOW_WIRE_MAX_EVENT ||
        ev->type_len > FLOW_WIRE_MAX_NAME || ev->key_len > FLOW_WIRE_MAX_NAME)
        return -FLOW_ETOOBIG;
    if (!dest || !*dest)
        return -FLOW_EINVAL;
    if (!ctx->conf.control || ctx->phase == PH_DONE) {
        /* No server to add the destination's groups. */
        ctx->m.drops++;
        return 0;
    }
    flow__port *p = NULL;
    for (size_t k = 0; k < ctx->ndests && !p; k++)
        if (!strcmp(ctx->dests[k]->dest, dest))
            p = ctx->dests[k];
    if (!p) {
        flow__port **ds =
            realloc(ctx->dests, (ctx->ndests + 1) * sizeof(*ctx->dests));
        if (!ds)
            return -FLOW_ENOMEM;
        ctx->dests = ds;
        if (!(p = calloc(1, sizeof(*p))))
            return -FLOW_ENOMEM;
        if (!(p->dest = strdup(dest))) {
            free(p);
            return -FLOW_ENOMEM;
        }
        flow_batch_init(&p->batch);
        ctx->dests[ctx->ndests++] = p;
    }
    /* Its end of stream goes with the output's, to every group. */
    ctx->has_out = true;
    flow_event e = *ev;
    if (e.id == 0)
        e.id = ctx->cur ? ctx->cur->id : ++ctx->next_id;
    if (e.ts_us == 0)
        e.ts_us = ctx->cur ? ctx->cur->ts_us : ctx->now_us;
    return port_add(ctx, p, &e);
}

void flow__dests_free(flow_ctx *ctx, bool count_drops)
{
    for (size_t k = 0; k < ctx->ndests; k++) {
        flow__port *p = ctx->dests[k];
        if (count_drops) {
            if (p->open)
                ctx->m.drops += p->batch.count;
            p->open = false;
            continue;
        }
        flow_batch_fini(&p->batch);
        free(p->dest);
        free(p);
    }
    if (!count_drops) {
        free(ctx->dests);
        ctx->dests = NULL;
        ctx->ndests = 0;
    }
}

int flow_emit(flow_ctx *ctx, const char *type, const char *key, int64_t ts_us,
              const void *payload, size_t payload_len)
{
    size_t tl = strlen(type), kl = key ? strlen(key) : 0;
    if (tl > FLOW_WIRE_MAX_NAME || kl > FLOW_WIRE_MAX_NAME ||
        payload_len > FLOW_WIRE_MAX_EVENT)
        return -FLOW_ETOOBIG;
    flow_event ev = {
        .ts_us = ts_us,
        .type = type,
        .type_len = (uint32_t)tl,
        .key = key,
        .key_len = (uint32_t)kl,
        .payload = payload,
        .payload_len = (uint32_t)payload_len,
    };
    return flow_emit_event(ctx, &ev);
}

int flow_emit_error(flow_ctx *ctx, const flow_event *ev, const char *reason)
{
    ctx->m.errors++;
    flow__note_error(ctx, "rejected a %.*s event: %s", (int)ev->type_len,
                     ev->type, reason ? reason : "no reason given");
    if (!ctx->has_err || ctx->phase == PH_DONE) {
        if (ctx->now_us - ctx->last_err_log_us >= 1000000) {
            flow_log(ctx,
                     "rejected a %.*s event: %s (no --flow.error-output; "
                     "%llu more not shown)",
                     (int)ev->type_len, ev->type, reason,
                     (unsigned long long)ctx->err_log_suppressed);
            ctx->last_err_log_us = ctx->now_us;
            ctx->err_log_suppressed = 0;
        } else {
            ctx->err_log_suppressed++;
        }
        return 0;
    }
    flow_buf *b = &ctx->scratch;
    flow_buf_reset(b);
    flow_mp_put_map(b, 2);
    flow_mp_put_str(b, "error", 5);
    flow_mp_put_cstr(b, reason ? reason : "");
    flow_mp_put_str(b, "event", 5);
    if (flow_mp_validate(ev->payload, ev->payload_len) == 0)
        flow_mp_put_raw(b, ev->payload, ev->payload_len);
    else
        flow_mp_put_bin(b, ev->payload, ev->payload_len);
    if (b->err)
        return b->err;
    if (b->len > FLOW_WIRE_MAX_EVENT)
        return -FLOW_ETOOBIG;
    flow_event e = *ev;
    if (e.id == 0)
        e.id = ctx->cur ? ctx->cur->id : ++ctx->next_id;
    if (e.ts_us == 0)
        e.ts_us = ctx->cur ? ctx->cur->ts_us : ctx->now_us;
    e.payload = b->data;
    e.payload_len = (uint32_t)b->len;
    if (ctx->kafka && ctx->conf.kafka.error_output)
        return flow__kafka_emit(ctx, &e, true);
    return port_add(ctx, &ctx->err, &e);
}

size_t flow_emit_room(flow_ctx *ctx)
{
    if (ctx->phase != PH_RUN || blocked(ctx))
        return 0;
    uint32_t n = ctx->out.open ? ctx->out.batch.count : 0;
    return n >= ctx->conf.batch_max ? 0 : ctx->conf.batch_max - n;
}

flow_buf *flow_payload_buf(flow_ctx *ctx)
{
    flow_buf_reset(&ctx->payload);
    return &ctx->payload;
}

void flow_count_dups(flow_ctx *ctx, uint64_t n)
{
    ctx->m.dups += n;
}
