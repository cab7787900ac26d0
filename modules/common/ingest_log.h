/*
 * ingest_log: the durable input log of the http and tcp sources, and
 * their replay position.
 *
 * A log is a directory of segment files "ingest-<offset>.log" (the
 * offset, 20 decimal digits, of the segment's first byte in the log's one
 * address space). A record is a u32 big-endian body length, the u32
 * big-endian crc32 of the body, then the body: a u16 big-endian key length
 * (0xFFFF: no key), the key and the payload (msgpack). Appends go to the
 * last segment; a sync makes everything appended so far durable. Opening
 * cuts a torn or corrupt tail of the last segment (what a crash between
 * write and fsync leaves). Trimming deletes the segments wholly before an
 * offset.
 *
 * Not thread-safe; one owner (the source's loop thread). The fd of the
 * last segment may be handed to a thread pool's fsync (ingest_log_fd) as
 * long as no append rolls the segment meanwhile (ingest_log_append with
 * may_roll false).
 */
#ifndef INGEST_LOG_H
#define INGEST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/mp.h"

#define INGEST_LOG_HDR   8u
#define INGEST_LOG_NOKEY 0xFFFFu
/* The largest record body accepted (key and payload). */
#define INGEST_LOG_MAX_BODY (16u * 1024 * 1024)

typedef struct ingest_log {
    char *dir;         /* owned */
    int fd;            /* the last segment, for appends; owned */
    uint64_t *segs;    /* segment start offsets, ascending; owned */
    size_t nsegs, cap; /* at least one segment once open */
    uint64_t end;      /* the end of what is appended */
    uint64_t durable;  /* the end of what is synced (<= end) */
    uint64_t seg_max;  /* roll to a new segment past this size */
    uint64_t torn;     /* bytes cut from the tail at open */
    int rfd;           /* a segment open for reading; owned, -1 none */
    uint64_t rseg;     /* its start offset */
} ingest_log;

/* One record read back: borrowed from the scratch buffer given. */
typedef struct ingest_rec {
    const char *key; /* NULL: none */
    size_t klen;
    const void *payload;
    size_t plen;
} ingest_rec;

/*
 * Opens (creating the directory's first segment when there is none) the
 * log in dir, which must exist. seg_max: the segment size to roll at.
 * Returns 0, or a negative FLOW_E* with a message in err.
 */
int ingest_log_open(ingest_log *l, const char *dir, uint64_t seg_max, char *err,
                    size_t errlen);
void ingest_log_close(ingest_log *l);

/* The offset of the oldest record kept. */
static inline uint64_t ingest_log_first(const ingest_log *l)
{
    return l->segs[0];
}

/*
 * Appends records, not yet durable: body is n records' bodies built with
 * ingest_log_put_body, one write. may_roll: the caller has no sync of the
 * current fd in flight, so a full segment may be closed (after an fsync)
 * and a new one started. Returns 0 or a negative FLOW_E* (errno-based
 * message in err).
 */
int ingest_log_append(ingest_log *l, const void *records, size_t len,
                      bool may_roll, char *err, size_t errlen);

/* Appends one framed record (header and body) to buf. */
void ingest_log_put(flow_buf *buf, const char *key, size_t klen,
                    const void *payload, size_t plen);

/* The fd a sync of everything appended so far must fsync. */
static inline int ingest_log_fd(const ingest_log *l)
{
    return l->fd;
}

/* Makes everything appended durable (a blocking fsync): 0 or -errno. */
int ingest_log_sync(ingest_log *l);

/*
 * Reads the record at offset off (< l->durable; at a segment's end it
 * moves on to the next). Returns the offset after it (> off) with *rec
 * borrowed from scratch, 0 when off is at the durable end, or a negative
 * FLOW_E* (an offset that is no record's, a checksum that does not match).
 */
int64_t ingest_log_read(ingest_log *l, uint64_t off, ingest_rec *rec,
                        flow_buf *scratch);

/* Deletes every segment that ends at or before upto (the last segment
 * is kept). Returns how many it deleted, or -errno. */
int ingest_log_trim(ingest_log *l, uint64_t upto);

#endif
