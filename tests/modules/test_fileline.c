/*
 * The file source's logic: lines split at '\n' (a '\r' before it
 * dropped, an unfinished last line not taken), JSON to msgpack or text,
 * and the position's snapshot and restore.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "fileline.h"
#include "flow/error.h"
#include "flow/mpjson.h"

Test(fileline, splits_lines_and_waits_for_the_last)
{
    const char *d = "ab\r\n\ncd\nef";
    size_t len = strlen(d), at = 0, ll, took;
    const char *want[] = { "ab", "", "cd" };
    for (int i = 0; i < 3; i++) {
        took = fileline_next(d + at, len - at, &ll);
        cr_assert_gt(took, 0);
        cr_assert_eq(ll, strlen(want[i]));
        cr_assert(memcmp(d + at, want[i], ll) == 0);
        at += took;
    }
    cr_assert_eq(at, 8);
    cr_assert_eq(fileline_next(d + at, len - at, &ll), 0, "ef has no '\\n'");
}

/* The JSON text of what fileline_payload made of s. */
static void payload_is(const char *s, const char *json, bool is_json)
{
    flow_buf mp, out;
    bool j;
    flow_buf_init(&mp);
    flow_buf_init(&out);
    cr_assert_eq(fileline_payload(&mp, s, strlen(s), &j), 0);
    cr_assert_eq(j, is_json, "%s", s);
    cr_assert_eq(flow_mp_validate(mp.data, mp.len), 0, "%s", s);
    cr_assert_eq(flow_mpjson_append(&out, mp.data, mp.len), 0);
    flow_buf_append(&out, "", 1);
    cr_assert_str_eq((const char *)out.data, json);
    flow_buf_fini(&mp);
    flow_buf_fini(&out);
}

Test(fileline, json_or_text)
{
    payload_is("{\"type\":\"ACCOUNT_CREATED\",\"account\":7,\"seq\":1}",
               "{\"type\":\"ACCOUNT_CREATED\",\"account\":7,\"seq\":1}", true);
    payload_is(" [1, -2, 3.5, true, false, null, {}, []] ",
               "[1,-2,3.5,true,false,null,{},[]]", true);
    payload_is("\"a\\n\\u00e9\\ud83d\\ude00\"", "\"a\\né😀\"", true);
    payload_is("18446744073709551615", "18446744073709551615", true);
    payload_is("-9223372036854775808", "-9223372036854775808", true);
    payload_is("hello world", "\"hello world\"", false);
    payload_is("{\"a\":1,}", "\"{\\\"a\\\":1,}\"", false);
    payload_is("01", "\"01\"", false);
    payload_is("[1] 2", "\"[1] 2\"", false);
    payload_is("\"\\x\"", "\"\\\"\\\\x\\\"\"", false);
    payload_is("tru", "\"tru\"", false);
}

Test(fileline, deep_nesting_is_text)
{
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    flow_buf mp;
    flow_buf_init(&mp);
    cr_assert_eq(fileline_json(&mp, deep, sizeof deep), -FLOW_EMALFORMED);
    cr_assert_eq(mp.len, 0, "a refused text leaves nothing behind");
    flow_buf_fini(&mp);
}

Test(fileline, position_snapshot_and_restore)
{
    struct filepos p, q;
    filepos_init(&p);
    filepos_init(&q);
    filepos_get(&p, "b.ndjson")->offset = 12;
    struct filepos_entry *a = filepos_get(&p, "a.ndjson");
    a->offset = 40;
    a->done = true;
    cr_assert_str_eq(p.v[0].name, "a.ndjson", "kept in name order");
    flow_buf b;
    flow_buf_init(&b);
    filepos_snapshot(&p, &b);
    cr_assert_eq(filepos_restore(&q, b.data, b.len), 0);
    cr_assert_eq(q.n, 2);
    cr_assert_eq(filepos_find(&q, "a.ndjson")->offset, 40);
    cr_assert(filepos_find(&q, "a.ndjson")->done);
    cr_assert_eq(filepos_find(&q, "b.ndjson")->offset, 12);
    cr_assert_not(filepos_find(&q, "b.ndjson")->done);
    cr_assert_null(filepos_find(&q, "c.ndjson"));
    /* Cut short anywhere, it is refused and leaves the position empty. */
    for (size_t n = 0; n < b.len; n++) {
        cr_assert_eq(filepos_restore(&q, b.data, n), -FLOW_EMALFORMED, "%zu",
                     n);
        cr_assert_eq(q.n, 0);
    }
    flow_buf_fini(&b);
    filepos_fini(&p);
    filepos_fini(&q);
}
