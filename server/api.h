/* The REST handlers that live outside api.c, one per route (see
 * docs/rest.md): streams and deployments in streams.c, counters and
 * Prometheus in metrics.c, /events in events.c. api.c holds the route
 * table and the small handlers. */
#ifndef SRV_API_H
#define SRV_API_H

#include "server.h"

void api_definitions_create(srv *s, srv_req *r);
void api_definitions_list(srv *s, srv_req *r);
void api_definitions_get(srv *s, srv_req *r);
void api_definitions_delete(srv *s, srv_req *r);
void api_validation(srv *s, srv_req *r);
void api_deployments_create(srv *s, srv_req *r);
void api_deployments_get(srv *s, srv_req *r);
void api_deployments_delete(srv *s, srv_req *r);
void api_deployments_scale(srv *s, srv_req *r);
void api_logs(srv *s, srv_req *r);

void api_counters_list(srv *s, srv_req *r);
void api_counter_get(srv *s, srv_req *r);
void api_counter_delete(srv *s, srv_req *r);
void api_prometheus(srv *s, srv_req *r);
void api_events(srv *s, srv_req *r);

#endif
