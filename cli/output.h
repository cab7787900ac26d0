/*
 * flowctl's output: aligned tables, colours (honouring --color and
 * NO_COLOR), the one-JSON-document rule of `-o json`, and the small
 * formatting helpers (rates, counts, durations, bar charts).
 */
#ifndef FLOWCTL_OUTPUT_H
#define FLOWCTL_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "ctl.h"

enum out_style_id {
    OUT_RESET,
    OUT_BOLD,
    OUT_DIM,
    OUT_RED,
    OUT_GREEN,
    OUT_YELLOW,
    OUT_BLUE,
    OUT_CYAN,
};

/* The escape sequence for style s, or "" when colours are off. err: for
 * stderr (coloured only when stderr is a terminal and colours are on). */
const char *out_style(const struct ctl *c, enum out_style_id s, bool err);

/* The colour that suits a stream or instance status. */
enum out_style_id out_status_style(const char *status);

/* Prints doc (borrowed) as the single JSON document on stdout. */
int out_json(json_t *doc);

/* A table: a header row then data rows, columns padded to fit. */
struct out_table;

/* Returns a new table with ncols columns named by the arguments. */
struct out_table *out_table_new(int ncols, ...);
/* Appends a row of ncols strings (copied). A cell may carry a style with
 * out_table_style after it is added. */
void out_table_row(struct out_table *t, ...);
/* Sets the style of the last row's column col. */
void out_table_style(struct out_table *t, int col, enum out_style_id s);
/* Prints the table to f (stdout: coloured per c) and frees it. */
void out_table_print(const struct ctl *c, struct out_table **tp, FILE *f);
void out_table_destroy(struct out_table **tp);

/* Formatting into a caller buffer; each returns buf. */
char *out_count(char *buf, size_t n, double v); /* 1234567 -> 1.23M */
char *out_rate(char *buf, size_t n, double v);  /* events/s */
char *out_duration(char *buf, size_t n, double seconds);

/* A string field of o, or dflt when absent or not a string. */
const char *out_str(json_t *o, const char *key, const char *dflt);
/* A numeric field of o (integer or real), or dflt. */
double out_num(json_t *o, const char *key, double dflt);

/* Prints a horizontal bar chart of (label, value) pairs held in a JSON
 * object (borrowed) in key order, scaled to width columns. */
void out_bars(const struct ctl *c, json_t *values, int width, FILE *f);

/* Finds the list of items in a HAL-style page: the first array under
 * `_embedded`, or the document itself when it is an array, or the first
 * array-valued field named in keys. Borrowed reference or NULL. */
json_t *out_items(json_t *doc, const char *const *keys);

#endif
