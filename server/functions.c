/* The function libraries (flow/function.h) registered over REST and
 * persisted in the store. flowd never loads a library: it checks the file
 * with the rules of an app's executable (apppath.h) and runs the function
 * app's --describe-library in a short-lived child (srv_registry_run),
 * which loads it and reports its ABI version and functions. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apppath.h"
#include "model.h"

/* Checks the library at uri and describes it, into a new entry
 * {"uri","abi_version","library","snapshot","functions"}. Returns 0, or with
 * err set -SRV_EINVAL, -SRV_EREFUSED (the path rules), -SRV_EUNRUNNABLE (the
 * library does not load or fails the ABI checks) or -SRV_ENOMEM. */
static int describe_lib(srv *s, const char *uri, json_t **entry_out, char *err,
                        size_t errlen)
{
    char real[PATH_MAX], app[PATH_MAX], why[1024];
    char arg[PATH_MAX + 32];
    char *text = NULL;
    int code = 0;
    json_error_t jerr;

    int rc = srv_registry_check_path(s, uri, real, sizeof real, err, errlen);
    if (rc == SRV_APPPATH_INVALID)
        return -SRV_EINVAL;
    if (rc)
        return -SRV_EREFUSED;
    json_t *fe = srv_registry_entry(s, "processor", "function");
    const char *fa = json_string_value(json_object_get(fe, "uri"));
    if (!fa) {
        snprintf(err, errlen,
                 "cannot check %s: the function app (processor 'function') "
                 "is not registered, and it is what loads libraries",
                 real);
        return -SRV_EUNRUNNABLE;
    }
    if (srv_registry_check_path(s, fa, app, sizeof app, why, sizeof why)) {
        snprintf(err, errlen,
                 "cannot check %s: the function app is not run: %s", real, why);
        return -SRV_EUNRUNNABLE;
    }
    srv_fmt(arg, sizeof arg, "--describe-library=%s", real);
    rc = srv_registry_run(app, arg, &text, &code, why, sizeof why);
    if (rc) {
        snprintf(err, errlen, "cannot check %s: %s", real, why);
        return rc;
    }
    json_t *d = json_loads(text, 0, &jerr);
    free(text);
    const char *refused = json_string_value(json_object_get(d, "error"));
    if (code != 0 || refused) {
        if (refused)
            snprintf(err, errlen, "the function library %s is refused: %s",
                     real, refused);
        else
            snprintf(err, errlen,
                     "the function library %s is refused: checking it "
                     "failed (exit status %d)",
                     real, code);
        json_decref(d);
        return -SRV_EUNRUNNABLE;
    }
    json_t *fns = json_object_get(d, "functions");
    json_t *abi = json_object_get(d, "abi_version");
    if (!json_is_array(fns) || !json_is_integer(abi)) {
        snprintf(err, errlen,
                 "'%s %s' did not print a JSON object with abi_version and "
                 "functions%s%s",
                 app, arg, d ? "" : ": ", d ? "" : jerr.text);
        json_decref(d);
        return -SRV_EUNRUNNABLE;
    }
    json_t *snap = json_object_get(d, "snapshot");
    json_t *e = json_pack("{s:s,s:O,s:O,s:b,s:O}", "uri", real, "abi_version",
                          abi, "library", json_object_get(d, "name"),
                          "snapshot", json_is_true(snap), "functions", fns);
    json_decref(d);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    *entry_out = e;
    return 0;
}

int srv_functions_load(srv *s, char *err, size_t errlen)
{
    char e[1024];

    s->function_libs = json_object();
    if (!s->function_libs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sqlite3_stmt *st =
        srv_store_query(&s->store, "SELECT name, uri FROM functions", NULL);
    if (!st) {
        snprintf(err, errlen, "%s", s->store.err);
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *uri = (const char *)sqlite3_column_text(st, 1);
        json_t *entry = NULL;
        /* Kept when it no longer passes, so that it shows with the reason
         * and a deployment naming it says why it cannot run. */
        if (describe_lib(s, uri, &entry, e, sizeof e)) {
            fprintf(stderr, "flowd: registered function library %s: %s\n", name,
                    e);
            entry =
                json_pack("{s:s,s:n,s:n,s:[],s:s}", "uri", uri, "abi_version",
                          "library", "functions", "error", e);
        }
        if (entry)
            json_object_set_new(s->function_libs, name, entry);
    }
    sqlite3_finalize(st);
    return 0;
}

json_t *srv_function_entry(srv *s, const char *name)
{
    return json_object_get(s->function_libs, name);
}

int srv_function_register(srv *s, const char *name, const char *uri, bool force,
                          char *err, size_t errlen)
{
    json_t *e = NULL;

    if (srv_function_entry(s, name) && !force) {
        snprintf(err, errlen,
                 "function library '%s' is already registered; pass "
                 "force=true to replace it",
                 name);
        return -SRV_EEXIST;
    }
    int rc = describe_lib(s, uri, &e, err, errlen);
    if (rc)
        return rc;
    if (srv_store_exec(&s->store,
                       "INSERT OR REPLACE INTO functions(name, uri) "
                       "VALUES (?, ?)",
                       "ss", name,
                       json_string_value(json_object_get(e, "uri")))) {
        json_decref(e);
        snprintf(err, errlen,
                 "cannot register function library '%s': the store %s "
                 "refused it (%s), so nothing was changed; %s",
                 name, s->store.path, s->store.err,
                 srv_store_advice(&s->store));
        return srv_store_error(&s->store);
    }
    if (json_object_set_new(s->function_libs, name, e)) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    return 0;
}

int srv_function_unregister(srv *s, const char *name)
{
    if (srv_store_exec(&s->store, "DELETE FROM functions WHERE name=?", "s",
                       name))
        return srv_store_error(&s->store);
    json_object_del(s->function_libs, name);
    return 0;
}

int srv_function_resolve(srv *s, const char *name, char *real, size_t reallen,
                         char *err, size_t errlen)
{
    json_t *e = srv_function_entry(s, name);
    const char *uri = json_string_value(json_object_get(e, "uri"));
    const char *why = json_string_value(json_object_get(e, "error"));

    if (!uri) {
        snprintf(err, errlen,
                 "no function library is registered as '%s' (flowctl "
                 "function register %s --library PATH)",
                 name, name);
        return -SRV_EUNRUNNABLE;
    }
    if (why) {
        snprintf(err, errlen, "function library '%s' is not run: %s", name,
                 why);
        return -SRV_EUNRUNNABLE;
    }
    /* It passed when it was registered; the file and the directories
     * above it are judged again, as an app's executable is. */
    char e2[1024];
    if (srv_registry_check_path(s, uri, real, reallen, e2, sizeof e2)) {
        snprintf(err, errlen, "function library '%s' is not run: %s", name, e2);
        return -SRV_EUNRUNNABLE;
    }
    return 0;
}

bool srv_function_in_use(srv *s, const char *name, const char **stream)
{
    char want[SRV_NAME_MAX + 16];

    srv_fmt(want, sizeof want, "@%s", name);
    for (srv_stream *st = s->streams; st; st = st->next)
        for (size_t k = 0; k < st->ast->n_apps; k++) {
            const dsl_app *a = &st->ast->apps[k];
            for (size_t o = 0; o < a->n_options; o++)
                if (strcmp(a->options[o].key, "library") == 0 &&
                    strcmp(a->options[o].value, want) == 0) {
                    *stream = st->name;
                    return true;
                }
        }
    return false;
}
