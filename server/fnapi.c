/* The routes of /functions: function libraries, registered, listed,
 * described and unregistered (docs/rest.md). */
#include <stdio.h>
#include <string.h>

#include "api.h"

static json_t *lib_json(const char *name, json_t *e)
{
    json_t *o = json_pack("{s:s,s:O,s:O,s:O,s:O,s:o}", "name", name, "uri",
                          json_object_get(e, "uri"), "abi_version",
                          json_object_get(e, "abi_version"), "library",
                          json_object_get(e, "library"), "functions",
                          json_object_get(e, "functions"), "_links",
                          srv_links("/functions/%s", name));
    json_t *snap = json_object_get(e, "snapshot");
    if (o && snap)
        json_object_set(o, "snapshot", snap);
    json_t *err = json_object_get(e, "error");
    if (o && err)
        json_object_set(o, "error", err);
    return o;
}

static bool name_ok(srv_req *r)
{
    const char *name = r->match.params[0];
    if (!srv_name_ok(name)) {
        char msg[256];
        srv_req_error(r, 400, NULL, "%s",
                      dsl_name_message(msg, sizeof msg, "function library",
                                       name, strlen(name)));
        return false;
    }
    return true;
}

void api_functions_list(srv *s, srv_req *r)
{
    const char *key;
    json_t *e;
    json_t *items = json_array();

    /* Jansson keeps an object's keys in insertion order: sort them. */
    json_t *names = json_array();
    json_object_foreach(s->function_libs, key, e)
    {
        size_t at = json_array_size(names);
        for (size_t k = 0; k < json_array_size(names); k++)
            if (strcmp(key, json_string_value(json_array_get(names, k))) < 0) {
                at = k;
                break;
            }
        json_array_insert_new(names, at, json_string(key));
    }
    for (size_t k = 0; k < json_array_size(names); k++) {
        const char *n = json_string_value(json_array_get(names, k));
        json_array_append_new(
            items, lib_json(n, json_object_get(s->function_libs, n)));
    }
    json_decref(names);
    json_t *p = srv_page(r, items, "functionLibraryResourceList", "/functions");
    if (p)
        srv_req_json(r, 200, p);
}

void api_function_get(srv *s, srv_req *r)
{
    if (!name_ok(r))
        return;
    json_t *e = srv_function_entry(s, r->match.params[0]);
    if (!e) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no function library named '%s'",
                      r->match.params[0]);
        return;
    }
    srv_req_json(r, 200, lib_json(r->match.params[0], e));
}

void api_function_register(srv *s, srv_req *r)
{
    char err[2048];

    if (!name_ok(r))
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
                      "the request needs 'uri': the absolute path of the "
                      "function library (a shared object)");
        json_decref(b);
        return;
    }
    int code = srv_function_register(s, r->match.params[0], uri, force, err,
                                     sizeof err);
    json_decref(b);
    if (code) {
        srv_req_error(r, code, NULL, "%s", err);
        return;
    }
    srv_req_json(r, 201,
                 lib_json(r->match.params[0],
                          srv_function_entry(s, r->match.params[0])));
}

void api_function_delete(srv *s, srv_req *r)
{
    const char *stream;

    if (!name_ok(r))
        return;
    const char *name = r->match.params[0];
    json_t *e = srv_function_entry(s, name);
    if (!e) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no function library named '%s'",
                      name);
        return;
    }
    if (srv_function_in_use(s, name, &stream)) {
        srv_req_error(r, -SRV_EINUSE, NULL,
                      "stream '%s' uses function library '%s' "
                      "(--library=@%s); destroy it first",
                      stream, name, name);
        return;
    }
    json_t *o = lib_json(name, e);
    int rc = srv_function_unregister(s, name);
    if (rc) {
        json_decref(o);
        srv_req_error(r, rc, NULL,
                      "cannot unregister function library '%s': the store "
                      "%s refused it (%s), so nothing was changed; %s",
                      name, s->store.path, s->store.err,
                      srv_store_advice(&s->store));
        return;
    }
    srv_req_json(r, 200, o);
}
