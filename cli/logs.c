/*
 * `flowctl logs NAME [APP] [-f]`: the captured output of a stream's app
 * instances, once or followed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "http.h"
#include "output.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Where the new part of `now` starts, given what was shown before. The
 * server sends a sliding tail, so `before` may have lost its head. */
static size_t new_part(const char *before, const char *now)
{
    size_t bl = strlen(before), nl = strlen(now);
    if (bl == 0)
        return 0;
    if (nl >= bl && !memcmp(before, now, bl))
        return bl;
    /* Find the end of the old text's last 256 bytes in the new text. */
    size_t k = bl < 256 ? bl : 256;
    const char *tail = before + bl - k;
    const char *hit = NULL;
    for (const char *p = now; (p = memmem(p, nl - (size_t)(p - now), tail, k));
         p++)
        hit = p;
    return hit ? (size_t)(hit - now) + k : 0;
}

/* Prints text with each line prefixed by the instance id. */
static void print_prefixed(struct ctl *c, const char *id, const char *text,
                           bool prefix)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (prefix)
            printf("%s[%s]%s ", out_style(c, OUT_CYAN, false), id,
                   out_style(c, OUT_RESET, false));
        printf("%.*s\n", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

static const char logs_help[] =
    "usage: flowctl logs NAME [APP] [-f] [--bytes N]\n"
    "\n"
    "Prints the captured standard output and error of every instance of "
    "a\n"
    "stream's apps (the last 64 KiB each, or --bytes), or of one app (by "
    "its\n"
    "label). With -f, keeps printing what they write, each line prefixed "
    "by\n"
    "the instance; Ctrl-C stops. With -o json: the server's document "
    "(with\n"
    "-f, one JSON object per line: {\"instance\", \"text\"}).\n"
    "\n"
    "Examples:\n"
    "  flowctl logs accounts\n"
    "  flowctl logs accounts counter -f\n";

int cmd_logs(struct ctl *c, int argc, char **argv)
{
    bool follow = false;
    const char *bytes = NULL;
    struct ctl_opt opts[] = {
        { "follow", 'f', NULL, &follow },
        { "bytes", 0, &bytes, NULL },
        { NULL, 0, NULL, NULL },
    };
    char *pos[2];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 2, &npos, "logs", false);
    if (rc == CTL_HELP)
        return ctl_help(logs_help);
    if (rc)
        return rc;
    if (npos < 1)
        return ctl_usage_error("logs needs a stream NAME; see 'flowctl logs "
                               "--help'");
    long nb = 0;
    if (bytes && (!ctl_parse_uint(bytes, &nb) || nb < 1 || nb > 1048576))
        return ctl_usage_error("--bytes must be 1 to 1048576, not '%s'", bytes);
    char *es = http_escape(pos[0]);
    char *ea = npos > 1 ? http_escape(pos[1]) : NULL;
    char path[1024];
    int w = snprintf(path, sizeof(path), "/streams/logs/%s%s%s", es,
                     ea ? "/" : "", ea ? ea : "");
    if (nb && w > 0 && (size_t)w < sizeof(path))
        snprintf(path + w, sizeof(path) - (size_t)w, "?bytes=%ld", nb);
    free(es);
    free(ea);
    json_t *doc;
    rc = http_json(c, "GET", path, NULL, &doc);
    if (rc)
        return rc;
    if (!follow) {
        if (c->json) {
            out_json(doc);
        } else {
            const char *id;
            json_t *t;
            bool first = true;
            json_object_foreach(json_object_get(doc, "logs"), id, t)
            {
                printf("%s%s==> %s <==%s\n", first ? "" : "\n",
                       out_style(c, OUT_BOLD, false), id,
                       out_style(c, OUT_RESET, false));
                first = false;
                const char *s = json_string_value(t);
                if (s && *s)
                    print_prefixed(c, id, s, false);
            }
            if (first)
                printf("No logs yet for '%s'.\n", pos[0]);
        }
        json_decref(doc);
        return CTL_OK;
    }
    /* Follow: poll and print what is new, instance by instance. */
    struct sigaction sa = { 0 };
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    stop = 0;
    json_t *seen = json_object();
    while (!stop) {
        const char *id;
        json_t *t;
        json_object_foreach(json_object_get(doc, "logs"), id, t)
        {
            const char *now = json_string_value(t);
            if (!now)
                continue;
            const char *before = json_string_value(json_object_get(seen, id));
            size_t from = new_part(before ? before : "", now);
            if (now[from]) {
                if (c->json) {
                    json_t *line = json_pack("{s:s, s:s}", "instance", id,
                                             "text", now + from);
                    char *s = json_dumps(line, JSON_COMPACT);
                    printf("%s\n", s);
                    free(s);
                    json_decref(line);
                } else {
                    print_prefixed(c, id, now + from, true);
                }
            }
            json_object_set_new(seen, id, json_string(now));
        }
        fflush(stdout);
        if (ferror(stdout))
            break;
        json_decref(doc);
        doc = NULL;
        for (int i = 0; i < 10 && !stop; i++) {
            struct timespec ts = { 0, 100000000L };
            nanosleep(&ts, NULL);
        }
        if (stop)
            break;
        rc = http_json(c, "GET", path, NULL, &doc);
        if (rc)
            break;
    }
    json_decref(doc);
    json_decref(seen);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    return rc;
}
