/*
 * Stream files (docs/dsl.md): `name = definition` entries, one per line, a
 * line starting with a space or tab continuing the previous one, `#`
 * comment lines and blank lines. flowctl splits them itself so that it can
 * point into the file when the server refuses a definition.
 */
#ifndef FLOWCTL_STREAMFILE_H
#define FLOWCTL_STREAMFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctl.h"

/* One `name = definition` entry of a stream file. */
struct sf_entry {
    char name[64];
    size_t name_off; /* byte offset of the name in the file */
    char *def;       /* normalized definition text (owned) */
    size_t *map;     /* map[i]: file offset of def[i] (owned) */
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

/* Splits f->text (f->len bytes) into entries. Returns 0, or CTL_EFAIL
 * after printing every problem found (entries that were fine are kept). */
int sf_parse(const struct ctl *c, struct sf_file *f);

/* Frees the entries and the text; safe on a zeroed file. */
void sf_fini(struct sf_file *f);

#endif
