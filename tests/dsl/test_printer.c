/*
 * Printer tests: canonical text, and the round-trip property
 * parse(print(ast)) == ast over every definition in the tests and in
 * streams/.
 */
#include "corpus.h"
#include "flow-config.h"
#include "helpers.h"

#include <dirent.h>

static void round_trip(const dsl_stream *s, const char *what)
{
    char *txt = dsl_stream_print(s);
    cr_assert_not_null(txt);
    dsl_stream *again = NULL;
    dsl_errors e = { 0 };
    int rc = dsl_parse_stream(txt, strlen(txt), &again, &e);
    cr_assert_eq(rc, 0, "%s: printed '%s' does not parse: %s", what, txt,
                 e.n ? e.v[0].message : "");
    cr_assert(dsl_stream_equal(s, again), "%s: '%s' parses differently", what,
              txt);
    /* Printing is a fixed point. */
    char *txt2 = dsl_stream_print(again);
    cr_assert_str_eq(txt, txt2);
    dsl_stream *copy = dsl_stream_dup(s);
    cr_assert(dsl_stream_equal(s, copy));
    dsl_stream_destroy(&copy);
    free(txt);
    free(txt2);
    dsl_stream_destroy(&again);
    dsl_errors_fini(&e);
}

Test(printer, canonical_text)
{
    struct {
        const char *in, *out;
    } cases[] = {
        { "foo|bar", "foo | bar" },
        { "  s=a   --x=1|b", "s = a --x=1 | b" },
        { "a --x='b c'", "a --x='b c'" },
        { "a --x=\"it's\"", "a --x=\"it's\"" },
        { "a --x='say \"hi\" it''s'", "a --x='say \"hi\" it''s'" },
        { "a --x='plain'", "a --x=plain" },
        { "a --x='hi'+payload", "a --x=\"'hi'+payload\"" },
        { "a --x=''", "a --x=''" },
        { ":a > :b", ":a > :b" },
        { ":a --group=g>b|c>:d", ":a --group=g > b | c > :d" },
        { "a||b", "a || b" },
        { "l: a | m: b", "l: a | m: b" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dsl_stream *s = parse_ok(cases[i].in);
        char *txt = dsl_stream_print(s);
        cr_expect_str_eq(txt, cases[i].out);
        free(txt);
        dsl_stream_destroy(&s);
    }
}

Test(printer, round_trip_corpus)
{
    for (size_t i = 0; i < sizeof(dsl_corpus) / sizeof(dsl_corpus[0]); i++) {
        dsl_stream *s = parse_ok(dsl_corpus[i]);
        round_trip(s, dsl_corpus[i]);
        dsl_stream_destroy(&s);
    }
}

/* Every definition of every stream file in streams/ and the golden
 * inputs that parse. */
static void round_trip_dir(const char *dir, const char *ext, size_t *count)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name), el = strlen(ext);
        if (n < el || strcmp(de->d_name + n - el, ext))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        size_t len;
        char *txt = read_src(path, &len);
        dsl_file *f = NULL;
        dsl_errors e = { 0 };
        if (dsl_parse_file(txt, len, &f, &e) == 0) {
            for (size_t i = 0; i < f->n_streams; i++) {
                round_trip(f->streams[i], path);
                (*count)++;
            }
            /* The file printer round-trips too. */
            char *ft = dsl_file_print(f);
            dsl_file *g = NULL;
            dsl_errors e2 = { 0 };
            cr_assert_eq(dsl_parse_file(ft, strlen(ft), &g, &e2), 0, "%s",
                         path);
            cr_assert_eq(g->n_streams, f->n_streams);
            for (size_t i = 0; i < f->n_streams; i++)
                cr_assert(dsl_stream_equal(f->streams[i], g->streams[i]));
            free(ft);
            dsl_file_destroy(&g);
        }
        dsl_file_destroy(&f);
        dsl_errors_fini(&e);
        free(txt);
    }
    closedir(d);
}

Test(printer, round_trip_stream_files)
{
    size_t count = 0;
    round_trip_dir(FLOW_SOURCE_DIR "/streams", ".flow", &count);
    cr_assert_geq(count, 10, "only %zu definitions in streams/", count);
    round_trip_dir(FLOW_SOURCE_DIR "/tests/dsl/golden", ".flow", &count);
}

Test(printer, json)
{
    dsl_stream *s = parse_ok("s = :in --group=g > l: a --x='1 2' | b > :out");
    char *j = dsl_stream_to_json(s);
    cr_assert_str_eq(
        j, "{\"name\":\"s\",\"source\":{\"destination\":\"in\",\"options\":"
           "{\"group\":\"g\"}},\"apps\":[{\"name\":\"a\",\"label\":\"l\","
           "\"options\":{\"x\":\"1 2\"}},{\"name\":\"b\",\"label\":null,"
           "\"options\":{}}],\"sink\":{\"destination\":\"out\"}}");
    free(j);
    dsl_stream_destroy(&s);
}
