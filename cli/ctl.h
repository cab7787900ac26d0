/*
 * flowctl's shared state: the context every command receives, the exit
 * codes, the command entry points (one command group per file) and small
 * argument helpers.
 */
#ifndef FLOWCTL_CTL_H
#define FLOWCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Exit codes, documented in docs/flowctl.md and flowctl(1). */
enum {
    CTL_OK = 0,
    CTL_EFAIL = 1,     /* the request failed; the server's message shown */
    CTL_EUSAGE = 2,    /* bad command line */
    CTL_EUNREACH = 3,  /* the server could not be reached */
    CTL_ENOTFOUND = 4, /* the named thing does not exist */
};

/* What ctl_opts returns when -h/--help was given: no exit code (the
 * command prints its help and exits CTL_OK), so it is negative and never
 * mistaken for one. */
enum { CTL_HELP = -1 };

/* Everything a command needs to know about the invocation. */
struct ctl {
    char *server;      /* base URL, no trailing slash (owned) */
    char *token;       /* bearer token or NULL (owned) */
    bool json;         /* -o json: one JSON document on stdout */
    bool yaml;         /* -o yaml: YAML documents (stream manifests only) */
    bool color;        /* ANSI colours on stdout */
    bool tty_out;      /* stdout is a terminal */
    bool tty_err;      /* stderr is a terminal (progress lines) */
    bool wait;         /* wait for long operations (cleared by --no-wait) */
    int timeout_s;     /* how long to wait for a final status */
    bool in_shell;     /* running inside `flowctl shell` */
    bool quiet;        /* print no transport errors (completion) */
    long status;       /* HTTP status of the last response, 0 if none */
    int req_timeout_s; /* per request; 0 = the default (120 s) */
    const char *dsl; /* definition being sent, to show DSL errors (borrowed) */
};

/* A command: argv[0] is the command's own name. Returns an exit code. */
typedef int (*ctl_cmd_fn)(struct ctl *c, int argc, char **argv);

/* Runs one flowctl command line (without the program name) in context c;
 * used by main and by the shell. */
int ctl_dispatch(struct ctl *c, int argc, char **argv);

/* Command groups, one per file. */
int cmd_stream(struct ctl *c, int argc, char **argv);
int cmd_deploy(struct ctl *c, int argc, char **argv);
int cmd_undeploy(struct ctl *c, int argc, char **argv);
int cmd_status(struct ctl *c, int argc, char **argv);
int cmd_scale(struct ctl *c, int argc, char **argv);
int cmd_apply(struct ctl *c, int argc, char **argv);
int cmd_export(struct ctl *c, int argc, char **argv);
int cmd_logs(struct ctl *c, int argc, char **argv);
int cmd_apps(struct ctl *c, int argc, char **argv);
int cmd_app(struct ctl *c, int argc, char **argv);
int cmd_function(struct ctl *c, int argc, char **argv);
int cmd_counters(struct ctl *c, int argc, char **argv);
int cmd_counter(struct ctl *c, int argc, char **argv);
int cmd_fvc(struct ctl *c, int argc, char **argv);
int cmd_top(struct ctl *c, int argc, char **argv);
int cmd_tap(struct ctl *c, int argc, char **argv);
int cmd_shell(struct ctl *c, int argc, char **argv);
int cmd_completion(struct ctl *c, int argc, char **argv);
int cmd_complete_hidden(struct ctl *c, int argc, char **argv);
int cmd_version(struct ctl *c, int argc, char **argv);

/* Waits until stream `name` reaches one of the final states for `goal`
 * ("deployed" or "undeployed"), showing progress on a terminal. Returns an
 * exit code; prints nothing on stdout. */
int ctl_wait_status(struct ctl *c, const char *name, const char *goal);

/* Replaces *res (owned) with a fresh GET of path when that succeeds, so
 * what a command prints after waiting is the final state; keeps *res
 * otherwise. */
void ctl_refresh(struct ctl *c, const char *path, json_t **res);

/* Prints each app of a deployment resource (borrowed) with its
 * instances, as a table on stdout. */
void ctl_print_apps(struct ctl *c, json_t *dep);

/* The visible command names, NULL-terminated. */
extern const char *const ctl_command_names[];

/* Names the server knows, for completion: kind is "streams", "labels"
 * (of stream arg), "taps", "apps", "counters" or "fvcs". Never prints;
 * an unreachable server gives an empty array. Returns new array. */
json_t *ctl_complete_words(struct ctl *c, const char *kind, const char *arg);

/* Fetches the names of every stream definition. Returns new array of
 * strings, or NULL when the server cannot tell (quietly). */
json_t *ctl_stream_names(struct ctl *c);

/* Runs one command line (global options included, no program name) in a
 * copy of base, so options given on a shell line apply to that line. */
int ctl_run(struct ctl *base, int argc, char **argv);

/* Prints help text to stdout and returns CTL_OK. */
int ctl_help(const char *text);

/* A command's option: --lng / -s, with a value stored in *val or a flag
 * set in *flag. */
struct ctl_opt {
    const char *lng;
    char shrt;
    const char **val;
    bool *flag;
};

/* Parses argv[1..] (argv[0] is the command): options anywhere, the rest
 * into pos (at most maxpos, in order, count in *npos). With
 * unknown_as_pos, unknown options that look like DSL (`--k=v`) are taken
 * as positionals. Returns 0, CTL_HELP when -h/--help was given, or
 * CTL_EUSAGE after printing the problem. `cmd` names the command in messages.
 */
int ctl_opts(int argc, char **argv, const struct ctl_opt *opts, char **pos,
             int maxpos, int *npos, const char *cmd, bool unknown_as_pos);

/* True when s is one of -h, --help. */
bool ctl_is_help(const char *s);

/* Prints "flowctl: " + message to stderr, returns CTL_EUSAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a non-negative integer; false when s is not one. */
bool ctl_parse_uint(const char *s, long *out);

/* Reads a whole file ("-" = stdin). Returns new NUL-terminated text or
 * NULL with errno set. */
char *ctl_read_file(const char *path, size_t *len);

#endif
