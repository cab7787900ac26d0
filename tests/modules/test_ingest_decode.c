/*
 * Unit tests of what the http and tcp sources make of outside bytes:
 * bodies to msgpack payloads (with the line and column of what is
 * malformed) and byte streams to frames.
 */
#include <criterion/criterion.h>

#include "ingest_decode.h"

#include "flow/error.h"
#include "flow/mpjson.h"

#include <string.h>

/* Collects every payload as JSON text, one per line. */
struct got {
    flow_buf json;
    int n;
};

static int collect(void *arg, const void *p, size_t len)
{
    struct got *g = arg;
    cr_assert_eq(flow_mp_validate(p, len), 0, "payload is not msgpack");
    if (g->n++)
        flow_buf_append(&g->json, "\n", 1);
    cr_assert_eq(flow_mpjson_append(&g->json, p, len), 0);
    return 0;
}

static int decode(ingest_body kind, const char *body, struct got *g,
                  ingest_error *err)
{
    flow_buf scratch;
    flow_buf_init(&scratch);
    flow_buf_init(&g->json);
    g->n = 0;
    memset(err, 0, sizeof(*err));
    int rc = ingest_decode(kind, body, strlen(body), &scratch, collect, g, err);
    flow_buf_append(&g->json, "", 1);
    flow_buf_fini(&scratch);
    return rc;
}

Test(ingest_decode, json_object_is_one_event_array_one_per_element)
{
    struct got g;
    ingest_error e;
    cr_assert_eq(decode(INGEST_BODY_JSON,
                        " {\"a\": [1, -2, 2.5, true, null, "
                        "\"x\\u00e9\\ud83d\\ude00\"]} ",
                        &g, &e),
                 0);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(
        (char *)g.json.data,
        "{\"a\":[1,-2,2.5,true,null,\"x\xc3\xa9\xf0\x9f\x98\x80\"]}");
    flow_buf_fini(&g.json);

    cr_assert_eq(decode(INGEST_BODY_JSON, "[{\"id\":1},{\"id\":2}, 3]", &g, &e),
                 0);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq((char *)g.json.data, "{\"id\":1}\n{\"id\":2}\n3");
    flow_buf_fini(&g.json);

    cr_assert_eq(decode(INGEST_BODY_JSON, "[]", &g, &e), 0);
    cr_assert_eq(g.n, 0);
    flow_buf_fini(&g.json);
}

Test(ingest_decode, big_integers_and_exponents)
{
    struct got g;
    ingest_error e;
    cr_assert_eq(decode(INGEST_BODY_JSON,
                        "[18446744073709551615, -9223372036854775808, 1e3, "
                        "123456789012345678901234567890]",
                        &g, &e),
                 0);
    cr_assert_eq(g.n, 4);
    cr_assert_str_eq((char *)g.json.data,
                     "18446744073709551615\n-9223372036854775808\n1000\n"
                     "1.2345678901234568e+29");
    flow_buf_fini(&g.json);
}

Test(ingest_decode, malformed_json_says_line_and_column)
{
    struct got g;
    ingest_error e;
    cr_assert_eq(decode(INGEST_BODY_JSON, "{\"a\":\n  1,,}", &g, &e),
                 -FLOW_EMALFORMED);
    cr_assert_eq(e.line, 2);
    cr_assert_eq(e.column, 5);
    flow_buf_fini(&g.json);
    const char *bad[] = { "",        "{",       "[1,]",        "\"abc",
                          "01",      "1.",      "tru",         "{1:2}",
                          "[1 2]",   "\"\\x\"", "\"\\ud800\"", "1 2",
                          "\"a\tb\"" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(decode(INGEST_BODY_JSON, bad[i], &g, &e), -FLOW_EMALFORMED,
                     "accepted '%s'", bad[i]);
        cr_expect_eq(e.line, 1, "'%s'", bad[i]);
        flow_buf_fini(&g.json);
    }
}

Test(ingest_decode, deep_nesting_is_refused)
{
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    flow_buf out;
    flow_buf_init(&out);
    ingest_error e;
    cr_assert_eq(ingest_json_to_mp(deep, sizeof(deep), 1, &out, &e),
                 -FLOW_EMALFORMED);
    cr_assert_eq(e.column, INGEST_JSON_MAX_DEPTH + 1);
    flow_buf_fini(&out);
}

Test(ingest_decode, ndjson_one_event_per_line_and_error_position)
{
    struct got g;
    ingest_error e;
    cr_assert_eq(
        decode(INGEST_BODY_NDJSON, "{\"id\":1}\r\n\n  \n[1]\n\"s\"", &g, &e),
        0);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq((char *)g.json.data, "{\"id\":1}\n[1]\n\"s\"");
    flow_buf_fini(&g.json);

    cr_assert_eq(decode(INGEST_BODY_NDJSON,
                        "{\"id\":1}\n{\"id\":2}\n{\"id\" 3}\n", &g, &e),
                 -FLOW_EMALFORMED);
    cr_assert_eq(e.line, 3);
    cr_assert_eq(e.column, 7);
    cr_assert_eq(g.n, 2);
    flow_buf_fini(&g.json);
}

Test(ingest_decode, text_and_msgpack_bodies)
{
    struct got g;
    ingest_error e;
    cr_assert_eq(decode(INGEST_BODY_TEXT, "hello\nworld", &g, &e), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq((char *)g.json.data, "\"hello\\nworld\"");
    flow_buf_fini(&g.json);

    cr_assert_eq(decode(INGEST_BODY_MSGPACK,
                        "\x82\xa1"
                        "a\x01\xa1"
                        "b\xc3",
                        &g, &e),
                 0);
    cr_assert_str_eq((char *)g.json.data, "{\"a\":1,\"b\":true}");
    flow_buf_fini(&g.json);
    /* Two values, or a truncated one, are not one body. */
    cr_assert_eq(decode(INGEST_BODY_MSGPACK, "\x01\x02", &g, &e),
                 -FLOW_EMALFORMED);
    flow_buf_fini(&g.json);
    cr_assert_eq(decode(INGEST_BODY_MSGPACK, "\x92\x01", &g, &e),
                 -FLOW_EMALFORMED);
    flow_buf_fini(&g.json);
}

Test(ingest_decode, content_types)
{
    ingest_body k;
    const char *ct = "Application/JSON; charset=utf-8";
    cr_assert_eq(ingest_body_of(ct, strlen(ct), &k), 0);
    cr_assert_eq(k, INGEST_BODY_JSON);
    cr_assert_eq(ingest_body_of("application/x-ndjson", 20, &k), 0);
    cr_assert_eq(k, INGEST_BODY_NDJSON);
    cr_assert_eq(ingest_body_of("text/plain", 10, &k), 0);
    cr_assert_eq(k, INGEST_BODY_TEXT);
    cr_assert_eq(ingest_body_of("application/msgpack", 19, &k), 0);
    cr_assert_eq(k, INGEST_BODY_MSGPACK);
    cr_assert_eq(ingest_body_of("application/jsonx", 17, &k), -1);
    cr_assert_eq(ingest_body_of("", 0, &k), -1);
}

static int frames(ingest_framing f, const char *in, size_t len, size_t max,
                  char out[][32], int *rest)
{
    int n = 0;
    size_t pos = 0;
    for (;;) {
        const uint8_t *fr;
        size_t flen, used;
        int r = ingest_frame_next(f, (const uint8_t *)in + pos, len - pos, max,
                                  &fr, &flen, &used);
        if (r <= 0) {
            *rest = r;
            return n;
        }
        cr_assert_lt(flen, 32);
        memcpy(out[n], fr, flen);
        out[n][flen] = 0;
        n++;
        pos += used;
    }
}

Test(ingest_decode, frames_lf_crlf_l4)
{
    char out[8][32];
    int rest;
    cr_assert_eq(frames(INGEST_FRAME_LF, "a\nbc\r\n\npart", 12, 10, out, &rest),
                 3);
    cr_assert_str_eq(out[0], "a");
    cr_assert_str_eq(out[1], "bc\r");
    cr_assert_str_eq(out[2], "");
    cr_assert_eq(rest, 0);

    cr_assert_eq(frames(INGEST_FRAME_CRLF, "a\nb\r\nc\r\n", 9, 10, out, &rest),
                 2);
    cr_assert_str_eq(out[0], "a\nb");
    cr_assert_str_eq(out[1], "c");

    const char l4[] = "\0\0\0\3abc\0\0\0\0\0\0\0\5ab";
    cr_assert_eq(frames(INGEST_FRAME_L4, l4, sizeof(l4) - 1, 10, out, &rest),
                 2);
    cr_assert_str_eq(out[0], "abc");
    cr_assert_str_eq(out[1], "");
    cr_assert_eq(rest, 0);
}

Test(ingest_decode, frames_over_max_are_refused_early)
{
    char out[8][32];
    int rest;
    /* A line over max without its end yet: refused without waiting. */
    cr_assert_eq(frames(INGEST_FRAME_LF, "abcdefghijkl", 12, 10, out, &rest),
                 0);
    cr_assert_eq(rest, -FLOW_ETOOBIG);
    cr_assert_eq(frames(INGEST_FRAME_LF, "abcdefghij\n", 11, 10, out, &rest),
                 1);
    cr_assert_eq(frames(INGEST_FRAME_LF, "abcdefghijk\n", 12, 10, out, &rest),
                 0);
    cr_assert_eq(rest, -FLOW_ETOOBIG);
    cr_assert_eq(frames(INGEST_FRAME_L4, "\0\0\0\x0b", 4, 10, out, &rest), 0);
    cr_assert_eq(rest, -FLOW_ETOOBIG);
    cr_assert_eq(frames(INGEST_FRAME_L4, "\xff\xff\xff\xff", 4, 10, out, &rest),
                 0);
    cr_assert_eq(rest, -FLOW_ETOOBIG);
    ingest_framing f;
    cr_assert_eq(ingest_framing_of("CRLF", &f), 0);
    cr_assert_eq(f, INGEST_FRAME_CRLF);
    cr_assert_eq(ingest_framing_of("lf", &f), -1);
}
