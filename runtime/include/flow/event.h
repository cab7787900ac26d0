/*
 * flow: an event, as an app sees it.
 *
 * An event is a set of headers plus a payload that is one msgpack object
 * (by convention a map of field name to value). Events handed to an app's
 * on_event borrow the received message: every pointer in them is valid only
 * until on_event returns. The wire layout is in docs/wire.md.
 */
#ifndef FLOW_EVENT_H
#define FLOW_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flow/mp.h"

typedef struct flow_event {
    /* Identifies the event end to end: a source numbers its events and a
     * processor's outputs inherit the id of the input being processed. */
    uint64_t id;
    /* Creation time, microseconds since the Unix epoch (wall clock). */
    int64_t ts_us;
    const char *type; /* not NUL-terminated; type_len bytes */
    uint32_t type_len;
    const char *key; /* partition key; NULL when none */
    uint32_t key_len;
    const uint8_t *payload; /* one msgpack object */
    uint32_t payload_len;
    /* Producer headers: filled in by the runtime on receive (from the
     * batch the event came in); ignored on emit. */
    const char *app; /* producing app's label */
    uint32_t app_len;
    uint32_t instance; /* producing instance index */
    uint64_t epoch;    /* producer epoch: changes at every producer start */
    uint64_t seq;      /* per-edge sequence number, from 1, per epoch */
} flow_event;

/* True when the event's type equals the NUL-terminated s. */
static inline bool flow_event_type_is(const flow_event *ev, const char *s)
{
    size_t n = strlen(s);
    return ev->type_len == n && memcmp(ev->type, s, n) == 0;
}

/*
 * Looks up a field of the event's payload map (see flow_mp_map_find).
 * Returns 0, -FLOW_ENOTFOUND, or a decode error for a bad payload.
 */
int flow_event_get(const flow_event *ev, const char *field, flow_mp_value *v);

/* Field getters with a fallback: return def if missing or of another type.
 * flow_event_get_str returns a borrowed, not NUL-terminated pointer and
 * stores the length in *len (NULL/0 when missing). */
int64_t flow_event_get_int(const flow_event *ev, const char *field,
                           int64_t def);
double flow_event_get_double(const flow_event *ev, const char *field,
                             double def);
const char *flow_event_get_str(const flow_event *ev, const char *field,
                               uint32_t *len);

#endif
