/*
 * The AST: construction helpers for the grammar, destruction, copying and
 * structural equality.
 */
#include "dsl-internal.h"

#include <stdlib.h>
#include <string.h>

void dsl__option_fini(dsl_option *o)
{
    free(o->key);
    free(o->value);
    o->key = o->value = NULL;
}

static void options_free(dsl_option *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dsl__option_fini(&v[i]);
    free(v);
}

int dsl__opts_push(dsl__opts **opts, dsl_option *opt)
{
    dsl__opts *o = *opts;
    if (!o) {
        o = calloc(1, sizeof(*o));
        if (!o)
            goto fail;
        *opts = o;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4;
        dsl_option *v = realloc(o->v, cap * sizeof(*v));
        if (!v)
            goto fail;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = *opt;
    return 0;
fail:
    dsl__option_fini(opt);
    return -1;
}

void dsl__opts_free(dsl__opts *opts)
{
    if (!opts)
        return;
    options_free(opts->v, opts->n);
    free(opts);
}

void dsl__app_fini(dsl_app *app)
{
    free(app->name);
    free(app->label);
    options_free(app->options, app->n_options);
    memset(app, 0, sizeof(*app));
}

int dsl__apps_push(dsl__apps **apps, dsl_app *app)
{
    dsl__apps *a = *apps;
    if (!a) {
        a = calloc(1, sizeof(*a));
        if (!a)
            goto fail;
        *apps = a;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        dsl_app *v = realloc(a->v, cap * sizeof(*v));
        if (!v)
            goto fail;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = *app;
    free(app);
    return 0;
fail:
    dsl__app_fini(app);
    free(app);
    return -1;
}

void dsl__apps_free(dsl__apps *apps)
{
    if (!apps)
        return;
    for (size_t i = 0; i < apps->n; i++)
        dsl__app_fini(&apps->v[i]);
    free(apps->v);
    free(apps);
}

void dsl__app_set_opts(dsl_app *app, dsl__opts *opts)
{
    if (!opts)
        return;
    app->options = opts->v;
    app->n_options = opts->n;
    free(opts);
}

void dsl__dest_free(dsl_destination *d)
{
    if (!d)
        return;
    free(d->name);
    options_free(d->options, d->n_options);
    free(d);
}

dsl_destination *dsl__dest_new(char *name, dsl__loc loc, dsl__opts *opts)
{
    dsl_destination *d = calloc(1, sizeof(*d));
    if (!d) {
        free(name);
        dsl__opts_free(opts);
        return NULL;
    }
    d->name = name;
    d->offset = loc.begin;
    d->length = loc.end - loc.begin;
    if (opts) {
        d->options = opts->v;
        d->n_options = opts->n;
        free(opts);
    }
    return d;
}

dsl_stream *dsl__stream_new(char *name, size_t name_off, dsl_destination *src,
                            dsl__apps *apps, dsl_destination *sink,
                            dsl__loc loc)
{
    dsl_stream *s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    s->name = name;
    s->name_offset = name_off;
    s->source = src;
    s->sink = sink;
    if (apps) {
        s->apps = apps->v;
        s->n_apps = apps->n;
        s->is_list = apps->is_list;
        free(apps);
    } else {
        /* ":a > :b": the implicit bridge app between two destinations. */
        s->apps = calloc(1, sizeof(*s->apps));
        if (!s->apps)
            goto fail_stream;
        s->apps[0].name = strdup("bridge");
        if (!s->apps[0].name)
            goto fail_stream;
        s->apps[0].implicit = true;
        size_t at = sink ? sink->offset : loc.end;
        s->apps[0].offset = s->apps[0].name_offset = at;
        s->apps[0].label_offset = at;
        s->n_apps = 1;
    }
    if (name)
        s->offset = name_off;
    else if (src)
        s->offset = src->offset;
    else
        s->offset = s->apps[0].offset;
    s->length = loc.end > s->offset ? loc.end - s->offset : 0;
    return s;
fail_stream:
    if (s->apps)
        free(s->apps[0].name);
    free(s->apps);
    free(s);
    s = NULL;
fail:
    free(name);
    dsl__dest_free(src);
    dsl__apps_free(apps);
    dsl__dest_free(sink);
    return NULL;
}

int dsl__file_push(dsl__parse *ps, dsl_stream *s)
{
    dsl_file *f = ps->file;
    if (f->n_streams == ps->file_cap) {
        size_t cap = ps->file_cap ? ps->file_cap * 2 : 8;
        dsl_stream **v = realloc(f->streams, cap * sizeof(*v));
        if (!v) {
            dsl_stream_destroy(&s);
            return -1;
        }
        f->streams = v;
        ps->file_cap = cap;
    }
    f->streams[f->n_streams++] = s;
    return 0;
}

const char *dsl_app_label(const dsl_app *app)
{
    return app->label ? app->label : app->name;
}

const dsl_option *dsl_app_find_option(const dsl_app *app, const char *key)
{
    for (size_t i = app->n_options; i-- > 0;)
        if (strcmp(app->options[i].key, key) == 0)
            return &app->options[i];
    return NULL;
}

void dsl_stream_destroy(dsl_stream **sp)
{
    if (!sp || !*sp)
        return;
    dsl_stream *s = *sp;
    free(s->name);
    dsl__dest_free(s->source);
    dsl__dest_free(s->sink);
    for (size_t i = 0; i < s->n_apps; i++)
        dsl__app_fini(&s->apps[i]);
    free(s->apps);
    free(s);
    *sp = NULL;
}

void dsl_file_destroy(dsl_file **fp)
{
    if (!fp || !*fp)
        return;
    dsl_file *f = *fp;
    for (size_t i = 0; i < f->n_streams; i++)
        dsl_stream_destroy(&f->streams[i]);
    free(f->streams);
    free(f);
    *fp = NULL;
}

static char *dup_or_null(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

static dsl_option *options_dup(const dsl_option *v, size_t n, bool *fail)
{
    if (!n)
        return NULL;
    dsl_option *d = calloc(n, sizeof(*d));
    if (!d) {
        *fail = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        d[i] = v[i];
        d[i].key = dup_or_null(v[i].key, fail);
        d[i].value = dup_or_null(v[i].value, fail);
    }
    return d;
}

static dsl_destination *dest_dup(const dsl_destination *s, bool *fail)
{
    if (!s)
        return NULL;
    dsl_destination *d = calloc(1, sizeof(*d));
    if (!d) {
        *fail = true;
        return NULL;
    }
    *d = *s;
    d->name = dup_or_null(s->name, fail);
    d->options = options_dup(s->options, s->n_options, fail);
    if (!d->options)
        d->n_options = 0;
    return d;
}

dsl_stream *dsl_stream_dup(const dsl_stream *s)
{
    bool fail = false;
    dsl_stream *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    *d = *s;
    d->apps = NULL;
    d->n_apps = 0;
    d->name = dup_or_null(s->name, &fail);
    d->source = dest_dup(s->source, &fail);
    d->sink = dest_dup(s->sink, &fail);
    if (s->n_apps) {
        d->apps = calloc(s->n_apps, sizeof(*d->apps));
        if (!d->apps) {
            fail = true;
        } else {
            d->n_apps = s->n_apps;
            for (size_t i = 0; i < s->n_apps; i++) {
                d->apps[i] = s->apps[i];
                d->apps[i].name = dup_or_null(s->apps[i].name, &fail);
                d->apps[i].label = dup_or_null(s->apps[i].label, &fail);
                d->apps[i].options = options_dup(s->apps[i].options,
                                                 s->apps[i].n_options, &fail);
                if (!d->apps[i].options)
                    d->apps[i].n_options = 0;
            }
        }
    }
    if (fail)
        dsl_stream_destroy(&d);
    return d;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool options_eq(const dsl_option *a, size_t na, const dsl_option *b,
                       size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].key, b[i].key) || !str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

static bool dest_eq(const dsl_destination *a, const dsl_destination *b)
{
    if (!a || !b)
        return a == b;
    return str_eq(a->name, b->name) &&
           options_eq(a->options, a->n_options, b->options, b->n_options);
}

bool dsl_stream_equal(const dsl_stream *a, const dsl_stream *b)
{
    if (!a || !b)
        return a == b;
    if (!str_eq(a->name, b->name) || a->is_list != b->is_list ||
        a->n_apps != b->n_apps || !dest_eq(a->source, b->source) ||
        !dest_eq(a->sink, b->sink))
        return false;
    for (size_t i = 0; i < a->n_apps; i++) {
        const dsl_app *x = &a->apps[i], *y = &b->apps[i];
        if (!str_eq(x->name, y->name) || !str_eq(x->label, y->label) ||
            x->implicit != y->implicit ||
            !options_eq(x->options, x->n_options, y->options, y->n_options))
            return false;
    }
    return true;
}
