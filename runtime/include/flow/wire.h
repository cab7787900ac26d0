/*
 * flow: the data-plane wire format (docs/wire.md): batch frames of events.
 *
 * A ZeroMQ message holds one frame: a msgpack array
 *   [1, producer_label, instance, epoch, [event, ...]]
 * and every event is an array
 *   [id, type, ts_us, key | nil, seq, payload(bin)].
 * A frame with no events marks the end of that producer's stream. A
 * barrier of checkpoint n is a frame of six elements with no events:
 *   [1, producer_label, instance, epoch, [], n]
 *
 * The encoder appends events into a reusable buffer with no allocation once
 * the buffer has grown; the decoder validates the whole frame against the
 * bytes present before handing out any event and never allocates.
 */
#ifndef FLOW_WIRE_H
#define FLOW_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/event.h"
#include "flow/mp.h"

#define FLOW_WIRE_VERSION 1
/*
 * Limits a receiver enforces; a frame over them is rejected whole. A
 * receiver's socket takes no ZeroMQ message over FLOW_WIRE_MAX_FRAME
 * (ZMQ_MAXMSGSIZE), and a producer never sends one: it splits its batches
 * before they reach it.
 */
#define FLOW_WIRE_MAX_FRAME  (16u * 1024 * 1024)
#define FLOW_WIRE_MAX_EVENTS 65536u
#define FLOW_WIRE_MAX_EVENT  (1u * 1024 * 1024) /* payload bytes */
#define FLOW_WIRE_MAX_NAME   255u               /* type, key, producer label */
/* At most the bytes an event takes in a frame beyond its type, key and
 * payload: array, id, string, time, key and seq headers, bin header. */
#define FLOW_WIRE_EVENT_OVERHEAD 64u

/* Builds one batch frame. Embedded: init / fini. */
typedef struct flow_batch {
    flow_buf buf;
    uint32_t count;  /* events added since begin */
    size_t head_len; /* bytes reserved for the frame head */
} flow_batch;

void flow_batch_init(flow_batch *b);
void flow_batch_fini(flow_batch *b);
/* Starts a new frame (drops anything not finished). Borrows label. */
void flow_batch_begin(flow_batch *b, const char *label, uint32_t instance,
                      uint64_t epoch);
/* Appends one event; seq is the edge's next sequence number. Returns 0,
 * -FLOW_ENOMEM, or -FLOW_ETOOBIG when a field is over the limits. */
int flow_batch_add(flow_batch *b, const flow_event *ev, uint64_t seq);
/* Finishes the frame: fills in the event count. Returns the frame bytes
 * (borrowed, valid until the next begin) and stores their length. */
const uint8_t *flow_batch_finish(flow_batch *b, size_t *len);

/* Writes into out (emptied first) the barrier frame of checkpoint n (n >
 * 0). Returns 0 or out->err. */
int flow_wire_barrier(flow_buf *out, const char *label, uint32_t instance,
                      uint64_t epoch, uint64_t n);

/* A decoded frame: the producer headers and a cursor over its events. */
typedef struct flow_frame {
    const char *app;
    uint32_t app_len;
    uint32_t instance;
    uint64_t epoch;
    uint32_t count;   /* number of events; 0 = end of stream or barrier */
    uint64_t barrier; /* the checkpoint id of a barrier; 0 = none */
    flow_mp_reader events;
    uint32_t next; /* events already taken with flow_frame_next */
} flow_frame;

/*
 * Parses and fully validates a frame (every event's types and lengths, the
 * limits above, no trailing bytes). Returns 0, or -FLOW_ETOOBIG,
 * -FLOW_ETRUNCATED, -FLOW_EMALFORMED, -FLOW_EVERSION. Borrows data.
 */
int flow_frame_parse(flow_frame *f, const void *data, size_t len);

/* The next event of a parsed frame (producer headers filled in); returns
 * false after the last one. Only valid after flow_frame_parse returned 0. */
bool flow_frame_next(flow_frame *f, flow_event *ev);

#endif
