/*
 * flow: the control protocol of docs/apps.md, encoded and decoded in one
 * place so that flowd decodes exactly what apps send.
 *
 * Every message is one ZeroMQ frame holding one msgpack map with a string
 * key "t". The decoder borrows the frame: strings in flow_ctl_msg point
 * into it and are not NUL-terminated (use the *_len fields). It decodes
 * with msgpack-c, after checking without allocating that every declared
 * count and length fits in the frame (flow_mpjson_fits); a decoded message
 * owns msgpack-c's memory until flow_ctl_msg_fini.
 */
#ifndef FLOW_CONTROL_H
#define FLOW_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/metrics.h"
#include "flow/mp.h"

#define FLOW_CTL_MAX_FRAME (1u * 1024 * 1024)

/* The most bytes of "last_error" an app sends (longer text is cut). */
#define FLOW_CTL_MAX_ERROR 200

/* Why an app's run ends, the "end" of its metrics and bye: its input
 * ended (a source produced its last event, or every producer sent its end
 * of stream), a signal (SIGTERM, SIGINT) or a stop request (flowd's
 * "stop", the host) stopped it, or it failed. A clean exit is the end of
 * the app's work only with "input". */
#define FLOW_CTL_END_INPUT   "input"
#define FLOW_CTL_END_SIGNAL  "signal"
#define FLOW_CTL_END_REQUEST "request"
#define FLOW_CTL_END_ERROR   "error"

typedef enum flow_ctl_type {
    FLOW_CTL_UNKNOWN = 0, /* a type this version does not know: ignore */
    FLOW_CTL_HELLO,
    FLOW_CTL_METRICS,
    FLOW_CTL_COUNTER,
    FLOW_CTL_BYE,
    FLOW_CTL_CONNECT,
    FLOW_CTL_DISCONNECT,
    FLOW_CTL_STOP,
    /* Checkpoints (docs/guarantees.md): ckpt and ckpt_done go to apps,
     * ack and decline come from them. */
    FLOW_CTL_CKPT,
    FLOW_CTL_CKPT_DONE,
    FLOW_CTL_ACK,
    FLOW_CTL_DECLINE,
} flow_ctl_type;

/* A borrowed string. */
typedef struct flow_ctl_str {
    const char *ptr;
    uint32_t len;
} flow_ctl_str;

/* One entry of a counter's "seconds" or "values" map. The key is
 * borrowed from the frame. */
typedef struct flow_ctl_pair {
    flow_ctl_str key;
    uint64_t value;
} flow_ctl_pair;

struct msgpack_zone;

/* A decoded control message; only the fields of its type are set. */
typedef struct flow_ctl_msg {
    flow_ctl_type type;
    /* hello, metrics, bye */
    flow_ctl_str stream, label, app, role, version;
    int64_t instance, pid, ts_ms;
    /* metrics, bye: counters (cumulative) and latency histogram */
    flow_metrics m;
    /* metrics, bye: the latest error's text and why the run ends (see
     * flow_ctl_status); empty when the app sent none (older apps never
     * do) */
    flow_ctl_str last_error, end;
    /* metrics, bye: where outside clients reach the app (flow_ctl_status
     * url); empty when it sent none */
    flow_ctl_str url;
    /* metrics, bye: the app's own counts (flow_ctl_status figures), owned
     * by the message as seconds and values are; NULL when absent */
    const flow_ctl_pair *figures;
    uint32_t nfigures;
    /* counter */
    flow_ctl_str kind, name;
    uint64_t inc;
    /* counter: the "seconds" and "values" maps, nseconds and nvalues
     * entries (owned by the message); NULL when the map is absent, never
     * NULL when it is present, even empty */
    const flow_ctl_pair *seconds;
    uint32_t nseconds;
    const flow_ctl_pair *values;
    uint32_t nvalues;
    /* connect, disconnect */
    flow_ctl_str port, endpoint;
    /* ckpt, ckpt_done, ack, decline: the checkpoint id; ack: the snapshot
     * file's bytes; decline: why */
    uint64_t id, bytes;
    flow_ctl_str reason;
    /* counter: the checkpoint a tagged counter message belongs to (0 in
     * an untagged one) and its cumulative total (has_total: "total" was
     * there) */
    uint64_t ckpt, total;
    bool has_total;
    /* owned: msgpack-c's memory that seconds and values live in; freed by
     * flow_ctl_msg_fini */
    struct msgpack_zone *zone;
} flow_ctl_msg;

/* Identity of the sender, for hello/metrics/bye. Strings borrowed. */
typedef struct flow_ctl_ident {
    const char *stream;
    const char *label;
    const char *app;
    const char *role; /* "source", "processor", "sink" */
    const char *version;
    uint32_t instance;
    int64_t pid;
} flow_ctl_ident;

/* What an app says about itself beside its counts, in metrics and bye.
 * Strings borrowed; NULL or empty ones are left out of the message. */
typedef struct flow_ctl_status {
    const char *last_error; /* the latest error, at most FLOW_CTL_MAX_ERROR
                               bytes are sent */
    const char *end;        /* a FLOW_CTL_END_* once the app stops */
    const char *url;        /* where outside clients reach the app (an
                               ingest source's listening address) */
    const flow_ctl_pair *figures; /* the app's own counts ("figures") */
    uint32_t nfigures;
} flow_ctl_status;

/* Encoders, with msgpack-c's packer: each empties out and writes one
 * message; 0 or out->err. st may be NULL. */
int flow_ctl_encode_hello(flow_buf *out, const flow_ctl_ident *id);
int flow_ctl_encode_metrics(flow_buf *out, const flow_ctl_ident *id,
                            int64_t ts_ms, const flow_metrics *m,
                            const flow_ctl_status *st);
int flow_ctl_encode_bye(flow_buf *out, const flow_ctl_ident *id, int64_t ts_ms,
                        const flow_metrics *m, const flow_ctl_status *st);
/* kind: "counter", "field-value-counter", "aggregate-counter". The
 * "seconds" and "values" maps are given as nseconds and nvalues pairs
 * (borrowed; NULL leaves the map out). */
int flow_ctl_encode_counter(flow_buf *out, const char *kind, const char *name,
                            uint64_t inc, const flow_ctl_pair *seconds,
                            uint32_t nseconds, const flow_ctl_pair *values,
                            uint32_t nvalues);
/* The tagged counter message of checkpoint ckpt: cumulative values
 * ("total", and the "seconds" and "values" maps as for
 * flow_ctl_encode_counter), no "inc". */
int flow_ctl_encode_counter_ckpt(flow_buf *out, const char *kind,
                                 const char *name, uint64_t ckpt,
                                 uint64_t total, const flow_ctl_pair *seconds,
                                 uint32_t nseconds, const flow_ctl_pair *values,
                                 uint32_t nvalues);
/* flowd to an app: take checkpoint id (sources), checkpoint id is
 * complete (every instance). */
int flow_ctl_encode_ckpt(flow_buf *out, uint64_t id);
int flow_ctl_encode_ckpt_done(flow_buf *out, uint64_t id);
/* An app to flowd: its snapshot of checkpoint id is durable (bytes long)
 * and the barrier went on; or it cannot take checkpoint id, and why. */
int flow_ctl_encode_ack(flow_buf *out, const flow_ctl_ident *id, uint64_t ckpt,
                        uint64_t bytes);
int flow_ctl_encode_decline(flow_buf *out, const flow_ctl_ident *id,
                            uint64_t ckpt, const char *reason);
int flow_ctl_encode_connect(flow_buf *out, const char *port,
                            const char *endpoint);
int flow_ctl_encode_disconnect(flow_buf *out, const char *port,
                               const char *endpoint);
int flow_ctl_encode_stop(flow_buf *out);

/*
 * Decodes one control frame (borrowed: msg's strings point into it).
 * Returns 0 (type may be FLOW_CTL_UNKNOWN; free msg with
 * flow_ctl_msg_fini), -FLOW_ETOOBIG over FLOW_CTL_MAX_FRAME,
 * -FLOW_EMALFORMED for bytes that are not one msgpack map whose counts fit
 * them, a missing "t", or a known key of the wrong type (a "seconds" or
 * "values" map must map strings to non-negative integers), or
 * -FLOW_ENOMEM. On an error msg holds nothing.
 */
int flow_ctl_decode(const void *data, size_t len, flow_ctl_msg *msg);

/* Frees what a decoded message owns; safe on a zeroed or freed one. */
void flow_ctl_msg_fini(flow_ctl_msg *msg);

#endif
