/*
 * Unit tests of msgpack to JSON, including hostile input. Inputs are
 * packed with msgpack-c, apart from libflow's own writer.
 */
#include <criterion/criterion.h>

#include "flow/mpjson.h"

#include "flow/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

static void check(const msgpack_sbuffer *in, const char *want)
{
    flow_buf out;
    flow_buf_init(&out);
    cr_assert_eq(flow_mpjson_append(&out, in->data, in->size), 0);
    flow_buf_append(&out, "", 1);
    cr_assert_str_eq((const char *)out.data, want);
    flow_buf_fini(&out);
}

Test(mpjson, scalars_and_containers)
{
    msgpack_sbuffer b;
    msgpack_packer pk;
    msgpack_sbuffer_init(&b);
    msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    msgpack_pack_str_with_body(&pk, "type", 4);
    msgpack_pack_str_with_body(&pk, "ACCOUNT_CREATED", 15);
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_int64(&pk, -42);
    msgpack_pack_str_with_body(&pk, "big", 3);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_str_with_body(&pk, "list", 4);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_bin_with_body(&pk, "abcd", 4);
    msgpack_pack_int64(&pk, 7); /* a non-string key */
    msgpack_pack_str_with_body(&pk, "seven", 5);
    msgpack_pack_str_with_body(&pk, "esc", 3);
    msgpack_pack_str_with_body(&pk, "q\"\\\n\x01\xc3\xa9\xff", 8);
    check(&b, "{\"type\":\"ACCOUNT_CREATED\",\"n\":-42,"
              "\"big\":18446744073709551615,"
              "\"list\":[null,true,1.5,\"YWJjZA==\"],\"7\":\"seven\","
              "\"esc\":\"q\\\"\\\\\\n\\u0001\xc3\xa9\\ufffd\"}");
    msgpack_sbuffer_destroy(&b);
}

Test(mpjson, container_keys_are_text_one_level_deep)
{
    /* 30 levels of maps used as keys: the outer key shows the map below
     * it, whose own key is only named, so the text stays small. */
    msgpack_sbuffer b;
    msgpack_packer pk;
    flow_buf out;
    msgpack_sbuffer_init(&b);
    msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
    flow_buf_init(&out);
    for (int i = 0; i < 30; i++)
        msgpack_pack_map(&pk, 1);
    msgpack_pack_int64(&pk, 1);
    for (int i = 0; i < 30; i++)
        msgpack_pack_int64(&pk, 2);
    cr_assert_eq(flow_mpjson_append(&out, b.data, b.size), 0);
    flow_buf_append(&out, "", 1);
    cr_assert_str_eq((const char *)out.data,
                     "{\"{\\\"(nested key)\\\":2}\":2}");
    msgpack_sbuffer_clear(&b);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int64(&pk, 1);
    msgpack_pack_int64(&pk, 2);
    msgpack_pack_nil(&pk);
    flow_buf_reset(&out);
    cr_assert_eq(flow_mpjson_append(&out, b.data, b.size), 0);
    flow_buf_append(&out, "", 1);
    cr_assert_str_eq((const char *)out.data, "{\"[1,2]\":null}");
    msgpack_sbuffer_destroy(&b);
    flow_buf_fini(&out);
}

Test(mpjson, nesting_stops_at_msgpack_c_s_limit)
{
    unsigned char deep[FLOW_MPJSON_MAX_DEPTH + 2];
    flow_buf out;
    flow_buf_init(&out);
    /* FLOW_MPJSON_MAX_DEPTH arrays of one element around a 1: fine. */
    memset(deep, 0x91, sizeof(deep));
    deep[FLOW_MPJSON_MAX_DEPTH] = 0x01;
    cr_assert_eq(flow_mpjson_append(&out, deep, FLOW_MPJSON_MAX_DEPTH + 1), 0);
    cr_assert_eq(out.len, 2 * FLOW_MPJSON_MAX_DEPTH + 1);
    /* One more is refused before msgpack-c sees it, out untouched. */
    flow_buf_reset(&out);
    deep[FLOW_MPJSON_MAX_DEPTH] = 0x91;
    deep[FLOW_MPJSON_MAX_DEPTH + 1] = 0x01;
    cr_assert_eq(flow_mpjson_append(&out, deep, sizeof(deep)),
                 -FLOW_EMALFORMED);
    cr_assert_eq(out.len, 0);
    flow_buf_fini(&out);
}

Test(mpjson, non_finite_floats_are_null_ext_is_an_object)
{
    msgpack_sbuffer b;
    msgpack_packer pk;
    flow_buf out;
    msgpack_sbuffer_init(&b);
    msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
    flow_buf_init(&out);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_double(&pk, NAN);
    msgpack_pack_double(&pk, -INFINITY);
    msgpack_sbuffer_write(&b, "\xd4\x05\xff", 3); /* fixext1, type 5 */
    cr_assert_eq(flow_mpjson_append(&out, b.data, b.size), 0);
    flow_buf_append(&out, "", 1);
    cr_assert_str_eq((const char *)out.data,
                     "[null,null,{\"ext\":5,\"data\":\"/w==\"}]");
    msgpack_sbuffer_destroy(&b);
    flow_buf_fini(&out);
}

Test(mpjson, fits_checks_every_count_against_the_bytes)
{
    cr_assert(flow_mpjson_fits("\x92\x01\x02", 3));
    cr_assert_not(flow_mpjson_fits("\x92\x01", 2));
    cr_assert_not(flow_mpjson_fits("\xdd\x00\x00\x00\x03\x01\x02", 7));
    cr_assert_not(flow_mpjson_fits("\xc6\x00\x00\x00\x04xyz", 8));
    cr_assert_not(flow_mpjson_fits("\xc1", 1));
    cr_assert_not(flow_mpjson_fits("\x01\x02", 2));
    cr_assert(flow_mpjson_fits("\x90", 1));
}

Test(mpjson, hostile_input_is_an_error_not_a_crash)
{
    flow_buf out;
    flow_buf_init(&out);
    /* A map claiming 2^32-1 entries in 5 bytes. */
    cr_assert_lt(flow_mpjson_append(&out, "\xdf\xff\xff\xff\xff", 5), 0);
    /* A string running past the end. */
    flow_buf_reset(&out);
    cr_assert_lt(flow_mpjson_append(&out,
                                    "\xa5"
                                    "ab",
                                    3),
                 0);
    /* Two objects where one is expected. */
    flow_buf_reset(&out);
    cr_assert_lt(flow_mpjson_append(&out, "\x01\x02", 2), 0);
    /* Deep nesting is capped. */
    unsigned char deep[200];
    memset(deep, 0x91, sizeof(deep)); /* arrays of one element */
    deep[sizeof(deep) - 1] = 0x01;
    flow_buf_reset(&out);
    cr_assert_lt(flow_mpjson_append(&out, deep, sizeof(deep)), 0);
    flow_buf_reset(&out);
    cr_assert_lt(flow_mpjson_append(&out, "", 0), 0);
    flow_buf_fini(&out);
}

Test(mpjson, files_get_the_same_string_text)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    cr_assert_not_null(f);
    flow_json_fputs(f, "a\"\n\xff\xc3\xa9", 6);
    cr_assert_eq(fclose(f), 0);
    cr_assert_str_eq(text, "\"a\\\"\\n\\ufffd\xc3\xa9\"");
    free(text);
}
