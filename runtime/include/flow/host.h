/*
 * flow: several apps of one stream as threads of one process.
 *
 * For the single-container packaging: each app runs its own loop on its
 * own thread, with the same app code and the same command line it would
 * get as a process; the apps share one ZeroMQ context so they can talk
 * over inproc://. SIGTERM/SIGINT stop every app.
 */
#ifndef FLOW_HOST_H
#define FLOW_HOST_H

#include "flow/app.h"

typedef struct flow_host flow_host;

/* Returns a new host, or NULL when out of memory. */
flow_host *flow_host_new(void);

/*
 * Adds an app with its command line (argv[0] is the program name, the rest
 * as for flow_app_main; copied). Returns 0, or -FLOW_EUSAGE with a message
 * on stderr when the options are wrong, or -FLOW_ESTATE once running.
 */
int flow_host_add(flow_host *h, const flow_app_desc *app, int argc,
                  char **argv);

/*
 * Starts every app on its own thread and waits for all to end
 * (inproc:// allows connecting before the peer binds). SIGTERM and SIGINT
 * sent to the process stop every app. Returns 0 when every app exited 0,
 * else the first nonzero exit status.
 */
int flow_host_run(flow_host *h);

/* Asks every app to stop cleanly (thread-safe, async-signal-safe). */
void flow_host_stop(flow_host *h);

/* Frees the host after flow_host_run returned. NULL-safe; nulls *hp. */
void flow_host_destroy(flow_host **hp);

#endif
