/*
 * Splitting stream files into entries; see streamfile.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "output.h"
#include "streamfile.h"

/* Prints a diagnostic at file offset off, with the line and a caret. */
void sf_error(const struct ctl *c, struct sf_file *f, size_t off,
              const char *msg)
{
    FILE *out = f->err ? f->err : stderr;
    size_t start = off, end = off;
    unsigned line = 1;
    if (off > f->len)
        off = start = end = f->len;
    while (start > 0 && f->text[start - 1] != '\n')
        start--;
    while (end < f->len && f->text[end] != '\n')
        end++;
    /* Count lines from the previous diagnostic when it came before: a
     * file with an error on every line stays linear. */
    size_t from = 0;
    if (f->line_at <= start && f->line_no > 0) {
        from = f->line_at;
        line = f->line_no;
    }
    for (size_t i = from; i < start; i++)
        line += f->text[i] == '\n';
    f->line_at = start;
    f->line_no = line;
    fprintf(out, "%s:%u:%zu: %serror:%s %s\n", f->path, line, off - start + 1,
            out_style(c, OUT_RED, out == stderr),
            out_style(c, OUT_RESET, out == stderr), msg);
    fprintf(out, "  %.*s\n  ", (int)(end - start), f->text + start);
    for (size_t i = start; i < off; i++)
        fputc(f->text[i] == '\t' ? '\t' : ' ', out);
    fprintf(out, "%s^%s\n", out_style(c, OUT_GREEN, out == stderr),
            out_style(c, OUT_RESET, out == stderr));
}

/* Collapses whitespace outside quotes to single spaces and trims, so that
 * a definition continued over lines and its stored text compare equal.
 * Returns new text; with map, fills a new array of source offsets. */
char *sf_normalize(const char *s, size_t len, size_t base, size_t **map)
{
    char *out = malloc(len + 1);
    size_t *m = map ? malloc((len + 1) * sizeof(size_t)) : NULL;
    size_t n = 0;
    char quote = 0;
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!quote && (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) {
            space = n > 0;
            continue;
        }
        if (space) {
            if (m)
                m[n] = base + i - 1;
            out[n++] = ' ';
            space = false;
        }
        if (quote && ch == quote)
            quote = 0;
        else if (!quote && (ch == '\'' || ch == '"'))
            quote = ch;
        if (m)
            m[n] = base + i;
        out[n++] = ch;
    }
    out[n] = '\0';
    if (m)
        m[n] = base + len;
    if (map)
        *map = m;
    return out;
}

void sf_fini(struct sf_file *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].def);
    free(f->v);
    dsl_file_destroy(&f->df);
    free(f->text);
}

/* The canonical text of a stream without its name (returns new). */
static char *unnamed_print(dsl_stream *ds)
{
    char *name = ds->name;
    ds->name = NULL;
    char *def = dsl_stream_print(ds);
    ds->name = name;
    return def;
}

int sf_parse(const struct ctl *c, struct sf_file *f)
{
    dsl_errors errs = { 0 };
    int rc = 0;

    if (dsl_parse_file(f->text, f->len, &f->df, &errs)) {
        for (size_t k = 0; k < errs.n; k++)
            sf_error(c, f, errs.v[k].offset, errs.v[k].message);
        if (errs.n == 0)
            sf_error(c, f, 0, "cannot read the file");
        dsl_errors_fini(&errs);
        return CTL_EFAIL;
    }
    dsl_errors_fini(&errs);
    /* Names seen so far: a hash, since a hostile file may hold many. */
    json_t *names = json_object();
    f->v = calloc(f->df->n_streams + 1, sizeof(*f->v));
    if (!f->v || !names) {
        json_decref(names);
        sf_error(c, f, 0, "out of memory");
        return CTL_EFAIL;
    }
    for (size_t k = 0; k < f->df->n_streams; k++) {
        dsl_stream *ds = f->df->streams[k];
        /* The reader names every entry, by the one name rule. */
        if (!ds->name || strlen(ds->name) > DSL_NAME_MAX) {
            sf_error(c, f, ds->offset, "a stream file entry needs a name");
            rc = CTL_EFAIL;
            continue;
        }
        if (json_object_get(names, ds->name)) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "stream '%s' is defined twice in this file", ds->name);
            sf_error(c, f, ds->name_offset, msg);
            rc = CTL_EFAIL;
            continue;
        }
        json_object_set_new(names, ds->name, json_true());
        struct sf_entry *e = &f->v[f->n];
        snprintf(e->name, sizeof(e->name), "%s", ds->name);
        e->name_off = ds->name_offset;
        e->ast = ds;
        e->def = unnamed_print(ds);
        if (!e->def) {
            sf_error(c, f, ds->offset, "out of memory");
            rc = CTL_EFAIL;
            continue;
        }
        f->n++;
    }
    json_decref(names);
    if (rc) {
        for (size_t i = 0; i < f->n; i++)
            free(f->v[i].def);
        f->n = 0;
    }
    return rc;
}

/* Where off falls in the definition sent (c) and the one read from the
 * file (s), part by part: the innermost part that holds it wins. */
struct offmap {
    size_t off;
    bool found;
    size_t at; /* the file offset */
};

static void try_part(struct offmap *m, size_t c_off, size_t c_len, size_t f_off,
                     size_t f_len)
{
    if (m->off < c_off || m->off >= c_off + (c_len ? c_len : 1))
        return;
    size_t d = m->off - c_off;
    if (f_len && d >= f_len)
        d = f_len - 1;
    m->found = true;
    m->at = f_off + d;
}

static void try_options(struct offmap *m, const dsl_option *c, size_t nc,
                        const dsl_option *f, size_t nf)
{
    for (size_t k = 0; k < nc && k < nf; k++) {
        try_part(m, c[k].offset, c[k].length, f[k].offset, f[k].length);
        try_part(m, c[k].key_offset, strlen(c[k].key), f[k].key_offset,
                 strlen(f[k].key));
        try_part(m, c[k].value_offset, c[k].value_length, f[k].value_offset,
                 f[k].value_length);
    }
}

static void try_dest(struct offmap *m, const dsl_destination *c,
                     const dsl_destination *f)
{
    if (!c || !f)
        return;
    try_part(m, c->offset, c->length, f->offset, f->length);
    try_options(m, c->options, c->n_options, f->options, f->n_options);
}

size_t sf_map_offset(const struct sf_file *f, const struct sf_entry *e,
                     size_t off)
{
    const dsl_stream *s = e->ast;
    dsl_stream *c = NULL;
    dsl_errors errs = { 0 };
    size_t dl = strlen(e->def);
    size_t end = s->offset + s->length;
    struct offmap m = { .off = off };

    if (end > f->len)
        end = f->len;
    if (off >= dl)
        return end;
    if (dsl_parse_stream(e->def, dl, &c, &errs) == 0) {
        try_dest(&m, c->source, s->source);
        for (size_t k = 0; k < c->n_apps && k < s->n_apps; k++) {
            const dsl_app *ca = &c->apps[k], *fa = &s->apps[k];
            try_part(&m, ca->offset, ca->length, fa->offset, fa->length);
            try_part(&m, ca->name_offset, strlen(ca->name), fa->name_offset,
                     strlen(fa->name));
            try_options(&m, ca->options, ca->n_options, fa->options,
                        fa->n_options);
        }
        try_dest(&m, c->sink, s->sink);
    }
    dsl_stream_destroy(&c);
    dsl_errors_fini(&errs);
    if (m.found && m.at <= f->len)
        return m.at;
    /* Between parts (a '|', a space): the start of the definition. */
    return s->n_apps ? (s->source ? s->source->offset : s->apps[0].offset)
                     : e->name_off;
}

bool sf_same_definition(const struct sf_entry *e, const char *text)
{
    dsl_stream *s = NULL;
    dsl_errors errs = { 0 };
    bool same = false;

    if (dsl_parse_stream(text, strlen(text), &s, &errs) == 0) {
        char *def = unnamed_print(s);
        same = def && strcmp(def, e->def) == 0;
        free(def);
    }
    dsl_stream_destroy(&s);
    dsl_errors_fini(&errs);
    return same;
}
