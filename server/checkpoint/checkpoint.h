/* The checkpoint coordinator (layer 3, see tests/server/layers.sh):
 * between the deployment layer above it and the model below. It groups
 * deployed streams into regions (a stream, the streams it shares a named
 * destination with, and the deployed taps of it: what restarts
 * together), starts a checkpoint of each guaranteed region every
 * interval, completes it when every running instance acknowledged it (in
 * one store transaction, with the counter values it commits), aborts it on
 * a decline or a timeout, keeps the last few complete ones on disk, and
 * keeps each region's epoch and recovery times. docs/flowd.md,
 * "Checkpoints and recovery", and docs/guarantees.md say what it
 * promises.
 *
 * The deployment layer starts it (srv_ckpt_start), asks it what an
 * instance of a guaranteed stream is started with (the srv_ckpt_*_of
 * functions) and drives recoveries (srv_ckpt_recovery_*); the control
 * endpoint reports acks, declines and tagged counters through the
 * srv_ckpt_ops table the coordinator registers in srv. Every srv,
 * srv_stream, srv_dapp and srv_inst passed is borrowed; buffers written
 * are the caller's, of the size given. */
#ifndef SRV_CHECKPOINT_H
#define SRV_CHECKPOINT_H

#include "model.h"

/* An instance silent for this long stops its region (SIGSTOP). */
#define SRV_CKPT_SILENT_MS SRV_STALE_MS

typedef struct srv_region srv_region;

/* How the coordinator sends ckpt (done false) and ckpt_done (done true);
 * srv_control_send_ckpt unless a test puts its own. */
typedef void (*srv_ckpt_send_fn)(void *ud, srv_inst *i, bool done, uint64_t id);

/* Creates s->ckpt (owned by s until srv_ckpt_free), registers
 * srv.ckpt_ops, reads every region's epoch, last complete checkpoint and
 * committed counters from the store (what was in flight when flowd
 * stopped is aborted: the next id is past it), and starts its timer on
 * s->loop. now is the clock (ud passed through). 0, or -1 when out of
 * memory. */
int srv_ckpt_start(srv *s, int64_t (*now)(void *ud), void *ud);
/* Closes the timer (the loop must run once more), then frees what
 * s->ckpt owns; s->ckpt is NULL afterwards. */
void srv_ckpt_free(srv *s);
/* Puts send in place of srv_control_send_ckpt (ud passed through). */
void srv_ckpt_set_sender(srv *s, srv_ckpt_send_fn send, void *ud);
/* What the timer does: starts the checkpoints that are due and aborts
 * those past their timeout. */
void srv_ckpt_poll(srv *s);

/* Regions (region.c). */
/* st's region (created on demand, owned by s->ckpt), NULL when st is not
 * deployed or out of memory. */
srv_region *srv_ckpt_region_of(srv *s, srv_stream *st);
/* The region's id: the name of its first-deployed stream. Borrowed. */
const char *srv_ckpt_region_id(const srv_region *r);
/* The deployed streams of r, at most max into out (borrowed); returns how
 * many there are. */
size_t srv_ckpt_region_streams(srv *s, srv_region *r, srv_stream **out,
                               size_t max);
/* Works out again the guarantee (st->guarantee, guarantee_note) of every
 * deployed stream from its region, after a deploy or an undeploy. */
void srv_ckpt_regions_update(srv *s);

/* st was just deployed: when its region is st alone, the region starts
 * from nothing (its checkpoints, their directories and the counters they
 * committed, of an earlier deployment, are forgotten). */
void srv_ckpt_fresh(srv *s, srv_stream *st);
/* st is about to be undeployed: when its region is named after it and
 * other streams stay in it, the region (its epoch, checkpoints, their
 * directory and the counters they committed) passes to the name it has
 * without st, so that they go on from its last complete checkpoint
 * rather than from nothing. */
void srv_ckpt_handover(srv *s, srv_stream *st);

/* What an instance of a guaranteed stream is started with. */
uint64_t srv_ckpt_epoch(const srv_region *r);
/* Two regions became one: its epoch moves up to e when it is below, so
 * that the next one is newer than every epoch its instances ran in. */
void srv_ckpt_epoch_at_least(srv_region *r, uint64_t e);
/* How many producer channels feed app a's instances: every instance of
 * the app before it, or of the last apps of the streams that write its
 * source destination (but the completed ones, which send nothing more),
 * or of the app it taps; 0 for a source. */
int srv_ckpt_upstreams_of(srv *s, const srv_dapp *a);
/* The producers of app a's channels that are back edges of a cycle in
 * its region (found by a depth-first search from the region's source
 * streams, in name order, over pipes and named destinations), as
 * comma-separated STREAM.LABEL into ids; returns how many channels they
 * make (0: none; -1 when ids does not fit). srv_ckpt_upstreams_of does
 * not count them. */
int srv_ckpt_feedback_of(srv *s, const srv_dapp *a, char *ids, size_t len);
/* Has r's graph a cycle (a back edge)? */
bool srv_ckpt_cyclic(srv *s, srv_region *r);
/* Does app a read a named destination (it is the first app of a stream
 * whose source is one, not a tap nor dead letters)? More producers may
 * join such an input at any time. */
bool srv_ckpt_reads_destination(srv *s, const srv_dapp *a);
/* Is app a a source of its region, to which the coordinator sends ckpt:
 * the first app of a stream that reads nothing, or an app that reads a
 * Kafka topic (which replays from the offsets in its snapshot)? */
bool srv_ckpt_is_source(srv *s, const srv_dapp *a);
/* Does stream p write the named destination app a reads? */
bool srv_ckpt_feeds(srv *s, const srv_stream *p, const srv_dapp *a);
/* DATA/checkpoints/REGION into buf; -1 when it does not fit. */
int srv_ckpt_dir_of(srv *s, const srv_region *r, char *buf, size_t len);
/* The comma-separated snapshot files of app a's instances in r's last
 * complete checkpoint into buf (empty when none: start fresh). 0, or -1
 * when they do not fit. */
int srv_ckpt_restore_of(srv *s, srv_region *r, const srv_dapp *a, char *buf,
                        size_t len);

/* The protocol, as control.c reports it (also called by tests). */
void srv_ckpt_on_ack(srv *s, srv_inst *i, uint64_t id, uint64_t bytes);
void srv_ckpt_on_decline(srv *s, srv_inst *i, uint64_t id, const char *reason);
void srv_ckpt_on_counter(srv *s, srv_inst *i, const flow_ctl_msg *m);
/* An untagged increment from i (control.c's srv_ckpt_ops.live). */
void srv_ckpt_on_live(srv *s, srv_inst *i, const char *kind, const char *name,
                      const char *value, uint64_t inc);
/* The live figure of kind/name into *out: summed over the instances of
 * guaranteed streams that feed it, each its committed value at its
 * (re)start plus its increments since (never below what it last reported
 * with a checkpoint). false when no guaranteed stream feeds it. */
bool srv_ckpt_live(srv *s, const char *kind, const char *name, uint64_t *out);
/* i said hello: the end of its region's recovery once every instance
 * has. */
void srv_ckpt_on_hello(srv *s, srv_inst *i);

/* Starts a checkpoint of r now unless one is in flight. Returns its id (or
 * the one in flight), 0 when none can start (an instance has not said
 * hello, or r recovers). */
uint64_t srv_ckpt_trigger(srv *s, srv_region *r);
/* The last complete checkpoint of r (0: none) and the one in flight (0:
 * none). */
uint64_t srv_ckpt_last_complete(const srv_region *r);
uint64_t srv_ckpt_in_flight(const srv_region *r);
/* Called once after each checkpoint of any region completes (the
 * deployer's rescale waits for it); ud passed through. */
void srv_ckpt_set_on_complete(srv *s, void (*fn)(void *ud, srv_region *r),
                              void *ud);
/* How regions learn whether the last app a of a stream without
 * `> :dest` (a router) sends to destination dest (the deployer knows a
 * router's destinations). Without it such a stream writes none. */
void srv_ckpt_set_routes(srv *s,
                         bool (*fn)(const srv_dapp *a, const char *dest));

/* Recovery: the deployer stops every instance of r and starts them again. */
/* Is r recovering (its instances killed, not all back)? */
bool srv_ckpt_recovering(const srv_region *r);
/* r's instance died (why, borrowed): aborts the checkpoint in flight and
 * marks r recovering from now. Returns false when it was already. */
bool srv_ckpt_recovery_begin(srv *s, srv_region *r, const char *why);
/* Every instance of r is gone: the next epoch (recorded in the store),
 * and the committed counters become the overlay again (the restored
 * instances count from them; those of instances past their app's count,
 * gone in a scale down, are folded into instance 0, as the runtime's
 * restore does). 0, or -1 when the store cannot be written (the epoch
 * still moves on in memory, which is what fences). */
int srv_ckpt_recovery_restart(srv *s, srv_region *r);

/* Why the last checkpoint of st's region failed, when none completed
 * since (borrowed; NULL otherwise). */
const char *srv_ckpt_warning(srv *s, srv_stream *st);
/* The stream's guarantee and checkpoint status as JSON (new): {guarantee,
 * guarantee_note?, checkpoint: {last_complete, last_completed_at,
 * in_flight, failed, last_failure, region, epoch, interval_ms, timeout_ms,
 * retain, recovering}, recovery: {count, last_ms, p50_ms, p99_ms, max_ms}}
 * (checkpoint and recovery null without a guarantee). The quantiles are
 * of the last SRV_CKPT_RING recoveries. NULL when out of memory. */
json_t *srv_ckpt_status_json(srv *s, srv_stream *st);
/* The recovery times of st's region as a histogram: the upper bounds in
 * milliseconds of its SRV_CKPT_BUCKETS buckets (the last is 0: +Inf),
 * and the count of each bucket (not cumulative) into counts (the
 * caller's), and their sum in milliseconds into *sum_ms. Returns how
 * many recoveries there were (0 also when st has no region). */
#define SRV_CKPT_BUCKETS 12
extern const int64_t srv_ckpt_recovery_bounds_ms[SRV_CKPT_BUCKETS];
uint64_t srv_ckpt_recovery_histogram(srv *s, srv_stream *st,
                                     uint64_t counts[SRV_CKPT_BUCKETS],
                                     int64_t *sum_ms);

#endif
