/*
 * flowctl: the command line of flow. This file holds main, the global
 * options (server URL, token, output, colour, waiting), the configuration
 * file and the command dispatcher; each command group lives in its own
 * file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flow-config.h"

#include "ctl.h"
#include "output.h"

#ifdef FLOWCTL_HAVE_VALIDATE
#include "validate.h"

/* Global options are stripped before dispatch; hand -o json back to
 * validate, which parses its own arguments. */
static int cmd_validate(struct ctl *c, int argc, char **argv)
{
    if (!c->json || argc < 1)
        return flowctl_validate(c, argc, argv);
    char **v = calloc((size_t)argc + 3, sizeof(char *));
    if (!v) {
        fputs("flowctl: out of memory\n", stderr);
        return 2;
    }
    v[0] = argv[0];
    v[1] = "-o";
    v[2] = "json";
    for (int i = 1; i < argc; i++)
        v[i + 2] = argv[i];
    int rc = flowctl_validate(c, argc + 2, v);
    free(v);
    return rc;
}
#endif

#define DEFAULT_SERVER "http://127.0.0.1:9393"

struct command {
    const char *name;
    ctl_cmd_fn fn;
    const char *summary; /* NULL: hidden */
};

static int cmd_help(struct ctl *c, int argc, char **argv);

static const struct command commands[] = {
    { "stream", cmd_stream,
      "create, list, show or destroy stream definitions" },
    { "deploy", cmd_deploy, "deploy a stream (with deployment properties)" },
    { "undeploy", cmd_undeploy, "stop every app of a stream" },
    { "status", cmd_status, "show the status of one or every stream" },
    { "scale", cmd_scale, "change the instance count of a running app" },
    { "apply", cmd_apply, "create or update the streams of a stream file" },
    { "export", cmd_export, "print every definition as a stream file" },
    { "logs", cmd_logs, "show (or follow) the output of a stream's apps" },
    { "apps", cmd_apps, "list the app registry" },
    { "app", cmd_app, "show or register one app" },
    { "function", cmd_function, "list, show or register function libraries" },
    { "counters", cmd_counters, "list the analytics counters" },
    { "counter", cmd_counter, "show a counter and its recent history" },
    { "field-value-counter", cmd_fvc, "show a field-value counter" },
    { "top", cmd_top, "live view of every app's rates, errors and lag" },
    { "tap", cmd_tap, "print live events flowing out of an app" },
    { "shell", cmd_shell, "interactive mode with history and completion" },
    { "completion", cmd_completion, "print a shell completion script" },
#ifdef FLOWCTL_HAVE_VALIDATE
    { "validate", cmd_validate,
      "check stream definitions (against the server's apps when it answers)" },
#endif
    { "version", cmd_version, "print the client and server versions" },
    { "help", cmd_help, "show help for a command" },
    { "__complete", cmd_complete_hidden, NULL },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const char *const ctl_command_names[] = {
    "stream",   "deploy",
    "undeploy", "status",
    "scale",    "apply",
    "export",   "logs",
    "apps",     "app",
    "function", "counters",
    "counter",  "field-value-counter",
    "top",      "tap",
    "shell",    "completion",
#ifdef FLOWCTL_HAVE_VALIDATE
    "validate",
#endif
    "version",  "help",
    NULL,
};

static void usage(FILE *out)
{
    fputs("usage: flowctl [OPTIONS] COMMAND [ARGS...]\n"
          "\n"
          "The command line of flow: manage and watch the streams of a "
          "flowd server.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].summary)
            fprintf(out, "  %-20s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Options (accepted before or after the command):\n"
          "  --server URL          flowd's URL (else FLOW_SERVER, the config "
          "file,\n"
          "                        " DEFAULT_SERVER ")\n"
          "  --token TOKEN         bearer token (else FLOW_TOKEN, the config "
          "file, or for a\n"
          "                        flowd on this host the token file of "
          "$FLOW_DATA_DIR,\n"
          "                        else of ./flow-data or build/flow-data, "
          "if it is yours)\n"
          "  -o, --output FORMAT   table (default), json (exactly one JSON "
          "document\n"
          "                        on stdout) or yaml (stream manifests "
          "only)\n"
          "  --color WHEN          auto (default), always or never; NO_COLOR "
          "turns it off\n"
          "  --no-wait             do not wait for deploy, undeploy or apply "
          "to finish\n"
          "  --timeout SECONDS     how long to wait for a final status "
          "(default 60)\n"
          "  -h, --help            help; 'flowctl COMMAND --help' for a "
          "command\n"
          "\n"
          "Config file: $XDG_CONFIG_HOME/flowctl/config with lines "
          "'server = URL'\n"
          "and 'token = TOKEN'.\n"
          "\n"
          "Exit codes: 0 ok, 1 the request failed, 2 usage error, 3 server "
          "unreachable,\n"
          "4 not found.\n"
          "\n"
          "Examples:\n"
          "  flowctl stream create accounts 'load-sim | account-events | "
          "counter' --deploy\n"
          "  flowctl status\n"
          "  flowctl -o json stream info accounts\n"
          "  flowctl --server http://127.0.0.1:9494 top\n",
          out);
}

static int cmd_help(struct ctl *c, int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return CTL_OK;
    }
    char *sub[] = { argv[1], "--help", NULL };
    return ctl_dispatch(c, 2, sub);
}

int ctl_dispatch(struct ctl *c, int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return CTL_EUSAGE;
    }
    if (c->yaml && !(argc >= 2 && !strcmp(argv[0], "stream") &&
                     !strcmp(argv[1], "manifests"))) {
        fprintf(stderr, "flowctl: -o yaml is for 'flowctl stream manifests'; "
                        "use -o table or -o json here\n");
        return CTL_EUSAGE;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, argv[0]))
            return commands[i].fn(c, argc, argv);
    fprintf(stderr, "flowctl: unknown command '%s'\n", argv[0]);
    /* Suggest the command sharing the longest prefix. */
    size_t best = 0;
    const char *sugg = NULL;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        size_t k = 0;
        if (!commands[i].summary)
            continue;
        while (commands[i].name[k] && commands[i].name[k] == argv[0][k])
            k++;
        if (k > best) {
            best = k;
            sugg = commands[i].name;
        }
    }
    if (sugg && best >= 2)
        fprintf(stderr, "hint: did you mean '%s'?\n", sugg);
    else
        fprintf(stderr, "hint: 'flowctl --help' lists the commands\n");
    return CTL_EUSAGE;
}

/* Reads `server` and `token` from the config file, if there is one.
 * Returns 0, or CTL_EUSAGE after saying which line is wrong. */
static int read_config(char **server, char **token)
{
    char path[4096];
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, sizeof(path), "%s/flowctl/config", xdg);
    else if (home && *home)
        snprintf(path, sizeof(path), "%s/.config/flowctl/config", home);
    else
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        size_t n = strlen(s);
        while (n && isspace((unsigned char)s[n - 1]))
            s[--n] = '\0';
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr,
                    "flowctl: %s:%d: expected 'key = value', got '%s'\n", path,
                    lineno, s);
            rc = CTL_EUSAGE;
            break;
        }
        char *k = s, *v = eq + 1;
        char *ke = eq;
        while (ke > k && isspace((unsigned char)ke[-1]))
            ke--;
        *ke = '\0';
        while (isspace((unsigned char)*v))
            v++;
        if (!strcmp(k, "server")) {
            free(*server);
            *server = strdup(v);
        } else if (!strcmp(k, "token")) {
            free(*token);
            *token = strdup(v);
        } else {
            fprintf(stderr,
                    "flowctl: %s:%d: unknown key '%s' (known: server, "
                    "token)\n",
                    path, lineno, k);
            rc = CTL_EUSAGE;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Whether the server URL names this host (127.x, ::1 or localhost). */
static bool server_is_local(const char *url)
{
    const char *h = strstr(url, "://");
    size_t n;

    h = h ? h + 3 : url;
    if (*h == '[')
        return !strncmp(h, "[::1]", 5);
    n = strcspn(h, ":/?#");
    return (n == 9 && !strncmp(h, "localhost", 9)) || !strncmp(h, "127.", 4);
}

/* Reads the token file DIR/token that flowd made in its data directory,
 * only when it is a regular file (not a link) owned by the current user.
 * Returns the token (malloc'd) or NULL. */
static char *data_dir_token(const char *dir)
{
    char path[4096], buf[512];
    struct stat st;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/token", dir);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return NULL;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    return n ? strdup(buf) : NULL;
}

/* The token of a flowd on this host, when none was given: the token file of
 * $FLOW_DATA_DIR, else of ./flow-data (flowd's default) or build/flow-data
 * (scripts/run.sh's). */
static char *local_token(const char *server)
{
    const char *env = getenv("FLOW_DATA_DIR");
    char *t;

    if (!server_is_local(server))
        return NULL;
    if (env && *env)
        return data_dir_token(env);
    t = data_dir_token("flow-data");
    return t ? t : data_dir_token("build/flow-data");
}

/* Global options, recognised anywhere before a lone "--". Each takes a
 * value, as "--opt VALUE" or "--opt=VALUE". */
struct globals {
    const char *server, *token, *output, *color, *timeout;
    bool no_wait;
};

/* Takes global options out of argv, leaving the rest in order. Returns the
 * new argc, or -1 after a usage error. */
static int strip_globals(int argc, char **argv, struct globals *g)
{
    static const struct {
        const char *lng, *shrt;
        size_t off;
    } opts[] = {
        { "--server", NULL, offsetof(struct globals, server) },
        { "--token", NULL, offsetof(struct globals, token) },
        { "--output", "-o", offsetof(struct globals, output) },
        { "--color", NULL, offsetof(struct globals, color) },
        { "--colour", NULL, offsetof(struct globals, color) },
        { "--timeout", NULL, offsetof(struct globals, timeout) },
    };
    int out = 0;
    bool rest = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (rest || a[0] != '-') {
            argv[out++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            rest = true;
            argv[out++] = a;
            continue;
        }
        if (!strcmp(a, "--no-wait")) {
            g->no_wait = true;
            continue;
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            const char **slot = (const char **)((char *)g + opts[k].off);
            size_t ln = strlen(opts[k].lng);
            if (!strcmp(a, opts[k].lng) ||
                (opts[k].shrt && !strcmp(a, opts[k].shrt))) {
                if (i + 1 >= argc) {
                    ctl_usage_error("option %s needs a value", a);
                    return -1;
                }
                *slot = argv[++i];
                matched = true;
            } else if (!strncmp(a, opts[k].lng, ln) && a[ln] == '=') {
                *slot = a + ln + 1;
                matched = true;
            } else if (opts[k].shrt && !strncmp(a, opts[k].shrt, 2) && a[2]) {
                *slot = a + 2;
                matched = true;
            }
            if (matched)
                break;
        }
        if (!matched)
            argv[out++] = a;
    }
    argv[out] = NULL;
    return out;
}

/* Applies parsed global options to c. Returns 0 or CTL_EUSAGE. */
static int apply_globals(struct ctl *c, const struct globals *g)
{
    if (g->server) {
        if (!*g->server)
            return ctl_usage_error("--server needs a URL");
        free(c->server);
        c->server = strdup(g->server);
    }
    if (g->token) {
        free(c->token);
        c->token = strdup(g->token);
    }
    if (g->output) {
        c->yaml = false;
        if (!strcmp(g->output, "json"))
            c->json = true;
        else if (!strcmp(g->output, "table") || !strcmp(g->output, "text"))
            c->json = false;
        else if (!strcmp(g->output, "yaml"))
            c->json = false, c->yaml = true;
        else
            return ctl_usage_error("unknown output format '%s' (use table, "
                                   "json, or yaml for 'stream manifests')",
                                   g->output);
    }
    if (g->color) {
        if (!strcmp(g->color, "always"))
            c->color = true;
        else if (!strcmp(g->color, "never"))
            c->color = false;
        else if (!strcmp(g->color, "auto"))
            ;
        else
            return ctl_usage_error("--color must be auto, always or never, "
                                   "not '%s'",
                                   g->color);
    }
    if (g->timeout) {
        long t;
        if (!ctl_parse_uint(g->timeout, &t) || t < 1 || t > 86400)
            return ctl_usage_error("--timeout needs a number of seconds "
                                   "(1-86400), not '%s'",
                                   g->timeout);
        c->timeout_s = (int)t;
    }
    if (g->no_wait)
        c->wait = false;
    /* Strip trailing slashes so paths can be appended. */
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    return 0;
}

int ctl_run(struct ctl *base, int argc, char **argv)
{
    struct globals g = { 0 };
    struct ctl c = *base;
    c.server = strdup(base->server);
    c.token = base->token ? strdup(base->token) : NULL;
    int rc;
    argc = strip_globals(argc, argv, &g);
    if (argc < 0) {
        rc = CTL_EUSAGE;
        goto out_free;
    }
    rc = apply_globals(&c, &g);
    if (rc)
        goto out_free;
    if (!c.token || !*c.token) {
        free(c.token);
        c.token = local_token(c.server);
    }
    if (g.color && !strcmp(g.color, "auto"))
        c.color = c.tty_out && !(getenv("NO_COLOR") && *getenv("NO_COLOR"));
    if (argc == 0) {
        usage(stderr);
        rc = CTL_EUSAGE;
        goto out_free;
    }
    rc = ctl_dispatch(&c, argc, argv);
out_free:
    free(c.server);
    free(c.token);
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl c = { 0 };
    char *server = NULL, *token = NULL;
    int rc = read_config(&server, &token);
    if (rc) {
        free(server);
        free(token);
        return rc;
    }
    const char *env = getenv("FLOW_SERVER");
    if (env && *env) {
        free(server);
        server = strdup(env);
    }
    env = getenv("FLOW_TOKEN");
    if (env && *env) {
        free(token);
        token = strdup(env);
    }
    c.server = server ? server : strdup(DEFAULT_SERVER);
    c.token = token;
    c.tty_out = isatty(STDOUT_FILENO);
    c.tty_err = isatty(STDERR_FILENO);
    const char *term = getenv("TERM");
    const char *nc = getenv("NO_COLOR");
    c.color = c.tty_out && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
    c.wait = true;
    c.timeout_s = 60;

    if (argc >= 2 && (ctl_is_help(argv[1]) || !strcmp(argv[1], "--version"))) {
        if (!strcmp(argv[1], "--version"))
            printf("flowctl %s\n", FLOW_VERSION);
        else
            usage(stdout);
        rc = CTL_OK;
    } else {
        rc = ctl_run(&c, argc - 1, argv + 1);
    }
    free(c.server);
    free(c.token);
    fflush(stdout);
    if (ferror(stdout)) {
        fprintf(stderr, "flowctl: cannot write to standard output\n");
        return rc ? rc : CTL_EFAIL;
    }
    return rc;
}
