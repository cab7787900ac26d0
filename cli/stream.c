/*
 * `flowctl stream create|list|info|destroy|manifests`: stream definitions,
 * and the Kubernetes objects of a stream's deployment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "http.h"
#include "output.h"
#include "props.h"
#include "yaml.h"

static const char stream_help[] =
    "usage: flowctl stream COMMAND ...\n"
    "\n"
    "Commands:\n"
    "  create NAME 'DEFINITION' [--description TEXT] [--deploy]\n"
    "                      store a stream definition (and deploy it)\n"
    "  list [--search TEXT]  every stream with its status\n"
    "  info NAME           the definition, status, and each app with its\n"
    "                      instances, rates, errors and urls\n"
    "  destroy NAME        undeploy and delete a stream\n"
    "  manifests NAME [--properties 'K=V,...'] [--namespace NS] [--image IMG]\n"
    "                      the Kubernetes objects its deployment would apply\n"
    "\n"
    "Examples:\n"
    "  flowctl stream create accounts 'load-sim --rate=1000 | account-events "
    "| counter'\n"
    "  flowctl stream create audit ':accounts.account-events > log' "
    "--deploy\n"
    "  flowctl stream list --search load-sim\n"
    "  flowctl -o json stream info accounts\n"
    "  flowctl stream destroy audit\n"
    "  flowctl stream manifests accounts > accounts.yaml\n";

static const char manifests_help[] =
    "usage: flowctl stream manifests NAME [--properties 'K=V,K2=V2' | "
    "--properties-file FILE]\n"
    "                                [--namespace NS] [--image IMAGE] "
    "[-o yaml|json]\n"
    "\n"
    "Prints the Kubernetes objects that deploying the stream on Kubernetes\n"
    "would apply (a Secret with its transport keys, and per app a Service\n"
    "and a Deployment or StatefulSet), without applying anything: to\n"
    "review them or keep them in Git. The properties are deployment\n"
    "properties as 'flowctl deploy' takes them; without them a deployed\n"
    "stream's own are used, an undeployed stream's none. --namespace\n"
    "(default: default) and --image (default: flow:latest) are where and\n"
    "what the pods run. The output is YAML documents separated by '---'\n"
    "(the default, or -o yaml); -o json prints one v1 List. Both go to\n"
    "'kubectl apply -f -'. A stream that is not deployed gets a new key\n"
    "pair each time.\n"
    "\n"
    "Examples:\n"
    "  flowctl stream manifests accounts | kubectl apply -f -\n"
    "  flowctl stream manifests accounts --properties "
    "'deployer.counter.memory=512m,deployer.*.cpu=500m'\n"
    "  flowctl -o json stream manifests accounts --namespace flow\n";

static const char create_help[] =
    "usage: flowctl stream create NAME 'DEFINITION' [--description TEXT] "
    "[--deploy]\n"
    "\n"
    "Stores a stream definition; the server checks it against the app\n"
    "registry first and shows any error with a caret under it. With\n"
    "--deploy, deploys it too and waits until it is deployed (--no-wait\n"
    "to return at once). Quote the definition: '|' is the shell's pipe.\n"
    "\n"
    "Examples:\n"
    "  flowctl stream create accounts 'load-sim | account-events | counter'\n"
    "  flowctl stream create hits 'time | log' --description 'a clock' "
    "--deploy\n";

/* Paths built from user input are escaped piece by piece. */
static char *path1(const char *fmt, const char *a)
{
    char *ea = http_escape(a);
    size_t n = strlen(fmt) + strlen(ea) + 1;
    char *p = malloc(n);
    snprintf(p, n, fmt, ea);
    free(ea);
    return p;
}

json_t *ctl_stream_names(struct ctl *c)
{
    json_t *doc, *items;
    bool q = c->quiet;
    c->quiet = true;
    int rc = http_get_all(c, "/streams/definitions", &doc, &items);
    c->quiet = q;
    if (rc)
        return NULL;
    json_t *names = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *n = out_str(it, "name", NULL);
        if (n)
            json_array_append_new(names, json_string(n));
    }
    json_decref(doc);
    return names;
}

/* Says what exists when a create hits a name in use. */
static void explain_conflict(struct ctl *c, const char *name)
{
    char *p = path1("/streams/definitions/%s", name);
    json_t *d;
    if (!http_json_quiet(c, "GET", p, NULL, &d)) {
        fprintf(stderr, "  existing: %s = %s (%s)\n", name,
                out_str(d, "dslText", "?"), out_str(d, "status", "?"));
        fprintf(stderr,
                "hint: 'flowctl stream destroy %s' first, or "
                "'flowctl apply -f FILE' to update it\n",
                name);
        json_decref(d);
    }
    free(p);
}

static int create(struct ctl *c, int argc, char **argv)
{
    const char *desc = NULL;
    bool deploy = false;
    struct ctl_opt opts[] = {
        { "description", 'd', &desc, NULL },
        { "deploy", 0, NULL, &deploy },
        { NULL, 0, NULL, NULL },
    };
    char *pos[64];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 64, &npos, "stream create", true);
    if (rc == CTL_HELP)
        return ctl_help(create_help);
    if (rc)
        return rc;
    if (npos < 2)
        return ctl_usage_error("stream create needs a NAME and a "
                               "DEFINITION; see 'flowctl stream create "
                               "--help'");
    /* An unquoted definition arrives as several words: join them. */
    size_t n = 1;
    for (int i = 1; i < npos; i++)
        n += strlen(pos[i]) + 1;
    char *def = malloc(n);
    def[0] = '\0';
    for (int i = 1; i < npos; i++) {
        if (i > 1)
            strcat(def, " ");
        strcat(def, pos[i]);
    }
    json_t *body = json_pack("{s:s, s:s, s:b}", "name", pos[0], "definition",
                             def, "deploy", deploy);
    if (desc)
        json_object_set_new(body, "description", json_string(desc));
    json_t *res;
    c->dsl = def;
    rc = http_json(c, "POST", "/streams/definitions", body, &res);
    c->dsl = NULL;
    json_decref(body);
    if (rc == CTL_EFAIL && c->status == 409)
        explain_conflict(c, pos[0]);
    if (rc)
        goto out;
    if (deploy && c->wait) {
        rc = ctl_wait_status(c, pos[0], "deployed");
        char *p = path1("/streams/definitions/%s", pos[0]);
        ctl_refresh(c, p, &res);
        free(p);
    }
    if (c->json)
        out_json(res);
    else if (!deploy)
        printf("Created stream '%s' (undeployed).\n", pos[0]);
    else if (!c->wait)
        printf("Created stream '%s'; deploying ('flowctl status %s' "
               "follows it).\n",
               pos[0], pos[0]);
    else if (!rc)
        printf("Created and deployed stream '%s'.\n", pos[0]);
    else
        printf("Created stream '%s', but it did not deploy.\n", pos[0]);
    json_decref(res);
out:
    free(def);
    return rc;
}

static int list(struct ctl *c, int argc, char **argv)
{
    const char *search = NULL;
    struct ctl_opt opts[] = {
        { "search", 's', &search, NULL },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 0, &npos, "stream list", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl stream list [--search TEXT]\n"
                        "\n"
                        "Lists every stream definition with its status;\n"
                        "--search keeps those whose name or definition "
                        "contains TEXT.\n"
                        "\n"
                        "Examples:\n"
                        "  flowctl stream list\n"
                        "  flowctl -o json stream list --search counter\n");
    if (rc)
        return rc;
    char *path = search ? path1("/streams/definitions?search=%s", search)
                        : strdup("/streams/definitions");
    json_t *doc, *items;
    rc = http_get_all(c, path, &doc, &items);
    free(path);
    if (rc)
        return rc;
    if (c->json) {
        out_json(doc);
    } else if (json_array_size(items) == 0) {
        printf("No streams%s. Create one with 'flowctl stream create NAME "
               "DEFINITION'.\n",
               search ? " match" : "");
    } else {
        struct out_table *t =
            out_table_new(4, "NAME", "STATUS", "DEFINITION", "DESCRIPTION");
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            const char *st = out_str(it, "status", "?");
            out_table_row(t, out_str(it, "name", "?"), st,
                          out_str(it, "dslText", ""),
                          out_str(it, "description", ""));
            out_table_style(t, 1, out_status_style(st));
        }
        out_table_print(c, &t, stdout);
    }
    json_decref(doc);
    return CTL_OK;
}

void ctl_print_apps(struct ctl *c, json_t *dep)
{
    json_t *apps = json_object_get(dep, "apps");
    if (!json_is_array(apps) || json_array_size(apps) == 0)
        return;
    struct out_table *t =
        out_table_new(11, "APP", "TYPE", "INSTANCE", "STATE", "PID", "IN",
                      "OUT", "IN/S", "OUT/S", "ERRORS", "RESTARTS");
    size_t i, k;
    json_t *app, *in;
    json_array_foreach(apps, i, app)
    {
        json_t *insts = json_object_get(app, "instances");
        const char *label = out_str(app, "label", "?");
        const char *type = out_str(app, "type", "");
        if (!json_is_array(insts) || json_array_size(insts) == 0) {
            const char *st = out_str(app, "status", "?");
            out_table_row(t, label, type, "-", st, "-", "-", "-", "-", "-", "-",
                          "-");
            out_table_style(t, 3, out_status_style(st));
            continue;
        }
        json_array_foreach(insts, k, in)
        {
            char idx[32], pid[32], ib[32], ob[32], rb[32], ro[32], eb[32],
                rs[32];
            snprintf(idx, sizeof(idx), "%.0f", out_num(in, "index", (double)k));
            json_t *p = json_object_get(in, "pid");
            if (json_is_integer(p))
                snprintf(pid, sizeof(pid), "%lld",
                         (long long)json_integer_value(p));
            else
                snprintf(pid, sizeof(pid), "-");
            const char *st = out_str(in, "state", "?");
            out_table_row(
                t, k ? "" : label, k ? "" : type, idx, st, pid,
                out_count(ib, sizeof(ib), out_num(in, "in", 0)),
                out_count(ob, sizeof(ob), out_num(in, "out", 0)),
                out_rate(rb, sizeof(rb), out_num(in, "rateIn", 0)),
                out_rate(ro, sizeof(ro), out_num(in, "rateOut", 0)),
                out_count(eb, sizeof(eb), out_num(in, "errors", 0)),
                out_count(rs, sizeof(rs), out_num(in, "restarts", 0)));
            out_table_style(t, 3, out_status_style(st));
            if (out_num(in, "errors", 0) > 0)
                out_table_style(t, 9, OUT_RED);
        }
    }
    out_table_print(c, &t, stdout);
    /* Where outside clients reach an app (the http and tcp sources). */
    json_array_foreach(apps, i, app)
    {
        json_array_foreach(json_object_get(app, "instances"), k, in)
        {
            const char *url = out_str(in, "url", NULL);
            if (url)
                printf("url of %s.%zu: %s\n", out_str(app, "label", "?"), k,
                       url);
        }
    }
    /* Explain instances that are not running. */
    json_array_foreach(apps, i, app)
    {
        json_array_foreach(json_object_get(app, "instances"), k, in)
        {
            const char *ex = out_str(in, "lastExit", NULL);
            const char *state = out_str(in, "state", "");
            const char *le = out_str(in, "lastError", NULL);
            if (ex && strcmp(state, "deployed"))
                printf("  %s: last exit: %s\n", out_str(in, "id", "?"), ex);
            if (!strcmp(state, "stale"))
                printf("  %s: stale: it stopped reporting metrics\n",
                       out_str(in, "id", "?"));
            if (le && out_num(in, "errors", 0) > 0)
                printf("  %s: last error: %s\n", out_str(in, "id", "?"), le);
        }
    }
}

/* The deployment's guarantee, its checkpoints and recoveries
 * (docs/rest.md: "guarantee", "checkpoint", "recovery"). */
static void print_guarantee(struct ctl *c, json_t *dep)
{
    const char *g = out_str(dep, "guarantee", NULL);
    json_t *ck = json_object_get(dep, "checkpoint");
    json_t *rec = json_object_get(dep, "recovery");

    if (!g)
        return;
    printf("Guarantee:   %s", g);
    const char *note = out_str(dep, "guarantee_note", NULL);
    if (note && *note)
        printf(" (%s)", note);
    printf("\n");
    if (!json_is_object(ck))
        return;
    json_int_t last = json_integer_value(json_object_get(ck, "last_complete"));
    printf("Checkpoint:  ");
    if (last)
        printf("%lld complete at %s", (long long)last,
               out_str(ck, "last_completed_at", "?"));
    else
        printf("none complete yet");
    json_t *fl = json_object_get(ck, "in_flight");
    if (json_is_integer(fl))
        printf(", %lld in flight", (long long)json_integer_value(fl));
    printf(", epoch %lld, every %lld ms\n",
           (long long)json_integer_value(json_object_get(ck, "epoch")),
           (long long)json_integer_value(json_object_get(ck, "interval_ms")));
    json_int_t failed = json_integer_value(json_object_get(ck, "failed"));
    const char *why = out_str(ck, "last_failure", NULL);
    if (failed)
        printf("%sFailed:%s      %lld checkpoint%s; last: %s\n",
               out_style(c, OUT_BOLD, false), out_style(c, OUT_RESET, false),
               (long long)failed, failed == 1 ? "" : "s", why ? why : "?");
    json_int_t nrec = json_integer_value(json_object_get(rec, "count"));
    if (nrec)
        printf("Recoveries:  %lld (p50 %lld ms, p99 %lld ms)\n",
               (long long)nrec,
               (long long)json_integer_value(json_object_get(rec, "p50_ms")),
               (long long)json_integer_value(json_object_get(rec, "p99_ms")));
}

static int info(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 1, &npos, "stream info", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl stream info NAME\n"
                        "\n"
                        "Shows a stream's definition, status, delivery "
                        "guarantee with its\n"
                        "checkpoints and recoveries, and each app with its\n"
                        "instances, rates and errors. With -o json: the "
                        "definition\n"
                        "resource with the deployment resource under "
                        "\"deployment\".\n"
                        "\n"
                        "Example:\n"
                        "  flowctl stream info accounts\n");
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("stream info needs a NAME");
    char *p = path1("/streams/definitions/%s", pos[0]);
    json_t *def = NULL, *dep = NULL;
    rc = http_json(c, "GET", p, NULL, &def);
    free(p);
    if (rc)
        return rc;
    p = path1("/streams/deployments/%s", pos[0]);
    rc = http_json(c, "GET", p, NULL, &dep);
    free(p);
    if (rc) {
        json_decref(def);
        return rc;
    }
    if (c->json) {
        json_object_set(def, "deployment", dep);
        out_json(def);
    } else {
        const char *st = out_str(dep, "status", out_str(def, "status", "?"));
        printf("%sName:%s        %s\n", out_style(c, OUT_BOLD, false),
               out_style(c, OUT_RESET, false), out_str(def, "name", "?"));
        printf("Definition:  %s\n", out_str(def, "dslText", ""));
        const char *d = out_str(def, "description", NULL);
        if (d && *d)
            printf("Description: %s\n", d);
        printf("Status:      %s%s%s", out_style(c, out_status_style(st), false),
               st, out_style(c, OUT_RESET, false));
        const char *sd = out_str(dep, "statusDescription",
                                 out_str(def, "statusDescription", NULL));
        if (sd && *sd)
            printf(" (%s)", sd);
        printf("\n");
        const char *pk = out_str(dep, "packaging", NULL);
        if (pk && strcmp(st, "undeployed"))
            printf("Packaging:   %s\n", pk);
        if (strcmp(st, "undeployed"))
            print_guarantee(c, dep);
        json_t *props = json_object_get(dep, "deploymentProperties");
        if (json_object_size(props) > 0) {
            printf("Properties: ");
            const char *k;
            json_t *v;
            const char *sep = " ";
            json_object_foreach(props, k, v)
            {
                char *vs = json_is_string(v) ? strdup(json_string_value(v))
                                             : json_dumps(v, JSON_ENCODE_ANY);
                printf("%s%s=%s", sep, k, vs ? vs : "?");
                free(vs);
                sep = ",";
            }
            printf("\n");
        }
        json_t *apps = json_object_get(dep, "apps");
        if (json_array_size(apps) > 0) {
            printf("\n");
            ctl_print_apps(c, dep);
        } else {
            /* Undeployed: show the parsed apps of the definition. */
            json_t *dapps = json_object_get(def, "apps");
            if (json_array_size(dapps) > 0) {
                printf("\n");
                struct out_table *t =
                    out_table_new(4, "APP", "NAME", "TYPE", "OPTIONS");
                size_t i;
                json_t *a;
                json_array_foreach(dapps, i, a)
                {
                    char opts[1024] = "";
                    const char *k;
                    json_t *v;
                    size_t used = 0;
                    json_object_foreach(json_object_get(a, "options"), k, v)
                    {
                        int w = snprintf(
                            opts + used, sizeof(opts) - used, "%s--%s=%s",
                            used ? " " : "", k,
                            json_string_value(v) ? json_string_value(v) : "");
                        if (w < 0 || (size_t)w >= sizeof(opts) - used)
                            break;
                        used += (size_t)w;
                    }
                    out_table_row(t, out_str(a, "label", "?"),
                                  out_str(a, "name", "?"),
                                  out_str(a, "type", ""), opts);
                }
                out_table_print(c, &t, stdout);
            }
        }
    }
    json_decref(def);
    json_decref(dep);
    return CTL_OK;
}

static int destroy(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 1, &npos, "stream destroy", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl stream destroy NAME\n"
                        "\n"
                        "Undeploys the stream (waiting until every process "
                        "is gone) and\n"
                        "deletes its definition.\n"
                        "\n"
                        "Example:\n"
                        "  flowctl stream destroy accounts\n");
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("stream destroy needs a NAME");
    char *p = path1("/streams/definitions/%s", pos[0]);
    json_t *res;
    if (c->tty_err && !c->json)
        fprintf(stderr, "destroying %s...\r", pos[0]);
    rc = http_json(c, "DELETE", p, NULL, &res);
    if (c->tty_err && !c->json)
        fprintf(stderr, "\033[K");
    free(p);
    if (rc)
        return rc;
    if (c->json)
        out_json(res);
    else
        printf("Destroyed stream '%s'.\n", pos[0]);
    json_decref(res);
    return CTL_OK;
}

/* Appends "&name=value" (value escaped) to the query q (len bytes). */
static void add_query(char *q, size_t len, const char *name, const char *value)
{
    char *e = http_escape(value);
    size_t off = strlen(q);

    snprintf(q + off, len - off, "&%s=%s", name, e ? e : "");
    free(e);
}

static int manifests(struct ctl *c, int argc, char **argv)
{
    const char *props_s = NULL, *props_f = NULL, *ns = NULL, *image = NULL;
    struct ctl_opt opts[] = {
        { "properties", 'p', &props_s, NULL },
        { "properties-file", 'f', &props_f, NULL },
        { "namespace", 'n', &ns, NULL },
        { "image", 'i', &image, NULL },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc =
        ctl_opts(argc, argv, opts, pos, 1, &npos, "stream manifests", false);

    if (rc == CTL_HELP)
        return ctl_help(manifests_help);
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("stream manifests needs a NAME");
    if (props_s && props_f)
        return ctl_usage_error("give --properties or --properties-file, "
                               "not both");
    char *name = http_escape(pos[0]);
    size_t qlen = 16384;
    char *path = malloc(qlen);
    if (!name || !path) {
        free(name);
        free(path);
        fputs("flowctl: out of memory\n", stderr);
        return CTL_EUSAGE;
    }
    snprintf(path, qlen,
             "/streams/deployments/%s/manifests?platform=kubernetes", name);
    free(name);
    if (props_s || props_f) {
        json_t *props = json_object();
        rc = props_s ? props_parse(props, props_s)
                     : props_parse_file(props, props_f);
        char *text = rc ? NULL : json_dumps(props, JSON_COMPACT);
        json_decref(props);
        if (rc || !text) {
            free(text);
            free(path);
            return rc ? rc : CTL_EUSAGE;
        }
        add_query(path, qlen, "properties", text);
        free(text);
    }
    if (ns)
        add_query(path, qlen, "namespace", ns);
    if (image)
        add_query(path, qlen, "image", image);
    json_t *list = NULL;
    rc = http_json(c, "GET", path, NULL, &list);
    free(path);
    if (rc)
        return rc;
    if (c->json) {
        json_t *doc = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind",
                                "List", "items", list);
        out_json(doc);
        json_decref(doc);
    } else {
        size_t i;
        json_t *o;
        json_array_foreach(list, i, o)
        {
            fputs("---\n", stdout);
            yaml_emit(stdout, o);
        }
    }
    json_decref(list);
    return 0;
}

int cmd_stream(struct ctl *c, int argc, char **argv)
{
    if (argc < 2) {
        fputs(stream_help, stderr);
        return CTL_EUSAGE;
    }
    const char *sub = argv[1];
    if (ctl_is_help(sub) || !strcmp(sub, "help"))
        return ctl_help(stream_help);
    if (!strcmp(sub, "create"))
        return create(c, argc - 1, argv + 1);
    if (!strcmp(sub, "list") || !strcmp(sub, "ls"))
        return list(c, argc - 1, argv + 1);
    if (!strcmp(sub, "info") || !strcmp(sub, "show"))
        return info(c, argc - 1, argv + 1);
    if (!strcmp(sub, "destroy") || !strcmp(sub, "delete"))
        return destroy(c, argc - 1, argv + 1);
    if (!strcmp(sub, "manifests"))
        return manifests(c, argc - 1, argv + 1);
    return ctl_usage_error("unknown stream command '%s' (create, list, info, "
                           "destroy, manifests); see 'flowctl stream --help'",
                           sub);
}
