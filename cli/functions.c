/*
 * `flowctl function list|info|register|unregister`: the function
 * libraries (shared objects of user functions, docs/functions.md) that a
 * stream names as function --library=@NAME.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "http.h"
#include "output.h"

static char *lib_path(const char *name)
{
    char *en = http_escape(name);
    size_t n = strlen(en) + 16;
    char *p = malloc(n);
    snprintf(p, n, "/functions/%s", en);
    free(en);
    return p;
}

/* Joins the names of a library's functions: "on_created on_suspended". */
static void function_names(json_t *lib, char *buf, size_t n)
{
    size_t used = 0, i;
    json_t *f;
    buf[0] = '\0';
    json_array_foreach(json_object_get(lib, "functions"), i, f)
    {
        int w = snprintf(buf + used, n - used, "%s%s", used ? " " : "",
                         out_str(f, "name", "?"));
        if (w < 0 || (size_t)w >= n - used) {
            if (n > 4)
                strcpy(buf + n - 4, "...");
            break;
        }
        used += (size_t)w;
    }
}

static int list(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 0, &npos, "function list", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl function list\n"
                        "\n"
                        "Lists the registered function libraries with "
                        "their path and\n"
                        "the functions each exports.\n");
    if (rc)
        return rc;
    json_t *doc, *items;
    rc = http_get_all(c, "/functions", &doc, &items);
    if (rc)
        return rc;
    if (c->json) {
        out_json(doc);
    } else if (json_array_size(items) == 0) {
        printf("No function library is registered.\n");
    } else {
        struct out_table *t = out_table_new(3, "NAME", "LIBRARY", "FUNCTIONS");
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            char names[512];
            function_names(it, names, sizeof names);
            if (json_object_get(it, "error"))
                snprintf(names, sizeof names, "(refused: %s)",
                         out_str(it, "error", "?"));
            out_table_row(t, out_str(it, "name", "?"), out_str(it, "uri", "?"),
                          names);
        }
        out_table_print(c, &t, stdout);
    }
    json_decref(doc);
    return CTL_OK;
}

static int info(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 1, &npos, "function info", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl function info NAME\n"
                        "\n"
                        "Shows one registered function library: its path, "
                        "ABI version\n"
                        "and each function with its description.\n"
                        "\n"
                        "Example:\n"
                        "  flowctl function info accounts\n");
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("function info needs a library NAME");
    char *p = lib_path(pos[0]);
    json_t *lib;
    rc = http_json(c, "GET", p, NULL, &lib);
    free(p);
    if (rc)
        return rc;
    if (c->json) {
        out_json(lib);
        json_decref(lib);
        return CTL_OK;
    }
    printf("%sName:%s        %s\n", out_style(c, OUT_BOLD, false),
           out_style(c, OUT_RESET, false), out_str(lib, "name", "?"));
    printf("Library:     %s\n", out_str(lib, "uri", "?"));
    json_t *abi = json_object_get(lib, "abi_version");
    if (json_is_integer(abi))
        printf("ABI version: %lld\n", (long long)json_integer_value(abi));
    if (json_object_get(lib, "error"))
        printf("Refused:     %s\n", out_str(lib, "error", "?"));
    printf("Use it as:   function --library=@%s\n", out_str(lib, "name", "?"));
    json_t *fns = json_object_get(lib, "functions");
    if (json_array_size(fns) > 0) {
        printf("\n");
        struct out_table *t =
            out_table_new(3, "FUNCTION", "SNAPSHOT", "DESCRIPTION");
        size_t i;
        json_t *f;
        json_array_foreach(fns, i, f)
        {
            out_table_row(t, out_str(f, "name", "?"),
                          json_is_true(json_object_get(f, "snapshot")) ? "yes"
                                                                       : "no",
                          out_str(f, "description", ""));
        }
        out_table_print(c, &t, stdout);
    }
    json_decref(lib);
    return CTL_OK;
}

static int reg(struct ctl *c, int argc, char **argv, bool unregister)
{
    const char *library = NULL;
    bool force = false;
    struct ctl_opt opts[] = {
        { "library", 'l', &library, NULL },
        { "force", 0, NULL, &force },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    const char *cmd = unregister ? "function unregister" : "function register";
    int rc = ctl_opts(argc, argv, unregister ? NULL : opts, pos, 1, &npos, cmd,
                      false);
    if (rc == CTL_HELP)
        return ctl_help(
            unregister
                ? "usage: flowctl function unregister NAME\n"
                  "\n"
                  "Removes a function library from the registry (refused "
                  "while a\n"
                  "stream definition names it as --library=@NAME).\n"
                  "\n"
                  "Example:\n"
                  "  flowctl function unregister accounts\n"
                : "usage: flowctl function register NAME --library "
                  "/ABS/PATH.so [--force]\n"
                  "\n"
                  "Registers a function library (a shared object that "
                  "exports\n"
                  "flow_functions(), see flow/function.h) as NAME, for "
                  "streams to\n"
                  "run as 'function --library=@NAME'. The server accepts "
                  "only a file\n"
                  "under its --apps-dir directories that no user but root "
                  "or its own\n"
                  "could have written (the rules of an app's executable), "
                  "and checks\n"
                  "its ABI version and functions by loading it in a "
                  "short-lived\n"
                  "child process. --force replaces an existing one.\n"
                  "\n"
                  "Example:\n"
                  "  flowctl function register accounts --library "
                  "/opt/flow/lib/libaccount_functions.so\n");
    if (rc)
        return rc;
    if (npos != 1 || (!unregister && !library))
        return ctl_usage_error("%s needs NAME%s; see 'flowctl %s --help'", cmd,
                               unregister ? "" : " --library PATH", cmd);
    if (library && library[0] != '/' && strncmp(library, "file:", 5) != 0)
        return ctl_usage_error("--library must be the absolute path of a "
                               "shared object or a file:///PATH URI, not "
                               "'%s'",
                               library);
    char *p = lib_path(pos[0]);
    json_t *res;
    if (unregister) {
        rc = http_json(c, "DELETE", p, NULL, &res);
    } else {
        json_t *body = json_pack("{s:s, s:b}", "uri", library, "force", force);
        rc = http_json(c, "POST", p, body, &res);
        json_decref(body);
        if (rc && c->status == 409)
            fprintf(stderr, "hint: --force replaces the registered library\n");
    }
    free(p);
    if (rc)
        return rc;
    if (c->json) {
        out_json(res);
    } else if (unregister) {
        printf("Unregistered function library '%s'.\n", pos[0]);
    } else {
        char names[512];
        function_names(res, names, sizeof names);
        printf("Registered function library '%s' (%s): %s.\n", pos[0],
               out_str(res, "uri", library), names);
    }
    json_decref(res);
    return CTL_OK;
}

static const char function_help[] =
    "usage: flowctl function COMMAND ...\n"
    "\n"
    "Commands:\n"
    "  list                          the registered function libraries\n"
    "  info NAME                     one library with its functions\n"
    "  register NAME --library /ABS/PATH.so [--force]\n"
    "                                check a library and register it\n"
    "  unregister NAME               remove it\n"
    "\n"
    "A stream runs a registered library as function --library=@NAME.\n"
    "\n"
    "Examples:\n"
    "  flowctl function register accounts --library "
    "/opt/flow/lib/libaccount_functions.so\n"
    "  flowctl stream create acc 'load-sim | function "
    "--library=@accounts --name=tag | log'\n";

int cmd_function(struct ctl *c, int argc, char **argv)
{
    if (argc < 2) {
        fputs(function_help, stderr);
        return CTL_EUSAGE;
    }
    const char *sub = argv[1];
    if (ctl_is_help(sub) || !strcmp(sub, "help"))
        return ctl_help(function_help);
    if (!strcmp(sub, "list") || !strcmp(sub, "ls"))
        return list(c, argc - 1, argv + 1);
    if (!strcmp(sub, "info") || !strcmp(sub, "show"))
        return info(c, argc - 1, argv + 1);
    if (!strcmp(sub, "register"))
        return reg(c, argc - 1, argv + 1, false);
    if (!strcmp(sub, "unregister"))
        return reg(c, argc - 1, argv + 1, true);
    return ctl_usage_error("unknown function command '%s' (list, info, "
                           "register, unregister); see 'flowctl function "
                           "--help'",
                           sub);
}
