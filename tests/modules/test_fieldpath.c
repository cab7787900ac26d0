/*
 * Unit tests of payload field addressing and time values.
 */
#include <criterion/criterion.h>

#include "fieldpath.h"

#include "flow/error.h"

#include <string.h>

static flow_buf payload(void)
{
    flow_buf b;
    flow_buf_init(&b);
    flow_mp_put_map(&b, 4);
    flow_mp_put_cstr(&b, "state");
    flow_mp_put_cstr(&b, "ACTIVE");
    flow_mp_put_cstr(&b, "customer");
    flow_mp_put_map(&b, 1);
    flow_mp_put_cstr(&b, "country");
    flow_mp_put_cstr(&b, "NL");
    flow_mp_put_cstr(&b, "a.b");
    flow_mp_put_int(&b, 5);
    flow_mp_put_cstr(&b, "ts");
    flow_mp_put_int(&b, 1709211909042LL);
    return b;
}

Test(fieldpath, finds_top_level_nested_and_dotted_keys)
{
    flow_buf b = payload();
    flow_mp_value v;
    cr_assert_eq(fieldpath_find(b.data, b.len, "state", &v), 0);
    cr_assert(flow_mp_str_eq(&v, "ACTIVE"));
    cr_assert_eq(fieldpath_find(b.data, b.len, "customer.country", &v), 0);
    cr_assert(flow_mp_str_eq(&v, "NL"));
    cr_assert_eq(fieldpath_find(b.data, b.len, "a.b", &v), 0);
    cr_assert_eq(v.i, 5);
    cr_assert_eq(fieldpath_find(b.data, b.len, "customer.city", &v),
                 -FLOW_ENOTFOUND);
    cr_assert_eq(fieldpath_find(b.data, b.len, "state.x", &v), -FLOW_ENOTFOUND);
    cr_assert_eq(fieldpath_find(b.data, b.len, "nope", &v), -FLOW_ENOTFOUND);
    cr_assert_lt(fieldpath_find(b.data, 3, "state", &v), 0, "truncated");
    flow_buf_fini(&b);
}

Test(fieldpath, text_of_scalars)
{
    char buf[64];
    const char *s;
    flow_mp_value v = { .type = FLOW_MP_INT, .is_neg = true, .i = -3 };
    cr_assert_eq(fieldpath_text(&v, buf, sizeof(buf), &s), 2);
    cr_assert_eq(strncmp(s, "-3", 2), 0);
    v = (flow_mp_value){ .type = FLOW_MP_BOOL, .b = false };
    cr_assert_eq(fieldpath_text(&v, buf, sizeof(buf), &s), 5);
    v = (flow_mp_value){ .type = FLOW_MP_STR, .str = "xy", .len = 2 };
    cr_assert_eq(fieldpath_text(&v, buf, sizeof(buf), &s), 2);
    cr_assert_eq(s, v.str, "strings are borrowed");
    v = (flow_mp_value){ .type = FLOW_MP_MAP };
    cr_assert_eq(fieldpath_text(&v, buf, sizeof(buf), &s), -1);
}

Test(fieldpath, epoch_seconds)
{
    int64_t t;
    flow_mp_value v = { .type = FLOW_MP_INT, .u = 1709211909, .i = 1709211909 };
    cr_assert(fieldpath_epoch_seconds(&v, &t));
    cr_assert_eq(t, 1709211909);
    v.u = v.i = 1709211909042LL; /* ms */
    cr_assert(fieldpath_epoch_seconds(&v, &t));
    cr_assert_eq(t, 1709211909);
    v.u = v.i = 1709211909042123LL; /* us */
    cr_assert(fieldpath_epoch_seconds(&v, &t));
    cr_assert_eq(t, 1709211909);
    v = (flow_mp_value){ .type = FLOW_MP_STR,
                         .str = "2024-02-29T13:05:09Z",
                         .len = 20 };
    cr_assert(fieldpath_epoch_seconds(&v, &t));
    cr_assert_eq(t, 1709211909);
    v.str = "2024-02-29T13:05:09.123";
    v.len = 23;
    cr_assert(fieldpath_epoch_seconds(&v, &t));
    cr_assert_eq(t, 1709211909);
    v.str = "1709211909";
    v.len = 10;
    cr_assert(fieldpath_epoch_seconds(&v, &t));
    cr_assert_eq(t, 1709211909);
    v.str = "2024-13-29T13:05:09Z";
    v.len = 20;
    cr_assert_not(fieldpath_epoch_seconds(&v, &t));
    v.str = "yesterday";
    v.len = 9;
    cr_assert_not(fieldpath_epoch_seconds(&v, &t));
    v = (flow_mp_value){ .type = FLOW_MP_FLOAT, .f = 1709211909.9 };
    cr_assert(fieldpath_epoch_seconds(&v, &t));
    cr_assert_eq(t, 1709211909);
    v.f = 1e300;
    cr_assert_not(fieldpath_epoch_seconds(&v, &t));
    v = (flow_mp_value){ .type = FLOW_MP_NIL };
    cr_assert_not(fieldpath_epoch_seconds(&v, &t));
}
