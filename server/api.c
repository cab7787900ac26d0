/* The REST API's front: the route table, authentication, request bodies,
 * paging, and the small routes (service, runtime, apps, completions,
 * static files). */
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "api.h"
#include "httpparse.h"
#include "flow-config.h"

json_t *srv_links(const char *fmt, ...)
{
    char href[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(href, sizeof href, fmt, ap);
    va_end(ap);
    return json_pack("{s:{s:s}}", "self", "href", href);
}

/* Decodes application/x-www-form-urlencoded text into an object. Returns
 * NULL with a message in err for a field holding %00, a bad %-escape or
 * bytes that are not UTF-8: such a field is refused, never cut short. */
static json_t *parse_form(const char *body, size_t len, char *err,
                          size_t errlen)
{
    json_t *o = json_object();
    char *buf = malloc(len + 1), *key = malloc(len + 1);

    if (!o || !buf || !key) {
        snprintf(err, errlen, "out of memory reading the form");
        goto fail;
    }
    for (size_t i = 0; i < len;) {
        size_t j = i, eq = (size_t)-1;
        while (j < len && body[j] != '&') {
            if (body[j] == '=' && eq == (size_t)-1)
                eq = j;
            j++;
        }
        size_t kend = eq == (size_t)-1 ? j : eq;
        size_t vstart = eq == (size_t)-1 ? j : eq + 1;
        long kl = srv_form_decode(body + i, kend - i, key);
        long vl = kl < 0 ? 0 : srv_form_decode(body + vstart, j - vstart, buf);
        if (kl < 0 || vl < 0) {
            const char *why = (kl < 0 ? kl : vl) == -1
                                  ? "holds %00 or a bad %-escape"
                                  : "is not UTF-8";
            if (kl < 0)
                snprintf(err, errlen, "a form field's name %s", why);
            else
                snprintf(err, errlen, "the form field '%s' %s", key, why);
            goto fail;
        }
        if (kl > 0)
            json_object_setn_new(o, key, (size_t)kl,
                                 json_stringn(buf, (size_t)vl));
        i = j + 1;
    }
    free(buf);
    free(key);
    return o;
fail:
    free(buf);
    free(key);
    json_decref(o);
    return NULL;
}

json_t *srv_req_body(srv_req *r, bool form_ok)
{
    json_error_t e;

    if (r->body_len == 0)
        return json_object();
    if (strncasecmp(r->content_type, "application/json", 16) == 0) {
        json_t *o = json_loadb(r->body, r->body_len, 0, &e);
        if (!o) {
            srv_req_error(r, -SRV_EINVAL, NULL,
                          "the body is not valid JSON: %s at line "
                          "%d, column %d",
                          e.text, e.line, e.column);
            return NULL;
        }
        if (!json_is_object(o)) {
            json_decref(o);
            srv_req_error(r, -SRV_EINVAL, NULL,
                          "the body must be a JSON object");
            return NULL;
        }
        return o;
    }
    if (form_ok && strncasecmp(r->content_type,
                               "application/x-www-form-urlencoded", 33) == 0) {
        char err[512];
        json_t *o = parse_form(r->body, r->body_len, err, sizeof err);
        if (!o)
            srv_req_error(r, -SRV_EINVAL, NULL, "%s", err);
        return o;
    }
    srv_req_error(r, -SRV_EMEDIA, NULL,
                  "content type '%s' is not accepted here; send "
                  "application/json%s",
                  r->content_type[0] ? r->content_type : "(none)",
                  form_ok ? " or application/x-www-form-urlencoded" : "");
    return NULL;
}

static bool arg_long(srv_req *r, const char *name, long lo, long hi, long def,
                     long *out)
{
    const char *v = srv_req_arg(r, name);
    char *e;

    *out = def;
    if (!v)
        return true;
    long n = strtol(v, &e, 10);
    if (*e || e == v || n < lo || n > hi) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "query parameter '%s' must be a whole number from "
                      "%ld to %ld, not '%s'",
                      name, lo, hi, v);
        return false;
    }
    *out = n;
    return true;
}

json_t *srv_page(srv_req *r, json_t *items, const char *key, const char *path)
{
    long page, size;

    if (!arg_long(r, "page", 0, 1000000, 0, &page) ||
        !arg_long(r, "size", 1, 1000, 20, &size)) {
        json_decref(items);
        return NULL;
    }
    size_t total = json_array_size(items);
    size_t pages = (total + (size_t)size - 1) / (size_t)size;
    json_t *slice = json_array();
    for (size_t k = (size_t)(page * size);
         k < total && k < (size_t)((page + 1) * size); k++)
        json_array_append(slice, json_array_get(items, k));
    json_decref(items);
    json_t *links = json_pack("{s:{s:s+}}", "self", "href", path, "");
    char href[512];
    snprintf(href, sizeof href, "%s?page=%ld&size=%ld", path, page, size);
    json_object_set_new(links, "self", json_pack("{s:s}", "href", href));
    if ((size_t)page + 1 < pages) {
        snprintf(href, sizeof href, "%s?page=%ld&size=%ld", path, page + 1,
                 size);
        json_object_set_new(links, "next", json_pack("{s:s}", "href", href));
    }
    if (page > 0) {
        snprintf(href, sizeof href, "%s?page=%ld&size=%ld", path, page - 1,
                 size);
        json_object_set_new(links, "prev", json_pack("{s:s}", "href", href));
    }
    return json_pack("{s:{s:o},s:o,s:{s:i,s:I,s:I,s:i}}", "_embedded", key,
                     slice, "_links", links, "page", "size", (int)size,
                     "totalElements", (json_int_t)total, "totalPages",
                     (json_int_t)pages, "number", (int)page);
}

/* ---- service ---- */

static void api_health(srv *s, srv_req *r)
{
    (void)s;
    srv_req_json(r, 200, json_pack("{s:s}", "status", "UP"));
}

static void api_ready(srv *s, srv_req *r)
{
    if (!s->ready) {
        srv_req_error(r, -SRV_ENOTREADY, NULL,
                      "flowd is starting: restoring deployed streams");
        return;
    }
    if (s->store.failing) {
        srv_req_error(r, -SRV_ENOTREADY, NULL,
                      "the store %s cannot be written (%s), so changes are "
                      "refused; %s (GET /about has the counts)",
                      s->store.path, s->store.last_err,
                      s->store.last_code == SQLITE_FULL
                          ? "free space on its disk"
                          : "see flowd's log");
        return;
    }
    srv_req_json(r, 200, json_pack("{s:s}", "status", "READY"));
}

/* The security part of /about: how requests are authenticated. */
static json_t *about_security(srv *s)
{
    json_t *o =
        json_pack("{s:b,s:s}", "authenticationEnabled", !s->cfg.auth_none,
                  "authentication", s->cfg.auth_none ? "none" : "token");

    if (s->cfg.auth_none)
        json_object_set_new(
            o, "warning",
            json_string("flowd runs with --auth=none: every local user can "
                        "read and change every stream; restart it without "
                        "--auth=none to require a token"));
    else {
        json_object_set_new(o, "tokenSource", json_string(s->cfg.token_from));
        if (strcmp(s->cfg.token_from, "file") == 0)
            json_object_set_new(o, "tokenFile", json_string(s->cfg.token_file));
    }
    return o;
}

/* The store's health: whether writes fail now, the last failure and the
 * failed writes by kind since flowd started. */
static json_t *store_json(const srv_store *st)
{
    char since[32] = "";
    json_t *kinds = json_object();

    for (int k = 0; k < st->nkinds; k++)
        json_object_set_new(kinds, st->kinds[k].name,
                            json_integer((json_int_t)st->kinds[k].failed));
    if (st->failing)
        srv_iso(st->failing_since_ms / 1000, since, sizeof since);
    return json_pack("{s:s,s:s,s:i,s:s,s:s?,s:s?,s:I,s:o}", "type", "sqlite",
                     "path", st->path, "schemaVersion", st->version, "status",
                     st->failing ? "failing" : "ok", "failingSince",
                     st->failing ? since : NULL, "lastError",
                     st->failed_total ? st->last_err : NULL, "failedWrites",
                     (json_int_t)st->failed_total, "failedWritesByKind", kinds);
}

static void api_about(srv *s, srv_req *r)
{
    char zv[32];
    int a, b, c;

    zmq_version(&a, &b, &c);
    snprintf(zv, sizeof zv, "%d.%d.%d", a, b, c);
    srv_req_json(r, 200,
                 json_pack("{s:{s:s,s:s,s:s,s:s,s:s},s:s,s:o,"
                           "s:o,s:o}",
                           "versionInfo", "flowd", FLOW_VERSION, "libuv",
                           uv_version_string(), "zmq", zv, "sqlite",
                           sqlite3_libversion(), "jansson", JANSSON_VERSION,
                           "dataDir", s->cfg.data_dir, "store",
                           store_json(&s->store), "security", about_security(s),
                           "_links", srv_links("/about")));
}

/* ---- runtime ---- */

static void api_runtime_apps(srv *s, srv_req *r)
{
    json_t *items = json_array();

    for (srv_stream *st = s->streams; st; st = st->next)
        for (size_t k = 0; k < st->napps; k++)
            json_array_append_new(items, srv_app_status_json(s, &st->apps[k]));
    json_t *p = srv_page(r, items, "appStatusResourceList", "/runtime/apps");
    if (p)
        srv_req_json(r, 200, p);
}

static void api_runtime_app(srv *s, srv_req *r)
{
    const char *id = r->match.params[0];
    const char *dot = strchr(id, '.');

    if (dot) {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(dot - id), id);
        srv_stream *st = srv_stream_find(s, name);
        srv_dapp *a = st ? srv_stream_app(st, dot + 1) : NULL;
        if (a) {
            srv_req_json(r, 200, srv_app_status_json(s, a));
            return;
        }
    }
    srv_req_error(r, -SRV_ENOTFOUND, NULL,
                  "no deployed app '%s' (ids are STREAM.LABEL)", id);
}

static void api_runtime_streams(srv *s, srv_req *r)
{
    json_t *items = json_array();

    for (srv_stream *st = s->streams; st; st = st->next) {
        if (!st->deployed && !st->napps)
            continue;
        json_t *apps = json_array();
        for (size_t k = 0; k < st->napps; k++)
            json_array_append_new(apps, srv_app_status_json(s, &st->apps[k]));
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", st->name, "status",
                      srv_status_name(st->status), "statusDescription",
                      st->status_desc, "applications", apps, "_links",
                      srv_links("/streams/deployments/%s", st->name));
        srv_guarantee_put(s, st, o);
        json_array_append_new(items, o);
    }
    json_t *p =
        srv_page(r, items, "streamStatusResourceList", "/runtime/streams");
    if (p)
        srv_req_json(r, 200, p);
}

/* ---- apps ---- */

static bool type_ok(const char *t)
{
    return strcmp(t, "source") == 0 || strcmp(t, "processor") == 0 ||
           strcmp(t, "sink") == 0;
}

static json_t *app_json(const char *type, const char *name, json_t *e,
                        bool with_options)
{
    json_t *d = json_object_get(e, "describe");
    json_t *o = json_pack("{s:s,s:s,s:O,s:O,s:O,s:o}", "name", name, "type",
                          type, "uri", json_object_get(e, "uri"), "builtin",
                          json_object_get(e, "builtin"), "description",
                          json_object_get(d, "description")
                              ? json_object_get(d, "description")
                              : json_null(),
                          "_links", srv_links("/apps/%s/%s", type, name));
    if (o && with_options) {
        json_t *opts = json_object_get(d, "options");
        json_object_set(o, "options", opts ? opts : json_array());
    }
    return o;
}

static int cmp_apps(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    static const char *order[] = { "source", "processor", "sink" };
    int tx = 0, ty = 0;
    for (int k = 0; k < 3; k++) {
        if (strcmp(json_string_value(json_object_get(x, "type")), order[k]) ==
            0)
            tx = k;
        if (strcmp(json_string_value(json_object_get(y, "type")), order[k]) ==
            0)
            ty = k;
    }
    if (tx != ty)
        return tx - ty;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

static void api_apps_list(srv *s, srv_req *r)
{
    const char *type = srv_req_arg(r, "type");
    const char *search = srv_req_arg(r, "search");
    const char *key;
    json_t *e;
    json_t *v[1024];
    size_t n = 0;

    if (type && *type && !type_ok(type)) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "type must be source, processor or sink, not "
                      "'%s'",
                      type);
        return;
    }
    json_object_foreach(s->app_uris, key, e)
    {
        char t[32];
        const char *slash = strchr(key, '/');
        snprintf(t, sizeof t, "%.*s", (int)(slash - key), key);
        if (type && *type && strcmp(type, t) != 0)
            continue;
        if (search && *search && !strstr(slash + 1, search))
            continue;
        if (n < 1024)
            v[n++] = app_json(t, slash + 1, e, false);
    }
    qsort(v, n, sizeof v[0], cmp_apps);
    json_t *items = json_array();
    for (size_t k = 0; k < n; k++)
        json_array_append_new(items, v[k]);
    json_t *p = srv_page(r, items, "appRegistrationResourceList", "/apps");
    if (p)
        srv_req_json(r, 200, p);
}

static bool app_params_ok(srv_req *r)
{
    const char *type = r->match.params[0], *name = r->match.params[1];
    if (!type_ok(type)) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "app type must be source, processor or sink, "
                      "not '%s'",
                      type);
        return false;
    }
    if (!srv_name_ok(name)) {
        char msg[256];
        srv_req_error(
            r, 400, NULL, "%s",
            dsl_name_message(msg, sizeof msg, "app", name, strlen(name)));
        return false;
    }
    return true;
}

static void api_app_get(srv *s, srv_req *r)
{
    if (!app_params_ok(r))
        return;
    json_t *e = srv_registry_entry(s, r->match.params[0], r->match.params[1]);
    if (!e) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no %s app named '%s'",
                      r->match.params[0], r->match.params[1]);
        return;
    }
    srv_req_json(r, 200,
                 app_json(r->match.params[0], r->match.params[1], e, true));
}

static void api_app_register(srv *s, srv_req *r)
{
    char err[1024];

    if (!app_params_ok(r))
        return;
    json_t *b = srv_req_body(r, true);
    if (!b)
        return;
    const char *uri = json_string_value(json_object_get(b, "uri"));
    json_t *f = json_object_get(b, "force");
    bool force = json_is_true(f) || (json_is_string(f) &&
                                     strcmp(json_string_value(f), "true") == 0);
    if (!uri || !*uri) {
        srv_req_error(r, -SRV_EINVAL, NULL,
                      "the request needs 'uri': the absolute path of "
                      "an executable");
        json_decref(b);
        return;
    }
    int code = srv_registry_register(s, r->match.params[0], r->match.params[1],
                                     uri, force, err, sizeof err);
    json_decref(b);
    if (code) {
        srv_req_error(r, code, NULL, "%s", err);
        return;
    }
    srv_req_json(
        r, 201,
        app_json(r->match.params[0], r->match.params[1],
                 srv_registry_entry(s, r->match.params[0], r->match.params[1]),
                 true));
}

static void api_app_delete(srv *s, srv_req *r)
{
    if (!app_params_ok(r))
        return;
    const char *type = r->match.params[0], *name = r->match.params[1];
    json_t *e = srv_registry_entry(s, type, name);
    if (!e) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no %s app named '%s'", type,
                      name);
        return;
    }
    for (srv_stream *st = s->streams; st; st = st->next)
        for (size_t k = 0; k < st->ast->n_apps; k++)
            if (strcmp(st->ast->apps[k].name, name) == 0) {
                srv_req_error(r, -SRV_EINUSE, NULL,
                              "stream '%s' uses app '%s'; "
                              "destroy it first",
                              st->name, name);
                return;
            }
    json_t *o = app_json(type, name, e, false);
    int rc = srv_registry_unregister(s, type, name);
    if (rc == -SRV_ENOMEM) {
        json_decref(o);
        srv_req_error(r, rc, NULL,
                      "%s app '%s' is unregistered, but the list of apps "
                      "could not be rebuilt: out of memory",
                      type, name);
        return;
    }
    if (rc) {
        json_decref(o);
        srv_req_error(r, rc, NULL,
                      "cannot unregister %s app '%s': the store %s refused "
                      "it (%s), so nothing was changed; %s",
                      type, name, s->store.path, s->store.err,
                      srv_store_advice(&s->store));
        return;
    }
    srv_req_json(r, 200, o);
}

/* ---- completions ---- */

static void api_completions(srv *s, srv_req *r)
{
    const char *start = srv_req_arg(r, "start");
    dsl_completions c = { 0 };

    if (!start)
        start = "";
    if (dsl_complete(start, strlen(start), s->reg, &c)) {
        srv_req_error(r, -SRV_ENOMEM, NULL, "out of memory");
        return;
    }
    json_t *arr = json_array();
    for (size_t k = 0; k < c.n; k++)
        json_array_append_new(
            arr, json_pack("{s:s,s:s}", "text", c.v[k].text, "explanation",
                           c.v[k].description ? c.v[k].description : ""));
    dsl_completions_fini(&c);
    srv_req_json(r, 200, json_pack("{s:o}", "proposals", arr));
}

/* ---- static ---- */

static void api_index(srv *s, srv_req *r)
{
    srv_static_serve(s, r, s->cfg.dashboard_dir, "index.html");
}

static void api_dashboard(srv *s, srv_req *r)
{
    srv_static_serve(s, r, s->cfg.dashboard_dir, r->match.params[0]);
}

static void api_uplot(srv *s, srv_req *r)
{
    srv_static_serve(s, r, s->cfg.uplot_dir, r->match.params[0]);
}

typedef void (*handler_fn)(srv *s, srv_req *r);

#define R(m, p, f)      \
    {                   \
        m, p, (void *)f \
    }
static const srv_route routes[] = {
    R(SRV_GET, "/", api_index),
    R(SRV_GET, "/dashboard/{*}", api_dashboard),
    R(SRV_GET, "/vendor/uplot/{*}", api_uplot),
    R(SRV_GET, "/health", api_health),
    R(SRV_GET, "/ready", api_ready),
    R(SRV_GET, "/about", api_about),
    R(SRV_GET, "/streams/definitions", api_definitions_list),
    R(SRV_POST, "/streams/definitions", api_definitions_create),
    R(SRV_GET, "/streams/definitions/{}", api_definitions_get),
    R(SRV_DELETE, "/streams/definitions/{}", api_definitions_delete),
    R(SRV_POST, "/streams/validation", api_validation),
    R(SRV_POST, "/streams/deployments/scale/{}/{}/instances/{}",
      api_deployments_scale),
    R(SRV_GET, "/streams/deployments/{}/manifests", api_deployments_manifests),
    R(SRV_GET, "/streams/deployments/{}", api_deployments_get),
    R(SRV_POST, "/streams/deployments/{}", api_deployments_create),
    R(SRV_DELETE, "/streams/deployments/{}", api_deployments_delete),
    R(SRV_GET, "/streams/destinations", api_destinations_list),
    R(SRV_GET, "/streams/destinations/{}", api_destinations_get),
    R(SRV_POST, "/streams/destinations/{}/groups", api_destination_group_add),
    R(SRV_DELETE, "/streams/destinations/{}/groups/{}",
      api_destination_group_delete),
    R(SRV_POST, "/streams/destinations/{}/producers",
      api_destination_producer_add),
    R(SRV_DELETE, "/streams/destinations/{}/producers/{}",
      api_destination_producer_delete),
    R(SRV_GET, "/streams/logs/{}", api_logs),
    R(SRV_GET, "/streams/logs/{}/{}", api_logs),
    R(SRV_GET, "/runtime/apps", api_runtime_apps),
    R(SRV_GET, "/runtime/apps/{}", api_runtime_app),
    R(SRV_GET, "/runtime/streams", api_runtime_streams),
    R(SRV_GET, "/apps", api_apps_list),
    R(SRV_GET, "/apps/{}/{}", api_app_get),
    R(SRV_POST, "/apps/{}/{}", api_app_register),
    R(SRV_DELETE, "/apps/{}/{}", api_app_delete),
    R(SRV_GET, "/functions", api_functions_list),
    R(SRV_GET, "/functions/{}", api_function_get),
    R(SRV_POST, "/functions/{}", api_function_register),
    R(SRV_DELETE, "/functions/{}", api_function_delete),
    R(SRV_GET, "/metrics", api_prometheus),
    R(SRV_GET, "/metrics/{}", api_counters_list),
    R(SRV_GET, "/metrics/{}/{}", api_counter_get),
    R(SRV_DELETE, "/metrics/{}/{}", api_counter_delete),
    R(SRV_GET, "/events", api_events),
    R(SRV_GET, "/completions/stream", api_completions),
};

void srv_api_routes_print(FILE *out)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        for (int bit = 1; bit <= SRV_OPTIONS; bit <<= 1)
            if (routes[i].methods & bit)
                fprintf(out, "%s %s\n", srv_method_name(bit),
                        routes[i].pattern);
}

/* Compares in time that depends only on the lengths. */
static bool token_equal(const char *given, size_t glen, const char *want)
{
    size_t wlen = strlen(want);
    unsigned char diff = (unsigned char)(glen != wlen);

    for (size_t k = 0; k < wlen; k++)
        diff |= (unsigned char)(want[k] ^ (k < glen ? given[k] : 0));
    return diff == 0;
}

/* Whether r carries the token. The token goes in "Authorization: Bearer";
 * only /events also takes it as ?access_token=, because a browser's
 * EventSource cannot send headers. Elsewhere a token in the URL (where logs
 * and histories keep it) is refused, with *in_url set. */
static bool authorized(srv *s, srv_req *r, bool *in_url)
{
    const char *a = r->authorization;
    const char *q = srv_req_arg(r, "access_token");

    *in_url = false;
    if (s->cfg.auth_none)
        return true;
    if (q && strcmp(r->path, "/events") != 0) {
        *in_url = true;
        return false;
    }
    if (strncasecmp(a, "Bearer ", 7) == 0)
        return token_equal(a + 7, strlen(a + 7), s->cfg.token);
    if (q)
        return token_equal(q, strlen(q), s->cfg.token);
    return false;
}

void srv_api_dispatch(void *ud, srv_req *r)
{
    srv *s = ud;
    char allow[128];
    bool in_url;

    /* /health and the static dashboard files (no data; the page asks for
     * the token) need no token. */
    bool open = (r->method & (SRV_GET | SRV_HEAD)) &&
                (strcmp(r->path, "/health") == 0 || strcmp(r->path, "/") == 0 ||
                 strncmp(r->path, "/dashboard/", 11) == 0 ||
                 strncmp(r->path, "/vendor/uplot/", 14) == 0);
    if (!open && !authorized(s, r, &in_url)) {
        if (in_url)
            srv_req_error(r, -SRV_EUNAUTHORIZED, NULL,
                          "?access_token= is accepted only on /events; send "
                          "the token as Authorization: Bearer TOKEN");
        else
            srv_req_error(r, -SRV_EUNAUTHORIZED, NULL,
                          "this flowd needs a token: send Authorization: "
                          "Bearer TOKEN (flowd keeps it in the file 'token' "
                          "of its data directory; flowctl reads it there "
                          "when run as the same user)");
        return;
    }
    if (s->cfg.auth_none && !s->loopback &&
        (r->method & (SRV_POST | SRV_PUT | SRV_DELETE))) {
        srv_req_error(r, -SRV_EREFUSED, NULL,
                      "flowd listens on %s with --auth=none, so it "
                      "refuses changes; start it without --auth=none",
                      s->cfg.bind);
        return;
    }
    int rc = srv_router_match(routes, sizeof routes / sizeof routes[0],
                              r->method, r->path, &r->match);
    if (rc == -SRV_ENOTFOUND) {
        srv_req_error(r, rc, NULL, "no route for %s", r->path);
        return;
    }
    if (rc == -SRV_EMETHOD) {
        srv_router_allow(r->match.allow, allow, sizeof allow);
        srv_req_header(r, "Allow", allow);
        srv_req_error(r, -SRV_EMETHOD, NULL, "%s does not accept this method",
                      r->path);
        return;
    }
    ((handler_fn)r->match.route->handler)(s, r);
}
