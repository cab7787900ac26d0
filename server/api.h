/* The REST layer (layer 5, the top, see tests/server/layers.sh): the
 * HTTP routes, their JSON, server-sent events and start-up (main.c). What
 * it offers main.c, and the handlers that live outside api.c, one per
 * route (see docs/rest.md): streams and deployments in streams.c,
 * named destinations and outside programs' groups in destinations.c,
 * counters and Prometheus in metrics.c, /events in events.c. api.c holds
 * the route table and the small handlers.
 *
 * Ownership: in every function here s, st, a and r are borrowed (r is
 * owned by the HTTP server, and answered by the handler), as are the
 * strings passed; a json_t returned is a new reference the caller
 * decrefs (or hands on, as srv_page takes items). */
#ifndef SRV_API_H
#define SRV_API_H

#include <stdio.h>

#include "checkpoint/checkpoint.h"
#include "deploy/deployer.h"
#include "model.h"

/* Registers the REST layer's srv_deployer_ops in s (streams.c). */
void srv_api_attach(srv *s);
/* Frees the requests still waiting for an undeploy (s->waiters, at exit,
 * once the HTTP server, which owned the requests, is gone). */
void srv_api_detach(srv *s);
/* A stream, its deployment and an app's status as JSON (new). */
json_t *srv_stream_json(srv *s, srv_stream *st);
/* Adds st's guarantee, guarantee_note, checkpoint and recovery
 * (srv_ckpt_status_json) to the object o (borrowed). */
void srv_guarantee_put(srv *s, srv_stream *st, json_t *o);
json_t *srv_deployment_json(srv *s, srv_stream *st);
json_t *srv_app_status_json(srv *s, srv_dapp *a);
/* {"self":{"href":...}} with the path fmt formats (new). */
json_t *srv_links(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads a JSON or form body into an object (new); answers the request
 * with an error and returns NULL when it cannot. */
json_t *srv_req_body(srv_req *r, bool form_ok);
/* Wraps items (taken: a reference the caller gives up) in a page of
 * _embedded.key (new); path is borrowed. */
json_t *srv_page(srv_req *r, json_t *items, const char *key, const char *path);

/* Authentication (auth.c): fills c->token (c borrowed) from --token,
 * FLOW_TOKEN or the data directory's token file, made on the first
 * start. Returns 0, or -1 with err (the caller's) saying what is wrong
 * and what to do. */
int srv_auth_setup(srv_config *c, char *err, size_t errlen);

/* Routes an HTTP request (the http layer's dispatch callback; ud is the
 * srv, borrowed). */
void srv_api_dispatch(void *ud, srv_req *r);
/* Prints the route table the dispatcher uses, one "METHOD PATTERN" line
 * per method of each route, in table order (flowd --routes); out is
 * borrowed. */
void srv_api_routes_print(FILE *out);

/* Serves the file rel (borrowed) under dir (borrowed) for r. */
void srv_static_serve(srv *s, srv_req *r, const char *dir, const char *rel);

/* Server-sent events at /events (events.c). */
/* Broadcasts the instances' rates and the counters (every second). */
void srv_events_tick(srv *s);
/* Broadcasts st's status when it differs from the one last sent. */
void srv_events_status(srv *s, srv_stream *st);
/* Broadcasts that the stream named name (borrowed) was destroyed. */
void srv_events_deleted(srv *s, const char *name);

/* The route handlers. */

void api_definitions_create(srv *s, srv_req *r);
void api_definitions_list(srv *s, srv_req *r);
void api_definitions_get(srv *s, srv_req *r);
void api_definitions_delete(srv *s, srv_req *r);
void api_validation(srv *s, srv_req *r);
void api_deployments_create(srv *s, srv_req *r);
void api_deployments_get(srv *s, srv_req *r);
void api_deployments_delete(srv *s, srv_req *r);
void api_deployments_scale(srv *s, srv_req *r);
/* GET /streams/deployments/{name}/manifests?platform=kubernetes: the
 * Kubernetes objects of its deployment (deploy/k8s_manifests.h). */
void api_deployments_manifests(srv *s, srv_req *r);
void api_logs(srv *s, srv_req *r);

void api_destinations_list(srv *s, srv_req *r);
void api_destinations_get(srv *s, srv_req *r);
void api_destination_group_add(srv *s, srv_req *r);
void api_destination_group_delete(srv *s, srv_req *r);
void api_destination_producer_add(srv *s, srv_req *r);
void api_destination_producer_delete(srv *s, srv_req *r);

void api_counters_list(srv *s, srv_req *r);
void api_counter_get(srv *s, srv_req *r);
void api_counter_delete(srv *s, srv_req *r);
void api_prometheus(srv *s, srv_req *r);
void api_events(srv *s, srv_req *r);

void api_functions_list(srv *s, srv_req *r);
void api_function_get(srv *s, srv_req *r);
void api_function_register(srv *s, srv_req *r);
void api_function_delete(srv *s, srv_req *r);

#endif
