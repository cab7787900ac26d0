/*
 * Module tests of the expression vocabulary apps (splitter,
 * header-enricher, counter --name-expression, field-value-counter and
 * aggregate-counter with expressions): each runs in-process (flow-host
 * threads over inproc://) behind an injecting source, and what reaches
 * the end is read back from the log sink's stdout or --flow.metrics-json.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "apps.h"
#include "fieldsel.h"
#include "routes.h"

#include "flow/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Four events: kind A, B, A, A; words is a list of i + 1 strings, or of
 * maps for the last one; n is i; ts is minute i after 2024-02-29 13:05 in
 * seconds. The event type is "t" and the key "k<i>". */
static int inject_tick(flow_ctx *ctx)
{
    static const char *const kinds[] = { "A", "B", "A", "A" };
    for (int i = 0; i < 4; i++) {
        flow_buf *b = flow_payload_buf(ctx);
        char key[8];
        snprintf(key, sizeof(key), "k%d", i);
        flow_mp_put_map(b, 4);
        flow_mp_put_cstr(b, "kind");
        flow_mp_put_cstr(b, kinds[i]);
        flow_mp_put_cstr(b, "n");
        flow_mp_put_int(b, i);
        flow_mp_put_cstr(b, "ts");
        flow_mp_put_int(b, 1709211900LL + i * 60);
        flow_mp_put_cstr(b, "words");
        flow_mp_put_array(b, (uint32_t)i + 1);
        for (int j = 0; j <= i; j++) {
            if (i == 3) {
                flow_mp_put_map(b, 2);
                flow_mp_put_cstr(b, "w");
                flow_mp_put_int(b, j);
                flow_mp_put_cstr(b, "sequenceSize");
                flow_mp_put_cstr(b, "old");
            } else {
                flow_mp_put_cstr(b, j % 2 ? "y" : "x");
            }
        }
        cr_assert_eq(flow_emit(ctx, "t", key, 0, b->data, b->len), 0);
    }
    return FLOW_TICK_DONE;
}

static const flow_app_desc inject_app = {
    .name = "inject",
    .role = FLOW_ROLE_SOURCE,
    .description = "test source",
    .on_tick = inject_tick,
    .tick_us = 1000,
};

/*
 * Runs inject | [proc pargs |] sink sargs; returns the sink's metrics
 * JSON. proc may be NULL. The options are NULL-terminated lists.
 */
static char *run(const flow_app_desc *proc, char **pargs,
                 const flow_app_desc *sink, char **sargs)
{
    char dir[] = "/tmp/flow-vocab-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char e1[64], e2[64], o1[96], i1[96], o2[96], i2[96], met[192], path[128];
    snprintf(e1, sizeof(e1), "inproc://vocab-a-%d", (int)getpid());
    snprintf(e2, sizeof(e2), "inproc://vocab-b-%d", (int)getpid());
    snprintf(o1, sizeof(o1), "--flow.output=@%s", e1);
    snprintf(i1, sizeof(i1), "--flow.input=%s", e1);
    snprintf(o2, sizeof(o2), "--flow.output=@%s", e2);
    snprintf(i2, sizeof(i2), "--flow.input=%s", e2);
    snprintf(path, sizeof(path), "%s/m.json", dir);
    snprintf(met, sizeof(met), "--flow.metrics-json=%s", path);
    char *a1[] = { "inject", o1 };
    char *ap[16] = { proc ? (char *)proc->name : "", i1, o2,
                     "--flow.eos-exit=1" };
    char *as[16] = { (char *)sink->name, proc ? i2 : i1, "--flow.eos-exit=1",
                     met };
    int np = 4, ns = 4;
    for (int i = 0; pargs && pargs[i] && np < 16; i++)
        ap[np++] = pargs[i];
    for (int i = 0; sargs && sargs[i] && ns < 16; i++)
        as[ns++] = sargs[i];
    flow_host *h = flow_host_new();
    cr_assert_not_null(h);
    cr_assert_eq(flow_host_add(h, &inject_app, 2, a1), 0);
    if (proc)
        cr_assert_eq(flow_host_add(h, proc, np, ap), 0);
    cr_assert_eq(flow_host_add(h, sink, ns, as), 0);
    cr_assert_eq(flow_host_run(h), 0);
    flow_host_destroy(&h);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char *json = calloc(1, 65536);
    size_t len = fread(json, 1, 65535, f);
    json[len] = '\0';
    fclose(f);
    unlink(path);
    rmdir(dir);
    return json;
}

static void has(const char *json, const char *s)
{
    cr_assert(strstr(json, s) != NULL, "'%s' not in %s", s, json);
}

static char *log_event[] = { "--expression={headers.key, headers.type, "
                             "payload}",
                             NULL };

Test(vocab, splitter_makes_one_event_per_element_with_its_sequence,
     .timeout = 30, .init = cr_redirect_stdout)
{
    char *p[] = { "--expression=payload.words", NULL };
    free(run(&splitter_app, p, &log_app, log_event));
    fflush(stdout);
    cr_assert_stdout_eq_str(
        "[\"k0\",\"t\",{\"value\":\"x\",\"sequenceNumber\":1,"
        "\"sequenceSize\":1}]\n"
        "[\"k1\",\"t\",{\"value\":\"x\",\"sequenceNumber\":1,"
        "\"sequenceSize\":2}]\n"
        "[\"k1\",\"t\",{\"value\":\"y\",\"sequenceNumber\":2,"
        "\"sequenceSize\":2}]\n"
        "[\"k2\",\"t\",{\"value\":\"x\",\"sequenceNumber\":1,"
        "\"sequenceSize\":3}]\n"
        "[\"k2\",\"t\",{\"value\":\"y\",\"sequenceNumber\":2,"
        "\"sequenceSize\":3}]\n"
        "[\"k2\",\"t\",{\"value\":\"x\",\"sequenceNumber\":3,"
        "\"sequenceSize\":3}]\n"
        "[\"k3\",\"t\",{\"w\":0,\"sequenceNumber\":1,\"sequenceSize\":4}]\n"
        "[\"k3\",\"t\",{\"w\":1,\"sequenceNumber\":2,\"sequenceSize\":4}]\n"
        "[\"k3\",\"t\",{\"w\":2,\"sequenceNumber\":3,\"sequenceSize\":4}]\n"
        "[\"k3\",\"t\",{\"w\":3,\"sequenceNumber\":4,\"sequenceSize\":4}]\n");
}

Test(vocab, splitter_built_lists_sequence_none_and_non_lists, .timeout = 30,
     .init = cr_redirect_stdout)
{
    /* A list the expression builds, elements as they are; a non-list
     * result is one event with it as the payload. */
    char *p1[] = { "--expression=payload.n > 1 ? payload.kind : "
                   "{payload.n, 'z'}",
                   "--sequence=none", NULL };
    char *s[] = { NULL };
    free(run(&splitter_app, p1, &log_app, s));
    fflush(stdout);
    cr_assert_stdout_eq_str("0\n\"z\"\n1\n\"z\"\n\"A\"\n\"A\"\n");
}

Test(vocab, splitter_failures_go_to_the_error_output, .timeout = 30)
{
    char *p[] = { "--expression=payload.n / (payload.n - 1)", NULL };
    char *s[] = { NULL };
    char *json = run(&splitter_app, p, &counter_app, s);
    has(json, "\"name\": \"counter\", \"total\": 3}");
    free(json);
}

Test(vocab, header_enricher_sets_type_and_key, .timeout = 30,
     .init = cr_redirect_stdout)
{
    char *p[] = { "--headers.key=payload.n > 2 ? null : payload.kind",
                  "--headers.type='T' + payload.n", NULL };
    free(run(&header_enricher_app, p, &log_app, log_event));
    fflush(stdout);
    cr_assert_stdout_eq_str(
        "[\"A\",\"T0\",{\"kind\":\"A\",\"n\":0,\"ts\":1709211900,"
        "\"words\":[\"x\"]}]\n"
        "[\"B\",\"T1\",{\"kind\":\"B\",\"n\":1,\"ts\":1709211960,"
        "\"words\":[\"x\",\"y\"]}]\n"
        "[\"A\",\"T2\",{\"kind\":\"A\",\"n\":2,\"ts\":1709212020,"
        "\"words\":[\"x\",\"y\",\"x\"]}]\n"
        "[null,\"T3\",{\"kind\":\"A\",\"n\":3,\"ts\":1709212080,"
        "\"words\":[{\"w\":0,\"sequenceSize\":\"old\"},{\"w\":1,"
        "\"sequenceSize\":\"old\"},{\"w\":2,\"sequenceSize\":\"old\"},"
        "{\"w\":3,\"sequenceSize\":\"old\"}]}]\n");
}

Test(vocab, header_enricher_refuses_other_headers, .timeout = 30)
{
    flow_host *h = flow_host_new();
    char *a[] = { "header-enricher", "--flow.input=inproc://x",
                  "--headers.region=payload.r" };
    cr_assert_eq(flow_host_add(h, &header_enricher_app, 3, a), 0);
    cr_assert_neq(flow_host_run(h), 0);
    flow_host_destroy(&h);
}

Test(vocab, header_enricher_failures_go_to_the_error_output, .timeout = 30)
{
    char *p[] = { "--headers.type=payload.n > 1 ? '' : 'x'", NULL };
    char *s[] = { NULL };
    char *json = run(&header_enricher_app, p, &counter_app, s);
    has(json, "\"name\": \"counter\", \"total\": 2}");
    free(json);
}

Test(vocab, counter_name_expression_counts_per_result, .timeout = 30,
     .init = cr_redirect_stdout)
{
    char *s[] = { "--name-expression=payload.kind", NULL };
    char *json = run(NULL, NULL, &counter_app, s);
    has(json, "\"name\": \"A\", \"total\": 3}");
    has(json, "\"name\": \"B\", \"total\": 1}");
    free(json);
    /* One that fails (n / 0 for n = 0) goes to the error output. */
    char *s2[] = { "--name-expression='c' + 6 / payload.n", NULL };
    json = run(NULL, NULL, &counter_app, s2);
    has(json, "\"name\": \"c6\", \"total\": 1}");
    has(json, "\"name\": \"c3\", \"total\": 1}");
    has(json, "\"name\": \"c2\", \"total\": 1}");
    cr_assert_null(strstr(json, "\"name\": \"counter\""), "%s", json);
    free(json);
}

Test(vocab, counter_refuses_name_and_name_expression, .timeout = 30)
{
    flow_host *h = flow_host_new();
    char *a[] = { "counter", "--flow.input=inproc://x", "--name=x",
                  "--name-expression=payload.kind" };
    cr_assert_eq(flow_host_add(h, &counter_app, 4, a), 0);
    cr_assert_neq(flow_host_run(h), 0);
    flow_host_destroy(&h);
}

Test(vocab, field_value_counter_takes_an_expression, .timeout = 30)
{
    char *s[] = { "--field-name=payload.n > 1 ? 'big' : payload.kind", NULL };
    char *json = run(NULL, NULL, &field_value_counter_app, s);
    has(json, "\"big\": 2");
    has(json, "\"A\": 1");
    has(json, "\"B\": 1");
    free(json);
    /* A list the expression builds counts each element. */
    char *s2[] = { "--field-name={payload.kind, 'all'}", NULL };
    json = run(NULL, NULL, &field_value_counter_app, s2);
    has(json, "\"A\": 3");
    has(json, "\"B\": 1");
    has(json, "\"all\": 4");
    free(json);
}

Test(vocab, aggregate_counter_time_field_takes_an_expression, .timeout = 30,
     .init = cr_redirect_stdout)
{
    char *s[] = { "--name=agg", "--time-field=payload.ts * 1000", NULL };
    free(run(NULL, NULL, &aggregate_counter_app, s));
    fflush(stdout);
    cr_assert_stdout_eq_str(
        "{\"kind\": \"aggregate-counter\", \"name\": \"agg\", \"total\": 4, "
        "\"minute\": {\"1709211900\": 1, \"1709211960\": 1, "
        "\"1709212020\": 1, \"1709212080\": 1}, "
        "\"hour\": {\"1709211600\": 4}, \"day\": {\"1709164800\": 4}, "
        "\"month\": {\"1706745600\": 4}, \"year\": {\"1704067200\": 4}}\n");
}

Test(vocab, fieldsel_tells_paths_from_expressions)
{
    cr_assert(fieldsel_is_path("type"));
    cr_assert(fieldsel_is_path("customer.country"));
    cr_assert(fieldsel_is_path("first-name"));
    cr_assert(fieldsel_is_path("a_b.c-1"));
    cr_assert(fieldsel_is_path("payloads.x"));
    cr_assert_not(fieldsel_is_path("payload.type"));
    cr_assert_not(fieldsel_is_path("payload"));
    cr_assert_not(fieldsel_is_path("headers.key"));
    cr_assert_not(fieldsel_is_path("payload['type']"));
    cr_assert_not(fieldsel_is_path("a..b"));
    cr_assert_not(fieldsel_is_path("a."));
    cr_assert_not(fieldsel_is_path(""));
    cr_assert_not(fieldsel_is_path("a b"));

    struct fieldsel s;
    char why[512];
    cr_assert_eq(fieldsel_init(&s, "payload.amount >", why, sizeof(why)), -1);
    cr_assert(strchr(why, '^') != NULL, "%s", why);
    fieldsel_fini(&s);
}

Test(vocab, routes_map_values_to_destinations)
{
    struct routes rt;
    char why[512];
    cr_assert_eq(
        routes_init(&rt, "A:dest-a, B : b.x ,C:c:d", "other", why, sizeof(why)),
        0, "%s", why);
    cr_assert_str_eq(routes_pick(&rt, "A"), "dest-a");
    cr_assert_str_eq(routes_pick(&rt, "B"), "b.x");
    /* The destination is after the last ':', so a value may hold one. */
    cr_assert_str_eq(routes_pick(&rt, "C:c"), "d");
    cr_assert_str_eq(routes_pick(&rt, "Z"), "other");
    routes_fini(&rt);

    /* No default: an unmapped value has no destination. */
    cr_assert_eq(routes_init(&rt, "A:a", NULL, why, sizeof(why)), 0);
    cr_assert_null(routes_pick(&rt, "B"));
    routes_fini(&rt);

    /* No mappings: the value is the destination when it is a name. */
    cr_assert_eq(routes_init(&rt, NULL, "", why, sizeof(why)), 0);
    cr_assert_str_eq(routes_pick(&rt, "orders"), "orders");
    cr_assert_null(routes_pick(&rt, "not a name"));
    routes_fini(&rt);
    cr_assert_eq(routes_init(&rt, "", "dflt", why, sizeof(why)), 0);
    cr_assert_str_eq(routes_pick(&rt, "-x"), "dflt");
    routes_fini(&rt);
}

Test(vocab, routes_refuse_bad_mappings)
{
    struct routes rt;
    char why[512];
    cr_assert_eq(routes_init(&rt, "A:a,B", NULL, why, sizeof(why)), -1);
    cr_assert_str_eq(why, "--destination-mappings: 'B' is not "
                          "VALUE:DESTINATION");
    cr_assert_eq(routes_init(&rt, "A:a b", NULL, why, sizeof(why)), -1);
    cr_assert(strstr(why, "'a b' is not a destination name") != NULL, "%s",
              why);
    cr_assert_eq(routes_init(&rt, ":a", NULL, why, sizeof(why)), -1);
    cr_assert(strstr(why, "empty value") != NULL, "%s", why);
    cr_assert_eq(routes_init(&rt, "A:a,A:b", NULL, why, sizeof(why)), -1);
    cr_assert_str_eq(why, "--destination-mappings maps 'A' twice");
    cr_assert_eq(routes_init(&rt, NULL, "bad name", why, sizeof(why)), -1);
    cr_assert(strstr(why, "--default-output-channel 'bad name'") != NULL, "%s",
              why);
    cr_assert_eq(routes_name_ok("a", 1), true);
    cr_assert_eq(routes_name_ok("accounts.account-events", 23), true);
    cr_assert_eq(routes_name_ok(".a", 2), false);
    cr_assert_eq(routes_name_ok("", 0), false);
}

/* A router run by hand (no --flow.control) has nobody to add its
 * destinations: what it routes is counted in drops, what has no
 * destination in errors. */
Test(vocab, router_without_control_drops_and_rejects, .timeout = 30)
{
    char *s[] = { "--expression=payload.kind",
                  "--destination-mappings=A:dest-a", NULL };
    char *json = run(NULL, NULL, &router_app, s);
    has(json, "\"in\": 4,");
    has(json, "\"errors\": 1,");
    has(json, "\"drops\": 3,");
    free(json);
}
