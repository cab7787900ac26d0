/*
 * The app registry as data: what each app is called, its role and its
 * options, filled by hand or from the apps' `--describe` JSON
 * (docs/apps.md).
 */
#include "dsl-internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dsl_registry {
    dsl_app_info *v;
    size_t n;
    size_t cap;
};

static const char *const role_names[] = { "source", "processor", "sink" };
static const char *const type_names[] = { "string", "int",       "float",
                                          "bool",   "enum",      "duration",
                                          "path",   "expression" };
static const char *const access_names[] = { "write", "read", "append" };

const char *dsl_role_name(dsl_role role)
{
    if (role < DSL_ROLE_SOURCE || role > DSL_ROLE_SINK)
        return "any";
    return role_names[role];
}

const char *dsl_type_name(dsl_type type)
{
    if (type < DSL_TYPE_STRING || type > DSL_TYPE_EXPR)
        return "unknown";
    return type_names[type];
}

dsl_registry *dsl_registry_new(void)
{
    return calloc(1, sizeof(dsl_registry));
}

static void option_fini(dsl_app_option *o)
{
    free(o->name);
    free(o->default_value);
    free(o->min);
    free(o->max);
    free(o->description);
    for (size_t i = 0; i < o->n_values; i++)
        free(o->values[i]);
    free(o->values);
}

static void info_fini(dsl_app_info *a)
{
    free(a->name);
    free(a->description);
    for (size_t i = 0; i < a->n_options; i++)
        option_fini(&a->options[i]);
    free(a->options);
    memset(a, 0, sizeof(*a));
}

void dsl_registry_destroy(dsl_registry **rp)
{
    if (!rp || !*rp)
        return;
    dsl_registry *r = *rp;
    for (size_t i = 0; i < r->n; i++)
        info_fini(&r->v[i]);
    free(r->v);
    free(r);
    *rp = NULL;
}

static char *dup_opt(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

/* Deep copy of `src` into `dst`; returns -1 when out of memory (dst is
 * then finished). */
static int info_copy(dsl_app_info *dst, const dsl_app_info *src)
{
    bool fail = false;
    memset(dst, 0, sizeof(*dst));
    dst->role = src->role;
    dst->name = dup_opt(src->name, &fail);
    dst->description = dup_opt(src->description, &fail);
    if (src->n_options) {
        dst->options = calloc(src->n_options, sizeof(*dst->options));
        if (!dst->options)
            fail = true;
        else
            dst->n_options = src->n_options;
    }
    for (size_t i = 0; dst->options && i < src->n_options; i++) {
        const dsl_app_option *s = &src->options[i];
        dsl_app_option *d = &dst->options[i];
        d->type = s->type;
        d->access = s->access;
        d->required = s->required;
        d->prefix = s->prefix;
        d->name = dup_opt(s->name, &fail);
        d->default_value = dup_opt(s->default_value, &fail);
        d->min = dup_opt(s->min, &fail);
        d->max = dup_opt(s->max, &fail);
        d->description = dup_opt(s->description, &fail);
        if (s->n_values) {
            d->values = calloc(s->n_values, sizeof(char *));
            if (!d->values) {
                fail = true;
                continue;
            }
            d->n_values = s->n_values;
            for (size_t j = 0; j < s->n_values; j++)
                d->values[j] = dup_opt(s->values[j], &fail);
        }
    }
    if (fail) {
        info_fini(dst);
        return -1;
    }
    return 0;
}

int dsl_registry_add(dsl_registry *r, const dsl_app_info *info)
{
    if (!r || !info || !info->name || !*info->name ||
        info->role < DSL_ROLE_SOURCE || info->role > DSL_ROLE_SINK)
        return -1;
    for (size_t i = 0; i < info->n_options; i++)
        if (!info->options[i].name)
            return -1;
    dsl_app_info copy;
    if (info_copy(&copy, info) < 0)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].role == info->role && !strcmp(r->v[i].name, info->name)) {
            info_fini(&r->v[i]);
            r->v[i] = copy;
            return 0;
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        dsl_app_info *v = realloc(r->v, cap * sizeof(*v));
        if (!v) {
            info_fini(&copy);
            return -1;
        }
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = copy;
    return 0;
}

static int fail_msg(char **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail_msg(char **err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(err, fmt, ap) < 0)
            *err = NULL;
        va_end(ap);
    }
    return -1;
}

/* The JSON value of a default as the text an app would be given. */
static char *default_text(json_t *v)
{
    char *s = NULL;
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        if (asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
            return NULL;
        return s;
    }
    if (json_is_real(v)) {
        if (asprintf(&s, "%.17g", json_real_value(v)) < 0)
            return NULL;
        return s;
    }
    if (json_is_boolean(v))
        return strdup(json_is_true(v) ? "true" : "false");
    return NULL;
}

/*
 * Reads the bound `key` ("min" or "max") of option d from its JSON o into
 * *out (new text, NULL when absent or null). A bound must be a value of
 * the option's type, and only int, float and duration have bounds.
 */
static int read_bound(const dsl_app_option *d, json_t *o, const char *key,
                      char **out, const char *app, char **err)
{
    json_t *v = json_object_get(o, key);
    char buf[512];
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (d->type != DSL_TYPE_INT && d->type != DSL_TYPE_FLOAT &&
        d->type != DSL_TYPE_DURATION)
        return fail_msg(err, "app '%s': option '%s' is a %s and has no %s", app,
                        d->name, dsl_type_name(d->type), key);
    /* Checked as a value of the type alone: the bounds are not set yet. */
    dsl_app_option plain = { .name = d->name, .type = d->type };
    *out = default_text(v);
    if (!*out)
        return fail_msg(err, "app '%s': option '%s' has a bad %s", app, d->name,
                        key);
    if (dsl_option_expect(&plain, *out, buf, sizeof buf))
        return fail_msg(err, "app '%s': option '%s' has a bad %s '%s'", app,
                        d->name, key, *out);
    return 0;
}

static int add_json(dsl_registry *r, json_t *doc, char **err)
{
    if (!json_is_object(doc))
        return fail_msg(err, "an app description must be a JSON object");
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *role = json_string_value(json_object_get(doc, "role"));
    if (!name || !*name)
        return fail_msg(err, "app description without a \"name\" string");
    dsl_app_info info;
    memset(&info, 0, sizeof(info));
    info.name = (char *)name;
    info.role = DSL_ROLE_ANY;
    for (int i = 0; role && i < 3; i++)
        if (!strcmp(role, role_names[i]))
            info.role = (dsl_role)i;
    if (info.role == DSL_ROLE_ANY)
        return fail_msg(err,
                        "app '%s': \"role\" must be \"source\", "
                        "\"processor\" or \"sink\"",
                        name);
    info.description =
        (char *)json_string_value(json_object_get(doc, "description"));
    json_t *opts = json_object_get(doc, "options");
    if (opts && !json_is_array(opts) && !json_is_null(opts))
        return fail_msg(err, "app '%s': \"options\" must be an array", name);
    size_t n = json_array_size(opts);
    int rc = -1;
    if (n) {
        info.options = calloc(n, sizeof(*info.options));
        if (!info.options) {
            fail_msg(err, "out of memory");
            return DSL_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(opts, i);
        dsl_app_option *d = &info.options[i];
        info.n_options = i + 1;
        const char *oname = json_string_value(json_object_get(o, "name"));
        if (!oname || !*oname) {
            fail_msg(err, "app '%s': option %zu has no \"name\" string", name,
                     i);
            goto out;
        }
        d->name = (char *)oname;
        const char *type = json_string_value(json_object_get(o, "type"));
        d->type = DSL_TYPE_STRING;
        bool known = !type;
        for (int t = 0; type && t <= DSL_TYPE_EXPR; t++) {
            if (!strcmp(type, type_names[t])) {
                d->type = (dsl_type)t;
                known = true;
            }
        }
        if (!known) {
            fail_msg(err, "app '%s': option '%s' has an unknown type '%s'",
                     name, oname, type);
            goto out;
        }
        const char *acc = json_string_value(json_object_get(o, "access"));
        bool acc_known = !acc;
        for (int k = 0; acc && k < 3; k++) {
            if (!strcmp(acc, access_names[k])) {
                d->access = (dsl_path_access)k;
                acc_known = true;
            }
        }
        if (!acc_known) {
            fail_msg(err,
                     "app '%s': option '%s' has an unknown access '%s' "
                     "(give read, write or append)",
                     name, oname, acc);
            goto out;
        }
        d->required = json_is_true(json_object_get(o, "required"));
        d->prefix = json_is_true(json_object_get(o, "prefix"));
        json_t *def = json_object_get(o, "default");
        if (def && !json_is_null(def)) {
            d->default_value = default_text(def);
            if (!d->default_value &&
                (json_is_string(def) || json_is_number(def) ||
                 json_is_boolean(def))) {
                fail_msg(err, "out of memory");
                rc = DSL_ENOMEM;
                goto out;
            }
            if (!d->default_value) {
                fail_msg(err, "app '%s': option '%s' has a bad default", name,
                         oname);
                goto out;
            }
        }
        d->description =
            (char *)json_string_value(json_object_get(o, "description"));
        if (read_bound(d, o, "min", &d->min, name, err) < 0 ||
            read_bound(d, o, "max", &d->max, name, err) < 0)
            goto out;
        json_t *vals = json_object_get(o, "values");
        size_t nv = json_array_size(vals);
        if (nv) {
            d->values = calloc(nv, sizeof(char *));
            if (!d->values) {
                fail_msg(err, "out of memory");
                rc = DSL_ENOMEM;
                goto out;
            }
            for (size_t j = 0; j < nv; j++) {
                const char *v = json_string_value(json_array_get(vals, j));
                if (!v) {
                    fail_msg(err,
                             "app '%s': option '%s': \"values\" must hold "
                             "strings",
                             name, oname);
                    goto out;
                }
                d->values[d->n_values++] = (char *)v;
            }
        }
    }
    /* The description was checked above: only memory can fail here. */
    rc = dsl_registry_add(r, &info);
    if (rc < 0) {
        fail_msg(err, "out of memory");
        rc = DSL_ENOMEM;
    }
out:
    /* Strings borrowed from the JSON document; only arrays are ours. */
    for (size_t i = 0; i < info.n_options; i++) {
        free(info.options[i].default_value);
        free(info.options[i].min);
        free(info.options[i].max);
        free(info.options[i].values);
    }
    free(info.options);
    return rc;
}

int dsl_registry_add_describe(dsl_registry *r, const char *json, size_t len,
                              char **err)
{
    if (err)
        *err = NULL;
    json_error_t je;
    json_t *doc = json_loadb(json, len, 0, &je);
    /* jansson leaves no message when it cannot allocate its lexer. */
    if (!doc &&
        (json_error_code(&je) == json_error_out_of_memory || !je.text[0])) {
        fail_msg(err, "out of memory");
        return DSL_ENOMEM;
    }
    if (!doc)
        return fail_msg(err, "bad JSON at line %d column %d: %s", je.line,
                        je.column, je.text);
    int rc = add_json(r, doc, err);
    json_decref(doc);
    return rc;
}

int dsl_registry_add_describe_array(dsl_registry *r, const char *json,
                                    size_t len, char **err)
{
    if (err)
        *err = NULL;
    json_error_t je;
    json_t *doc = json_loadb(json, len, 0, &je);
    /* jansson leaves no message when it cannot allocate its lexer. */
    if (!doc &&
        (json_error_code(&je) == json_error_out_of_memory || !je.text[0])) {
        fail_msg(err, "out of memory");
        return DSL_ENOMEM;
    }
    if (!doc)
        return fail_msg(err, "bad JSON at line %d column %d: %s", je.line,
                        je.column, je.text);
    int rc = 0;
    if (!json_is_array(doc)) {
        rc = fail_msg(err, "expected a JSON array of app descriptions");
    } else {
        for (size_t i = 0; rc == 0 && i < json_array_size(doc); i++) {
            char *e = NULL;
            rc = add_json(r, json_array_get(doc, i), err ? &e : NULL);
            if (rc < 0 && err) {
                fail_msg(err, "element %zu: %s", i, e ? e : "bad");
                free(e);
            }
        }
    }
    json_decref(doc);
    return rc;
}

const dsl_app_info *dsl_registry_find(const dsl_registry *r, const char *name,
                                      dsl_role role)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if ((role == DSL_ROLE_ANY || r->v[i].role == role) &&
            !strcmp(r->v[i].name, name))
            return &r->v[i];
    return NULL;
}

dsl_role dsl_stream_role_at(const dsl_stream *s, size_t i)
{
    if (s->is_list || (s->n_apps == 1 && !s->source && !s->sink))
        return DSL_ROLE_ANY;
    if (i == 0 && !s->source)
        return DSL_ROLE_SOURCE;
    if (i + 1 == s->n_apps && !s->sink)
        return DSL_ROLE_SINK;
    return DSL_ROLE_PROCESSOR;
}

const dsl_app_info *dsl_registry_find_at(const dsl_registry *r,
                                         const dsl_stream *s, size_t i)
{
    if (!s || i >= s->n_apps)
        return NULL;
    const char *name = s->apps[i].name;
    const dsl_app_info *a =
        dsl_registry_find(r, name, dsl_stream_role_at(s, i));
    return a ? a : dsl_registry_find(r, name, DSL_ROLE_ANY);
}

size_t dsl_registry_count(const dsl_registry *r)
{
    return r ? r->n : 0;
}

const dsl_app_info *dsl_registry_at(const dsl_registry *r, size_t i)
{
    return r && i < r->n ? &r->v[i] : NULL;
}
