/* The Kafka binder's record codec (runtime/src/kafka.c): an event's
 * record value as msgpack or JSON, and a record's event (type, key, id,
 * time and payload from the record and its headers). */
#include <criterion/criterion.h>
#include <string.h>

#include "flow/error.h"
#include "flow/mp.h"
#include "kafka.h"

/* Headers as name/value pairs, the last of a name winning. */
struct hdrs {
    const char *name[8];
    const char *value[8];
    int n;
};

static const void *lookup(void *arg, const char *name, size_t *len)
{
    struct hdrs *h = arg;
    for (int i = h->n - 1; i >= 0; i--)
        if (!strcmp(h->name[i], name)) {
            *len = strlen(h->value[i]);
            return h->value[i];
        }
    return NULL;
}

static void payload_of(flow_buf *b, int64_t n, const char *s)
{
    flow_buf_init(b);
    flow_mp_put_map(b, 2);
    flow_mp_put_cstr(b, "n");
    flow_mp_put_int(b, n);
    flow_mp_put_cstr(b, "s");
    flow_mp_put_cstr(b, s);
}

Test(kafka_codec, msgpack_value_is_the_payload)
{
    flow_buf p, v;
    payload_of(&p, 7, "x");
    flow_buf_init(&v);
    flow_event ev = { .payload = p.data, .payload_len = (uint32_t)p.len };
    cr_assert_eq(flow__kafka_value(&ev, false, &v), 0);
    cr_assert_eq(v.len, p.len);
    cr_assert(!memcmp(v.data, p.data, p.len));
    flow_buf_fini(&p);
    flow_buf_fini(&v);
}

Test(kafka_codec, json_value_is_the_payload_as_json)
{
    flow_buf p, v;
    payload_of(&p, 7, "x\"y");
    flow_buf_init(&v);
    flow_event ev = { .payload = p.data, .payload_len = (uint32_t)p.len };
    cr_assert_eq(flow__kafka_value(&ev, true, &v), 0);
    cr_assert_eq(v.len, strlen("{\"n\":7,\"s\":\"x\\\"y\"}"));
    cr_assert(!memcmp(v.data, "{\"n\":7,\"s\":\"x\\\"y\"}", v.len));
    flow_buf_fini(&p);
    flow_buf_fini(&v);
}

Test(kafka_codec, bad_payload_refused)
{
    flow_buf v;
    flow_buf_init(&v);
    const uint8_t bad[] = { 0x82, 0xa1 }; /* a map cut short */
    flow_event ev = { .payload = bad, .payload_len = sizeof(bad) };
    cr_assert_eq(flow__kafka_value(&ev, false, &v), -FLOW_EMALFORMED);
    flow_buf_fini(&v);
}

Test(kafka_codec, msgpack_record_with_headers)
{
    flow_buf p, out;
    payload_of(&p, 3, "abc");
    flow_buf_init(&out);
    struct hdrs h = { { "content-type", "type", "id", "ts_us" },
                      { FLOW__KAFKA_CT_MSGPACK, "ACCOUNT_CREATED", "42",
                        "1700000000123456" },
                      4 };
    flow__kafka_in rec = { .key = "17",
                           .key_len = 2,
                           .value = p.data,
                           .value_len = p.len,
                           .timestamp_ms = 5,
                           .offset = 9,
                           .header = lookup,
                           .arg = &h };
    flow_event ev;
    cr_assert_eq(flow__kafka_event(&rec, 1, &out, &ev), 0);
    cr_assert_eq(ev.type_len, strlen("ACCOUNT_CREATED"));
    cr_assert(!memcmp(ev.type, "ACCOUNT_CREATED", ev.type_len));
    cr_assert_eq(ev.key_len, 2);
    cr_assert(!memcmp(ev.key, "17", 2));
    cr_assert_eq(ev.id, 42);
    cr_assert_eq(ev.ts_us, 1700000000123456LL);
    cr_assert_eq(ev.payload, p.data, "msgpack is taken as it is");
    cr_assert_eq(ev.payload_len, p.len);
    flow_buf_fini(&p);
    flow_buf_fini(&out);
}

Test(kafka_codec, plain_json_record_from_outside)
{
    flow_buf out;
    flow_buf_init(&out);
    const char *json = "{\"n\": 5, \"ok\": true, \"list\": [1.5, null]}";
    flow__kafka_in rec = { .value = json,
                           .value_len = strlen(json),
                           .timestamp_ms = 1000,
                           .offset = 9 };
    flow_event ev;
    cr_assert_eq(flow__kafka_event(&rec, 1, &out, &ev), 0);
    cr_assert_eq(ev.type_len, 5);
    cr_assert(!memcmp(ev.type, "kafka", 5), "no type header: kafka");
    cr_assert_null(ev.key);
    cr_assert_eq(ev.id, 10, "no id header: the offset + 1");
    cr_assert_eq(ev.ts_us, 1000000, "no ts_us: the record's time");
    flow_mp_value v;
    cr_assert_eq(flow_event_get(&ev, "n", &v), 0);
    cr_assert_eq(flow_event_get_int(&ev, "n", 0), 5);
    cr_assert_eq(flow_event_get(&ev, "ok", &v), 0);
    cr_assert_eq(v.type, FLOW_MP_BOOL);
    cr_assert_eq(flow_event_get(&ev, "list", &v), 0);
    cr_assert_eq(v.type, FLOW_MP_ARRAY);
    /* And back: the JSON value of the converted payload. */
    flow_buf j;
    flow_buf_init(&j);
    cr_assert_eq(flow__kafka_value(&ev, true, &j), 0);
    cr_assert_eq(j.len, strlen("{\"n\":5,\"ok\":true,\"list\":[1.5,null]}"));
    cr_assert(
        !memcmp(j.data, "{\"n\":5,\"ok\":true,\"list\":[1.5,null]}", j.len));
    flow_buf_fini(&j);
    flow_buf_fini(&out);
}

Test(kafka_codec, json_content_type_wins)
{
    flow_buf out;
    flow_buf_init(&out);
    /* "7" is also the msgpack of the integer 55 ('7' = 0x37): the header
     * says it is JSON. */
    struct hdrs h = { { "content-type" }, { FLOW__KAFKA_CT_JSON }, 1 };
    flow__kafka_in rec = { .value = "7",
                           .value_len = 1,
                           .timestamp_ms = -1,
                           .header = lookup,
                           .arg = &h };
    flow_event ev;
    cr_assert_eq(flow__kafka_event(&rec, 123, &out, &ev), 0);
    cr_assert_eq(ev.ts_us, 123, "no time at all: now");
    flow_mp_reader r;
    flow_mp_value v;
    flow_mp_reader_init(&r, ev.payload, ev.payload_len);
    cr_assert_eq(flow_mp_read(&r, &v), 0);
    cr_assert_eq(v.type, FLOW_MP_INT);
    cr_assert_eq(v.i, 7);
    flow_buf_fini(&out);
}

Test(kafka_codec, neither_msgpack_nor_json_refused)
{
    flow_buf out;
    flow_buf_init(&out);
    struct hdrs h = { { "content-type" }, { FLOW__KAFKA_CT_MSGPACK }, 1 };
    const uint8_t bad[] = { 0x82, 0xa1 };
    flow__kafka_in rec = { .value = bad,
                           .value_len = sizeof(bad),
                           .timestamp_ms = -1,
                           .header = lookup,
                           .arg = &h };
    flow_event ev;
    cr_assert_eq(flow__kafka_event(&rec, 1, &out, &ev), -FLOW_EMALFORMED);
    flow__kafka_in text = { .value = "not json {",
                            .value_len = 10,
                            .timestamp_ms = -1 };
    cr_assert_eq(flow__kafka_event(&text, 1, &out, &ev), -FLOW_EMALFORMED);
    flow_buf_fini(&out);
}
