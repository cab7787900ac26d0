/* The server-sent events at /events: a stream's status when it changes
 * ("stream-status", also when it is destroyed), and every second the
 * instances' rates ("rates") and the counters ("counters"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "api.h"

static char *status_event(srv_stream *st)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "name", st->name, "status",
                          srv_status_name(st->status), "statusDescription",
                          st->status_desc, "ts", (json_int_t)srv_now_ms());
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

void srv_events_status(srv *s, srv_stream *st)
{
    if (st->pushed && st->pushed_status == st->status &&
        strcmp(st->pushed_desc, st->status_desc) == 0)
        return;
    st->pushed = true;
    st->pushed_status = st->status;
    snprintf(st->pushed_desc, sizeof st->pushed_desc, "%s", st->status_desc);
    if (!s->http || !srv_http_sse_clients(s->http))
        return;
    char *text = status_event(st);
    if (text)
        srv_http_sse_broadcast(s->http, "stream-status", text);
    free(text);
}

void srv_events_deleted(srv *s, const char *name)
{
    if (!s->http || !srv_http_sse_clients(s->http))
        return;
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:I,s:b}", "name", name, "status", "undeployed",
                  "statusDescription", "the stream was destroyed", "ts",
                  (json_int_t)srv_now_ms(), "deleted", 1);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        srv_http_sse_broadcast(s->http, "stream-status", text);
    free(text);
}

void api_events(srv *s, srv_req *r)
{
    srv_req_sse_start(r);
    srv_req_sse_send(r, ": connected", "");
    for (srv_stream *st = s->streams; st; st = st->next) {
        char *text = status_event(st);
        if (text)
            srv_req_sse_send(r, "stream-status", text);
        free(text);
    }
}

void srv_events_tick(srv *s)
{
    if (!s->http || !srv_http_sse_clients(s->http))
        return;
    json_int_t ts = (json_int_t)srv_now_ms();
    json_t *inst = json_array();
    char id[160];
    for (srv_stream *st = s->streams; st; st = st->next)
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                srv_inst *i = st->apps[k].inst[j];
                srv_inst_id(i, id, sizeof id);
                json_t *o = json_pack(
                    "{s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:I,s:f,s:f}", "id", id,
                    "stream", st->name, "label", st->apps[k].label, "index",
                    i->index, "state", srv_inst_shown_state(i), "in",
                    (json_int_t)i->m.in, "out", (json_int_t)i->m.out, "errors",
                    (json_int_t)i->m.errors, "rateIn", i->rate_in, "rateOut",
                    i->rate_out);
                json_object_set_new(o, "lastError",
                                    i->last_error[0]
                                        ? json_string(i->last_error)
                                        : json_null());
                json_array_append_new(inst, o);
            }
    json_t *o = json_pack("{s:I,s:o}", "ts", ts, "instances", inst);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        srv_http_sse_broadcast(s->http, "rates", text);
    free(text);

    json_t *cs = json_array(), *fv = json_array();
    for (srv_counter *c = srv_analytics_first(s->an); c; c = c->next) {
        if (strcmp(c->kind, "field-value-counter") == 0)
            json_array_append_new(
                fv, json_pack("{s:s,s:o}", "name", c->name, "values",
                              srv_analytics_values_sorted(c)));
        else {
            json_t *o =
                json_pack("{s:s,s:s,s:I,s:f}", "name", c->name, "kind", c->kind,
                          "value", (json_int_t)c->total, "rate", c->rate);
            /* Committed by checkpoints: the uncommitted figure beside it. */
            uint64_t live;
            if (o && c->guarded && srv_ckpt_live(s, c->kind, c->name, &live))
                json_object_set_new(o, "live", json_integer((json_int_t)live));
            json_array_append_new(cs, o);
        }
    }
    o = json_pack("{s:I,s:o,s:o}", "ts", ts, "counters", cs,
                  "fieldValueCounters", fv);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        srv_http_sse_broadcast(s->http, "counters", text);
    free(text);
}
