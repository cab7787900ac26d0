/*
 * `flowctl top [NAME]`: a live view of every running app, refreshed each
 * second: instances, events in and out per second, totals, errors,
 * restarts and lag (what the upstream app sent that this one has not yet
 * taken). The terminal goes to raw mode and the alternate screen; both
 * are restored on every way out (q, Ctrl-C, SIGTERM, SIGHUP, errors).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "http.h"
#include "output.h"

static struct termios saved_tio;
static bool raw_on;
static volatile sig_atomic_t quit_sig, resized;

/* Puts the terminal back as it was; safe to call twice and from a signal
 * handler (write and tcsetattr are async-signal-safe). */
static void restore_terminal(void)
{
    if (!raw_on)
        return;
    static const char leave[] = "\033[?25h\033[?1049l";
    ssize_t w = write(STDOUT_FILENO, leave, sizeof(leave) - 1);
    (void)w;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    raw_on = false;
}

static void on_quit(int sig)
{
    quit_sig = sig;
}

static void on_winch(int sig)
{
    (void)sig;
    resized = 1;
}

static int enter_raw(void)
{
    if (tcgetattr(STDIN_FILENO, &saved_tio))
        return -1;
    struct termios t = saved_tio;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t))
        return -1;
    raw_on = true;
    atexit(restore_terminal);
    static const char enter[] = "\033[?1049h\033[?25l";
    ssize_t w = write(STDOUT_FILENO, enter, sizeof(enter) - 1);
    (void)w;
    return 0;
}

/* One app of the view, summed over its instances. */
struct row {
    const char *stream, *label, *state;
    int order; /* position in its stream's pipeline */
    size_t running, count;
    double in, out, errors, restarts, rate_in, rate_out;
    double lag; /* <0: not known */
};

static int cmp_rows(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int s = strcmp(x->stream, y->stream);
    if (s)
        return s;
    if (x->order != y->order)
        return x->order - y->order;
    return strcmp(x->label, y->label);
}

/* Pipeline order of each stream's labels, from the definitions: an
 * object stream -> array of labels. Returns new. */
static json_t *pipeline_orders(struct ctl *c)
{
    json_t *doc, *items, *out = json_object();
    if (http_get_all(c, "/streams/definitions", &doc, &items))
        return out;
    size_t i, k;
    json_t *it, *a;
    json_array_foreach(items, i, it)
    {
        json_t *labels = json_array();
        json_array_foreach(json_object_get(it, "apps"), k, a)
        {
            json_array_append_new(labels,
                                  json_string(out_str(a, "label", "?")));
        }
        json_object_set_new(out, out_str(it, "name", "?"), labels);
    }
    json_decref(doc);
    return out;
}

static int label_index(json_t *orders, const char *stream, const char *label)
{
    json_t *labels = json_object_get(orders, stream);
    size_t i;
    json_t *l;
    json_array_foreach(labels, i, l)
    {
        if (!strcmp(json_string_value(l), label))
            return (int)i;
    }
    return 1000;
}

/* Builds the rows from /runtime/apps (borrowed). Returns new array and
 * its length. */
static struct row *build_rows(json_t *items, json_t *orders, const char *only,
                              size_t *nrows)
{
    size_t n = json_array_size(items), m = 0, i, k;
    struct row *rows = calloc(n + 1, sizeof(*rows));
    json_t *app, *in;
    json_array_foreach(items, i, app)
    {
        const char *stream = out_str(app, "stream", "?");
        if (only && strcmp(only, stream))
            continue;
        struct row *r = &rows[m++];
        r->stream = stream;
        r->label = out_str(app, "label", "?");
        /* An app has a "status" (docs/rest.md); an instance a "state". */
        r->state = out_str(app, "status", "?");
        r->order = label_index(orders, r->stream, r->label);
        r->lag = -1;
        json_t *insts = json_object_get(app, "instances");
        r->count = json_array_size(insts);
        json_array_foreach(insts, k, in)
        {
            if (!strcmp(out_str(in, "state", ""), "deployed"))
                r->running++;
            r->in += out_num(in, "in", 0);
            r->out += out_num(in, "out", 0);
            r->errors += out_num(in, "errors", 0);
            r->restarts += out_num(in, "restarts", 0);
            r->rate_in += out_num(in, "rateIn", 0);
            r->rate_out += out_num(in, "rateOut", 0);
        }
    }
    qsort(rows, m, sizeof(*rows), cmp_rows);
    /* Lag: what the app before it in the same stream sent, minus what it
     * took in. */
    for (size_t j = 1; j < m; j++) {
        struct row *p = &rows[j - 1], *r = &rows[j];
        if (!strcmp(p->stream, r->stream) && p->order + 1 == r->order) {
            r->lag = p->out - r->in;
            if (r->lag < 0)
                r->lag = 0;
        }
    }
    *nrows = m;
    return rows;
}

static void term_size(int *rows, int *cols)
{
    struct winsize ws;
    *rows = 24;
    *cols = 80;
    if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row > 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

/* Draws one frame. On a terminal the screen is redrawn in place. */
static void draw(struct ctl *c, struct row *rows, size_t n, bool screen,
                 const char *err)
{
    int trows, tcols;
    term_size(&trows, &tcols);
    char when[16];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    if (screen)
        fputs("\033[H", stdout);
    double tin = 0, tout = 0, terr = 0;
    size_t inst = 0;
    for (size_t i = 0; i < n; i++) {
        tin += rows[i].rate_in;
        tout += rows[i].rate_out;
        terr += rows[i].errors;
        inst += rows[i].count;
    }
    char a[32], b[32];
    char e[32];
    printf("%sflowctl top%s - %s - %s - %zu apps, %zu instances, in %s, "
           "out %s, errors %s%s\n",
           out_style(c, OUT_BOLD, false), out_style(c, OUT_RESET, false),
           c->server, when, n, inst, out_rate(a, sizeof(a), tin),
           out_rate(b, sizeof(b), tout), out_count(e, sizeof(e), terr),
           screen ? "\033[K" : "");
    if (err)
        printf("%s%s%s%s\n", out_style(c, OUT_RED, false), err,
               out_style(c, OUT_RESET, false), screen ? "\033[K" : "");
    else
        printf("%s\n", screen ? "\033[K" : "");
    struct out_table *t =
        out_table_new(11, "STREAM", "APP", "INST", "STATE", "IN/S", "OUT/S",
                      "IN", "OUT", "ERRORS", "LAG", "RESTARTS");
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        char inst_s[32], ri[32], ro[32], ti[32], to[32], er[32], lg[32], rs[32];
        snprintf(inst_s, sizeof(inst_s), "%zu/%zu", r->running, r->count);
        if (r->lag >= 0)
            out_count(lg, sizeof(lg), r->lag);
        else
            snprintf(lg, sizeof(lg), "-");
        out_table_row(t, r->stream, r->label, inst_s, r->state,
                      out_rate(ri, sizeof(ri), r->rate_in),
                      out_rate(ro, sizeof(ro), r->rate_out),
                      out_count(ti, sizeof(ti), r->in),
                      out_count(to, sizeof(to), r->out),
                      out_count(er, sizeof(er), r->errors), lg,
                      out_count(rs, sizeof(rs), r->restarts));
        out_table_style(t, 3, out_status_style(r->state));
        if (r->errors > 0)
            out_table_style(t, 8, OUT_RED);
    }
    if (n == 0) {
        printf("No apps are running%s.%s\n", screen ? "" : "",
               screen ? "\033[K" : "");
        out_table_destroy(&t);
    } else {
        out_table_print(c, &t, stdout);
    }
    if (screen) {
        printf("\n%sq quits%s\033[K\033[J", out_style(c, OUT_DIM, false),
               out_style(c, OUT_RESET, false));
    }
    (void)tcols;
    (void)trows;
    fflush(stdout);
}

static const char top_help[] =
    "usage: flowctl top [NAME] [--interval SECONDS] [-n ITERATIONS]\n"
    "\n"
    "A live view of every running app (or those of stream NAME): "
    "instances\n"
    "running, events in and out per second, totals, errors, lag (events "
    "the\n"
    "app before it sent that it has not taken yet) and restarts, "
    "refreshed\n"
    "every second. Press q to quit. When standard output is not a "
    "terminal,\n"
    "prints one view (or -n views) and exits; with -o json, prints the\n"
    "server's /runtime/apps once.\n"
    "\n"
    "Examples:\n"
    "  flowctl top\n"
    "  flowctl top accounts --interval 2\n"
    "  flowctl top -n 3 > snapshot.txt\n";

int cmd_top(struct ctl *c, int argc, char **argv)
{
    const char *interval_s = NULL, *iter_s = NULL;
    struct ctl_opt opts[] = {
        { "interval", 'i', &interval_s, NULL },
        { "iterations", 'n', &iter_s, NULL },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 1, &npos, "top", false);
    if (rc == CTL_HELP)
        return ctl_help(top_help);
    if (rc)
        return rc;
    long interval = 1, iters = 0;
    if (interval_s && (!ctl_parse_uint(interval_s, &interval) || interval < 1 ||
                       interval > 3600))
        return ctl_usage_error("--interval needs 1 to 3600 seconds, not '%s'",
                               interval_s);
    if (iter_s && (!ctl_parse_uint(iter_s, &iters) || iters < 1))
        return ctl_usage_error("-n needs a number of views, not '%s'", iter_s);
    const char *only = npos ? pos[0] : NULL;
    c->req_timeout_s = 5;
    if (only) {
        /* Fail early, and with exit code 4, for a stream that is not
         * there. */
        char *e = http_escape(only);
        char path[256];
        snprintf(path, sizeof(path), "/streams/definitions/%s", e);
        free(e);
        rc = http_json(c, "GET", path, NULL, NULL);
        if (rc)
            return rc;
    }
    if (c->json) {
        json_t *doc, *items;
        rc = http_get_all(c, "/runtime/apps", &doc, &items);
        if (!rc && only) {
            /* Keep the apps of the stream asked for. */
            for (size_t i = json_array_size(items); i-- > 0;)
                if (strcmp(out_str(json_array_get(items, i), "stream", ""),
                           only))
                    json_array_remove(items, i);
        }
        if (!rc)
            out_json(doc);
        json_decref(doc);
        return rc;
    }
    bool screen = c->tty_out && isatty(STDIN_FILENO) && !iters;
    if (!c->tty_out && !iters)
        iters = 1;
    /* A first request tells an unreachable server apart before the
     * screen changes. */
    json_t *doc = NULL, *items;
    rc = http_get_all(c, "/runtime/apps", &doc, &items);
    if (rc)
        return rc;
    struct sigaction sa = { 0 }, old_int, old_term, old_hup, old_winch;
    sa.sa_handler = on_quit;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, &old_winch);
    quit_sig = 0;
    if (screen && enter_raw()) {
        fprintf(stderr, "flowctl: cannot set up the terminal: %s\n",
                strerror(errno));
        screen = false;
    }
    json_t *orders = pipeline_orders(c);
    int frame = 0;
    char err[512] = "";
    for (;;) {
        size_t n;
        struct row *rows = build_rows(items, orders, only, &n);
        draw(c, rows, n, screen, err[0] ? err : NULL);
        free(rows);
        frame++;
        if (iters && frame >= iters)
            break;
        if (!screen)
            printf("\n");
        /* Wait for the next refresh, or a key. */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        bool quit = false;
        for (;;) {
            struct timespec t1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            long left = interval * 1000 - ((t1.tv_sec - t0.tv_sec) * 1000 +
                                           (t1.tv_nsec - t0.tv_nsec) / 1000000);
            if (left <= 0 || quit_sig || resized)
                break;
            struct pollfd pfd = { screen ? STDIN_FILENO : -1, POLLIN, 0 };
            int pr = poll(&pfd, 1, (int)left);
            if (pr > 0 && (pfd.revents & POLLIN)) {
                char ch;
                ssize_t r = read(STDIN_FILENO, &ch, 1);
                if (r == 1 && (ch == 'q' || ch == 'Q' || ch == 3))
                    quit = true;
                if (r == 0)
                    quit = true; /* the terminal went away */
                if (quit)
                    break;
            }
        }
        if (quit || quit_sig)
            break;
        if (resized) {
            resized = 0;
            if (screen)
                fputs("\033[2J", stdout);
        }
        /* Keep showing the last view while the server is away. */
        bool q = c->quiet;
        json_t *ndoc, *nitems;
        c->quiet = true;
        int r = http_get_all(c, "/runtime/apps", &ndoc, &nitems);
        c->quiet = q;
        if (r) {
            snprintf(err, sizeof(err),
                     r == CTL_EUNREACH ? "cannot reach %s; retrying"
                                       : "the server refused the request "
                                         "(%s); retrying",
                     c->server);
        } else {
            json_decref(doc);
            doc = ndoc;
            items = nitems;
            err[0] = '\0';
        }
        if (frame % 10 == 0) {
            json_decref(orders);
            orders = pipeline_orders(c);
        }
    }
    restore_terminal();
    json_decref(doc);
    json_decref(orders);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    if (quit_sig == SIGINT || quit_sig == SIGTERM || quit_sig == SIGHUP) {
        int s = quit_sig;
        quit_sig = 0;
        if (!c->in_shell && s != SIGINT) {
            /* Die of the signal as the caller expects, terminal restored. */
            signal(s, SIG_DFL);
            raise(s);
        }
    }
    return CTL_OK;
}
