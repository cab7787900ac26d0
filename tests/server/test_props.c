#include <criterion/criterion.h>
#include <string.h>

#include "props.h"

static const char *const labels[] = { "load-sim", "account-events", "counter" };

static int parse(const char *text, json_t **out, char *err, size_t len)
{
    json_t *in = json_loads(text, 0, NULL);
    cr_assert_not_null(in, "bad test JSON: %s", text);
    int rc = srv_props_parse(in, labels, 3, out, err, len);
    json_decref(in);
    return rc;
}

Test(props, accepts_the_scdf_forms)
{
    json_t *p;
    char err[256];

    cr_assert_eq(parse("{\"app.counter.name\": \"hits\","
                       " \"app.*.delay-us\": 5,"
                       " \"deployer.counter.count\": 3,"
                       " \"deployer.*.transport\": \"tcp\","
                       " \"deployer.packaging\": \"single\"}",
                       &p, err, sizeof err),
                 0, "%s", err);
    cr_assert_str_eq(json_string_value(json_object_get(p, "app.*.delay-us")),
                     "5", "numbers become strings");
    cr_assert_eq(srv_props_deployer_int(p, "counter", "count", 1), 3);
    cr_assert_eq(srv_props_deployer_int(p, "load-sim", "count", 1), 1);
    cr_assert_str_eq(srv_props_deployer(p, "load-sim", "transport"), "tcp");
    cr_assert_str_eq(srv_props_packaging(p), "single");
    json_decref(p);
}

Test(props, empty_and_null)
{
    json_t *p;
    char err[256];

    cr_assert_eq(srv_props_parse(NULL, labels, 3, &p, err, sizeof err), 0);
    cr_assert_eq(json_object_size(p), 0);
    cr_assert_str_eq(srv_props_packaging(p), "multi");
    json_decref(p);
}

static void refused(const char *text, const char *needle)
{
    json_t *p = NULL;
    char err[512] = "";

    cr_assert_eq(parse(text, &p, err, sizeof err), -SRV_EPROPS, "accepted %s",
                 text);
    cr_assert_null(p);
    cr_assert(strstr(err, needle), "'%s' lacks '%s'", err, needle);
}

Test(props, refuses_with_a_message)
{
    refused("{\"spring.x\": \"1\"}", "allowed are app.<label>.<option>");
    refused("{\"app.nosuch.x\": \"1\"}", "'nosuch'");
    refused("{\"app.counter\": \"1\"}", "needs a label and a name");
    refused("{\"deployer.counter.count\": \"0\"}", "from 1 to 64");
    refused("{\"deployer.counter.count\": \"65\"}", "from 1 to 64");
    refused("{\"deployer.counter.count\": \"two\"}", "'two'");
    refused("{\"deployer.counter.heap\": \"1g\"}", "unknown deployer");
    refused("{\"deployer.*.transport\": \"udp\"}", "ipc or tcp");
    refused("{\"deployer.packaging\": \"docker\"}", "multi or single");
    refused("{\"app.counter.name\": [1]}", "string, number or boolean");
    refused("[1, 2]", "JSON object");
}

Test(props, error_threshold_is_a_percentage)
{
    json_t *p;
    char err[256];

    cr_assert_eq(parse("{\"deployer.account-events.errorThreshold\": 90,"
                       " \"deployer.*.errorThreshold\": \"0\"}",
                       &p, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(
        srv_props_deployer_int(p, "account-events", "errorThreshold", 50), 90);
    cr_assert_eq(srv_props_deployer_int(p, "counter", "errorThreshold", 50), 0);
    json_decref(p);
    refused("{\"deployer.counter.errorThreshold\": \"101\"}",
            "'deployer.counter.errorThreshold' must be a percentage from 0 "
            "to 100");
    refused("{\"deployer.*.errorThreshold\": \"50%\"}", "not '50%'");
    refused("{\"deployer.*.errorRatio\": \"5\"}", "errorThreshold");
}

Test(props, resources_as_scdf_spells_them)
{
    json_t *p;
    char err[256];

    cr_assert_eq(parse("{\"deployer.counter.memory\": \"512m\","
                       " \"deployer.*.memory\": \"2g\","
                       " \"deployer.*.cpu\": \"500m\","
                       " \"deployer.counter.cpu\": \"1.5\","
                       " \"deployer.*.disk\": \"1024\"}",
                       &p, err, sizeof err),
                 0, "%s", err);
    cr_assert_str_eq(srv_props_deployer(p, "counter", "memory"), "512m");
    cr_assert_str_eq(srv_props_deployer(p, "time", "memory"), "2g");
    cr_assert_str_eq(srv_props_deployer(p, "counter", "cpu"), "1.5");
    json_decref(p);
    refused("{\"deployer.counter.memory\": \"512Mi\"}",
            "mebibytes as SCDF spells them");
    refused("{\"deployer.counter.memory\": \"0\"}", "not '0'");
    refused("{\"deployer.*.disk\": \"lots\"}", "not 'lots'");
    refused("{\"deployer.counter.cpu\": \"0.5m\"}", "millicores");
    refused("{\"deployer.counter.cpu\": \"-1\"}", "not '-1'");
    refused("{\"deployer.counter.cpu\": \"1e3\"}", "not '1e3'");
}

struct seen {
    char text[512];
};

static void collect(void *ud, const char *k, const char *v)
{
    struct seen *s = ud;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%s=%s;", k, v);
}

Test(props, label_options_win_over_star)
{
    json_t *p;
    char err[256];
    struct seen s = { "" };

    cr_assert_eq(parse("{\"app.*.name\": \"all\", \"app.counter.name\":"
                       " \"mine\", \"app.*.x\": \"1\"}",
                       &p, err, sizeof err),
                 0);
    srv_props_app_options(p, "counter", collect, &s);
    cr_assert(strstr(s.text, "name=mine;"), "%s", s.text);
    cr_assert(!strstr(s.text, "name=all;"), "%s", s.text);
    cr_assert(strstr(s.text, "x=1;"), "%s", s.text);
    s.text[0] = '\0';
    srv_props_app_options(p, "load-sim", collect, &s);
    cr_assert(strstr(s.text, "name=all;"), "%s", s.text);
    json_decref(p);
}

/* Option values: the stream "load-sim | account-events | log", with the
 * apps' option tables as their --describe gives them. */
static const char *const describes[] = {
    "{\"name\": \"load-sim\", \"role\": \"source\", \"options\": ["
    " {\"name\": \"rate\", \"type\": \"int\", \"default\": 1000},"
    " {\"name\": \"period\", \"type\": \"duration\", \"default\": \"1s\"},"
    " {\"name\": \"ratio\", \"type\": \"float\", \"default\": 0.5},"
    " {\"name\": \"name\", \"type\": \"string\", \"default\": null}]}",
    "{\"name\": \"account-events\", \"role\": \"processor\", \"options\": ["
    " {\"name\": \"strict\", \"type\": \"bool\", \"default\": false},"
    " {\"name\": \"name\", \"type\": \"string\", \"default\": null}]}",
    "{\"name\": \"log\", \"role\": \"sink\", \"options\": ["
    " {\"name\": \"level\", \"type\": \"enum\", \"default\": \"INFO\","
    "  \"values\": [\"TRACE\", \"DEBUG\", \"INFO\", \"WARN\", \"ERROR\"]}]}",
};
static const char *const vlabels[] = { "load-sim", "account-events", "log" };

static int check_values(const char *text, char *err, size_t len)
{
    dsl_registry *r = dsl_registry_new();
    const dsl_app_info *infos[3];
    json_t *p = NULL;
    char perr[256];

    cr_assert_not_null(r);
    for (size_t k = 0; k < 3; k++) {
        char *e = NULL;
        cr_assert_eq(dsl_registry_add_describe(r, describes[k],
                                               strlen(describes[k]), &e),
                     0, "%s", e);
        infos[k] = dsl_registry_find(r, vlabels[k], DSL_ROLE_ANY);
    }
    json_t *in = json_loads(text, 0, NULL);
    cr_assert_not_null(in, "bad test JSON: %s", text);
    cr_assert_eq(srv_props_parse(in, vlabels, 3, &p, perr, sizeof perr), 0,
                 "%s", perr);
    err[0] = '\0';
    int rc = srv_props_check_apps(p, "acc", vlabels, infos, 3, err, len);
    json_decref(in);
    json_decref(p);
    dsl_registry_destroy(&r);
    return rc;
}

static void value_refused(const char *text, const char *msg)
{
    char err[512];

    cr_assert_eq(check_values(text, err, sizeof err), -SRV_EPROPS,
                 "accepted %s", text);
    cr_assert_str_eq(err, msg);
}

Test(props, values_follow_the_option_table)
{
    char err[512];

    cr_assert_eq(check_values("{\"app.log.level\": \"WARN\","
                              " \"app.load-sim.rate\": 20,"
                              " \"app.load-sim.period\": \"250ms\","
                              " \"app.load-sim.ratio\": 0.25,"
                              " \"app.account-events.strict\": true,"
                              " \"app.*.name\": \"anything\"}",
                              err, sizeof err),
                 0, "%s", err);
    value_refused("{\"app.log.level\": \"LOUD\"}",
                  "deployment property 'app.log.level': 'LOUD' is not one "
                  "of TRACE, DEBUG, INFO, WARN, ERROR");
    value_refused("{\"app.log.level\": \"WARM\"}",
                  "deployment property 'app.log.level': 'WARM' is not one "
                  "of TRACE, DEBUG, INFO, WARN, ERROR; did you mean 'WARN'?");
    value_refused("{\"app.load-sim.rate\": \"fast\"}",
                  "deployment property 'app.load-sim.rate': 'fast' is not "
                  "an integer");
    value_refused("{\"app.load-sim.rate\": 1.5}",
                  "deployment property 'app.load-sim.rate': '1.5' is not "
                  "an integer");
    value_refused("{\"app.load-sim.period\": \"soon\"}",
                  "deployment property 'app.load-sim.period': 'soon' is not "
                  "a duration such as 500ms, 2s or 1m (a bare number is ms)");
    value_refused("{\"app.load-sim.ratio\": \"half\"}",
                  "deployment property 'app.load-sim.ratio': 'half' is not "
                  "a number");
    value_refused("{\"app.account-events.strict\": \"maybe\"}",
                  "deployment property 'app.account-events.strict': 'maybe' "
                  "is not true or false");
    value_refused("{\"app.log.name\": \"x\"}",
                  "deployment property 'app.log.name': app 'log' has no "
                  "option 'name'");
}

Test(props, star_values_are_checked_for_every_app_that_has_the_option)
{
    char err[512];

    /* Only log has --level: the value is checked against its table. */
    value_refused("{\"app.*.level\": \"LOUD\"}",
                  "deployment property 'app.*.level': 'LOUD' is not one of "
                  "TRACE, DEBUG, INFO, WARN, ERROR");
    cr_assert_eq(check_values("{\"app.*.level\": \"ERROR\"}", err, sizeof err),
                 0, "%s", err);
    value_refused("{\"app.*.nonesuch\": \"1\"}",
                  "deployment property 'app.*.nonesuch': no app of stream "
                  "'acc' has an option 'nonesuch'");
}

Test(props, an_unregistered_app_is_left_to_the_deployer)
{
    const char *const l[] = { "x" };
    const dsl_app_info *const none[] = { NULL };
    json_t *p = json_pack("{s:s,s:s}", "app.x.level", "LOUD", "app.*.y", "1");
    char err[256] = "";

    cr_assert_eq(srv_props_check_apps(p, "s", l, none, 1, err, sizeof err), 0,
                 "%s", err);
    json_decref(p);
}

Test(props, flow_properties_have_defaults_and_are_read)
{
    json_t *p;
    char err[256];
    srv_flow_props f;

    srv_props_flow(NULL, &f);
    cr_assert_eq(f.guarantee, SRV_GUARANTEE_EXACTLY_ONCE);
    cr_assert_not(f.guarantee_set);
    cr_assert_eq(f.interval_ms, 1000);
    cr_assert_eq(f.timeout_ms, 10000);
    cr_assert_eq(f.retain, 3);
    cr_assert_eq(f.key_groups, 128);
    cr_assert_eq(parse("{\"flow.guarantee\": \"at-least-once\","
                       " \"flow.checkpoint.interval\": \"250ms\","
                       " \"flow.checkpoint.timeout\": \"2m\","
                       " \"flow.checkpoint.retain\": 5,"
                       " \"flow.key-groups\": 256}",
                       &p, err, sizeof err),
                 0, "%s", err);
    srv_props_flow(p, &f);
    cr_assert_eq(f.guarantee, SRV_GUARANTEE_AT_LEAST_ONCE);
    cr_assert(f.guarantee_set);
    cr_assert_eq(f.interval_ms, 250);
    cr_assert_eq(f.timeout_ms, 120000);
    cr_assert_eq(f.retain, 5);
    cr_assert_eq(f.key_groups, 256);
    json_decref(p);
    cr_assert_str_eq(srv_guarantee_name(SRV_GUARANTEE_NONE), "none");
}

Test(props, bad_flow_properties_are_refused_by_name)
{
    static const char *const bad[][2] = {
        { "{\"flow.guarantee\": \"twice\"}", "'flow.guarantee'" },
        { "{\"flow.checkpoint.interval\": \"fast\"}",
          "'flow.checkpoint.interval'" },
        { "{\"flow.checkpoint.interval\": \"5ms\"}",
          "'flow.checkpoint.interval'" },
        { "{\"flow.checkpoint.timeout\": \"2h\"}",
          "'flow.checkpoint.timeout'" },
        { "{\"flow.checkpoint.retain\": 0}", "'flow.checkpoint.retain'" },
        { "{\"flow.key-groups\": 8}", "'flow.key-groups'" },
        { "{\"flow.parallel\": 2}", "'flow.parallel'" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        json_t *p = NULL;
        char err[512] = "";
        cr_assert_eq(parse(bad[k][0], &p, err, sizeof err), -SRV_EPROPS,
                     "%s accepted", bad[k][0]);
        cr_assert_null(p);
        cr_assert_not_null(strstr(err, bad[k][1]), "%s: %s", bad[k][0], err);
    }
}

/* app.<label>.partition-key is flowd's: accepted whatever the app's
 * options, never passed to the app as an option, refused for every app
 * at once or empty. */
Test(props, partition_key_is_not_an_app_option)
{
    char err[512];
    json_t *p;
    struct seen s = { "" };

    cr_assert_eq(check_values("{\"app.account-events.partition-key\": "
                              "\"key\", \"app.log.partition-key\": "
                              "\"customer.id\"}",
                              err, sizeof err),
                 0, "%s", err);
    value_refused("{\"app.*.partition-key\": \"key\"}",
                  "deployment property 'app.*.partition-key': name the app "
                  "(app.<label>.partition-key)");
    value_refused("{\"app.log.partition-key\": \"\"}",
                  "deployment property 'app.log.partition-key': give 'key' "
                  "(the event's key) or a payload field path, 1 to 255 "
                  "bytes");
    cr_assert_eq(parse("{\"app.counter.partition-key\": \"key\", "
                       "\"app.counter.name\": \"n\"}",
                       &p, err, sizeof err),
                 0);
    srv_props_app_options(p, "counter", collect, &s);
    cr_assert_str_eq(s.text, "name=n;");
    cr_assert_str_eq(srv_props_partition_key(p, "counter"), "key");
    cr_assert_null(srv_props_partition_key(p, "load-sim"));
    json_decref(p);
}
