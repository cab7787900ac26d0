/*
 * Completion tests: what may come next after a partial definition.
 */
#include "flow-config.h"
#include "helpers.h"

static dsl_registry *reg;

static void setup(void)
{
    size_t len;
    char *txt = read_src(FLOW_SOURCE_DIR "/tests/dsl/registry.json", &len);
    reg = dsl_registry_new();
    cr_assert_eq(dsl_registry_add_describe_array(reg, txt, len, NULL), 0);
    free(txt);
}

static void teardown(void)
{
    dsl_registry_destroy(&reg);
}

/* Is `text` among the proposals for `start`? */
static bool proposes(const char *start, const char *text)
{
    dsl_completions c = { 0 };
    cr_assert_eq(dsl_complete(start, strlen(start), reg, &c), 0);
    bool found = false;
    for (size_t i = 0; i < c.n; i++)
        if (!strcmp(c.v[i].text, text))
            found = true;
    dsl_completions_fini(&c);
    return found;
}

static size_t count(const char *start)
{
    dsl_completions c = { 0 };
    cr_assert_eq(dsl_complete(start, strlen(start), reg, &c), 0);
    size_t n = c.n;
    dsl_completions_fini(&c);
    return n;
}

TestSuite(complete, .init = setup, .fini = teardown);

Test(complete, sources_first)
{
    cr_assert(proposes("", "load-sim"));
    cr_assert(proposes("", "time"));
    cr_assert(!proposes("", "counter"));
    cr_assert(proposes("lo", "load-sim"));
    cr_assert(!proposes("lo", "log"));
    cr_assert(proposes("s = ti", "s = time"));
}

Test(complete, after_a_pipe)
{
    cr_assert(proposes("time | ", "time | account-events"));
    cr_assert(proposes("time | ", "time | counter"));
    cr_assert(!proposes("time | ", "time | load-sim"));
    cr_assert(proposes("time | cou", "time | counter"));
    cr_assert(proposes(":in > ", ":in > counter"));
    cr_assert(proposes("time || ", "time || load-sim"));
}

Test(complete, options_pipe_and_destination)
{
    cr_assert(proposes("time", "time --fixed-delay="));
    cr_assert(proposes("time", "time | "));
    cr_assert(proposes("time ", "time --date-format="));
    cr_assert(proposes("time ", "time | "));
    cr_assert(proposes("time ", "time > :"));
    cr_assert(proposes("time --fixed-delay=2 ",
                       "time --fixed-delay=2 --date-format="));
    cr_assert(!proposes("time --fixed-delay=2 ",
                        "time --fixed-delay=2 --fixed-delay="));
    cr_assert(proposes("time --fi", "time --fixed-delay="));
    cr_assert(proposes("time | log --level=W", "time | log --level=WARN"));
    cr_assert(proposes("time | log --level=", "time | log --level=ERROR"));
    /* A sink ends the stream: no '|' after it. */
    cr_assert(!proposes("time | counter ", "time | counter | "));
    cr_assert(proposes("time | counter ", "time | counter --name="));
}

Test(complete, nothing_silly)
{
    cr_assert_eq(count("time > "), 0);
    cr_assert_eq(count("zzz"), 0);
    cr_assert_eq(count("time | log --level=ERROR > :x "), 0);
    dsl_completions c = { 0 };
    cr_assert_eq(dsl_complete("", 0, NULL, &c), 0);
    cr_assert_eq(c.n, 0);
    dsl_completions_fini(&c);
}
