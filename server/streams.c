/* Stream definitions and deployments: the in-memory model, its JSON and
 * the /streams REST routes. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "checkpoint/checkpoint.h"
#include "deploy/k8s_manifests.h"
#include "flow/expr.h"
#include "props.h"

static json_t *options_json(const dsl_option *o, size_t n)
{
    json_t *obj = json_object();
    for (size_t k = 0; k < n; k++)
        json_object_set_new(obj, o[k].key, json_string(o[k].value));
    return obj;
}

static json_t *apps_json(srv *s, const dsl_stream *ast)
{
    json_t *arr = json_array();

    for (size_t k = 0; k < ast->n_apps; k++) {
        const dsl_app *a = &ast->apps[k];
        const dsl_app_info *info = dsl_registry_find_at(s->reg, ast, k);
        json_array_append_new(
            arr,
            json_pack("{s:s,s:s,s:s?,s:o}", "label", dsl_app_label(a), "name",
                      a->name, "type", info ? dsl_role_name(info->role) : NULL,
                      "options", options_json(a->options, a->n_options)));
    }
    return arr;
}

static json_t *endpoint_json(const srv_stream *st, bool source, srv *s)
{
    const dsl_destination *d = source ? st->ast->source : st->ast->sink;

    if (!d)
        return json_null();
    if (source) {
        const char *dot = strchr(d->name, '.');
        /* `:S.L.errors` is a destination, app L's dead letters. */
        if (dot && !srv_dlq_is_dest(s, d->name)) {
            char sname[128];
            snprintf(sname, sizeof sname, "%.*s", (int)(dot - d->name),
                     d->name);
            if (srv_stream_find(s, sname))
                return json_pack("{s:s}", "tap", d->name);
        }
        return json_pack("{s:s,s:s}", "destination", d->name, "group",
                         srv_stream_group(st));
    }
    return json_pack("{s:s}", "destination", d->name);
}

void srv_guarantee_put(srv *s, srv_stream *st, json_t *o)
{
    json_t *g = srv_ckpt_status_json(s, st);

    if (o && g)
        json_object_update(o, g);
    json_decref(g);
}

json_t *srv_stream_json(srv *s, srv_stream *st)
{
    char iso[32];
    json_t *o;

    srv_iso(st->created_ms / 1000, iso, sizeof iso);
    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:o}", "name", st->name,
                  "dslText", st->dsl, "description", st->description, "status",
                  srv_status_name(st->status), "statusDescription",
                  st->status_desc, "apps", apps_json(s, st->ast), "source",
                  endpoint_json(st, true, s), "sink",
                  endpoint_json(st, false, s), "createdAt", iso, "_links",
                  json_pack("{s:{s:s+},s:{s:s+},s:{s:s+}}", "self", "href",
                            "/streams/definitions/", st->name, "deployment",
                            "href", "/streams/deployments/", st->name, "logs",
                            "href", "/streams/logs/", st->name));
    srv_guarantee_put(s, st, o);
    return o;
}

static json_t *inst_json(srv_inst *i)
{
    char id[160], iso[32];
    srv_dapp *a = i->app;

    srv_inst_id(i, id, sizeof id);
    srv_iso(i->started_ms / 1000, iso, sizeof iso);
    json_t *input = json_array();
    /* The inputs as the instance was started with them: of an output of
     * lanes, its own. */
    if (a->pos > 0) {
        srv_dapp *up = &a->stream->apps[a->pos - 1];
        char lane[SRV_EP_MAX];
        for (int k = 0; k < up->ninst; k++)
            if (up->inst[k]->output[0] && !up->inst[k]->removing &&
                srv_output_lane(up->inst[k]->output, i->index, lane,
                                sizeof lane))
                json_array_append_new(input, json_string(lane));
    }
    json_t *output = json_array();
    if (i->output[0])
        json_array_append_new(output, json_string(i->output));
    json_t *groups = json_object();
    for (int k = 0; k < i->ngroups; k++) {
        json_array_append_new(output, json_string(i->groups[k].ep));
        json_object_set_new(groups, i->groups[k].group,
                            json_string(i->groups[k].ep));
    }
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:i,s:o,s:s,s:i,s:o,s:o,s:{s:o,s:o,s:o,s:o,s:o},"
        "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f}",
        "id", id, "stream", a->stream->name, "label", a->label, "name", a->name,
        "index", i->index, "pid",
        i->pid > 0 ? json_integer(i->pid) : json_null(), "state",
        srv_inst_shown_state(i), "restarts", i->restarts, "lastExit",
        i->last_exit[0] ? json_string(i->last_exit) : json_null(), "startedAt",
        i->started_ms ? json_string(iso) : json_null(), "endpoints", "input",
        input, "output", output, "outputGroups", groups, "tap",
        i->tap[0] ? json_string(i->tap) : json_null(), "errors",
        i->errors[0] ? json_string(i->errors) : json_null(), "in",
        (json_int_t)i->m.in, "out", (json_int_t)i->m.out, "errors",
        (json_int_t)i->m.errors, "rejected", (json_int_t)i->m.rejected,
        "fenced", (json_int_t)i->m.fenced, "drops", (json_int_t)i->m.drops,
        "bytesIn", (json_int_t)i->m.bytes_in, "bytesOut",
        (json_int_t)i->m.bytes_out, "rateIn", i->rate_in, "rateOut",
        i->rate_out);
    uint64_t ev, er;
    srv_inst_window(i, &ev, &er);
    json_object_set_new(o, "lastError",
                        i->last_error[0] ? json_string(i->last_error)
                                         : json_null());
    json_object_set_new(o, "url",
                        i->url[0] ? json_string(i->url) : json_null());
    json_t *figs = i->nfigures ? json_object() : json_null();
    for (int k = 0; k < i->nfigures; k++)
        json_object_set_new(figs, i->figures[k].name,
                            json_integer((json_int_t)i->figures[k].value));
    json_object_set_new(o, "figures", figs);
    json_object_set_new(o, "errorRatio",
                        ev ? json_real((double)er / (double)ev) : json_null());
    return o;
}

static srv_status app_status(srv_dapp *a, char *desc, size_t len)
{
    srv_app_counts c;

    srv_app_counts_of(a, &c);
    return srv_status_app(&c, desc, len);
}

/* The Kafka topics app a reads and writes (docs/kafka.md), or JSON null
 * when it has none. */
static json_t *kafka_json(srv *s, const srv_dapp *a)
{
    char in[2 * SRV_NAME_MAX + 32], group[2 * SRV_NAME_MAX + 32];
    char out[2 * SRV_NAME_MAX + 32];
    bool reads = srv_kafka_in(s, a, in, sizeof in, group, sizeof group);
    bool writes = srv_kafka_out(a, out, sizeof out);

    if (!reads && !writes)
        return json_null();
    json_t *k = json_object();
    if (reads) {
        char dlq[sizeof in + sizeof group + 8];
        snprintf(dlq, sizeof dlq, "error.%s.%s", in, group);
        json_object_set_new(k, "input", json_string(in));
        json_object_set_new(k, "group", json_string(group));
        json_object_set_new(k, "errors", json_string(dlq));
    }
    if (writes)
        json_object_set_new(k, "output", json_string(out));
    return k;
}

json_t *srv_app_status_json(srv *s, srv_dapp *a)
{
    char desc[512], id[160];
    json_t *inst = json_array();

    for (int j = 0; j < a->ninst; j++)
        json_array_append_new(inst, inst_json(a->inst[j]));
    srv_status st = app_status(a, desc, sizeof desc);
    snprintf(id, sizeof id, "%s.%s", a->stream->name, a->label);
    /* The consumer group the first app of a stream reading a destination
     * (not a tap) is in. */
    const char *group =
        a->pos == 0 && !a->stream->tap ? srv_stream_group(a->stream) : NULL;
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s?,s:i,s:s,s:s,s:o,s:o}", "deploymentId", id,
        "stream", a->stream->name, "label", a->label, "name", a->name, "type",
        a->type, "group", group, "count", a->count, "status",
        srv_status_name(st), "statusDescription", desc, "instances", inst,
        "_links", srv_links("/runtime/apps/%s", id));
    if (o)
        json_object_set_new(o, "binder",
                            json_string(a->kafka ? "kafka" : "zeromq"));
    if (o)
        json_object_set_new(o, "kafka", kafka_json(s, a));
    if (o && srv_dep_is_router(a)) {
        /* The destinations flowd wires the router to (docs/flowd.md). */
        char names[64][SRV_NAME_MAX + 16];
        int n = srv_dep_router_dests(a, names, 64);
        json_t *d = n < 0 ? json_string("any") : json_array();
        for (int k = 0; k < n; k++)
            json_array_append_new(d, json_string(names[k]));
        json_object_set_new(o, "destinations", d);
    }
    return o;
}

json_t *srv_deployment_json(srv *s, srv_stream *st)
{
    char iso[32];
    json_t *apps = json_array();

    /* An app has a "status", each instance a "state" (docs/rest.md). */
    for (size_t k = 0; k < st->napps; k++)
        json_array_append_new(apps, srv_app_status_json(s, &st->apps[k]));
    srv_iso(st->deployed_ms / 1000, iso, sizeof iso);
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:o,s:o}", "name", st->name, "dslText",
        st->dsl, "status", srv_status_name(st->status), "statusDescription",
        st->status_desc, "deploymentProperties",
        st->deployed && st->props ? json_incref(st->props) : json_object(),
        "packaging", st->single ? "single" : "multi", "deployedAt",
        st->deployed ? json_string(iso) : json_null(), "apps", apps, "_links",
        json_pack("{s:{s:s+},s:{s:s+}}", "self", "href",
                  "/streams/deployments/", st->name, "definition", "href",
                  "/streams/definitions/", st->name));
    srv_guarantee_put(s, st, o);
    return o;
}

/* Errors of the parser or checker: the 400 response's "errors", or, when
 * the request only asks whether the definition is valid (question), a 200
 * answer {"valid": false, "errors": [...], "message"}. */
/* dsl_check_ctx.check_expr: an expression option compiles, as the app
 * will compile it at start. */
static int check_expr(void *ud, const char *expr, size_t len, size_t *offset,
                      char *why, size_t whylen)
{
    flow_expr *e = NULL;
    flow_expr_error err;
    (void)ud;
    if (flow_expr_compile(expr, len, &e, &err) == 0) {
        flow_expr_free(&e);
        return 0;
    }
    *offset = err.offset;
    snprintf(why, whylen, "%s", err.message);
    return -1;
}

static void answer_dsl_errors(srv_req *r, const dsl_errors *errs, bool question)
{
    json_t *arr = json_array();
    char msg[512];

    for (size_t k = 0; k < errs->n; k++)
        json_array_append_new(arr, json_pack("{s:I,s:i,s:i,s:s}", "offset",
                                             (json_int_t)errs->v[k].offset,
                                             "line", (int)errs->v[k].line,
                                             "column", (int)errs->v[k].column,
                                             "message", errs->v[k].message));
    if (errs->n == 0)
        snprintf(msg, sizeof msg, "the definition is not valid");
    else
        snprintf(msg, sizeof msg, "%u:%u: %s", errs->v[0].line,
                 errs->v[0].column, errs->v[0].message);
    if (question)
        srv_req_json(r, 200,
                     json_pack("{s:b,s:o,s:s}", "valid", 0, "errors", arr,
                               "message", msg));
    else
        srv_req_error(r, -SRV_EDEFINITION, json_pack("{s:o}", "errors", arr),
                      "%s", msg);
}

/* Parses and checks a definition; answers r and returns NULL when it is
 * not valid: with 400, or with 200 {"valid": false} when the request is
 * only a question (POST /streams/validation). *text_out is the definition
 * without "name =". */
static dsl_stream *parse_checked(srv *s, srv_req *r, const char *text,
                                 const char *name, char **text_out,
                                 bool question)
{
    dsl_errors errs = { 0 };
    dsl_stream *ast = NULL;
    size_t len = strlen(text);

    int prc = dsl_parse_stream(text, len, &ast, &errs);
    if (prc == DSL_ENOMEM) {
        /* Not a verdict on the definition: say so, not "invalid". */
        srv_req_error(r, -SRV_ENOMEM, NULL,
                      "out of memory while parsing the definition");
        dsl_errors_fini(&errs);
        return NULL;
    }
    if (prc) {
        answer_dsl_errors(r, &errs, question);
        dsl_errors_fini(&errs);
        return NULL;
    }
    size_t n = 0;
    for (srv_stream *st = s->streams; st; st = st->next)
        n++;
    const dsl_stream **known = calloc(n + 1, sizeof *known);
    if (!known) {
        srv_req_error(r, -SRV_ENOMEM, NULL,
                      "out of memory while checking the definition");
        dsl_errors_fini(&errs);
        dsl_stream_destroy(&ast);
        return NULL;
    }
    n = 0;
    for (srv_stream *st = s->streams; st; st = st->next)
        if (!name || strcmp(st->name, name) != 0)
            known[n++] = st->ast;
    dsl_check_ctx ctx = { .registry = s->reg,
                          .known = (const dsl_stream *const *)known,
                          .n_known = n,
                          .check_path = srv_paths_check,
                          .check_path_ud = s,
                          .check_expr = check_expr };
    int bad = dsl_check_stream(ast, &ctx, text, len, &errs);
    free(known);
    if (bad == DSL_ENOMEM) {
        srv_req_error(r, -SRV_ENOMEM, NULL,
                      "out of memory while checking the definition");
        dsl_errors_fini(&errs);
        dsl_stream_destroy(&ast);
        return NULL;
    }
    if (bad) {
        answer_dsl_errors(r, &errs, question);
        dsl_errors_fini(&errs);
        dsl_stream_destroy(&ast);
        return NULL;
    }
    dsl_errors_fini(&errs);
    if (ast->name && name && strcmp(ast->name, name) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the definition names the stream '%s' but the request "
                 "names it '%s'",
                 ast->name, name);
        if (question)
            srv_req_json(r, 200,
                         json_pack("{s:b,s:[{s:i,s:i,s:i,s:s}],s:s}", "valid",
                                   0, "errors", "offset", 0, "line", 1,
                                   "column", 1, "message", msg, "message",
                                   msg));
        else
            srv_req_error(r, -SRV_EINVAL, NULL, "%s", msg);
        dsl_stream_destroy(&ast);
        return NULL;
    }
    if (text_out) {
        size_t start = ast->source ? ast->source->offset : ast->apps[0].offset;
        if (!ast->name)
            start = 0;
        while (start < len && isspace((unsigned char)text[start]))
            start++;
        size_t end = len;
        while (end > start && isspace((unsigned char)text[end - 1]))
            end--;
        *text_out = strndup(text + start, end - start);
        if (!*text_out) {
            srv_req_error(r, -SRV_ENOMEM, NULL, "out of memory");
            dsl_stream_destroy(&ast);
            return NULL;
        }
    }
    return ast;
}

static const char *str_field(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool bool_field(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_string(v))
        return strcmp(json_string_value(v), "true") == 0;
    return json_is_true(v);
}

void api_definitions_create(srv *s, srv_req *r)
{
    json_t *b = srv_req_body(r, true);
    char err[1024];

    if (!b)
        return;
    const char *def = str_field(b, "definition");
    const char *name = str_field(b, "name");
    const char *desc = str_field(b, "description");
    if (!def || !*def) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "the request needs a 'definition' (the stream "
                      "DSL text)");
        goto out;
    }
    char *text = NULL;
    dsl_stream *ast = parse_checked(s, r, def, name, &text, false);
    if (!ast)
        goto out;
    if (!name)
        name = ast->name;
    if (!name || !srv_name_ok(name)) {
        char msg[256];
        srv_req_error(r, -SRV_EINVAL, NULL, "%s",
                      dsl_name_message(msg, sizeof msg, "stream",
                                       name ? name : "",
                                       name ? strlen(name) : 0));
        goto out_ast;
    }
    if (srv_stream_find(s, name)) {
        srv_req_error(r, -SRV_EEXIST, NULL,
                      "a stream named '%s' exists already; destroy it "
                      "first or choose another name",
                      name);
        goto out_ast;
    }
    int64_t now = srv_now_ms();
    if (srv_store_exec(&s->store,
                       "INSERT INTO streams(name, dsl, description, "
                       "created_at) VALUES (?, ?, ?, ?)",
                       "sssi", name, text, desc ? desc : "", now)) {
        srv_req_error(r, srv_store_error(&s->store), NULL,
                      "cannot create stream '%s': the store %s refused it "
                      "(%s), so nothing was changed; %s",
                      name, s->store.path, s->store.err,
                      srv_store_advice(&s->store));
        goto out_ast;
    }
    srv_stream *st = srv_stream_add(s, name, text, desc, now, err, sizeof err);
    if (!st) {
        srv_req_error(r, -SRV_EINTERNAL, NULL, "%s", err);
        goto out_ast;
    }
    if (bool_field(b, "deploy")) {
        int code = srv_deploy(s, st, NULL, err, sizeof err);
        if (code) {
            srv_req_error(r, code, NULL, "created, but not deployed: %s", err);
            goto out_ast;
        }
    }
    char loc[128];
    snprintf(loc, sizeof loc, "/streams/definitions/%s", name);
    srv_req_header(r, "Location", loc);
    srv_req_json(r, 201, srv_stream_json(s, st));
out_ast:
    dsl_stream_destroy(&ast);
    free(text);
out:
    json_decref(b);
}

void api_validation(srv *s, srv_req *r)
{
    json_t *b = srv_req_body(r, true);

    if (!b)
        return;
    const char *def = str_field(b, "definition");
    if (!def) {
        srv_req_error(r, -SRV_EINVAL, NULL, "the request needs a 'definition'");
        json_decref(b);
        return;
    }
    dsl_stream *ast =
        parse_checked(s, r, def, str_field(b, "name"), NULL, true);
    if (ast) {
        srv_req_json(
            r, 200,
            json_pack("{s:b,s:o}", "valid", 1, "apps", apps_json(s, ast)));
        dsl_stream_destroy(&ast);
    }
    json_decref(b);
}

void api_definitions_list(srv *s, srv_req *r)
{
    const char *search = srv_req_arg(r, "search");
    json_t *items = json_array();

    for (srv_stream *st = s->streams; st; st = st->next) {
        if (search && *search && !strstr(st->name, search) &&
            !strstr(st->dsl, search))
            continue;
        json_array_append_new(items, srv_stream_json(s, st));
    }
    json_t *page = srv_page(r, items, "streamDefinitionResourceList",
                            "/streams/definitions");
    if (page)
        srv_req_json(r, 200, page);
}

static srv_stream *find_or_404(srv *s, srv_req *r, const char *name)
{
    srv_stream *st = srv_stream_find(s, name);
    if (!st)
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no stream named '%s'", name);
    return st;
}

void api_definitions_get(srv *s, srv_req *r)
{
    srv_stream *st = find_or_404(s, r, r->match.params[0]);
    if (st)
        srv_req_json(r, 200, srv_stream_json(s, st));
}

enum { WAIT_UNDEPLOY = 1, WAIT_DESTROY = 2 };

/* A deferred HTTP request waiting for a stream's processes to be gone. */
typedef struct srv_waiter {
    char stream[SRV_NAME_MAX + 16]; /* the stream it waits for */
    srv_req *req;                   /* borrowed: the HTTP server owns it */
    int kind;                       /* WAIT_UNDEPLOY or WAIT_DESTROY */
    struct srv_waiter *next;        /* owned */
} srv_waiter;

/* Holds r (deferred) until st is undeployed; answers 500 at once when it
 * cannot be held (the undeploy goes on). */
static void wait_undeployed(srv *s, srv_stream *st, srv_req *r, int kind)
{
    srv_waiter *w = calloc(1, sizeof *w);

    if (!w) {
        srv_req_error(r, 500, NULL,
                      "out of memory: '%s' is undeployed, but this request "
                      "cannot wait for its processes to end",
                      st->name);
        return;
    }
    snprintf(w->stream, sizeof w->stream, "%s", st->name);
    w->req = r;
    w->kind = kind;
    w->next = s->waiters;
    s->waiters = w;
    srv_req_defer(r);
}

/* srv_deployer_ops.undeployed: answers the requests that waited for st,
 * then deletes st when one of them destroys it. */
static void on_undeployed(void *ud, srv_stream *st)
{
    srv *s = ud;
    bool destroy = false;

    for (srv_waiter **pp = &s->waiters; *pp;) {
        srv_waiter *w = *pp;
        if (strcmp(w->stream, st->name)) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        if (w->kind == WAIT_DESTROY) {
            srv_req_json(w->req, 200, srv_stream_json(s, st));
            destroy = true;
        } else {
            srv_req_json(w->req, 200, srv_deployment_json(s, st));
        }
        free(w);
    }
    if (destroy) {
        char name[sizeof st->name];
        snprintf(name, sizeof name, "%s", st->name);
        srv_stream_delete(s, st);
        srv_events_deleted(s, name);
        srv_ready_update(s);
    }
}

/* srv_deployer_ops.changed: pushes st's status to the event clients. */
static void on_changed(void *ud, srv_stream *st)
{
    srv_events_status(ud, st);
}

static const srv_deployer_ops api_deployer_ops = {
    .changed = on_changed,
    .undeployed = on_undeployed,
};

void srv_api_attach(srv *s)
{
    s->deployer_ops = &api_deployer_ops;
    s->deployer_ud = s;
}

void srv_api_detach(srv *s)
{
    while (s->waiters) {
        srv_waiter *w = s->waiters;
        s->waiters = w->next;
        free(w);
    }
}

/* Answers a request whose change the store refused: nothing changed. */
static void store_refused(srv *s, srv_req *r, const char *what,
                          const char *name)
{
    srv_req_error(r, srv_store_error(&s->store), NULL,
                  "cannot %s '%s': the store %s refused it (%s), so nothing "
                  "was changed; %s",
                  what, name, s->store.path, s->store.err,
                  srv_store_advice(&s->store));
}

void api_definitions_delete(srv *s, srv_req *r)
{
    srv_stream *st = find_or_404(s, r, r->match.params[0]);
    if (!st)
        return;
    /* Stored first: a destroy the store does not hold would come back
     * with the next flowd. */
    if (srv_forget_deployment(s, st, true)) {
        store_refused(s, r, "destroy stream", st->name);
        return;
    }
    wait_undeployed(s, st, r, WAIT_DESTROY);
    srv_undeploy(s, st);
}

void api_deployments_get(srv *s, srv_req *r)
{
    srv_stream *st = find_or_404(s, r, r->match.params[0]);
    if (st)
        srv_req_json(r, 200, srv_deployment_json(s, st));
}

void api_deployments_delete(srv *s, srv_req *r)
{
    srv_stream *st = find_or_404(s, r, r->match.params[0]);
    if (!st)
        return;
    if (st->deployed && srv_forget_deployment(s, st, false)) {
        store_refused(s, r, "undeploy stream", st->name);
        return;
    }
    wait_undeployed(s, st, r, WAIT_UNDEPLOY);
    srv_undeploy(s, st);
}

void api_deployments_create(srv *s, srv_req *r)
{
    char err[1024];
    srv_stream *st = find_or_404(s, r, r->match.params[0]);

    if (!st)
        return;
    json_t *b = srv_req_body(r, false);
    if (!b)
        return;
    int code = srv_deploy(s, st, b, err, sizeof err);
    json_decref(b);
    if (code) {
        srv_req_error(r, code, NULL, "%s", err);
        return;
    }
    srv_req_json(r, 202, srv_deployment_json(s, st));
}

void api_deployments_scale(srv *s, srv_req *r)
{
    char err[512];
    srv_stream *st = find_or_404(s, r, r->match.params[0]);

    if (!st)
        return;
    srv_dapp *a = srv_stream_app(st, r->match.params[1]);
    if (!st->deployed) {
        srv_req_error(r, -SRV_ENOTDEPLOYED, NULL,
                      "stream '%s' is not deployed; deploy it first", st->name);
        return;
    }
    if (!a) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL,
                      "stream '%s' has no app labelled '%s'", st->name,
                      r->match.params[1]);
        return;
    }
    char *e;
    long n = strtol(r->match.params[2], &e, 10);
    if (*e || e == r->match.params[2] || n < 1 || n > SRV_MAX_COUNT) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "the instance count must be a whole number from "
                      "1 to %d, not '%s'",
                      SRV_MAX_COUNT, r->match.params[2]);
        return;
    }
    int code = srv_scale(s, st, a, (int)n, err, sizeof err);
    if (code) {
        srv_req_error(r, code, NULL, "%s", err);
        return;
    }
    srv_req_json(r, 202, srv_deployment_json(s, st));
}

/* Is v a DNS-1123 label (a Kubernetes namespace's name)? */
static bool dns_label(const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n > 63 || v[0] == '-' || v[n - 1] == '-')
        return false;
    for (const char *p = v; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
            *p != '-')
            return false;
    return true;
}

void api_deployments_manifests(srv *s, srv_req *r)
{
    char err[1024];
    srv_stream *st = find_or_404(s, r, r->match.params[0]);
    const char *platform = srv_req_arg(r, "platform");
    const char *ns = srv_req_arg(r, "namespace");
    const char *image = srv_req_arg(r, "image");
    const char *given = srv_req_arg(r, "properties");
    json_t *props = NULL;

    if (!st)
        return;
    if (platform && strcmp(platform, "kubernetes") != 0) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "no manifests for platform '%s': the one platform "
                      "with manifests is kubernetes",
                      platform);
        return;
    }
    if (ns && !dns_label(ns)) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "namespace '%s' is not a Kubernetes namespace name "
                      "(lowercase letters, digits and '-', at most 63)",
                      ns);
        return;
    }
    if (image && (!image[0] || strpbrk(image, " \t\r\n"))) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "image '%s' is not an image reference", image);
        return;
    }
    if (given) {
        json_error_t je;
        props = json_loads(given, 0, &je);
        if (!json_is_object(props)) {
            json_decref(props);
            srv_req_error(r, -SRV_EPROPS, NULL,
                          "properties must be a JSON object of deployment "
                          "properties, as POST /streams/deployments/%s "
                          "takes (%s)",
                          st->name, je.text[0] ? je.text : "not an object");
            return;
        }
    } else if (st->deployed && st->props) {
        /* A deployed stream's manifests are those of its deployment. */
        props = json_incref(st->props);
    }
    json_t *norm = NULL;
    const char *labels[DSL_MAX_APPS];
    size_t n = st->ast->n_apps < DSL_MAX_APPS ? st->ast->n_apps : DSL_MAX_APPS;
    for (size_t k = 0; k < n; k++)
        labels[k] = dsl_app_label(&st->ast->apps[k]);
    int prc = srv_props_parse(props, labels, n, &norm, err, sizeof err);
    json_decref(norm);
    if (prc) {
        json_decref(props);
        srv_req_error(r, prc, NULL, "%s", err);
        return;
    }
    json_t *list = srv_k8s_manifests(s, st, props, ns, image, err, sizeof err);
    json_decref(props);
    if (!list) {
        srv_req_error(r, -SRV_EUNRUNNABLE, NULL, "%s", err);
        return;
    }
    srv_req_json(r, 200, list);
}

/* The tail of a file, at most max bytes. */
static json_t *tail_file(const char *path, long max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return json_string("");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > max ? size - max : 0;
    fseek(f, from, SEEK_SET);
    char *buf = malloc((size_t)(size - from) + 1);
    size_t n = buf ? fread(buf, 1, (size_t)(size - from), f) : 0;
    fclose(f);
    if (!buf)
        return json_string("");
    buf[n] = '\0';
    json_t *v = json_stringn(buf, n);
    if (!v) {
        /* Not valid UTF-8: replace the bytes outside ASCII. */
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)buf[k] >= 0x80 || buf[k] == 0)
                buf[k] = '?';
        v = json_stringn(buf, n);
    }
    free(buf);
    return v ? v : json_string("");
}

void api_logs(srv *s, srv_req *r)
{
    srv_stream *st = find_or_404(s, r, r->match.params[0]);
    const char *label = r->match.nparams > 1 ? r->match.params[1] : NULL;
    long max = 64 * 1024;
    const char *bytes = srv_req_arg(r, "bytes");
    char prefix[160];

    if (!st)
        return;
    if (bytes) {
        char *e;
        max = strtol(bytes, &e, 10);
        if (*e || max < 1 || max > 1024 * 1024) {
            srv_req_error(r, -SRV_EINVAL, NULL,
                          "bytes must be from 1 to 1048576, not "
                          "'%s'",
                          bytes);
            return;
        }
    }
    bool found = !label;
    for (size_t k = 0; label && k < st->ast->n_apps; k++)
        if (strcmp(dsl_app_label(&st->ast->apps[k]), label) == 0)
            found = true;
    if (!found) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL,
                      "stream '%s' has no app labelled '%s'", st->name, label);
        return;
    }
    json_t *logs = json_object();
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/logs", s->cfg.data_dir);
    snprintf(prefix, sizeof prefix, "%s.", st->name);
    for (size_t k = 0; k < st->ast->n_apps; k++) {
        const char *l = dsl_app_label(&st->ast->apps[k]);
        if (label && strcmp(l, label) != 0)
            continue;
        for (int idx = 0; idx < SRV_MAX_COUNT; idx++) {
            char path[PATH_MAX + 300], id[200];
            snprintf(path, sizeof path, "%s/%s.%s-%d.log", dir, st->name, l,
                     idx);
            FILE *f = fopen(path, "r");
            if (!f)
                break;
            fclose(f);
            snprintf(id, sizeof id, "%s.%s-%d", st->name, l, idx);
            json_object_set_new(logs, id, tail_file(path, max));
        }
    }
    srv_req_json(
        r, 200,
        json_pack("{s:o,s:o}", "logs", logs, "_links",
                  label ? srv_links("/streams/logs/%s/%s", st->name, label)
                        : srv_links("/streams/logs/%s", st->name)));
}
