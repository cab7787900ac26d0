/*
 * `flowctl apply -f FILE` and `flowctl export`: a stream file (docs/dsl.md:
 * `name = definition` entries, one per line, a line starting with a space
 * or tab continuing the previous one, `#` comments, blank lines) against
 * the server's definitions. Apply creates what is missing, replaces what
 * changed (redeploying it when it ran), leaves the rest alone and reports
 * each; a second apply of the same file changes nothing.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "http.h"
#include "output.h"
#include "streamfile.h"

/* Shows a server error for entry e at its place in the file. */
static void entry_error(struct ctl *c, struct sf_file *f,
                        const struct sf_entry *e, json_t *err)
{
    json_t *errs = json_object_get(err, "errors");
    size_t i;
    json_t *x;
    if (!json_is_array(errs) || !json_array_size(errs)) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s: %s", e->name,
                 out_str(err, "message", "the server refused it"));
        sf_error(c, f, e->name_off, msg);
        return;
    }
    json_array_foreach(errs, i, x)
    {
        json_t *o = json_object_get(x, "offset");
        size_t off = json_is_integer(o) && json_integer_value(o) >= 0
                         ? (size_t)json_integer_value(o)
                         : 0;
        sf_error(c, f, sf_map_offset(f, e, off),
                 out_str(x, "message", "error"));
    }
}

/* A POST whose error document we want for ourselves. Returns the HTTP
 * status (0 with rc set on transport failure). */
static long post(struct ctl *c, const char *path, json_t *body, json_t **res,
                 int *rc)
{
    char *text = json_dumps(body, JSON_COMPACT);
    struct http_resp r;
    *res = NULL;
    *rc = http_raw(c, "POST", path, text, "application/json", &r);
    free(text);
    if (*rc)
        return 0;
    *res = json_loadb(r.body, r.len, JSON_DECODE_ANY, NULL);
    long st = r.status;
    http_resp_fini(&r);
    return st;
}

static char *name_path(const char *fmt, const char *name)
{
    char *e = http_escape(name);
    size_t n = strlen(fmt) + strlen(e) + 1;
    char *p = malloc(n);
    snprintf(p, n, fmt, e);
    free(e);
    return p;
}

static const char apply_help[] =
    "usage: flowctl apply -f FILE [--deploy]\n"
    "\n"
    "Makes the server's definitions match a stream file: creates the "
    "streams\n"
    "that are missing, replaces those whose definition changed (a deployed "
    "one\n"
    "is redeployed with its properties), leaves the rest alone, and reports "
    "what\n"
    "it did. Streams not in the file are not touched. Applying the same "
    "file\n"
    "twice changes nothing. Every definition is checked before anything "
    "is\n"
    "changed; errors point into the file. With --deploy, deploys every "
    "stream\n"
    "of the file that is not deployed and waits for them (--no-wait to "
    "skip).\n"
    "FILE may be '-' for standard input.\n"
    "\n"
    "A stream file:\n"
    "  # the demo pipeline\n"
    "  accounts = load-sim --rate=1000 | account-events\n"
    "      | counter --name=account-load\n"
    "  audit = :accounts.account-events > log\n"
    "\n"
    "Examples:\n"
    "  flowctl apply -f streams/demo.flow\n"
    "  flowctl apply -f streams/demo.flow --deploy\n"
    "  flowctl export > backup.flow && flowctl apply -f backup.flow\n";

/* Validates every entry before anything changes. Entries reading from a
 * destination or tap may depend on streams the file creates first, so
 * their errors are left to creation time. */
static int prevalidate(struct ctl *c, struct sf_file *f)
{
    int bad = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct sf_entry *e = &f->v[i];
        json_t *body =
            json_pack("{s:s, s:s}", "name", e->name, "definition", e->def);
        json_t *res;
        int rc;
        long st = post(c, "/streams/validation", body, &res, &rc);
        json_decref(body);
        if (rc) {
            json_decref(res);
            return rc;
        }
        /* flowd answers 200 {"valid": false, "errors"} (older ones 400). */
        bool invalid =
            st == 400 ||
            (st == 200 && json_is_false(json_object_get(res, "valid")));
        if (invalid) {
            if (e->def[0] != ':') {
                entry_error(c, f, e, res);
                bad++;
            }
        } else if (st != 200 && st != 404 && st != 405) {
            /* 404/405: an older server without validation; create checks. */
            http_print_error(c, st, res, NULL);
            json_decref(res);
            return CTL_EFAIL;
        }
        json_decref(res);
    }
    if (bad) {
        fprintf(stderr,
                "flowctl: %d definition%s in %s %s errors; nothing "
                "was changed\n",
                bad, bad == 1 ? "" : "s", f->path, bad == 1 ? "has" : "have");
        return CTL_EFAIL;
    }
    return 0;
}

/* Creates entry e (and deploys it with props when props is not NULL).
 * Returns an exit code. */
static int create_entry(struct ctl *c, struct sf_file *f, struct sf_entry *e)
{
    json_t *body =
        json_pack("{s:s, s:s}", "name", e->name, "definition", e->def);
    json_t *res;
    int rc;
    long st = post(c, "/streams/definitions", body, &res, &rc);
    json_decref(body);
    if (rc) {
        json_decref(res);
        return rc;
    }
    if (st != 201 && st != 200) {
        entry_error(c, f, e, res);
        json_decref(res);
        return st == 404 ? CTL_ENOTFOUND : CTL_EFAIL;
    }
    json_decref(res);
    return CTL_OK;
}

static int deploy_entry(struct ctl *c, struct sf_entry *e, json_t *props)
{
    char *p = name_path("/streams/deployments/%s", e->name);
    json_t *body = props ? json_incref(props) : json_object();
    int rc = http_json(c, "POST", p, body, NULL);
    json_decref(body);
    free(p);
    if (!rc)
        e->deployed_now = true;
    return rc;
}

/* Applies one entry against the server. */
static int apply_entry(struct ctl *c, struct sf_file *f, struct sf_entry *e,
                       bool deploy)
{
    char *p = name_path("/streams/definitions/%s", e->name);
    json_t *cur = NULL;
    int rc = http_json_quiet(c, "GET", p, NULL, &cur);
    free(p);
    if (rc == CTL_ENOTFOUND) {
        rc = create_entry(c, f, e);
        if (rc)
            return rc;
        e->action = "created";
        e->status = "undeployed";
        if (deploy)
            rc = deploy_entry(c, e, NULL);
        return rc;
    }
    if (rc) {
        /* Say why, this time aloud. */
        p = name_path("/streams/definitions/%s", e->name);
        rc = http_json(c, "GET", p, NULL, NULL);
        free(p);
        return rc ? rc : CTL_EFAIL;
    }
    bool same = sf_same_definition(e, out_str(cur, "dslText", ""));
    const char *st = out_str(cur, "status", "undeployed");
    bool running = strcmp(st, "undeployed") != 0;
    if (same) {
        e->action = "unchanged";
        e->status = running ? "deployed" : "undeployed";
        json_decref(cur);
        if (deploy && !running)
            rc = deploy_entry(c, e, NULL);
        return rc;
    }
    json_decref(cur);
    /* Changed: keep the deployment properties to redeploy with them. */
    json_t *props = NULL;
    if (running) {
        json_t *dep;
        p = name_path("/streams/deployments/%s", e->name);
        rc = http_json(c, "GET", p, NULL, &dep);
        free(p);
        if (rc)
            return rc;
        props = json_incref(json_object_get(dep, "deploymentProperties"));
        json_decref(dep);
    }
    p = name_path("/streams/definitions/%s", e->name);
    rc = http_json(c, "DELETE", p, NULL, NULL);
    free(p);
    if (!rc)
        rc = create_entry(c, f, e);
    if (!rc) {
        e->action = "updated";
        e->status = "undeployed";
        if (running || deploy)
            rc = deploy_entry(c, e, props);
    }
    json_decref(props);
    return rc;
}

int cmd_apply(struct ctl *c, int argc, char **argv)
{
    const char *file = NULL;
    bool deploy = false;
    struct ctl_opt opts[] = {
        { "file", 'f', &file, NULL },
        { "deploy", 0, NULL, &deploy },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 1, &npos, "apply", false);
    if (rc == CTL_HELP)
        return ctl_help(apply_help);
    if (rc)
        return rc;
    if (!file && npos == 1)
        file = pos[0];
    else if (npos)
        return ctl_usage_error("apply takes one file, with -f FILE");
    if (!file)
        return ctl_usage_error("apply needs -f FILE; see 'flowctl apply "
                               "--help'");
    struct sf_file f = { .path = strcmp(file, "-") ? file : "<stdin>" };
    f.text = ctl_read_file(file, &f.len);
    if (!f.text) {
        fprintf(stderr, "flowctl: cannot read '%s': %s\n", file,
                strerror(errno));
        return CTL_EUSAGE;
    }
    if (memchr(f.text, '\0', f.len)) {
        fprintf(stderr,
                "flowctl: %s holds a NUL byte; is it a stream "
                "file?\n",
                f.path);
        sf_fini(&f);
        return CTL_EFAIL;
    }
    rc = sf_parse(c, &f);
    if (!rc && f.n == 0) {
        fprintf(stderr, "flowctl: %s holds no stream definitions\n", f.path);
        rc = CTL_EFAIL;
    }
    if (!rc)
        rc = prevalidate(c, &f);
    size_t done = 0;
    for (; !rc && done < f.n; done++) {
        if (c->tty_err && !c->json)
            fprintf(stderr, "\r\033[Kapplying %s (%zu/%zu)", f.v[done].name,
                    done + 1, f.n);
        rc = apply_entry(c, &f, &f.v[done], deploy);
        if (c->tty_err && !c->json)
            fprintf(stderr, "\r\033[K");
        if (rc)
            break;
    }
    int wrc = 0;
    if (c->wait) {
        for (size_t i = 0; i < f.n; i++) {
            if (!f.v[i].deployed_now)
                continue;
            int r = ctl_wait_status(c, f.v[i].name, "deployed");
            f.v[i].status = r ? "failed" : "deployed";
            if (r && !wrc)
                wrc = r;
        }
    } else {
        for (size_t i = 0; i < f.n; i++)
            if (f.v[i].deployed_now)
                f.v[i].status = "deploying";
    }
    int created = 0, updated = 0, unchanged = 0;
    for (size_t i = 0; i < f.n; i++) {
        const char *a = f.v[i].action;
        if (!a)
            continue;
        created += !strcmp(a, "created");
        updated += !strcmp(a, "updated");
        unchanged += !strcmp(a, "unchanged");
    }
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < f.n; i++) {
            struct sf_entry *e = &f.v[i];
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", e->name,
                               "definition", e->def, "action",
                               e->action ? e->action : "skipped", "status",
                               e->status ? e->status : "unknown", "deployed",
                               e->deployed_now));
        }
        json_t *doc =
            json_pack("{s:s, s:o, s:i, s:i, s:i, s:b}", "file", f.path,
                      "streams", arr, "created", created, "updated", updated,
                      "unchanged", unchanged, "ok", !rc && !wrc);
        out_json(doc);
        json_decref(doc);
    } else if (created + updated + unchanged > 0) {
        struct out_table *t = out_table_new(3, "NAME", "ACTION", "STATUS");
        for (size_t i = 0; i < f.n; i++) {
            struct sf_entry *e = &f.v[i];
            if (!e->action)
                continue;
            char act[64];
            snprintf(act, sizeof(act), "%s%s", e->action,
                     e->deployed_now ? ", deployed" : "");
            out_table_row(t, e->name, act, e->status ? e->status : "?");
            out_table_style(
                t, 1, strcmp(e->action, "unchanged") ? OUT_YELLOW : OUT_DIM);
            out_table_style(t, 2, out_status_style(e->status));
        }
        out_table_print(c, &t, stdout);
        printf("%d created, %d updated, %d unchanged.\n", created, updated,
               unchanged);
    }
    sf_fini(&f);
    return rc ? rc : wrc;
}

static int cmp_defs(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    /* Streams reading from a destination or tap come after the others so
     * that a re-apply creates what they read from first. */
    bool dx = out_str(x, "dslText", "")[0] == ':';
    bool dy = out_str(y, "dslText", "")[0] == ':';
    if (dx != dy)
        return dx - dy;
    return strcmp(out_str(x, "name", ""), out_str(y, "name", ""));
}

int cmd_export(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 0, &npos, "export", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl export\n"
                        "\n"
                        "Prints every stream definition as a stream file "
                        "that\n"
                        "'flowctl apply -f' reads back. With -o json: the "
                        "server's list of\n"
                        "definitions.\n"
                        "\n"
                        "Example:\n"
                        "  flowctl export > all.flow\n");
    if (rc)
        return rc;
    json_t *doc, *items;
    rc = http_get_all(c, "/streams/definitions", &doc, &items);
    if (rc)
        return rc;
    if (c->json) {
        out_json(doc);
        json_decref(doc);
        return CTL_OK;
    }
    size_t n = json_array_size(items);
    json_t **v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(items, i);
    qsort(v, n, sizeof(*v), cmp_defs);
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("# flow stream definitions exported from %s at %s\n", c->server,
           when);
    for (size_t i = 0; i < n; i++) {
        const char *d = out_str(v[i], "description", NULL);
        const char *t = out_str(v[i], "dslText", "");
        char *one = sf_normalize(t, strlen(t), 0, NULL);
        if (d && *d) {
            printf("# ");
            for (const char *p = d; *p; p++)
                putchar(*p == '\n' ? ' ' : *p);
            printf("\n");
        }
        printf("%s = %s\n", out_str(v[i], "name", "?"), one);
        free(one);
    }
    free(v);
    json_decref(doc);
    return CTL_OK;
}
