/*
 * flow: endpoint strings as docs/apps.md gives them on the command line.
 *
 * "ipc://path", "tcp://host:port", "inproc://name", optionally prefixed as
 * in czmq: '@' binds, '>' connects; unprefixed, the role's default applies
 * (outputs bind; inputs, tap subscribers and the control socket connect).
 * A list is comma-separated.
 */
#ifndef FLOW_ENDPOINT_H
#define FLOW_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#define FLOW_ENDPOINT_MAX  256 /* bytes of an address, NUL included */
#define FLOW_ENDPOINTS_MAX 64  /* endpoints in one list */

typedef struct flow_endpoint {
    bool bind;
    char addr[FLOW_ENDPOINT_MAX]; /* without the @ or > prefix */
} flow_endpoint;

/*
 * Parses one endpoint of len bytes. On error returns -FLOW_EENDPOINT and,
 * if err is not NULL, writes a message saying what is wrong into err.
 */
int flow_endpoint_parse(const char *s, size_t len, bool default_bind,
                        flow_endpoint *out, char *err, size_t err_size);

/* Parses a comma-separated list into out[0..max); stores the count in *n. */
int flow_endpoint_parse_list(const char *s, bool default_bind,
                             flow_endpoint *out, size_t max, size_t *n,
                             char *err, size_t err_size);

/* Binds or connects a ZeroMQ socket as the endpoint says. 0 or FLOW_E*.
 * An ipc:// socket file it binds is made mode 0600 (see
 * flow_endpoint_private). */
int flow_endpoint_attach(void *zsock, const flow_endpoint *ep);

/* Makes the socket file of the bound ipc:// endpoint addr mode 0600, so
 * that only its owner can connect; any other address is left alone.
 * Returns 0, or -1 with errno set. */
int flow_endpoint_private(const char *addr);

#endif
