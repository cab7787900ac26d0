/*
 * The printer (AST to canonical text) and the JSON view of a stream.
 * Canonical text: single spaces around '|', '||', '>' and '=' of a stream
 * name; values quoted only when they must be, so that parsing the text
 * again yields the same AST.
 */
#include "dsl-internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t n;
    size_t cap;
    bool fail;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->fail)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->fail = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* May `v` be written without quotes? Only when it holds no quote and
 * nothing that ends an unquoted value. */
static bool bare_ok(const char *v)
{
    if (!*v)
        return false;
    for (const char *p = v; *p; p++) {
        switch (*p) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
        case '|':
        case ';':
        case '>':
        case '\'':
        case '"':
            return false;
        default:
            break;
        }
    }
    return true;
}

static void put_value(sbuf *b, const char *v)
{
    if (bare_ok(v)) {
        puts_(b, v);
        return;
    }
    char q = strchr(v, '\'') && !strchr(v, '"') ? '"' : '\'';
    put(b, &q, 1);
    for (const char *p = v; *p; p++) {
        put(b, p, 1);
        if (*p == q)
            put(b, p, 1);
    }
    put(b, &q, 1);
}

static void put_options(sbuf *b, const dsl_option *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        puts_(b, " --");
        puts_(b, o[i].key);
        puts_(b, "=");
        put_value(b, o[i].value);
    }
}

static void put_stream(sbuf *b, const dsl_stream *s)
{
    if (s->name) {
        puts_(b, s->name);
        puts_(b, " = ");
    }
    if (s->source) {
        puts_(b, ":");
        puts_(b, s->source->name);
        put_options(b, s->source->options, s->source->n_options);
        puts_(b, " > ");
    }
    bool bridge = s->n_apps == 1 && s->apps[0].implicit;
    for (size_t i = 0; !bridge && i < s->n_apps; i++) {
        const dsl_app *a = &s->apps[i];
        if (i)
            puts_(b, s->is_list ? " || " : " | ");
        if (a->label) {
            puts_(b, a->label);
            puts_(b, ": ");
        }
        puts_(b, a->name);
        put_options(b, a->options, a->n_options);
    }
    if (s->sink) {
        puts_(b, bridge ? ":" : " > :");
        puts_(b, s->sink->name);
        put_options(b, s->sink->options, s->sink->n_options);
    }
}

char *dsl_stream_print(const dsl_stream *s)
{
    sbuf b = { 0 };
    put_stream(&b, s);
    puts_(&b, "");
    if (b.fail) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *dsl_file_print(const dsl_file *f)
{
    sbuf b = { 0 };
    puts_(&b, "");
    for (size_t i = 0; i < f->n_streams; i++) {
        put_stream(&b, f->streams[i]);
        puts_(&b, "\n");
    }
    if (b.fail) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static json_t *options_json(const dsl_option *o, size_t n)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (json_object_set_new(obj, o[i].key, json_string(o[i].value))) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *stream_json(const dsl_stream *s)
{
    json_t *src = json_null(), *sink = json_null();
    if (s->source)
        src =
            json_pack("{s:s, s:o*}", "destination", s->source->name, "options",
                      options_json(s->source->options, s->source->n_options));
    if (s->sink) {
        sink = json_pack("{s:s}", "destination", s->sink->name);
        if (sink && s->sink->n_options)
            json_object_set_new(
                sink, "options",
                options_json(s->sink->options, s->sink->n_options));
    }
    json_t *apps = json_array();
    for (size_t i = 0; apps && i < s->n_apps; i++) {
        const dsl_app *a = &s->apps[i];
        json_t *app =
            json_pack("{s:s, s:o, s:o*}", "name", a->name, "label",
                      a->label ? json_string(a->label) : json_null(), "options",
                      options_json(a->options, a->n_options));
        if (!app || json_array_append_new(apps, app)) {
            json_decref(apps);
            apps = NULL;
        }
    }
    if (!src || !sink || !apps) {
        json_decref(src);
        json_decref(sink);
        json_decref(apps);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "name",
                     s->name ? json_string(s->name) : json_null(), "source",
                     src, "apps", apps, "sink", sink);
}

char *dsl_stream_to_json(const dsl_stream *s)
{
    json_t *j = stream_json(s);
    if (!j)
        return NULL;
    char *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return out;
}
