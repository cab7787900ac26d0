/*
 * flow-host - runs several apps of one stream as threads of one process,
 * talking over inproc:// (the single-container packaging).
 *
 *     flow-host load-sim --count=1000 '|' account-events '|' counter
 *
 * Apps are separated by a lone '|'. Each app gets exactly the command line
 * it would get as its own process; between two consecutive apps where the
 * right one names no --flow.input, the host adds a private inproc:// pair
 * (an output group on the left, --flow.input on the right). A left app
 * given --flow.output already (flowd gives a tapped app its tap streams'
 * groups) gets the pair as one more group of it.
 */
#include "apps.h"

#include "flow/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUILTIN(desc, name) &desc,
static const flow_app_desc *const builtin[] = { FLOW_MODULES_APPS(BUILTIN) };
#undef BUILTIN
#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))

/* The app called name; of two with that name (the file source and the
 * file sink), the one of role want. */
static const flow_app_desc *find_app(const char *name, flow_role want)
{
    const flow_app_desc *any = NULL;
    for (size_t i = 0; i < NBUILTIN; i++) {
        if (strcmp(builtin[i]->name, name) != 0)
            continue;
        if (builtin[i]->role == want)
            return builtin[i];
        if (!any)
            any = builtin[i];
    }
    return any;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: flow-host APP [--option=value ...] ['|' APP "
               "[--option=value ...]] ...\n"
               "Runs the apps of one stream as threads of one process over "
               "inproc://.\nApps:");
    for (size_t i = 0; i < NBUILTIN; i++)
        fprintf(f, " %s", builtin[i]->name);
    fprintf(f, "\nSee docs/apps.md (\"flow-host\") for the wiring rules.\n");
}

/* The index in argv of flag (as --flag or --flag=...), or -1. */
static int flag_at(char **argv, int argc, const char *flag)
{
    size_t n = strlen(flag);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], flag, n) == 0 &&
            (argv[i][n] == '=' || argv[i][n] == '\0'))
            return i;
    }
    return -1;
}

static bool has_flag(char **argv, int argc, const char *flag)
{
    return flag_at(argv, argc, flag) >= 0;
}

struct seg {
    const flow_app_desc *app;
    int argc;
    char **argv; /* argv[0] = name; room for two more flags */
};

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int nseg = 1;
    for (int i = 1; i < argc; i++)
        nseg += strcmp(argv[i], "|") == 0;
    struct seg *segs = calloc((size_t)nseg, sizeof(*segs));
    char(*eps)[64] = calloc((size_t)nseg * 2, sizeof(*eps));
    /* A left app's --flow.output with the pair added (owned). */
    char **joined = calloc((size_t)nseg, sizeof(*joined));
    int status = 2;
    flow_host *h = NULL;
    if (!segs || !eps || !joined) {
        fprintf(stderr, "flow-host: out of memory\n");
        status = 1;
        goto free_segs;
    }
    int k = 0;
    for (int i = 1; i < argc; k++) {
        int start = i;
        while (i < argc && strcmp(argv[i], "|") != 0)
            i++;
        if (i == start) {
            fprintf(stderr,
                    "flow-host: app %d is empty: put an app name "
                    "after each '|'\n",
                    k + 1);
            goto free_segs;
        }
        struct seg *s = &segs[k];
        /* The role by position, as in a stream: the first app is the
         * source unless it reads an input, the last the sink unless it
         * writes an output. */
        flow_role want = FLOW_ROLE_PROCESSOR;
        if (k == 0 &&
            !has_flag(argv + start - 1, i - start + 1, "--flow.input"))
            want = FLOW_ROLE_SOURCE;
        else if (k == nseg - 1 &&
                 !has_flag(argv + start - 1, i - start + 1, "--flow.output"))
            want = FLOW_ROLE_SINK;
        s->app = find_app(argv[start], want);
        if (!s->app) {
            fprintf(stderr, "flow-host: unknown app '%s' (app %d)\n",
                    argv[start], k + 1);
            usage(stderr);
            goto free_segs;
        }
        s->argv = calloc((size_t)(i - start) + 3, sizeof(char *));
        if (!s->argv) {
            status = 1;
            goto free_segs;
        }
        for (int j = start; j < i; j++)
            s->argv[s->argc++] = argv[j];
        if (i < argc)
            i++; /* the '|' */
        if (i == argc && strcmp(argv[argc - 1], "|") == 0) {
            fprintf(stderr, "flow-host: the command line ends with '|': "
                            "name the next app\n");
            goto free_segs;
        }
    }
    /* Wire consecutive apps whose endpoints were not given. */
    for (int j = 0; j + 1 < nseg; j++) {
        struct seg *l = &segs[j], *r = &segs[j + 1];
        if (has_flag(r->argv, r->argc, "--flow.input"))
            continue;
        snprintf(eps[2 * j], 64, "--flow.output=@inproc://flow-host-%d-%d",
                 (int)getpid(), j);
        snprintf(eps[2 * j + 1], 64, "--flow.input=inproc://flow-host-%d-%d",
                 (int)getpid(), j);
        int at = flag_at(l->argv, l->argc, "--flow.output");
        if (at < 0) {
            l->argv[l->argc++] = eps[2 * j];
        } else if (l->argv[at][strlen("--flow.output")] == '=') {
            if (asprintf(&joined[j], "%s;%s", l->argv[at],
                         eps[2 * j] + strlen("--flow.output=")) < 0) {
                joined[j] = NULL;
                fprintf(stderr, "flow-host: out of memory\n");
                status = 1;
                goto free_segs;
            }
            l->argv[at] = joined[j];
        } else {
            continue; /* --flow.output without a value: its app says so */
        }
        r->argv[r->argc++] = eps[2 * j + 1];
    }
    h = flow_host_new();
    if (!h) {
        fprintf(stderr, "flow-host: out of memory\n");
        status = 1;
        goto free_segs;
    }
    for (int j = 0; j < nseg; j++) {
        if (flow_host_add(h, segs[j].app, segs[j].argc, segs[j].argv) < 0)
            goto destroy_host; /* the runtime said what is wrong */
    }
    status = flow_host_run(h);
destroy_host:
    flow_host_destroy(&h);
free_segs:
    for (int j = 0; segs && j < nseg; j++)
        free(segs[j].argv);
    free(segs);
    free(eps);
    for (int j = 0; joined && j < nseg; j++)
        free(joined[j]);
    free(joined);
    return flow_app_record_exit(status);
}
