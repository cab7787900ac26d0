/*
 * The parts of checkpoints that need no running app, apart so that they
 * can be tested alone: barrier alignment over the input's channels and
 * the snapshot file (docs/guarantees.md, docs/apps.md "Checkpoints").
 * Not a public header.
 */
#ifndef FLOW_SRC_CKPT_H
#define FLOW_SRC_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/mp.h"

/* An exactly-once instance holds at most this many bytes of frames while
 * it aligns; more declines the checkpoint. */
#define FLOW_ALIGN_MAX_HELD (64u * 1024 * 1024)

/* A frame held back (a copy of its bytes, owned). */
typedef struct flow__held {
    uint8_t *data;
    size_t len;
} flow__held;

/* One producer channel of the input: a (producer, instance) pair. */
typedef struct flow__chan {
    char *name; /* owned */
    uint32_t name_len;
    uint32_t instance;
    uint64_t last; /* the last barrier it delivered */
    bool ended;    /* it sent its end of stream */
    bool feedback; /* a back edge of a cycle (--flow.feedback) */
    flow__held *held;
    size_t nheld, held_cap;
} flow__chan;

typedef struct flow__align {
    flow__chan **ch; /* owned, each too: a channel never moves */
    size_t nch;
    uint32_t want; /* channels to wait for (--flow.upstreams) */
    bool exactly;  /* hold the frames of channels that are ahead */
    uint64_t cur;  /* the checkpoint being aligned; 0 = none */
    uint64_t done; /* the last one aligned */
    bool overflow; /* cur went over the held limit: it holds no more */
    size_t held_bytes;
    size_t max_held; /* FLOW_ALIGN_MAX_HELD (tests set less) */
    /* Frames released, in order, to process before new input. */
    flow__held *ready;
    size_t nready, ready_head, ready_cap;
    /* Feedback channels (--flow.feedback): the producers named, and how
     * many of their channels there are (--flow.feedback-channels). */
    char **fb_ids; /* owned, each too */
    size_t nfb_ids;
    uint32_t fb_want;
    /* The channel state of checkpoint rec (0: none being recorded): the
     * frames that came on a feedback channel after the snapshot of rec
     * and before that channel's barrier rec, in arrival order. */
    uint64_t rec;
    flow__held *rec_frames;
    size_t nrec, rec_cap, rec_bytes;
    bool rec_over; /* went over max_held: nothing kept, rec is declined */
} flow__align;

/* What a barrier or an end of stream did. */
enum {
    FLOW_ALIGN_WAIT = 0,    /* nothing to do yet */
    FLOW_ALIGN_ALIGNED = 1, /* every channel delivered barrier a->done */
};

/* Feedback channels are not aligned on: after the snapshot of n their
 * frames are recorded until their barrier n (docs/apps.md "Checkpoints"). */

void flow__align_init(flow__align *a, uint32_t want, bool exactly);
void flow__align_fini(flow__align *a);
/*
 * The producers of the feedback channels (ids, comma-separated, copied)
 * and how many channels they make (0: one per id). Before any channel is
 * seen. Returns 0 or -FLOW_ENOMEM.
 */
int flow__align_feedback(flow__align *a, const char *ids, uint32_t nchan);
/* The channel of a producer, added on first sight; NULL without memory. */
flow__chan *flow__align_chan(flow__align *a, const char *name, uint32_t len,
                             uint32_t instance);
/* Must a frame of ch wait (exactly-once, ch ahead of the others)? */
bool flow__align_holds(const flow__align *a, const flow__chan *ch);
/* Holds a copy of a frame of ch. Returns 0, -FLOW_ENOMEM, or 1 when the
 * held bytes went over the limit: everything held is released and the
 * checkpoint being aligned holds no more (the caller declines it). */
int flow__align_hold(flow__align *a, flow__chan *ch, const void *data,
                     size_t len);
/* Barrier n from ch; FLOW_ALIGN_ALIGNED when it completed the alignment
 * of a->done (everything held is then released). */
int flow__align_barrier(flow__align *a, flow__chan *ch, uint64_t n);
/* End of stream from ch (it counts as aligned from now on). */
int flow__align_end(flow__align *a, flow__chan *ch);
/* Every expected channel sent its end of stream. */
bool flow__align_all_ended(const flow__align *a);
/* The next released frame (owned by the caller now); false when none. */
bool flow__align_next(flow__align *a, uint8_t **data, size_t *len);
/* Queues a copy of a frame to process before new input (a restored
 * channel state). Returns 0 or -FLOW_ENOMEM. */
int flow__align_push_ready(flow__align *a, const void *data, size_t len);
/* Checkpoint n from flowd to an app whose channels (but the feedback
 * ones) have all ended, so no barrier can come: as if it came on every
 * channel. As flow__align_barrier says. */
int flow__align_start(flow__align *a, uint64_t n);
/* Does a checkpoint wait (a->cur) complete now? As a barrier would say. */
int flow__align_check(flow__align *a);
/* Starts recording the channel state of checkpoint n (just snapshotted). */
void flow__align_record_start(flow__align *a, uint64_t n);
/* Records a copy of a data frame of the feedback channel ch, when a->rec
 * waits for ch's barrier. Returns 0, -FLOW_ENOMEM, or 1 when the recorded
 * bytes went over max_held (everything recorded is dropped, rec_over). */
int flow__align_record(flow__align *a, flow__chan *ch, const void *data,
                       size_t len);
/* Has every feedback channel delivered barrier a->rec (or ended)? */
bool flow__align_record_complete(const flow__align *a);
/* Ends the recording: a->rec is 0 again and the frames are dropped. */
void flow__align_record_end(flow__align *a);

/* ---- The snapshot file ---- */

#define FLOW_SNAP_MAGIC      "FLOWSNP1"
#define FLOW_SNAP_HEADER_LEN 16

/* A snapshot's parts, borrowed from the file's bytes. */
typedef struct flow__snap {
    uint64_t n, epoch;
    const char *app;
    uint32_t app_len;
    const uint8_t *unkeyed; /* NULL: none */
    uint32_t unkeyed_len;
    const uint8_t *keyed; /* the entries, after the array header */
    uint32_t nkeyed;
    const uint8_t *counters; /* the whole counters array */
    size_t counters_len;
    const uint8_t *chan; /* the channel state's frames (bin each), or NULL */
    uint32_t nchan;
    size_t chan_len;
} flow__snap;

/* Frames body (the msgpack array) with the header: magic, crc32, 0. */
int flow__snap_frame(flow_buf *out, const uint8_t *body, size_t len);
/*
 * Checks a whole file's bytes (magic, checksum, layout) and fills s.
 * Returns 0 or -FLOW_EMALFORMED with what is wrong in why.
 */
int flow__snap_parse(const uint8_t *data, size_t len, flow__snap *s, char *why,
                     size_t whylen);
/* The next keyed entry of a parsed snapshot (r starts at s->keyed). */
int flow__snap_next_key(flow_mp_reader *r, uint32_t *kg, const uint8_t **key,
                        uint32_t *klen, const uint8_t **val, uint32_t *vlen);
/*
 * Writes bytes durably to DIR/<n>/NAME: the directory made if needed, a
 * temporary file written and fsync'd, renamed into place, the directory
 * fsync'd. Returns 0 or a negative FLOW_E* with what failed in why.
 */
int flow__snap_write(const char *dir, uint64_t n, const char *name,
                     const uint8_t *data, size_t len, char *why, size_t whylen);
/* Reads a whole file into out; 0 or a negative FLOW_E* with why. */
int flow__snap_read(const char *path, flow_buf *out, char *why, size_t whylen);

#endif
