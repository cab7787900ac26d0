#include "props.h"

#include <flow/cpus.h>
#include <flow/expr.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char allowed[] =
    "allowed are app.<label>.<option>, app.*.<option>, "
    "deployer.<label>.<prop>, deployer.*.<prop>, deployer.packaging, "
    "flow.guarantee, flow.checkpoint.interval, flow.checkpoint.timeout, "
    "flow.checkpoint.retain and flow.key-groups";

static const char *const deployer_props[] = {
    "count",       "transport", "maxRestarts",    "restartWindow",
    "stopTimeout", "cpus",      "errorThreshold", "memory",
    "cpu",         "disk",      "binder",         "binder.format",
};

/* SCDF's sizes (memory, disk): a whole number of mebibytes, with m or g
 * (gibibytes) after it. */
static bool size_ok(const char *v)
{
    char *e;
    long n = strtol(v, &e, 10);

    if (e == v || n <= 0 || n > 1048576)
        return false;
    if (*e == 'm' || *e == 'M' || *e == 'g' || *e == 'G')
        e++;
    return *e == '\0';
}

/* A Kubernetes CPU quantity as SCDF passes it on: cores (1, 0.5) or
 * millicores (500m). */
static bool cpu_ok(const char *v)
{
    char *e;
    double n = strtod(v, &e);

    if (e == v || !(n > 0) || n > 1024 || strchr(v, 'e') || strchr(v, 'E'))
        return false;
    if (*e == 'm' && strchr(v, '.') == NULL)
        e++;
    return *e == '\0';
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *e;

    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool has_label(const char *label, size_t len, const char *const *labels,
                      size_t n)
{
    if (len == 1 && label[0] == '*')
        return true;
    for (size_t i = 0; i < n; i++)
        if (strlen(labels[i]) == len && memcmp(labels[i], label, len) == 0)
            return true;
    return false;
}

static int check_deployer(const char *key, const char *prop, const char *v,
                          char *err, size_t errlen)
{
    long n;
    size_t i;

    for (i = 0; i < sizeof deployer_props / sizeof deployer_props[0]; i++)
        if (strcmp(prop, deployer_props[i]) == 0)
            break;
    if (i == sizeof deployer_props / sizeof deployer_props[0]) {
        snprintf(err, errlen,
                 "unknown deployer property '%s': allowed are count, "
                 "transport, maxRestarts, restartWindow, stopTimeout, cpus, "
                 "errorThreshold, memory, cpu, disk, binder and binder.format",
                 key);
        return -1;
    }
    if (strcmp(prop, "count") == 0 && !parse_long(v, 1, SRV_MAX_COUNT, &n)) {
        snprintf(err, errlen,
                 "'%s' must be a whole number from 1 to %d, not '%s'", key,
                 SRV_MAX_COUNT, v);
        return -1;
    }
    if ((strcmp(prop, "memory") == 0 || strcmp(prop, "disk") == 0) &&
        !size_ok(v)) {
        snprintf(err, errlen,
                 "'%s' must be mebibytes as SCDF spells them (512, 512m or "
                 "2g), not '%s'",
                 key, v);
        return -1;
    }
    if (strcmp(prop, "cpu") == 0 && !cpu_ok(v)) {
        snprintf(err, errlen,
                 "'%s' must be cores (1, 0.5) or millicores (500m), not '%s'",
                 key, v);
        return -1;
    }
    if (strcmp(prop, "transport") == 0 && strcmp(v, "ipc") != 0 &&
        strcmp(v, "tcp") != 0) {
        snprintf(err, errlen, "'%s' must be ipc or tcp, not '%s'", key, v);
        return -1;
    }
    if (strcmp(prop, "binder") == 0 && strcmp(v, "kafka") != 0 &&
        strcmp(v, "zeromq") != 0) {
        snprintf(err, errlen, "'%s' must be kafka or zeromq, not '%s'", key, v);
        return -1;
    }
    if (strcmp(prop, "binder.format") == 0 && strcmp(v, "json") != 0 &&
        strcmp(v, "msgpack") != 0) {
        snprintf(err, errlen, "'%s' must be msgpack or json, not '%s'", key, v);
        return -1;
    }
    if (strcmp(prop, "cpus") == 0 && strcmp(v, "auto") != 0 &&
        strcmp(v, "any") != 0) {
        /* The apps run on this machine: a CPU flowd may not use, they may
         * not either, so say so now rather than through a crash loop. */
        cpu_set_t set;
        char why[160];
        if (flow_cpus_parse(v, &set, why, sizeof why)) {
            snprintf(err, errlen, "'%s' must be auto, any or a CPU list: %s",
                     key, why);
            return -1;
        }
    }
    if ((strcmp(prop, "maxRestarts") == 0 ||
         strcmp(prop, "restartWindow") == 0) &&
        !parse_long(v, 0, 1000000, &n)) {
        snprintf(err, errlen,
                 "'%s' must be a whole number from 0 to 1000000, not "
                 "'%s'",
                 key, v);
        return -1;
    }
    if (strcmp(prop, "errorThreshold") == 0 && !parse_long(v, 0, 100, &n)) {
        snprintf(err, errlen,
                 "'%s' must be a percentage from 0 to 100 (of an app's "
                 "events over the last 10 s that may fail before its "
                 "stream is degraded), not '%s'",
                 key, v);
        return -1;
    }
    if (strcmp(prop, "stopTimeout") == 0 && !parse_long(v, 0, 600000, &n)) {
        snprintf(err, errlen,
                 "'%s' must be milliseconds from 0 to 600000, not '%s'", key,
                 v);
        return -1;
    }
    return 0;
}

const char *srv_guarantee_name(srv_guarantee g)
{
    switch (g) {
    case SRV_GUARANTEE_EXACTLY_ONCE:
        return "exactly-once";
    case SRV_GUARANTEE_AT_LEAST_ONCE:
        return "at-least-once";
    default:
        return "none";
    }
}

static bool parse_guarantee(const char *v, srv_guarantee *g)
{
    for (int k = SRV_GUARANTEE_NONE; k <= SRV_GUARANTEE_EXACTLY_ONCE; k++)
        if (strcmp(v, srv_guarantee_name((srv_guarantee)k)) == 0) {
            *g = (srv_guarantee)k;
            return true;
        }
    return false;
}

int srv_props_duration_ms(const char *v, int64_t *out)
{
    char *e;

    errno = 0;
    long long n = strtoll(v, &e, 10);
    if (errno || e == v || n < 0 || n > 86400000LL)
        return -1;
    if (strcmp(e, "ms") == 0 || *e == '\0')
        *out = n;
    else if (strcmp(e, "s") == 0)
        *out = n * 1000;
    else if (strcmp(e, "m") == 0)
        *out = n * 60000;
    else
        return -1;
    return 0;
}

/* flow.*: the stream-level properties of its delivery guarantee
 * (docs/flowd.md, "Checkpoints and recovery"). */
static int check_flow(const char *key, const char *v, char *err, size_t errlen)
{
    srv_guarantee g;
    int64_t ms;
    long n;

    if (strcmp(key, "flow.guarantee") == 0) {
        if (parse_guarantee(v, &g))
            return 0;
        snprintf(err, errlen,
                 "'flow.guarantee' must be exactly-once, at-least-once or "
                 "none, not '%s'",
                 v);
        return -1;
    }
    if (strcmp(key, "flow.checkpoint.interval") == 0 ||
        strcmp(key, "flow.checkpoint.timeout") == 0) {
        if (srv_props_duration_ms(v, &ms) == 0 && ms >= 10 && ms <= 3600000)
            return 0;
        snprintf(err, errlen,
                 "'%s' must be a duration from 10ms to 1h (such as 500ms, "
                 "1s or 2m), not '%s'",
                 key, v);
        return -1;
    }
    if (strcmp(key, "flow.checkpoint.retain") == 0) {
        if (parse_long(v, 1, 100, &n))
            return 0;
        snprintf(err, errlen,
                 "'flow.checkpoint.retain' must be a whole number of "
                 "complete checkpoints from 1 to 100, not '%s'",
                 v);
        return -1;
    }
    if (strcmp(key, "flow.key-groups") == 0) {
        if (parse_long(v, SRV_MAX_COUNT, 32768, &n))
            return 0;
        snprintf(err, errlen,
                 "'flow.key-groups' must be a whole number from %d (the "
                 "most instances of an app) to 32768, not '%s'",
                 SRV_MAX_COUNT, v);
        return -1;
    }
    snprintf(err, errlen,
             "unknown deployment property '%s': the stream's are "
             "flow.guarantee, flow.checkpoint.interval, "
             "flow.checkpoint.timeout, flow.checkpoint.retain and "
             "flow.key-groups",
             key);
    return -1;
}

void srv_props_flow(const json_t *props, srv_flow_props *out)
{
    const char *v;
    long n;

    memset(out, 0, sizeof *out);
    out->guarantee = SRV_GUARANTEE_EXACTLY_ONCE;
    out->interval_ms = 1000;
    out->timeout_ms = 10000;
    out->retain = 3;
    out->key_groups = 128;
    if (!props)
        return;
    v = json_string_value(json_object_get(props, "flow.guarantee"));
    if (v && parse_guarantee(v, &out->guarantee))
        out->guarantee_set = true;
    v = json_string_value(json_object_get(props, "flow.checkpoint.interval"));
    if (v)
        srv_props_duration_ms(v, &out->interval_ms);
    v = json_string_value(json_object_get(props, "flow.checkpoint.timeout"));
    if (v)
        srv_props_duration_ms(v, &out->timeout_ms);
    v = json_string_value(json_object_get(props, "flow.checkpoint.retain"));
    if (v && parse_long(v, 1, 100, &n))
        out->retain = (int)n;
    v = json_string_value(json_object_get(props, "flow.key-groups"));
    if (v && parse_long(v, SRV_MAX_COUNT, 32768, &n))
        out->key_groups = (int)n;
}

static int check_key(const char *key, const char *v, const char *const *labels,
                     size_t nlabels, char *err, size_t errlen)
{
    const char *rest, *dot;

    if (strncmp(key, "flow.", 5) == 0)
        return check_flow(key, v, err, errlen);

    if (strcmp(key, "deployer.packaging") == 0) {
        if (strcmp(v, "multi") != 0 && strcmp(v, "single") != 0) {
            snprintf(err, errlen,
                     "'deployer.packaging' must be multi or "
                     "single, not '%s'",
                     v);
            return -1;
        }
        return 0;
    }
    bool app = strncmp(key, "app.", 4) == 0;
    bool dep = strncmp(key, "deployer.", 9) == 0;
    if (!app && !dep) {
        snprintf(err, errlen, "unknown deployment property '%s': %s", key,
                 allowed);
        return -1;
    }
    rest = key + (app ? 4 : 9);
    dot = strchr(rest, '.');
    if (!dot || dot == rest || !dot[1]) {
        snprintf(err, errlen,
                 "deployment property '%s' needs a label and a name: "
                 "%s",
                 key, allowed);
        return -1;
    }
    if (!has_label(rest, (size_t)(dot - rest), labels, nlabels)) {
        snprintf(err, errlen,
                 "deployment property '%s' names the label '%.*s', "
                 "which is not an app of this stream",
                 key, (int)(dot - rest), rest);
        return -1;
    }
    if (dep)
        return check_deployer(key, dot + 1, v, err, errlen);
    return 0;
}

int srv_props_parse(const json_t *props, const char *const *labels,
                    size_t nlabels, json_t **out, char *err, size_t errlen)
{
    const char *key;
    json_t *val;
    json_t *norm = json_object();

    *out = NULL;
    if (!norm) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    if (!props || json_is_null(props)) {
        *out = norm;
        return 0;
    }
    if (!json_is_object(props)) {
        snprintf(err, errlen,
                 "deployment properties must be a JSON object of "
                 "strings");
        json_decref(norm);
        return -SRV_EPROPS;
    }
    json_object_foreach((json_t *)props, key, val)
    {
        char buf[64];
        const char *v;
        if (json_is_string(val)) {
            v = json_string_value(val);
        } else if (json_is_integer(val)) {
            snprintf(buf, sizeof buf, "%lld",
                     (long long)json_integer_value(val));
            v = buf;
        } else if (json_is_real(val)) {
            snprintf(buf, sizeof buf, "%g", json_real_value(val));
            v = buf;
        } else if (json_is_boolean(val)) {
            v = json_is_true(val) ? "true" : "false";
        } else {
            snprintf(err, errlen,
                     "deployment property '%s' must be a string, "
                     "number or boolean",
                     key);
            json_decref(norm);
            return -SRV_EPROPS;
        }
        if (check_key(key, v, labels, nlabels, err, errlen)) {
            json_decref(norm);
            return -SRV_EPROPS;
        }
        if (json_object_set_new(norm, key, json_string(v))) {
            snprintf(err, errlen, "out of memory");
            json_decref(norm);
            return -SRV_ENOMEM;
        }
    }
    *out = norm;
    return 0;
}

const char *srv_props_deployer(const json_t *props, const char *label,
                               const char *prop)
{
    char key[256];

    if (!props)
        return NULL;
    snprintf(key, sizeof key, "deployer.%s.%s", label, prop);
    const char *v = json_string_value(json_object_get(props, key));
    if (v)
        return v;
    snprintf(key, sizeof key, "deployer.*.%s", prop);
    return json_string_value(json_object_get(props, key));
}

long srv_props_deployer_int(const json_t *props, const char *label,
                            const char *prop, long def)
{
    const char *v = srv_props_deployer(props, label, prop);
    long n;

    if (!v || !parse_long(v, 0, 1000000, &n))
        return def;
    return n;
}

const char *srv_props_packaging(const json_t *props)
{
    const char *v =
        props ? json_string_value(json_object_get(props, "deployer.packaging"))
              : NULL;
    return v ? v : "multi";
}

void srv_props_app_options(const json_t *props, const char *label,
                           void (*fn)(void *ud, const char *option,
                                      const char *value),
                           void *ud)
{
    const char *key;
    json_t *val;
    size_t llen = strlen(label);
    char own[256];

    if (!props)
        return;
    json_object_foreach((json_t *)props, key, val)
    {
        if (strncmp(key, "app.*.", 6) != 0 ||
            strcmp(key + 6, SRV_PARTITION_KEY) == 0 ||
            strcmp(key + 6, SRV_PARTITION_KEY_EXPR) == 0)
            continue;
        snprintf(own, sizeof own, "app.%s.%s", label, key + 6);
        if (json_object_get(props, own))
            continue;
        fn(ud, key + 6, json_string_value(val));
    }
    json_object_foreach((json_t *)props, key, val)
    {
        if (strncmp(key, "app.", 4) == 0 &&
            strncmp(key + 4, label, llen) == 0 && key[4 + llen] == '.' &&
            strcmp(key + 5 + llen, SRV_PARTITION_KEY) != 0 &&
            strcmp(key + 5 + llen, SRV_PARTITION_KEY_EXPR) != 0)
            fn(ud, key + 5 + llen, json_string_value(val));
    }
}

const char *srv_props_partition_key(const json_t *props, const char *label)
{
    char key[256];

    if (!props)
        return NULL;
    snprintf(key, sizeof key, "app.%s.%s", label, SRV_PARTITION_KEY);
    return json_string_value(json_object_get(props, key));
}

const char *srv_props_partition_key_expr(const json_t *props, const char *label)
{
    char key[256];

    if (!props)
        return NULL;
    snprintf(key, sizeof key, "app.%s.%s", label, SRV_PARTITION_KEY_EXPR);
    return json_string_value(json_object_get(props, key));
}

const dsl_app_option *srv_props_app_option(const dsl_app_info *info,
                                           const char *name)
{
    for (size_t o = 0; info && o < info->n_options; o++)
        if (strcmp(info->options[o].name, name) == 0)
            return &info->options[o];
    return NULL;
}

/* Checks value against one app's option; 0 or -1 with err set. */
static int check_app_value(const char *key, const char *value,
                           const dsl_app_option *def, char *err, size_t errlen)
{
    char buf[512];
    const char *want = dsl_option_expect(def, value, buf, sizeof buf);

    if (!want)
        return 0;
    snprintf(err, errlen, "deployment property '%s': '%s' is not %s", key,
             value, want);
    return -1;
}

int srv_props_check_apps(const json_t *props, const char *stream,
                         const char *const *labels,
                         const dsl_app_info *const *infos, size_t n, char *err,
                         size_t errlen)
{
    const char *key;
    json_t *val;

    if (!props)
        return 0;
    json_object_foreach((json_t *)props, key, val)
    {
        if (strncmp(key, "app.", 4) != 0)
            continue;
        const char *lab = key + 4;
        const char *dot = strchr(lab, '.');
        const char *value = json_string_value(val);
        if (!dot || !value)
            continue;
        const char *opt = dot + 1;
        size_t llen = (size_t)(dot - lab);
        bool star = llen == 1 && lab[0] == '*';
        if (strcmp(opt, SRV_PARTITION_KEY_EXPR) == 0) {
            /* flowd's too: the key is the text of an expression. */
            flow_expr *e = NULL;
            flow_expr_error xe;
            if (star) {
                snprintf(err, errlen,
                         "deployment property '%s': name the "
                         "app (app.<label>.partition-key-expression)",
                         key);
                return -SRV_EPROPS;
            }
            if (flow_expr_compile(value, strlen(value), &e, &xe)) {
                snprintf(err, errlen,
                         "deployment property '%s': bad expression at byte "
                         "%zu: %s",
                         key, xe.offset, xe.message);
                return -SRV_EPROPS;
            }
            flow_expr_free(&e);
            continue;
        }
        if (strcmp(opt, SRV_PARTITION_KEY) == 0) {
            /* flowd's, not an app option: how events reach the instances
             * of the app (srv_props_partition_key). */
            size_t vlen = strlen(value);
            if (star || vlen == 0 || vlen > 255 || strchr(value, ' ')) {
                snprintf(err, errlen, "deployment property '%s': %s", key,
                         star ? "name the app (app.<label>.partition-key)"
                              : "give 'key' (the event's key) or a payload "
                                "field path, 1 to 255 bytes");
                return -SRV_EPROPS;
            }
            continue;
        }
        bool anyone = false, unknown = false;
        for (size_t k = 0; k < n; k++) {
            if (!star &&
                (strlen(labels[k]) != llen || strncmp(labels[k], lab, llen)))
                continue;
            if (!infos[k]) {
                unknown = true;
                continue;
            }
            const dsl_app_option *def = srv_props_app_option(infos[k], opt);
            if (!def && !star) {
                snprintf(err, errlen,
                         "deployment property '%s': app '%s' has no option "
                         "'%s'",
                         key, infos[k]->name, opt);
                return -SRV_EPROPS;
            }
            if (!def)
                continue;
            anyone = true;
            if (check_app_value(key, value, def, err, errlen))
                return -SRV_EPROPS;
        }
        if (star && !anyone && !unknown) {
            snprintf(err, errlen,
                     "deployment property '%s': no app of stream '%s' has an "
                     "option '%s'",
                     key, stream, opt);
            return -SRV_EPROPS;
        }
    }
    return 0;
}
