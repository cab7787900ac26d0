/*
 * Unit tests of the expression language (flow/expr.h): every form of
 * docs/expressions.md, its compile errors with their offsets, and the
 * defined run-time errors. Payloads are written as JSON and packed with
 * jansson + libflow's writer; results are compared as JSON text.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "flow/expr.h"
#include "flow/mpjson.h"

static void pack(flow_buf *b, const json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        flow_mp_put_map(b, (uint32_t)json_object_size(j));
        json_object_foreach((json_t *)j, k, v)
        {
            flow_mp_put_cstr(b, k);
            pack(b, v);
        }
        break;
    case JSON_ARRAY:
        flow_mp_put_array(b, (uint32_t)json_array_size(j));
        json_array_foreach(j, i, v) pack(b, v);
        break;
    case JSON_STRING:
        flow_mp_put_str(b, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        flow_mp_put_int(b, json_integer_value(j));
        break;
    case JSON_REAL:
        flow_mp_put_double(b, json_real_value(j));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        flow_mp_put_bool(b, json_is_true(j));
        break;
    default:
        flow_mp_put_nil(b);
        break;
    }
}

static flow_buf payload_buf;
static flow_event event;
static flow_expr_scratch scratch;

/* Makes the test event: payload from JSON, headers fixed. */
static const flow_event *ev_of(const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &je);
    cr_assert(j, "bad test JSON %s: %s", json, je.text);
    flow_buf_reset(&payload_buf);
    pack(&payload_buf, j);
    json_decref(j);
    event = (flow_event){
        .id = 42,
        .ts_us = 1700000000000000,
        .type = "ACCOUNT_DEPOSITED",
        .type_len = 17,
        .key = "acct-7",
        .key_len = 6,
        .payload = payload_buf.data,
        .payload_len = (uint32_t)payload_buf.len,
        .seq = 9,
    };
    return &event;
}

static const char *P =
    "{\"type\": \"ACCOUNT_DEPOSITED\", \"account\": 7, \"amount\": 1500, "
    "\"rate\": 2.5, \"first-name\": \"Ada\", \"name\": \"  Ada Lovelace \", "
    "\"address\": {\"city\": \"London\", \"zip\": null}, "
    "\"tags\": [\"a\", \"b\", 3], \"ok\": true, \"none\": null, "
    "\"csv\": \"x,y,,z,,\", \"uni\": \"h\xc3\xa9llo\"}";

/* Evaluates src on payload json; returns the result as JSON text. */
static char *run(const char *src, const char *json, int *rc,
                 flow_expr_error *err)
{
    static char out[4096];
    flow_expr *e = NULL;
    flow_expr_value v;
    int c = flow_expr_compile(src, strlen(src), &e, err);
    cr_assert_eq(c, 0, "compile '%s': %s at %zu", src, err->message,
                 err->offset);
    *rc = flow_expr_eval(e, ev_of(json), &scratch, &v, err);
    flow_buf mp, js;
    flow_buf_init(&mp);
    flow_buf_init(&js);
    flow_expr_value_write(&v, &mp);
    cr_assert_eq(flow_mpjson_append(&js, mp.data, mp.len), 0);
    snprintf(out, sizeof(out), "%.*s", (int)js.len, (const char *)js.data);
    flow_buf_fini(&mp);
    flow_buf_fini(&js);
    flow_expr_free(&e);
    return out;
}

#define EXPECT(src, want)                                                    \
    do {                                                                     \
        int rc_;                                                             \
        flow_expr_error e_;                                                  \
        const char *got_ = run(src, P, &rc_, &e_);                           \
        cr_expect_eq(rc_, 0, "%s: error %s at %zu", src, e_.message,         \
                     e_.offset);                                             \
        cr_expect_str_eq(got_, want, "%s gave %s, not %s", src, got_, want); \
    } while (0)

/* A run-time error: its code, offset and a part of its message. */
#define EXPECT_ERR(src, code, off, part)                                    \
    do {                                                                    \
        int rc_;                                                            \
        flow_expr_error e_;                                                 \
        (void)run(src, P, &rc_, &e_);                                       \
        cr_expect_eq(rc_, -(code), "%s: rc %d (%s)", src, rc_, e_.message); \
        cr_expect_eq(e_.offset, (size_t)(off), "%s: offset %zu (%s)", src,  \
                     e_.offset, e_.message);                                \
        cr_expect(strstr(e_.message, part), "%s: message '%s' lacks '%s'",  \
                  src, e_.message, part);                                   \
    } while (0)

/* A compile error at off. */
#define EXPECT_SYNTAX(src, off, part)                                      \
    do {                                                                   \
        flow_expr *x_ = NULL;                                              \
        flow_expr_error e_;                                                \
        int c_ = flow_expr_compile(src, strlen(src), &x_, &e_);            \
        cr_expect_eq(c_, -FLOW_EXPR_ESYNTAX, "%s compiled", src);          \
        cr_expect_null(x_);                                                \
        cr_expect_eq(e_.offset, (size_t)(off), "%s: offset %zu (%s)", src, \
                     e_.offset, e_.message);                               \
        cr_expect(strstr(e_.message, part), "%s: message '%s' lacks '%s'", \
                  src, e_.message, part);                                  \
        flow_expr_free(&x_);                                               \
    } while (0)

static void setup(void)
{
    flow_buf_init(&payload_buf);
    flow_expr_scratch_init(&scratch);
}

static void teardown(void)
{
    flow_buf_fini(&payload_buf);
    flow_expr_scratch_fini(&scratch);
}

TestSuite(expr, .init = setup, .fini = teardown);

Test(expr, property_access)
{
    EXPECT("payload.amount", "1500");
    EXPECT("payload.type", "\"ACCOUNT_DEPOSITED\"");
    EXPECT("payload['first-name']", "\"Ada\"");
    EXPECT("payload[\"first-name\"]", "\"Ada\"");
    EXPECT("payload.address.city", "\"London\"");
    EXPECT("payload.address['city']", "\"London\"");
    EXPECT("payload.tags[1]", "\"b\"");
    EXPECT("payload.tags", "[\"a\",\"b\",3]");
    EXPECT("payload.missing", "null");
    EXPECT("payload.address.zip", "null");
    EXPECT("payload['ty' + 'pe']", "\"ACCOUNT_DEPOSITED\"");
    EXPECT("(payload).amount", "1500");
    EXPECT("payload.address", "{\"city\":\"London\",\"zip\":null}");
    /* The whole payload, and a payload that is not a map. */
    int rc;
    flow_expr_error err;
    cr_expect_str_eq(run("payload", "\"just text\"", &rc, &err),
                     "\"just text\"");
    cr_expect_str_eq(run("payload > '0'", "\"2026-01-01\"", &rc, &err), "true");
    cr_expect_eq(rc, 0);
}

Test(expr, headers)
{
    EXPECT("headers.type", "\"ACCOUNT_DEPOSITED\"");
    EXPECT("headers['type']", "\"ACCOUNT_DEPOSITED\"");
    EXPECT("headers.key", "\"acct-7\"");
    EXPECT("headers.id", "42");
    EXPECT("headers.ts", "1700000000000000");
    EXPECT("headers.seq", "9");
    EXPECT_SYNTAX("headers.nope", 8, "unknown header 'nope'");
    EXPECT_SYNTAX("headers", 0, "headers is not a value");
    EXPECT_SYNTAX("headers[payload.x]", 16, "a header is named by a string");
}

Test(expr, null_safe)
{
    EXPECT("payload?.address?.city", "\"London\"");
    EXPECT("payload.missing?.city", "null");
    EXPECT("payload.missing?.city?.x", "null");
    EXPECT("payload.none?.length()", "null");
    EXPECT("payload.none?['x']", "null");
    EXPECT_ERR("payload.missing.city", FLOW_EXPR_ENULL, 16,
               "cannot read 'city' of null");
    EXPECT_ERR("payload.none.length()", FLOW_EXPR_ENULL, 13,
               "cannot call length() on null");
    int rc;
    flow_expr_error err;
    cr_expect_str_eq(run("payload?.a", "null", &rc, &err), "null");
    cr_expect_eq(rc, 0);
    run("payload.a", "null", &rc, &err);
    cr_expect_eq(rc, -FLOW_EXPR_ENULL);
    run("payload.a", "[1]", &rc, &err);
    cr_expect_eq(rc, -FLOW_EXPR_ETYPE);
    cr_expect(strstr(err.message, "of a list"), "%s", err.message);
}

Test(expr, literals)
{
    EXPECT("42", "42");
    EXPECT("-7", "-7");
    EXPECT("0x1F", "31");
    EXPECT("10L", "10");
    EXPECT("2.5", "2.5");
    EXPECT("1e3", "1000");
    EXPECT("1e3 instanceof T(Double)", "true");
    EXPECT("1e3.toString()", "\"1000.0\"");
    EXPECT("'it''s'", "\"it's\"");
    EXPECT("\"say \"\"hi\"\"\"", "\"say \\\"hi\\\"\"");
    EXPECT("''", "\"\"");
    EXPECT("true", "true");
    EXPECT("FALSE", "false");
    EXPECT("null", "null");
    EXPECT("{1,2,3}", "[1,2,3]");
    EXPECT("{}", "[]");
    EXPECT("{'a', payload.amount, {true}}", "[\"a\",1500,[true]]");
    EXPECT_SYNTAX("'open", 0, "not closed");
    EXPECT_SYNTAX("99999999999999999999", 0, "out of range");
    EXPECT_SYNTAX("12abc", 2, "unexpected 'a'");
    EXPECT_SYNTAX("{1,2", 4, "expected ',' or '}'");
}

Test(expr, comparisons)
{
    EXPECT("payload.amount > 1000", "true");
    EXPECT("payload.amount >= 1500", "true");
    EXPECT("payload.amount < 1500", "false");
    EXPECT("payload.amount <= 1500.0", "true");
    EXPECT("payload.amount == 1500.0", "true");
    EXPECT("payload.amount != 1500", "false");
    EXPECT("payload.type == 'ACCOUNT_DEPOSITED'", "true");
    EXPECT("payload.type != 'X'", "true");
    EXPECT("'abc' < 'abd'", "true");
    EXPECT("'ab' < 'abc'", "true");
    EXPECT("payload.amount gt 1000 and payload.rate lt 3", "true");
    EXPECT("payload.amount eq 1500 and 1 ne 2 and 2 ge 2 and 2 le 3", "true");
    EXPECT("payload.missing == null", "true");
    EXPECT("payload.amount == '1500'", "false");
    EXPECT("payload.tags == {'a','b',3}", "true");
    EXPECT("payload.tags == {'a','b'}", "false");
    EXPECT("payload.address == payload.address", "true");
    EXPECT_ERR("payload.type > 5", FLOW_EXPR_ETYPE, 13,
               "'>' cannot compare a string with a int");
    /* As in SpEL, null is less than any value. */
    EXPECT("payload.missing > 5", "false");
    EXPECT("payload.missing < 5", "true");
    EXPECT("payload.missing < 'a'", "true");
    EXPECT("null <= null", "true");
    EXPECT("null > null", "false");
    EXPECT_SYNTAX("payload.a = 1", 10, "'=' is assignment");
}

Test(expr, logic)
{
    EXPECT("true and false", "false");
    EXPECT("true && true", "true");
    EXPECT("false or true", "true");
    EXPECT("false || false", "false");
    EXPECT("not false", "true");
    EXPECT("!true", "false");
    EXPECT("!(payload.amount > 1000)", "false");
    EXPECT("NOT payload.ok", "false");
    /* Short circuits: the right side is not evaluated. */
    EXPECT("false and payload.missing.x", "false");
    EXPECT("true or payload.missing.x", "true");
    EXPECT_ERR("payload.amount and true", FLOW_EXPR_ETYPE, 15,
               "and needs a boolean, not a int");
    EXPECT_ERR("payload.none or true", FLOW_EXPR_ENULL, 13,
               "or needs a boolean, not a null");
    EXPECT_ERR("!payload.amount", FLOW_EXPR_ETYPE, 0, "not needs a boolean");
}

Test(expr, arithmetic)
{
    EXPECT("payload.amount + 1", "1501");
    EXPECT("payload.amount - 2000", "-500");
    EXPECT("payload.amount * 2", "3000");
    EXPECT("payload.amount / 7", "214");
    EXPECT("payload.amount % 7", "2");
    EXPECT("payload.amount div 2 mod 7", "1");
    EXPECT("payload.rate * 2", "5");
    EXPECT("(payload.rate * 2) instanceof T(Double)", "true");
    EXPECT("7 / 2.0", "3.5");
    EXPECT("1 + 2 * 3", "7");
    EXPECT("(1 + 2) * 3", "9");
    EXPECT("-payload.amount", "-1500");
    EXPECT("'n=' + payload.amount", "\"n=1500\"");
    EXPECT("payload.type + '/' + payload.rate", "\"ACCOUNT_DEPOSITED/2.5\"");
    EXPECT("'x' + null + true", "\"xnulltrue\"");
    EXPECT("9223372036854775807 + 1", "9.2233720368547758e+18");
    EXPECT_ERR("payload.amount / 0", FLOW_EXPR_EARG, 15, "division by zero");
    EXPECT_ERR("payload.amount % 0.0", FLOW_EXPR_EARG, 15, "division by zero");
    EXPECT_ERR("payload.ok * 2", FLOW_EXPR_ETYPE, 11, "'*' needs numbers");
    EXPECT_ERR("payload.none + 1", FLOW_EXPR_ENULL, 13, "'+' needs numbers");
    EXPECT_ERR("-payload.type", FLOW_EXPR_ETYPE, 0, "'-' needs a number");
}

Test(expr, ternary_and_elvis)
{
    EXPECT("payload.amount > 1000 ? 'big' : 'small'", "\"big\"");
    EXPECT("payload.amount > 9000 ? 'big' : 'small'", "\"small\"");
    EXPECT("false ? 1 : true ? 2 : 3", "2");
    EXPECT("payload.missing ?: 'none'", "\"none\"");
    EXPECT("payload.type ?: 'none'", "\"ACCOUNT_DEPOSITED\"");
    EXPECT("'' ?: 'empty'", "\"empty\"");
    EXPECT("payload?.address?.street ?: payload.address.city", "\"London\"");
    EXPECT_ERR("payload.amount ? 1 : 2", FLOW_EXPR_ETYPE, 15,
               "the condition of ?: needs a boolean");
    EXPECT_SYNTAX("true ? 1", 8, "expected ':'");
}

Test(expr, matches)
{
    EXPECT("payload.type matches 'ACCOUNT_.*'", "true");
    EXPECT("payload.type matches 'ACCOUNT'", "false"); /* whole string */
    EXPECT("payload.type matches '.*DEPOSIT.*'", "true");
    EXPECT("headers.key matches 'acct-[0-9]+'", "true");
    EXPECT("payload.uni matches 'h.llo'", "true"); /* é is one character */
    EXPECT("payload.type MATCHES '[A-Z_]+' and true", "true");
    EXPECT_ERR("payload.amount matches '1.*'", FLOW_EXPR_ETYPE, 15,
               "matches needs a string");
    EXPECT_ERR("payload.none matches 'x'", FLOW_EXPR_ENULL, 13, "not a null");
    EXPECT_SYNTAX("payload.type matches 'a(b'", 25, "bad regular expression");
    EXPECT_SYNTAX("payload.type matches payload.x", 29,
                  "must be a string literal");
}

Test(expr, instanceof)
{
    EXPECT("payload.type instanceof T(String)", "true");
    EXPECT("payload.amount instanceof T(Integer)", "true");
    EXPECT("payload.amount instanceof T(java.lang.Long)", "true");
    EXPECT("payload.amount instanceof T(Double)", "false");
    EXPECT("payload.rate instanceof T(Double)", "true");
    EXPECT("payload.rate instanceof T(Number)", "true");
    EXPECT("payload.ok instanceof T(Boolean)", "true");
    EXPECT("payload.tags instanceof T(List)", "true");
    EXPECT("payload.address instanceof T(Map)", "true");
    EXPECT("payload.none instanceof T(String)", "false");
    EXPECT("payload instanceof T(Map)", "true");
    EXPECT_SYNTAX("payload.x instanceof T(Date)", 23, "unknown type 'Date'");
    EXPECT_SYNTAX("payload.x instanceof String", 21, "expected a type");
}

Test(expr, string_methods)
{
    EXPECT("payload.type.length()", "17");
    EXPECT("payload.uni.length()", "5");
    EXPECT("payload.type.toLowerCase()", "\"account_deposited\"");
    EXPECT("payload.address.city.toUpperCase()", "\"LONDON\"");
    EXPECT("payload.type.contains('DEPOSIT')", "true");
    EXPECT("payload.type.contains('x')", "false");
    EXPECT("payload.type.startsWith('ACCOUNT')", "true");
    EXPECT("payload.type.endsWith('ED')", "true");
    EXPECT("payload.type.substring(8)", "\"DEPOSITED\"");
    EXPECT("payload.type.substring(0, 7)", "\"ACCOUNT\"");
    EXPECT("payload.uni.substring(1, 2)", "\"\xc3\xa9\"");
    EXPECT("payload.csv.split(',')", "[\"x\",\"y\",\"\",\"z\"]");
    EXPECT("payload.csv.split(',').size()", "4");
    EXPECT("payload.type.split('_')[1]", "\"DEPOSITED\"");
    EXPECT("payload.name.trim()", "\"Ada Lovelace\"");
    EXPECT("payload.type.indexOf('DEP')", "8");
    EXPECT("payload.tags.contains('b')", "true");
    EXPECT("{1,2,3}.contains(payload.account - 5)", "true");
    EXPECT("payload.tags.size()", "3");
    EXPECT("''.isEmpty()", "true");
    EXPECT("payload.amount.toString()", "\"1500\"");
    EXPECT("'abc'[1]", "\"b\"");
    EXPECT("payload?.type?.toLowerCase()", "\"account_deposited\"");
    EXPECT_ERR("payload.amount.length()", FLOW_EXPR_ETYPE, 15,
               "length() needs a string");
    EXPECT_ERR("payload.type.substring(5, 99)", FLOW_EXPR_EARG, 13,
               "outside the string");
    EXPECT_ERR("payload.type.contains(1)", FLOW_EXPR_ETYPE, 22,
               "contains() needs a string argument");
    EXPECT_ERR("payload.tags[7]", FLOW_EXPR_EARG, 12, "index 7 is outside");
    EXPECT_SYNTAX("payload.type.reverse()", 13, "unknown method 'reverse'");
    EXPECT_SYNTAX("payload.type.substring()", 13,
                  "substring() takes 1 or 2 arguments");
    EXPECT_SYNTAX("payload.type.trim(1)", 13, "trim() takes 0 arguments");
}

Test(expr, functions)
{
    EXPECT("#jsonPath(payload, '$.address.city')", "\"London\"");
    EXPECT("#jsonPath(payload, '$.tags[2]')", "3");
    EXPECT("#jsonPath(payload, \"$['first-name']\")", "\"Ada\"");
    EXPECT("#jsonPath(payload, '$.nope.x')", "null");
    EXPECT("#jsonPath(payload.tags, '$[0]')", "\"a\"");
    EXPECT("#now() > 1700000000000", "true");
    EXPECT("#hash('abc') == #hash('ab' + 'c')", "true");
    EXPECT("#hash('abc') != #hash('abd')", "true");
    EXPECT("#hash(payload.account) % 4 >= 0", "true");
    EXPECT("#hash('')", "5472609002491880229");
    EXPECT_SYNTAX("#jsonPath(payload, 'a.b')", 20, "bad JSON path");
    EXPECT_SYNTAX("#jsonPath(payload, '$.a[x]')", 24, "bad JSON path");
    EXPECT_SYNTAX("#nope()", 0, "unknown function '#nope'");
    EXPECT_SYNTAX("#now(1)", 0, "#now() takes 0 arguments");
    EXPECT_ERR("#jsonPath(payload, payload.type)", FLOW_EXPR_EARG, 27,
               "bad JSON path");
}

Test(expr, syntax_errors)
{
    EXPECT_SYNTAX("", 0, "empty");
    EXPECT_SYNTAX("   ", 3, "empty");
    EXPECT_SYNTAX("payload.amount >", 16, "expected a value");
    EXPECT_SYNTAX("payload.amount > 1000 and", 25, "expected a value");
    EXPECT_SYNTAX("payload.amount 1000", 15, "expected an operator");
    EXPECT_SYNTAX("amount > 1000", 0, "unknown name 'amount'");
    EXPECT_SYNTAX("payload.", 8, "expected a property or method name");
    EXPECT_SYNTAX("(1 + 2", 6, "expected ')'");
    EXPECT_SYNTAX("payload.a and or", 14, "expected a value before 'or'");
    EXPECT_SYNTAX("T(Math).max(1,2)", 0, "only supported after instanceof");
    EXPECT_SYNTAX("payload @ 1", 8, "expected an operator");
    char deep[200];
    memset(deep, '(', 100);
    strcpy(deep + 100, "1");
    flow_expr *x = NULL;
    flow_expr_error err;
    cr_expect_eq(flow_expr_compile(deep, strlen(deep), &x, &err),
                 -FLOW_EXPR_ESYNTAX);
    cr_expect(strstr(err.message, "nests deeper than 64"), "%s", err.message);
    cr_expect(err.offset > 0 && err.offset < 100);
}

Test(expr, payload_errors)
{
    flow_expr *e = NULL;
    flow_expr_error err;
    flow_expr_value v;
    const char *src = "payload.a == 1";
    cr_assert_eq(flow_expr_compile(src, strlen(src), &e, &err), 0);
    /* A map of two entries with only one present. */
    static const uint8_t trunc[] = { 0x82, 0xa1, 'a', 0x01 };
    flow_event ev = { .payload = trunc, .payload_len = sizeof(trunc) };
    /* The field is found before the bytes end: the scan stops there, so
     * the result is defined. */
    cr_expect_eq(flow_expr_eval(e, &ev, &scratch, &v, &err), 0);
    cr_expect_eq(v.type, FLOW_EXPR_BOOL);
    cr_expect(v.b);
    src = "payload.b";
    flow_expr_free(&e);
    cr_assert_eq(flow_expr_compile(src, strlen(src), &e, &err), 0);
    cr_expect_eq(flow_expr_eval(e, &ev, &scratch, &v, &err),
                 -FLOW_EXPR_EPAYLOAD);
    cr_expect_eq(v.type, FLOW_EXPR_NIL);
    static const uint8_t bad[] = { 0x82, 0xa1, 'b', 0xc1 };
    ev.payload = bad;
    ev.payload_len = sizeof(bad);
    cr_expect_eq(flow_expr_eval(e, &ev, &scratch, &v, &err),
                 -FLOW_EXPR_EPAYLOAD);
    cr_expect(strstr(err.message, "not well-formed"));
    ev.payload_len = 0;
    cr_expect_eq(flow_expr_eval(e, &ev, &scratch, &v, &err), -FLOW_EXPR_ENULL);
    flow_expr_free(&e);
    cr_expect_null(e);
}

Test(expr, helpers)
{
    flow_expr *e = NULL;
    flow_expr_error err;
    const char *src =
        "payload.amount > 1000 and payload.type == 'ACCOUNT_DEPOSITED'";
    cr_assert_eq(flow_expr_compile(src, strlen(src), &e, &err), 0);
    cr_expect_str_eq(flow_expr_source(e), src);
    bool b = false;
    cr_expect_eq(flow_expr_eval_bool(e, ev_of(P), &scratch, &b, &err), 0);
    cr_expect(b);
    flow_expr_free(&e);
    src = "payload.amount";
    cr_assert_eq(flow_expr_compile(src, strlen(src), &e, &err), 0);
    cr_expect_eq(flow_expr_eval_bool(e, ev_of(P), &scratch, &b, &err),
                 -FLOW_EXPR_ETYPE);
    cr_expect_str_eq(err.message, "the expression gave an int, not a boolean");
    flow_expr_value v;
    const char *t;
    size_t n;
    cr_assert_eq(flow_expr_eval(e, ev_of(P), &scratch, &v, &err), 0);
    cr_assert_eq(flow_expr_value_text(&v, &scratch, &t, &n), 0);
    cr_expect_eq(n, 4);
    cr_expect_eq(memcmp(t, "1500", 4), 0);
    cr_expect(
        flow_expr_value_bool(
            &(flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = true }, &b) &&
        b);
    cr_expect_not(flow_expr_value_bool(&v, &b));
    flow_expr_free(&e);

    char buf[256];
    err = (flow_expr_error){ .offset = 8, .message = "unknown header 'x'" };
    cr_expect_str_eq(flow_expr_error_caret("headers.x", &err, buf, sizeof(buf)),
                     "  headers.x\n          ^ unknown header 'x'");
    cr_expect_str_eq(flow_expr_type_name(FLOW_EXPR_MAP), "map");
}

/* The evaluator reads only the top-level fields it names: a value it
 * does not need may even be malformed inside. */
Test(expr, lazy)
{
    flow_expr *e = NULL;
    flow_expr_error err;
    flow_expr_value v;
    const char *src = "payload.a";
    cr_assert_eq(flow_expr_compile(src, strlen(src), &e, &err), 0);
    /* {"a": 1, "b": [0xc1]} : b's element is malformed, but a comes first
     * and the scan stops once every field it needs is found. */
    static const uint8_t p[] = { 0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x91, 0xc1 };
    flow_event ev = { .payload = p, .payload_len = sizeof(p) };
    cr_expect_eq(flow_expr_eval(e, &ev, &scratch, &v, &err), 0);
    cr_expect_eq(v.type, FLOW_EXPR_INT);
    cr_expect_eq(v.i, 1);
    flow_expr_free(&e);
}
