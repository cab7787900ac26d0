/*
 * Module tests of the sinks: each runs in-process (flow-host threads over
 * inproc://) behind an injecting source, and its final counts are read
 * back from --flow.metrics-json or its output.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "apps.h"

#include "flow/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEVENTS 10

/* Ten events: tags is a list ["a", "b", "a"], state alternates, ts is
 * 2024-02-29 13:05:09.042 UTC in ms, plus nested.k and a missing field. */
static int inject_tick(flow_ctx *ctx)
{
    for (int i = 0; i < NEVENTS; i++) {
        flow_buf *b = flow_payload_buf(ctx);
        flow_mp_put_map(b, 4);
        flow_mp_put_cstr(b, "state");
        flow_mp_put_cstr(b, i % 2 ? "ACTIVE" : "PENDING");
        flow_mp_put_cstr(b, "tags");
        flow_mp_put_array(b, 3);
        flow_mp_put_cstr(b, "a");
        flow_mp_put_cstr(b, "b");
        flow_mp_put_cstr(b, "a");
        flow_mp_put_cstr(b, "ts");
        flow_mp_put_int(b, 1709211909042LL + i * 60000);
        flow_mp_put_cstr(b, "nested");
        flow_mp_put_map(b, 1);
        flow_mp_put_cstr(b, "k");
        flow_mp_put_int(b, i < 3 ? 7 : 8);
        cr_assert_eq(flow_emit(ctx, "t", NULL, 0, b->data, b->len), 0);
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

/* Runs inject | sink with the sink's options; returns its metrics JSON. */
static char *run(const flow_app_desc *sink, int argc, char **argv)
{
    char dir[] = "/tmp/flow-sink-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char ep[64], out[96], in[96], met[192], path[128];
    snprintf(ep, sizeof(ep), "inproc://sink-test-%d", (int)getpid());
    snprintf(out, sizeof(out), "--flow.output=@%s", ep);
    snprintf(in, sizeof(in), "--flow.input=%s", ep);
    snprintf(path, sizeof(path), "%s/m.json", dir);
    snprintf(met, sizeof(met), "--flow.metrics-json=%s", path);
    char *a1[] = { "inject", out };
    char *a2[16] = { (char *)sink->name, in, "--flow.eos-exit=1", met };
    int n = 4;
    for (int i = 0; i < argc && n < 16; i++)
        a2[n++] = argv[i];
    flow_host *h = flow_host_new();
    cr_assert_not_null(h);
    cr_assert_eq(flow_host_add(h, &inject_app, 2, a1), 0);
    cr_assert_eq(flow_host_add(h, sink, n, a2), 0);
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

Test(sinks, counter_counts_every_event, .timeout = 30,
     .init = cr_redirect_stdout)
{
    char *argv[] = { "--name=hits" };
    char *json = run(&counter_app, 1, argv);
    has(json, "\"name\": \"hits\", \"total\": 10}");
    has(json, "\"in\": 10,");
    free(json);
    fflush(stdout);
    cr_assert_stdout_eq_str(
        "{\"kind\": \"counter\", \"name\": \"hits\", \"total\": 10}\n");
}

/* With a control endpoint the counts go there, not to stdout. */
Test(sinks, counters_report_to_control_instead_of_stdout, .timeout = 30,
     .init = cr_redirect_stdout)
{
    char *argv[] = { "--name=hits", "--flow.control=tcp://127.0.0.1:9" };
    char *json = run(&counter_app, 2, argv);
    has(json, "\"name\": \"hits\", \"total\": 10}");
    free(json);
    char *fv[] = { "--field-name=state", "--flow.control=tcp://127.0.0.1:9" };
    json = run(&field_value_counter_app, 2, fv);
    free(json);
    char *ag[] = { "--flow.control=tcp://127.0.0.1:9" };
    json = run(&aggregate_counter_app, 1, ag);
    free(json);
    fflush(stdout);
    cr_assert_stdout_eq_str("");
}

/* What the sink printed on stdout (redirected), as one string. */
static char *printed(void)
{
    fflush(stdout);
    FILE *f = cr_get_redirected_stdout();
    char *buf = calloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    return buf;
}

Test(sinks, field_value_counter_prints_its_final_counts, .timeout = 30,
     .init = cr_redirect_stdout)
{
    char *argv[] = { "--field-name=nested.k", "--name=k" };
    free(run(&field_value_counter_app, 2, argv));
    char *out = printed();
    has(out, "{\"kind\": \"field-value-counter\", \"name\": \"k\", "
             "\"total\": 10, \"values\": {");
    has(out, "\"7\": 3");
    has(out, "\"8\": 7");
    free(out);
}

Test(sinks, field_value_counter_counts_values_and_list_elements, .timeout = 30)
{
    char *a1[] = { "--field-name=state" };
    char *json = run(&field_value_counter_app, 1, a1);
    has(json, "\"PENDING\": 5");
    has(json, "\"ACTIVE\": 5");
    free(json);

    char *a2[] = { "--field-name=tags", "--name=tags" };
    json = run(&field_value_counter_app, 2, a2);
    has(json, "\"a\": 20");
    has(json, "\"b\": 10");
    free(json);

    char *a3[] = { "--field-name=nested.k" };
    json = run(&field_value_counter_app, 1, a3);
    has(json, "\"7\": 3");
    has(json, "\"8\": 7");
    free(json);
}

Test(sinks, aggregate_counter_buckets_by_event_time, .timeout = 30,
     .init = cr_redirect_stdout)
{
    char *argv[] = { "--name=agg", "--time-field=ts" };
    char *json = run(&aggregate_counter_app, 2, argv);
    has(json, "\"kind\": \"aggregate-counter\", \"name\": \"agg\", "
              "\"total\": 10");
    free(json);
    fflush(stdout);
    /* Ten events one minute apart from 13:05: ten minute buckets, hours
     * 13:00 (13:05..13:59 holds all ten), one day, month and year. */
    cr_assert_stdout_eq_str(
        "{\"kind\": \"aggregate-counter\", \"name\": \"agg\", \"total\": 10, "
        "\"minute\": {\"1709211900\": 1, \"1709211960\": 1, "
        "\"1709212020\": 1, \"1709212080\": 1, \"1709212140\": 1, "
        "\"1709212200\": 1, \"1709212260\": 1, \"1709212320\": 1, "
        "\"1709212380\": 1, \"1709212440\": 1}, "
        "\"hour\": {\"1709211600\": 10}, \"day\": {\"1709164800\": 10}, "
        "\"month\": {\"1706745600\": 10}, \"year\": {\"1704067200\": 10}}\n");
}

Test(sinks, log_prints_json_lines, .timeout = 30, .init = cr_redirect_stdout)
{
    char *argv[] = { "--expression=payload.nested" };
    free(run(&log_app, 1, argv));
    fflush(stdout);
    cr_assert_stdout_eq_str("{\"k\":7}\n{\"k\":7}\n{\"k\":7}\n{\"k\":8}\n"
                            "{\"k\":8}\n{\"k\":8}\n{\"k\":8}\n{\"k\":8}\n"
                            "{\"k\":8}\n{\"k\":8}\n");
}

Test(sinks, bad_options_are_refused, .timeout = 30)
{
    flow_host *h = flow_host_new();
    char *a[] = { "field-value-counter", "--flow.input=inproc://x" };
    /* --field-name is required: a usage error before anything runs. */
    cr_assert_lt(flow_host_add(h, &field_value_counter_app, 2, a), 0);
    flow_host_destroy(&h);
}
