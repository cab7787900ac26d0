/*
 * `flowctl apps` and `flowctl app info|register|unregister`: the app
 * registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "http.h"
#include "output.h"

static bool valid_type(const char *t)
{
    return !strcmp(t, "source") || !strcmp(t, "processor") ||
           !strcmp(t, "sink");
}

static char *app_path(const char *type, const char *name)
{
    char *et = http_escape(type), *en = http_escape(name);
    size_t n = strlen(et) + strlen(en) + 16;
    char *p = malloc(n);
    snprintf(p, n, "/apps/%s/%s", et, en);
    free(et);
    free(en);
    return p;
}

/* Joins the option names of an app resource: "name, rate, seed". */
static void option_names(json_t *app, char *buf, size_t n)
{
    size_t used = 0, i;
    json_t *o;
    buf[0] = '\0';
    json_array_foreach(json_object_get(app, "options"), i, o)
    {
        int w = snprintf(buf + used, n - used, "%s%s", used ? " " : "",
                         out_str(o, "name", "?"));
        if (w < 0 || (size_t)w >= n - used) {
            if (n > 4)
                strcpy(buf + n - 4, "...");
            break;
        }
        used += (size_t)w;
    }
}

int cmd_apps(struct ctl *c, int argc, char **argv)
{
    const char *type = NULL;
    struct ctl_opt opts[] = {
        { "type", 't', &type, NULL },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 0, &npos, "apps", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl apps [--type source|processor|sink]\n"
                        "\n"
                        "Lists the app registry: every app a definition may "
                        "use, with\n"
                        "its type, executable and the options its "
                        "--describe declares.\n"
                        "'flowctl app info NAME' shows one app's options in "
                        "full.\n"
                        "\n"
                        "Examples:\n"
                        "  flowctl apps\n"
                        "  flowctl apps --type sink\n");
    if (rc)
        return rc;
    if (type && !valid_type(type))
        return ctl_usage_error("--type must be source, processor or sink, "
                               "not '%s'",
                               type);
    char path[128];
    snprintf(path, sizeof(path), "/apps%s%s", type ? "?type=" : "",
             type ? type : "");
    json_t *doc, *items;
    rc = http_get_all(c, path, &doc, &items);
    if (rc)
        return rc;
    /* Each app's options come from its own resource. */
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        char *p = app_path(out_str(it, "type", "?"), out_str(it, "name", "?"));
        json_t *one;
        if (!http_json_quiet(c, "GET", p, NULL, &one)) {
            json_t *o = json_object_get(one, "options");
            if (o)
                json_object_set(it, "options", o);
            json_decref(one);
        }
        free(p);
    }
    if (c->json) {
        out_json(doc);
    } else if (json_array_size(items) == 0) {
        printf("The registry is empty.\n");
    } else {
        struct out_table *t =
            out_table_new(4, "TYPE", "NAME", "OPTIONS", "DESCRIPTION");
        json_array_foreach(items, i, it)
        {
            char names[256];
            option_names(it, names, sizeof(names));
            out_table_row(t, out_str(it, "type", "?"), out_str(it, "name", "?"),
                          names, out_str(it, "description", ""));
        }
        out_table_print(c, &t, stdout);
    }
    json_decref(doc);
    return CTL_OK;
}

/* Finds the type of app `name` when the user did not give one. Returns
 * an exit code; *type is new. */
static int find_type(struct ctl *c, const char *name, char **type)
{
    char *en = http_escape(name);
    size_t n = strlen(en) + 32;
    char *p = malloc(n);
    snprintf(p, n, "/apps?search=%s", en);
    free(en);
    json_t *doc, *items;
    int rc = http_get_all(c, p, &doc, &items);
    free(p);
    if (rc)
        return rc;
    size_t i, found = 0;
    json_t *it;
    *type = NULL;
    json_array_foreach(items, i, it)
    {
        if (strcmp(out_str(it, "name", ""), name))
            continue;
        if (found++ == 0)
            *type = strdup(out_str(it, "type", "?"));
    }
    json_decref(doc);
    if (found == 0) {
        fprintf(stderr, "flowctl: no app named '%s' in the registry\n", name);
        fprintf(stderr, "hint: 'flowctl apps' lists them\n");
        return CTL_ENOTFOUND;
    }
    if (found > 1) {
        fprintf(stderr,
                "flowctl: '%s' is registered as more than one type; "
                "give --type\n",
                name);
        free(*type);
        *type = NULL;
        return CTL_EUSAGE;
    }
    return CTL_OK;
}

static int info(struct ctl *c, int argc, char **argv)
{
    const char *type = NULL;
    struct ctl_opt opts[] = {
        { "type", 't', &type, NULL },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 1, &npos, "app info", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl app info NAME [--type TYPE]\n"
                        "\n"
                        "Shows one app of the registry with every option, "
                        "its type,\n"
                        "default and description.\n"
                        "\n"
                        "Example:\n"
                        "  flowctl app info counter\n");
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("app info needs an app NAME");
    if (type && !valid_type(type))
        return ctl_usage_error("--type must be source, processor or sink, "
                               "not '%s'",
                               type);
    char *t = type ? strdup(type) : NULL;
    if (!t) {
        rc = find_type(c, pos[0], &t);
        if (rc)
            return rc;
    }
    char *p = app_path(t, pos[0]);
    free(t);
    json_t *app;
    rc = http_json(c, "GET", p, NULL, &app);
    free(p);
    if (rc)
        return rc;
    if (c->json) {
        out_json(app);
        json_decref(app);
        return CTL_OK;
    }
    printf("%sName:%s        %s\n", out_style(c, OUT_BOLD, false),
           out_style(c, OUT_RESET, false), out_str(app, "name", "?"));
    printf("Type:        %s\n", out_str(app, "type", "?"));
    printf("Executable:  %s%s\n", out_str(app, "uri", "?"),
           json_is_true(json_object_get(app, "builtin")) ? " (built in)" : "");
    printf("Description: %s\n", out_str(app, "description", ""));
    json_t *opts_a = json_object_get(app, "options");
    if (json_array_size(opts_a) > 0) {
        printf("\n");
        struct out_table *tb = out_table_new(5, "OPTION", "TYPE", "DEFAULT",
                                             "REQUIRED", "DESCRIPTION");
        size_t i;
        json_t *o;
        json_array_foreach(opts_a, i, o)
        {
            char type_s[256], dflt[256];
            snprintf(type_s, sizeof(type_s), "%s", out_str(o, "type", "?"));
            json_t *vals = json_object_get(o, "values");
            if (json_is_array(vals) && json_array_size(vals)) {
                size_t k, used = strlen(type_s);
                json_t *v;
                json_array_foreach(vals, k, v)
                {
                    int w = snprintf(type_s + used, sizeof(type_s) - used,
                                     "%s%s", k ? "|" : " (",
                                     json_string_value(v) ? json_string_value(v)
                                                          : "?");
                    if (w < 0 || (size_t)w >= sizeof(type_s) - used)
                        break;
                    used += (size_t)w;
                }
                if (used + 2 < sizeof(type_s))
                    strcat(type_s, ")");
            }
            const char *acc = out_str(o, "access", NULL);
            if (acc) {
                size_t used = strlen(type_s);
                snprintf(type_s + used, sizeof(type_s) - used, " (%s)", acc);
            }
            json_t *d = json_object_get(o, "default");
            if (json_is_string(d))
                snprintf(dflt, sizeof(dflt), "%s", json_string_value(d));
            else if (json_is_null(d) || !d)
                snprintf(dflt, sizeof(dflt), "-");
            else {
                char *s = json_dumps(d, JSON_ENCODE_ANY);
                snprintf(dflt, sizeof(dflt), "%s", s ? s : "?");
                free(s);
            }
            out_table_row(tb, out_str(o, "name", "?"), type_s, dflt,
                          json_is_true(json_object_get(o, "required")) ? "yes"
                                                                       : "no",
                          out_str(o, "description", ""));
        }
        out_table_print(c, &tb, stdout);
    } else {
        printf("Options:     none\n");
    }
    json_decref(app);
    return CTL_OK;
}

static int reg(struct ctl *c, int argc, char **argv, bool unregister)
{
    const char *type = NULL, *uri = NULL;
    bool force = false;
    struct ctl_opt opts[] = {
        { "type", 't', &type, NULL },
        { "uri", 'u', &uri, NULL },
        { "force", 0, NULL, &force },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    const char *cmd = unregister ? "app unregister" : "app register";
    int rc = ctl_opts(argc, argv, opts, pos, 1, &npos, cmd, false);
    if (rc == CTL_HELP)
        return ctl_help(
            unregister
                ? "usage: flowctl app unregister NAME --type TYPE\n"
                  "\n"
                  "Removes an app from the registry (refused while a "
                  "definition\n"
                  "uses it; a built-in app returns at the next start).\n"
                  "\n"
                  "Example:\n"
                  "  flowctl app unregister my-filter --type processor\n"
                : "usage: flowctl app register NAME --type TYPE --uri "
                  "/ABS/PATH [--force]\n"
                  "\n"
                  "Registers an executable as an app. The server runs it "
                  "with\n"
                  "--describe; the name and role it declares must be NAME "
                  "and TYPE\n"
                  "(source, processor or sink). --force replaces an "
                  "existing one.\n"
                  "--uri is an absolute path or a file:///ABS/PATH URI; "
                  "the server\n"
                  "accepts only an executable under its --apps-dir "
                  "directories that\n"
                  "no user but root or its own could have written.\n"
                  "\n"
                  "Example:\n"
                  "  flowctl app register my-filter --type processor --uri "
                  "/opt/flow/bin/flow-my-filter\n");
    if (rc)
        return rc;
    if (npos != 1 || !type || (!unregister && !uri))
        return ctl_usage_error("%s needs NAME --type TYPE%s; see 'flowctl "
                               "%s --help'",
                               cmd, unregister ? "" : " --uri PATH", cmd);
    if (!valid_type(type))
        return ctl_usage_error("--type must be source, processor or sink, "
                               "not '%s'",
                               type);
    if (uri && uri[0] != '/' && strncmp(uri, "file:", 5) != 0)
        return ctl_usage_error("--uri must be an absolute path to an "
                               "executable or a file:///PATH URI, not '%s'",
                               uri);
    char *p = app_path(type, pos[0]);
    json_t *res;
    if (unregister) {
        rc = http_json(c, "DELETE", p, NULL, &res);
    } else {
        json_t *body = json_pack("{s:s, s:b}", "uri", uri, "force", force);
        rc = http_json(c, "POST", p, body, &res);
        json_decref(body);
        if (rc && c->status == 409)
            fprintf(stderr, "hint: --force replaces the registered app\n");
    }
    free(p);
    if (rc)
        return rc;
    if (c->json)
        out_json(res);
    else if (unregister)
        printf("Unregistered %s app '%s'.\n", type, pos[0]);
    else
        printf("Registered %s app '%s' (%s).\n", type, pos[0],
               out_str(res, "uri", uri));
    json_decref(res);
    return CTL_OK;
}

static const char app_help[] =
    "usage: flowctl app COMMAND ...\n"
    "\n"
    "Commands:\n"
    "  info NAME [--type TYPE]       one app with its options\n"
    "  register NAME --type TYPE --uri /ABS/PATH [--force]\n"
    "                                add an executable to the registry\n"
    "  unregister NAME --type TYPE   remove it\n"
    "\n"
    "Examples:\n"
    "  flowctl app info load-sim\n"
    "  flowctl app register my-sink --type sink --uri "
    "/opt/flow/bin/flow-my-sink\n";

int cmd_app(struct ctl *c, int argc, char **argv)
{
    if (argc < 2) {
        fputs(app_help, stderr);
        return CTL_EUSAGE;
    }
    const char *sub = argv[1];
    if (ctl_is_help(sub) || !strcmp(sub, "help"))
        return ctl_help(app_help);
    if (!strcmp(sub, "info") || !strcmp(sub, "show"))
        return info(c, argc - 1, argv + 1);
    if (!strcmp(sub, "register"))
        return reg(c, argc - 1, argv + 1, false);
    if (!strcmp(sub, "unregister"))
        return reg(c, argc - 1, argv + 1, true);
    return ctl_usage_error("unknown app command '%s' (info, register, "
                           "unregister); see 'flowctl app --help'",
                           sub);
}
