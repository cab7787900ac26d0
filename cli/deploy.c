/*
 * `flowctl deploy|undeploy|status|scale`: stream deployments, and the
 * wait for a final status that long operations share.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "http.h"
#include "output.h"
#include "props.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static char *dep_path(const char *name)
{
    char *e = http_escape(name);
    size_t n = strlen(e) + 32;
    char *p = malloc(n);
    snprintf(p, n, "/streams/deployments/%s", e);
    free(e);
    return p;
}

void ctl_refresh(struct ctl *c, const char *path, json_t **res)
{
    json_t *again;
    if (!http_json(c, "GET", path, NULL, &again)) {
        json_decref(*res);
        *res = again;
    }
}

int ctl_wait_status(struct ctl *c, const char *name, const char *goal)
{
    static const char spin[] = "|/-\\";
    char *path = dep_path(name);
    double t0 = now_s();
    int rc = CTL_EFAIL, tick = 0;
    bool progress = c->tty_err;
    bool drawn = false;
    for (;;) {
        json_t *d;
        rc = http_json(c, "GET", path, NULL, &d);
        if (rc)
            break;
        const char *st = out_str(d, "status", "?");
        const char *desc = out_str(d, "statusDescription", "");
        double el = now_s() - t0;
        if (!strcmp(st, goal)) {
            json_decref(d);
            rc = CTL_OK;
            break;
        }
        if (!strcmp(goal, "deployed") && !strcmp(st, "failed")) {
            if (drawn)
                fprintf(stderr, "\r\033[K");
            drawn = false;
            fprintf(stderr, "flowctl: stream '%s' failed: %s\n", name, desc);
            fprintf(stderr,
                    "hint: 'flowctl logs %s' shows the apps' "
                    "output\n",
                    name);
            json_decref(d);
            rc = CTL_EFAIL;
            break;
        }
        if (el > c->timeout_s) {
            if (drawn)
                fprintf(stderr, "\r\033[K");
            drawn = false;
            fprintf(stderr,
                    "flowctl: stream '%s' is still %s after %d s (waiting "
                    "for %s): %s\n",
                    name, st, c->timeout_s, goal, desc);
            json_decref(d);
            rc = CTL_EFAIL;
            break;
        }
        if (progress) {
            fprintf(stderr, "\r\033[K%c %s %s: %s (%.1f s)", spin[tick++ % 4],
                    st, name, desc, el);
            fflush(stderr);
            drawn = true;
        }
        json_decref(d);
        sleep_ms(100);
    }
    if (drawn)
        fprintf(stderr, "\r\033[K");
    free(path);
    return rc;
}

static const char deploy_help[] =
    "usage: flowctl deploy NAME [--properties 'K=V,K2=V2' | "
    "--properties-file FILE]\n"
    "\n"
    "Deploys a stream and waits until it is deployed, showing progress on\n"
    "a terminal (--no-wait to return at once, --timeout SECONDS to wait\n"
    "longer). Deployment properties:\n"
    "  deployer.<app>.count=N         instances of an app (they share the "
    "work)\n"
    "  app.<app>.<option>=VALUE       override an app's option\n"
    "  app.<app>.partition-key=key|F  route events to the app's instances "
    "by\n"
    "                                 the event's key or payload field F\n"
    "  deployer.*.transport=tcp       loopback TCP instead of ipc sockets\n"
    "  deployer.<app>.cpus=0-1|any    CPUs to run on (default auto: light "
    "apps\n"
    "                                 share one, busy ones spread)\n"
    "  deployer.packaging=single      every app in one process over inproc\n"
    "A properties file holds one key=value per line; '#' starts a comment.\n"
    "\n"
    "Examples:\n"
    "  flowctl deploy accounts\n"
    "  flowctl deploy accounts --properties "
    "'deployer.counter.count=2,app.load-sim.rate=500'\n"
    "  flowctl deploy accounts --properties-file accounts.properties\n";

int cmd_deploy(struct ctl *c, int argc, char **argv)
{
    const char *props_s = NULL, *props_f = NULL;
    struct ctl_opt opts[] = {
        { "properties", 'p', &props_s, NULL },
        { "properties-file", 'f', &props_f, NULL },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 1, &npos, "deploy", false);
    if (rc == CTL_HELP)
        return ctl_help(deploy_help);
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("deploy needs a stream NAME; see 'flowctl "
                               "deploy --help'");
    if (props_s && props_f)
        return ctl_usage_error("give --properties or --properties-file, "
                               "not both");
    json_t *props = json_object();
    if (props_s)
        rc = props_parse(props, props_s);
    else if (props_f)
        rc = props_parse_file(props, props_f);
    if (rc) {
        json_decref(props);
        return rc;
    }
    char *path = dep_path(pos[0]);
    json_t *res;
    double t0 = now_s();
    rc = http_json(c, "POST", path, props, &res);
    json_decref(props);
    if (rc) {
        if (c->status == 409)
            fprintf(stderr,
                    "hint: 'flowctl undeploy %s' first, or change "
                    "instance counts with 'flowctl scale'\n",
                    pos[0]);
        free(path);
        return rc;
    }
    if (c->wait) {
        rc = ctl_wait_status(c, pos[0], "deployed");
        ctl_refresh(c, path, &res);
    }
    free(path);
    if (c->json) {
        out_json(res);
    } else if (!rc) {
        size_t napps = json_array_size(json_object_get(res, "apps"));
        size_t ninst = 0, i;
        json_t *a;
        json_array_foreach(json_object_get(res, "apps"), i, a)
        {
            ninst += json_array_size(json_object_get(a, "instances"));
        }
        if (c->wait)
            printf("Deployed stream '%s' in %.2f s: %zu apps, %zu "
                   "instances.\n",
                   pos[0], now_s() - t0, napps, ninst);
        else
            printf("Deploying stream '%s' (%s); 'flowctl status %s' "
                   "follows it.\n",
                   pos[0], out_str(res, "status", "?"), pos[0]);
    }
    json_decref(res);
    return rc;
}

int cmd_undeploy(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 1, &npos, "undeploy", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl undeploy NAME\n"
                        "\n"
                        "Stops every app of a stream (SIGTERM, then SIGKILL "
                        "after the\n"
                        "stop timeout) and waits until every process is "
                        "gone. The\n"
                        "definition stays; 'flowctl deploy NAME' starts it "
                        "again.\n"
                        "\n"
                        "Example:\n"
                        "  flowctl undeploy accounts\n");
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("undeploy needs a stream NAME");
    char *path = dep_path(pos[0]);
    json_t *res;
    double t0 = now_s();
    if (c->tty_err && !c->json)
        fprintf(stderr, "undeploying %s...", pos[0]);
    rc = http_json(c, "DELETE", path, NULL, &res);
    if (c->tty_err && !c->json)
        fprintf(stderr, "\r\033[K");
    if (!rc && c->wait &&
        strcmp(out_str(res, "status", "undeployed"), "undeployed")) {
        rc = ctl_wait_status(c, pos[0], "undeployed");
        if (!rc)
            ctl_refresh(c, path, &res);
    }
    free(path);
    if (rc) {
        json_decref(res);
        return rc;
    }
    if (c->json)
        out_json(res);
    else
        printf("Undeployed stream '%s' in %.2f s.\n", pos[0], now_s() - t0);
    json_decref(res);
    return CTL_OK;
}

int cmd_status(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 1, &npos, "status", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl status [NAME]\n"
                        "\n"
                        "Without NAME: every stream with its status and why. "
                        "With NAME:\n"
                        "the stream's deployment, each app and instance.\n"
                        "\n"
                        "Examples:\n"
                        "  flowctl status\n"
                        "  flowctl status accounts\n"
                        "  flowctl -o json status accounts\n");
    if (rc)
        return rc;
    if (npos == 0) {
        json_t *doc, *items;
        rc = http_get_all(c, "/streams/definitions", &doc, &items);
        if (rc)
            return rc;
        if (c->json) {
            out_json(doc);
        } else if (json_array_size(items) == 0) {
            printf("No streams.\n");
        } else {
            struct out_table *t =
                out_table_new(3, "NAME", "STATUS", "DESCRIPTION");
            size_t i;
            json_t *it;
            json_array_foreach(items, i, it)
            {
                const char *st = out_str(it, "status", "?");
                out_table_row(t, out_str(it, "name", "?"), st,
                              out_str(it, "statusDescription", ""));
                out_table_style(t, 1, out_status_style(st));
            }
            out_table_print(c, &t, stdout);
        }
        json_decref(doc);
        return CTL_OK;
    }
    char *path = dep_path(pos[0]);
    json_t *d;
    rc = http_json(c, "GET", path, NULL, &d);
    free(path);
    if (rc)
        return rc;
    if (c->json) {
        out_json(d);
    } else {
        const char *st = out_str(d, "status", "?");
        printf("%s: %s%s%s", out_str(d, "name", pos[0]),
               out_style(c, out_status_style(st), false), st,
               out_style(c, OUT_RESET, false));
        const char *sd = out_str(d, "statusDescription", "");
        if (*sd)
            printf(" (%s)", sd);
        printf("\n");
        if (json_array_size(json_object_get(d, "apps"))) {
            printf("\n");
            ctl_print_apps(c, d);
        }
    }
    json_decref(d);
    return CTL_OK;
}

int cmd_scale(struct ctl *c, int argc, char **argv)
{
    char *pos[3];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 3, &npos, "scale", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl scale NAME APP COUNT\n"
                        "\n"
                        "Starts or stops instances of a running app (APP is "
                        "its label)\n"
                        "so that COUNT (1-64) run, and waits until the "
                        "stream is deployed.\n"
                        "\n"
                        "Example:\n"
                        "  flowctl scale accounts account-events 3\n");
    if (rc)
        return rc;
    if (npos != 3)
        return ctl_usage_error("scale needs NAME APP COUNT; see 'flowctl "
                               "scale --help'");
    long n;
    if (!ctl_parse_uint(pos[2], &n) || n < 1 || n > 64)
        return ctl_usage_error("scale: COUNT must be a number from 1 to 64, "
                               "not '%s'",
                               pos[2]);
    char *es = http_escape(pos[0]), *ea = http_escape(pos[1]);
    size_t len = strlen(es) + strlen(ea) + 80;
    char *path = malloc(len);
    snprintf(path, len, "/streams/deployments/scale/%s/%s/instances/%ld", es,
             ea, n);
    free(es);
    free(ea);
    json_t *res;
    rc = http_json(c, "POST", path, NULL, &res);
    free(path);
    if (rc)
        return rc;
    if (c->wait) {
        rc = ctl_wait_status(c, pos[0], "deployed");
        char *p = dep_path(pos[0]);
        ctl_refresh(c, p, &res);
        free(p);
    }
    if (c->json)
        out_json(res);
    else if (!rc)
        printf("Scaled %s.%s to %ld instance%s.\n", pos[0], pos[1], n,
               n == 1 ? "" : "s");
    json_decref(res);
    return rc;
}
