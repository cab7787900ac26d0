/*
 * Stream files (docs/dsl.md): `name = definition` entries, one per line, a
 * line starting with a space or tab continuing the previous one, `#`
 * comment lines and blank lines. They are read by the stream language's
 * own reader (dsl_parse_file), the one flowctl validate and flowd --load
 * use; this adds what apply needs on top: each entry's definition as the
 * text to send, and a way back from an offset in that text to the file.
 */
#ifndef FLOWCTL_STREAMFILE_H
#define FLOWCTL_STREAMFILE_H

#include <flow/dsl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctl.h"

/* One `name = definition` entry of a stream file. */
struct sf_entry {
    char name[DSL_NAME_MAX + 1];
    size_t name_off;       /* byte offset of the name in the file */
    char *def;             /* the definition without its name, in the
                              language's canonical text (owned) */
    const dsl_stream *ast; /* as read from the file (borrowed from df) */
    const char *action;
    const char *status;
    bool deployed_now;
};

struct sf_file {
    const char *path;
    FILE *err; /* where diagnostics go; NULL = stderr */
    char *text;
    size_t len;
    struct sf_entry *v;
    size_t n;
    dsl_file *df;     /* the file as the reader gave it (owned) */
    size_t line_at;   /* where the last diagnostic's line starts */
    unsigned line_no; /* and its number (0: none yet) */
};

/* Prints a diagnostic at byte offset off of the file with its line and a
 * caret, to f->err (coloured per c, which may be NULL). */
void sf_error(const struct ctl *c, struct sf_file *f, size_t off,
              const char *msg);

/* Collapses whitespace outside quotes to single spaces and trims, so that
 * a definition continued over lines and its stored text compare equal.
 * Returns new text; with map, *map gets a new array: the source offset
 * (plus base) of each byte of the result, and of its end. */
char *sf_normalize(const char *s, size_t len, size_t base, size_t **map);

/* Reads f->text (f->len bytes) with the stream language's reader into
 * entries. Returns 0, or CTL_EFAIL after printing every problem found
 * (then f->n is 0). */
int sf_parse(const struct ctl *c, struct sf_file *f);

/* The file offset of byte off of e->def (off may be its length: the
 * end), found through the part of the definition that holds it. */
size_t sf_map_offset(const struct sf_file *f, const struct sf_entry *e,
                     size_t off);

/* Does text (a definition as the server holds it) define the same stream
 * as entry e? */
bool sf_same_definition(const struct sf_entry *e, const char *text);

/* Frees the entries, the parsed file and the text; safe on a zeroed
 * file. */
void sf_fini(struct sf_file *f);

#endif
