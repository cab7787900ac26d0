/*
 * Parser and scanner tests, ported from Spring Cloud Data Flow's stream
 * DSL TCK (AbstractStreamDslTests): what parses to which apps, labels,
 * option values and destinations, and the offset of every error.
 */
#include "helpers.h"

/* ---- what parses ---------------------------------------------------- */

Test(parser, one_app)
{
    dsl_stream *s = parse_ok("foo");
    cr_assert_eq(s->n_apps, 1);
    cr_assert_str_eq(s->apps[0].name, "foo");
    cr_assert_null(s->apps[0].label);
    cr_assert_eq(s->apps[0].n_options, 0);
    cr_assert_eq(s->apps[0].offset, 0);
    cr_assert_eq(s->apps[0].length, 3);
    cr_assert(!s->is_list);
    dsl_stream_destroy(&s);
    cr_assert_null(s);
}

Test(parser, hyphenated_app_name)
{
    dsl_stream *s = parse_ok("gemfire-cq");
    cr_assert_str_eq(s->apps[0].name, "gemfire-cq");
    cr_assert_eq(s->apps[0].length, 10);
    dsl_stream_destroy(&s);
}

Test(parser, stream_naming)
{
    dsl_stream *s = parse_ok("mystream = foo");
    cr_assert_str_eq(s->name, "mystream");
    cr_assert_eq(s->apps[0].offset, 11);
    cr_assert_eq(s->apps[0].offset + s->apps[0].length, 14);
    dsl_stream_destroy(&s);
    s = parse_ok("bar = foo | bar");
    cr_assert_str_eq(s->name, "bar");
    cr_assert_eq(s->n_apps, 2);
    dsl_stream_destroy(&s);
    s = parse_ok("foo-bar = http | transform | sink");
    cr_assert_str_eq(s->name, "foo-bar");
    dsl_stream_destroy(&s);
}

Test(parser, two_apps)
{
    dsl_stream *s = parse_ok("foo | bar");
    cr_assert_eq(s->n_apps, 2);
    cr_assert_eq(s->apps[0].offset, 0);
    cr_assert_eq(s->apps[0].length, 3);
    cr_assert_eq(s->apps[1].offset, 6);
    cr_assert_eq(s->apps[1].length, 3);
    dsl_stream_destroy(&s);
}

Test(parser, labels)
{
    dsl_stream *s = parse_ok("label: http");
    cr_assert_str_eq(s->apps[0].label, "label");
    cr_assert_str_eq(s->apps[0].name, "http");
    cr_assert_eq(s->apps[0].offset, 0);
    cr_assert_eq(s->apps[0].length, 11);
    dsl_stream_destroy(&s);
    s = parse_ok("food = http | label3: foo");
    cr_assert_eq(s->apps[0].offset, 7);
    cr_assert_eq(s->apps[1].offset, 14);
    cr_assert_eq(s->apps[1].offset + s->apps[1].length, 25);
    cr_assert_str_eq(s->apps[1].label, "label3");
    dsl_stream_destroy(&s);
    s = parse_ok("http | foo: bar | file");
    cr_assert_str_eq(s->apps[1].label, "foo");
    cr_assert_str_eq(s->apps[1].name, "bar");
    cr_assert_str_eq(dsl_app_label(&s->apps[2]), "file");
    dsl_stream_destroy(&s);
    s = parse_ok("file | out: file");
    cr_assert_str_eq(dsl_app_label(&s->apps[0]), "file");
    cr_assert_str_eq(dsl_app_label(&s->apps[1]), "out");
    dsl_stream_destroy(&s);
}

Test(parser, app_with_params)
{
    dsl_stream *s = parse_ok("foo --name=value");
    cr_assert_eq(s->apps[0].length, 16);
    cr_assert_str_eq(opt(s, 0, "name"), "value");
    dsl_stream_destroy(&s);
    s = parse_ok("foo --name=value --x=y");
    cr_assert_eq(s->apps[0].n_options, 2);
    cr_assert_str_eq(s->apps[0].options[0].key, "name");
    cr_assert_str_eq(s->apps[0].options[0].value, "value");
    cr_assert_str_eq(s->apps[0].options[1].key, "x");
    cr_assert_str_eq(s->apps[0].options[1].value, "y");
    cr_assert_eq(s->apps[0].options[0].offset, 4);
    cr_assert_eq(s->apps[0].options[0].key_offset, 6);
    cr_assert_eq(s->apps[0].options[0].value_offset, 11);
    cr_assert_eq(s->apps[0].length, 22);
    dsl_stream_destroy(&s);
}

Test(parser, parameters)
{
    dsl_stream *s = parse_ok("gemfire-cq --query='Select * from /Stocks where "
                             "symbol=''VMW''' --regionName=foo --foo=bar");
    cr_assert_eq(s->apps[0].n_options, 3);
    cr_assert_str_eq(opt(s, 0, "query"),
                     "Select * from /Stocks where symbol='VMW'");
    cr_assert_str_eq(opt(s, 0, "regionName"), "foo");
    cr_assert_str_eq(opt(s, 0, "foo"), "bar");
    dsl_stream_destroy(&s);
    s = parse_ok("foo --x=1 --y=two ");
    cr_assert_str_eq(opt(s, 0, "x"), "1");
    cr_assert_str_eq(opt(s, 0, "y"), "two");
    dsl_stream_destroy(&s);
    s = parse_ok("foo --x=1a2b --y=two ");
    cr_assert_str_eq(opt(s, 0, "x"), "1a2b");
    dsl_stream_destroy(&s);
    s = parse_ok("foo --x=2");
    cr_assert_str_eq(opt(s, 0, "x"), "2");
    dsl_stream_destroy(&s);
}

Test(parser, dotted_option_names)
{
    dsl_stream *s = parse_ok("foo --spring.cloud.x=1 --a.b=c");
    cr_assert_str_eq(opt(s, 0, "spring.cloud.x"), "1");
    cr_assert_str_eq(opt(s, 0, "a.b"), "c");
    dsl_stream_destroy(&s);
}

Test(parser, list_apps)
{
    dsl_stream *s =
        parse_ok("aaa | filter --expression=#jsonPath(payload,'$.lang')=='en'");
    cr_assert_str_eq(opt(s, 1, "expression"),
                     "#jsonPath(payload,'$.lang')=='en'");
    dsl_stream_destroy(&s);
}

Test(parser, double_pipe_ending_args)
{
    dsl_stream *s = parse_ok("aaa --bbb=ccc,");
    cr_assert_str_eq(opt(s, 0, "bbb"), "ccc,");
    dsl_stream_destroy(&s);
    s = parse_ok("aaa --bbb='ccc'|| bbb");
    cr_assert(s->is_list);
    cr_assert_eq(s->apps[0].offset, 0);
    cr_assert_eq(s->apps[0].length, 15);
    cr_assert_eq(s->apps[1].offset, 18);
    cr_assert_eq(s->apps[1].length, 3);
    cr_assert_str_eq(opt(s, 0, "bbb"), "ccc");
    dsl_stream_destroy(&s);
}

Test(parser, unbound_apps)
{
    dsl_stream *s = parse_ok("foo|| bar|| baz");
    cr_assert(s->is_list);
    cr_assert_eq(s->n_apps, 3);
    cr_assert_str_eq(s->apps[0].name, "foo");
    cr_assert_str_eq(s->apps[2].name, "baz");
    dsl_stream_destroy(&s);
    s = parse_ok("foo | bar");
    cr_assert(!s->is_list);
    dsl_stream_destroy(&s);
    const char *defs[] = { "foo --aaa=bbb || bar", "foo --aaa=bbb|| bar",
                           "foo --aaa=\"bbb\"|| bar",
                           "foo --aaa=\"bbb\" || bar" };
    for (size_t i = 0; i < 4; i++) {
        s = parse_ok(defs[i]);
        cr_assert_eq(s->n_apps, 2, "%s", defs[i]);
        cr_assert_str_eq(opt(s, 0, "aaa"), "bbb", "%s", defs[i]);
        cr_assert_str_eq(s->apps[1].name, "bar");
        dsl_stream_destroy(&s);
    }
    s = parse_ok("foo --aaa=,|| bar");
    cr_assert_str_eq(opt(s, 0, "aaa"), ",");
    dsl_stream_destroy(&s);
}

Test(parser, taps)
{
    dsl_stream *s = parse_ok(":mystream.group1 > file");
    cr_assert_not_null(s->source);
    cr_assert_str_eq(s->source->name, "mystream.group1");
    dsl_stream_destroy(&s);
    s = parse_ok(":mystream.foobar > file");
    cr_assert_eq(s->source->offset, 0);
    cr_assert_eq(s->source->offset + s->source->length, 16);
    cr_assert_eq(s->apps[0].offset, 19);
    cr_assert_eq(s->apps[0].offset + s->apps[0].length, 23);
    dsl_stream_destroy(&s);
    s = parse_ok(":mystream.flibble > file");
    cr_assert_str_eq(s->source->name, "mystream.flibble");
    dsl_stream_destroy(&s);
    s = parse_ok(":foo.bar > file");
    cr_assert_str_eq(s->source->name, "foo.bar");
    dsl_stream_destroy(&s);
}

Test(parser, destinations)
{
    struct {
        const char *def, *src, *sink;
    } cases[] = {
        { ":foobar > file", "foobar", NULL },
        { ":a/ > file", "a/", NULL },
        { ":a/*# > file", "a/*#", NULL },
        { ":foo.* > file", "foo.*", NULL },
        { ":*foo > file", "*foo", NULL },
        { "http > :foo", NULL, "foo" },
        { "http > :foo/", NULL, "foo/" },
        { "http > :foo/*#", NULL, "foo/*#" },
        { "http > :foo.*", NULL, "foo.*" },
        { "wibble: http > :bar", NULL, "bar" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dsl_stream *s = parse_ok(cases[i].def);
        if (cases[i].src)
            cr_assert_str_eq(s->source->name, cases[i].src);
        else
            cr_assert_null(s->source);
        if (cases[i].sink)
            cr_assert_str_eq(s->sink->name, cases[i].sink);
        else
            cr_assert_null(s->sink);
        dsl_stream_destroy(&s);
    }
    dsl_stream *s = parse_ok("http > :foo");
    cr_assert_eq(s->sink->offset, 7);
    cr_assert_eq(s->sink->offset + s->sink->length, 11);
    dsl_stream_destroy(&s);
}

Test(parser, bridge)
{
    dsl_stream *s = parse_ok(":bar > :boo");
    cr_assert_eq(s->n_apps, 1);
    cr_assert_str_eq(s->apps[0].name, "bridge");
    cr_assert(s->apps[0].implicit);
    cr_assert_str_eq(s->source->name, "bar");
    cr_assert_str_eq(s->sink->name, "boo");
    dsl_stream_destroy(&s);
}

Test(parser, source_destination_args)
{
    dsl_stream *s = parse_ok(":test --group=test > file");
    cr_assert_str_eq(s->source->name, "test");
    cr_assert_eq(s->source->n_options, 1);
    cr_assert_str_eq(s->source->options[0].key, "group");
    cr_assert_str_eq(s->source->options[0].value, "test");
    cr_assert_eq(s->apps[0].offset, 21);
    dsl_stream_destroy(&s);
}

Test(scanner, expression_values)
{
    struct {
        const char *def, *app, *key, *want;
    } cases[] = {
        { "foo | transform --expression=--payload | bar", "transform",
          "expression", "--payload" },
        { "foo |  transform --expression='new StringBuilder(payload)."
          "reverse()' | bar",
          "transform", "expression", "new StringBuilder(payload).reverse()" },
        { ":producer > transform --expression='payload.toUpperCase()' | "
          "filter --expression='payload.length() > 4'> :consumer",
          "filter", "expression", "payload.length() > 4" },
        { "time | transform --expression='T(org.joda.time.format."
          "DateTimeFormat).forPattern(\"yyyy-MM-dd HH:mm:ss\")."
          "parseDateTime(payload)'",
          "transform", "expression",
          "T(org.joda.time.format.DateTimeFormat).forPattern(\"yyyy-MM-dd "
          "HH:mm:ss\").parseDateTime(payload)" },
        { "http | transform --outputType='text/plain|charset=UTF-8'  | log",
          "transform", "outputType", "text/plain|charset=UTF-8" },
        { "http | transform --outputType='text/plain;charset=UTF-8'  | log",
          "transform", "outputType", "text/plain;charset=UTF-8" },
        { "http | transform --expression='hi'+payload | log", "transform",
          "expression", "'hi'+payload" },
        { "http | transform --expression=payload+'hi' | log", "transform",
          "expression", "payload+'hi'" },
        { "http | transform --expression='payload+''hi''' | log", "transform",
          "expression", "payload+'hi'" },
        { "http | transform --expression='''hi''+payload' | log", "transform",
          "expression", "'hi'+payload" },
        { "http | transform --expression=\"payload+'hi'\" | log", "transform",
          "expression", "payload+'hi'" },
        { "http | transform --expression=\"'hi'+payload\" | log", "transform",
          "expression", "'hi'+payload" },
        { "http | transform --expression=payload+'hi'--param2='foobar' | "
          "log",
          "transform", "expression", "payload+'hi'--param2='foobar'" },
        { "http | transform --expression='hi'+payload--param2='foobar' | "
          "log",
          "transform", "expression", "'hi'+payload--param2='foobar'" },
        { "http | transform --expression='hi'+'world' | log", "transform",
          "expression", "'hi'+'world'" },
        { "http | transform --expression=\"'hi'+'world'\" | log", "transform",
          "expression", "'hi'+'world'" },
        { "http | filter --expression=payload.matches('hello world') | log",
          "filter", "expression", "payload.matches('hello world')" },
        { "http | transform --expression='''hi''' | log", "transform",
          "expression", "'hi'" },
        { "http | transform --expression=\"''''hi''''\" | log", "transform",
          "expression", "''''hi''''" },
        { "foo |  transform --expression=\"'Hello, world!'\" | bar",
          "transform", "expression", "'Hello, world!'" },
        { "foo |  transform --expression='''Hello, world!''' | bar",
          "transform", "expression", "'Hello, world!'" },
        { "http --port=9014 | filter --expression=\"payload == 'foo'\" | "
          "log",
          "filter", "expression", "payload == 'foo'" },
        { "http --port=9014 | filter --expression='new Foo()' | log", "filter",
          "expression", "new Foo()" },
        { "http | transform --expression='payload.replace(\"abc\", \"\")' | "
          "log",
          "transform", "expression", "payload.replace(\"abc\", \"\")" },
        { "http | transform --expression='payload.replace(\"abc\", '''')' "
          "| log",
          "transform", "expression", "payload.replace(\"abc\", '')" },
        { ":producer > foobar --expression='aaa=bbb \n ccc=ddd' > :consumer",
          "foobar", "expression", "aaa=bbb \n ccc=ddd" },
        { ":producer > foobar --expression='aaa=bbb \r ccc=ddd' > :consumer",
          "foobar", "expression", "aaa=bbb \r ccc=ddd" },
        { "a --x=\"say \"\"hi\"\"\"", "a", "x", "say \"hi\"" },
        { "a --x=''", "a", "x", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dsl_stream *s = parse_ok(cases[i].def);
        const dsl_app *app = NULL;
        for (size_t j = 0; j < s->n_apps; j++)
            if (!strcmp(s->apps[j].name, cases[i].app))
                app = &s->apps[j];
        cr_assert_not_null(app, "%s", cases[i].def);
        const dsl_option *o = dsl_app_find_option(app, cases[i].key);
        cr_assert_not_null(o, "%s", cases[i].def);
        cr_expect_str_eq(o->value, cases[i].want, "%s", cases[i].def);
        dsl_stream_destroy(&s);
    }
}

Test(scanner, nul_bytes_and_limits)
{
    dsl_stream *s = NULL;
    dsl_errors e = { 0 };
    cr_assert_eq(dsl_parse_stream("foo\0bar", 7, &s, &e), -1);
    cr_assert_eq(e.v[0].offset, 3);
    cr_assert(strstr(e.v[0].message, "\\x00"));
    dsl_errors_fini(&e);
    size_t big = DSL_MAX_INPUT + 1;
    char *text = malloc(big);
    cr_assert_not_null(text);
    memset(text, 'a', big);
    cr_assert_eq(dsl_parse_stream(text, big, &s, &e), -1);
    cr_assert(strstr(e.v[0].message, "too large"));
    dsl_errors_fini(&e);
    /* A token over the length cap is an error, not an allocation. */
    size_t tl = DSL_MAX_TOKEN + 10;
    memset(text, 'a', tl);
    cr_assert_eq(dsl_parse_stream(text, tl, &s, &e), -1);
    cr_assert(strstr(e.v[0].message, "too long"), "%s", e.v[0].message);
    dsl_errors_fini(&e);
    free(text);
}

/* ---- what fails, and where ----------------------------------------- */

Test(errors, tck_offsets)
{
    struct {
        const char *def;
        size_t off;
        const char *part;
    } cases[] = {
        { ":aaa > fff||bbb", 10, "'||'" },
        { "fff||bbb > :zzz", 3, "'||'" },
        { "aaa | bbb|| ccc", 9, "do not mix" },
        { "aaa || bbb| ccc", 10, "do not mix" },
        { "aaa --bbb=ccc||", 15, "ran out of input" },
        { "aaa --bbb='ccc'||", 17, "ran out of input" },
        { "aaa --bbb= --ccc=ddd", 11, "expected a value" },
        { "aaa --bbb=| --ccc=ddd", 10, "expected a value" },
        { "aaa --bbb=; --ccc=ddd", 10, "expected a value" },
        { "aaa --bbb=> --ccc=ddd", 10, "expected a value" },
        { "aaa --bbb=\t --ccc=ddd", 12, "expected a value" },
        { "aaa --bbb=\n --ccc=ddd", 10, "expected a value" },
        { "http | foo: goggle: bar | file", 12, "multiple labels" },
        { "http | foo :bar | file", 11, "unexpected data after" },
        { "foo | transform --expression=new StringBuilder(payload)."
          "reverse() | bar",
          46, "unexpected character '('" },
        { "foo | bar --expression='select foo", 23, "quote (')" },
        { "foo | bar --expression=\"select foo", 23, "double quote" },
        { "foo |  transform --expression=''Hello, world!'' | bar", 44, "'!'" },
        { "http > :test value", 13, "unexpected data after" },
        { ":boo .xx > file", 5, "destination name" },
        { ":boo . xx > file", 5, "destination name" },
        { ":boo. xx > file", 6, "destination name" },
        { ":boo.xx. yy > file", 9, "destination name" },
        { ":boo.xx .yy > file", 8, "destination name" },
        { ":boo.xx . yy > file", 8, "destination name" },
        { "trigger > :myjob   too", 19, "'too'" },
        { ".", 0, "expected app name" },
        { ";", 0, "expected app name" },
        { "foo bar=yyy", 4, "'bar'" },
        { "foo bar", 4, "'bar'" },
        { "foo --", 6, "ran out of input" },
        { "foo --bar", 9, "ran out of input" },
        { "foo --bar=", 10, "ran out of input" },
        { "|", 0, "expected app name" },
        { "foo > bar", 6, "':bar'" },
        { ":foo >", 6, "ran out of input" },
        { ":foo > --2323", 7, "expected app name" },
        { ":foo > (", 7, "unexpected character" },
        { ":foo > *", 7, "expected app name" },
        { "::foo > *", 1, "destination name" },
        { ":foo > :", 7, "ran out of input" },
        { ":foo | bar", 0, "expected app name" },
        { "( = http | file", 0, "unexpected character '('" },
        { "* = http | file", 0, "illegal stream name" },
        { ": = http | file", 0, "illegal stream name" },
        { "xxx: http | xxx: file", 12, "label 'xxx' should be unique" },
        { "xxx: http | yyy: filter | transform | xxx: transform | file", 38,
          "app 'http' (at 0) and app 'transform' (at 3)" },
        { "xxx: http | yyy: filter | transform | xxx: transform | xxx: file",
          38, "label 'xxx'" },
        { "http | filter | transform | transform | file", 28, "add a label" },
        { "foo -- name=value", 7, "between '--' and" },
        { "foo --name =value", 11, "and '='" },
        { "foo --name= value", 12, "after '='" },
        { "foo --name.=value", 11, "after '.'" },
        { "foo --name .sub=value", 11, "dotted" },
        { "foo --name. sub=value", 12, "dotted" },
        { "foo||", 5, "ran out of input" },
        { "foo --aaa=\"bbb\"||", 17, "ran out of input" },
        { "foo --aaa=\"bbb\" ||", 18, "ran out of input" },
        { "foo.bar = http | transform | sink", 0, "illegal stream name" },
        { "-bar = http | transform | sink", 0, "illegal stream name" },
        { ".bar = http | transform | sink", 0, "illegal stream name" },
        { "foo-.-bar = http | transform | sink", 0, "illegal stream name" },
        { "0foobar = http | transform | sink", 0, "illegal stream name" },
        /* SCDF takes '_' and capitals; flow's one name rule does not. */
        { "foo_bar = http | transform | sink", 0, "illegal stream name" },
        { "foo:bar", 4, "whitespace after the label" },
        { "a - b", 2, "'--name=value'" },
        { "", 0, "ran out of input" },
        { "   ", 3, "ran out of input" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        parse_err(cases[i].def, cases[i].off, cases[i].part);
}

Test(errors, any_error)
{
    const char *bad[] = {
        "--foo = bar", "test | foo--x=13", "foo%bar = http | transform | sink",
        "a | | b",     ":a > :b | c",      "a > :b > :c",
        "a \\ b"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dsl_stream *s = NULL;
        dsl_errors e = { 0 };
        cr_assert_eq(dsl_parse_stream(bad[i], strlen(bad[i]), &s, &e), -1,
                     "'%s' should not parse", bad[i]);
        cr_assert_geq(e.n, 1);
        cr_assert_gt(strlen(e.v[0].message), 10);
        dsl_errors_fini(&e);
    }
    cr_assert(!dsl_name_ok("foo%bar", 7));
    cr_assert(!dsl_name_ok("foo.bar", 7));
    cr_assert(dsl_name_ok("foo-bar", 7));
    cr_assert(!dsl_name_ok("_x9", 3));
}

/* One name rule and one message: the parser refuses what flowd would
 * (flowd used to refuse 'My_Stream' that the parser took). */
Test(errors, stream_name_rule)
{
    static const char *const bad[] = { "My_Stream = time | log",
                                       "_x9 = time | log", "9a = time | log" };
    char want[256];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dsl_stream *s = NULL;
        dsl_errors e = { 0 };
        size_t n = strcspn(bad[i], " ");
        cr_assert_eq(dsl_parse_stream(bad[i], strlen(bad[i]), &s, &e), -1,
                     "'%s' should not parse", bad[i]);
        cr_assert_eq(e.n, 1);
        dsl_name_message(want, sizeof want, "stream", bad[i], n);
        cr_assert_str_eq(e.v[0].message, want);
        cr_assert_eq(e.v[0].offset, 0);
        dsl_errors_fini(&e);
    }
    cr_assert_str_eq(
        dsl_name_message(want, sizeof want, "stream", "My_Stream", 9),
        "illegal stream name 'My_Stream': a name is a lowercase "
        "letter, then up to 47 lowercase letters, digits or '-' "
        "(like 'accounts' or 'eu-1')");
    dsl_stream *s = NULL;
    dsl_errors e = { 0 };
    cr_assert_eq(dsl_parse_stream("my-stream2 = time | log", 23, &s, &e), 0);
    dsl_stream_destroy(&s);
    dsl_errors_fini(&e);
}

Test(errors, line_and_column)
{
    dsl_stream *s = NULL;
    dsl_errors e = { 0 };
    const char *t = "a |\n  b |\n  c --x";
    cr_assert_eq(dsl_parse_stream(t, strlen(t), &s, &e), -1);
    cr_assert_eq(e.v[0].offset, strlen(t));
    cr_assert_eq(e.v[0].line, 3);
    cr_assert_eq(e.v[0].column, 8);
    char *f = dsl_error_format("in.flow", t, strlen(t), &e.v[0]);
    cr_assert_str_eq(f, "in.flow:3:8: error: unexpectedly ran out of input; "
                        "expected '=' and a value after the option name\n"
                        "  c --x\n"
                        "       ^\n");
    free(f);
    dsl_errors_fini(&e);
}

/* ---- stream files -------------------------------------------------- */

Test(file, entries_comments_and_continuation)
{
    const char *t = "# header\n"
                    "#=\n"
                    "\n"
                    "a = time | log\n"
                    "b = load-sim\n"
                    "    --rate=5\n"
                    "  # a comment between continuation lines\n"
                    "\n"
                    "  | counter --name='x\n"
                    "y'\n"
                    "c = :a.time > log\r\n"
                    "# trailing comment";
    dsl_file *f = NULL;
    dsl_errors e = { 0 };
    int rc = dsl_parse_file(t, strlen(t), &f, &e);
    cr_assert_eq(rc, 0, "%s at %zu", e.n ? e.v[0].message : "",
                 e.n ? e.v[0].offset : 0);
    cr_assert_eq(f->n_streams, 3);
    cr_assert_str_eq(f->streams[0]->name, "a");
    cr_assert_str_eq(f->streams[1]->name, "b");
    cr_assert_eq(f->streams[1]->n_apps, 2);
    cr_assert_str_eq(opt(f->streams[1], 0, "rate"), "5");
    cr_assert_str_eq(opt(f->streams[1], 1, "name"), "x\ny");
    cr_assert_str_eq(f->streams[2]->source->name, "a.time");
    cr_assert_eq(f->streams[0]->offset, 13);
    dsl_file_destroy(&f);
    cr_assert_null(f);
}

Test(file, every_bad_entry_is_reported)
{
    const char *t = "a = time | | log\n"
                    "b = time | log\n"
                    "c = time --x\n"
                    "time | log\n"
                    "d = time | x: log | x: log\n"
                    "e = 'oops\n";
    dsl_file *f = NULL;
    dsl_errors e = { 0 };
    cr_assert_eq(dsl_parse_file(t, strlen(t), &f, &e), -1);
    cr_assert_null(f);
    cr_assert_eq(e.n, 5, "got %zu errors", e.n);
    cr_assert_eq(e.v[0].line, 1);
    cr_assert_eq(e.v[0].column, 12);
    cr_assert_eq(e.v[1].line, 3);
    cr_assert_eq(e.v[1].column, 13);
    cr_assert_eq(e.v[2].line, 4);
    cr_assert(strstr(e.v[2].message, "needs a name"));
    cr_assert_eq(e.v[3].line, 5);
    cr_assert_eq(e.v[3].column, 21);
    cr_assert_eq(e.v[4].line, 6);
    dsl_errors_fini(&e);
}

Test(file, empty_file)
{
    dsl_file *f = NULL;
    dsl_errors e = { 0 };
    cr_assert_eq(dsl_parse_file("", 0, &f, &e), 0);
    cr_assert_eq(f->n_streams, 0);
    dsl_file_destroy(&f);
    cr_assert_eq(dsl_parse_file("# only\n\n# comments", 18, &f, &e), 0);
    cr_assert_eq(f->n_streams, 0);
    dsl_file_destroy(&f);
}

/* Hostile sizes: everything stays linear and bounded. */
Test(limits, many_errors_apps_and_labels, .timeout = 60)
{
    size_t n = 200000;
    char *t = malloc(n * 2 + 1);
    cr_assert_not_null(t);
    for (size_t i = 0; i < n; i++) {
        t[2 * i] = '|';
        t[2 * i + 1] = '\n';
    }
    dsl_file *f = NULL;
    dsl_errors e = { 0 };
    cr_assert_eq(dsl_parse_file(t, n * 2, &f, &e), -1);
    cr_assert_eq(e.n, DSL_MAX_ERRORS + 1);
    cr_assert(strstr(e.v[DSL_MAX_ERRORS].message, "too many errors"));
    dsl_errors_fini(&e);
    free(t);

    /* 20000 apps of one name: the duplicate is found at once. */
    size_t apps = 20000;
    t = malloc(apps * 4 + 1);
    cr_assert_not_null(t);
    size_t k = 0;
    for (size_t i = 0; i < apps; i++) {
        memcpy(t + k, i ? " | a" : "a", i ? 4 : 1);
        k += i ? 4 : 1;
    }
    dsl_stream *s = NULL;
    cr_assert_eq(dsl_parse_stream(t, k, &s, &e), -1);
    cr_assert(strstr(e.v[0].message, "too many apps"), "%s", e.v[0].message);
    dsl_errors_fini(&e);
    /* Under the app limit, the first repeated label is reported. */
    cr_assert_eq(dsl_parse_stream(t, 1 + 4 * 999, &s, &e), -1);
    cr_assert_eq(e.v[0].offset, 4);
    cr_assert(strstr(e.v[0].message, "(at 0) and app 'a' (at 1)"));
    dsl_errors_fini(&e);
    free(t);
}
