/*
 * Unit tests of the tcp sink's framing: string payloads as their bytes,
 * others as JSON, each encoder's delimiter or length prefix.
 */
#include <criterion/criterion.h>

#include "frames.h"

#include "flow/error.h"

#include <string.h>

static flow_buf out;

static void setup(void)
{
    flow_buf_init(&out);
}

static void teardown(void)
{
    flow_buf_fini(&out);
}

TestSuite(frames, .init = setup, .fini = teardown);

static void frame_str(enum frame_encoder enc, const char *s)
{
    flow_buf p;
    flow_buf_init(&p);
    flow_mp_put_cstr(&p, s);
    cr_assert_eq(frame_append(&out, enc, p.data, p.len), 0);
    flow_buf_fini(&p);
}

Test(frames, encoder_names)
{
    cr_assert_eq(frame_encoder_of("LF"), FRAME_LF);
    cr_assert_eq(frame_encoder_of("CRLF"), FRAME_CRLF);
    cr_assert_eq(frame_encoder_of("L4"), FRAME_L4);
    cr_assert_eq(frame_encoder_of("lf"), -1);
}

Test(frames, strings_as_their_bytes)
{
    frame_str(FRAME_LF, "a b");
    frame_str(FRAME_CRLF, "c");
    frame_str(FRAME_L4, "hello");
    const char want[] = "a b\nc\r\n\0\0\0\5hello";
    cr_assert_eq(out.len, sizeof(want) - 1);
    cr_assert_eq(memcmp(out.data, want, out.len), 0);
}

Test(frames, maps_as_json)
{
    flow_buf p;
    flow_buf_init(&p);
    flow_mp_put_map(&p, 2);
    flow_mp_put_cstr(&p, "account");
    flow_mp_put_int(&p, 7);
    flow_mp_put_cstr(&p, "state");
    flow_mp_put_cstr(&p, "ACTIVE");
    cr_assert_eq(frame_append(&out, FRAME_L4, p.data, p.len), 0);
    const char json[] = "{\"account\":7,\"state\":\"ACTIVE\"}";
    size_t n = sizeof(json) - 1;
    cr_assert_eq(out.len, 4 + n);
    cr_assert_eq(out.data[3], n);
    cr_assert_eq(memcmp(out.data + 4, json, n), 0);
    flow_buf_fini(&p);
}

Test(frames, malformed_leaves_out_as_it_was)
{
    frame_str(FRAME_LF, "x");
    const uint8_t bad[] = { 0xc1 };
    cr_assert_eq(frame_append(&out, FRAME_L4, bad, sizeof(bad)),
                 -FLOW_EMALFORMED);
    cr_assert_eq(out.len, 2);
    /* A string with bytes after it is not one string. */
    const uint8_t two[] = { 0xa1, 'a', 0xa1, 'b' };
    cr_assert_eq(frame_append(&out, FRAME_LF, two, sizeof(two)),
                 -FLOW_EMALFORMED);
    cr_assert_eq(out.len, 2);
}
