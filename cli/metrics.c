/*
 * `flowctl counters`, `flowctl counter NAME`, `flowctl field-value-counter
 * NAME`: the analytics counters, with a small text chart of a counter's
 * history on a terminal.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "http.h"
#include "output.h"

static char *name_path(const char *fmt, const char *name)
{
    char *e = http_escape(name);
    size_t n = strlen(fmt) + strlen(e) + 1;
    char *p = malloc(n);
    snprintf(p, n, fmt, e);
    free(e);
    return p;
}

int cmd_counters(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, NULL, pos, 0, &npos, "counters", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl counters\n"
                        "\n"
                        "Lists every analytics counter: counters with their "
                        "value and\n"
                        "rate, field-value counters with their number of "
                        "values, and\n"
                        "aggregate counters. With -o json: {\"counters\", "
                        "\"fieldValueCounters\",\n"
                        "\"aggregateCounters\"}, each the server's list.\n"
                        "\n"
                        "Example:\n"
                        "  flowctl counters\n");
    if (rc)
        return rc;
    static const char *const paths[] = { "/metrics/counters",
                                         "/metrics/field-value-counters",
                                         "/metrics/aggregate-counters" };
    static const char *const keys[] = { "counters", "fieldValueCounters",
                                        "aggregateCounters" };
    json_t *lists[3] = { NULL, NULL, NULL };
    json_t *all = json_object();
    for (int i = 0; i < 3 && !rc; i++) {
        json_t *doc;
        rc = http_get_all(c, paths[i], &doc, &lists[i]);
        if (!rc) {
            json_object_set(all, keys[i], lists[i]);
            json_decref(doc);
            lists[i] = json_object_get(all, keys[i]);
        }
    }
    if (rc) {
        json_decref(all);
        return rc;
    }
    if (c->json) {
        out_json(all);
    } else if (!json_array_size(lists[0]) && !json_array_size(lists[1]) &&
               !json_array_size(lists[2])) {
        printf("No counters yet. A stream with a 'counter' sink makes "
               "some.\n");
    } else {
        struct out_table *t = out_table_new(4, "NAME", "KIND", "VALUE", "RATE");
        size_t i;
        json_t *it;
        char vb[32], rb[32];
        json_array_foreach(lists[0], i, it)
        {
            out_table_row(t, out_str(it, "name", "?"), "counter",
                          out_count(vb, sizeof(vb), out_num(it, "value", 0)),
                          out_rate(rb, sizeof(rb), out_num(it, "rate", -1)));
        }
        json_array_foreach(lists[1], i, it)
        {
            double sum = 0;
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(it, "values"), k, v)
            {
                sum += json_is_number(v) ? json_number_value(v) : 0;
            }
            char vals[64];
            snprintf(vals, sizeof(vals), "%s (%zu values)",
                     out_count(vb, sizeof(vb), sum),
                     json_object_size(json_object_get(it, "values")));
            out_table_row(t, out_str(it, "name", "?"), "field-value", vals,
                          "-");
        }
        json_array_foreach(lists[2], i, it)
        {
            out_table_row(t, out_str(it, "name", "?"), "aggregate",
                          out_count(vb, sizeof(vb), out_num(it, "value", 0)),
                          "-");
        }
        out_table_print(c, &t, stdout);
    }
    json_decref(all);
    return CTL_OK;
}

/* Parses "90s", "10m", "1h", "7d", "2w" or plain seconds. */
static bool parse_duration(const char *s, long *secs)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0 || !isfinite(v))
        return false;
    double mul = 1;
    if (!strcmp(end, "") || !strcmp(end, "s"))
        mul = 1;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        mul = 60;
    else if (!strcmp(end, "h"))
        mul = 3600;
    else if (!strcmp(end, "d"))
        mul = 86400;
    else if (!strcmp(end, "w"))
        mul = 7 * 86400;
    else if (!strcmp(end, "mo"))
        mul = 30 * 86400;
    else if (!strcmp(end, "y"))
        mul = 365 * 86400;
    else
        return false;
    if (v * mul > 100.0 * 365 * 86400)
        return false;
    *secs = (long)(v * mul);
    return *secs > 0;
}

static int term_width(void)
{
    struct winsize ws;
    if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

/* Draws a column chart of the buckets (a JSON object in time order),
 * eight rows high, averaging neighbours when there are more buckets than
 * columns. */
static void chart(const struct ctl *c, json_t *values, int width)
{
    size_t n = json_object_size(values);
    if (n == 0)
        return;
    double *v = calloc(n, sizeof(double));
    const char *first = NULL, *last = NULL;
    size_t i = 0;
    const char *k;
    json_t *x;
    json_object_foreach(values, k, x)
    {
        if (!first)
            first = k;
        last = k;
        v[i++] = json_is_number(x) ? json_number_value(x) : 0;
    }
    int cols = width - 10;
    if (cols < 10)
        cols = 10;
    size_t per = (n + (size_t)cols - 1) / (size_t)cols;
    size_t m = (n + per - 1) / per;
    double *col = calloc(m, sizeof(double));
    double max = 0;
    for (size_t j = 0; j < m; j++) {
        double s = 0;
        size_t cnt = 0;
        for (size_t q = j * per; q < n && q < (j + 1) * per; q++, cnt++)
            s += v[q];
        col[j] = s;
        if (col[j] > max)
            max = col[j];
    }
    static const char *const eighths[] = { " ",      "\u2581", "\u2582",
                                           "\u2583", "\u2584", "\u2585",
                                           "\u2586", "\u2587", "\u2588" };
    const int rows = 8;
    char axis[32];
    for (int r = rows - 1; r >= 0; r--) {
        if (r == rows - 1)
            out_count(axis, sizeof(axis), max);
        else if (r == 0)
            snprintf(axis, sizeof(axis), "0");
        else
            axis[0] = '\0';
        printf("%8s %s", axis, out_style(c, OUT_CYAN, false));
        for (size_t j = 0; j < m; j++) {
            double h = max > 0 ? col[j] / max * rows * 8 : 0;
            double in_row = h - r * 8;
            int e = in_row >= 8 ? 8 : in_row <= 0 ? 0 : (int)lround(in_row);
            if (r == 0 && col[j] > 0 && e == 0 && h < 1)
                e = 1;
            fputs(eighths[e], stdout);
        }
        printf("%s\n", out_style(c, OUT_RESET, false));
    }
    printf("%8s %s", "", first);
    int pad = (int)m - (int)strlen(first) - (int)strlen(last);
    if (pad > 0)
        printf("%*s%s", pad, "", last);
    printf("\n");
    if (per > 1)
        printf("%8s (each column sums %zu buckets)\n", "", per);
    free(col);
    free(v);
}

static const char counter_help[] =
    "usage: flowctl counter NAME [--resolution RES] [--last DURATION] "
    "[--chart|--no-chart]\n"
    "\n"
    "Shows a counter's value and rate and its history: counts per bucket "
    "of\n"
    "RES (second, minute, hour, day, month or year) over the last DURATION\n"
    "(such as 90s, 30m, 6h, 7d). Without --resolution it follows from "
    "--last\n"
    "(about 60 buckets); without either: per minute over the last hour. On "
    "a\n"
    "terminal the history is a small chart, else a table (--chart and\n"
    "--no-chart choose). With -o json: the counter resource with the "
    "history\n"
    "under \"history\".\n"
    "\n"
    "Examples:\n"
    "  flowctl counter account-load\n"
    "  flowctl counter account-load --last 2m --resolution second\n"
    "  flowctl counter account-load --last 24h\n";

int cmd_counter(struct ctl *c, int argc, char **argv)
{
    const char *res = NULL, *last = NULL;
    bool want_chart = false, no_chart = false;
    struct ctl_opt opts[] = {
        { "resolution", 'r', &res, NULL }, { "last", 'l', &last, NULL },
        { "chart", 0, NULL, &want_chart }, { "no-chart", 0, NULL, &no_chart },
        { NULL, 0, NULL, NULL },
    };
    char *pos[1];
    int npos;
    int rc = ctl_opts(argc, argv, opts, pos, 1, &npos, "counter", false);
    if (rc == CTL_HELP)
        return ctl_help(counter_help);
    if (rc)
        return rc;
    if (npos != 1)
        return ctl_usage_error("counter needs a NAME; 'flowctl counters' "
                               "lists them");
    static const char *const resolutions[] = { "second", "minute", "hour",
                                               "day",    "month",  "year" };
    if (res) {
        bool ok = false;
        for (size_t i = 0; i < 6; i++)
            ok |= !strcmp(res, resolutions[i]);
        if (!ok)
            return ctl_usage_error("--resolution must be second, minute, "
                                   "hour, day, month or year, not '%s'",
                                   res);
    }
    long secs = 0;
    if (last && !parse_duration(last, &secs))
        return ctl_usage_error("--last needs a duration such as 90s, 30m, "
                               "6h or 7d, not '%s'",
                               last);
    if (!res) {
        if (!last)
            res = "minute";
        else if (secs <= 300)
            res = "second";
        else if (secs <= 6 * 3600)
            res = "minute";
        else if (secs <= 7 * 86400)
            res = "hour";
        else if (secs <= 400 * 86400)
            res = "day";
        else
            res = "month";
    }
    char *p = name_path("/metrics/counters/%s", pos[0]);
    json_t *ctr = NULL, *hist = NULL;
    rc = http_json_quiet(c, "GET", p, NULL, &ctr);
    free(p);
    if (rc && rc != CTL_ENOTFOUND) {
        /* Say it aloud this time. */
        p = name_path("/metrics/counters/%s", pos[0]);
        rc = http_json(c, "GET", p, NULL, NULL);
        free(p);
        return rc ? rc : CTL_EFAIL;
    }
    char *en = http_escape(pos[0]);
    char q[512];
    if (last) {
        time_t now = time(NULL);
        snprintf(q, sizeof(q),
                 "/metrics/aggregate-counters/%s?resolution=%s&from=%lld&to="
                 "%lld",
                 en, res, (long long)(now - secs), (long long)now);
    } else {
        snprintf(q, sizeof(q), "/metrics/aggregate-counters/%s?resolution=%s",
                 en, res);
    }
    free(en);
    int hrc = http_json_quiet(c, "GET", q, NULL, &hist);
    if (!ctr && hrc == CTL_ENOTFOUND) {
        fprintf(stderr, "flowctl: no counter named '%s'\n", pos[0]);
        fprintf(stderr, "hint: 'flowctl counters' lists them\n");
        return CTL_ENOTFOUND;
    }
    if (hrc && hrc != CTL_ENOTFOUND) {
        /* Show the server's complaint about the query. */
        hrc = http_json(c, "GET", q, NULL, NULL);
        json_decref(ctr);
        return hrc ? hrc : CTL_EFAIL;
    }
    if (!ctr) {
        json_t *tot = json_object_get(hist, "total");
        ctr = json_pack("{s:s, s:o}", "name", pos[0], "value",
                        tot ? json_incref(tot) : json_integer(0));
    }
    if (c->json) {
        if (hist)
            json_object_set(ctr, "history", hist);
        out_json(ctr);
    } else {
        char vb[32], rb[32];
        printf("%s%s%s: %s", out_style(c, OUT_BOLD, false),
               out_str(ctr, "name", pos[0]), out_style(c, OUT_RESET, false),
               out_count(vb, sizeof(vb), out_num(ctr, "value", 0)));
        if (out_num(ctr, "value", 0) >= 10000)
            printf(" (%.0f)", out_num(ctr, "value", 0));
        if (out_num(ctr, "rate", -1) >= 0)
            printf(", %s", out_rate(rb, sizeof(rb), out_num(ctr, "rate", 0)));
        printf("\n");
        json_t *vals = json_object_get(hist, "values");
        if (json_object_size(vals) > 0) {
            printf("\nper %s, %s to %s:\n", out_str(hist, "resolution", res),
                   out_str(hist, "from", "?"), out_str(hist, "to", "?"));
            bool draw = want_chart || (c->tty_out && !no_chart);
            if (draw) {
                chart(c, vals, term_width());
            } else {
                struct out_table *t = out_table_new(2, "TIME", "COUNT");
                const char *k;
                json_t *v;
                json_object_foreach(vals, k, v)
                {
                    char cb[32];
                    snprintf(cb, sizeof(cb), "%.0f",
                             json_is_number(v) ? json_number_value(v) : 0);
                    out_table_row(t, k, cb);
                }
                out_table_print(c, &t, stdout);
            }
        }
    }
    json_decref(ctr);
    json_decref(hist);
    return CTL_OK;
}

int cmd_fvc(struct ctl *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    int rc =
        ctl_opts(argc, argv, NULL, pos, 1, &npos, "field-value-counter", false);
    if (rc == CTL_HELP)
        return ctl_help("usage: flowctl field-value-counter [NAME]\n"
                        "\n"
                        "Shows a field-value counter: the count of each "
                        "value seen, by\n"
                        "decreasing count, as bars. Without NAME, lists the "
                        "field-value\n"
                        "counters.\n"
                        "\n"
                        "Example:\n"
                        "  flowctl field-value-counter event-types\n");
    if (rc)
        return rc;
    if (npos == 0) {
        json_t *doc, *items;
        rc = http_get_all(c, "/metrics/field-value-counters", &doc, &items);
        if (rc)
            return rc;
        if (c->json) {
            out_json(doc);
        } else {
            struct out_table *t = out_table_new(3, "NAME", "VALUES", "TOTAL");
            size_t i;
            json_t *it;
            json_array_foreach(items, i, it)
            {
                double sum = 0;
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(it, "values"), k, v)
                {
                    sum += json_is_number(v) ? json_number_value(v) : 0;
                }
                char nb[32], sb[32];
                snprintf(nb, sizeof(nb), "%zu",
                         json_object_size(json_object_get(it, "values")));
                snprintf(sb, sizeof(sb), "%.0f", sum);
                out_table_row(t, out_str(it, "name", "?"), nb, sb);
            }
            out_table_print(c, &t, stdout);
        }
        json_decref(doc);
        return CTL_OK;
    }
    char *p = name_path("/metrics/field-value-counters/%s", pos[0]);
    json_t *f;
    rc = http_json(c, "GET", p, NULL, &f);
    free(p);
    if (rc)
        return rc;
    if (c->json) {
        out_json(f);
    } else {
        json_t *vals = json_object_get(f, "values");
        double sum = 0;
        const char *k;
        json_t *v;
        json_object_foreach(vals, k, v)
        {
            sum += json_is_number(v) ? json_number_value(v) : 0;
        }
        printf("%s%s%s: %.0f in %zu values\n", out_style(c, OUT_BOLD, false),
               out_str(f, "name", pos[0]), out_style(c, OUT_RESET, false), sum,
               json_object_size(vals));
        if (json_object_size(vals)) {
            printf("\n");
            out_bars(c, vals, c->tty_out ? term_width() - 40 : 40, stdout);
        }
    }
    json_decref(f);
    return CTL_OK;
}
