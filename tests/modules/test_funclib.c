/*
 * Unit tests of function libraries (flow/function.h, funclib.h): loading
 * and the ABI checks (wrong version of the table or of one function, no
 * flow_functions, an undefined symbol), the --actions mapping and the
 * action of an event, and a call into the example library through a
 * host that captures what it emits.
 */
#include <criterion/criterion.h>

#include "funclib.h"

#include "flow/error.h"

#include <string.h>

static void open_ok(funclib *fl, const char *path)
{
    char why[1024] = "";
    cr_assert_eq(funclib_open(fl, path, -1, why, sizeof why), 0, "%s: %s", path,
                 why);
}

static void open_fails(const char *path, const char *want)
{
    funclib fl;
    char why[1024] = "";
    cr_assert_eq(funclib_open(&fl, path, -1, why, sizeof why), -1, "%s", path);
    cr_assert(strstr(why, want), "'%s' does not say '%s'", why, want);
    cr_assert_null(fl.handle);
}

Test(funclib, loads_the_example_and_finds_its_functions)
{
    funclib fl;
    open_ok(&fl, EXAMPLE_LIB);
    cr_assert_eq(fl.lib->abi_version, FLOW_FUNCTION_ABI_VERSION);
    cr_assert_not_null(funclib_find(&fl, "on_created"));
    cr_assert_not_null(funclib_find(&fl, "on_suspended"));
    cr_assert_null(funclib_find(&fl, "on_archived"));
    flow_buf b;
    flow_buf_init(&b);
    cr_assert_eq(funclib_describe(&fl, &b), 0);
    cr_assert_eq(strlen((char *)b.data), b.len);
    cr_assert(strstr((char *)b.data,
                     "\"abi_version\":1,\"name\":"
                     "\"account_functions\",\"snapshot\":true,"),
              "%s", (char *)b.data);
    cr_assert(strstr((char *)b.data, "{\"name\":\"on_created\",\"description\":"
                                     "\"Counts created accounts and annotates "
                                     "the event.\",\"snapshot\":true}"),
              "%s", (char *)b.data);
    cr_assert(strstr((char *)b.data, "\"name\":\"tag\",\"description\":"
                                     "\"Annotates any event with handled_by: "
                                     "tag.\",\"snapshot\":false}"),
              "%s", (char *)b.data);
    flow_buf_fini(&b);
    funclib_close(&fl);
    funclib_close(&fl);
}

Test(funclib, refuses_a_library_of_another_abi_version)
{
    /* Told by the table's version, before any function is looked at. */
    open_fails(WRONG_ABI_LIB, "so: the library speaks function ABI version "
                              "2, this flow speaks version 1");
}

Test(funclib, refuses_a_function_of_another_abi_version)
{
    open_fails(WRONG_FN_ABI_LIB, "function 'old' speaks function ABI "
                                 "version 0");
}

Test(funclib, refuses_a_library_without_flow_functions)
{
    open_fails(NO_SYMBOL_LIB, "exports no flow_functions()");
}

Test(funclib, refuses_an_undefined_symbol_at_load)
{
    open_fails(UNDEFINED_SYMBOL_LIB, "flow_test_nobody_defines_this");
}

Test(funclib, refuses_a_missing_file)
{
    open_fails("/nonexistent/libx.so", "cannot load /nonexistent/libx.so");
}

static const char *noop(void *state, const flow_event *in, flow_fn_out *out)
{
    (void)state;
    (void)in;
    (void)out;
    return NULL;
}

Test(funclib, checks_every_entry_of_a_table)
{
    char why[512];
    flow_function fns[2] = {
        { .abi_version = FLOW_FUNCTION_ABI_VERSION,
          .name = "a",
          .process = noop },
        { .abi_version = FLOW_FUNCTION_ABI_VERSION,
          .name = "a",
          .process = noop },
    };
    flow_function_lib lib = { .abi_version = FLOW_FUNCTION_ABI_VERSION,
                              .functions = fns,
                              .nfunctions = 2 };
    cr_assert_eq(funclib_check(NULL, why, sizeof why), -1);
    cr_assert_eq(funclib_check(&lib, why, sizeof why), -1);
    cr_assert(strstr(why, "lists function 'a' twice"), "%s", why);
    fns[1].name = "b";
    cr_assert_eq(funclib_check(&lib, why, sizeof why), 0, "%s", why);
    fns[1].process = NULL;
    cr_assert_eq(funclib_check(&lib, why, sizeof why), -1);
    cr_assert(strstr(why, "'b' has no process"), "%s", why);
    fns[1].process = noop;
    fns[1].name = "1b";
    cr_assert_eq(funclib_check(&lib, why, sizeof why), -1);
    cr_assert(strstr(why, "function 2 of the library has a bad name"), "%s",
              why);
    lib.nfunctions = 0;
    cr_assert_eq(funclib_check(&lib, why, sizeof why), -1);
    cr_assert(strstr(why, "lists no functions"), "%s", why);
}

Test(funclib, parses_actions)
{
    funclib_actions a;
    char why[512];
    cr_assert_eq(funclib_actions_parse("ACCOUNT_CREATED:on_created,"
                                       "ACCOUNT_SUSPENDED:on_suspended,"
                                       "ACCOUNT_ARCHIVED:on_created",
                                       &a, why, sizeof why),
                 0, "%s", why);
    cr_assert_eq(a.n, 3);
    const funclib_action *x = funclib_actions_find(&a, "ACCOUNT_SUSPENDED", 17);
    cr_assert_not_null(x);
    cr_assert_str_eq(x->fn, "on_suspended");
    cr_assert_str_eq(funclib_actions_find(&a, "ACCOUNT_ARCHIVED", 16)->fn,
                     "on_created");
    cr_assert_null(funclib_actions_find(&a, "ACCOUNT_CREATE", 14));
    funclib_actions_free(&a);

    cr_assert_eq(funclib_actions_parse("A:f,B", &a, why, sizeof why), -1);
    cr_assert(strstr(why, "expected VALUE:FUNCTION at offset 4"), "%s", why);
    cr_assert_eq(funclib_actions_parse("A:f,A:g", &a, why, sizeof why), -1);
    cr_assert(strstr(why, "action 'A' at offset 4 is mapped twice"), "%s", why);
    cr_assert_eq(funclib_actions_parse("A:f g", &a, why, sizeof why), -1);
    cr_assert(strstr(why, "'f g' at offset 2 is not a function name"), "%s",
              why);
    cr_assert_eq(funclib_actions_parse("A:", &a, why, sizeof why), -1);
    cr_assert_eq(funclib_actions_parse(":f", &a, why, sizeof why), -1);
    cr_assert_eq(a.n, 0);
}

static flow_buf account_event(const char *type)
{
    flow_buf b;
    flow_buf_init(&b);
    flow_mp_put_map(&b, 3);
    flow_mp_put_cstr(&b, "type");
    flow_mp_put_cstr(&b, type);
    flow_mp_put_cstr(&b, "account");
    flow_mp_put_int(&b, 7);
    flow_mp_put_cstr(&b, "meta");
    flow_mp_put_map(&b, 1);
    flow_mp_put_cstr(&b, "n");
    flow_mp_put_int(&b, 42);
    return b;
}

Test(funclib, reads_the_action_of_an_event)
{
    funclib_key k;
    char why[256];
    const char *s;
    flow_buf b = account_event("ACCOUNT_CREATED");
    flow_event ev = { .type = "account",
                      .type_len = 7,
                      .payload = b.data,
                      .payload_len = (uint32_t)b.len };

    cr_assert_eq(funclib_key_parse("payload.type", &k, why, sizeof why), 0);
    int n = funclib_key_eval(&k, &ev, &s, why, sizeof why);
    cr_assert_eq(n, 15);
    cr_assert_eq(memcmp(s, "ACCOUNT_CREATED", 15), 0);
    funclib_key_free(&k);
    cr_assert_eq(funclib_key_parse("payload.meta.n", &k, why, sizeof why), 0);
    n = funclib_key_eval(&k, &ev, &s, why, sizeof why);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(s, "42", 2), 0);
    funclib_key_free(&k);
    cr_assert_eq(funclib_key_parse("payload.meta", &k, why, sizeof why), 0);
    cr_assert_eq(funclib_key_eval(&k, &ev, &s, why, sizeof why), -1);
    cr_assert(strstr(why, "not a value"), "%s", why);
    funclib_key_free(&k);
    cr_assert_eq(funclib_key_parse("payload.state", &k, why, sizeof why), 0);
    cr_assert_eq(funclib_key_eval(&k, &ev, &s, why, sizeof why), -1);
    cr_assert(strstr(why, "null"), "%s", why);
    funclib_key_free(&k);
    cr_assert_eq(funclib_key_parse("headers.type", &k, why, sizeof why), 0);
    n = funclib_key_eval(&k, &ev, &s, why, sizeof why);
    cr_assert_eq(n, 7);
    cr_assert_eq(memcmp(s, "account", 7), 0);
    funclib_key_free(&k);
    /* A whole expression: the text of its result. */
    cr_assert_eq(
        funclib_key_parse("payload.type.toLowerCase()", &k, why, sizeof why),
        0);
    n = funclib_key_eval(&k, &ev, &s, why, sizeof why);
    cr_assert_eq(n, 15);
    cr_assert_eq(memcmp(s, "account_created", 15), 0);
    funclib_key_free(&k);
    cr_assert_eq(funclib_key_parse("headers.key", &k, why, sizeof why), 0);
    cr_assert_eq(funclib_key_eval(&k, &ev, &s, why, sizeof why), -1);
    ev.key = "k1";
    ev.key_len = 2;
    cr_assert_eq(funclib_key_eval(&k, &ev, &s, why, sizeof why), 2);
    funclib_key_free(&k);
    flow_buf_fini(&b);

    const char *bad[] = { "payload.", "payload..a", "(",
                          "payload.type ==", "headers.nope" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(funclib_key_parse(bad[i], &k, why, sizeof why), -1, "%s",
                     bad[i]);
        cr_assert(strstr(why, "bad expression at byte"), "%s", why);
    }
}

/* A host that keeps the payload of the last event emitted. */
struct capture {
    int emitted, errors;
    flow_buf last;
    void *library_state;
};

static int cap_emit(void *impl, const flow_event *ev)
{
    struct capture *c = impl;
    c->emitted++;
    flow_buf_reset(&c->last);
    flow_buf_append(&c->last, ev->payload, ev->payload_len);
    return 0;
}

static int cap_error(void *impl, const char *reason)
{
    struct capture *c = impl;
    (void)reason;
    c->errors++;
    return 0;
}

static int cap_write(void *impl, const void *data, size_t len)
{
    struct capture *c = impl;
    flow_buf_append(&c->last, data, len);
    return 0;
}

static void cap_log(void *impl, const char *msg)
{
    (void)impl;
    (void)msg;
}

static void *cap_library_state(void *impl)
{
    struct capture *c = impl;
    return c->library_state;
}

static const flow_fn_host cap_host = {
    FLOW_FUNCTION_ABI_VERSION, cap_emit, cap_error, cap_write, cap_log,
    cap_library_state
};

Test(funclib, maps_each_event_to_the_function_of_its_action)
{
    funclib fl;
    funclib_actions a;
    funclib_key k;
    char why[256];
    struct capture cap = { 0 };
    flow_fn_out out = { &cap_host, &cap };
    void *created = NULL, *suspended = NULL;

    open_ok(&fl, EXAMPLE_LIB);
    flow_buf_init(&cap.last);
    cr_assert_eq(funclib_actions_parse("ACCOUNT_CREATED:on_created,"
                                       "ACCOUNT_SUSPENDED:on_suspended",
                                       &a, why, sizeof why),
                 0);
    cr_assert_eq(funclib_key_parse("payload.type", &k, why, sizeof why), 0);
    cr_assert_eq(fl.lib->init(&cap.library_state, NULL, &out), 0);
    const flow_function *fc = funclib_find(&fl, "on_created");
    const flow_function *fs = funclib_find(&fl, "on_suspended");
    cr_assert_eq(fc->init(&created, NULL, &out), 0);
    cr_assert_eq(fs->init(&suspended, NULL, &out), 0);

    const char *types[] = { "ACCOUNT_CREATED", "ACCOUNT_SUSPENDED",
                            "ACCOUNT_CREATED", "ACCOUNT_DEPOSITED" };
    int unmapped = 0;
    for (size_t i = 0; i < 4; i++) {
        flow_buf b = account_event(types[i]);
        flow_event ev = { .payload = b.data, .payload_len = (uint32_t)b.len };
        const char *s;
        int n = funclib_key_eval(&k, &ev, &s, why, sizeof why);
        cr_assert_geq(n, 0);
        const funclib_action *act = funclib_actions_find(&a, s, (size_t)n);
        if (!act) {
            unmapped++;
            flow_buf_fini(&b);
            continue;
        }
        const flow_function *f = funclib_find(&fl, act->fn);
        cr_assert_null(f->process(f == fc ? created : suspended, &ev, &out));
        flow_buf_fini(&b);
    }
    cr_assert_eq(cap.emitted, 3);
    cr_assert_eq(unmapped, 1);

    /* The last event out is the second ACCOUNT_CREATED, annotated. */
    flow_mp_value v;
    cr_assert_eq(
        flow_mp_map_find(cap.last.data, cap.last.len, "handled_by", &v), 0);
    cr_assert(flow_mp_str_eq(&v, "on_created"));
    cr_assert_eq(flow_mp_map_find(cap.last.data, cap.last.len, "created", &v),
                 0);
    cr_assert_eq(v.u, 2);
    /* The library's own state, shared: the third event handled. */
    cr_assert_eq(flow_mp_map_find(cap.last.data, cap.last.len, "handled", &v),
                 0);
    cr_assert_eq(v.u, 3);
    cr_assert_eq(flow_mp_map_find(cap.last.data, cap.last.len, "account", &v),
                 0);
    cr_assert_eq(v.u, 7);

    /* The state goes through snapshot and restore. */
    flow_buf_reset(&cap.last);
    cr_assert_eq(fc->snapshot(created, &out), 0);
    cr_assert_eq(cap.last.len, 8);
    void *again = NULL;
    cr_assert_eq(fc->init(&again, NULL, &out), 0);
    cr_assert_eq(fc->restore(again, cap.last.data, cap.last.len, &out), 0);
    cr_assert_eq(*(uint64_t *)again, 2);
    cr_assert_neq(fc->restore(again, cap.last.data, 3, &out), 0);
    fc->fini(again);
    fc->fini(created);
    fs->fini(suspended);
    fl.lib->fini(cap.library_state);
    funclib_key_free(&k);
    funclib_actions_free(&a);
    flow_buf_fini(&cap.last);
    funclib_close(&fl);
}
