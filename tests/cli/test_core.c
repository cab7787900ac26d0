/*
 * Unit tests of flowctl's pieces without network or terminal: deployment
 * properties, stream-file splitting and normalization, tap frame decoding
 * and the number formats of the tables.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <msgpack.h>

#include "ctl.h"
#include "flow/error.h"
#include "flow/mpjson.h"
#include "output.h"
#include "props.h"
#include "streamfile.h"
#include "tapdec.h"

/* --- properties ---------------------------------------------------------- */

static const char *prop(json_t *p, const char *k)
{
    return json_string_value(json_object_get(p, k));
}

Test(props, splits_on_commas_and_trims)
{
    json_t *p = json_object();
    cr_assert_eq(props_parse(p, " deployer.a.count = 2 ,app.b.x=y"), 0);
    cr_assert_str_eq(prop(p, "deployer.a.count"), "2");
    cr_assert_str_eq(prop(p, "app.b.x"), "y");
    cr_assert_eq(json_object_size(p), 2);
    json_decref(p);
}

Test(props, comma_without_key_belongs_to_the_value)
{
    json_t *p = json_object();
    cr_assert_eq(props_parse(p, "app.a.list=x,y,z,app.b.n=3"), 0);
    cr_assert_str_eq(prop(p, "app.a.list"), "x,y,z");
    cr_assert_str_eq(prop(p, "app.b.n"), "3");
    json_decref(p);
}

Test(props, value_may_hold_equals_and_be_empty)
{
    json_t *p = json_object();
    cr_assert_eq(props_parse(p, "app.a.expr=x==1,app.b.e="), 0);
    cr_assert_str_eq(prop(p, "app.a.expr"), "x==1");
    cr_assert_str_eq(prop(p, "app.b.e"), "");
    json_decref(p);
}

Test(props, refuses_what_is_not_a_property, .init = cr_redirect_stderr)
{
    json_t *p = json_object();
    cr_assert_eq(props_parse(p, "novalue"), CTL_EUSAGE);
    cr_assert_eq(props_parse(p, "=v"), CTL_EUSAGE);
    json_decref(p);
}

Test(props, file_with_comments_and_line_numbers, .init = cr_redirect_stderr)
{
    char path[] = "/tmp/flowctl-props-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char text[] = "# counts\n\ndeployer.a.count=2\n! old style\n"
                        "  app.b.x = hello world  \n";
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    json_t *p = json_object();
    cr_assert_eq(props_parse_file(p, path), 0);
    cr_assert_str_eq(prop(p, "deployer.a.count"), "2");
    cr_assert_str_eq(prop(p, "app.b.x"), "hello world");
    cr_assert_eq(json_object_size(p), 2);
    FILE *f = fopen(path, "a");
    fputs("broken line\n", f);
    fclose(f);
    cr_assert_eq(props_parse_file(p, path), CTL_EUSAGE);
    unlink(path);
    cr_assert_eq(props_parse_file(p, "/nonexistent/x.properties"), CTL_EUSAGE);
    json_decref(p);
}

/* --- stream files -------------------------------------------------------- */

Test(streamfile, normalize_collapses_whitespace_outside_quotes)
{
    const char *s = "  time   |\n    log --expression='a   b'  ";
    size_t *map;
    char *n = sf_normalize(s, strlen(s), 100, &map);
    cr_assert_str_eq(n, "time | log --expression='a   b'");
    /* Each byte maps back to its place in the source. */
    cr_assert_eq(map[0], 100 + 2);
    size_t log_at = (size_t)(strstr(n, "log") - n);
    cr_assert_eq(map[log_at], 100 + (size_t)(strstr(s, "log") - s));
    cr_assert_eq(map[strlen(n)], 100 + strlen(s));
    free(n);
    free(map);
}

Test(streamfile, entries_comments_and_continuations)
{
    char text[] = "# head\n"
                  "a = time\n"
                  "    | log\n"
                  "\n"
                  "b-2 = load-sim   --rate=5 | log\n";
    struct sf_file f = { .path = "t.flow",
                         .text = strdup(text),
                         .len = strlen(text) };
    cr_assert_eq(sf_parse(NULL, &f), 0);
    cr_assert_eq(f.n, 2);
    cr_assert_str_eq(f.v[0].name, "a");
    cr_assert_str_eq(f.v[0].def, "time | log");
    cr_assert_eq(f.v[0].name_off, 7);
    cr_assert_str_eq(f.v[1].name, "b-2");
    cr_assert_str_eq(f.v[1].def, "load-sim --rate=5 | log");
    /* An offset of the definition sent maps into the file, into the
     * same part: the option's value, the second app. */
    const char *d = f.v[1].def;
    cr_assert_eq(sf_map_offset(&f, &f.v[1], 0),
                 (size_t)(strstr(text, "load-sim") - text));
    cr_assert_eq(sf_map_offset(&f, &f.v[1], (size_t)(strstr(d, "5") - d)),
                 (size_t)(strstr(text, "=5") - text) + 1);
    cr_assert_eq(sf_map_offset(&f, &f.v[1], (size_t)(strstr(d, "log") - d)),
                 (size_t)(strstr(text, "5 | log\n") - text) + 4);
    cr_assert_eq(sf_map_offset(&f, &f.v[1], strlen(d)), strlen(text) - 1);
    /* The server's text, however spaced, is the same definition. */
    cr_assert(sf_same_definition(&f.v[1], "load-sim --rate=5 |\n  log"));
    cr_assert(!sf_same_definition(&f.v[1], "load-sim --rate=6 | log"));
    sf_fini(&f);
}

/* The reader of validate and flowd --load: a comment inside an indented
 * continuation is a comment, not part of the definition (apply used to
 * stop at it). */
Test(streamfile, comment_inside_a_continuation)
{
    char text[] = "accounts = load-sim --rate=100\n"
                  "    # the processor\n"
                  "    | account-events\n"
                  "  # an indented comment between continuations\n"
                  "\n"
                  "    | counter --name=hits\n"
                  "ticks = time | log\n";
    struct sf_file f = { .path = "c.flow",
                         .text = strdup(text),
                         .len = strlen(text) };
    cr_assert_eq(sf_parse(NULL, &f), 0);
    cr_assert_eq(f.n, 2);
    cr_assert_str_eq(f.v[0].def,
                     "load-sim --rate=100 | account-events | counter "
                     "--name=hits");
    cr_assert_str_eq(f.v[1].name, "ticks");
    cr_assert_eq(sf_map_offset(&f, &f.v[0], strlen("load-sim --rate=100 | ")),
                 (size_t)(strstr(text, "account-events") - text));
    sf_fini(&f);
}

static int parse_errors(const char *text, char *errs, size_t n)
{
    FILE *mem = fmemopen(errs, n, "w");
    struct sf_file f = {
        .path = "e.flow", .text = strdup(text), .len = strlen(text), .err = mem
    };
    int rc = sf_parse(NULL, &f);
    cr_assert(rc == 0 || f.n == 0);
    fclose(mem);
    sf_fini(&f);
    return rc;
}

Test(streamfile, structure_errors_point_into_the_file)
{
    char errs[4096] = "";
    cr_assert_eq(parse_errors("  | log\n", errs, sizeof(errs)), CTL_EFAIL);
    cr_assert(strstr(errs, "e.flow:1:3: error: expected app name"), "%s", errs);
    memset(errs, 0, sizeof(errs));
    cr_assert_eq(
        parse_errors("ok = time | log\njust words\n", errs, sizeof(errs)),
        CTL_EFAIL);
    cr_assert(strstr(errs, "e.flow:2:6: error: unexpected data after stream "
                           "definition: 'words'"),
              "%s", errs);
    memset(errs, 0, sizeof(errs));
    cr_assert_eq(parse_errors("Bad = time | log\n", errs, sizeof(errs)),
                 CTL_EFAIL);
    cr_assert(strstr(errs, "e.flow:1:1: error: illegal stream name 'Bad'"),
              "%s", errs);
    memset(errs, 0, sizeof(errs));
    cr_assert_eq(
        parse_errors("a = time | log\na = time | log\n", errs, sizeof(errs)),
        CTL_EFAIL);
    cr_assert(strstr(errs, "e.flow:2:1: error: stream 'a' is defined twice"),
              "%s", errs);
    memset(errs, 0, sizeof(errs));
    cr_assert_eq(parse_errors("a =   \n", errs, sizeof(errs)), CTL_EFAIL);
    cr_assert(strstr(errs, "e.flow:1:7: error: unexpectedly ran out of input"),
              "%s", errs);
    /* The caret sits under the column. */
    memset(errs, 0, sizeof(errs));
    parse_errors("x = a\n  | b\nyy zz\n", errs, sizeof(errs));
    cr_assert(strstr(errs, "e.flow:3:4: error:"), "%s", errs);
    cr_assert(strstr(errs, "\n  yy zz\n     ^\n"), "%s", errs);
}

/* --- tap frames ---------------------------------------------------------- */

/* The producer frame() writes. */
static const char *producer = "load-sim";

/* Packs [1, producer, instance, epoch, [[id, type, ts_us, key, seq,
 * payload], ...]] with n copies of one event. */
static msgpack_sbuffer frame(int n, const char *type, size_t type_len,
                             bool bad_payload)
{
    msgpack_sbuffer pl, sb;
    msgpack_sbuffer_init(&pl);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &pl, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "account", 7);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_str_with_body(&pk, "amount", 6);
    msgpack_pack_double(&pk, -1.5);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_str_with_body(&pk, producer, strlen(producer));
    msgpack_pack_int(&pk, 2);
    msgpack_pack_uint64(&pk, 99);
    msgpack_pack_array(&pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint64(&pk, 1000 + (uint64_t)i);
        msgpack_pack_str_with_body(&pk, type, type_len);
        msgpack_pack_int64(&pk, 1000001);
        if (i % 2)
            msgpack_pack_str_with_body(&pk, "k", 1);
        else
            msgpack_pack_nil(&pk);
        msgpack_pack_uint64(&pk, (uint64_t)i + 1);
        if (bad_payload) {
            msgpack_pack_bin_with_body(&pk, "\xc1\x00\x01", 3);
        } else {
            msgpack_pack_bin_with_body(&pk, pl.data, pl.size);
        }
    }
    msgpack_sbuffer_destroy(&pl);
    return sb;
}

/* tap_decode's lines, each parsed and appended to out; checks that there
 * is one line per event and that each is JSON. */
static long decode(const char *stream, const void *data, size_t len, long limit,
                   json_t *out)
{
    flow_buf text;
    flow_buf_init(&text);
    long n = tap_decode(stream, data, len, limit, &text);
    long lines = 0;
    for (size_t at = 0; at < text.len; lines++) {
        const char *line = (const char *)text.data + at;
        const char *nl = memchr(line, '\n', text.len - at);
        cr_assert_not_null(nl, "a line without its newline");
        json_error_t err;
        json_t *ev = json_loadb(line, (size_t)(nl - line), 0, &err);
        cr_assert_not_null(ev, "%s in %.*s", err.text, (int)(nl - line), line);
        json_array_append_new(out, ev);
        at += (size_t)(nl - line) + 1;
    }
    cr_assert_eq(lines, n < 0 ? 0 : n);
    flow_buf_fini(&text);
    return n;
}

Test(tapdec, decodes_events_and_payloads)
{
    msgpack_sbuffer sb = frame(3, "ACCOUNT_CREATED", 15, false);
    json_t *out = json_array();
    cr_assert_eq(decode("demo", sb.data, sb.size, 0, out), 3);
    json_t *e = json_array_get(out, 1);
    cr_assert_str_eq(out_str(e, "stream", ""), "demo");
    cr_assert_str_eq(out_str(e, "app", ""), "load-sim");
    cr_assert_eq(out_num(e, "instance", -1), 2);
    cr_assert_eq(out_num(e, "id", -1), 1001);
    cr_assert_str_eq(out_str(e, "type", ""), "ACCOUNT_CREATED");
    cr_assert_str_eq(out_str(e, "ts", ""), "1970-01-01T00:00:01.000001Z");
    cr_assert_str_eq(out_str(e, "key", ""), "k");
    cr_assert(json_is_null(json_object_get(json_array_get(out, 0), "key")));
    json_t *pl = json_object_get(e, "payload");
    cr_assert_eq(out_num(pl, "account", 0), 42);
    cr_assert_float_eq(out_num(pl, "amount", 0), -1.5, 1e-9);
    json_decref(out);
    msgpack_sbuffer_destroy(&sb);
}

/* flowd's producer ids are STREAM.LABEL: the app shown is the label; a
 * producer that only starts like the stream keeps its name. */
Test(tapdec, app_is_the_label_of_a_stream_producer_id)
{
    producer = "demo.load-sim";
    msgpack_sbuffer sb = frame(1, "T", 1, false);
    json_t *out = json_array();
    cr_assert_eq(decode("demo", sb.data, sb.size, 0, out), 1);
    cr_assert_str_eq(out_str(json_array_get(out, 0), "app", ""), "load-sim");
    cr_assert_eq(decode("dem", sb.data, sb.size, 0, out), 1);
    cr_assert_str_eq(out_str(json_array_get(out, 1), "app", ""),
                     "demo.load-sim");
    json_decref(out);
    msgpack_sbuffer_destroy(&sb);
    producer = "load-sim";
}

Test(tapdec, limit_stops_early)
{
    msgpack_sbuffer sb = frame(5, "T", 1, false);
    json_t *out = json_array();
    cr_assert_eq(decode("s", sb.data, sb.size, 2, out), 2);
    cr_assert_eq(json_array_size(out), 2);
    json_decref(out);
    msgpack_sbuffer_destroy(&sb);
}

Test(tapdec, bad_bytes_stay_valid_json)
{
    msgpack_sbuffer sb = frame(1, "A\xff\xfe", 3, true);
    json_t *out = json_array();
    cr_assert_eq(decode("s", sb.data, sb.size, 0, out), 1);
    json_t *e = json_array_get(out, 0);
    cr_assert_str_eq(out_str(e, "type", ""), "A\xEF\xBF\xBD\xEF\xBF\xBD");
    /* A payload that is not msgpack comes out as base64. */
    cr_assert_str_eq(json_string_value(json_object_get(e, "payload")), "wQAB");
    char *text = json_dumps(out, 0);
    cr_assert_not_null(text);
    free(text);
    json_decref(out);
    msgpack_sbuffer_destroy(&sb);
}

/*
 * The regression inputs of tests/cli/fuzz-regressions/tapdec: a frame of one
 * event whose payload is depth one-entry maps, each the key of the one
 * around it. Each level of key dumped into the key of the level above used
 * to escape it once more, doubling it: at depth 60 (a 137-byte frame)
 * jansson was asked for 2 GiB.
 */
static size_t nested_key_frame(unsigned char *buf, int depth)
{
    static const unsigned char head[] = { 0x95, 0x01, 0xa1, 's',  0x00,
                                          0x01, 0x91, 0x96, 0x01, 0xa1,
                                          'T',  0x00, 0xc0, 0x01, 0xc4 };
    size_t n = sizeof head;
    memcpy(buf, head, n);
    buf[n++] = (unsigned char)(2 * depth + 1);
    for (int i = 0; i < depth; i++)
        buf[n++] = 0x81;
    for (int i = 0; i <= depth; i++)
        buf[n++] = 0xc0;
    return n;
}

static void check_bounded(int depth)
{
    unsigned char buf[300];
    size_t len = nested_key_frame(buf, depth);
    flow_buf text;
    flow_buf_init(&text);
    cr_assert_eq(tap_decode("s", buf, len, 0, &text), 1);
    cr_assert_leq(text.len, 64 * len, "%zu bytes of JSON from %zu", text.len,
                  len);
    flow_buf_fini(&text);
    json_t *out = json_array();
    cr_assert_eq(decode("s", buf, len, 0, out), 1);
    json_decref(out);
}

Test(tapdec, nested_map_keys_cost_a_bounded_multiple)
{
    check_bounded(1);
    check_bounded(16);
    check_bounded(60);
    check_bounded(120);
}

Test(tapdec, a_key_of_a_key_is_a_note)
{
    unsigned char buf[64];
    size_t len = nested_key_frame(buf, 3);
    json_t *out = json_array();
    cr_assert_eq(decode("s", buf, len, 0, out), 1);
    char *text = json_dumps(json_object_get(json_array_get(out, 0), "payload"),
                            JSON_COMPACT);
    cr_assert_str_eq(text, "{\"{\\\"(nested key)\\\":null}\":null}");
    free(text);
    json_decref(out);
}

/* The payload's text is libflow's msgpack to JSON, the log sink's: every
 * digit of a uint64, null for NaN, \u0000 kept, a non-string key as its
 * JSON text. */
Test(tapdec, payload_text_is_the_shared_msgpack_to_json)
{
    msgpack_sbuffer pl;
    msgpack_sbuffer_init(&pl);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &pl, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "big", 3);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_str_with_body(&pk, "nan", 3);
    msgpack_pack_double(&pk, NAN);
    msgpack_pack_str_with_body(&pk, "nul", 3);
    msgpack_pack_str_with_body(&pk, "a\0b", 3);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 7);
    msgpack_pack_true(&pk);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_str_with_body(&pk, "p", 1);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 6);
    msgpack_pack_int(&pk, 5);
    msgpack_pack_str_with_body(&pk, "T", 1);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_nil(&pk);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_bin_with_body(&pk, pl.data, pl.size);

    flow_buf text, want;
    flow_buf_init(&text);
    flow_buf_init(&want);
    cr_assert_eq(tap_decode("s", sb.data, sb.size, 0, &text), 1);
    flow_buf_append(&text, "", 1);
    cr_assert_eq(flow_mpjson_append(&want, pl.data, pl.size), 0);
    flow_buf_append(&want, "", 1);
    cr_assert_str_eq((const char *)want.data,
                     "{\"big\":18446744073709551615,\"nan\":null,"
                     "\"nul\":\"a\\u0000b\",\"[7]\":true}");
    char *tail = strstr((const char *)text.data, ",\"payload\":");
    cr_assert_not_null(tail);
    cr_assert_eq(strncmp(tail + 11, (const char *)want.data, want.len - 1), 0,
                 "%s", (const char *)text.data);
    cr_assert_str_eq(tail + 11 + want.len - 1, "}\n");
    flow_buf_fini(&text);
    flow_buf_fini(&want);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&pl);
}

Test(tapdec, refuses_a_producer_over_255_bytes)
{
    unsigned char buf[400];
    size_t n = 0;
    buf[n++] = 0x95;
    buf[n++] = 0x01;
    buf[n++] = 0xd9;
    buf[n++] = 0xff;
    memset(buf + n, 'p', 255);
    n += 255;
    buf[n++] = 0x00;
    buf[n++] = 0x01;
    buf[n++] = 0x90;
    json_t *out = json_array();
    cr_assert_eq(decode("s", buf, n, 0, out), 0);
    /* One byte more in a str16 is one byte over the limit. */
    unsigned char big[400];
    size_t m = 0;
    big[m++] = 0x95;
    big[m++] = 0x01;
    big[m++] = 0xda;
    big[m++] = 0x01;
    big[m++] = 0x00;
    memset(big + m, 'p', 256);
    m += 256;
    big[m++] = 0x00;
    big[m++] = 0x01;
    big[m++] = 0x90;
    cr_assert_eq(decode("s", big, m, 0, out), -FLOW_EMALFORMED);
    json_decref(out);
}

Test(tapdec, refuses_frames_off_the_format)
{
    json_t *out = json_array();
    cr_assert_eq(decode("s", "", 0, 0, out), -FLOW_EMALFORMED);
    cr_assert_eq(decode("s", "\x93\x01\x02\x03", 4, 0, out), -FLOW_EMALFORMED);
    /* Counts larger than the bytes present are refused before anything
     * is allocated for them (found by the fuzzer as an out-of-memory). */
    cr_assert_eq(decode("s", "\x95\x03\xdd\x01\x63\x03\x01\x90", 8, 0, out),
                 -FLOW_EMALFORMED);
    cr_assert_eq(decode("s", "\xdf\xff\xff\xff\xff", 5, 0, out),
                 -FLOW_EMALFORMED);
    /* Version 2 is not understood. */
    msgpack_sbuffer sb = frame(1, "T", 1, false);
    ((char *)sb.data)[1] = 2;
    cr_assert_eq(decode("s", sb.data, sb.size, 0, out), -FLOW_EMALFORMED);
    /* Truncated. */
    ((char *)sb.data)[1] = 1;
    cr_assert_eq(decode("s", sb.data, sb.size - 3, 0, out), -FLOW_EMALFORMED);
    cr_assert_eq(json_array_size(out), 0);
    json_decref(out);
    msgpack_sbuffer_destroy(&sb);
}

/* --- formats ------------------------------------------------------------- */

Test(output, counts_rates_durations)
{
    char b[32];
    cr_assert_str_eq(out_count(b, sizeof(b), 9999), "9999");
    cr_assert_str_eq(out_count(b, sizeof(b), 12345), "12.3k");
    cr_assert_str_eq(out_count(b, sizeof(b), 2500000), "2.50M");
    cr_assert_str_eq(out_rate(b, sizeof(b), 99.5), "99.5/s");
    cr_assert_str_eq(out_rate(b, sizeof(b), 1000), "1000/s");
    cr_assert_str_eq(out_rate(b, sizeof(b), -1), "-");
    cr_assert_str_eq(out_duration(b, sizeof(b), 0.25), "250ms");
    cr_assert_str_eq(out_duration(b, sizeof(b), 90), "90s");
    cr_assert_str_eq(out_duration(b, sizeof(b), 600), "10m");
}

Test(output, table_pads_columns, .init = cr_redirect_stdout)
{
    struct out_table *t = out_table_new(3, "A", "BB", "C");
    out_table_row(t, "xxx", "y", "z");
    out_table_row(t, "1", "22", "");
    out_table_print(NULL, &t, stdout);
    cr_assert_null(t);
    fflush(stdout);
    cr_assert_stdout_eq_str("A    BB  C\nxxx  y   z\n1    22\n");
}

/* --- options ------------------------------------------------------------- */

Test(opts, help_is_told_apart_from_every_exit_code)
{
    cr_assert_lt(CTL_HELP, 0);
    cr_assert_neq(CTL_HELP, CTL_OK);
    cr_assert_neq(CTL_HELP, CTL_EFAIL);
    cr_assert_neq(CTL_HELP, CTL_EUSAGE);
    cr_assert_neq(CTL_HELP, CTL_EUNREACH);
    cr_assert_neq(CTL_HELP, CTL_ENOTFOUND);

    const char *type = NULL;
    const struct ctl_opt opts[] = { { "type", 't', &type, NULL }, { 0 } };
    char *pos[2];
    int npos;
    char *help[] = { "apps", "--type", "sink", "--help", NULL };
    cr_assert_eq(ctl_opts(4, help, opts, pos, 1, &npos, "apps", false),
                 CTL_HELP);
    char *shrt[] = { "apps", "-h", NULL };
    cr_assert_eq(ctl_opts(2, shrt, opts, pos, 1, &npos, "apps", false),
                 CTL_HELP);
}

Test(opts, values_positionals_and_usage_errors, .init = cr_redirect_stderr)
{
    const char *type = NULL;
    bool all = false;
    const struct ctl_opt opts[] = { { "type", 't', &type, NULL },
                                    { "all", 'a', NULL, &all },
                                    { 0 } };
    char *pos[2];
    int npos;
    char *ok[] = { "apps", "x", "--type=sink", "-a", NULL };
    cr_assert_eq(ctl_opts(4, ok, opts, pos, 1, &npos, "apps", false), CTL_OK);
    cr_assert_eq(npos, 1);
    cr_assert_str_eq(pos[0], "x");
    cr_assert_str_eq(type, "sink");
    cr_assert(all);
    /* After "--" an -h is a positional, not a request for help. */
    char *rest[] = { "apps", "--", "-h", NULL };
    cr_assert_eq(ctl_opts(3, rest, opts, pos, 1, &npos, "apps", false), CTL_OK);
    cr_assert_str_eq(pos[0], "-h");
    char *unknown[] = { "apps", "--nope", NULL };
    cr_assert_eq(ctl_opts(2, unknown, opts, pos, 1, &npos, "apps", false),
                 CTL_EUSAGE);
    char *novalue[] = { "apps", "--type", NULL };
    cr_assert_eq(ctl_opts(2, novalue, opts, pos, 1, &npos, "apps", false),
                 CTL_EUSAGE);
    char *many[] = { "apps", "a", "b", NULL };
    cr_assert_eq(ctl_opts(3, many, opts, pos, 1, &npos, "apps", false),
                 CTL_EUSAGE);
}
