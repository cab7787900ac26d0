/*
 * ingest_src: what the http and tcp sources share: their input log in
 * the instance's directory, its group commit, emitting what is durable,
 * and the log offset that is their checkpointed position.
 *
 * Appends are made durable by one fsync on the loop's thread pool for
 * every batch of appends made while the previous fsync ran (group
 * commit); waiters are told once the log is durable up to their offset.
 * on_tick emits durable records from the emitted offset on; snapshot
 * records that offset; restore goes back to it; on_commit of a
 * checkpoint deletes the segments before its offset. Without a guarantee
 * segments are deleted once emitted. A log that is its source's record
 * of everything (account-web's command log, keep set) is never trimmed.
 */
#ifndef INGEST_SRC_H
#define INGEST_SRC_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "flow/app.h"
#include "ingest_log.h"

/* Someone waiting for the log to be durable up to off. done is called
 * once: status 0 durable, else a negative FLOW_E* (the sync failed). */
typedef struct ingest_waiter ingest_waiter;
struct ingest_waiter {
    uint64_t off;
    void (*done)(ingest_waiter *w, int status);
    ingest_waiter *next; /* owned by the list while waiting */
};

#define INGEST_CKPT_RING 32

struct ingest_syncer;

typedef struct ingest_src {
    flow_ctx *ctx;
    const char *type; /* the events' type */
    ingest_log log;
    bool log_open;
    uint64_t emitted;           /* the offset emitted up to */
    uint64_t max_pending;       /* bound on log.end - emitted */
    bool keep;                  /* never trim the log */
    struct ingest_syncer *sync; /* the fsync in flight, NULL none */
    ingest_waiter *waiting, **wtail;
    /* (checkpoint id, offset) of the latest snapshots, for trimming. */
    struct {
        uint64_t id, off;
    } ring[INGEST_CKPT_RING];
    unsigned nring;
    flow_buf rbuf;
    char key[1024];
    uint64_t syncs, sync_errors; /* fsyncs done, failed */
    /* Called after every sync that completed (room may have come). */
    void (*on_durable)(struct ingest_src *is);
} ingest_src;

/* Listens on host (an IPv4 or IPv6 address) and port (0: a free one)
 * with a new TCP handle (*server, owned by the caller, its data set to
 * data), calling cb for each connection: what the http, tcp and
 * account-web sources share. On success *port_out is the port bound and
 * *v6 whether host is IPv6; else a negative FLOW_E* with the reason
 * logged (the option, or the address and the system's error). */
int ingest_listen(flow_ctx *ctx, const char *host, int64_t port,
                  uv_connection_cb cb, void *data, uv_tcp_t **server,
                  int *port_out, bool *v6);

/* Opens the log in the instance's directory (its subdirectory
 * "ingest-log", created), emitted = the oldest record kept. 0 or a
 * negative FLOW_E* (logged). */
int ingest_src_init(ingest_src *is, flow_ctx *ctx, const char *type,
                    uint64_t max_pending, uint64_t seg_max);
void ingest_src_fini(ingest_src *is);

/* Bytes appended and not yet emitted. */
static inline uint64_t ingest_src_pending(const ingest_src *is)
{
    return is->log.end - is->emitted;
}

/* Appends framed records (ingest_log_put) and queues w (may be NULL) to be
 * told when they are durable. 0 or a negative FLOW_E* (logged). */
int ingest_src_append(ingest_src *is, const void *recs, size_t len,
                      ingest_waiter *w);

/* The callbacks, for the apps' descriptors to call. */
int ingest_src_tick(ingest_src *is);
int ingest_src_snapshot(ingest_src *is, flow_buf *out);
int ingest_src_restore(ingest_src *is, const void *data, size_t len);
void ingest_src_commit(ingest_src *is, uint64_t n);

#endif
