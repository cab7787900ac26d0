/*
 * The checking pass: a parsed stream against the app registry and the
 * streams that exist. Separate from parsing so that the grammar stays
 * about syntax and the registry stays data.
 */
#include "dsl-internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t dsl__distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    if (lb > 255)
        return cap + 1;
    size_t row[256];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0], best = i;
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = diag + cost;
            if (up + 1 < v)
                v = up + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best > cap)
            return cap + 1;
    }
    return row[lb];
}

const char *dsl_suggest(const char *word, const char *const *candidates,
                        size_t n)
{
    size_t len = strlen(word);
    size_t cap = len / 3 > 1 ? len / 3 : 1;
    const char *best = NULL;
    size_t best_d = cap + 1;
    for (size_t i = 0; i < n; i++) {
        if (!candidates[i])
            continue;
        size_t d = dsl__distance(word, candidates[i], cap);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}

/* Value checks, the same rules the runtime applies to app options. */
static bool int_ok(const char *s)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    (void)strtoll(s, &end, 10);
    return !errno && !*end;
}

static bool float_ok(const char *s)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    double v = strtod(s, &end);
    return !errno && !*end && isfinite(v);
}

static bool bool_ok(const char *s)
{
    static const char *const words[] = { "true",  "1", "yes", "on",
                                         "false", "0", "no",  "off" };
    for (size_t i = 0; i < 8; i++)
        if (!strcasecmp(s, words[i]))
            return true;
    return false;
}

static bool duration_ok(const char *s)
{
    char *end;
    if (!*s || isspace((unsigned char)*s) || *s == '-')
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !isfinite(v) || end == s)
        return false;
    return !*end || !strcmp(end, "ms") || !strcmp(end, "us") ||
           !strcmp(end, "s") || !strcmp(end, "m") || !strcmp(end, "h");
}

/* A duration in microseconds, as the runtime reads it (duration_ok has
 * said that it is one). */
static double duration_us(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (!strcmp(end, "us"))
        return v;
    if (!strcmp(end, "s"))
        return v * 1e6;
    if (!strcmp(end, "m"))
        return v * 60e6;
    if (!strcmp(end, "h"))
        return v * 3600e6;
    return v * 1e3;
}

/* Compares two well-formed values of an int, float or duration option:
 * <0, 0 or >0. */
static int compare_values(dsl_type type, const char *a, const char *b)
{
    if (type == DSL_TYPE_INT) {
        long long x = strtoll(a, NULL, 10), y = strtoll(b, NULL, 10);
        return (x > y) - (x < y);
    }
    double x = type == DSL_TYPE_DURATION ? duration_us(a) : strtod(a, NULL);
    double y = type == DSL_TYPE_DURATION ? duration_us(b) : strtod(b, NULL);
    return (x > y) - (x < y);
}

/* NULL when the well-formed value v lies within def's bounds, else the
 * rule in buf: "<what> from MIN to MAX", "of at least MIN" or "of at
 * most MAX". */
static const char *range_expect(const dsl_app_option *def, const char *v,
                                const char *what, char *buf, size_t len)
{
    bool low = def->min && compare_values(def->type, v, def->min) < 0;
    bool high = def->max && compare_values(def->type, v, def->max) > 0;
    if (!low && !high)
        return NULL;
    if (def->min && def->max)
        snprintf(buf, len, "%s from %s to %s", what, def->min, def->max);
    else if (def->min)
        snprintf(buf, len, "%s of at least %s", what, def->min);
    else
        snprintf(buf, len, "%s of at most %s", what, def->max);
    return buf;
}

/* Append "a, b, c" of at most `max` names to buf. */
static void join_names(char *buf, size_t cap, const char *const *names,
                       size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        int w = snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= cap - k) {
            snprintf(buf + k, cap - k, ", ...");
            break;
        }
        k += (size_t)w;
    }
}

/* Known streams sorted by name (then by position), and the names of the
 * destinations known streams write to, sorted: taps are then found by
 * binary search however many streams there are. */
typedef struct sref {
    const dsl_stream *s;
    size_t pos;
} sref;

typedef struct index {
    const sref *by_name;
    size_t n_names;
    const char **sinks;
    size_t n_sinks;
} index_t;

typedef struct checker {
    const dsl_check_ctx *ctx;
    const char *src;
    size_t len;
    dsl_errors *errs;
    int rc;
    const index_t *idx; /* or NULL: search ctx->known linearly */
} checker;

#define ADD(c, off, n, ...)                                           \
    do {                                                              \
        if (dsl_errors_add((c)->errs, (c)->src, (c)->len, (off), (n), \
                           __VA_ARGS__) < 0)                          \
            (c)->rc = -2;                                             \
        else if ((c)->rc == 0)                                        \
            (c)->rc = -1;                                             \
    } while (0)

const char *dsl_option_expect(const dsl_app_option *def, const char *v,
                              char *buf, size_t len)
{
    switch (def->type) {
    case DSL_TYPE_STRING:
        return NULL;
    case DSL_TYPE_PATH:
        /* Where a path may lie is the caller's rule (check_path). */
        return *v ? NULL : "a file path";
    case DSL_TYPE_EXPR:
        /* Whether it compiles is the caller's rule (check_expr). */
        return *v ? NULL : "an expression";
    case DSL_TYPE_INT:
        return int_ok(v) ? range_expect(def, v, "an integer", buf, len)
                         : "an integer";
    case DSL_TYPE_FLOAT:
        return float_ok(v) ? range_expect(def, v, "a number", buf, len)
                           : "a number";
    case DSL_TYPE_BOOL:
        return bool_ok(v) ? NULL : "true or false";
    case DSL_TYPE_DURATION:
        return duration_ok(v) ? range_expect(def, v, "a duration", buf, len)
                              : "a duration such as 500ms, 2s or 1m (a bare "
                                "number is ms)";
    case DSL_TYPE_ENUM: {
        for (size_t i = 0; i < def->n_values; i++)
            if (!strcmp(def->values[i], v))
                return NULL;
        const char *s =
            dsl_suggest(v, (const char *const *)def->values, def->n_values);
        char list[400];
        join_names(list, sizeof(list), (const char *const *)def->values,
                   def->n_values);
        if (s)
            snprintf(buf, len, "one of %s; did you mean '%s'?", list, s);
        else
            snprintf(buf, len, "one of %s", list);
        return buf;
    }
    }
    return NULL;
}

/*
 * The offset in the definition of byte off of an option's value: the
 * value as written may be wholly quoted ('a ''b''' is a 'b'), so the
 * opening quote and every doubled quote before off count one byte more.
 */
static size_t value_byte(const checker *c, const dsl_option *o, size_t off)
{
    size_t vlen = strlen(o->value);
    const char *w = c->src ? c->src + o->value_offset : NULL;
    size_t wlen = o->value_length;
    if (!w || o->value_offset + wlen > c->len)
        return o->value_offset;
    if (off > vlen)
        off = vlen;
    if (wlen == vlen && memcmp(w, o->value, vlen) == 0)
        return o->value_offset + off;
    if (wlen < 2 || (w[0] != '\'' && w[0] != '"'))
        return o->value_offset;
    char q = w[0];
    size_t wi = 1;
    for (size_t vi = 0; vi < off && wi < wlen; vi++)
        wi += (w[wi] == q && wi + 1 < wlen && w[wi + 1] == q) ? 2 : 1;
    return o->value_offset + wi;
}

static void check_value(checker *c, const dsl_app *app, const dsl_option *o,
                        const dsl_app_option *def)
{
    char buf[512];
    const char *want = dsl_option_expect(def, o->value, buf, sizeof buf);

    if (want) {
        ADD(c, o->value_offset, o->value_length,
            "bad value '%s' for option '--%s' of app '%s': expected %s",
            o->value, o->key, app->name, want);
        return;
    }
    if (def->type == DSL_TYPE_EXPR && c->ctx && c->ctx->check_expr) {
        size_t off = 0;
        if (c->ctx->check_expr(c->ctx->check_expr_ud, o->value,
                               strlen(o->value), &off, buf, sizeof(buf)))
            ADD(c, value_byte(c, o, off), 1,
                "bad expression for option '--%s' of app '%s': %s", o->key,
                app->name, buf);
        return;
    }
    if (def->type == DSL_TYPE_PATH && c->ctx && c->ctx->check_path &&
        c->ctx->check_path(c->ctx->check_path_ud, o->value, def->access, buf,
                           sizeof(buf)))
        ADD(c, o->value_offset, o->value_length, "%s --%s: %s", app->name,
            o->key, buf);
}

static void check_options(checker *c, const dsl_app *app,
                          const dsl_app_info *info)
{
    const char *names[256];
    size_t nn = 0;
    for (size_t i = 0; i < info->n_options && nn < 256; i++)
        names[nn++] = info->options[i].name;
    for (size_t i = 0; i < app->n_options; i++) {
        const dsl_option *o = &app->options[i];
        const dsl_app_option *def = NULL;
        for (size_t j = 0; j < info->n_options; j++) {
            const dsl_app_option *d = &info->options[j];
            size_t dl = strlen(d->name);
            bool hit = d->prefix ? !strncmp(d->name, o->key, dl) &&
                                       o->key[dl] == '.' && o->key[dl + 1]
                                 : !strcmp(d->name, o->key);
            if (hit)
                def = d;
        }
        if (def) {
            check_value(c, app, o, def);
            continue;
        }
        const char *s = dsl_suggest(o->key, names, nn);
        if (s) {
            ADD(c, o->offset, o->length,
                "unknown option '--%s' for app '%s'; did you mean '--%s'?",
                o->key, app->name, s);
        } else if (nn) {
            char list[400];
            join_names(list, sizeof(list), names, nn);
            ADD(c, o->offset, o->length,
                "unknown option '--%s' for app '%s' (its options: %s)", o->key,
                app->name, list);
        } else {
            ADD(c, o->offset, o->length,
                "unknown option '--%s': app '%s' takes no options", o->key,
                app->name);
        }
    }
    for (size_t j = 0; j < info->n_options; j++) {
        const dsl_app_option *def = &info->options[j];
        if (def->required && !dsl_app_find_option(app, def->name))
            ADD(c, app->name_offset, strlen(app->name),
                "app '%s' needs the option '--%s=...'", app->name, def->name);
    }
}

static const char *role_rule(dsl_role want)
{
    switch (want) {
    case DSL_ROLE_SOURCE:
        return "the first app of a stream must be a source (or start the "
               "stream with ':destination >')";
    case DSL_ROLE_SINK:
        return "the last app of a stream must be a sink (or end the stream "
               "with '> :destination')";
    default:
        return "only processors may sit between two apps";
    }
}

static void check_app(checker *c, const dsl_stream *s, size_t i)
{
    const dsl_app *app = &s->apps[i];
    const dsl_registry *reg = c->ctx ? c->ctx->registry : NULL;
    if (!reg || app->implicit)
        return;
    dsl_role want = dsl_stream_role_at(s, i);
    const dsl_app_info *info = dsl_registry_find(reg, app->name, want);
    if (info) {
        check_options(c, app, info);
        return;
    }
    const dsl_app_info *other = dsl_registry_find(reg, app->name, DSL_ROLE_ANY);
    if (other) {
        ADD(c, app->name_offset, strlen(app->name), "app '%s' is a %s; %s",
            app->name, dsl_role_name(other->role), role_rule(want));
        return;
    }
    /* Unknown: suggest among the apps that fit the position first. */
    size_t n = dsl_registry_count(reg);
    const char **fit = calloc(n ? n : 1, sizeof(char *));
    const char **all = calloc(n ? n : 1, sizeof(char *));
    size_t nf = 0;
    if (!fit || !all) {
        free(fit);
        free(all);
        ADD(c, app->name_offset, strlen(app->name), "unknown app '%s'",
            app->name);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        const dsl_app_info *a = dsl_registry_at(reg, k);
        all[k] = a->name;
        if (want == DSL_ROLE_ANY || a->role == want)
            fit[nf++] = a->name;
    }
    const char *sug = dsl_suggest(app->name, fit, nf);
    if (!sug)
        sug = dsl_suggest(app->name, all, n);
    if (sug) {
        ADD(c, app->name_offset, strlen(app->name),
            "unknown app '%s'; did you mean '%s'?", app->name, sug);
    } else {
        char list[400];
        join_names(list, sizeof(list), fit, nf);
        ADD(c, app->name_offset, strlen(app->name),
            "unknown app '%s' (known %s%s: %s)", app->name,
            want == DSL_ROLE_ANY ? "app" : dsl_role_name(want),
            nf == 1 ? "" : "s", nf ? list : "none");
    }
    free(fit);
    free(all);
}

static int cmp_stream_name(const void *a, const void *b)
{
    const sref *x = a, *y = b;
    int r = strcmp(x->s->name, y->s->name);
    if (r)
        return r;
    /* Equal names keep their order: the first definition wins. */
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first known stream named by the `len` bytes at `name`. */
static const dsl_stream *find_stream(const checker *c, const char *name,
                                     size_t len)
{
    if (c->idx) {
        size_t lo = 0, hi = c->idx->n_names;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            const char *m = c->idx->by_name[mid].s->name;
            int r = strncmp(m, name, len);
            if (r == 0 && m[len] != '\0')
                r = 1;
            if (r < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < c->idx->n_names) {
            const char *m = c->idx->by_name[lo].s->name;
            if (!strncmp(m, name, len) && m[len] == '\0')
                return c->idx->by_name[lo].s;
        }
        return NULL;
    }
    for (size_t i = 0; i < c->ctx->n_known; i++) {
        const dsl_stream *k = c->ctx->known[i];
        if (k && k->name && strlen(k->name) == len &&
            !strncmp(k->name, name, len))
            return k;
    }
    return NULL;
}

/* Does some known stream write to the destination `name`? */
static bool is_written(const checker *c, const char *name)
{
    if (c->idx)
        return bsearch(&name, c->idx->sinks, c->idx->n_sinks, sizeof(char *),
                       cmp_str) != NULL;
    for (size_t i = 0; i < c->ctx->n_known; i++) {
        const dsl_stream *k = c->ctx->known[i];
        if (k && k->sink && !strcmp(k->sink->name, name))
            return true;
    }
    return false;
}

static void check_tap(checker *c, const dsl_stream *s)
{
    if (!s->source || !c->ctx || !c->ctx->n_known)
        return;
    const char *name = s->source->name;
    const char *dot = strchr(name, '.');
    if (!dot)
        return;
    size_t sl = (size_t)(dot - name);
    const char *label = dot + 1;
    const dsl_stream *target = find_stream(c, name, sl);
    if (target) {
        /* `:S.L.errors` is app L's dead-letter destination. */
        size_t ll = strlen(label), el = strlen(".errors");
        if (ll > el && !strcmp(label + ll - el, ".errors"))
            ll -= el;
        const char *labels[DSL_MAX_APPS];
        size_t nl = 0;
        for (size_t i = 0; i < target->n_apps && nl < DSL_MAX_APPS; i++) {
            labels[nl] = dsl_app_label(&target->apps[i]);
            if (strlen(labels[nl]) == ll && !strncmp(labels[nl], label, ll))
                return;
            nl++;
        }
        const char *sug = dsl_suggest(label, labels, nl);
        size_t off = s->source->offset + 1 + sl + 1;
        if (sug)
            ADD(c, off, strlen(label),
                "stream '%s' has no app labelled '%s'; did you mean '%s'?",
                target->name, label, sug);
        else
            ADD(c, off, strlen(label), "stream '%s' has no app labelled '%s'",
                target->name, label);
        return;
    }
    /* Not a stream: fine if some known stream writes to it. */
    if (is_written(c, name))
        return;
    /* Suggest among the first streams only: a typo check need not scan
     * a huge file for every bad tap. */
    size_t cap = c->ctx->n_known < 256 ? c->ctx->n_known : 256;
    const char **names = calloc(cap ? cap : 1, sizeof(char *));
    size_t nn = 0;
    for (size_t i = 0; names && i < c->ctx->n_known && nn < cap; i++)
        if (c->ctx->known[i] && c->ctx->known[i]->name)
            names[nn++] = c->ctx->known[i]->name;
    char word[256];
    snprintf(word, sizeof(word), "%.*s", (int)(sl < 255 ? sl : 255), name);
    const char *sug = names ? dsl_suggest(word, names, nn) : NULL;
    if (sug)
        ADD(c, s->source->offset + 1, sl,
            "tap of unknown stream '%s'; did you mean '%s'?", word, sug);
    else
        ADD(c, s->source->offset + 1, sl,
            "tap of unknown stream '%s' (no stream has that name and none "
            "writes to ':%s')",
            word, name);
    free(names);
}

bool dsl_name_ok(const char *s, size_t len)
{
    if (len < 1 || len > DSL_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t k = 1; k < len; k++)
        if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9') ||
              s[k] == '-'))
            return false;
    return true;
}

const char *dsl_name_message(char *buf, size_t buflen, const char *what,
                             const char *name, size_t len)
{
    snprintf(buf, buflen,
             "illegal %s name '%.*s%s': a name is a lowercase letter, then "
             "up to 47 lowercase letters, digits or '-' (like 'accounts' or "
             "'eu-1')",
             what, (int)(len > 64 ? 64 : len), name, len > 64 ? "..." : "");
    return buf;
}

/* Options of a source destination: --group names the consumer group. */
static void check_source_options(checker *c, const dsl_stream *s)
{
    char msg[256];

    if (!s->source)
        return;
    for (size_t k = 0; k < s->source->n_options; k++) {
        const dsl_option *o = &s->source->options[k];
        if (strcmp(o->key, "group") || dsl_name_ok(o->value, strlen(o->value)))
            continue;
        ADD(c, o->value_offset, o->value_length ? o->value_length : 1, "%s",
            dsl_name_message(msg, sizeof msg, "consumer group", o->value,
                             strlen(o->value)));
    }
}

static int check_one(checker *cp, const dsl_stream *s);

int dsl_check_stream(const dsl_stream *s, const dsl_check_ctx *ctx,
                     const char *src, size_t src_len, dsl_errors *errs)
{
    checker c = { ctx, src, src_len, errs, 0, NULL };
    return check_one(&c, s);
}

static int check_one(checker *cp, const dsl_stream *s)
{
    checker c = *cp;
    dsl_errors *errs = c.errs;
    const char *src = c.src;
    size_t src_len = c.len;
    size_t from = errs->n;
    char msg[256];
    if (s->name && !dsl_name_ok(s->name, strlen(s->name)))
        ADD(&c, s->name_offset, strlen(s->name), "%s",
            dsl_name_message(msg, sizeof msg, "stream", s->name,
                             strlen(s->name)));
    size_t before = errs->n;
    if (dsl__check_labels(s, src, src_len, errs) < 0)
        c.rc = -2;
    else if (errs->n > before && c.rc == 0)
        c.rc = -1;
    check_tap(&c, s);
    check_source_options(&c, s);
    for (size_t i = 0; i < s->n_apps; i++)
        check_app(&c, s, i);
    dsl__sort_errors(errs, from);
    if (c.rc == -2)
        return DSL_ENOMEM;
    return c.rc ? -1 : 0;
}

int dsl_check_file(const dsl_file *f, const dsl_check_ctx *ctx, const char *src,
                   size_t src_len, dsl_errors *errs)
{
    size_t nk = (ctx ? ctx->n_known : 0) + f->n_streams;
    const dsl_stream **known = calloc(nk ? nk : 1, sizeof(*known));
    sref *by_name = calloc(nk ? nk : 1, sizeof(*by_name));
    const char **sinks = calloc(nk ? nk : 1, sizeof(*sinks));
    sref *own = calloc(f->n_streams ? f->n_streams : 1, sizeof(*own));
    int rc = 0;
    if (!known || !by_name || !sinks || !own) {
        dsl_errors_add(errs, src, src_len, 0, 1, "out of memory");
        rc = DSL_ENOMEM;
        goto out;
    }
    /* The file's own streams come first, so a tap resolves to them
     * before a stored stream of the same name. */
    size_t k = 0, nb = 0, ns = 0;
    for (size_t i = 0; i < f->n_streams; i++)
        known[k++] = f->streams[i];
    for (size_t i = 0; ctx && i < ctx->n_known; i++)
        if (ctx->known[i])
            known[k++] = ctx->known[i];
    for (size_t i = 0; i < k; i++) {
        if (known[i]->name)
            by_name[nb++] = (sref){ known[i], i };
        if (known[i]->sink)
            sinks[ns++] = known[i]->sink->name;
    }
    qsort(sinks, ns, sizeof(*sinks), cmp_str);
    index_t idx = { by_name, nb, sinks, ns };
    dsl_check_ctx c2 = { 0 };
    if (ctx)
        c2 = *ctx;
    c2.known = known;
    c2.n_known = k;
    checker c = { &c2, src, src_len, errs, 0, &idx };
    size_t from = errs->n;

    /* Stream names unique in the file: sort the file's named streams;
     * every one after the first of a run is a duplicate. */
    size_t no = 0;
    for (size_t i = 0; i < f->n_streams; i++)
        if (f->streams[i]->name)
            own[no++] = (sref){ f->streams[i], i };
    qsort(own, no, sizeof(*own), cmp_stream_name);
    for (size_t i = 1; i < no; i++) {
        if (strcmp(own[i].s->name, own[i - 1].s->name) != 0)
            continue;
        if (dsl_errors_add(errs, src, src_len, own[i].s->name_offset,
                           strlen(own[i].s->name),
                           "stream '%s' is defined twice; rename one of "
                           "them",
                           own[i].s->name) < 0)
            rc = DSL_ENOMEM;
        else if (rc == 0)
            rc = -1;
    }
    /* For taps: by name, the first definition first. */
    qsort(by_name, nb, sizeof(*by_name), cmp_stream_name);
    for (size_t i = 0; i < f->n_streams; i++) {
        int one = check_one(&c, f->streams[i]);
        if (one == DSL_ENOMEM)
            rc = DSL_ENOMEM;
        else if (one < 0 && rc == 0)
            rc = -1;
    }
    dsl__sort_errors(errs, from);
out:
    free(known);
    free(by_name);
    free(sinks);
    free(own);
    return rc;
}
