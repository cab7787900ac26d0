/*
 * flow: ZeroMQ CURVE on tcp:// endpoints (docs/security.md).
 *
 * flowd hands each app instance a keys file (--flow.keys=PATH, mode 0600):
 * the server key pair every flowd-managed socket that binds over tcp://
 * uses, the instance's own key pair (its deployment's), which it presents
 * when it connects, and the public keys of the peers it admits. A ZAP
 * handler in the app's ZeroMQ context admits a CURVE client only when its
 * public key is one of those; ipc:// and inproc:// are left to file
 * permissions and to the process.
 *
 * The file is text, one "NAME KEY" per line, keys in Z85 (40 characters):
 *
 *     server-public KEY
 *     server-secret KEY
 *     public KEY
 *     secret KEY
 *     allow KEY          (any number of times)
 *
 * Empty lines and lines starting with '#' are skipped.
 */
#ifndef FLOW_CURVE_H
#define FLOW_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_CURVE_Z85       41   /* a key in Z85, NUL included */
#define FLOW_CURVE_ALLOW_MAX 1024 /* allowed peers in one keys file */

typedef struct flow_curve {
    char server_public[FLOW_CURVE_Z85];
    char server_secret[FLOW_CURVE_Z85];
    char public_key[FLOW_CURVE_Z85];
    char secret_key[FLOW_CURVE_Z85];
    size_t nallow;
    uint8_t allow[FLOW_CURVE_ALLOW_MAX][32]; /* binary public keys */
} flow_curve;

/*
 * Parses the text of a keys file (len bytes) into out. Every one of the
 * four key pairs' lines is required. On error returns -FLOW_EUSAGE and
 * writes into err which line is wrong and why.
 */
int flow_curve_parse(const char *text, size_t len, flow_curve *out, char *err,
                     size_t err_size);

/* Reads and parses the keys file at path, which must be a regular file
 * that only its owner can read or write. */
int flow_curve_load(const char *path, flow_curve *out, char *err,
                    size_t err_size);

/*
 * The ZAP decision for one handshake: true when mechanism (mlen bytes) is
 * "CURVE" and the client's 32-byte public key cred is in k's allow list.
 * Every other mechanism (NULL, PLAIN) is refused: the handler is only
 * asked about the sockets that use CURVE.
 */
bool flow_curve_admits(const flow_curve *k, const char *mechanism, size_t mlen,
                       const void *cred, size_t clen);

/*
 * Sets up socket zsock for attaching to addr: over tcp:// as a CURVE server
 * with k's server key pair when bind, or as a CURVE client of k's server
 * key with k's own key pair when connecting; over any other transport
 * (or with k NULL) without a security mechanism. ZeroMQ takes the options
 * when a bind or connect is made, so one socket may mix both. 0, or
 * FLOW_E* with ZeroMQ's errno.
 */
int flow_curve_prepare(void *zsock, const flow_curve *k, const char *addr,
                       bool bind);

/*
 * Starts the ZAP handler of ZeroMQ context zctx (inproc://zeromq.zap.01,
 * served by a thread), which admits the peers the keys file at path
 * allows and reads the file again when it changes, so that flowd can name
 * new peers to a running app. Apps sharing one context (flow-host) share
 * the handler: it is counted, and stopped by the last flow_zap_stop. Must
 * run before any socket of zctx binds. 0 or FLOW_E*, err saying why.
 */
int flow_zap_start(void *zctx, const char *path, char *err, size_t err_size);
void flow_zap_stop(void);

#endif
