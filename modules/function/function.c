/*
 * function - runs user functions from a shared object (flow/function.h).
 *
 * --name=F runs one function for every event; --action-expression=E with
 * --actions=V1:f1,V2:f2 runs, for each event, the function its action
 * (the value of E) maps to. An event whose action maps to none goes to
 * --default-action when given, else to the error output with the reason.
 * What a function returns as an error text sends the input event to the
 * error output with it. The state of each function in use is part of the
 * app's snapshot, a msgpack map from function name to what its snapshot
 * wrote.
 */
#include "function-app.h"
#include "funclib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One function in use, with its state. */
struct bound {
    const flow_function *fn; /* borrowed from the library */
    void *state;             /* the function's own (its fini frees it) */
    bool inited;
};

struct function {
    const char *library, *name, *actions, *default_action, *function_options;
    const flow_expr *action_expr; /* --action-expression (the runtime's) */
    funclib lib;
    struct bound *fns; /* owned; the functions in use, each once */
    size_t nfns;
    funclib_actions acts;
    size_t *act_fn;  /* owned: acts.v[k]'s index in fns */
    long default_fn; /* index in fns, or -1 */
    funclib_key key;
    void *lib_state; /* the library's own (its fini frees it) */
    bool lib_inited;
};

/* The name of the library's own state in the snapshot: no function may
 * have it, since a function name has no '@'. */
#define LIB_STATE_KEY "@library"

/* What a callback's flow_fn_out reaches: the call in progress. */
struct call {
    flow_ctx *ctx;
    struct function *s;
    const struct bound *b; /* NULL: the library's own callback */
    const flow_event *in;  /* process only */
    flow_buf *snap;        /* snapshot only */
};

static int host_emit(void *impl, const flow_event *ev)
{
    struct call *c = impl;
    if (!c->in || !ev)
        return -FLOW_ESTATE;
    return flow_emit_event(c->ctx, ev);
}

static int host_emit_error(void *impl, const char *reason)
{
    struct call *c = impl;
    if (!c->in)
        return -FLOW_ESTATE;
    return flow_emit_error(c->ctx, c->in, reason ? reason : "(no reason)");
}

static int host_write(void *impl, const void *data, size_t len)
{
    struct call *c = impl;
    if (!c->snap)
        return -FLOW_ESTATE;
    flow_buf_append(c->snap, data, len);
    return c->snap->err;
}

static void host_log(void *impl, const char *msg)
{
    struct call *c = impl;
    flow_log(c->ctx, "%s: %s", c->b ? c->b->fn->name : "library",
             msg ? msg : "");
}

static void *host_library_state(void *impl)
{
    struct call *c = impl;
    return c->s->lib_state;
}

static const flow_fn_host host = {
    .abi_version = FLOW_FUNCTION_ABI_VERSION,
    .emit = host_emit,
    .emit_error = host_emit_error,
    .write = host_write,
    .log = host_log,
    .library_state = host_library_state,
};

static const flow_option options[] = {
    { .name = "library",
      .type = FLOW_OPT_STRING,
      .required = true,
      FLOW_OPT_FIELD(struct function, library),
      .description = "The function library: the absolute path of a shared "
                     "object under the path rules, or @NAME for one "
                     "registered with 'flowctl function register'." },
    { .name = "name",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct function, name),
      .description = "The one function to run for every event (instead of "
                     "--actions)." },
    { .name = "action-expression",
      .type = FLOW_OPT_EXPR,
      FLOW_OPT_FIELD(struct function, action_expr),
      .description = "An expression whose result's text names an event's "
                     "action, e.g. payload.type (docs/expressions.md)." },
    { .name = "actions",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct function, actions),
      .description = "The function for each action, "
                     "ACTION:FUNCTION,ACTION:FUNCTION..." },
    { .name = "default-action",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct function, default_action),
      .description = "The function for events whose action --actions does "
                     "not map; unset: they go to the error output." },
    { .name = "function-options",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct function, function_options),
      .description = "Text handed as it is to each function's init." },
    { .name = NULL },
};

/* The index in s->fns of the function named name, binding it first. */
static long bind(struct function *s, const char *name)
{
    for (size_t k = 0; k < s->nfns; k++)
        if (strcmp(s->fns[k].fn->name, name) == 0)
            return (long)k;
    const flow_function *fn = funclib_find(&s->lib, name);
    if (!fn)
        return -1;
    struct bound *v = realloc(s->fns, (s->nfns + 1) * sizeof *v);
    if (!v)
        return -2;
    s->fns = v;
    v[s->nfns] = (struct bound){ .fn = fn };
    return (long)s->nfns++;
}

/* Says that the library lacks name, listing what it has. */
static int missing(flow_ctx *ctx, struct function *s, const char *opt,
                   const char *name)
{
    char have[1024];
    size_t n = 0;
    have[0] = '\0';
    for (size_t k = 0; k < s->lib.lib->nfunctions && n < sizeof have; k++)
        n += (size_t)snprintf(have + n, sizeof have - n, "%s%s", k ? ", " : "",
                              s->lib.lib->functions[k].name);
    flow_log(ctx, "%s: the library %s has no function '%s'; it has: %s", opt,
             s->library, name, have);
    return -FLOW_EOPTION;
}

static int load(flow_ctx *ctx, struct function *s)
{
    char why[1024];
    if (s->library[0] == '@') {
        flow_log(ctx,
                 "--library=%s names a registered library, which flowd "
                 "resolves when it deploys the stream; run by hand, give "
                 "the library's absolute path",
                 s->library);
        return -FLOW_EOPTION;
    }
    if (s->library[0] != '/') {
        flow_log(ctx, "--library=%s: give the library's absolute path",
                 s->library);
        return -FLOW_EOPTION;
    }
    int fd = flow_path_open_read(flow_path_rules_of(ctx), s->library, why,
                                 sizeof why);
    if (fd < 0) {
        flow_log(ctx, "--library: %s", why);
        return -FLOW_EOPTION;
    }
    int rc = funclib_open(&s->lib, s->library, fd, why, sizeof why);
    close(fd);
    if (rc) {
        flow_log(ctx, "--library: %s", why);
        return -FLOW_EOPTION;
    }
    return 0;
}

/* Frees what setup made, however far it got (safe twice). */
static void cleanup(struct function *s)
{
    for (size_t k = 0; k < s->nfns; k++)
        if (s->fns[k].inited && s->fns[k].fn->fini)
            s->fns[k].fn->fini(s->fns[k].state);
    if (s->lib_inited && s->lib.lib->fini)
        s->lib.lib->fini(s->lib_state);
    s->lib_inited = false;
    funclib_key_free(&s->key);
    free(s->fns);
    s->fns = NULL;
    s->nfns = 0;
    free(s->act_fn);
    s->act_fn = NULL;
    funclib_actions_free(&s->acts);
    funclib_close(&s->lib);
}

static int setup(flow_ctx *ctx)
{
    struct function *s = flow_state(ctx);
    char why[512];
    int rc;

    s->default_fn = -1;
    if (!!s->name == !!s->actions) {
        flow_log(ctx,
                 "give either --name=FUNCTION or --actions (with "
                 "--action-expression), not %s",
                 s->name ? "both" : "neither");
        return -FLOW_EOPTION;
    }
    if (s->actions && !s->action_expr) {
        flow_log(ctx, "--actions needs --action-expression, e.g. "
                      "--action-expression=payload.type");
        return -FLOW_EOPTION;
    }
    if (s->name && (s->action_expr || s->default_action)) {
        flow_log(ctx, "--name runs one function for every event; "
                      "--action-expression and --default-action go with "
                      "--actions");
        return -FLOW_EOPTION;
    }
    if (s->action_expr &&
        funclib_key_parse(flow_opt_str(ctx, "action-expression"), &s->key, why,
                          sizeof why)) {
        flow_log(ctx, "%s", why);
        return -FLOW_EOPTION;
    }
    if (s->actions &&
        funclib_actions_parse(s->actions, &s->acts, why, sizeof why)) {
        flow_log(ctx, "%s", why);
        return -FLOW_EOPTION;
    }
    if ((rc = load(ctx, s)))
        return rc;
    if (s->name) {
        long i = bind(s, s->name);
        if (i == -1)
            return missing(ctx, s, "--name", s->name);
        if (i < 0)
            return -FLOW_ENOMEM;
    }
    if (s->acts.n) {
        s->act_fn = calloc(s->acts.n, sizeof *s->act_fn);
        if (!s->act_fn)
            return -FLOW_ENOMEM;
    }
    for (size_t k = 0; k < s->acts.n; k++) {
        long i = bind(s, s->acts.v[k].fn);
        if (i == -1)
            return missing(ctx, s, "--actions", s->acts.v[k].fn);
        if (i < 0)
            return -FLOW_ENOMEM;
        s->act_fn[k] = (size_t)i;
    }
    if (s->default_action) {
        s->default_fn = bind(s, s->default_action);
        if (s->default_fn == -1)
            return missing(ctx, s, "--default-action", s->default_action);
        if (s->default_fn < 0)
            return -FLOW_ENOMEM;
    }
    const flow_function_lib *lib = s->lib.lib;
    if (lib->init) {
        struct call c = { .ctx = ctx, .s = s };
        flow_fn_out out = { &host, &c };
        if (lib->init(&s->lib_state, s->function_options, &out) != 0) {
            flow_log(ctx, "the library refused to start (its init failed)");
            return -FLOW_EAPP;
        }
    }
    s->lib_inited = true;
    for (size_t k = 0; k < s->nfns; k++) {
        struct bound *b = &s->fns[k];
        struct call c = { .ctx = ctx, .s = s, .b = b };
        flow_fn_out out = { &host, &c };
        if (b->fn->init &&
            b->fn->init(&b->state, s->function_options, &out) != 0) {
            flow_log(ctx, "function '%s' refused to start (its init failed)",
                     b->fn->name);
            return -FLOW_EAPP;
        }
        b->inited = true;
    }
    return 0;
}

/* The runtime calls fini only after an init that succeeded. */
static int init(flow_ctx *ctx)
{
    int rc = setup(ctx);
    if (rc)
        cleanup(flow_state(ctx));
    return rc;
}

static int run(flow_ctx *ctx, const struct bound *b, const flow_event *ev)
{
    struct call c = { .ctx = ctx, .s = flow_state(ctx), .b = b, .in = ev };
    flow_fn_out out = { &host, &c };
    const char *err = b->fn->process(b->state, ev, &out);
    if (!err)
        return 0;
    char reason[512];
    snprintf(reason, sizeof reason, "function '%s': %s", b->fn->name, err);
    return flow_emit_error(ctx, ev, reason);
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct function *s = flow_state(ctx);
    if (s->name)
        return run(ctx, &s->fns[0], ev);
    char why[256], reason[512];
    const char *a;
    int n = funclib_key_eval(&s->key, ev, &a, why, sizeof why);
    if (n < 0) {
        snprintf(reason, sizeof reason, "--action-expression=%s: %s",
                 flow_expr_source(s->action_expr), why);
        return flow_emit_error(ctx, ev, reason);
    }
    const funclib_action *act = funclib_actions_find(&s->acts, a, (size_t)n);
    if (act)
        return run(ctx, &s->fns[s->act_fn[act - s->acts.v]], ev);
    if (s->default_fn >= 0)
        return run(ctx, &s->fns[s->default_fn], ev);
    snprintf(reason, sizeof reason,
             "action '%.*s' (%s) maps to no function in --actions and "
             "there is no --default-action",
             n > 64 ? 64 : n, a, flow_expr_source(s->action_expr));
    return flow_emit_error(ctx, ev, reason);
}

/* Writes name: bin with what snap (of b, or of the library for NULL)
 * writes of state. */
static int snap_one(flow_ctx *ctx, const struct bound *b, const char *name,
                    int (*snap)(void *, flow_fn_out *), void *state,
                    flow_buf *out)
{
    flow_buf part;
    flow_buf_init(&part);
    struct call c = { .ctx = ctx, .s = flow_state(ctx), .b = b, .snap = &part };
    flow_fn_out o = { &host, &c };
    int rc = snap(state, &o);
    if (rc || part.err) {
        flow_log(ctx, "%s%s could not write its state", b ? "function " : "",
                 b ? name : "the library");
        rc = part.err ? part.err : -FLOW_EAPP;
        flow_buf_fini(&part);
        return rc;
    }
    flow_mp_put_cstr(out, name);
    flow_mp_put_bin(out, part.data, part.len);
    flow_buf_fini(&part);
    return 0;
}

/* {"@library": bin, name: bin, ...} over the library and the functions
 * that keep state. */
static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct function *s = flow_state(ctx);
    const flow_function_lib *lib = s->lib.lib;
    uint32_t n = lib->snapshot != NULL;
    int rc;
    for (size_t k = 0; k < s->nfns; k++)
        n += s->fns[k].fn->snapshot != NULL;
    flow_mp_put_map(out, n);
    if (lib->snapshot && (rc = snap_one(ctx, NULL, LIB_STATE_KEY, lib->snapshot,
                                        s->lib_state, out)))
        return rc;
    for (size_t k = 0; k < s->nfns; k++) {
        struct bound *b = &s->fns[k];
        if (b->fn->snapshot && (rc = snap_one(ctx, b, b->fn->name,
                                              b->fn->snapshot, b->state, out)))
            return rc;
    }
    return out->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct function *s = flow_state(ctx);
    const flow_function_lib *lib = s->lib.lib;
    flow_mp_reader r;
    flow_mp_value m, k, v;
    flow_mp_reader_init(&r, data, len);
    if (flow_mp_read(&r, &m) < 0 || m.type != FLOW_MP_MAP) {
        flow_log(ctx, "cannot restore: the saved state is not a map of "
                      "function name to state");
        return -FLOW_EMALFORMED;
    }
    for (uint32_t i = 0; i < m.len; i++) {
        if (flow_mp_read_object(&r, &k) < 0 ||
            flow_mp_read_object(&r, &v) < 0 || k.type != FLOW_MP_STR ||
            (v.type != FLOW_MP_BIN && v.type != FLOW_MP_STR)) {
            flow_log(ctx,
                     "cannot restore: entry %u of the saved state is "
                     "not a function name and its state",
                     i + 1);
            return -FLOW_EMALFORMED;
        }
        struct call c = { .ctx = ctx, .s = s };
        flow_fn_out o = { &host, &c };
        if (flow_mp_str_eq(&k, LIB_STATE_KEY)) {
            if (!lib->restore) {
                flow_log(ctx, "the library's saved state is dropped: it has "
                              "no restore");
                continue;
            }
            if (lib->restore(s->lib_state, v.str, v.len, &o) != 0) {
                flow_log(ctx, "the library could not restore its saved "
                              "state");
                return -FLOW_EMALFORMED;
            }
            continue;
        }
        struct bound *b = NULL;
        for (size_t j = 0; j < s->nfns && !b; j++)
            if (flow_mp_str_eq(&k, s->fns[j].fn->name))
                b = &s->fns[j];
        if (!b || !b->fn->restore) {
            flow_log(ctx,
                     "the saved state of function '%.*s' is dropped: "
                     "%s",
                     (int)k.len, k.str,
                     b ? "it has no restore" : "it is not in use now");
            continue;
        }
        c.b = b;
        if (b->fn->restore(b->state, v.str, v.len, &o) != 0) {
            flow_log(ctx, "function '%s' could not restore its saved state",
                     b->fn->name);
            return -FLOW_EMALFORMED;
        }
    }
    return 0;
}

static void fini(flow_ctx *ctx)
{
    cleanup(flow_state(ctx));
}

int function_describe_library(const char *path)
{
    funclib fl;
    char why[1024];
    flow_buf b;
    int status = 0;

    flow_buf_init(&b);
    if (funclib_open(&fl, path, -1, why, sizeof why) == 0) {
        funclib_describe(&fl, &b);
        funclib_close(&fl);
    } else {
        /* The reason goes on stdout too: flowd reads only that. */
        fprintf(stderr, "flow-function: %s\n", why);
        flow_buf_append(&b, "{\"error\":\"", 10);
        for (const char *p = why; *p; p++) {
            if (*p == '"' || *p == '\\')
                flow_buf_append(&b, "\\", 1);
            if ((unsigned char)*p >= 0x20)
                flow_buf_append(&b, p, 1);
        }
        flow_buf_append(&b, "\"}", 2);
        status = 2;
    }
    if (b.err) {
        fprintf(stderr, "flow-function: out of memory\n");
        flow_buf_fini(&b);
        return 1;
    }
    fwrite(b.data, 1, b.len, stdout);
    fputc('\n', stdout);
    flow_buf_fini(&b);
    return status;
}

const flow_app_desc function_app = {
    .name = "function",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Runs user functions from a shared object "
                   "(flow/function.h): one function for every event "
                   "(--name), or the function each event's action maps to "
                   "(--action-expression with --actions).",
    .options = options,
    .state_size = sizeof(struct function),
    .init = init,
    .on_event = on_event,
    .snapshot = snapshot,
    .restore = restore,
    .fini = fini,
};
