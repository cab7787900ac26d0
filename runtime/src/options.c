/*
 * The command line: the app's option table and the runtime's --flow.*
 * flags, --help and --describe (docs/apps.md). Configuration code only;
 * nothing here runs per event.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "flow/error.h"
#include "flow/keygroup.h"

static const char *const type_names[] = {
    "string",   "int",  "float", "bool", "enum",
    "duration", "path", "path",  "path", "expression",
};
static const char *const role_names[] = { "source", "processor", "sink" };

/* The runtime's flags, for --help and for "did you mean". */
static const struct {
    const char *name;
    const char *help;
} flow_flags[] = {
    { "input", "EP[,EP...]: where events come from (PULL; connects)" },
    { "output", "EP[,EP...][|EP...][;EP...]: where events go (PUSH; "
                "binds); every ';'-separated group gets every batch, split "
                "among its '|'-separated lanes" },
    { "error-output", "EP: where rejected events go (PUSH; binds)" },
    { "tap", "EP: also publish every output batch here (PUB; binds; what a "
             "subscriber has no room for is counted in drops)" },
    { "control", "EP: flowd's control endpoint (DEALER; connects)" },
    { "keys", "PATH: CURVE keys for tcp:// endpoints (mode 0600; from flowd)" },
    { "stream", "NAME: stream name, for metrics and logs" },
    { "label", "LABEL: the app's label in its stream" },
    { "instance", "N: instance index, 0-based" },
    { "epoch", "E: the epoch written in every frame sent; frames of an "
               "older epoch are dropped and counted in fenced (default: "
               "a new one per start, no fencing)" },
    { "producer-id", "ID: the producer written in every frame sent "
                     "(default: the label)" },
    { "partition-key-expression", "E: route by the text of expression E "
                                  "(docs/expressions.md) instead" },
    { "partition-key", "key|FIELD.PATH: route each event to the lane that "
                       "owns its key group: the key header, or a payload "
                       "field (default: whole batches in turn)" },
    { "key-groups", "K: key groups of keyed routing (default 128)" },
    { "metrics-json", "PATH: write the final metrics as JSON on exit (- is "
                      "stdout)" },
    { "batch-linger-us", "N: wait up to N us to fill a batch (default 0)" },
    { "hwm-events", "N: bound on events in flight per output (2048)" },
    { "batch-max", "N: most events in one batch (default 256)" },
    { "drain-ms", "N: how long a stop may take to flush the output and "
                  "the tap (default 5000)" },
    { "eos-exit", "N: exit after end of stream from N producers (0 never)" },
    { "state", "PATH: restore the app state from PATH, save it on exit" },
    { "cpus", "LIST|auto|any: CPUs to run on (0,2-3; default auto)" },
    { "instance-dir", "DIR: the instance's own directory; relative paths "
                      "resolve under it" },
    { "allow-path", "DIR: absolute paths may lie under DIR (repeatable)" },
    { "guarantee", "exactly-once|at-least-once|none: checkpoints with "
                   "barriers (default none; needs --flow.control)" },
    { "upstreams", "N: producer channels feeding the input but the "
                   "feedback ones; a checkpoint waits for a barrier from "
                   "each (default 1; 0 with --flow.feedback)" },
    { "feedback", "ID[,ID...]: producers whose channels are back edges of "
                  "a cycle: not aligned on, their frames after a snapshot "
                  "are recorded in it" },
    { "feedback-channels", "N: how many channels the --flow.feedback "
                           "producers make (default one per ID)" },
    { "open-input", "true|false: the input is a named destination, which "
                    "more producers may join: under a guarantee, end of "
                    "stream from every channel does not end the app "
                    "(default false)" },
    { "checkpoint-dir", "DIR: snapshots go to DIR/<n>/<stream>.<label>."
                        "<instance>.snap" },
    { "restore", "PATH[,PATH...]: snapshot files to restore from at start" },
    { "instances", "N: this app's parallelism, for key groups (default 1)" },
    { "kafka.brokers", "H:P[,H:P...]: the Kafka cluster's bootstrap servers" },
    { "kafka.config", "KEY=VALUE: a librdkafka property for every Kafka "
                      "client (repeatable; SASL, TLS)" },
    { "kafka.input", "TOPIC: read the input from this Kafka topic instead "
                     "of --flow.input" },
    { "kafka.group", "ID: the consumer group of --flow.kafka.input" },
    { "kafka.output", "TOPIC: write the output to this Kafka topic instead "
                      "of --flow.output" },
    { "kafka.error-output", "TOPIC: write rejected events to this Kafka "
                            "topic" },
    { "kafka.format", "msgpack|json: the record value (default msgpack)" },
    { "kafka.transactional-id", "ID: exactly-once into Kafka: the "
                                "transactional producer's id" },
};
#define N_FLOW_FLAGS (sizeof(flow_flags) / sizeof(flow_flags[0]))

static int usage(const flow_ctx *ctx, const char *fmt, const char *a,
                 const char *b)
{
    fprintf(stderr, "flow-%s: ", ctx->app->name);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nTry 'flow-%s --help'.\n", ctx->app->name);
    return -FLOW_EUSAGE;
}

static int bad_expr(flow_ctx *ctx, const char *opt, const char *v);

/* Edit distance, for suggestions (names are short). */
static size_t distance(const char *a, size_t al, const char *b)
{
    size_t bl = strlen(b);
    size_t row[64];
    if (al >= 63 || bl >= 63)
        return 99;
    for (size_t j = 0; j <= bl; j++)
        row[j] = j;
    for (size_t i = 1; i <= al; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bl; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] =
                sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[bl];
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, double *out)
{
    char *end;
    errno = 0;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "1", "yes", "on" };
    static const char *const no[] = { "false", "0", "no", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* A duration: a number and a unit (us, ms, s, m, h; bare = ms) -> µs. */
static int parse_duration(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || isspace((unsigned char)*s) || *s == '-')
        return -1;
    double v = strtod(s, &end);
    if (errno || !isfinite(v) || end == s)
        return -1;
    double mul;
    if (!*end || !strcmp(end, "ms"))
        mul = 1e3;
    else if (!strcmp(end, "us"))
        mul = 1;
    else if (!strcmp(end, "s"))
        mul = 1e6;
    else if (!strcmp(end, "m"))
        mul = 60e6;
    else if (!strcmp(end, "h"))
        mul = 3600e6;
    else
        return -1;
    v *= mul;
    if (v > 9e18)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Parses text as the option's type into val; returns 0 or -1. */
static int parse_value(const flow_option *o, const char *s, flow__optval *val)
{
    switch (o->type) {
    case FLOW_OPT_STRING:
        break;
    case FLOW_OPT_PATH:
    case FLOW_OPT_PATH_READ:
    case FLOW_OPT_PATH_APPEND:
        /* Where it may lie is judged once every flag is known. */
        if (!*s)
            return -1;
        break;
    case FLOW_OPT_INT:
        if (parse_int(s, &val->i))
            return -1;
        break;
    case FLOW_OPT_FLOAT:
        if (parse_float(s, &val->f))
            return -1;
        break;
    case FLOW_OPT_BOOL:
        if (parse_bool(s, &val->b))
            return -1;
        break;
    case FLOW_OPT_ENUM: {
        bool ok = false;
        for (size_t i = 0; o->values && o->values[i]; i++)
            ok = ok || !strcmp(o->values[i], s);
        if (!ok)
            return -1;
        break;
    }
    case FLOW_OPT_DURATION:
        if (parse_duration(s, &val->i))
            return -1;
        break;
    case FLOW_OPT_EXPR: {
        flow_expr_error err;
        flow_expr *e = NULL;
        if (flow_expr_compile(s, strlen(s), &e, &err))
            return -1;
        flow_expr_free(&val->expr);
        val->expr = e;
        break;
    }
    }
    val->s = s;
    val->has = true;
    return 0;
}

static const char *expect_of(const flow_option *o, char *buf, size_t size)
{
    switch (o->type) {
    case FLOW_OPT_INT:
        return "an integer";
    case FLOW_OPT_FLOAT:
        return "a number";
    case FLOW_OPT_BOOL:
        return "true or false";
    case FLOW_OPT_DURATION:
        return "a duration such as 500ms, 2s, 1m (a bare number is ms)";
    case FLOW_OPT_PATH:
    case FLOW_OPT_PATH_READ:
    case FLOW_OPT_PATH_APPEND:
        return "a file path";
    case FLOW_OPT_ENUM: {
        size_t n = (size_t)snprintf(buf, size, "one of:");
        for (size_t i = 0; o->values && o->values[i] && n < size; i++)
            n += (size_t)snprintf(buf + n, size - n, "%s %s", i ? "," : "",
                                  o->values[i]);
        return buf;
    }
    default:
        return "a string";
    }
}

static bool has_order(flow_opt_type t)
{
    return t == FLOW_OPT_INT || t == FLOW_OPT_FLOAT || t == FLOW_OPT_DURATION;
}

/* Compares two parsed values of an ordered option type. */
static int compare(const flow_option *o, const flow__optval *a,
                   const flow__optval *b)
{
    if (o->type == FLOW_OPT_FLOAT)
        return (a->f > b->f) - (a->f < b->f);
    return (a->i > b->i) - (a->i < b->i);
}

/* A bound as parsed; the table check has made sure it parses. */
static flow__optval bound_of(const flow_option *o, const char *text)
{
    flow__optval b = { 0 };
    (void)parse_value(o, text, &b);
    return b;
}

/*
 * Whether v lies within the option's bounds. Otherwise writes why into
 * msg ("0 is below the minimum 1 (the range is 1 to 100)"), with the
 * value as written (text), and returns -1.
 */
static int check_range(const flow_option *o, const flow__optval *v,
                       const char *text, char *msg, size_t size)
{
    flow__optval lo, hi;
    const char *side = NULL, *edge = NULL;
    if (!has_order(o->type))
        return 0;
    if (o->min && (lo = bound_of(o, o->min), compare(o, v, &lo) < 0)) {
        side = "below the minimum";
        edge = o->min;
    } else if (o->max && (hi = bound_of(o, o->max), compare(o, v, &hi) > 0)) {
        side = "above the maximum";
        edge = o->max;
    }
    if (!side)
        return 0;
    if (o->min && o->max)
        snprintf(msg, size, "%s is %s %s (the range is %s to %s)", text, side,
                 edge, o->min, o->max);
    else
        snprintf(msg, size, "%s is %s %s", text, side, edge);
    return -1;
}

/* The size a field of the option's type has (flow/app.h). */
static size_t field_size(flow_opt_type t)
{
    switch (t) {
    case FLOW_OPT_INT:
    case FLOW_OPT_DURATION:
        return sizeof(int64_t);
    case FLOW_OPT_FLOAT:
        return sizeof(double);
    case FLOW_OPT_BOOL:
        return sizeof(bool);
    default:
        return sizeof(const char *);
    }
}

/*
 * Checks one row of the app's table (the rules in flow/app.h) and parses
 * its default into val. Returns 0, or -1 with the bug written into why.
 */
static int check_row(const flow_app_desc *a, const flow_option *o,
                     flow__optval *val, char *why, size_t size)
{
    flow__optval b;
    char msg[512];
    if (o->type > FLOW_OPT_EXPR) {
        snprintf(why, size, "option '--%s' has an unknown type", o->name);
        return -1;
    }
    if (o->prefix &&
        ((o->type != FLOW_OPT_STRING && o->type != FLOW_OPT_EXPR) || o->def ||
         o->size || o->required)) {
        snprintf(why, size,
                 "prefix option '--%s.*' must be a string or expression "
                 "without default, field or required",
                 o->name);
        return -1;
    }
    if (o->def && !o->required && parse_value(o, o->def, val)) {
        snprintf(why, size, "the default '%s' of option '--%s' does not parse",
                 o->def, o->name);
        return -1;
    }
    if ((o->min || o->max) && !has_order(o->type)) {
        snprintf(why, size,
                 "option '--%s' has a min or max but is a %s (only int, "
                 "float and duration have bounds)",
                 o->name, type_names[o->type]);
        return -1;
    }
    const char *bounds[] = { o->min, o->max };
    for (size_t k = 0; k < 2; k++) {
        if (bounds[k] && parse_value(o, bounds[k], &b)) {
            snprintf(why, size, "the %s '%s' of option '--%s' does not parse",
                     k ? "max" : "min", bounds[k], o->name);
            return -1;
        }
    }
    if (o->min && o->max) {
        flow__optval lo = bound_of(o, o->min), hi = bound_of(o, o->max);
        if (compare(o, &lo, &hi) > 0) {
            snprintf(why, size, "option '--%s' has min %s above max %s",
                     o->name, o->min, o->max);
            return -1;
        }
    }
    if (val->has && check_range(o, val, o->def, msg, sizeof(msg))) {
        snprintf(why, size, "the default of option '--%s': %s", o->name, msg);
        return -1;
    }
    if (o->size == 0)
        return 0;
    if (o->size != field_size(o->type)) {
        snprintf(
            why, size,
            "option '--%s' fills a field of %zu bytes; its type %s takes %zu",
            o->name, o->size, type_names[o->type], field_size(o->type));
        return -1;
    }
    if (o->offset > a->state_size || a->state_size - o->offset < o->size) {
        snprintf(why, size,
                 "option '--%s' fills a field outside the app state "
                 "(offset %zu, state_size %zu)",
                 o->name, o->offset, a->state_size);
        return -1;
    }
    return 0;
}

/*
 * Makes the app state of state_size bytes, zeroed, and writes every
 * option that has a field into it (flow/app.h). Returns 0 or
 * -FLOW_ENOMEM.
 */
static int fill_state(flow_ctx *ctx)
{
    const flow_app_desc *a = ctx->app;
    if (a->state_size == 0)
        return 0;
    char *st = calloc(1, a->state_size);
    if (!st)
        return -FLOW_ENOMEM;
    for (size_t i = 0; i < ctx->nopts; i++) {
        const flow_option *o = &a->options[i];
        const flow__optval *v = &ctx->opts[i];
        const char *s = v->has ? v->s : NULL;
        if (o->size == 0)
            continue;
        switch (o->type) {
        case FLOW_OPT_INT:
        case FLOW_OPT_DURATION:
            memcpy(st + o->offset, &v->i, sizeof(v->i));
            break;
        case FLOW_OPT_FLOAT:
            memcpy(st + o->offset, &v->f, sizeof(v->f));
            break;
        case FLOW_OPT_BOOL:
            memcpy(st + o->offset, &v->b, sizeof(v->b));
            break;
        case FLOW_OPT_EXPR: {
            const flow_expr *e = v->has ? v->expr : NULL;
            memcpy(st + o->offset, &e, sizeof(e));
            break;
        }
        default:
            memcpy(st + o->offset, &s, sizeof(s));
            break;
        }
    }
    ctx->own_state = st;
    ctx->state = st;
    return 0;
}

static void print_help(const flow_ctx *ctx)
{
    const flow_app_desc *a = ctx->app;
    printf("flow-%s (%s): %s\n\nUsage: flow-%s [--option=value ...] "
           "[--flow.flag=value ...]\n\nOptions:\n",
           a->name, role_names[a->role], a->description, a->name);
    for (size_t i = 0; i < ctx->nopts; i++) {
        const flow_option *o = &a->options[i];
        char buf[512];
        printf("  --%s%s=<%s>\n      %s\n", o->name, o->prefix ? ".<key>" : "",
               type_names[o->type], o->description ? o->description : "");
        if (o->prefix)
            printf("      repeatable, any <key>\n");
        if (o->type == FLOW_OPT_ENUM)
            printf("      %s\n", expect_of(o, buf, sizeof(buf)));
        if (flow_opt_type_is_path(o->type))
            printf("      %s; relative to the instance directory, absolute "
                   "only under --flow.allow-path\n",
                   o->type == FLOW_OPT_PATH_READ     ? "read"
                   : o->type == FLOW_OPT_PATH_APPEND ? "appended to"
                                                     : "written (replaced)");
        if (o->min && o->max)
            printf("      range: %s to %s\n", o->min, o->max);
        else if (o->min)
            printf("      at least %s\n", o->min);
        else if (o->max)
            printf("      at most %s\n", o->max);
        if (o->required)
            printf("      required\n");
        else if (o->def)
            printf("      default: %s\n", o->def);
    }
    if (ctx->nopts == 0)
        printf("  (none)\n");
    printf("\nRuntime flags:\n");
    for (size_t i = 0; i < N_FLOW_FLAGS; i++)
        printf("  --flow.%s=%s\n", flow_flags[i].name, flow_flags[i].help);
    printf("\n  --help        print this help\n"
           "  --describe    print the app's description as JSON\n");
}

static void json_cstr(FILE *f, const char *s)
{
    if (!s)
        fputs("null", f);
    else
        flow__json_str(f, s, strlen(s));
}

/* A value in --describe: ints, floats and bools as JSON numbers and
 * booleans, anything else (durations too) as written. */
static void json_value(FILE *f, const flow_option *o, const flow__optval *v,
                       const char *text)
{
    if (o->type == FLOW_OPT_INT)
        fprintf(f, "%lld", (long long)v->i);
    else if (o->type == FLOW_OPT_FLOAT)
        fprintf(f, "%.17g", v->f);
    else if (o->type == FLOW_OPT_BOOL)
        fputs(v->b ? "true" : "false", f);
    else
        json_cstr(f, text);
}

static void print_describe(const flow_ctx *ctx)
{
    const flow_app_desc *a = ctx->app;
    FILE *f = stdout;
    fputs("{\"name\": ", f);
    json_cstr(f, a->name);
    fprintf(f, ", \"role\": \"%s\", \"description\": ", role_names[a->role]);
    json_cstr(f, a->description);
    fputs(", \"options\": [", f);
    for (size_t i = 0; i < ctx->nopts; i++) {
        const flow_option *o = &a->options[i];
        const flow__optval *v = &ctx->opts[i];
        fprintf(f, "%s{\"name\": ", i ? ", " : "");
        json_cstr(f, o->name);
        fprintf(f, ", \"type\": \"%s\", \"default\": ", type_names[o->type]);
        if (!o->def || o->required)
            fputs("null", f);
        else
            json_value(f, o, v, o->def);
        if (has_order(o->type)) {
            const char *bounds[] = { o->min, o->max };
            for (size_t k = 0; k < 2; k++) {
                fprintf(f, ", \"%s\": ", k ? "max" : "min");
                if (!bounds[k]) {
                    fputs("null", f);
                } else {
                    flow__optval b = bound_of(o, bounds[k]);
                    json_value(f, o, &b, bounds[k]);
                }
            }
        }
        fprintf(f, ", \"required\": %s, ", o->required ? "true" : "false");
        if (o->prefix)
            fputs("\"prefix\": true, ", f);
        fputs("\"description\": ", f);
        json_cstr(f, o->description);
        if (flow_opt_type_is_path(o->type))
            fprintf(f, ", \"access\": \"%s\"",
                    flow_path_access_name(flow_opt_path_access(o->type)));
        fputs(", \"values\": ", f);
        if (o->type == FLOW_OPT_ENUM && o->values) {
            fputc('[', f);
            for (size_t j = 0; o->values[j]; j++) {
                fputs(j ? ", " : "", f);
                json_cstr(f, o->values[j]);
            }
            fputc(']', f);
        } else {
            fputs("null", f);
        }
        fputc('}', f);
    }
    fputs("]}\n", f);
}

/* Parses a non-negative integer runtime flag. */
static int flag_uint(flow_ctx *ctx, const char *name, const char *v,
                     uint64_t max, uint64_t *out)
{
    int64_t i;
    if (parse_int(v, &i) || i < 0 || (uint64_t)i > max) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)max);
        fprintf(stderr,
                "flow-%s: --flow.%s=%s: expected an integer from 0 "
                "to %s\n",
                ctx->app->name, name, v, buf);
        return -FLOW_EUSAGE;
    }
    *out = (uint64_t)i;
    return 0;
}

static int check_endpoints(flow_ctx *ctx, const char *flag, const char *v,
                           bool bind)
{
    flow_endpoint eps[FLOW_ENDPOINTS_MAX];
    size_t n;
    char err[512], list[4096];
    /* The output's groups are separated by ';' and their lanes by '|':
     * check each list. */
    bool groups = !strcmp(flag, "output");
    for (const char *p = v;;) {
        const char *semi = groups ? strpbrk(p, ";|") : NULL;
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (len >= sizeof(list))
            return usage(ctx, "--flow.%s: '%.40s...' is too long", flag, p);
        memcpy(list, p, len);
        list[len] = '\0';
        if (flow_endpoint_parse_list(list, bind, eps, FLOW_ENDPOINTS_MAX, &n,
                                     err, sizeof(err)))
            return usage(ctx, "--flow.%s: %s", flag, err);
        if (!semi)
            return 0;
        p = semi + 1;
    }
}

static int set_flow_flag(flow_ctx *ctx, const char *name, size_t nlen,
                         const char *v)
{
    flow__conf *c = &ctx->conf;
    uint64_t u;
    char nm[64];
    if (nlen >= sizeof(nm))
        nlen = sizeof(nm) - 1;
    memcpy(nm, name, nlen);
    nm[nlen] = '\0';
    if (!v)
        return usage(ctx, "--flow.%s needs a value (--flow.%s=...)", nm, nm);
#define STR_FLAG(flag, field) \
    if (!strcmp(nm, flag)) {  \
        c->field = v;         \
        return 0;             \
    }
    if (!strcmp(nm, "input") || !strcmp(nm, "output") ||
        !strcmp(nm, "error-output") || !strcmp(nm, "tap") ||
        !strcmp(nm, "control")) {
        bool bind = !strcmp(nm, "output") || !strcmp(nm, "error-output") ||
                    !strcmp(nm, "tap");
        if (check_endpoints(ctx, nm, v, bind))
            return -FLOW_EUSAGE;
    }
    if (!strncmp(nm, "kafka.", 6)) {
        flow__kafka_conf *k = &c->kafka;
        const char *kn = nm + 6;
        if (!*v)
            return usage(ctx, "--flow.%s: give a value%s", nm, "");
        if (!strcmp(kn, "config")) {
            if (!strchr(v, '=') || v[0] == '=')
                return usage(ctx, "--flow.kafka.config=%s: give KEY=VALUE%s", v,
                             " (a librdkafka property)");
            if (k->nconfig == FLOW__KAFKA_CONFIG_MAX)
                return usage(ctx, "--flow.kafka.config: at most %s%s", "64",
                             " are allowed");
            k->config[k->nconfig++] = v;
            return 0;
        }
        if (!strcmp(kn, "format")) {
            if (strcmp(v, "msgpack") && strcmp(v, "json"))
                return usage(ctx,
                             "--flow.kafka.format=%s: give msgpack or "
                             "json%s",
                             v, "");
            k->json = v[0] == 'j';
            return 0;
        }
        const char **f = !strcmp(kn, "brokers")        ? &k->brokers
                         : !strcmp(kn, "input")        ? &k->input
                         : !strcmp(kn, "group")        ? &k->group
                         : !strcmp(kn, "output")       ? &k->output
                         : !strcmp(kn, "error-output") ? &k->error_output
                         : !strcmp(kn, "transactional-id")
                             ? &k->transactional_id
                             : NULL;
        if (f) {
            *f = v;
            return 0;
        }
    }
    STR_FLAG("input", input)
    STR_FLAG("output", output)
    STR_FLAG("error-output", error_output)
    STR_FLAG("tap", tap)
    STR_FLAG("control", control)
    STR_FLAG("stream", stream)
    STR_FLAG("label", label)
    STR_FLAG("metrics-json", metrics_json)
    STR_FLAG("state", state)
    STR_FLAG("keys", keys)
    STR_FLAG("checkpoint-dir", ckpt_dir)
    STR_FLAG("restore", restore)
    STR_FLAG("feedback", feedback)
#undef STR_FLAG
    if (!strcmp(nm, "guarantee")) {
        if (!strcmp(v, "none"))
            c->guarantee = FLOW_GUARANTEE_NONE;
        else if (!strcmp(v, "at-least-once"))
            c->guarantee = FLOW_GUARANTEE_AT_LEAST_ONCE;
        else if (!strcmp(v, "exactly-once"))
            c->guarantee = FLOW_GUARANTEE_EXACTLY_ONCE;
        else
            return usage(ctx,
                         "--flow.guarantee=%s: give exactly-once, "
                         "at-least-once or none%s",
                         v, "");
        return 0;
    }
    if (!strcmp(nm, "partition-key-expression")) {
        if (bad_expr(ctx, "flow.partition-key-expression", v))
            return -FLOW_EUSAGE;
        flow_expr_error err;
        flow_expr_free(&c->partition_expr);
        if (flow_expr_compile(v, strlen(v), &c->partition_expr, &err))
            return -FLOW_ENOMEM;
        return 0;
    }
    if (!strcmp(nm, "producer-id") || !strcmp(nm, "partition-key")) {
        size_t len = strlen(v);
        if (len == 0 || len > FLOW_WIRE_MAX_NAME)
            return usage(ctx, "--flow.%s: give 1 to 255 bytes%s", nm,
                         nm[0] == 'p' && nm[1] == 'a'
                             ? " ('key' or a payload field path)"
                             : "");
        if (nm[1] == 'a')
            c->partition_key = v;
        else
            c->producer_id = v;
        return 0;
    }
    if (!strcmp(nm, "instance-dir") || !strcmp(nm, "allow-path")) {
        if (v[0] != '/')
            return usage(ctx, "--flow.%s=%s: give an absolute directory", nm,
                         v);
        if (nm[0] == 'i') {
            c->instance_dir = v;
            return 0;
        }
        if (c->nallow == FLOW__ALLOW_MAX)
            return usage(ctx, "--flow.allow-path: at most %s%s are allowed",
                         "32", " directories");
        c->allow[c->nallow++] = v;
        return 0;
    }
    if (!strcmp(nm, "cpus")) {
        char err[160];
        c->cpus = v;
        if (!strcmp(v, "auto"))
            c->cpus_mode = FLOW_PLACE_AUTO;
        else if (!strcmp(v, "any"))
            c->cpus_mode = FLOW_PLACE_ANY;
        else if (flow_cpus_parse(v, &c->cpus_set, err, sizeof(err)))
            return usage(ctx, "--flow.cpus=%s: %s", v, err);
        else
            c->cpus_mode = FLOW_PLACE_FIXED;
        return 0;
    }
    if (!strcmp(nm, "instance")) {
        if (flag_uint(ctx, nm, v, UINT32_MAX, &u))
            return -FLOW_EUSAGE;
        c->instance = (uint32_t)u;
    } else if (!strcmp(nm, "epoch")) {
        if (flag_uint(ctx, nm, v, UINT64_MAX >> 1, &u) || u == 0)
            return u == 0
                       ? usage(ctx, "--flow.%s=%s: must be at least 1", nm, v)
                       : -FLOW_EUSAGE;
        c->epoch = u;
    } else if (!strcmp(nm, "key-groups")) {
        if (flag_uint(ctx, nm, v, 65536, &u) || u == 0)
            return u == 0
                       ? usage(ctx, "--flow.%s=%s: must be at least 1", nm, v)
                       : -FLOW_EUSAGE;
        c->key_groups = (uint32_t)u;
    } else if (!strcmp(nm, "batch-linger-us")) {
        if (flag_uint(ctx, nm, v, 10000000, &u))
            return -FLOW_EUSAGE;
        c->linger_us = (int64_t)u;
    } else if (!strcmp(nm, "hwm-events")) {
        if (flag_uint(ctx, nm, v, 100000000, &u) || u == 0)
            return u == 0
                       ? usage(ctx, "--flow.%s=%s: must be at least 1", nm, v)
                       : -FLOW_EUSAGE;
        c->hwm_events = u;
    } else if (!strcmp(nm, "batch-max")) {
        if (flag_uint(ctx, nm, v, FLOW_WIRE_MAX_EVENTS, &u) || u == 0)
            return u == 0
                       ? usage(ctx, "--flow.%s=%s: must be at least 1", nm, v)
                       : -FLOW_EUSAGE;
        c->batch_max = (uint32_t)u;
    } else if (!strcmp(nm, "drain-ms")) {
        if (flag_uint(ctx, nm, v, 3600000, &u))
            return -FLOW_EUSAGE;
        c->drain_ms = (int64_t)u;
    } else if (!strcmp(nm, "eos-exit")) {
        if (flag_uint(ctx, nm, v, 1000000, &u))
            return -FLOW_EUSAGE;
        c->eos_exit = (uint32_t)u;
    } else if (!strcmp(nm, "open-input")) {
        if (parse_bool(v, &c->open_input))
            return usage(ctx, "--flow.open-input=%s: give true or false%s", v,
                         "");
    } else if (!strcmp(nm, "feedback-channels")) {
        if (flag_uint(ctx, nm, v, 1000000, &u))
            return -FLOW_EUSAGE;
        c->feedback_channels = (uint32_t)u;
    } else if (!strcmp(nm, "upstreams") || !strcmp(nm, "instances")) {
        if (flag_uint(ctx, nm, v, 1000000, &u) || u == 0)
            return u == 0
                       ? usage(ctx, "--flow.%s=%s: must be at least 1", nm, v)
                       : -FLOW_EUSAGE;
        if (nm[0] == 'u')
            c->upstreams = (uint32_t)u;
        else
            c->instances = (uint32_t)u;
    } else {
        const char *best = NULL;
        size_t bd = 3;
        for (size_t i = 0; i < N_FLOW_FLAGS; i++) {
            size_t d = distance(nm, strlen(nm), flow_flags[i].name);
            if (d < bd) {
                bd = d;
                best = flow_flags[i].name;
            }
        }
        if (best)
            return usage(ctx,
                         "unknown runtime flag '--flow.%s'; did you "
                         "mean '--flow.%s'?",
                         nm, best);
        return usage(ctx, "unknown runtime flag '--flow.%s'%s", nm,
                     " (see --help)");
    }
    return 0;
}

/* A bad expression: the message with the expression and a caret. */
static int bad_expr(flow_ctx *ctx, const char *opt, const char *v)
{
    flow_expr_error err;
    flow_expr *e = NULL;
    char caret[2048];
    if (flow_expr_compile(v, strlen(v), &e, &err) == 0) {
        flow_expr_free(&e);
        return 0;
    }
    fprintf(stderr,
            "flow-%s: option '--%s': bad expression at byte %zu:\n%s\n"
            "Try 'flow-%s --help'; docs/expressions.md lists the language.\n",
            ctx->app->name, opt, err.offset,
            flow_expr_error_caret(v, &err, caret, sizeof(caret)),
            ctx->app->name);
    return -FLOW_EUSAGE;
}

/* --NAME.KEY=VALUE of a prefix row: appended to ctx->pfx. */
static int set_prefix_option(flow_ctx *ctx, size_t i, const char *name,
                             size_t nlen, const char *v)
{
    const flow_option *o = &ctx->app->options[i];
    size_t plen = strlen(o->name) + 1;
    char opt[256];
    snprintf(opt, sizeof(opt), "%.*s", (int)nlen, name);
    if (nlen == plen)
        return usage(ctx, "option '--%s' needs a key (--%sKEY=...)", opt, opt);
    if (!v)
        return usage(ctx, "option '--%s' needs a value (--%s=...)", opt, opt);
    flow__prefixval pv = { .opt = i, .s = v };
    if (o->type == FLOW_OPT_EXPR) {
        flow_expr_error err;
        if (flow_expr_compile(v, strlen(v), &pv.expr, &err))
            return bad_expr(ctx, opt, v);
    }
    pv.key = strndup(name + plen, nlen - plen);
    flow__prefixval *np = realloc(ctx->pfx, (ctx->npfx + 1) * sizeof(*np));
    if (!pv.key || !np) {
        free(pv.key);
        flow_expr_free(&pv.expr);
        if (np)
            ctx->pfx = np;
        return -FLOW_ENOMEM;
    }
    ctx->pfx = np;
    ctx->pfx[ctx->npfx++] = pv;
    return 0;
}

static int set_app_option(flow_ctx *ctx, const char *name, size_t nlen,
                          const char *v)
{
    for (size_t i = 0; i < ctx->nopts; i++) {
        const flow_option *o = &ctx->app->options[i];
        size_t ol = strlen(o->name);
        if (o->prefix && nlen > ol && name[ol] == '.' &&
            memcmp(o->name, name, ol) == 0)
            return set_prefix_option(ctx, i, name, nlen, v);
        if (ol != nlen || memcmp(o->name, name, nlen))
            continue;
        if (o->prefix)
            return usage(ctx, "option '--%s' needs a key (--%s.KEY=...)",
                         o->name, o->name);
        if (!v) {
            if (o->type != FLOW_OPT_BOOL)
                return usage(ctx, "option '--%s' needs a value (--%s=...)",
                             o->name, o->name);
            v = "true";
        }
        flow__optval val = { 0 };
        if (o->type == FLOW_OPT_EXPR && parse_value(o, v, &val))
            return bad_expr(ctx, o->name, v);
        if (parse_value(o, v, &val)) {
            char buf[512], msg[1024];
            snprintf(msg, sizeof(msg), "'%s' is not %s", v,
                     expect_of(o, buf, sizeof(buf)));
            return usage(ctx, "option '--%s': %s", o->name, msg);
        }
        char msg[1024];
        if (check_range(o, &val, v, msg, sizeof(msg)))
            return usage(ctx, "option '--%s': %s", o->name, msg);
        val.set = true;
        flow_expr_free(&ctx->opts[i].expr);
        ctx->opts[i] = val;
        return 0;
    }
    char nm[128];
    if (nlen >= sizeof(nm))
        nlen = sizeof(nm) - 1;
    memcpy(nm, name, nlen);
    nm[nlen] = '\0';
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < ctx->nopts; i++) {
        size_t d = distance(nm, nlen, ctx->app->options[i].name);
        if (d < bd) {
            bd = d;
            best = ctx->app->options[i].name;
        }
    }
    if (best)
        return usage(ctx, "unknown option '--%s'; did you mean '--%s'?", nm,
                     best);
    return usage(ctx, "unknown option '--%s'%s", nm,
                 " (see --help for this app's options)");
}

/* Says why an option's path cannot be used (at start, not at exit). */
static int path_refused(const flow_ctx *ctx, const char *opt, const char *why)
{
    fprintf(stderr, "flow-%s: %s: %s\n", ctx->app->name, opt, why);
    return -FLOW_EUSAGE;
}

/*
 * Builds the path rules from --flow.instance-dir and --flow.allow-path and
 * checks every option that names a file against them and the disk, so
 * that a bad path stops the app before it runs.
 */
static int check_paths(flow_ctx *ctx)
{
    flow__conf *c = &ctx->conf;
    char why[1024], opt[160];
    c->paths = (flow_path_rules){
        .base = c->instance_dir,
        .allow = c->allow,
        .nallow = c->nallow,
        .confined = c->instance_dir || c->nallow,
        .record = c->instance_dir != NULL,
    };
    if (c->state && !*c->state)
        c->state = NULL;
    if (c->metrics_json && strcmp(c->metrics_json, "-") != 0 &&
        flow_path_probe(&c->paths, c->metrics_json, FLOW_PATH_WRITE, why,
                        sizeof(why)))
        return path_refused(ctx, "--flow.metrics-json", why);
    if (c->state &&
        flow_path_probe(&c->paths, c->state, FLOW_PATH_WRITE, why, sizeof(why)))
        return path_refused(ctx, "--flow.state", why);
    for (size_t i = 0; i < ctx->nopts; i++) {
        const flow_option *o = &ctx->app->options[i];
        const flow__optval *v = &ctx->opts[i];
        if (!flow_opt_type_is_path(o->type) || !v->has)
            continue;
        if (flow_path_probe(&c->paths, v->s, flow_opt_path_access(o->type), why,
                            sizeof(why))) {
            snprintf(opt, sizeof(opt), "--%s", o->name);
            return path_refused(ctx, opt, why);
        }
    }
    return 0;
}

int flow__parse_args(flow_ctx *ctx, int argc, char **argv, bool *done,
                     int *status)
{
    const flow_app_desc *a = ctx->app;
    bool help = false, describe = false;

    *done = false;
    ctx->nopts = 0;
    while (a->options && a->options[ctx->nopts].name)
        ctx->nopts++;
    ctx->opts = calloc(ctx->nopts + 1, sizeof(*ctx->opts));
    if (!ctx->opts)
        return -FLOW_ENOMEM;
    /* The table first, with the defaults: a row that breaks the rules is
     * an app bug. */
    for (size_t i = 0; i < ctx->nopts; i++) {
        char why[1024];
        if (check_row(a, &a->options[i], &ctx->opts[i], why, sizeof(why))) {
            fprintf(stderr, "flow-%s: bug: %s\n", a->name, why);
            *done = true;
            *status = 1;
            return -FLOW_EINVAL;
        }
    }
    flow__conf *c = &ctx->conf;
    c->hwm_events = 2048;
    c->batch_max = 256;
    c->batch_bytes = 256 * 1024;
    c->drain_ms = 5000;
    c->instances = 1;
    c->label = a->name;
    c->stream = "";
    c->key_groups = FLOW_KEYGROUPS_DEFAULT;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            help = true;
            continue;
        }
        if (!strcmp(arg, "--describe")) {
            describe = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0' || arg[2] == '=') {
            *done = true;
            *status = 2;
            return usage(ctx, "unexpected argument '%s'%s", arg,
                         "; options are --key=value");
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *v = eq ? eq + 1 : NULL;
        int rc;
        if (nlen > 5 && !strncmp(name, "flow.", 5))
            rc = set_flow_flag(ctx, name + 5, nlen - 5, v);
        else
            rc = set_app_option(ctx, name, nlen, v);
        if (rc) {
            *done = true;
            *status = 2;
            return rc;
        }
    }
    if (help) {
        print_help(ctx);
        *done = true;
        *status = 0;
        return 0;
    }
    if (describe) {
        print_describe(ctx);
        *done = true;
        *status = 0;
        return 0;
    }
    for (size_t i = 0; i < ctx->nopts; i++) {
        const flow_option *o = &a->options[i];
        if (o->required && !ctx->opts[i].set) {
            *done = true;
            *status = 2;
            return usage(ctx, "option '--%s' is required (%s)", o->name,
                         o->description ? o->description : "");
        }
    }
    if (!c->producer_id)
        c->producer_id = c->label;
    int rc = check_paths(ctx);
    if (rc) {
        *done = true;
        *status = 2;
        return rc;
    }
    return fill_state(ctx);
}

void flow__opts_free(flow_ctx *ctx)
{
    flow_expr_free(&ctx->conf.partition_expr);
    for (size_t i = 0; ctx->opts && i < ctx->nopts; i++)
        flow_expr_free(&ctx->opts[i].expr);
    for (size_t i = 0; i < ctx->npfx; i++) {
        free(ctx->pfx[i].key);
        flow_expr_free(&ctx->pfx[i].expr);
    }
    free(ctx->pfx);
    ctx->pfx = NULL;
    ctx->npfx = 0;
    free(ctx->opts);
    ctx->opts = NULL;
    if (ctx->state == ctx->own_state)
        ctx->state = NULL;
    free(ctx->own_state);
    ctx->own_state = NULL;
}

static const flow__optval *find(flow_ctx *ctx, const char *name,
                                flow_opt_type type)
{
    for (size_t i = 0; i < ctx->nopts; i++) {
        const flow_option *o = &ctx->app->options[i];
        if (!strcmp(o->name, name)) {
            /* Asking with the wrong type is a programmer error. */
            assert(o->type == type || type == (flow_opt_type)-1 ||
                   (type == FLOW_OPT_PATH && flow_opt_type_is_path(o->type)));
            return &ctx->opts[i];
        }
    }
    assert(!"no such option in the app's table");
    return NULL;
}

const char *flow_opt_str(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, (flow_opt_type)-1);
    return v && v->has ? v->s : NULL;
}

int64_t flow_opt_int(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, FLOW_OPT_INT);
    return v ? v->i : 0;
}

double flow_opt_float(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, FLOW_OPT_FLOAT);
    return v ? v->f : 0;
}

bool flow_opt_bool(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, FLOW_OPT_BOOL);
    return v ? v->b : false;
}

const char *flow_opt_enum(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, FLOW_OPT_ENUM);
    return v && v->has ? v->s : NULL;
}

int64_t flow_opt_duration_us(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, FLOW_OPT_DURATION);
    return v ? v->i : 0;
}

bool flow_opt_type_is_path(flow_opt_type t)
{
    return t == FLOW_OPT_PATH || t == FLOW_OPT_PATH_READ ||
           t == FLOW_OPT_PATH_APPEND;
}

flow_path_access flow_opt_path_access(flow_opt_type t)
{
    return t == FLOW_OPT_PATH_READ     ? FLOW_PATH_READ
           : t == FLOW_OPT_PATH_APPEND ? FLOW_PATH_APPEND
                                       : FLOW_PATH_WRITE;
}

const char *flow_opt_path(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, FLOW_OPT_PATH);
    return v && v->has ? v->s : NULL;
}

const flow_path_rules *flow_path_rules_of(flow_ctx *ctx)
{
    return &ctx->conf.paths;
}

const flow_expr *flow_opt_expr(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, FLOW_OPT_EXPR);
    return v && v->has ? v->expr : NULL;
}

/* The i-th value of prefix option name, or NULL. */
static const flow__prefixval *prefix_at(flow_ctx *ctx, const char *name,
                                        size_t i)
{
    (void)find(ctx, name, (flow_opt_type)-1);
    for (size_t k = 0; k < ctx->npfx; k++) {
        if (strcmp(ctx->app->options[ctx->pfx[k].opt].name, name) != 0)
            continue;
        if (i-- == 0)
            return &ctx->pfx[k];
    }
    return NULL;
}

size_t flow_opt_prefix_count(flow_ctx *ctx, const char *name)
{
    size_t n = 0;
    (void)find(ctx, name, (flow_opt_type)-1);
    for (size_t k = 0; k < ctx->npfx; k++)
        n += strcmp(ctx->app->options[ctx->pfx[k].opt].name, name) == 0;
    return n;
}

const char *flow_opt_prefix_key(flow_ctx *ctx, const char *name, size_t i)
{
    const flow__prefixval *p = prefix_at(ctx, name, i);
    return p ? p->key : NULL;
}

const char *flow_opt_prefix_value(flow_ctx *ctx, const char *name, size_t i)
{
    const flow__prefixval *p = prefix_at(ctx, name, i);
    return p ? p->s : NULL;
}

const flow_expr *flow_opt_prefix_expr(flow_ctx *ctx, const char *name, size_t i)
{
    const flow__prefixval *p = prefix_at(ctx, name, i);
    return p ? p->expr : NULL;
}

bool flow_opt_is_set(flow_ctx *ctx, const char *name)
{
    const flow__optval *v = find(ctx, name, (flow_opt_type)-1);
    return v && v->set;
}
