/*
 * `flowctl version`: the client's version and the server's (`/about`).
 */
#include <stdio.h>
#include <string.h>

#include "flow-config.h"

#include "ctl.h"
#include "http.h"
#include "output.h"

int cmd_version(struct ctl *c, int argc, char **argv)
{
    bool client_only = false;
    struct ctl_opt opts[] = {
        { "client", 0, NULL, &client_only },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 0, &npos, "version", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl version [--client]\n"
                        "\n"
                        "Prints flowctl's version and the server's (flowd "
                        "and the\n"
                        "libraries it runs on, from /about). --client skips "
                        "the server.\n"
                        "With -o json: {\"client\": {\"flowctl\": V}, "
                        "\"server\": ABOUT}.\n"
                        "\n"
                        "Examples:\n"
                        "  flowctl version\n"
                        "  flowctl version --client\n");
    if (rc)
        return rc;
    json_t *about = NULL;
    if (!client_only)
        rc = http_json(c, "GET", "/about", NULL, &about);
    if (c->json) {
        json_t *doc = json_pack("{s:{s:s}}", "client", "flowctl", FLOW_VERSION);
        if (about)
            json_object_set(doc, "server", about);
        if (!rc)
            out_json(doc);
        json_decref(doc);
    } else {
        printf("flowctl %s\n", FLOW_VERSION);
        json_t *vi = json_object_get(about, "versionInfo");
        if (vi) {
            printf("flowd %s at %s\n", out_str(vi, "flowd", "?"), c->server);
            const char *k;
            json_t *v;
            json_object_foreach(vi, k, v)
            {
                if (strcmp(k, "flowd") && json_is_string(v))
                    printf("  %s %s\n", k, json_string_value(v));
            }
        }
    }
    json_decref(about);
    return rc;
}
