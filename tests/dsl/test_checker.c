/*
 * Checker and registry tests: roles by position, unknown apps and options
 * with suggestions, required options, value types and ranges, taps.
 */
#include "flow-config.h"
#include "helpers.h"

static dsl_registry *load_registry(void)
{
    size_t len;
    char *txt = read_src(FLOW_SOURCE_DIR "/tests/dsl/registry.json", &len);
    dsl_registry *r = dsl_registry_new();
    char *err = NULL;
    cr_assert_eq(dsl_registry_add_describe_array(r, txt, len, &err), 0, "%s",
                 err ? err : "");
    free(txt);
    return r;
}

/* Check `def` against the test registry; returns the error count and
 * the first message (new) in *first. */
static size_t check(const char *def, char **first, size_t *off)
{
    dsl_registry *r = load_registry();
    dsl_stream *s = parse_ok(def);
    dsl_check_ctx ctx = { .registry = r };
    dsl_errors e = { 0 };
    int rc = dsl_check_stream(s, &ctx, def, strlen(def), &e);
    cr_assert_eq(rc, e.n ? -1 : 0);
    size_t n = e.n;
    if (first)
        *first = n ? strdup(e.v[0].message) : NULL;
    if (off)
        *off = n ? e.v[0].offset : 0;
    dsl_errors_fini(&e);
    dsl_stream_destroy(&s);
    dsl_registry_destroy(&r);
    cr_assert_null(r);
    return n;
}

static void expect_ok(const char *def)
{
    char *m = NULL;
    size_t n = check(def, &m, NULL);
    cr_expect_eq(n, 0, "'%s': %s", def, m ? m : "");
    free(m);
}

static void expect_err(const char *def, size_t off, const char *part)
{
    char *m = NULL;
    size_t at = 0;
    size_t n = check(def, &m, &at);
    cr_assert_geq(n, 1, "'%s' should be invalid", def);
    cr_expect_eq(at, off, "'%s': at %zu, want %zu: %s", def, at, off, m);
    cr_expect(strstr(m, part) != NULL, "'%s': '%s' lacks '%s'", def, m, part);
    free(m);
}

Test(registry, describe_documents)
{
    dsl_registry *r = load_registry();
    cr_assert_eq(dsl_registry_count(r), 8);
    const dsl_app_info *c = dsl_registry_find(r, "counter", DSL_ROLE_SINK);
    cr_assert_not_null(c);
    cr_assert_null(dsl_registry_find(r, "counter", DSL_ROLE_SOURCE));
    cr_assert_eq(dsl_registry_find(r, "counter", DSL_ROLE_ANY), c);
    const dsl_app_info *ls = dsl_registry_find(r, "load-sim", DSL_ROLE_ANY);
    cr_assert_eq(ls->role, DSL_ROLE_SOURCE);
    cr_assert_str_eq(ls->options[0].name, "seed");
    cr_assert_eq(ls->options[0].type, DSL_TYPE_INT);
    cr_assert_str_eq(ls->options[0].default_value, "42");
    const dsl_app_info *lg = dsl_registry_find(r, "log", DSL_ROLE_SINK);
    cr_assert_eq(lg->options[0].type, DSL_TYPE_ENUM);
    cr_assert_eq(lg->options[0].n_values, 5);
    /* Adding the same (name, role) replaces it. */
    dsl_app_info again = { .name = "counter", .role = DSL_ROLE_SINK };
    cr_assert_eq(dsl_registry_add(r, &again), 0);
    cr_assert_eq(dsl_registry_count(r), 8);
    cr_assert_eq(dsl_registry_find(r, "counter", DSL_ROLE_SINK)->n_options, 0);
    dsl_registry_destroy(&r);
}

Test(registry, bad_documents)
{
    dsl_registry *r = dsl_registry_new();
    const char *bad[] = {
        "{",
        "[]",
        "{\"name\": \"x\"}",
        "{\"name\": \"x\", \"role\": \"middle\"}",
        "{\"role\": \"sink\"}",
        "{\"name\": \"x\", \"role\": \"sink\", \"options\": [{}]}",
        ("{\"name\": \"x\", \"role\": \"sink\", \"options\": [{\"name\": "
         "\"o\", \"type\": \"complex\"}]}"),
        "{\"name\": \"x\", \"role\": \"sink\", \"options\": 3}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        cr_assert_eq(dsl_registry_add_describe(r, bad[i], strlen(bad[i]), &err),
                     -1, "%s", bad[i]);
        cr_assert_not_null(err, "%s", bad[i]);
        free(err);
    }
    char *err = NULL;
    cr_assert_eq(dsl_registry_add_describe_array(r, "{}", 2, &err), -1);
    cr_assert(strstr(err, "array"));
    free(err);
    cr_assert_eq(dsl_registry_count(r), 0);
    dsl_registry_destroy(&r);
}

Test(checker, valid_streams)
{
    expect_ok("accounts = load-sim --rate=50000 | account-events | counter");
    expect_ok("load-sim --seed=7 --illegal-ratio=0.25 | account-events | "
              "counter --name=x");
    expect_ok(":in > account-events > :out");
    expect_ok(":in > counter");
    expect_ok("time > :out");
    expect_ok(":a > :b");
    expect_ok("time || log || account-events");
    expect_ok("counter");
    expect_ok("time | log --level=WARN");
    expect_ok("time | transform --expression=x --ratio=2.5 --strict=yes "
              "--timeout=250ms | log");
    expect_ok("time | a: transform --expression=x | b: transform "
              "--expression=y | log");
}

Test(checker, unknown_apps_and_roles)
{
    expect_err("load-sim | account-events | cuonter", 28,
               "unknown app 'cuonter'; did you mean 'counter'?");
    expect_err("lod-sim | counter", 0, "did you mean 'load-sim'?");
    expect_err("zzzzzz | counter", 0, "unknown app 'zzzzzz' (known sources:");
    expect_err("counter | log", 0, "app 'counter' is a sink; the first app");
    expect_err("time | load-sim", 7, "is a source; the last app");
    expect_err("time | counter | log", 7, "only processors");
    expect_err(":in > time", 6, "is a source");
}

Test(checker, options)
{
    expect_err("time | counter --nme=x", 15,
               "unknown option '--nme' for app 'counter'; did you mean "
               "'--name'?");
    expect_err("time | counter --zzzzzzzz=x", 15, "(its options: name,");
    expect_err("time | account-events --x=1 | log", 22, "unknown option");
    expect_err("time | field-value-counter", 7,
               "app 'field-value-counter' needs the option "
               "'--field-name=...'");
    expect_err("load-sim --rate=fast | counter", 16,
               "bad value 'fast' for option '--rate' of app 'load-sim': "
               "expected an integer");
    expect_err("time | transform --expression=x --ratio=x | log", 40,
               "expected a number");
    expect_err("time | transform --expression=x --strict=maybe | log", 41,
               "true or false");
    expect_err("time | transform --expression=x --timeout='3 days' | log", 42,
               "a duration");
    expect_err("time | log --level=WRN", 19,
               "one of TRACE, DEBUG, INFO, WARN, ERROR; did you mean 'WARN'?");
}

Test(checker, structural_without_registry)
{
    dsl_stream *s = parse_ok("nothing | is | known");
    dsl_errors e = { 0 };
    cr_assert_eq(dsl_check_stream(s, NULL, NULL, 0, &e), 0);
    dsl_check_ctx ctx = { 0 };
    cr_assert_eq(dsl_check_stream(s, &ctx, NULL, 0, &e), 0);
    cr_assert_eq(e.n, 0);
    /* A hand-built AST with duplicate labels is caught too. */
    free(s->apps[1].name);
    s->apps[1].name = strdup("nothing");
    cr_assert_eq(dsl_check_stream(s, NULL, NULL, 0, &e), -1);
    cr_assert(strstr(e.v[0].message, "should be unique"));
    dsl_errors_fini(&e);
    dsl_stream_destroy(&s);
}

Test(checker, consumer_groups)
{
    /* A group names sockets and store rows: the rule of stream names. */
    expect_ok(":orders --group=audit > log");
    expect_ok(":orders --group=eu-1 > counter");
    expect_ok(":orders --other=X_Y > log");
    expect_err(":orders --group=Audit > log", 16,
               "illegal consumer group name 'Audit'");
    expect_err(":orders --group=a_b > log", 16, "lowercase letter");
    expect_err(":orders --group=9x > log", 16, "'9x'");
    expect_err(":o --group=../x > log", 11, "'../x'");
    expect_err(":o --group='' > log", 11, "''");
    /* 48 characters at most. */
    expect_ok(
        ":o --group=abcdefghijabcdefghijabcdefghijabcdefghijabcdefgh > log");
    expect_err(":o --group=abcdefghijabcdefghijabcdefghijabcdefghijabcdefghi > "
               "log",
               11, "illegal consumer group name");
}

Test(checker, taps_and_files)
{
    dsl_registry *r = load_registry();
    const char *t = "a = load-sim | events: account-events | counter\n"
                    "b = :a.events > log\n"
                    "c = :a.evnts > log\n"
                    "d = :x.load-sim > log\n"
                    "e = :aa.load-sim > log\n"
                    "f = time > :ext.topic\n"
                    "g = :ext.topic > log\n"
                    "a = time | log\n";
    dsl_file *f = NULL;
    dsl_errors e = { 0 };
    cr_assert_eq(dsl_parse_file(t, strlen(t), &f, &e), 0);
    dsl_check_ctx ctx = { .registry = r };
    cr_assert_eq(dsl_check_file(f, &ctx, t, strlen(t), &e), -1);
    cr_assert_eq(e.n, 4, "%zu errors", e.n);
    cr_assert_eq(e.v[0].line, 3);
    cr_assert_str_eq(e.v[0].message, "stream 'a' has no app labelled "
                                     "'evnts'; did you mean 'events'?");
    cr_assert_eq(e.v[0].column, 8);
    cr_assert_eq(e.v[1].line, 4);
    cr_assert(strstr(e.v[1].message, "tap of unknown stream 'x'"));
    cr_assert_eq(e.v[2].line, 5);
    cr_assert(strstr(e.v[2].message, "did you mean 'a'?"));
    cr_assert_eq(e.v[3].line, 8);
    cr_assert(strstr(e.v[3].message, "defined twice"));
    dsl_errors_fini(&e);
    dsl_file_destroy(&f);
    dsl_registry_destroy(&r);
}

/* `:S.L.errors` is the dead-letter destination of app L of stream S: it
 * names a label of S like a tap, and a wrong label is reported the same. */
Test(checker, dead_letter_destinations)
{
    dsl_registry *r = load_registry();
    const char *t = "a = load-sim | events: account-events | counter\n"
                    "b = :a.events.errors > log\n"
                    "c = :a.load-sim.errors --group=g > counter\n"
                    "d = :a.evnts.errors > log\n"
                    "e = :a.events.error > log\n"
                    "f = :a.errors > log\n";
    dsl_file *f = NULL;
    dsl_errors e = { 0 };
    cr_assert_eq(dsl_parse_file(t, strlen(t), &f, &e), 0);
    cr_assert_str_eq(f->streams[1]->source->name, "a.events.errors");
    dsl_check_ctx ctx = { .registry = r };
    cr_assert_eq(dsl_check_file(f, &ctx, t, strlen(t), &e), -1);
    cr_assert_eq(e.n, 3, "%zu errors", e.n);
    cr_assert_eq(e.v[0].line, 4);
    cr_assert_str_eq(e.v[0].message,
                     "stream 'a' has no app labelled 'evnts.errors'");
    cr_assert_eq(e.v[1].line, 5);
    cr_assert(strstr(e.v[1].message, "no app labelled 'events.error'"));
    cr_assert_eq(e.v[2].line, 6);
    cr_assert(strstr(e.v[2].message, "no app labelled 'errors'"));
    dsl_errors_fini(&e);
    dsl_file_destroy(&f);
    dsl_registry_destroy(&r);
}

Test(checker, suggest)
{
    const char *c[] = { "counter", "log", "load-sim" };
    cr_assert_str_eq(dsl_suggest("cuonter", c, 3), "counter");
    cr_assert_str_eq(dsl_suggest("lg", c, 3), "log");
    cr_assert_null(dsl_suggest("xyz", c, 3));
    cr_assert_null(dsl_suggest("x", NULL, 0));
}

/* A path judge that refuses absolute paths, as flowd does without
 * --allow-path, and records what it was asked. */
static dsl_path_access judged_access;
static int judge(void *ud, const char *path, dsl_path_access access, char *why,
                 size_t whylen)
{
    (void)ud;
    judged_access = access;
    if (path[0] != '/')
        return 0;
    snprintf(why, whylen, "%s is outside", path);
    return -1;
}

Test(checker, path_options)
{
    dsl_registry *r = load_registry();
    const dsl_app_info *c = dsl_registry_find(r, "counter", DSL_ROLE_SINK);
    const dsl_app_option *lat = NULL;
    for (size_t i = 0; c && i < c->n_options; i++)
        if (!strcmp(c->options[i].name, "latency-json"))
            lat = &c->options[i];
    cr_assert_not_null(lat);
    cr_assert_eq(lat->type, DSL_TYPE_PATH);
    cr_assert_eq(lat->access, DSL_PATH_WRITE);
    cr_assert_str_eq(dsl_type_name(DSL_TYPE_PATH), "path");

    const char *def = "time | counter --latency-json=/etc/x";
    dsl_stream *s = parse_ok(def);
    dsl_check_ctx ctx = { .registry = r, .check_path = judge };
    dsl_errors e = { 0 };
    judged_access = DSL_PATH_READ;
    cr_assert_eq(dsl_check_stream(s, &ctx, def, strlen(def), &e), -1);
    cr_assert_eq(e.n, 1);
    cr_assert_str_eq(e.v[0].message,
                     "counter --latency-json: /etc/x is outside");
    cr_assert_eq(e.v[0].offset, strlen("time | counter --latency-json="));
    cr_assert_eq(judged_access, DSL_PATH_WRITE);
    dsl_errors_fini(&e);
    dsl_stream_destroy(&s);
    dsl_registry_destroy(&r);

    /* Without a judge (flowctl validate offline) only the syntax. */
    expect_ok("time | counter --latency-json=/etc/x");
    expect_err("time | counter --latency-json=''", 30, "expected a file path");

    /* An unknown access is refused when the registry is read. */
    r = dsl_registry_new();
    char *err = NULL;
    const char *bad = "{\"name\": \"x\", \"role\": \"sink\", \"options\": "
                      "[{\"name\": \"f\", \"type\": \"path\", \"access\": "
                      "\"exec\"}]}";
    cr_assert_eq(dsl_registry_add_describe(r, bad, strlen(bad), &err), -1);
    cr_assert(strstr(err, "unknown access 'exec'"), "%s", err);
    free(err);
    dsl_registry_destroy(&r);
}

Test(registry, bounds_from_describe)
{
    dsl_registry *r = load_registry();
    const dsl_app_info *ls = dsl_registry_find(r, "load-sim", DSL_ROLE_ANY);
    cr_assert_str_eq(ls->options[1].name, "accounts");
    cr_assert_str_eq(ls->options[1].min, "1");
    cr_assert_str_eq(ls->options[1].max, "100000000");
    cr_assert_null(ls->options[0].min);
    cr_assert_null(ls->options[0].max);
    cr_assert_str_eq(ls->options[4].name, "illegal-ratio");
    cr_assert_str_eq(ls->options[4].min, "0");
    cr_assert_str_eq(ls->options[4].max, "1");
    const dsl_app_info *t = dsl_registry_find(r, "transform", DSL_ROLE_ANY);
    cr_assert_str_eq(t->options[3].min, "10ms");
    cr_assert_str_eq(t->options[3].max, "1h");
    /* A copy keeps them. */
    dsl_registry *r2 = dsl_registry_new();
    cr_assert_eq(dsl_registry_add(r2, ls), 0);
    cr_assert_str_eq(
        dsl_registry_find(r2, "load-sim", DSL_ROLE_ANY)->options[1].max,
        "100000000");
    dsl_registry_destroy(&r2);
    dsl_registry_destroy(&r);
}

Test(registry, bad_bounds)
{
    dsl_registry *r = dsl_registry_new();
    static const struct {
        const char *doc, *err;
    } bad[] = {
        { "{\"name\": \"x\", \"role\": \"sink\", \"options\": [{\"name\": "
          "\"o\", \"type\": \"int\", \"min\": \"one\"}]}",
          "app 'x': option 'o' has a bad min 'one'" },
        { "{\"name\": \"x\", \"role\": \"sink\", \"options\": [{\"name\": "
          "\"o\", \"type\": \"int\", \"max\": 1.5}]}",
          "app 'x': option 'o' has a bad max '1.5'" },
        { "{\"name\": \"x\", \"role\": \"sink\", \"options\": [{\"name\": "
          "\"o\", \"type\": \"duration\", \"max\": [1]}]}",
          "app 'x': option 'o' has a bad max" },
        { "{\"name\": \"x\", \"role\": \"sink\", \"options\": [{\"name\": "
          "\"o\", \"type\": \"string\", \"min\": 1}]}",
          "app 'x': option 'o' is a string and has no min" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        cr_assert_eq(
            dsl_registry_add_describe(r, bad[i].doc, strlen(bad[i].doc), &err),
            -1, "%s", bad[i].doc);
        cr_assert_str_eq(err, bad[i].err);
        free(err);
    }
    cr_assert_eq(dsl_registry_count(r), 0);
    dsl_registry_destroy(&r);
}

Test(checker, option_ranges)
{
    expect_ok("load-sim --accounts=1 --illegal-ratio=1 --rate=0 | counter "
              "--delay-us=10000000");
    expect_ok("time --fixed-delay=31536000 | transform --expression=x "
              "--timeout=10ms | log");
    expect_ok("time | transform --expression=x --timeout=0.5h | log");
    expect_err("load-sim --accounts=0 | counter", 20,
               "bad value '0' for option '--accounts' of app 'load-sim': "
               "expected an integer from 1 to 100000000");
    expect_err("load-sim --accounts=100000001 | counter", 20,
               "expected an integer from 1 to 100000000");
    expect_err("load-sim --rate=-1 | counter", 16,
               "bad value '-1' for option '--rate' of app 'load-sim': "
               "expected an integer of at least 0");
    expect_err("load-sim --illegal-ratio=1.5 | counter", 25,
               "bad value '1.5' for option '--illegal-ratio' of app "
               "'load-sim': expected a number from 0 to 1");
    expect_err("time | transform --expression=x --ratio=-0.5 | log", 40,
               "expected a number of at least 0");
    expect_err("time | transform --expression=x --timeout=9999us | log", 42,
               "bad value '9999us' for option '--timeout' of app "
               "'transform': expected a duration from 10ms to 1h");
    expect_err("time | transform --expression=x --timeout=61m | log", 42,
               "expected a duration from 10ms to 1h");
    expect_err("time --fixed-delay=0 | log", 19,
               "expected an integer from 1 to 31536000");
    expect_err("time | counter --delay-us=10000001", 26,
               "bad value '10000001' for option '--delay-us' of app "
               "'counter': expected an integer from 0 to 10000000");
}

/* dsl_option_expect is the rule flowd applies to deployment properties
 * too: the same bounds. */
Test(checker, option_expect_applies_bounds)
{
    dsl_app_option at_most = { .name = "n", .type = DSL_TYPE_INT, .max = "5" };
    char buf[128];
    cr_assert_null(dsl_option_expect(&at_most, "5", buf, sizeof buf));
    cr_assert_null(dsl_option_expect(&at_most, "-7", buf, sizeof buf));
    cr_assert_str_eq(dsl_option_expect(&at_most, "6", buf, sizeof buf),
                     "an integer of at most 5");
    cr_assert_str_eq(dsl_option_expect(&at_most, "x", buf, sizeof buf),
                     "an integer");
}
