/*
 * Out of memory is not a verdict on a definition: with every allocation
 * in turn made to fail, the parser and the checker either succeed or say
 * DSL_ENOMEM, and -1 ("invalid") always comes with the definition's own
 * errors. malloc, calloc and realloc are replaced here to fail the one
 * allocation a budget names.
 */
#include "flow-config.h"
#include "helpers.h"

#if defined(__SANITIZE_ADDRESS__)
#define OOM_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define OOM_SKIP 1
#endif
#endif

#ifndef OOM_SKIP
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

/* Allocations left before the one that fails; -1: none fails. */
static long budget = -1;
static bool failed;

static bool take(void)
{
    if (budget < 0)
        return true;
    if (budget == 0) {
        /* Only this one fails: what follows, a message included, may
         * still be allocated. */
        failed = true;
        budget = -1;
        return false;
    }
    budget--;
    return true;
}

void *malloc(size_t n)
{
    return take() ? __libc_malloc(n) : NULL;
}

void *calloc(size_t n, size_t size)
{
    return take() ? __libc_calloc(n, size) : NULL;
}

void *realloc(void *p, size_t n)
{
    return take() ? __libc_realloc(p, n) : NULL;
}

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

static void parse_under_budgets(const char *def)
{
    long ran_out = 0;

    for (long b = 0; b < 100000; b++) {
        dsl_errors e = { 0 };
        dsl_stream *s = NULL;
        failed = false;
        budget = b;
        int rc = dsl_parse_stream(def, strlen(def), &s, &e);
        budget = -1;
        if (rc == 0) {
            dsl_stream_destroy(&s);
            dsl_errors_fini(&e);
            if (!failed)
                break; /* every allocation was tried */
            continue;
        }
        cr_assert_eq(rc, DSL_ENOMEM,
                     "allocation %ld failing made '%s' invalid (%d): %s", b,
                     def, rc, e.n ? e.v[0].message : "no message");
        cr_assert_null(s);
        ran_out++;
        dsl_errors_fini(&e);
    }
    cr_assert_gt(ran_out, 0, "no allocation of the parser failed");
}

Test(oom, parse_says_out_of_memory)
{
    parse_under_budgets("time | log");
    parse_under_budgets("s = time --fixed-delay=1 | counter --name=x | log");
    parse_under_budgets(":orders --group=g > filter --expression=a > :checked");
}

/* A definition with errors: -1 only with them, else DSL_ENOMEM. A valid
 * one: 0 or DSL_ENOMEM. */
static void check_under_budgets(const char *def, bool valid)
{
    dsl_registry *r = load_registry();
    dsl_stream *s = parse_ok(def);
    dsl_check_ctx ctx = { .registry = r };
    long ran_out = 0;

    for (long b = 0; b < 100000; b++) {
        dsl_errors e = { 0 };
        failed = false;
        budget = b;
        int rc = dsl_check_stream(s, &ctx, def, strlen(def), &e);
        budget = -1;
        if (rc == DSL_ENOMEM) {
            ran_out++;
        } else if (valid) {
            cr_assert_eq(rc, 0, "allocation %ld failing: %d", b, rc);
        } else {
            cr_assert_eq(rc, -1, "allocation %ld failing: %d", b, rc);
            cr_assert_gt(e.n, 0, "allocation %ld failing: -1 with no error", b);
        }
        dsl_errors_fini(&e);
        if (!failed)
            break;
    }
    if (!valid)
        cr_assert_gt(ran_out, 0, "no allocation of the checker failed");
    dsl_stream_destroy(&s);
    dsl_registry_destroy(&r);
}

Test(oom, check_says_out_of_memory)
{
    check_under_budgets("time | log", true);
    check_under_budgets("time | cuonter | log", false);
    check_under_budgets("time | counter --nope=1 | log", false);
}
/* A valid description is added or refused for want of memory, never
 * called malformed, but for one limit: jansson reports some allocations
 * that fail while it parses as syntax errors, which the registry can only
 * pass on as "bad JSON". */
Test(oom, registry_says_out_of_memory)
{
    const char *d = "{\"name\": \"filter\", \"role\": \"processor\", "
                    "\"options\": [{\"name\": \"mode\", \"type\": "
                    "\"enum\", \"values\": [\"a\", \"b\"], \"default\": "
                    "\"a\"}, {\"name\": \"n\", \"type\": \"int\"}]}";
    long ran_out = 0;

    for (long b = 0; b < 100000; b++) {
        dsl_registry *r = dsl_registry_new();
        cr_assert_not_null(r);
        char *err = NULL;
        failed = false;
        budget = b;
        int rc = dsl_registry_add_describe(r, d, strlen(d), &err);
        budget = -1;
        if (rc == DSL_ENOMEM)
            ran_out++;
        else if (!(rc == -1 && err && strncmp(err, "bad JSON", 8) == 0))
            cr_assert_eq(rc, 0, "allocation %ld failing: %d, %s", b, rc,
                         err ? err : "no message");
        free(err);
        dsl_registry_destroy(&r);
        if (!failed)
            break;
    }
    cr_assert_gt(ran_out, 0, "no allocation of the registry failed");
}
#else
Test(oom, skipped_under_sanitizers)
{
    cr_skip_test("malloc cannot be replaced beside a sanitizer's");
}
#endif
