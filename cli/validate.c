/*
 * `flowctl validate [-o json] [--registry FILE] [--offline]
 *  (-e DEFINITION | FILE...)`
 *
 * Parses and checks stream definitions. The app registry comes from
 * `--registry FILE` (a JSON array of `--describe` documents), else from
 * the flowd flowctl talks to when it answers (its registered apps
 * included), else from running each built-in app with `--describe`; when
 * none is possible only the structural checks run. Which one was used is
 * said on stderr and in the JSON output ("registry").
 */
#include "validate.h"

#include "ctl.h"
#include "flow-config.h"
#include "http.h"
#include "flow/dsl.h"
#include "flow/expr.h"
#include "flow/install.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DESCRIBE_MAX        (1024 * 1024)
#define DESCRIBE_TIMEOUT_MS 5000

static const char *const builtin_apps[] = { FLOW_BUILTIN_APPS };

static void usage(FILE *f)
{
    fputs("usage: flowctl validate [-o json|text] [--registry FILE] "
          "[--offline]\n"
          "                        (-e DEFINITION | FILE...)\n"
          "\n"
          "Check stream definitions. FILE is a stream file\n"
          "(NAME = DEFINITION per line, '-' reads stdin); -e checks one "
          "definition.\n"
          "The apps are those registered with the flowd at --server when "
          "it answers,\n"
          "else the built-in apps; stderr (and the JSON's \"registry\") "
          "says which.\n"
          "Exit status: 0 valid, 1 invalid, 2 usage error.\n"
          "\n"
          "  -o json          print one JSON document\n"
          "  -e DEFINITION    check this definition (may be repeated)\n"
          "  --registry FILE  apps to check against: a JSON array of "
          "--describe\n"
          "                   documents\n"
          "  --offline        do not ask a server: the built-in apps\n",
          f);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* Run `path --describe` and return its stdout (new), or NULL. */
static char *describe(const char *path, size_t *len)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY,
                                     0);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY,
                                     0);
    char *args[] = { (char *)path, "--describe", NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        return NULL;
    }
    char *buf = malloc(DESCRIBE_MAX + 1);
    size_t n = 0;
    bool ok = buf != NULL;
    long long deadline = now_ms() + DESCRIBE_TIMEOUT_MS;
    while (ok) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            ok = false;
            break;
        }
        struct pollfd p = { pfd[0], POLLIN, 0 };
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            ok = false;
            break;
        }
        ssize_t r = read(pfd[0], buf + n, DESCRIBE_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r > 0 && n + (size_t)r >= DESCRIBE_MAX)) {
            ok = false;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(pfd[0]);
    if (!ok)
        kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!ok || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Fill the registry from the apps registered with the flowd c names
 * (GET /apps, then each app's options). Returns 0 with the number of apps
 * in *napps, CTL_EUNREACH when no flowd answers there, or another CTL_E*
 * when it answered with an error (c->status) or its apps do not load. */
static int load_server(struct ctl *c, dsl_registry *reg, size_t *napps)
{
    json_t *doc = NULL, *list;
    int rc = http_json_quiet(c, "GET", "/apps?size=1000", NULL, &doc);

    *napps = 0;
    if (rc)
        return rc;
    list = json_object_get(json_object_get(doc, "_embedded"),
                           "appRegistrationResourceList");
    size_t k;
    json_t *app;
    json_array_foreach(list, k, app)
    {
        const char *type = json_string_value(json_object_get(app, "type"));
        const char *name = json_string_value(json_object_get(app, "name"));
        char path[512];
        json_t *one = NULL;
        if (!type || !name)
            continue;
        snprintf(path, sizeof path, "/apps/%s/%s", type, name);
        rc = http_json_quiet(c, "GET", path, NULL, &one);
        if (rc)
            break;
        json_t *d =
            json_pack("{s:s,s:s,s:O,s:O}", "name", name, "role", type,
                      "description", json_object_get(one, "description"),
                      "options", json_object_get(one, "options"));
        char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
        char *err = NULL;
        if (!text ||
            dsl_registry_add_describe(reg, text, strlen(text), &err) < 0) {
            fprintf(stderr,
                    "flowctl validate: flowd's app %s/%s does not load: %s\n",
                    type, name, err ? err : "out of memory");
            rc = CTL_EFAIL;
        }
        free(err);
        free(text);
        json_decref(d);
        json_decref(one);
        if (rc)
            break;
        (*napps)++;
    }
    json_decref(doc);
    return rc;
}

/* Fill the registry from the built-in apps; false when any app cannot be
 * described (then the caller checks structure only). */
static bool load_builtin(dsl_registry *reg)
{
    size_t n = sizeof(builtin_apps) / sizeof(builtin_apps[0]);
    if (n == 0 || !builtin_apps[0]) {
        fputs("flowctl validate: no built-in apps are known; checking "
              "structure only\n",
              stderr);
        return false;
    }
    /* The apps lie in an installation's libexecdir/flow relative to
     * flowctl's own directory, or in the build tree's modules/. */
    static const char *const rels[] = { FLOW_APPS_REL, FLOW_BUILD_APPS_REL };
    char dir[PATH_MAX];
    if (flow_exe_relative_first(rels, 2, "flow-host", dir, sizeof dir)) {
        fprintf(stderr,
                "flowctl validate: the built-in apps are not in %s or %s "
                "beside flowctl's own directory; checking structure only "
                "(reinstall flow, or pass --registry FILE)\n",
                FLOW_APPS_REL, FLOW_BUILD_APPS_REL);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        char *err = NULL;
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", dir, builtin_apps[i]);
        char *json = describe(path, &len);
        if (!json || dsl_registry_add_describe(reg, json, len, &err) < 0) {
            fprintf(stderr,
                    "flowctl validate: cannot describe app %s%s%s; checking "
                    "structure only (build the apps, or pass --registry "
                    "FILE)\n",
                    builtin_apps[i], err ? ": " : "", err ? err : "");
            free(err);
            free(json);
            return false;
        }
        free(json);
    }
    return true;
}

/* Read a whole file ("-" is stdin), at most one byte past the parser's
 * limit so that the parser reports the size. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap > (size_t)DSL_MAX_INPUT + 2)
                break;
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    bool bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (!buf || bad) {
        free(buf);
        errno = bad ? EIO : ENOMEM;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* One input: a file or an -e definition, with its parse results. */
typedef struct input {
    const char *name; /* file name, or NULL for -e */
    char *text;
    size_t len;
    dsl_file *file;     /* file inputs */
    dsl_stream *stream; /* -e inputs */
    dsl_errors errs;
} input;

static json_t *error_json(const input *in, const dsl_error *e)
{
    json_t *j = json_pack("{s:I, s:i, s:i, s:s}", "offset",
                          (json_int_t)e->offset, "line", (int)e->line, "column",
                          (int)e->column, "message", e->message);
    if (j && in->name)
        json_object_set_new(j, "file", json_string(in->name));
    return j;
}

static int add_stream_json(json_t *arr, const dsl_stream *s)
{
    char *txt = dsl_stream_to_json(s);
    json_t *j = txt ? json_loads(txt, 0, NULL) : NULL;
    free(txt);
    if (!j || json_array_append_new(arr, j))
        return -1;
    return 0;
}

int flowctl_validate(struct ctl *c, int argc, char **argv)
{
    bool json = false;
    bool offline = c == NULL;
    json_t *used = NULL; /* the "registry" of the JSON output */
    const char *registry_file = NULL;
    const char **defs = calloc((size_t)argc + 1, sizeof(char *));
    const char **files = calloc((size_t)argc + 1, sizeof(char *));
    size_t ndefs = 0, nfiles = 0;
    int status = 2;
    input *in = NULL;
    size_t nin = 0;
    dsl_registry *reg = NULL;
    if (!defs || !files) {
        fputs("flowctl validate: out of memory\n", stderr);
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            status = 0;
            goto out;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) {
                fprintf(stderr,
                        "flowctl validate: %s needs a format "
                        "(json or text)\n",
                        a);
                goto usage;
            }
            const char *fmt = argv[++i];
            if (!strcmp(fmt, "json")) {
                json = true;
            } else if (!strcmp(fmt, "text")) {
                json = false;
            } else {
                fprintf(stderr,
                        "flowctl validate: unknown output format '%s' "
                        "(json or text)\n",
                        fmt);
                goto usage;
            }
        } else if (!strcmp(a, "-e")) {
            if (i + 1 >= argc) {
                fputs("flowctl validate: -e needs a definition\n", stderr);
                goto usage;
            }
            defs[ndefs++] = argv[++i];
        } else if (!strcmp(a, "--registry")) {
            if (i + 1 >= argc) {
                fputs("flowctl validate: --registry needs a file\n", stderr);
                goto usage;
            }
            registry_file = argv[++i];
        } else if (!strcmp(a, "--offline")) {
            offline = true;
        } else if (!strcmp(a, "--")) {
            while (++i < argc)
                files[nfiles++] = argv[i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "flowctl validate: unknown option '%s'\n", a);
            goto usage;
        } else {
            files[nfiles++] = a;
        }
    }
    if (ndefs && nfiles) {
        fputs("flowctl validate: give either -e DEFINITION or FILE..., not "
              "both\n",
              stderr);
        goto usage;
    }
    if (!ndefs && !nfiles) {
        fputs("flowctl validate: nothing to validate: give -e DEFINITION "
              "or FILE...\n",
              stderr);
        goto usage;
    }

    reg = dsl_registry_new();
    if (!reg) {
        fputs("flowctl validate: out of memory\n", stderr);
        goto out;
    }
    bool have_registry = false;
    if (registry_file) {
        size_t len;
        char *err = NULL;
        char *txt = read_all(registry_file, &len);
        if (!txt) {
            fprintf(stderr, "flowctl validate: cannot read %s: %s\n",
                    registry_file, strerror(errno));
            goto out;
        }
        int rc = dsl_registry_add_describe_array(reg, txt, len, &err);
        free(txt);
        if (rc < 0) {
            fprintf(stderr, "flowctl validate: %s: %s\n", registry_file,
                    err ? err : "bad registry");
            free(err);
            goto out;
        }
        have_registry = true;
        used = json_pack("{s:s,s:s}", "source", "file", "file", registry_file);
    } else {
        size_t napps = 0;
        int rc = offline ? CTL_EUNREACH : load_server(c, reg, &napps);
        if (rc == 0) {
            have_registry = true;
            fprintf(stderr,
                    "flowctl validate: checked against the %zu apps "
                    "registered with flowd at %s\n",
                    napps, c->server);
            used = json_pack("{s:s,s:s,s:I}", "source", "server", "server",
                             c->server, "apps", (json_int_t)napps);
        } else {
            /* What the server gave is dropped with its registry. */
            dsl_registry_destroy(&reg);
            reg = dsl_registry_new();
            if (!reg) {
                fputs("flowctl validate: out of memory\n", stderr);
                goto out;
            }
            have_registry = load_builtin(reg);
            char why[256];
            if (offline)
                snprintf(why, sizeof why, "--offline");
            else if (rc == CTL_EUNREACH)
                snprintf(why, sizeof why, "no flowd answers at %s", c->server);
            else
                snprintf(why, sizeof why,
                         "flowd at %s answered HTTP %ld to GET /apps",
                         c->server, c->status);
            fprintf(stderr, "flowctl validate: checked against the %s (%s)\n",
                    have_registry ? "built-in apps" : "structure only", why);
            used = json_pack("{s:s,s:s}", "source",
                             have_registry ? "builtin" : "none", "why", why);
        }
    }

    nin = ndefs + nfiles;
    in = calloc(nin, sizeof(*in));
    if (!in) {
        fputs("flowctl validate: out of memory\n", stderr);
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        in[i].name = files[i];
        in[i].text = read_all(files[i], &in[i].len);
        if (!in[i].text) {
            fprintf(stderr, "flowctl validate: cannot read %s: %s\n", files[i],
                    strerror(errno));
            goto out;
        }
    }
    for (size_t i = 0; i < ndefs; i++) {
        input *p = &in[nfiles + i];
        p->text = strdup(defs[i]);
        p->len = p->text ? strlen(p->text) : 0;
        if (!p->text) {
            fputs("flowctl validate: out of memory\n", stderr);
            goto out;
        }
    }

    /* Parse everything first: the streams of all files are the known
     * streams that taps may refer to. */
    size_t nknown = 0;
    for (size_t i = 0; i < nin; i++) {
        input *p = &in[i];
        int prc;
        if (p->name) {
            prc = dsl_parse_file(p->text, p->len, &p->file, &p->errs);
            if (prc == 0)
                nknown += p->file->n_streams;
        } else {
            prc = dsl_parse_stream(p->text, p->len, &p->stream, &p->errs);
        }
        /* Out of memory says nothing of the text: not "invalid". */
        if (prc == DSL_ENOMEM)
            goto nomem;
    }
    const dsl_stream **known = calloc(nknown ? nknown : 1, sizeof(*known));
    if (!known) {
        fputs("flowctl validate: out of memory\n", stderr);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < nin; i++)
        for (size_t j = 0; in[i].file && j < in[i].file->n_streams; j++)
            known[k++] = in[i].file->streams[j];
    dsl_check_ctx ctx = { .registry = have_registry ? reg : NULL,
                          .check_expr = check_expr };
    dsl_check_ctx fctx = { .registry = have_registry ? reg : NULL,
                           .known = known,
                           .n_known = k,
                           .check_expr = check_expr };
    bool valid = true;
    for (size_t i = 0; i < nin; i++) {
        input *p = &in[i];
        int crc = 0;
        if (p->file) {
            /* Streams of other files join through fctx; the file's own
             * streams are added by dsl_check_file, so count them once. */
            crc = dsl_check_file(p->file, &fctx, p->text, p->len, &p->errs);
        } else if (p->stream) {
            crc = dsl_check_stream(p->stream, &ctx, p->text, p->len, &p->errs);
        }
        if (crc == DSL_ENOMEM) {
            free(known);
            goto nomem;
        }
        if (p->errs.n)
            valid = false;
    }
    free(known);

    if (json) {
        json_t *doc;
        if (valid) {
            json_t *arr = json_array();
            for (size_t i = 0; arr && i < nin; i++) {
                for (size_t j = 0; in[i].file && j < in[i].file->n_streams; j++)
                    if (add_stream_json(arr, in[i].file->streams[j]) < 0)
                        goto nomem;
                if (in[i].stream && add_stream_json(arr, in[i].stream) < 0)
                    goto nomem;
            }
            doc = json_pack("{s:b, s:o, s:O}", "valid", 1, "streams", arr,
                            "registry", used ? used : json_null());
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; arr && i < nin; i++)
                for (size_t j = 0; j < in[i].errs.n; j++)
                    json_array_append_new(arr,
                                          error_json(&in[i], &in[i].errs.v[j]));
            doc = json_pack("{s:b, s:o, s:O}", "valid", 0, "errors", arr,
                            "registry", used ? used : json_null());
        }
        if (!doc)
            goto nomem;
        char *s = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        json_decref(doc);
        if (!s)
            goto nomem;
        puts(s);
        free(s);
    } else {
        for (size_t i = 0; i < nin; i++) {
            input *p = &in[i];
            const char *label = p->name ? p->name : "definition";
            for (size_t j = 0; j < p->errs.n; j++)
                dsl_error_print(stdout, label, p->text, p->len, &p->errs.v[j]);
            if (p->errs.n)
                continue;
            if (p->file) {
                printf("%s: valid (%zu stream%s)\n", label, p->file->n_streams,
                       p->file->n_streams == 1 ? "" : "s");
            } else if (p->stream) {
                char *txt = dsl_stream_print(p->stream);
                printf("valid: %s\n", txt ? txt : "");
                free(txt);
            }
        }
    }
    fflush(stdout);
    status = valid ? 0 : 1;
    goto out;
nomem:
    fputs("flowctl validate: out of memory\n", stderr);
    status = 2;
    goto out;
usage:
    usage(stderr);
    status = 2;
out:
    for (size_t i = 0; in && i < nin; i++) {
        free(in[i].text);
        dsl_file_destroy(&in[i].file);
        dsl_stream_destroy(&in[i].stream);
        dsl_errors_fini(&in[i].errs);
    }
    free(in);
    json_decref(used);
    dsl_registry_destroy(&reg);
    free(defs);
    free(files);
    return status;
}
