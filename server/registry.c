/* The app registry: filled at start from the built-in apps' --describe,
 * plus apps registered over REST (persisted in the store). The DSL
 * checker's registry is rebuilt from the descriptions whenever the set
 * changes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flow-config.h"
#include "server.h"

extern char **environ;

#define DESCRIBE_MAX        (256 * 1024)
#define DESCRIBE_TIMEOUT_MS 5000

int srv_registry_describe(const char *uri, char **json_out, char *err,
                          size_t errlen)
{
    int fds[2];
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char *argv[] = { (char *)uri, "--describe", NULL };
    char *envp[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
    struct stat sb;
    char *buf = NULL;
    size_t len = 0;
    int status = 0;

    *json_out = NULL;
    if (uri[0] != '/') {
        snprintf(err, errlen, "'%s' is not an absolute path", uri);
        return -1;
    }
    if (stat(uri, &sb) || !S_ISREG(sb.st_mode) || access(uri, X_OK)) {
        snprintf(err, errlen, "'%s' is not an executable file", uri);
        return -1;
    }
    if (pipe2(fds, O_CLOEXEC)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid, uri, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc) {
        close(fds[0]);
        snprintf(err, errlen, "cannot run '%s --describe': %s", uri,
                 strerror(rc));
        return -1;
    }
    buf = malloc(DESCRIBE_MAX + 1);
    if (!buf) {
        close(fds[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        int n = poll(&p, 1, DESCRIBE_TIMEOUT_MS);
        if (n <= 0) {
            kill(pid, SIGKILL);
            snprintf(err, errlen, "'%s --describe' did not finish within %d ms",
                     uri, DESCRIBE_TIMEOUT_MS);
            goto fail;
        }
        ssize_t r = read(fds[0], buf + len, DESCRIBE_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == DESCRIBE_MAX) {
            kill(pid, SIGKILL);
            snprintf(err, errlen, "'%s --describe' printed more than %d bytes",
                     uri, DESCRIBE_MAX);
            goto fail;
        }
    }
    close(fds[0]);
    fds[0] = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "'%s --describe' failed (exit status %d)", uri,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    *json_out = buf;
    return 0;
fail:
    if (fds[0] >= 0)
        close(fds[0]);
    waitpid(pid, NULL, 0);
    free(buf);
    return -1;
}

/* Rebuilds the DSL registry from the stored descriptions. */
static int rebuild(srv *s)
{
    const char *key;
    json_t *e;
    dsl_registry *r = dsl_registry_new();

    if (!r)
        return -1;
    json_object_foreach(s->app_uris, key, e)
    {
        char *text = json_dumps(json_object_get(e, "describe"), JSON_COMPACT);
        if (text) {
            dsl_registry_add_describe(r, text, strlen(text), NULL);
            free(text);
        }
    }
    dsl_registry_destroy(&s->reg);
    s->reg = r;
    return 0;
}

/* Reads uri's description and adds it under its own type and name.
 * want_type/want_name, when not NULL, must match. */
static int add_app(srv *s, const char *uri, bool builtin, const char *want_type,
                   const char *want_name, char *err, size_t errlen,
                   json_t **entry_out)
{
    char *text = NULL;
    json_error_t jerr;

    if (srv_registry_describe(uri, &text, err, errlen))
        return -1;
    json_t *d = json_loads(text, 0, &jerr);
    free(text);
    const char *name = json_string_value(json_object_get(d, "name"));
    const char *role = json_string_value(json_object_get(d, "role"));
    if (!d || !name || !role) {
        snprintf(err, errlen,
                 "'%s --describe' did not print a JSON object with "
                 "name and role%s%s",
                 uri, d ? "" : ": ", d ? "" : jerr.text);
        json_decref(d);
        return -1;
    }
    if ((want_type && strcmp(want_type, role) != 0) ||
        (want_name && strcmp(want_name, name) != 0)) {
        snprintf(err, errlen, "'%s' describes itself as %s '%s', not %s '%s'",
                 uri, role, name, want_type, want_name);
        json_decref(d);
        return -1;
    }
    /* Check the document the way the DSL registry reads it. */
    dsl_registry *probe = dsl_registry_new();
    char *perr = NULL;
    char *dump = json_dumps(d, JSON_COMPACT);
    int bad = !probe || !dump ||
              dsl_registry_add_describe(probe, dump, strlen(dump), &perr);
    dsl_registry_destroy(&probe);
    free(dump);
    if (bad) {
        snprintf(err, errlen, "'%s --describe' is not valid: %s", uri,
                 perr ? perr : "out of memory");
        free(perr);
        json_decref(d);
        return -1;
    }
    char key[256];
    snprintf(key, sizeof key, "%s/%s", role, name);
    json_t *e = json_pack("{s:s,s:b,s:o}", "uri", uri, "builtin", builtin,
                          "describe", d);
    json_object_set_new(s->app_uris, key, e);
    if (entry_out)
        *entry_out = e;
    return 0;
}

int srv_registry_load(srv *s, char *err, size_t errlen)
{
    static const char *const builtin[] = { "", FLOW_BUILTIN_APPS };
    char e[512];

    s->app_uris = json_object();
    /* flow-host sits beside the built-in apps. */
    if (sizeof builtin / sizeof builtin[0] > 1) {
        const char *slash = strrchr(builtin[1], '/');
        srv_fmt(s->host_uri, sizeof s->host_uri, "%.*s/flow-host",
                (int)(slash ? slash - builtin[1] : 0), builtin[1]);
    }
    for (size_t i = 1; i < sizeof builtin / sizeof builtin[0]; i++) {
        const char *base = strrchr(builtin[i], '/');
        base = base ? base + 1 : builtin[i];
        if (strcmp(base, "flow-host") == 0)
            continue;
        if (add_app(s, builtin[i], true, NULL, NULL, e, sizeof e, NULL) &&
            !s->cfg.quiet)
            fprintf(stderr, "flowd: built-in app skipped: %s\n", e);
    }
    sqlite3_stmt *st =
        srv_store_query(&s->store, "SELECT type, name, uri FROM apps", NULL);
    if (!st) {
        snprintf(err, errlen, "%s", s->store.err);
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *uri = (const char *)sqlite3_column_text(st, 2);
        if (add_app(s, uri, false, type, name, e, sizeof e, NULL))
            fprintf(stderr, "flowd: registered app %s/%s skipped: %s\n", type,
                    name, e);
    }
    sqlite3_finalize(st);
    if (rebuild(s)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

json_t *srv_registry_entry(srv *s, const char *type, const char *name)
{
    char key[256];

    snprintf(key, sizeof key, "%s/%s", type, name);
    return json_object_get(s->app_uris, key);
}

/* Registers uri as type/name (REST). Returns an HTTP status. */
int srv_registry_register(srv *s, const char *type, const char *name,
                          const char *uri, bool force, char *err, size_t errlen)
{
    json_t *old = srv_registry_entry(s, type, name);

    if (old && !force) {
        snprintf(err, errlen,
                 "%s '%s' is already registered; pass force=true to "
                 "replace it",
                 type, name);
        return 409;
    }
    if (uri[0] != '/') {
        snprintf(err, errlen,
                 "uri must be the absolute path of an executable, not "
                 "'%s'",
                 uri);
        return 400;
    }
    struct stat sb;
    if (stat(uri, &sb) || !S_ISREG(sb.st_mode) || access(uri, X_OK)) {
        snprintf(err, errlen, "'%s' is not an executable file", uri);
        return 400;
    }
    /* The entry replaced, put back when the store refuses the new one. */
    json_t *prev = json_incref(old);
    if (add_app(s, uri, false, type, name, err, errlen, NULL)) {
        json_decref(prev);
        return 422;
    }
    if (srv_store_exec(&s->store,
                       "INSERT OR REPLACE INTO apps(type, name, uri) "
                       "VALUES (?, ?, ?)",
                       "sss", type, name, uri)) {
        char key[256];
        snprintf(key, sizeof key, "%s/%s", type, name);
        if (prev)
            json_object_set_new(s->app_uris, key, prev);
        else
            json_object_del(s->app_uris, key);
        snprintf(err, errlen,
                 "cannot register %s app '%s': the store %s refused it "
                 "(%s), so nothing was changed; %s",
                 type, name, s->store.path, s->store.err,
                 srv_store_advice(&s->store));
        return srv_store_http_status(&s->store);
    }
    json_decref(prev);
    rebuild(s);
    return 201;
}

int srv_registry_unregister(srv *s, const char *type, const char *name)
{
    char key[256];

    /* Forgotten in the store first, so that it does not come back. */
    if (srv_store_exec(&s->store, "DELETE FROM apps WHERE type=? AND name=?",
                       "ss", type, name))
        return -EIO;
    snprintf(key, sizeof key, "%s/%s", type, name);
    json_object_del(s->app_uris, key);
    return rebuild(s);
}
