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

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > 48 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return false;
    return true;
}

void sf_fini(struct sf_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].def);
        free(f->v[i].map);
    }
    free(f->v);
    free(f->text);
}

/* Splits the file into entries. Returns 0, or CTL_EFAIL after printing
 * every problem found. */
int sf_parse(const struct ctl *c, struct sf_file *f)
{
    /* Names seen so far: a hash, since a hostile file may hold many. */
    json_t *names = json_object();
    size_t cap = 0;
    int rc = 0;
    size_t i = 0;
    while (i < f->len) {
        size_t ls = i;
        size_t le = ls;
        while (le < f->len && f->text[le] != '\n')
            le++;
        const char *l = f->text + ls;
        size_t k = 0, ll = le - ls;
        while (k < ll && (l[k] == ' ' || l[k] == '\t' || l[k] == '\r'))
            k++;
        if (k == ll || l[k] == '#') {
            i = le + 1;
            continue;
        }
        if (k > 0) {
            sf_error(c, f, ls + k,
                     "a continuation line without an entry before it");
            rc = CTL_EFAIL;
            i = le + 1;
            continue;
        }
        /* The entry runs over the following continuation lines. */
        size_t ee = le;
        while (ee < f->len && ee + 1 < f->len &&
               (f->text[ee + 1] == ' ' || f->text[ee + 1] == '\t')) {
            size_t nx = ee + 1;
            while (nx < f->len && f->text[nx] != '\n')
                nx++;
            /* A blank indented line ends nothing but adds nothing. */
            ee = nx;
        }
        size_t ns = ls, ne = ls;
        while (ne < ee && f->text[ne] != '=' && f->text[ne] != ' ' &&
               f->text[ne] != '\t')
            ne++;
        size_t eq = ne;
        while (eq < ee && (f->text[eq] == ' ' || f->text[eq] == '\t'))
            eq++;
        if (eq >= ee || f->text[eq] != '=') {
            sf_error(c, f, eq,
                     "expected 'NAME = DEFINITION' (every entry of a "
                     "stream file is named)");
            rc = CTL_EFAIL;
        } else if (!valid_name(f->text + ns, ne - ns)) {
            sf_error(c, f, ns,
                     "bad stream name: it must match "
                     "^[a-z][a-z0-9-]{0,47}$");
            rc = CTL_EFAIL;
        } else {
            struct sf_entry e = { 0 };
            memcpy(e.name, f->text + ns, ne - ns);
            e.name[ne - ns] = '\0';
            e.name_off = ns;
            size_t ds = eq + 1;
            e.def = sf_normalize(f->text + ds, ee - ds, ds, &e.map);
            bool dup = json_object_get(names, e.name) != NULL;
            if (dup) {
                char msg[160];
                snprintf(msg, sizeof(msg),
                         "stream '%s' is defined twice in this file", e.name);
                sf_error(c, f, ns, msg);
                rc = CTL_EFAIL;
                free(e.def);
                free(e.map);
            } else if (!*e.def) {
                sf_error(c, f, ds, "the definition is empty");
                rc = CTL_EFAIL;
                free(e.def);
                free(e.map);
            } else {
                if (f->n == cap) {
                    cap = cap ? cap * 2 : 8;
                    f->v = realloc(f->v, cap * sizeof(*f->v));
                }
                f->v[f->n++] = e;
                json_object_set_new(names, e.name, json_true());
            }
        }
        i = ee + 1;
    }
    json_decref(names);
    return rc;
}
