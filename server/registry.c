/* The app registry: filled at start from the built-in apps' --describe,
 * plus apps registered over REST (persisted in the store). The DSL
 * checker's registry is rebuilt from the descriptions whenever the set
 * changes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apppath.h"
#include "flow-config.h"
#include "flow/install.h"
#include "model.h"

extern char **environ;

#define DESCRIBE_MAX        (256 * 1024)
#define DESCRIBE_TIMEOUT_MS 5000
#define DESCRIBE_ENV_MAX    64

#if defined(__SANITIZE_ADDRESS__)
#define DESCRIBE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DESCRIBE_SANITIZED 1
#endif
#endif

/* The variables of flowd's environment an app's --describe sees: enough
 * to find programs and speak the locale, nothing that steers a loader or
 * carries a secret (FLOW_TOKEN, LD_PRELOAD). */
static bool env_allowed(const char *kv)
{
    return strncmp(kv, "PATH=", 5) == 0 || strncmp(kv, "LANG=", 5) == 0 ||
           strncmp(kv, "LC_", 3) == 0 || strncmp(kv, "TZ=", 3) == 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The limits --describe runs under: it prints a JSON document, so a few
 * CPU seconds, a bounded address space, few files and no core dump are
 * plenty. RLIMIT_NPROC is left alone: it counts every process of flowd's
 * user (its apps too) and does not bind root; the whole process group is
 * killed instead once --describe is over. */
static void set_limits(void)
{
    struct rlimit cpu = { 5, 6 };
    struct rlimit files = { 64, 64 };
    struct rlimit fsize = { 16 << 20, 16 << 20 };
    struct rlimit core = { 0, 0 };

    setrlimit(RLIMIT_CPU, &cpu);
    setrlimit(RLIMIT_NOFILE, &files);
    setrlimit(RLIMIT_FSIZE, &fsize);
    setrlimit(RLIMIT_CORE, &core);
#ifndef DESCRIBE_SANITIZED
    /* AddressSanitizer reserves terabytes of address space for its
     * shadow memory, so a sanitized app cannot run under this limit. */
    struct rlimit as = { 1UL << 30, 1UL << 30 };
    setrlimit(RLIMIT_AS, &as);
#endif
}

/* Runs path arg in its own process group, with stdin from /dev/null,
 * stderr discarded, only the allowlisted environment, the limits above
 * and no descriptor of flowd's but the pipe, and reads what it prints.
 * Killed (with everything it started) when it has not finished within
 * DESCRIBE_TIMEOUT_MS. With code NULL, only an exit status of 0 is a
 * success; else any exit is, with its status in *code. */
static int run_capture(const char *path, const char *arg, char **json_out,
                       int *code, char *err, size_t errlen)
{
    int fds[2];
    pid_t pid;
    char *argv[] = { (char *)path, (char *)arg, NULL };
    char *envp[DESCRIBE_ENV_MAX + 1];
    size_t envc = 0;
    char *buf = NULL;
    size_t len = 0;
    int status = 0;
    int64_t deadline;

    *json_out = NULL;
    for (char **e = environ; *e && envc < DESCRIBE_ENV_MAX; e++)
        if (env_allowed(*e))
            envp[envc++] = *e;
    envp[envc] = NULL;
    buf = malloc(DESCRIBE_MAX + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    if (pipe2(fds, O_CLOEXEC)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        free(buf);
        return -SRV_EUNRUNNABLE;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot run '%s %s': %s", path, arg,
                 strerror(errno));
        close(fds[0]);
        close(fds[1]);
        free(buf);
        return -SRV_EUNRUNNABLE;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until execve. */
        int null = open("/dev/null", O_RDWR);
        setpgid(0, 0);
        if (null < 0 || dup2(null, 0) < 0 || dup2(fds[1], 1) < 0 ||
            dup2(null, 2) < 0)
            _exit(127);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        set_limits();
        execve(path, argv, envp);
        _exit(127);
    }
    /* Also here, so that the group exists before it may be killed. */
    setpgid(pid, pid);
    close(fds[1]);
    deadline = mono_ms() + DESCRIBE_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - mono_ms();
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        int n = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen,
                     "'%s %s' did not finish within %d s and was killed", path,
                     arg, DESCRIBE_TIMEOUT_MS / 1000);
            goto kill;
        }
        ssize_t r = read(fds[0], buf + len, DESCRIBE_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == DESCRIBE_MAX) {
            snprintf(err, errlen,
                     "'%s %s' printed more than %d bytes and was killed", path,
                     arg, DESCRIBE_MAX);
            goto kill;
        }
    }
    close(fds[0]);
    fds[0] = -1;
    /* Its output has ended; it has the rest of the time to exit. It is
     * reaped only after its group is killed, so that its pid (the
     * group's id) cannot be reused meanwhile. */
    for (;;) {
        siginfo_t si = { 0 };
        int w = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (w == 0 && si.si_pid == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(err, errlen, "'%s %s': waitid: %s", path, arg,
                     strerror(errno));
            goto kill;
        }
        if (mono_ms() >= deadline) {
            snprintf(err, errlen,
                     "'%s %s' did not exit within %d s and was killed", path,
                     arg, DESCRIBE_TIMEOUT_MS / 1000);
            goto kill;
        }
        poll(NULL, 0, 10);
    }
    /* Nothing it started outlives it. */
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || (!code && WEXITSTATUS(status) != 0)) {
        if (WIFSIGNALED(status))
            snprintf(err, errlen, "'%s %s' was killed by signal %d", path, arg,
                     WTERMSIG(status));
        else
            snprintf(err, errlen, "'%s %s' failed (exit status %d)", path, arg,
                     WEXITSTATUS(status));
        free(buf);
        return -SRV_EUNRUNNABLE;
    }
    if (code)
        *code = WEXITSTATUS(status);
    buf[len] = '\0';
    *json_out = buf;
    return 0;
kill:
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    if (fds[0] >= 0)
        close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    free(buf);
    return -SRV_EUNRUNNABLE;
}

int srv_registry_describe(const char *path, char **json_out, char *err,
                          size_t errlen)
{
    return run_capture(path, "--describe", json_out, NULL, err, errlen);
}

int srv_registry_run(const char *path, const char *arg, char **out, int *code,
                     char *err, size_t errlen)
{
    return run_capture(path, arg, out, code, err, errlen);
}

int srv_registry_check_path(srv *s, const char *uri, char *real, size_t reallen,
                            char *err, size_t errlen)
{
    return srv_apppath_check(uri, geteuid(), (const char *const *)s->apps_dirs,
                             s->napps_dirs, real, reallen, err, errlen);
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

/* Checks uri against the path rules, reads its description and adds it
 * under its own type and name, with the resolved path as its uri.
 * want_type/want_name, when not NULL, must match. Returns 0, or with err
 * set -SRV_EINVAL (not an executable file), -SRV_EREFUSED (the path
 * rules refuse it), -SRV_EUNRUNNABLE (its description does not do) or
 * -SRV_ENOMEM. */
static int add_app(srv *s, const char *uri, bool builtin, const char *want_type,
                   const char *want_name, char *err, size_t errlen,
                   json_t **entry_out)
{
    char *text = NULL;
    char real[PATH_MAX];
    json_error_t jerr;
    int rc = srv_registry_check_path(s, uri, real, sizeof real, err, errlen);

    if (rc == SRV_APPPATH_INVALID)
        return -SRV_EINVAL;
    if (rc)
        return -SRV_EREFUSED;
    uri = real;
    rc = srv_registry_describe(uri, &text, err, errlen);
    if (rc)
        return rc;
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
        return -SRV_EUNRUNNABLE;
    }
    if ((want_type && strcmp(want_type, role) != 0) ||
        (want_name && strcmp(want_name, name) != 0)) {
        snprintf(err, errlen, "'%s' describes itself as %s '%s', not %s '%s'",
                 uri, role, name, want_type, want_name);
        json_decref(d);
        return -SRV_EUNRUNNABLE;
    }
    /* Check the document the way the DSL registry reads it. */
    dsl_registry *probe = dsl_registry_new();
    char *perr = NULL;
    char *dump = json_dumps(d, JSON_COMPACT);
    if (!probe || !dump) {
        dsl_registry_destroy(&probe);
        free(dump);
        json_decref(d);
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    int bad = dsl_registry_add_describe(probe, dump, strlen(dump), &perr);
    dsl_registry_destroy(&probe);
    free(dump);
    if (bad) {
        rc = bad == DSL_ENOMEM || !perr ? -SRV_ENOMEM : -SRV_EUNRUNNABLE;
        snprintf(err, errlen, "'%s --describe' is not valid: %s", uri,
                 perr ? perr : "out of memory");
        free(perr);
        json_decref(d);
        return rc;
    }
    char key[256];
    snprintf(key, sizeof key, "%s/%s", role, name);
    json_t *e = json_pack("{s:s,s:b,s:o}", "uri", uri, "builtin", builtin,
                          "describe", d);
    if (!e || json_object_set_new(s->app_uris, key, e)) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    if (entry_out)
        *entry_out = e;
    return 0;
}

/* Resolves the allowed app directories: the built-in apps' (always)
 * and every --apps-dir, which must exist. */
static int load_dirs(srv *s, const char *const *builtin, size_t nbuiltin,
                     char *err, size_t errlen)
{
    for (size_t i = 0; i < nbuiltin && s->napps_dirs < SRV_APPS_DIRS_MAX; i++) {
        char dir[PATH_MAX];
        const char *slash = strrchr(builtin[i], '/');
        if (!slash)
            continue;
        srv_fmt(dir, sizeof dir, "%.*s", (int)(slash - builtin[i]), builtin[i]);
        char *r = realpath(dir, NULL);
        bool seen = false;
        for (size_t k = 0; r && k < s->napps_dirs; k++)
            seen = seen || strcmp(s->apps_dirs[k], r) == 0;
        if (!r || seen)
            free(r);
        else
            s->apps_dirs[s->napps_dirs++] = r;
    }
    for (int i = 0; i < s->cfg.napps_dir; i++) {
        char *r = realpath(s->cfg.apps_dir[i], NULL);
        if (!r) {
            snprintf(err, errlen, "--apps-dir %s: %s", s->cfg.apps_dir[i],
                     strerror(errno));
            return -1;
        }
        struct stat sb;
        if (stat(r, &sb) || !S_ISDIR(sb.st_mode)) {
            snprintf(err, errlen, "--apps-dir %s: not a directory",
                     s->cfg.apps_dir[i]);
            free(r);
            return -1;
        }
        if (s->napps_dirs == SRV_APPS_DIRS_MAX) {
            free(r);
            break;
        }
        s->apps_dirs[s->napps_dirs++] = r;
    }
    return 0;
}

/* The directory of the built-in apps and flow-host: an installation's
 * libexecdir/flow relative to flowd's own directory, else the build
 * tree's modules/. Empty when neither holds flow-host. */
static void builtin_dir(char *out, size_t outlen)
{
    static const char *const rels[] = { FLOW_APPS_REL, FLOW_BUILD_APPS_REL };

    if (flow_exe_relative_first(rels, 2, "flow-host", out, outlen))
        out[0] = '\0';
}

int srv_registry_load(srv *s, char *err, size_t errlen)
{
    static const char *const names[] = { "", FLOW_BUILTIN_APPS };
    enum { NBUILTIN = sizeof names / sizeof names[0] };
    char dir[PATH_MAX];
    char paths[NBUILTIN][PATH_MAX + 64];
    const char *builtin[NBUILTIN];
    char e[1024];

    builtin_dir(dir, sizeof dir);
    builtin[0] = names[0];
    for (size_t i = 1; i < NBUILTIN; i++) {
        srv_fmt(paths[i], sizeof paths[i], "%s/%s", dir, names[i]);
        builtin[i] = paths[i];
    }
    if (!dir[0])
        fprintf(stderr,
                "flowd: the built-in apps are not in %s or %s beside flowd's "
                "own directory; reinstall flow\n",
                FLOW_APPS_REL, FLOW_BUILD_APPS_REL);
    s->app_uris = json_object();
    if (load_dirs(s, builtin + 1, NBUILTIN - 1, err, errlen))
        return -1;
    /* flow-host sits beside the built-in apps. */
    srv_fmt(s->host_uri, sizeof s->host_uri, "%s/flow-host", dir);
    srv_fmt(s->kafka_uri, sizeof s->kafka_uri, "%s/flow-kafka", dir);
    for (size_t i = 1; i < NBUILTIN; i++) {
        const char *base = strrchr(builtin[i], '/');
        base = base ? base + 1 : builtin[i];
        if (strcmp(base, "flow-host") == 0)
            continue;
        /* Logged even with --quiet: a missing built-in app is an error. */
        if (add_app(s, builtin[i], true, NULL, NULL, e, sizeof e, NULL))
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

int srv_registry_register(srv *s, const char *type, const char *name,
                          const char *uri, bool force, char *err, size_t errlen)
{
    json_t *old = srv_registry_entry(s, type, name);

    if (old && !force) {
        snprintf(err, errlen,
                 "%s '%s' is already registered; pass force=true to "
                 "replace it",
                 type, name);
        return -SRV_EEXIST;
    }
    /* The entry replaced, put back when the store refuses the new one. */
    json_t *prev = json_incref(old);
    json_t *e = NULL;
    int rc = add_app(s, uri, false, type, name, err, errlen, &e);
    if (rc) {
        json_decref(prev);
        return rc;
    }
    uri = json_string_value(json_object_get(e, "uri"));
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
        return srv_store_error(&s->store);
    }
    json_decref(prev);
    rebuild(s);
    return 0;
}

int srv_registry_unregister(srv *s, const char *type, const char *name)
{
    char key[256];

    /* Forgotten in the store first, so that it does not come back. */
    if (srv_store_exec(&s->store, "DELETE FROM apps WHERE type=? AND name=?",
                       "ss", type, name))
        return srv_store_error(&s->store);
    snprintf(key, sizeof key, "%s/%s", type, name);
    json_object_del(s->app_uris, key);
    return rebuild(s) ? -SRV_ENOMEM : 0;
}
