/*
 * Tables, colours and formatting for flowctl's human output.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "output.h"

static const char *const codes[] = {
    [OUT_RESET] = "\033[0m",  [OUT_BOLD] = "\033[1m",
    [OUT_DIM] = "\033[2m",    [OUT_RED] = "\033[31m",
    [OUT_GREEN] = "\033[32m", [OUT_YELLOW] = "\033[33m",
    [OUT_BLUE] = "\033[34m",  [OUT_CYAN] = "\033[36m",
};

const char *out_style(const struct ctl *c, enum out_style_id s, bool err)
{
    if (!c || !c->color)
        return "";
    if (err && !c->tty_err)
        return "";
    return codes[s];
}

enum out_style_id out_status_style(const char *status)
{
    if (!status)
        return OUT_RESET;
    if (!strcmp(status, "deployed") || !strcmp(status, "running") ||
        !strcmp(status, "up"))
        return OUT_GREEN;
    if (!strcmp(status, "failed") || !strcmp(status, "crashed") ||
        !strcmp(status, "down"))
        return OUT_RED;
    if (!strcmp(status, "deploying") || !strcmp(status, "partial") ||
        !strcmp(status, "starting") || !strcmp(status, "restarting") ||
        !strcmp(status, "undeploying") || !strcmp(status, "degraded") ||
        !strcmp(status, "stale"))
        return OUT_YELLOW;
    if (!strcmp(status, "undeployed") || !strcmp(status, "stopped"))
        return OUT_DIM;
    return OUT_RESET;
}

int out_json(json_t *doc)
{
    if (!doc)
        doc = json_null();
    if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) < 0) {
        fprintf(stderr, "flowctl: cannot write JSON\n");
        return CTL_EFAIL;
    }
    fputc('\n', stdout);
    return CTL_OK;
}

struct out_row {
    char **cells;
    enum out_style_id *styles;
};

struct out_table {
    int ncols;
    char **head;
    struct out_row *rows;
    size_t nrows, cap;
};

struct out_table *out_table_new(int ncols, ...)
{
    struct out_table *t = calloc(1, sizeof(*t));
    if (!t)
        abort();
    t->ncols = ncols;
    t->head = calloc((size_t)ncols, sizeof(char *));
    if (!t->head)
        abort();
    va_list ap;
    va_start(ap, ncols);
    for (int i = 0; i < ncols; i++)
        t->head[i] = strdup(va_arg(ap, const char *));
    va_end(ap);
    return t;
}

void out_table_row(struct out_table *t, ...)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->rows = realloc(t->rows, t->cap * sizeof(*t->rows));
        if (!t->rows)
            abort();
    }
    struct out_row *r = &t->rows[t->nrows++];
    r->cells = calloc((size_t)t->ncols, sizeof(char *));
    r->styles = calloc((size_t)t->ncols, sizeof(*r->styles));
    if (!r->cells || !r->styles)
        abort();
    va_list ap;
    va_start(ap, t);
    for (int i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        r->cells[i] = strdup(s ? s : "");
    }
    va_end(ap);
}

void out_table_style(struct out_table *t, int col, enum out_style_id s)
{
    if (t->nrows && col >= 0 && col < t->ncols)
        t->rows[t->nrows - 1].styles[col] = s;
}

/* Display width of a UTF-8 string: code points, not bytes. */
static int width_of(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Writes the first limit-1 code points of s and an ellipsis. */
static void put_cut(const char *s, int limit, FILE *f)
{
    int n = 0;
    const char *p = s;
    for (; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80 && ++n > limit - 1)
            break;
    }
    fwrite(s, 1, (size_t)(p - s), f);
    fputs("\u2026", f);
}

void out_table_print(const struct ctl *c, struct out_table **tp, FILE *f)
{
    struct out_table *t = *tp;
    if (!t)
        return;
    int *w = calloc((size_t)t->ncols, sizeof(int));
    if (!w)
        abort();
    for (int i = 0; i < t->ncols; i++)
        w[i] = width_of(t->head[i]);
    for (size_t r = 0; r < t->nrows; r++)
        for (int i = 0; i < t->ncols; i++) {
            int x = width_of(t->rows[r].cells[i]);
            if (x > w[i])
                w[i] = x;
        }
    bool err = f == stderr;
    /* On a terminal, cut the last column to the screen's width. */
    int limit = -1;
    struct winsize ws;
    if (!err && c && c->tty_out && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) &&
        ws.ws_col > 0) {
        int used = 0;
        for (int i = 0; i < t->ncols - 1; i++)
            used += w[i] + 2;
        limit = ws.ws_col - used;
        if (limit < 10)
            limit = -1;
    }
    fputs(out_style(c, OUT_BOLD, err), f);
    for (int i = 0; i < t->ncols; i++) {
        if (i == t->ncols - 1)
            fputs(t->head[i], f);
        else
            fprintf(f, "%s%*s", t->head[i], w[i] - width_of(t->head[i]) + 2,
                    "");
    }
    fprintf(f, "%s\n", out_style(c, OUT_RESET, err));
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) {
            const char *cell = t->rows[r].cells[i];
            enum out_style_id st = t->rows[r].styles[i];
            if (st != OUT_RESET)
                fputs(out_style(c, st, err), f);
            if (i == t->ncols - 1 && limit > 0 && width_of(cell) > limit)
                put_cut(cell, limit, f);
            else
                fputs(cell, f);
            if (st != OUT_RESET)
                fputs(out_style(c, OUT_RESET, err), f);
            bool more = false;
            for (int k = i + 1; k < t->ncols; k++)
                more |= t->rows[r].cells[k][0] != '\0';
            if (more)
                fprintf(f, "%*s", w[i] - width_of(cell) + 2, "");
        }
        fputc('\n', f);
    }
    free(w);
    out_table_destroy(tp);
}

void out_table_destroy(struct out_table **tp)
{
    struct out_table *t = *tp;
    if (!t)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++)
            free(t->rows[r].cells[i]);
        free(t->rows[r].cells);
        free(t->rows[r].styles);
    }
    for (int i = 0; i < t->ncols; i++)
        free(t->head[i]);
    free(t->head);
    free(t->rows);
    free(t);
    *tp = NULL;
}

char *out_count(char *buf, size_t n, double v)
{
    if (fabs(v) < 10000)
        snprintf(buf, n, "%.0f", v);
    else if (fabs(v) < 1e6)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else if (fabs(v) < 1e9)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else
        snprintf(buf, n, "%.2fG", v / 1e9);
    return buf;
}

char *out_rate(char *buf, size_t n, double v)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else if (v < 100 && v != floor(v))
        snprintf(buf, n, "%.1f/s", v);
    else {
        char tmp[32];
        snprintf(buf, n, "%s/s", out_count(tmp, sizeof(tmp), v));
    }
    return buf;
}

char *out_duration(char *buf, size_t n, double s)
{
    if (s < 0)
        snprintf(buf, n, "-");
    else if (s < 1)
        snprintf(buf, n, "%.0fms", s * 1000);
    else if (s < 120)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 7200)
        snprintf(buf, n, "%.0fm", s / 60);
    else if (s < 172800)
        snprintf(buf, n, "%.0fh", s / 3600);
    else
        snprintf(buf, n, "%.0fd", s / 86400);
    return buf;
}

const char *out_str(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

double out_num(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

void out_bars(const struct ctl *c, json_t *values, int width, FILE *f)
{
    const char *k;
    json_t *v;
    double max = 0;
    int lw = 0;
    json_object_foreach(values, k, v)
    {
        double x = json_is_number(v) ? json_number_value(v) : 0;
        if (x > max)
            max = x;
        if (width_of(k) > lw)
            lw = width_of(k);
    }
    json_object_foreach(values, k, v)
    {
        double x = json_is_number(v) ? json_number_value(v) : 0;
        int len = max > 0 ? (int)lround(x / max * width) : 0;
        if (x > 0 && len == 0)
            len = 1;
        fprintf(f, "%s%*s ", k, lw - width_of(k), "");
        fputs(out_style(c, OUT_CYAN, f == stderr), f);
        for (int i = 0; i < len; i++)
            fputs(c->tty_out ? "\u2588" : "#", f);
        fputs(out_style(c, OUT_RESET, f == stderr), f);
        fprintf(f, " %.0f\n", x);
    }
}

json_t *out_items(json_t *doc, const char *const *keys)
{
    if (json_is_array(doc))
        return doc;
    json_t *emb = json_object_get(doc, "_embedded");
    if (json_is_object(emb)) {
        const char *k;
        json_t *v;
        json_object_foreach(emb, k, v)
        {
            if (json_is_array(v))
                return v;
        }
    }
    for (; keys && *keys; keys++) {
        json_t *v = json_object_get(doc, *keys);
        if (json_is_array(v))
            return v;
    }
    return NULL;
}
