/*
 * flow: the control protocol of docs/apps.md, encoded and decoded in one
 * place so that flowd decodes exactly what apps send.
 *
 * Every message is one ZeroMQ frame holding one msgpack map with a string
 * key "t". The decoder borrows the frame: strings in flow_ctl_msg point
 * into it and are not NUL-terminated (use the *_len fields).
 */
#ifndef FLOW_CONTROL_H
#define FLOW_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "flow/metrics.h"
#include "flow/mp.h"

#define FLOW_CTL_MAX_FRAME (1u * 1024 * 1024)

typedef enum flow_ctl_type {
    FLOW_CTL_UNKNOWN = 0, /* a type this version does not know: ignore */
    FLOW_CTL_HELLO,
    FLOW_CTL_METRICS,
    FLOW_CTL_COUNTER,
    FLOW_CTL_BYE,
    FLOW_CTL_CONNECT,
    FLOW_CTL_DISCONNECT,
    FLOW_CTL_STOP,
} flow_ctl_type;

/* A borrowed string. */
typedef struct flow_ctl_str {
    const char *ptr;
    uint32_t len;
} flow_ctl_str;

/* A decoded control message; only the fields of its type are set. */
typedef struct flow_ctl_msg {
    flow_ctl_type type;
    /* hello, metrics, bye */
    flow_ctl_str stream, label, app, role, version;
    int64_t instance, pid, ts_ms;
    /* metrics, bye: counters (cumulative) and latency histogram */
    flow_metrics m;
    /* counter */
    flow_ctl_str kind, name;
    uint64_t inc;
    /* counter: the "seconds" and "values" maps, raw (iterate with
     * flow_ctl_next_pair); NULL/0 when absent */
    const uint8_t *seconds;
    size_t seconds_len;
    const uint8_t *values;
    size_t values_len;
    /* connect, disconnect */
    flow_ctl_str port, endpoint;
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

/* Encoders: each empties out and writes one message; 0 or out->err. */
int flow_ctl_encode_hello(flow_buf *out, const flow_ctl_ident *id);
int flow_ctl_encode_metrics(flow_buf *out, const flow_ctl_ident *id,
                            int64_t ts_ms, const flow_metrics *m);
int flow_ctl_encode_bye(flow_buf *out, const flow_ctl_ident *id, int64_t ts_ms,
                        const flow_metrics *m);
/* kind: "counter", "field-value-counter", "aggregate-counter". The maps
 * are given as ready msgpack maps (NULL = omit). */
int flow_ctl_encode_counter(flow_buf *out, const char *kind, const char *name,
                            uint64_t inc, const void *seconds_map,
                            size_t seconds_len, const void *values_map,
                            size_t values_len);
int flow_ctl_encode_connect(flow_buf *out, const char *port,
                            const char *endpoint);
int flow_ctl_encode_disconnect(flow_buf *out, const char *port,
                               const char *endpoint);
int flow_ctl_encode_stop(flow_buf *out);

/*
 * Decodes one control frame. Returns 0 (type may be FLOW_CTL_UNKNOWN),
 * -FLOW_ETOOBIG over FLOW_CTL_MAX_FRAME, -FLOW_EMALFORMED or
 * -FLOW_ETRUNCATED for bad bytes or a known key of the wrong type.
 */
int flow_ctl_decode(const void *data, size_t len, flow_ctl_msg *msg);

/*
 * Iterates a raw map (seconds or values of a counter message): initialise
 * r over the map's bytes and set *remaining = -1 before the first call;
 * returns 1 with key and value filled, 0 at the end, or a negative FLOW_E*.
 * Keys are strings; values are non-negative integers.
 */
int flow_ctl_next_pair(flow_mp_reader *r, int *remaining, flow_ctl_str *key,
                       uint64_t *value);

#endif
