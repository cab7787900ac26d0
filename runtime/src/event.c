/* Reading fields of an event's payload map. */
#include "flow/error.h"
#include "flow/event.h"

int flow_event_get(const flow_event *ev, const char *field, flow_mp_value *v)
{
    return flow_mp_map_find(ev->payload, ev->payload_len, field, v);
}

int64_t flow_event_get_int(const flow_event *ev, const char *field, int64_t def)
{
    flow_mp_value v;
    int64_t out;
    if (flow_event_get(ev, field, &v) || !flow_mp_as_int(&v, &out))
        return def;
    return out;
}

double flow_event_get_double(const flow_event *ev, const char *field,
                             double def)
{
    flow_mp_value v;
    double out;
    if (flow_event_get(ev, field, &v) || !flow_mp_as_double(&v, &out))
        return def;
    return out;
}

const char *flow_event_get_str(const flow_event *ev, const char *field,
                               uint32_t *len)
{
    flow_mp_value v;
    if (flow_event_get(ev, field, &v) || v.type != FLOW_MP_STR) {
        *len = 0;
        return NULL;
    }
    *len = v.len;
    return v.str;
}
