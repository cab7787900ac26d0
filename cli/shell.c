/*
 * `flowctl shell`: every flowctl command at a prompt (libedit), with a
 * history kept between sessions and tab completion of commands, options,
 * stream, app and counter names, and of stream definitions themselves
 * from the server's /completions/stream (the DSL's content assist).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

#include "flow-config.h"

#include "ctl.h"
#include "http.h"
#include "output.h"

/* The shell's context, for the completion callbacks. */
static struct ctl *shell_ctl;
/* Candidates of the completion in progress (JSON array of strings). */
static json_t *cands;

#define MAX_ARGS 256

/* Splits a line into words as a POSIX shell would for quotes and
 * backslashes (no expansion). Words point into buf (owned by the caller,
 * at least strlen(line)+1 bytes). Returns the count, or -1 for an
 * unterminated quote. With offsets, records where each word started. */
static int split(const char *line, char *buf, char **argv, int max,
                 size_t *offsets)
{
    int n = 0;
    const char *p = line;
    char *o = buf;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        if (n >= max)
            return -2;
        if (offsets)
            offsets[n] = (size_t)(p - line);
        argv[n++] = o;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'') {
                p++;
                while (*p && *p != '\'')
                    *o++ = *p++;
                if (!*p)
                    return -1;
                p++;
            } else if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                        p++;
                    *o++ = *p++;
                }
                if (!*p)
                    return -1;
                p++;
            } else if (*p == '\\' && p[1]) {
                p++;
                *o++ = *p++;
            } else {
                *o++ = *p++;
            }
        }
        *o++ = '\0';
    }
    argv[n] = NULL;
    return n;
}

static char *generator(const char *text, int state)
{
    static size_t idx, len;
    if (!state) {
        idx = 0;
        len = strlen(text);
    }
    while (idx < json_array_size(cands)) {
        const char *s = json_string_value(json_array_get(cands, idx++));
        if (s && !strncmp(s, text, len))
            return strdup(s);
    }
    return NULL;
}

static void add_words(const char *words)
{
    char *copy = strdup(words);
    char *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w;
         w = strtok_r(NULL, " ", &save))
        json_array_append_new(cands, json_string(w));
    free(copy);
}

static void add_list(json_t *list)
{
    json_array_extend(cands, list);
    json_decref(list);
}

/* Completes inside a stream definition: `def_start` is where the
 * definition begins in the line (after an opening quote), `start` where
 * the word being completed begins. The server proposes whole definitions;
 * each becomes the text that replaces the word. */
static void complete_dsl(const char *line, size_t def_start, size_t start,
                         size_t end)
{
    if (start < def_start)
        start = def_start;
    size_t n = end - def_start;
    char *prefix = strndup(line + def_start, n);
    char *e = http_escape(prefix);
    size_t pn = strlen(e) + 40;
    char *path = malloc(pn);
    snprintf(path, pn, "/completions/stream?start=%s", e);
    free(e);
    json_t *doc;
    size_t keep = start - def_start; /* bytes before the word */
    if (!http_json_quiet(shell_ctl, "GET", path, NULL, &doc)) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(doc, "proposals"), i, p)
        {
            const char *t = out_str(p, "text", NULL);
            if (!t || strlen(t) < keep || strncmp(t, prefix, keep))
                continue;
            json_array_append_new(cands, json_string(t + keep));
        }
        json_decref(doc);
    }
    free(path);
    free(prefix);
}

/* Option lists per command, as the bash script has them. */
static const char *options_of(const char *cmd, const char *sub)
{
    if (!strcmp(cmd, "stream") && sub && !strcmp(sub, "create"))
        return "--description --deploy --help";
    if (!strcmp(cmd, "stream") && sub && !strcmp(sub, "list"))
        return "--search --help";
    if (!strcmp(cmd, "deploy"))
        return "--properties --properties-file --help";
    if (!strcmp(cmd, "logs"))
        return "--follow --bytes --help";
    if (!strcmp(cmd, "apply"))
        return "--file --deploy --help";
    if (!strcmp(cmd, "apps"))
        return "--type --help";
    if (!strcmp(cmd, "app"))
        return "--type --uri --force --help";
    if (!strcmp(cmd, "function"))
        return "--library --force --help";
    if (!strcmp(cmd, "counter"))
        return "--resolution --last --chart --no-chart --help";
    if (!strcmp(cmd, "tap"))
        return "--count --help";
    if (!strcmp(cmd, "top"))
        return "--interval --iterations --help";
    return "--help";
}

static char **complete(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1;
    json_decref(cands);
    cands = json_array();
    const char *line = rl_line_buffer;
    size_t ll = strlen(line);
    /* Words before the one being completed. */
    char *head = strndup(line, (size_t)start);
    char *buf = malloc(ll + 2);
    char *argv[MAX_ARGS + 1];
    size_t offs[MAX_ARGS + 1];
    int n = split(head, buf, argv, MAX_ARGS, offs);
    if (n == -1) {
        /* Inside an open quote: a definition being typed. */
        const char *q = strrchr(head, '\'');
        const char *dq = strrchr(head, '"');
        if (dq > q)
            q = dq;
        size_t qoff = (size_t)(q - head);
        char *h2 = strndup(line, qoff);
        if (split(h2, buf, argv, MAX_ARGS, offs) >= 0)
            complete_dsl(line, qoff + 1, (size_t)start, (size_t)end);
        free(h2);
        rl_completion_append_character = '\0';
        goto done;
    }
    if (n < 0)
        goto done;
    rl_completion_append_character = ' ';
    /* Drop global options (and their values) from the picture. */
    char *args[MAX_ARGS + 1];
    size_t args_off[MAX_ARGS + 1];
    int na = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(argv[i], "--server") || !strcmp(argv[i], "--token") ||
            !strcmp(argv[i], "-o") || !strcmp(argv[i], "--output") ||
            !strcmp(argv[i], "--color") || !strcmp(argv[i], "--timeout")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && na < 3)
            continue;
        args_off[na] = offs[i];
        args[na++] = argv[i];
    }
    const char *prev = n ? argv[n - 1] : "";
    if (!strcmp(prev, "-o") || !strcmp(prev, "--output")) {
        add_words("table json");
        goto done;
    }
    if (!strcmp(prev, "--color")) {
        add_words("auto always never");
        goto done;
    }
    if (!strcmp(prev, "--type")) {
        add_words("source processor sink");
        goto done;
    }
    if (!strcmp(prev, "--resolution")) {
        add_words("second minute hour day month year");
        goto done;
    }
    if (text[0] == '-') {
        add_words(na ? options_of(args[0], na > 1 ? args[1] : NULL)
                     : "--server --token --output --color --no-wait "
                       "--timeout");
        goto done;
    }
    if (na == 0) {
        for (size_t i = 0; ctl_command_names[i]; i++)
            json_array_append_new(cands, json_string(ctl_command_names[i]));
        add_words("exit quit");
        goto done;
    }
    const char *cmd = args[0];
    struct ctl *c = shell_ctl;
    if (!strcmp(cmd, "stream")) {
        if (na == 1)
            add_words("create list info destroy manifests");
        else if (na == 2 &&
                 (!strcmp(args[1], "info") || !strcmp(args[1], "destroy") ||
                  !strcmp(args[1], "manifests")))
            add_list(ctl_complete_words(c, "streams", NULL));
        else if (na >= 3 && !strcmp(args[1], "create")) {
            /* An unquoted definition: complete it from the server. */
            size_t def_start = na > 3 ? args_off[3] : (size_t)start;
            complete_dsl(line, def_start, (size_t)start, (size_t)end);
            rl_completion_append_character = '\0';
        }
    } else if (!strcmp(cmd, "deploy") || !strcmp(cmd, "undeploy") ||
               !strcmp(cmd, "status") || !strcmp(cmd, "top")) {
        if (na == 1)
            add_list(ctl_complete_words(c, "streams", NULL));
    } else if (!strcmp(cmd, "scale") || !strcmp(cmd, "logs")) {
        if (na == 1)
            add_list(ctl_complete_words(c, "streams", NULL));
        else if (na == 2)
            add_list(ctl_complete_words(c, "labels", args[1]));
    } else if (!strcmp(cmd, "tap")) {
        if (na == 1)
            add_list(ctl_complete_words(c, "taps", NULL));
    } else if (!strcmp(cmd, "app")) {
        if (na == 1)
            add_words("info register unregister");
        else if (na == 2 && !strcmp(args[1], "info"))
            add_list(ctl_complete_words(c, "apps", NULL));
    } else if (!strcmp(cmd, "function")) {
        if (na == 1)
            add_words("list info register unregister");
    } else if (!strcmp(cmd, "counter")) {
        if (na == 1)
            add_list(ctl_complete_words(c, "counters", NULL));
    } else if (!strcmp(cmd, "field-value-counter")) {
        if (na == 1)
            add_list(ctl_complete_words(c, "fvcs", NULL));
    } else if (!strcmp(cmd, "completion")) {
        if (na == 1)
            add_words("bash");
    } else if (!strcmp(cmd, "help")) {
        if (na == 1)
            for (size_t i = 0; ctl_command_names[i]; i++)
                json_array_append_new(cands, json_string(ctl_command_names[i]));
    } else if (!strcmp(cmd, "apply") || !strcmp(cmd, "validate")) {
        /* File names: let libedit do it. */
        rl_attempted_completion_over = 0;
        free(head);
        free(buf);
        return NULL;
    }
done:
    free(head);
    free(buf);
    return rl_completion_matches(text, generator);
}

/* Where the history lives: $XDG_STATE_HOME/flowctl/history, else
 * ~/.local/state/flowctl/history. Returns new, or NULL. */
static char *history_path(void)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char dir[4096];
    if (xdg && *xdg)
        snprintf(dir, sizeof(dir), "%s/flowctl", xdg);
    else if (home && *home)
        snprintf(dir, sizeof(dir), "%s/.local/state/flowctl", home);
    else
        return NULL;
    /* Create each missing directory on the way. */
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0700);
            *p = '/';
        }
    }
    mkdir(dir, 0700);
    size_t n = strlen(dir) + 16;
    char *path = malloc(n);
    snprintf(path, n, "%s/history", dir);
    return path;
}

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
    (void)sig;
    got_sigint = 1;
}

static const char shell_help[] =
    "usage: flowctl shell\n"
    "\n"
    "Runs flowctl commands at a prompt: type them without 'flowctl'. Tab "
    "completes\n"
    "commands, options, stream, app and counter names, and stream "
    "definitions\n"
    "(inside 'stream create NAME '...). History is kept in\n"
    "$XDG_STATE_HOME/flowctl/history (~/.local/state/flowctl/history). "
    "Options\n"
    "given to 'flowctl shell' (--server, -o json, ...) apply to every "
    "command;\n"
    "options on a line apply to that line. 'exit', 'quit' or Ctrl-D leave.\n"
    "\n"
    "Example:\n"
    "  flowctl --server http://127.0.0.1:9393 shell\n"
    "  flow> stream create hits 'time | log' --deploy\n"
    "  flow> status hits\n";

int cmd_shell(struct ctl *c, int argc, char **argv)
{
    if (argc >= 2 && ctl_is_help(argv[1]))
        return ctl_help(shell_help);
    if (argc > 1)
        return ctl_usage_error("shell takes no arguments");
    if (c->in_shell) {
        fprintf(stderr, "flowctl: already in the shell\n");
        return CTL_EUSAGE;
    }
    struct ctl sc = *c;
    sc.in_shell = true;
    shell_ctl = &sc;
    rl_readline_name = "flowctl";
    rl_attempted_completion_function = complete;
    stifle_history(1000);
    char *hist = history_path();
    if (hist)
        read_history(hist);
    bool interactive = isatty(STDIN_FILENO);
    if (interactive)
        printf("flowctl %s shell on %s. Tab completes; 'help' lists the "
               "commands, 'exit' leaves.\n",
               FLOW_VERSION, c->server);
    int last = CTL_OK;
    for (;;) {
        /* Ctrl-C at the prompt drops the line but does not end the
         * shell; while a command runs it interrupts it as usual. */
        struct sigaction sa = { 0 };
        sa.sa_handler = interactive ? on_sigint : SIG_DFL;
        sigaction(SIGINT, &sa, NULL);
        got_sigint = 0;
        char *line = readline(interactive ? "flow> " : "");
        signal(SIGINT, SIG_DFL);
        if (!line && got_sigint) {
            printf("\n");
            continue;
        }
        if (!line) {
            if (interactive)
                printf("\n");
            break;
        }
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t sl = strlen(s);
        while (sl && (s[sl - 1] == ' ' || s[sl - 1] == '\t'))
            s[--sl] = '\0';
        if (!*s || *s == '#') {
            free(line);
            continue;
        }
        add_history(s);
        if (hist)
            write_history(hist);
        size_t ll = strlen(s);
        char *buf = malloc(ll + 2);
        char *args[MAX_ARGS + 1];
        int n = split(s, buf, args, MAX_ARGS, NULL);
        if (n == -1) {
            fprintf(stderr, "flowctl: unterminated quote in the line\n");
            last = CTL_EUSAGE;
        } else if (n == -2) {
            fprintf(stderr, "flowctl: too many words in the line\n");
            last = CTL_EUSAGE;
        } else if (n > 0 &&
                   (!strcmp(args[0], "exit") || !strcmp(args[0], "quit"))) {
            free(buf);
            free(line);
            break;
        } else if (n > 0 && !strcmp(args[0], "flowctl")) {
            last = n > 1 ? ctl_run(&sc, n - 1, args + 1) : CTL_OK;
        } else if (n > 0) {
            last = ctl_run(&sc, n, args);
        }
        fflush(stdout);
        free(buf);
        free(line);
    }
    free(hist);
    json_decref(cands);
    cands = NULL;
    shell_ctl = NULL;
    return last;
}
