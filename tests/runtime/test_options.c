/* Unit tests: option parsing from the app's table and the --flow.* flags. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>

#include "ctx.h"
#include "flow/error.h"

static const char *const modes[] = { "fast", "slow", NULL };
static const flow_option opts[] = {
    { .name = "name",
      .type = FLOW_OPT_STRING,
      .def = "counter",
      .description = "The name." },
    { .name = "n",
      .type = FLOW_OPT_INT,
      .def = "10",
      .description = "A count." },
    { .name = "ratio",
      .type = FLOW_OPT_FLOAT,
      .def = "0.5",
      .description = "A ratio." },
    { .name = "on",
      .type = FLOW_OPT_BOOL,
      .def = "false",
      .description = "A switch." },
    { .name = "mode",
      .type = FLOW_OPT_ENUM,
      .def = "fast",
      .values = modes,
      .description = "A mode." },
    { .name = "every",
      .type = FLOW_OPT_DURATION,
      .def = "1s",
      .description = "A period." },
    { .name = "field",
      .type = FLOW_OPT_STRING,
      .required = true,
      .description = "A required field." },
    { .name = NULL },
};

static const flow_app_desc app = {
    .name = "opt-test",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Tests \"options\".",
    .options = opts,
};

static flow_ctx *parse(int *status, int argc, char **argv)
{
    return flow__ctx_new(&app, argc, argv, status);
}

Test(options, defaults_and_values)
{
    int status = -1;
    char *argv[] = { "x",           "--field=type",  "--n=-7",       "--on",
                     "--mode=slow", "--every=250us", "--ratio=1e-3", NULL };
    flow_ctx *ctx = parse(&status, 7, argv);
    cr_assert_not_null(ctx);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(flow_opt_str(ctx, "name"), "counter");
    cr_assert_not(flow_opt_is_set(ctx, "name"));
    cr_assert_str_eq(flow_opt_str(ctx, "field"), "type");
    cr_assert_eq(flow_opt_int(ctx, "n"), -7);
    cr_assert(flow_opt_bool(ctx, "on"));
    cr_assert_str_eq(flow_opt_enum(ctx, "mode"), "slow");
    cr_assert_eq(flow_opt_duration_us(ctx, "every"), 250);
    cr_assert_float_eq(flow_opt_float(ctx, "ratio"), 1e-3, 1e-12);
    cr_assert_str_eq(flow_label(ctx), "opt-test");
    flow__ctx_free(&ctx);
    cr_assert_null(ctx);
}

Test(options, durations)
{
    static const struct {
        const char *arg;
        int64_t us;
    } cases[] = { { "--every=2", 2000 },
                  { "--every=1.5s", 1500000 },
                  { "--every=3m", 180000000 },
                  { "--every=1h", 3600000000LL },
                  { "--every=10ms", 10000 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status;
        char *argv[] = { "x", "--field=f", (char *)cases[i].arg, NULL };
        flow_ctx *ctx = parse(&status, 3, argv);
        cr_assert_not_null(ctx, "%s", cases[i].arg);
        cr_assert_eq(flow_opt_duration_us(ctx, "every"), cases[i].us, "%s",
                     cases[i].arg);
        flow__ctx_free(&ctx);
    }
}

Test(options, runtime_flags)
{
    int status;
    char *argv[] = { "x",
                     "--field=f",
                     "--flow.input=ipc:///tmp/a,>tcp://127.0.0.1:5000",
                     "--flow.output=@inproc://b",
                     "--flow.label=lbl",
                     "--flow.stream=s",
                     "--flow.instance=3",
                     "--flow.hwm-events=1000",
                     "--flow.batch-linger-us=200",
                     "--flow.eos-exit=2",
                     NULL };
    flow_ctx *ctx = parse(&status, 10, argv);
    cr_assert_not_null(ctx);
    cr_assert_str_eq(flow_label(ctx), "lbl");
    cr_assert_str_eq(flow_stream(ctx), "s");
    cr_assert_eq(flow_instance(ctx), 3);
    cr_assert_eq(ctx->conf.hwm_events, 1000);
    cr_assert_eq(ctx->conf.linger_us, 200);
    cr_assert_eq(ctx->conf.eos_exit, 2);
    flow__ctx_free(&ctx);
}

Test(options, checkpoint_flags, .init = cr_redirect_stderr)
{
    int status;
    char *argv[] = { "x",
                     "--field=f",
                     "--flow.guarantee=at-least-once",
                     "--flow.upstreams=3",
                     "--flow.checkpoint-dir=/tmp/ck",
                     "--flow.restore=/tmp/a.0.snap,/tmp/a.1.snap",
                     "--flow.instances=2",
                     "--flow.key-groups=64",
                     NULL };
    flow_ctx *ctx = parse(&status, 8, argv);
    cr_assert_not_null(ctx);
    cr_assert_eq(ctx->conf.guarantee, FLOW_GUARANTEE_AT_LEAST_ONCE);
    cr_assert_eq(ctx->conf.upstreams, 3);
    cr_assert_str_eq(ctx->conf.ckpt_dir, "/tmp/ck");
    cr_assert_str_eq(ctx->conf.restore, "/tmp/a.0.snap,/tmp/a.1.snap");
    cr_assert_eq(ctx->conf.instances, 2);
    cr_assert_eq(ctx->conf.key_groups, 64);
    flow__ctx_free(&ctx);
    /* The defaults: no guarantee, one instance, 128 key groups. */
    char *none[] = { "x", "--field=f", NULL };
    ctx = parse(&status, 2, none);
    cr_assert_not_null(ctx);
    cr_assert_eq(ctx->conf.guarantee, FLOW_GUARANTEE_NONE);
    cr_assert_eq(ctx->conf.instances, 1);
    cr_assert_eq(ctx->conf.key_groups, 128);
    flow__ctx_free(&ctx);
    const char *wrong[] = { "--flow.guarantee=twice", "--flow.upstreams=0",
                            "--flow.instances=0", "--flow.key-groups=x" };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        char *bad_argv[] = { "x", "--field=f", (char *)wrong[i], NULL };
        status = -1;
        cr_assert_null(parse(&status, 3, bad_argv), "%s accepted", wrong[i]);
        cr_assert_eq(status, 2, "%s: status %d", wrong[i], status);
    }
}

/* Runs a bad command line and checks exit status 2 and the message. */
static void bad(const char *arg, const char *expect)
{
    int status = -1;
    char *argv[] = { "x", "--field=f", (char *)arg, NULL };
    flow_ctx *ctx = parse(&status, 3, argv);
    cr_assert_null(ctx, "%s accepted", arg);
    cr_assert_eq(status, 2, "%s: status %d", arg, status);
    (void)expect;
}

Test(options, errors_name_the_option, .init = cr_redirect_stderr)
{
    bad("--n=abc", NULL);
    bad("--n=", NULL);
    bad("--n=1x", NULL);
    bad("--ratio=fast", NULL);
    bad("--on=maybe", NULL);
    bad("--mode=medium", NULL);
    bad("--every=5 parsecs", NULL);
    bad("--every=-1s", NULL);
    bad("--nmae=1", NULL);
    bad("--flow.inptu=ipc:///x", NULL);
    bad("--flow.output=udp://x", NULL);
    bad("--flow.output=tcp://host", NULL);
    bad("--flow.output=ipc:///a;udp://b", NULL);
    bad("--flow.instance=-1", NULL);
    bad("--flow.hwm-events=0", NULL);
    bad("positional", NULL);
    bad("--name", NULL);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "flow-opt-test: option '--n': 'abc' is not an integer\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: option '--n': '' is not an integer\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: option '--n': '1x' is not an integer\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: option '--ratio': 'fast' is not a number\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: option '--on': 'maybe' is not true or false\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: option '--mode': 'medium' is not one of: fast, "
        "slow\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: option '--every': '5 parsecs' is not a duration "
        "such as 500ms, 2s, 1m (a bare number is ms)\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: option '--every': '-1s' is not a duration such as "
        "500ms, 2s, 1m (a bare number is ms)\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: unknown option '--nmae'; did you mean '--name'?\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: unknown runtime flag '--flow.inptu'; did you mean "
        "'--flow.input'?\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: --flow.output: endpoint 'udp://x': must start with "
        "ipc://, tcp:// or inproc:// (optionally prefixed by @ to bind or > "
        "to connect)\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: --flow.output: endpoint 'tcp://host': a tcp "
        "endpoint needs a port (tcp://host:port)\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: --flow.output: endpoint 'udp://b': must start with "
        "ipc://, tcp:// or inproc:// (optionally prefixed by @ to bind or > "
        "to connect)\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: --flow.instance=-1: expected an integer from 0 to "
        "4294967295\n"
        "flow-opt-test: --flow.hwm-events=0: must be at least 1\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: unexpected argument 'positional'; options are "
        "--key=value\n"
        "Try 'flow-opt-test --help'.\n"
        "flow-opt-test: option '--name' needs a value (--name=...)\n"
        "Try 'flow-opt-test --help'.\n");
}

Test(options, cpu_lists)
{
    cpu_set_t set;
    char err[160];
    cr_assert_eq(flow_cpus_parse("0", &set, err, sizeof(err)), 0);
    cr_assert_eq(CPU_COUNT(&set), 1);
    cr_assert(CPU_ISSET(0, &set));
    /* Every machine has CPU 0; a list may repeat it. */
    cr_assert_eq(flow_cpus_parse("0-0,0", &set, err, sizeof(err)), 0);
    cr_assert_eq(CPU_COUNT(&set), 1);
    const char *bad_lists[] = { "",   "x",   "0-", "-1",  "0,",
                                ",0", "1-0", "0 ", "0-x", "0--1" };
    for (size_t i = 0; i < sizeof(bad_lists) / sizeof(bad_lists[0]); i++) {
        cr_assert_eq(flow_cpus_parse(bad_lists[i], &set, err, sizeof(err)), -1,
                     "'%s' accepted", bad_lists[i]);
        cr_assert(strstr(err, "CPU list"), "%s: %s", bad_lists[i], err);
    }
    cr_assert_eq(flow_cpus_parse("100000", &set, err, sizeof(err)), -1);
    cr_assert(strstr(err, "CPU 100000 is not one"), "%s", err);
}

Test(options, cpus_flag, .init = cr_redirect_stderr)
{
    int status;
    char *argv[] = { "x", "--field=f", "--flow.cpus=0", NULL };
    flow_ctx *ctx = parse(&status, 3, argv);
    cr_assert_not_null(ctx);
    cr_assert_str_eq(ctx->conf.cpus, "0");
    flow__ctx_free(&ctx);
    bad("--flow.cpus=a", NULL);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "flow-opt-test: --flow.cpus=a: expected a CPU list such as 0, 0-1 "
        "or 0,2-3 (numbers from 0)\n"
        "Try 'flow-opt-test --help'.\n");
}

Test(options, required_option_missing, .init = cr_redirect_stderr)
{
    int status = -1;
    char *argv[] = { "x", NULL };
    cr_assert_null(parse(&status, 1, argv));
    cr_assert_eq(status, 2);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "flow-opt-test: option '--field' is required (A required field.)\n"
        "Try 'flow-opt-test --help'.\n");
}

Test(options, describe_is_json, .init = cr_redirect_stdout)
{
    int status = -1;
    char *argv[] = { "x", "--describe", NULL };
    cr_assert_null(parse(&status, 2, argv));
    cr_assert_eq(status, 0);
    fflush(stdout);
    cr_assert_stdout_eq_str(
        "{\"name\": \"opt-test\", \"role\": \"processor\", \"description\": "
        "\"Tests \\\"options\\\".\", \"options\": ["
        "{\"name\": \"name\", \"type\": \"string\", \"default\": "
        "\"counter\", \"required\": false, \"description\": \"The name.\", "
        "\"values\": null}, "
        "{\"name\": \"n\", \"type\": \"int\", \"default\": 10, \"min\": null, "
        "\"max\": null, \"required\": false, \"description\": \"A count.\", "
        "\"values\": null}, "
        "{\"name\": \"ratio\", \"type\": \"float\", \"default\": 0.5, "
        "\"min\": null, \"max\": null, \"required\": false, \"description\": "
        "\"A ratio.\", \"values\": null}, "
        "{\"name\": \"on\", \"type\": \"bool\", \"default\": false, "
        "\"required\": false, \"description\": \"A switch.\", \"values\": "
        "null}, "
        "{\"name\": \"mode\", \"type\": \"enum\", \"default\": \"fast\", "
        "\"required\": false, \"description\": \"A mode.\", \"values\": "
        "[\"fast\", \"slow\"]}, "
        "{\"name\": \"every\", \"type\": \"duration\", \"default\": \"1s\", "
        "\"min\": null, \"max\": null, \"required\": false, \"description\": "
        "\"A period.\", \"values\": "
        "null}, "
        "{\"name\": \"field\", \"type\": \"string\", \"default\": null, "
        "\"required\": true, \"description\": \"A required field.\", "
        "\"values\": null}]}\n");
}

Test(options, help_lists_options_and_flags, .init = cr_redirect_stdout)
{
    int status = -1;
    char *argv[] = { "x", "--help", NULL };
    cr_assert_null(parse(&status, 2, argv));
    cr_assert_eq(status, 0);
    fflush(stdout);
    char buf[8192] = { 0 };
    FILE *f = cr_get_redirected_stdout();
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    cr_assert(strstr(buf, "--mode=<enum>"));
    cr_assert(strstr(buf, "one of: fast, slow"));
    cr_assert(strstr(buf, "--flow.output="));
    cr_assert(strstr(buf, "default: counter"));
}

static const flow_option path_opts[] = {
    { .name = "out", .type = FLOW_OPT_PATH, .description = "An output." },
    { .name = "in", .type = FLOW_OPT_PATH_READ, .description = "An input." },
    { .name = "log", .type = FLOW_OPT_PATH_APPEND, .description = "A log." },
    { .name = NULL },
};

static const flow_app_desc path_app = {
    .name = "path-test",
    .role = FLOW_ROLE_SINK,
    .description = "Paths.",
    .options = path_opts,
};

Test(options, describe_path_types, .init = cr_redirect_stdout)
{
    int status = -1;
    char *argv[] = { "x", "--describe", NULL };
    cr_assert_null(flow__ctx_new(&path_app, 2, argv, &status));
    cr_assert_eq(status, 0);
    fflush(stdout);
    cr_assert_stdout_eq_str(
        "{\"name\": \"path-test\", \"role\": \"sink\", \"description\": "
        "\"Paths.\", \"options\": ["
        "{\"name\": \"out\", \"type\": \"path\", \"default\": null, "
        "\"required\": false, \"description\": \"An output.\", \"access\": "
        "\"write\", \"values\": null}, "
        "{\"name\": \"in\", \"type\": \"path\", \"default\": null, "
        "\"required\": false, \"description\": \"An input.\", \"access\": "
        "\"read\", \"values\": null}, "
        "{\"name\": \"log\", \"type\": \"path\", \"default\": null, "
        "\"required\": false, \"description\": \"A log.\", \"access\": "
        "\"append\", \"values\": null}]}\n");
}

/* A path outside the allowed directories stops the app at start, with
 * the option named; so does an empty one. */
Test(options, path_refused_at_start, .init = cr_redirect_stderr)
{
    int status = -1;
    char *argv[] = { "x", "--flow.instance-dir=/nonexistent-instance",
                     "--flow.allow-path=/nonexistent-allowed",
                     "--in=/elsewhere/x", NULL };
    cr_assert_null(flow__ctx_new(&path_app, 4, argv, &status));
    cr_assert_eq(status, 2);
    char *argv2[] = { "x", "--flow.allow-path=relative", NULL };
    cr_assert_null(flow__ctx_new(&path_app, 2, argv2, &status));
    cr_assert_eq(status, 2);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "flow-path-test: --in: /elsewhere/x is outside the allowed "
        "directories (flowd --allow-path)\n"
        "flow-path-test: --flow.allow-path=relative: give an absolute "
        "directory\n"
        "Try 'flow-path-test --help'.\n");
}

/* An app whose options fill its state struct, one field of each type,
 * with bounds on the ordered ones. */
struct field_state {
    int64_t before; /* not an option: stays zero */
    const char *name;
    int64_t n;
    double ratio;
    bool on;
    const char *mode;
    int64_t every_us;
    const char *out;
    const char *unset;
};

static const flow_option field_opts[] = {
    { .name = "name",
      .type = FLOW_OPT_STRING,
      .def = "counter",
      FLOW_OPT_FIELD(struct field_state, name),
      .description = "A name." },
    { .name = "n",
      .type = FLOW_OPT_INT,
      .def = "10",
      .min = "1",
      .max = "100",
      FLOW_OPT_FIELD(struct field_state, n),
      .description = "A count." },
    { .name = "ratio",
      .type = FLOW_OPT_FLOAT,
      .def = "0.5",
      .min = "0",
      .max = "1",
      FLOW_OPT_FIELD(struct field_state, ratio),
      .description = "A ratio." },
    { .name = "on",
      .type = FLOW_OPT_BOOL,
      .def = "false",
      FLOW_OPT_FIELD(struct field_state, on),
      .description = "A switch." },
    { .name = "mode",
      .type = FLOW_OPT_ENUM,
      .def = "fast",
      .values = modes,
      FLOW_OPT_FIELD(struct field_state, mode),
      .description = "A mode." },
    { .name = "every",
      .type = FLOW_OPT_DURATION,
      .def = "1s",
      .min = "10ms",
      FLOW_OPT_FIELD(struct field_state, every_us),
      .description = "A period." },
    { .name = "out",
      .type = FLOW_OPT_PATH,
      FLOW_OPT_FIELD(struct field_state, out),
      .description = "A file." },
    { .name = "unset",
      .type = FLOW_OPT_STRING,
      FLOW_OPT_FIELD(struct field_state, unset),
      .description = "No default." },
    { .name = "neg",
      .type = FLOW_OPT_INT,
      .def = "0",
      .max = "0",
      .description = "No field, only a maximum." },
    { .name = NULL },
};

static const flow_app_desc field_app = {
    .name = "field-test",
    .role = FLOW_ROLE_SINK,
    .description = "Fields.",
    .options = field_opts,
    .state_size = sizeof(struct field_state),
};

Test(options, fields_filled_at_their_offsets)
{
    int status = -1;
    char *argv[] = { "x",        "--name=c2",   "--n=100",    "--ratio=0.25",
                     "--on",     "--mode=slow", "--every=2s", "--out=x.json",
                     "--neg=-5", NULL };
    flow_ctx *ctx = flow__ctx_new(&field_app, 9, argv, &status);
    cr_assert_not_null(ctx);
    cr_assert_eq(status, 0);
    const struct field_state *st = flow_state(ctx);
    cr_assert_not_null(st);
    cr_assert_eq(st->before, 0);
    cr_assert_str_eq(st->name, "c2");
    cr_assert_eq(st->n, 100);
    cr_assert_float_eq(st->ratio, 0.25, 1e-12);
    cr_assert(st->on);
    cr_assert_str_eq(st->mode, "slow");
    cr_assert_eq(st->every_us, 2000000);
    cr_assert_str_eq(st->out, "x.json");
    cr_assert_null(st->unset);
    /* The getters still agree with the fields. */
    cr_assert_eq(flow_opt_int(ctx, "n"), 100);
    cr_assert_eq(flow_opt_int(ctx, "neg"), -5);
    flow__ctx_free(&ctx);
}

Test(options, fields_take_the_defaults)
{
    int status = -1;
    char *argv[] = { "x", NULL };
    flow_ctx *ctx = flow__ctx_new(&field_app, 1, argv, &status);
    cr_assert_not_null(ctx);
    const struct field_state *st = flow_state(ctx);
    cr_assert_not_null(st);
    cr_assert_str_eq(st->name, "counter");
    cr_assert_eq(st->n, 10);
    cr_assert_float_eq(st->ratio, 0.5, 1e-12);
    cr_assert_not(st->on);
    cr_assert_str_eq(st->mode, "fast");
    cr_assert_eq(st->every_us, 1000000);
    cr_assert_null(st->out);
    cr_assert_null(st->unset);
    flow__ctx_free(&ctx);
}

/* An app without state_size has no state until it sets one. */
Test(options, no_state_without_state_size)
{
    int status = -1;
    char *argv[] = { "x", "--field=f", NULL };
    flow_ctx *ctx = parse(&status, 2, argv);
    cr_assert_not_null(ctx);
    cr_assert_null(flow_state(ctx));
    flow__ctx_free(&ctx);
}

static void out_of_range(const char *arg)
{
    int status = -1;
    char *argv[] = { "x", (char *)arg, NULL };
    cr_assert_null(flow__ctx_new(&field_app, 2, argv, &status), "%s", arg);
    cr_assert_eq(status, 2, "%s: status %d", arg, status);
}

Test(options, bounds_refuse_with_the_range, .init = cr_redirect_stderr)
{
    out_of_range("--n=0");
    out_of_range("--n=101");
    out_of_range("--ratio=-0.01");
    out_of_range("--ratio=1.5");
    out_of_range("--every=9ms");
    out_of_range("--every=9999us");
    out_of_range("--neg=1");
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "flow-field-test: option '--n': 0 is below the minimum 1 (the range "
        "is 1 to 100)\n"
        "Try 'flow-field-test --help'.\n"
        "flow-field-test: option '--n': 101 is above the maximum 100 (the "
        "range is 1 to 100)\n"
        "Try 'flow-field-test --help'.\n"
        "flow-field-test: option '--ratio': -0.01 is below the minimum 0 "
        "(the range is 0 to 1)\n"
        "Try 'flow-field-test --help'.\n"
        "flow-field-test: option '--ratio': 1.5 is above the maximum 1 (the "
        "range is 0 to 1)\n"
        "Try 'flow-field-test --help'.\n"
        "flow-field-test: option '--every': 9ms is below the minimum 10ms\n"
        "Try 'flow-field-test --help'.\n"
        "flow-field-test: option '--every': 9999us is below the minimum "
        "10ms\n"
        "Try 'flow-field-test --help'.\n"
        "flow-field-test: option '--neg': 1 is above the maximum 0\n"
        "Try 'flow-field-test --help'.\n");
}

/* The bounds themselves are accepted. */
Test(options, bounds_are_inclusive)
{
    int status = -1;
    char *argv[] = { "x",         "--n=1", "--ratio=1", "--every=10ms",
                     "--neg=-99", NULL };
    flow_ctx *ctx = flow__ctx_new(&field_app, 5, argv, &status);
    cr_assert_not_null(ctx);
    const struct field_state *st = flow_state(ctx);
    cr_assert_eq(st->n, 1);
    cr_assert_float_eq(st->ratio, 1, 1e-12);
    cr_assert_eq(st->every_us, 10000);
    flow__ctx_free(&ctx);
}

Test(options, describe_shows_the_bounds, .init = cr_redirect_stdout)
{
    int status = -1;
    char *argv[] = { "x", "--describe", NULL };
    cr_assert_null(flow__ctx_new(&field_app, 2, argv, &status));
    cr_assert_eq(status, 0);
    fflush(stdout);
    char buf[8192] = { 0 };
    FILE *f = cr_get_redirected_stdout();
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    cr_assert(strstr(buf, "{\"name\": \"n\", \"type\": \"int\", \"default\": "
                          "10, \"min\": 1, \"max\": 100, \"required\""),
              "%s", buf);
    cr_assert(strstr(buf, "\"type\": \"float\", \"default\": 0.5, \"min\": "
                          "0, \"max\": 1, \"required\""),
              "%s", buf);
    cr_assert(strstr(buf, "\"type\": \"duration\", \"default\": \"1s\", "
                          "\"min\": \"10ms\", \"max\": null, \"required\""),
              "%s", buf);
    cr_assert(strstr(buf, "{\"name\": \"neg\", \"type\": \"int\", "
                          "\"default\": 0, \"min\": null, \"max\": 0, "),
              "%s", buf);
    /* Types without order have no bounds. */
    cr_assert(strstr(buf, "{\"name\": \"name\", \"type\": \"string\", "
                          "\"default\": \"counter\", \"required\""),
              "%s", buf);
}

Test(options, help_shows_the_bounds, .init = cr_redirect_stdout)
{
    int status = -1;
    char *argv[] = { "x", "--help", NULL };
    cr_assert_null(flow__ctx_new(&field_app, 2, argv, &status));
    cr_assert_eq(status, 0);
    fflush(stdout);
    char buf[8192] = { 0 };
    FILE *f = cr_get_redirected_stdout();
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    cr_assert(strstr(buf, "  --n=<int>\n      A count.\n      range: 1 to "
                          "100\n      default: 10\n"),
              "%s", buf);
    cr_assert(strstr(buf, "      at least 10ms\n"), "%s", buf);
    cr_assert(strstr(buf, "      at most 0\n"), "%s", buf);
}

/* Tables that break the rules of flow/app.h: the app says which row and
 * exits 1, before anything else (--describe too). */
struct small_state {
    int32_t n;
};

static void table_bug(const flow_option *rows, size_t state_size,
                      const char *expect)
{
    const flow_app_desc bug_app = {
        .name = "bug",
        .role = FLOW_ROLE_SINK,
        .description = "Bad table.",
        .options = rows,
        .state_size = state_size,
    };
    int status = -1;
    char *argv[] = { "x", "--describe", NULL };
    cr_assert_null(flow__ctx_new(&bug_app, 2, argv, &status), "%s", expect);
    cr_assert_eq(status, 1, "%s: status %d", expect, status);
    (void)expect;
}

static const flow_option wrong_size[] = {
    { .name = "n",
      .type = FLOW_OPT_INT,
      FLOW_OPT_FIELD(struct small_state, n) },
    { .name = NULL },
};
static const flow_option outside[] = {
    { .name = "n",
      .type = FLOW_OPT_INT,
      FLOW_OPT_FIELD(struct field_state, n) },
    { .name = NULL },
};
static const flow_option bound_on_string[] = {
    { .name = "s", .type = FLOW_OPT_STRING, .min = "a" },
    { .name = NULL },
};
static const flow_option bad_bound[] = {
    { .name = "n", .type = FLOW_OPT_INT, .max = "ten" },
    { .name = NULL },
};
static const flow_option crossed[] = {
    { .name = "n", .type = FLOW_OPT_INT, .min = "5", .max = "4" },
    { .name = NULL },
};
static const flow_option bad_default[] = {
    { .name = "n", .type = FLOW_OPT_INT, .def = "0", .min = "1" },
    { .name = NULL },
};

Test(options, table_bugs_are_caught, .init = cr_redirect_stderr)
{
    table_bug(wrong_size, sizeof(struct small_state), "size");
    table_bug(outside, sizeof(int64_t), "outside");
    table_bug(bound_on_string, 0, "string");
    table_bug(bad_bound, 0, "bound");
    table_bug(crossed, 0, "crossed");
    table_bug(bad_default, 0, "default");
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "flow-bug: bug: option '--n' fills a field of 4 bytes; its type int "
        "takes 8\n"
        "flow-bug: bug: option '--n' fills a field outside the app state "
        "(offset 16, state_size 8)\n"
        "flow-bug: bug: option '--s' has a min or max but is a string (only "
        "int, float and duration have bounds)\n"
        "flow-bug: bug: the max 'ten' of option '--n' does not parse\n"
        "flow-bug: bug: option '--n' has min 5 above max 4\n"
        "flow-bug: bug: the default of option '--n': 0 is below the minimum "
        "1\n");
}
