/* REST: the named destinations (GET /streams/destinations[/NAME]), and the
 * consumer groups and producers that programs outside flow add to them
 * (docs/rest.md "Destinations", docs/wire.md "Outside programs"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Does st read the destination dest, not a tap? */
static bool reads(srv *s, srv_stream *st, const char *dest)
{
    char ts[128], tl[128];

    return st->ast && st->ast->source &&
           strcmp(st->ast->source->name, dest) == 0 &&
           !srv_tap_source(s, st, ts, sizeof ts, tl, sizeof tl);
}

static bool writes(const srv_stream *st, const char *dest)
{
    return st->ast && st->ast->sink && strcmp(st->ast->sink->name, dest) == 0;
}

/* One endpoint of an output group or an outside producer: where it is
 * and, on tcp://, the CURVE public key of the socket bound there. */
static json_t *endpoint_json(srv *s, const char *ep)
{
    json_t *e = json_pack("{s:s}", "endpoint", ep);

    if (e && strncmp(ep, "tcp://", 6) == 0 && s->curve)
        json_object_set_new(e, "serverKey",
                            json_string(s->curve->server_public));
    return e;
}

/* The endpoints of consumer group g: its output group on every running
 * producer instance of dest. */
static json_t *group_endpoints(srv *s, const char *dest, const char *g)
{
    json_t *arr = json_array();

    for (srv_stream *o = s->streams; o; o = o->next) {
        if (!o->deployed || !o->napps || !writes(o, dest))
            continue;
        srv_dapp *last = &o->apps[o->napps - 1];
        for (int k = 0; k < last->ninst; k++) {
            srv_inst *u = last->inst[k];
            for (int j = 0; j < u->ngroups; j++) {
                if (strcmp(u->groups[j].group, g))
                    continue;
                json_t *e = endpoint_json(s, u->groups[j].ep);
                json_object_set_new(e, "stream", json_string(o->name));
                json_object_set_new(e, "app", json_string(last->label));
                json_object_set_new(e, "instance", json_integer(u->index));
                json_array_append_new(arr, e);
            }
        }
    }
    return arr;
}

static json_t *outside_group_json(srv *s, const srv_outside *x)
{
    return json_pack(
        "{s:s,s:b,s:[],s:o,s:o}", "group", x->name, "outside", 1, "streams",
        "endpoints", group_endpoints(s, x->dest, x->name), "_links",
        srv_links("/streams/destinations/%s/groups/%s", x->dest, x->name));
}

static json_t *outside_producer_json(srv *s, const srv_outside *x)
{
    json_t *p = endpoint_json(s, x->ep);

    json_object_set_new(p, "outside", json_string(x->name));
    json_object_set_new(
        p, "_links",
        srv_links("/streams/destinations/%s/producers/%s", x->dest, x->name));
    return p;
}

static json_t *destination_json(srv *s, const char *dest)
{
    json_t *producers = json_array(), *groups = json_array();

    for (srv_stream *o = s->streams; o; o = o->next) {
        if (!writes(o, dest))
            continue;
        json_t *inst = json_array();
        const char *app = "";
        if (o->deployed && o->napps) {
            srv_dapp *last = &o->apps[o->napps - 1];
            app = last->label;
            for (int k = 0; k < last->ninst; k++)
                json_array_append_new(inst, json_integer(last->inst[k]->index));
        }
        json_array_append_new(producers,
                              json_pack("{s:s,s:s,s:b,s:o}", "stream", o->name,
                                        "app", app, "deployed", o->deployed,
                                        "instances", inst));
    }
    for (srv_outside *x = s->outside; x; x = x->next)
        if (x->producer && strcmp(x->dest, dest) == 0)
            json_array_append_new(producers, outside_producer_json(s, x));
    /* The consumer groups of the streams that read dest, in the order of
     * their first stream. */
    for (srv_stream *c = s->streams; c; c = c->next) {
        const char *g = srv_stream_group(c);
        if (!g || !reads(s, c, dest))
            continue;
        json_t *have = NULL;
        size_t k;
        json_t *v;
        json_array_foreach(groups, k, v)
        {
            if (strcmp(json_string_value(json_object_get(v, "group")), g) == 0)
                have = v;
        }
        if (!have) {
            have =
                json_pack("{s:s,s:b,s:[],s:o}", "group", g, "outside", 0,
                          "streams", "endpoints", group_endpoints(s, dest, g));
            json_array_append_new(groups, have);
        }
        json_array_append_new(
            json_object_get(have, "streams"),
            json_pack("{s:s,s:b}", "stream", c->name, "deployed", c->deployed));
    }
    for (srv_outside *x = s->outside; x; x = x->next)
        if (!x->producer && strcmp(x->dest, dest) == 0)
            json_array_append_new(groups, outside_group_json(s, x));
    /* On Kafka the destination is the topic of its name (docs/kafka.md). */
    bool kafka = srv_kafka_dest(s, dest);
    return json_pack("{s:s,s:s,s:s?,s:o,s:o,s:o}", "name", dest, "binder",
                     kafka ? "kafka" : "zeromq", "topic", kafka ? dest : NULL,
                     "producers", producers, "groups", groups, "_links",
                     srv_links("/streams/destinations/%s", dest));
}

/* Is dest named by a definition or by an outside program? */
static bool known(srv *s, const char *dest)
{
    for (srv_stream *o = s->streams; o; o = o->next)
        if (writes(o, dest) || reads(s, o, dest))
            return true;
    for (srv_outside *x = s->outside; x; x = x->next)
        if (strcmp(x->dest, dest) == 0)
            return true;
    return false;
}

/* Adds name to the sorted set names (a JSON array of strings). */
static void add_name(json_t *names, const char *name)
{
    size_t k;
    json_t *v;

    json_array_foreach(names, k, v)
    {
        int c = strcmp(json_string_value(v), name);
        if (c == 0)
            return;
        if (c > 0) {
            json_array_insert_new(names, k, json_string(name));
            return;
        }
    }
    json_array_append_new(names, json_string(name));
}

void api_destinations_list(srv *s, srv_req *r)
{
    json_t *names = json_array(), *items = json_array();
    size_t k;
    json_t *v;

    for (srv_stream *o = s->streams; o; o = o->next) {
        if (o->ast && o->ast->sink)
            add_name(names, o->ast->sink->name);
        if (o->ast && o->ast->source && reads(s, o, o->ast->source->name))
            add_name(names, o->ast->source->name);
    }
    for (srv_outside *x = s->outside; x; x = x->next)
        add_name(names, x->dest);
    json_array_foreach(names, k, v)
    {
        json_array_append_new(items, destination_json(s, json_string_value(v)));
    }
    json_decref(names);
    srv_req_json(r, 200, json_pack("{s:o}", "destinations", items));
}

void api_destinations_get(srv *s, srv_req *r)
{
    const char *dest = r->match.params[0];

    if (!known(s, dest)) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL,
                      "no stream reads or writes destination :%s", dest);
        return;
    }
    srv_req_json(r, 200, destination_json(s, dest));
}

/* POST /streams/destinations/NAME/groups {"group": G} and
 * /producers {"producer": P}. */
static void outside_add(srv *s, srv_req *r, bool producer)
{
    const char *dest = r->match.params[0];
    const char *key = producer ? "producer" : "group";
    char err[512];

    json_t *b = srv_req_body(r, true);
    if (!b)
        return;
    const char *name = json_string_value(json_object_get(b, key));
    if (!name) {
        srv_req_error(r, -SRV_EINVAL, NULL, "the body needs \"%s\": NAME", key);
        json_decref(b);
        return;
    }
    srv_outside *x = srv_outside_find(s, dest, name, producer);
    int status = x ? 200 : 201;
    int rc = srv_outside_add(s, dest, name, producer, &x, err, sizeof err);
    json_decref(b);
    if (rc) {
        srv_req_error(r, rc, NULL, "%s", err);
        return;
    }
    srv_req_json(r, status,
                 producer ? outside_producer_json(s, x)
                          : outside_group_json(s, x));
}

static void outside_delete(srv *s, srv_req *r, bool producer)
{
    const char *dest = r->match.params[0], *name = r->match.params[1];

    if (srv_outside_remove(s, dest, name, producer)) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "destination :%s has no %s '%s'",
                      dest, producer ? "outside producer" : "outside group",
                      name);
        return;
    }
    srv_req_json(r, 204, NULL);
}

void api_destination_group_add(srv *s, srv_req *r)
{
    outside_add(s, r, false);
}

void api_destination_group_delete(srv *s, srv_req *r)
{
    outside_delete(s, r, false);
}

void api_destination_producer_add(srv *s, srv_req *r)
{
    outside_add(s, r, true);
}

void api_destination_producer_delete(srv *s, srv_req *r)
{
    outside_delete(s, r, true);
}
