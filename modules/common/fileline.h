/*
 * fileline.h - what the file source makes of the bytes it reads: lines
 * split at '\n', each parsed as JSON where it is JSON (the payload is then
 * that value as msgpack) and carried as a msgpack string otherwise, and
 * the source's position (how far each file has been read), which is its
 * checkpointed state. The bytes come from outside: every function here
 * takes any bytes (tests/modules/fuzz_fileline.c).
 */
#ifndef FLOW_MODULES_FILELINE_H
#define FLOW_MODULES_FILELINE_H

#include "flow/mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The first complete line of data[0..len): returns the bytes it takes,
 * its '\n' included (0 when there is no '\n': the line is not complete
 * yet), and sets *line_len to its length without the '\n' and without a
 * '\r' before it.
 */
size_t fileline_next(const char *data, size_t len, size_t *line_len);

/*
 * Appends the msgpack of the JSON text data[0..len) (one value, white
 * space around it allowed) to out. Returns 0, or -FLOW_EMALFORMED when
 * it is not exactly one JSON value nested at most FLOW_MP_MAX_DEPTH deep
 * (out is then as it was), or out's error.
 */
int fileline_json(flow_buf *out, const char *data, size_t len);

/*
 * The payload of one line or file: its JSON as msgpack when it is JSON,
 * else the bytes as a msgpack string. *is_json says which.
 */
int fileline_payload(flow_buf *out, const char *data, size_t len,
                     bool *is_json);

/* How far one file has been read. */
struct filepos_entry {
    char *name;      /* owned; a file name inside the directory */
    uint64_t offset; /* bytes consumed, always at the end of a line */
    bool done;       /* finished: read whole and never read again */
};

/* The position of the source: an entry per file seen, sorted by name. */
struct filepos {
    struct filepos_entry *v;
    size_t n, cap;
};

void filepos_init(struct filepos *p);
void filepos_fini(struct filepos *p);
/* The entry of name, or NULL. */
struct filepos_entry *filepos_find(struct filepos *p, const char *name);
/* The entry of name, added at offset 0 when missing; NULL when out of
 * memory. */
struct filepos_entry *filepos_get(struct filepos *p, const char *name);
/* Appends the position as msgpack: [1, [[name, offset, done], ...]]. */
void filepos_snapshot(const struct filepos *p, flow_buf *out);
/* Replaces the position by one that filepos_snapshot wrote. Returns 0 or
 * -FLOW_EMALFORMED (p is then empty) or -FLOW_ENOMEM. */
int filepos_restore(struct filepos *p, const void *data, size_t len);

#endif
