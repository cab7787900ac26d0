/*
 * flow: opening the files that options name, confined.
 *
 * Every option that names a file (an app option of type FLOW_OPT_PATH,
 * --flow.metrics-json, --flow.state) is opened through these functions,
 * so that every app keeps the same rules (docs/apps.md "Paths"):
 *
 *   - a relative path resolves under the base directory (the instance's
 *     own directory, --flow.instance-dir);
 *   - an absolute path must lie in the base directory or in one of the
 *     allowed directories (--flow.allow-path, from flowd --allow-path);
 *   - below the directory it resolves under, no symbolic link is
 *     followed, not even one that points back inside;
 *   - an existing file is never opened for writing: an output is written
 *     to a new file created with O_EXCL beside it and renamed over the
 *     old one at the end, and it replaces only a file that the app wrote
 *     before (see flow_path_fclose). Only FLOW_PATH_APPEND opens an
 *     existing regular file, for appending; an existing FIFO is written
 *     in place, since it holds nothing to lose.
 *
 * Without a base directory and allowed directories (an app run by hand)
 * the rules are not confined: any path the user may open is accepted, but
 * the last component is still never a followed symbolic link and existing
 * files are still never opened for writing.
 */
#ifndef FLOW_SAFEPATH_H
#define FLOW_SAFEPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* What an option does with the file it names. */
typedef enum flow_path_access {
    FLOW_PATH_WRITE = 0, /* an output written whole at once */
    FLOW_PATH_READ,      /* an input, only read */
    FLOW_PATH_APPEND,    /* an output appended to, created when missing */
} flow_path_access;

/* The rules; everything borrowed. */
typedef struct flow_path_rules {
    /* Where relative paths resolve, an absolute directory; NULL means the
     * current directory (then only when unconfined). */
    const char *base;
    /* Absolute directories under which absolute paths are allowed. */
    const char *const *allow;
    size_t nallow;
    /* false: an app run by hand, with neither base nor allow given. */
    bool confined;
    /* true: base is the instance's own directory; the outputs written are
     * recorded in base/.flow-outputs so that a restarted instance may
     * replace them (and nothing else). */
    bool record;
} flow_path_rules;

/* The name of the access for messages and --describe: "write", "read",
 * "append". */
const char *flow_path_access_name(flow_path_access acc);

/*
 * Judges a path by its text alone (nothing on disk is touched): an empty
 * path, a relative one climbing out of the base with "..", an absolute one
 * outside base and the allowed directories, or a name reserved for the
 * runtime (".flow*" directly in the instance directory) is refused.
 * Returns 0, or -FLOW_EOPTION with the reason in why, e.g. "/etc/x is
 * outside the allowed directories (flowd --allow-path)".
 */
int flow_path_check(const flow_path_rules *r, const char *path, char *why,
                    size_t whylen);

/*
 * Checks, before the app runs, that the file path names could be opened
 * with acc when the time comes: flow_path_check, the directories on the
 * way exist and are no symbolic links, and the file is missing or may be
 * read, appended to or replaced. Returns 0 or a negative FLOW_E* with the
 * reason in why.
 */
int flow_path_probe(const flow_path_rules *r, const char *path,
                    flow_path_access acc, char *why, size_t whylen);

/* Opens path for reading under the rules; returns a new descriptor, or a
 * negative FLOW_E* with the reason in why (-FLOW_ENOENT when missing). */
int flow_path_open_read(const flow_path_rules *r, const char *path, char *why,
                        size_t whylen);

/* An output being written. Zero it before flow_path_fopen. */
typedef struct flow_path_out {
    int dirfd;     /* the directory the file is in (-1: none) */
    bool in_place; /* an append or a FIFO: nothing to rename */
    bool record;   /* record the published file in base/.flow-outputs */
    const char *base;
    const char *path; /* as asked for, for messages (borrowed) */
    dev_t dev;        /* the new file, for the record */
    ino_t ino;
    char name[256]; /* the file's name in dirfd */
    char tmp[300];  /* the new file's name, renamed to name at the end */
} flow_path_out;

/*
 * Opens an output (acc FLOW_PATH_WRITE or FLOW_PATH_APPEND) and returns a
 * stream to write it with, or NULL with the reason in why. Use
 * flow_path_fclose to finish it.
 */
FILE *flow_path_fopen(flow_path_out *o, const flow_path_rules *r,
                      const char *path, flow_path_access acc, char *why,
                      size_t whylen);

/*
 * Closes f and publishes what was written: the new file is renamed to the
 * name asked for. It replaces an existing file only when that file is a
 * regular file with one link, owned by the app's user, writable by it and,
 * when the rules record outputs, recorded as written by this instance
 * before (so a restarted instance overwrites its own previous output and
 * never anything else). discard: drop the new file instead. Returns 0, or
 * a negative FLOW_E* with the reason in why (the new file is then
 * removed).
 */
int flow_path_fclose(flow_path_out *o, FILE *f, bool discard, char *why,
                     size_t whylen);

#endif
