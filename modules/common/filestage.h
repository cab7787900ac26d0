/*
 * filestage.h - the file sink's output under a guarantee: events are
 * written to a staging file, made durable at each checkpoint's barrier
 * and appended to the visible file only when that checkpoint completes,
 * so that the visible file holds committed events only, each once. On
 * restore the visible file is cut back (or filled up from the staging
 * file) to the length recorded in the restored snapshot. Without a
 * guarantee the bytes go straight to the visible file (buffered).
 *
 * The two files are descriptors the caller opened and owns; the visible
 * one may be O_APPEND (every write lands at its end).
 */
#ifndef FLOW_MODULES_FILESTAGE_H
#define FLOW_MODULES_FILESTAGE_H

#include "flow/mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes held in memory before they are written out. */
#define FILESTAGE_BUF (256u * 1024)

/* A checkpoint whose barrier has been taken but that is not committed:
 * its events end at offset `end` of the staging file. */
struct filestage_mark {
    uint64_t n;
    uint64_t end;
};

struct filestage {
    int vis;         /* the visible file (borrowed) */
    int stg;         /* the staging file (borrowed); -1: write through */
    int stg_rd;      /* the staging file for reading (borrowed; the same
                      * descriptor as stg unless the caller sets another) */
    uint64_t pub;    /* the visible file's committed length */
    uint64_t stg_w;  /* bytes written to the staging file */
    uint64_t stg_p;  /* of which already appended to the visible file */
    uint64_t last_n; /* the last checkpoint published (0: none) */
    struct filestage_mark *marks;
    size_t nmarks, capmarks;
    flow_buf buf; /* bytes not written yet */
};

/* stg -1: write through (no guarantee). pub: the visible file's length. */
void filestage_init(struct filestage *f, int vis, int stg, uint64_t pub);
void filestage_fini(struct filestage *f);

/* Adds bytes (held; written once FILESTAGE_BUF are held or at flush). */
int filestage_write(struct filestage *f, const void *data, size_t len);
/* Writes what is held (to the staging file, or through). */
int filestage_flush(struct filestage *f);

/* What a snapshot of checkpoint n records: the visible file's length once
 * everything written so far is published, and the staging offset where
 * that ends. */
void filestage_position(const struct filestage *f, uint64_t *vis_len,
                        uint64_t *stg_end);

/* The barrier of n: writes what is held, fsyncs the staging file and
 * remembers where n ends. */
int filestage_barrier(struct filestage *f, uint64_t n);

/* n is complete: appends the staged bytes of every checkpoint up to n to
 * the visible file and fsyncs it; *published says whether anything
 * changed (a new last_n). Once all staged bytes are published the
 * staging file is emptied. */
int filestage_commit(struct filestage *f, uint64_t n, bool *published);

/* At start from a snapshot that recorded vis_len and stg_end: the visible
 * file is cut to vis_len, or, when it is shorter (the sink died while or
 * before publishing that checkpoint), completed from the staging file;
 * then the staging file is emptied. Returns 0, -FLOW_EIO with errno set,
 * or -FLOW_EMALFORMED when the staging file lacks the bytes needed. */
int filestage_restore(struct filestage *f, uint64_t vis_len, uint64_t stg_end);

#endif
