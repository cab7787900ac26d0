/* Unit tests: the msgpack reader/writer and the batch frame codec. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "flow/error.h"
#include "flow/mp.h"
#include "flow/wire.h"

Test(mp, ints_roundtrip_at_every_width)
{
    static const int64_t vals[] = { 0,
                                    1,
                                    127,
                                    128,
                                    255,
                                    256,
                                    65535,
                                    65536,
                                    -1,
                                    -32,
                                    -33,
                                    -128,
                                    -129,
                                    -32768,
                                    -32769,
                                    INT32_MIN,
                                    (int64_t)INT32_MIN - 1,
                                    INT64_MIN,
                                    INT64_MAX,
                                    4294967296LL };
    flow_buf b;
    flow_buf_init(&b);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        flow_mp_put_int(&b, vals[i]);
    flow_mp_put_uint(&b, UINT64_MAX);
    cr_assert_eq(b.err, 0);
    flow_mp_reader r;
    flow_mp_value v;
    flow_mp_reader_init(&r, b.data, b.len);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        cr_assert_eq(flow_mp_read(&r, &v), 0);
        cr_assert_eq(v.type, FLOW_MP_INT);
        cr_assert_eq(v.i, vals[i], "value %zu: %lld != %lld", i, (long long)v.i,
                     (long long)vals[i]);
        cr_assert_eq(v.is_neg, vals[i] < 0);
    }
    cr_assert_eq(flow_mp_read(&r, &v), 0);
    cr_assert_eq(v.u, UINT64_MAX);
    cr_assert_eq(flow_mp_remaining(&r), 0);
    cr_assert_eq(flow_mp_read(&r, &v), -FLOW_ETRUNCATED);
    flow_buf_fini(&b);
}

Test(mp, strings_bins_doubles_and_containers)
{
    char big[70000];
    memset(big, 'x', sizeof(big));
    flow_buf b;
    flow_buf_init(&b);
    flow_mp_put_map(&b, 3);
    flow_mp_put_cstr(&b, "s");
    flow_mp_put_str(&b, big, 40);
    flow_mp_put_cstr(&b, "big");
    flow_mp_put_str(&b, big, sizeof(big));
    flow_mp_put_cstr(&b, "d");
    flow_mp_put_array(&b, 3);
    flow_mp_put_double(&b, 2.5);
    flow_mp_put_bin(&b, big, 300);
    flow_mp_put_bool(&b, true);
    cr_assert_eq(b.err, 0);
    cr_assert_eq(flow_mp_validate(b.data, b.len), 0);
    flow_mp_value v;
    cr_assert_eq(flow_mp_map_find(b.data, b.len, "big", &v), 0);
    cr_assert_eq(v.type, FLOW_MP_STR);
    cr_assert_eq(v.len, sizeof(big));
    cr_assert_eq(flow_mp_map_find(b.data, b.len, "d", &v), 0);
    cr_assert_eq(v.type, FLOW_MP_ARRAY);
    cr_assert_eq(v.len, 3);
    cr_assert_eq(flow_mp_validate(v.raw, v.raw_len), 0);
    cr_assert_eq(flow_mp_map_find(b.data, b.len, "nope", &v), -FLOW_ENOTFOUND);
    /* Every truncation of a valid object is rejected, never read past. */
    for (size_t n = 0; n < b.len; n += (n < 200 ? 1 : 997)) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        cr_assert_neq(flow_mp_validate(copy, n), 0, "length %zu", n);
        free(copy);
    }
    flow_buf_fini(&b);
}

Test(mp, hostile_lengths_are_rejected_without_reading)
{
    /* array32 claiming 4 billion elements in 5 bytes. */
    const uint8_t arr[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    const uint8_t str[] = { 0xdb, 0x7f, 0xff, 0xff, 0xff, 'a' };
    const uint8_t map[] = { 0xdf, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02, 0x03 };
    const uint8_t bad[] = { 0xc1 };
    flow_mp_reader r;
    flow_mp_value v;
    flow_mp_reader_init(&r, arr, sizeof(arr));
    cr_assert_eq(flow_mp_read(&r, &v), -FLOW_ETRUNCATED);
    cr_assert_eq(r.p, arr, "the cursor must not move on error");
    cr_assert_neq(flow_mp_validate(str, sizeof(str)), 0);
    cr_assert_neq(flow_mp_validate(map, sizeof(map)), 0);
    cr_assert_eq(flow_mp_validate(bad, sizeof(bad)), -FLOW_EMALFORMED);
}

Test(mp, nesting_is_capped)
{
    uint8_t deep[100];
    memset(deep, 0x91, sizeof(deep)); /* [[[[...]]]] */
    deep[99] = 0x01;
    cr_assert_eq(flow_mp_validate(deep, sizeof(deep)), -FLOW_EMALFORMED);
    cr_assert_eq(flow_mp_validate(deep + 100 - 10, 10), 0);
}

static flow_event make_event(uint64_t id, const char *type, const char *key,
                             const flow_buf *payload)
{
    flow_event ev = { 0 };
    ev.id = id;
    ev.ts_us = 1700000000000000LL + (int64_t)id;
    ev.type = type;
    ev.type_len = (uint32_t)strlen(type);
    ev.key = key;
    ev.key_len = key ? (uint32_t)strlen(key) : 0;
    ev.payload = payload->data;
    ev.payload_len = (uint32_t)payload->len;
    return ev;
}

Test(wire, batch_roundtrip)
{
    flow_buf p;
    flow_buf_init(&p);
    flow_mp_put_map(&p, 1);
    flow_mp_put_cstr(&p, "amount");
    flow_mp_put_int(&p, -42);
    flow_batch b;
    flow_batch_init(&b);
    for (int round = 0; round < 2; round++) {
        flow_batch_begin(&b, "proc", 3, 99);
        for (uint64_t i = 1; i <= 300; i++) {
            flow_event ev =
                make_event(i, "ACCOUNT_CREATED", i % 2 ? "k1" : NULL, &p);
            cr_assert_eq(flow_batch_add(&b, &ev, 1000 + i), 0);
        }
        size_t len;
        const uint8_t *d = flow_batch_finish(&b, &len);
        flow_frame f;
        cr_assert_eq(flow_frame_parse(&f, d, len), 0);
        cr_assert_eq(f.count, 300);
        cr_assert_eq(f.instance, 3);
        cr_assert_eq(f.epoch, 99);
        cr_assert_eq(f.app_len, 4);
        flow_event ev;
        uint64_t n = 0;
        while (flow_frame_next(&f, &ev)) {
            n++;
            cr_assert_eq(ev.id, n);
            cr_assert_eq(ev.seq, 1000 + n);
            cr_assert_eq(ev.ts_us, 1700000000000000LL + (int64_t)n);
            cr_assert(flow_event_type_is(&ev, "ACCOUNT_CREATED"));
            cr_assert_eq(ev.key_len, n % 2 ? 2 : 0);
            cr_assert_eq(n % 2 ? ev.key != NULL : ev.key == NULL, true);
            cr_assert_eq(flow_event_get_int(&ev, "amount", 0), -42);
            cr_assert_eq(ev.epoch, 99);
            cr_assert_eq(ev.instance, 3);
        }
        cr_assert_eq(n, 300);
    }
    flow_batch_fini(&b);
    flow_buf_fini(&p);
}

Test(wire, empty_frame_is_end_of_stream)
{
    flow_batch b;
    flow_batch_init(&b);
    flow_batch_begin(&b, "src", 0, 1);
    size_t len;
    const uint8_t *d = flow_batch_finish(&b, &len);
    flow_frame f;
    cr_assert_eq(flow_frame_parse(&f, d, len), 0);
    cr_assert_eq(f.count, 0);
    flow_event ev;
    cr_assert_not(flow_frame_next(&f, &ev));
    flow_batch_fini(&b);
}

Test(wire, every_truncation_and_corruption_is_rejected)
{
    flow_buf p;
    flow_buf_init(&p);
    flow_mp_put_map(&p, 1);
    flow_mp_put_cstr(&p, "n");
    flow_mp_put_uint(&p, 7);
    flow_batch b;
    flow_batch_init(&b);
    flow_batch_begin(&b, "x", 0, 5);
    for (int i = 0; i < 3; i++) {
        flow_event ev = make_event(1, "T", "key", &p);
        flow_batch_add(&b, &ev, (uint64_t)i + 1);
    }
    size_t len;
    const uint8_t *d = flow_batch_finish(&b, &len);
    flow_frame f;
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, d, n);
        cr_assert_neq(flow_frame_parse(&f, copy, n), 0, "length %zu", n);
        free(copy);
    }
    /* Trailing garbage. */
    uint8_t *more = malloc(len + 1);
    memcpy(more, d, len);
    more[len] = 0;
    cr_assert_eq(flow_frame_parse(&f, more, len + 1), -FLOW_EMALFORMED);
    /* Wrong version. */
    more[1] = 2;
    cr_assert_eq(flow_frame_parse(&f, more, len), -FLOW_EVERSION);
    free(more);
    /* Single-byte flips: either rejected or still a valid frame, never a
     * crash (checked by the sanitizers). */
    uint8_t *flip = malloc(len);
    int rejected = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(flip, d, len);
        flip[i] ^= 0xff;
        if (flow_frame_parse(&f, flip, len) != 0)
            rejected++;
        else
            while (flow_frame_next(&f, &(flow_event){ 0 }))
                ;
    }
    cr_assert_gt(rejected, 0);
    free(flip);
    flow_batch_fini(&b);
    flow_buf_fini(&p);
}

Test(wire, payload_is_opaque_to_the_frame_and_checked_by_the_reader)
{
    const uint8_t junk[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    flow_batch b;
    flow_batch_init(&b);
    flow_batch_begin(&b, "x", 0, 5);
    flow_event ev = { .id = 1,
                      .type = "T",
                      .type_len = 1,
                      .payload = junk,
                      .payload_len = sizeof(junk) };
    cr_assert_eq(flow_batch_add(&b, &ev, 1), 0);
    size_t len;
    const uint8_t *d = flow_batch_finish(&b, &len);
    flow_frame f;
    cr_assert_eq(flow_frame_parse(&f, d, len), 0);
    flow_event got;
    cr_assert(flow_frame_next(&f, &got));
    cr_assert_eq(got.payload_len, sizeof(junk));
    cr_assert_eq(memcmp(got.payload, junk, sizeof(junk)), 0);
    /* The array claims 2^32-1 elements in 4 bytes: the reader refuses. */
    cr_assert_neq(flow_mp_validate(got.payload, got.payload_len), 0);
    flow_mp_value v;
    cr_assert_neq(flow_mp_map_find(got.payload, got.payload_len, "a", &v), 0);
    cr_assert_not(flow_frame_next(&f, &got));
    /* A payload cut short by the frame's end is still refused whole. */
    cr_assert_neq(flow_frame_parse(&f, d, len - 1), 0);
    flow_batch_fini(&b);
}

Test(wire, limits_are_enforced_on_both_sides)
{
    char name[FLOW_WIRE_MAX_NAME + 2];
    memset(name, 'a', sizeof(name));
    name[sizeof(name) - 1] = '\0';
    uint8_t nil = 0xc0;
    flow_batch b;
    flow_batch_init(&b);
    flow_batch_begin(&b, "x", 0, 5);
    flow_event ev = { .id = 1,
                      .type = name,
                      .type_len = (uint32_t)strlen(name),
                      .payload = &nil,
                      .payload_len = 1 };
    cr_assert_eq(flow_batch_add(&b, &ev, 1), -FLOW_ETOOBIG);
    cr_assert_eq(b.count, 0);
    flow_frame f;
    cr_assert_eq(flow_frame_parse(&f, name, FLOW_WIRE_MAX_FRAME + 1),
                 -FLOW_ETOOBIG);
    flow_batch_fini(&b);
}
