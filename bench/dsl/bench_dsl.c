/*
 * DSL parser benchmark: generates a large stream file (named definitions
 * with options, quoted values, labels, destinations, taps, continuation
 * lines and comments), parses it whole and definition by definition, and
 * prints MB/s and definitions/s (per second of CPU time, on one core)
 * against the 20 MB/s target.
 *
 * usage: flow-bench-dsl [MEGABYTES] [ROUNDS]
 */
#include "flow/dsl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TARGET_MBS 20.0

/* CPU time of this process: the figure is per core and does not count
 * time the machine spent running others. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append definition i to buf; returns its length. */
static int gen(char *buf, size_t cap, unsigned i)
{
    switch (i % 6) {
    case 0:
        return snprintf(buf, cap,
                        "accounts-%u = load-sim --rate=%u --accounts=%u "
                        "--seed=%u | account-events | counter --name=load-%u\n",
                        i, 1000 + i % 50000, 100 + i % 900, i, i);
    case 1:
        return snprintf(
            buf, cap,
            "types-%u = :accounts-%u.load-sim > field-value-counter "
            "--field-name=type --name='event types %u'\n",
            i, i - 1, i);
    case 2:
        return snprintf(buf, cap,
                        "# stream %u: a transform with a quoted expression\n"
                        "xf-%u = time --fixed-delay=%u\n"
                        "    | upper: transform --expression='payload.name "
                        "> ''%u'' | x'\n"
                        "    | log --level=INFO --name=\"xf %u\"\n",
                        i, i, i % 10, i, i);
    case 3:
        return snprintf(buf, cap,
                        "in-%u = :orders.eu/%u --group=g%u > account-events "
                        "--max-accounts=%u > :out.%u\n",
                        i, i, i % 7, i, i);
    case 4:
        return snprintf(buf, cap, "bridge-%u = :out.%u > :archive.%u\n", i,
                        i - 1, i);
    default:
        return snprintf(buf, cap,
                        "list-%u = time --fixed-delay=%u || log || "
                        "counter --name=c%u\n\n",
                        i, i % 60, i);
    }
}

int main(int argc, char **argv)
{
    double mb = argc > 1 ? atof(argv[1]) : 8;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (mb <= 0 || mb > 15 || rounds <= 0) {
        fprintf(stderr, "usage: flow-bench-dsl [MEGABYTES (0-15)] [ROUNDS]\n");
        return 2;
    }
    size_t cap = (size_t)(mb * 1024 * 1024);
    char *text = malloc(cap + 1024);
    if (!text)
        return 1;
    size_t len = 0;
    unsigned defs = 0;
    while (len < cap) {
        int n = gen(text + len, cap + 1024 - len, defs);
        if (n <= 0 || len + (size_t)n > cap)
            break;
        len += (size_t)n;
        defs++;
    }
    text[len] = '\0';

    /* Whole-file parses: best of ROUNDS. */
    double best = 1e9;
    size_t streams = 0;
    for (int r = 0; r < rounds; r++) {
        dsl_file *f = NULL;
        dsl_errors e = { 0 };
        double t0 = now();
        int rc = dsl_parse_file(text, len, &f, &e);
        double dt = now() - t0;
        if (rc != 0) {
            fprintf(stderr, "generated file does not parse: %s at %zu\n",
                    e.n ? e.v[0].message : "?", e.n ? e.v[0].offset : 0);
            return 1;
        }
        streams = f->n_streams;
        dsl_file_destroy(&f);
        dsl_errors_fini(&e);
        if (dt < best)
            best = dt;
    }
    double mbs = (double)len / (1024 * 1024) / best;
    printf(
        "dsl file parse: %.1f MB, %zu definitions in %.3f s of CPU: %.1f MB/s, "
        "%.0f definitions/s (%.2fx the %.0f MB/s target)\n",
        (double)len / (1024 * 1024), streams, best, mbs, (double)streams / best,
        mbs / TARGET_MBS, TARGET_MBS);

    /* One definition per call, as flowd parses a POSTed definition. */
    char line[1024];
    unsigned n1 = defs < 20000 ? defs : 20000;
    size_t bytes = 0;
    double t0 = now();
    for (unsigned i = 0; i < n1; i++) {
        int n = gen(line, sizeof(line), i);
        if (i % 6 == 2 || i % 6 == 5)
            continue; /* multi-line entries are file syntax */
        char *eq = strstr(line, " = ");
        const char *def = eq ? eq + 3 : line;
        size_t dl = (size_t)n - (size_t)(def - line) - 1;
        dsl_stream *s = NULL;
        dsl_errors e = { 0 };
        if (dsl_parse_stream(def, dl, &s, &e) != 0) {
            fprintf(stderr, "definition does not parse: %.*s: %s\n", (int)dl,
                    def, e.n ? e.v[0].message : "?");
            return 1;
        }
        bytes += dl;
        dsl_stream_destroy(&s);
        dsl_errors_fini(&e);
    }
    double dt = now() - t0;
    unsigned parsed = n1 - n1 / 3;
    printf(
        "dsl single definitions: %u in %.3f s of CPU: %.0f definitions/s, %.1f "
        "MB/s\n",
        parsed, dt, parsed / dt, (double)bytes / (1024 * 1024) / dt);
    free(text);
    return 0;
}
