/*
 * Completion: what may come next after a partial definition, for flowd's
 * GET /completions/stream?start=TEXT (SCDF's content assist).
 */
#include "dsl-internal.h"

#include <stdlib.h>
#include <string.h>

void dsl_completions_fini(dsl_completions *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].text);
        free(c->v[i].insert);
        free(c->v[i].description);
    }
    free(c->v);
    c->v = NULL;
    c->n = c->cap = 0;
}

typedef struct cctx {
    const char *start;
    size_t len;
    dsl_completions *out;
    int rc;
} cctx;

static void add(cctx *c, dsl_completion_kind kind, size_t replace,
                const char *insert, const char *desc)
{
    if (c->rc)
        return;
    dsl_completions *o = c->out;
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].replace == replace && !strcmp(o->v[i].insert, insert))
            return;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        dsl_completion *v = realloc(o->v, cap * sizeof(*v));
        if (!v) {
            c->rc = -1;
            return;
        }
        o->v = v;
        o->cap = cap;
    }
    dsl_completion *p = &o->v[o->n];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->replace = replace;
    p->insert = strdup(insert);
    size_t keep = c->len - replace, il = strlen(insert);
    p->text = malloc(keep + il + 1);
    p->description = desc ? strdup(desc) : NULL;
    if (!p->insert || !p->text || (desc && !p->description)) {
        free(p->insert);
        free(p->text);
        free(p->description);
        c->rc = -1;
        return;
    }
    memcpy(p->text, c->start, keep);
    memcpy(p->text + keep, insert, il + 1);
    o->n++;
}

static int cmp(const void *a, const void *b)
{
    const dsl_completion *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->text, y->text);
}

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Propose apps whose name starts with `word` and fit `role`. */
static void apps(cctx *c, const dsl_registry *reg, const char *word, size_t wl,
                 dsl_role role, bool or_sink)
{
    for (size_t i = 0; i < dsl_registry_count(reg); i++) {
        const dsl_app_info *a = dsl_registry_at(reg, i);
        bool fits = role == DSL_ROLE_ANY || a->role == role ||
                    (or_sink && a->role == DSL_ROLE_SINK);
        if (fits && !strncmp(a->name, word, wl))
            add(c, DSL_COMPLETE_APP, wl, a->name, a->description);
    }
}

/* After a complete app: its unset options, then '|' and '>'. */
static void after_app(cctx *c, const dsl_registry *reg, const dsl_stream *s,
                      const char *word, size_t wl)
{
    const dsl_app *app = &s->apps[s->n_apps - 1];
    if (s->sink)
        return;
    const dsl_app_info *info = dsl_registry_find(reg, app->name, DSL_ROLE_ANY);
    const char *pre = wl == 0 && !is_ws(c->start[c->len - 1]) ? " " : "";
    for (size_t i = 0; info && i < info->n_options; i++) {
        const dsl_app_option *o = &info->options[i];
        if (dsl_app_find_option(app, o->name))
            continue;
        char buf[512];
        snprintf(buf, sizeof(buf), "%s--%s=", pre, o->name);
        if (wl >= 2 && strncmp(buf + strlen(pre), word, wl))
            continue;
        add(c, DSL_COMPLETE_OPTION, wl, buf, o->description);
    }
    if (wl)
        return;
    bool is_sink = info && info->role == DSL_ROLE_SINK;
    if (!s->is_list && !is_sink)
        add(c, DSL_COMPLETE_PIPE, 0, is_ws(c->start[c->len - 1]) ? "| " : " | ",
            NULL);
    if (!s->is_list && !is_sink)
        add(c, DSL_COMPLETE_DESTINATION, 0,
            is_ws(c->start[c->len - 1]) ? "> :" : " > :", NULL);
}

/* The whole start text is a complete definition: what may follow. */
static void follow(cctx *c, const dsl_registry *reg)
{
    dsl_stream *s = NULL;
    dsl_errors e = { 0 };
    if (dsl_parse_stream(c->start, c->len, &s, &e) == 0)
        after_app(c, reg, s, "", 0);
    dsl_stream_destroy(&s);
    dsl_errors_fini(&e);
}

int dsl_complete(const char *start, size_t len, const dsl_registry *reg,
                 dsl_completions *out)
{
    cctx c = { start, len, out, 0 };
    size_t from = out->n;
    if (len > DSL_MAX_INPUT)
        return 0;
    /* The word being typed: the non-blank run at the end. */
    size_t ws = len;
    while (ws > 0 && !is_ws(start[ws - 1]))
        ws--;
    const char *word = start + ws;
    size_t wl = len - ws;
    /* What precedes it, without trailing blanks. */
    size_t pe = ws;
    while (pe > 0 && is_ws(start[pe - 1]))
        pe--;
    char last = pe ? start[pe - 1] : '\0';

    if (wl >= 2 && word[0] == '-' && word[1] == '-') {
        const char *eq = memchr(word, '=', wl);
        dsl_stream *s = NULL;
        dsl_errors e = { 0 };
        if (dsl_parse_stream(start, ws, &s, &e) == 0 && s->n_apps) {
            const dsl_app *app = &s->apps[s->n_apps - 1];
            const dsl_app_info *info =
                dsl_registry_find(reg, app->name, DSL_ROLE_ANY);
            if (!eq) {
                after_app(&c, reg, s, word, wl);
            } else if (info) {
                size_t kl = (size_t)(eq - word) - 2;
                const char *pfx = eq + 1;
                size_t pl = wl - (size_t)(eq + 1 - word);
                for (size_t i = 0; i < info->n_options; i++) {
                    const dsl_app_option *o = &info->options[i];
                    if (strlen(o->name) != kl || strncmp(o->name, word + 2, kl))
                        continue;
                    static const char *const bools[] = { "true", "false" };
                    const char *const *vals =
                        o->type == DSL_TYPE_BOOL
                            ? bools
                            : (const char *const *)o->values;
                    size_t nv = o->type == DSL_TYPE_BOOL ? 2 : o->n_values;
                    for (size_t j = 0; j < nv; j++)
                        if (!strncmp(vals[j], pfx, pl))
                            add(&c, DSL_COMPLETE_VALUE, pl, vals[j], NULL);
                }
            }
        }
        dsl_stream_destroy(&s);
        dsl_errors_fini(&e);
    } else if (wl && (word[0] == ':' || memchr(word, '=', wl))) {
        /* A destination or a stream name: nothing we can know. */
    } else if (pe == 0 || last == '|' || last == '>' || last == '=') {
        /* An app name may come here. */
        dsl_role role = DSL_ROLE_SOURCE;
        bool or_sink = false;
        bool list = pe >= 2 && start[pe - 2] == '|' && last == '|';
        if (list)
            role = DSL_ROLE_ANY;
        else if (last == '|' || (last == '>' && start[0] == ':')) {
            role = DSL_ROLE_PROCESSOR;
            or_sink = true;
        } else if (last == '>') {
            role = DSL_ROLE_ANY; /* "app >" wants ':', handled below */
        }
        /* After "app >" only a destination may come. */
        if (!(last == '>' && start[0] != ':'))
            apps(&c, reg, word, wl, role, or_sink);
        /* Exactly an app name: also what may follow it. */
        char *w = wl ? strndup(word, wl) : NULL;
        if (w && dsl_registry_find(reg, w, DSL_ROLE_ANY))
            follow(&c, reg);
        free(w);
    } else if (wl == 0) {
        follow(&c, reg);
    }
    if (c.rc)
        return -1;
    /* qsort must not see a NULL base, even with nothing to sort. */
    if (out->n > from)
        qsort(out->v + from, out->n - from, sizeof(*out->v), cmp);
    return 0;
}
