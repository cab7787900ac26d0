/*
 * Unit tests of the order saga's shared logic (modules/common/saga.c):
 * event type and reason names, payload fields, the record table and its
 * snapshot.
 */
#include <criterion/criterion.h>

#include "saga.h"

#include <string.h>

Test(saga, type_and_reason_names)
{
    for (int t = 0; t < SAGA_NTYPES; t++) {
        const char *n = saga_type_name((enum saga_type)t);
        cr_assert_eq(saga_type_parse(n, strlen(n)), t, "%s", n);
    }
    cr_assert_eq(saga_type_parse("OrderPlace", 10), -1);
    cr_assert_eq(saga_type_parse("OrderPlacedX", 12), -1);
    cr_assert_eq(saga_reason_parse("declined", 8), SAGA_REASON_DECLINED);
    cr_assert_eq(saga_reason_parse("insufficient-funds", 18),
                 SAGA_REASON_INSUFFICIENT_FUNDS);
    cr_assert_eq(saga_reason_parse("out-of-stock", 12),
                 SAGA_REASON_OUT_OF_STOCK);
    cr_assert_eq(saga_reason_parse("broke", 5), -1);
    cr_assert_null(saga_reason_name(SAGA_REASON_NONE));
}

Test(saga, read_fields)
{
    flow_buf b;
    flow_buf_init(&b);
    flow_mp_put_map(&b, 8);
    flow_mp_put_cstr(&b, "type");
    flow_mp_put_cstr(&b, "ChargePayment");
    flow_mp_put_cstr(&b, "order");
    flow_mp_put_uint(&b, 17);
    flow_mp_put_cstr(&b, "account");
    flow_mp_put_uint(&b, 3);
    flow_mp_put_cstr(&b, "amount");
    flow_mp_put_uint(&b, 250);
    flow_mp_put_cstr(&b, "card");
    flow_mp_put_cstr(&b, "declined");
    flow_mp_put_cstr(&b, "qty");
    flow_mp_put_int(&b, -1); /* negative: not a qty */
    flow_mp_put_cstr(&b, "nested");
    flow_mp_put_array(&b, 1);
    flow_mp_put_uint(&b, 1);
    flow_mp_put_cstr(&b, "reason");
    flow_mp_put_cstr(&b, "insufficient-funds");
    struct saga_fields f;
    cr_assert_eq(saga_read_fields(b.data, b.len, &f), 0);
    cr_assert_eq(f.type, SAGA_CHARGE_PAYMENT);
    cr_assert(f.has_order && f.order == 17);
    cr_assert(f.has_account && f.account == 3);
    cr_assert(f.has_amount && f.amount == 250);
    cr_assert(f.card_declined);
    cr_assert(!f.has_qty);
    cr_assert(!f.has_sku);
    cr_assert_eq(f.reason, SAGA_REASON_INSUFFICIENT_FUNDS);
    /* Cut short, and not a map. */
    cr_assert_eq(saga_read_fields(b.data, b.len - 1, &f), -1);
    flow_buf_reset(&b);
    flow_mp_put_cstr(&b, "OrderPlaced");
    cr_assert_eq(saga_read_fields(b.data, b.len, &f), -1);
    flow_buf_fini(&b);
}

struct rec {
    uint64_t a;
    uint8_t b;
    uint8_t pad[7];
};

static void sum_keys(uint64_t key, void *rec, void *arg)
{
    struct rec *r = rec;
    cr_assert_eq(r->a, key * 3);
    *(uint64_t *)arg += key;
}

Test(saga, table_grows_and_snapshots)
{
    struct saga_table t, u, v;
    bool full;
    saga_table_init(&t, sizeof(struct rec), 5000);
    for (uint64_t k = 0; k < 5000; k++) {
        struct rec *r = saga_table_get(&t, k, &full);
        cr_assert_not_null(r);
        cr_assert_eq(r->a, 0, "a new record is zeroed");
        r->a = k * 3;
        r->b = (uint8_t)k;
    }
    cr_assert_eq(t.count, 5000);
    cr_assert_null(saga_table_get(&t, 5000, &full));
    cr_assert(full, "the table holds --max records");
    cr_assert_eq(((struct rec *)saga_table_get(&t, 4999, &full))->a, 14997);
    cr_assert_null(saga_table_find(&t, 123456));
    uint64_t sum = 0;
    saga_table_each(&t, sum_keys, &sum);
    cr_assert_eq(sum, 4999ULL * 5000 / 2);

    saga_table_init(&u, 16, 10);
    cr_assert_not_null(saga_table_get(&u, 77, &full));
    flow_buf b;
    flow_buf_init(&b);
    struct saga_table *both[] = { &t, &u };
    cr_assert_eq(saga_tables_save(both, 2, &b), 0);

    struct saga_table t2, u2;
    saga_table_init(&t2, sizeof(struct rec), 5000);
    saga_table_init(&u2, 16, 10);
    struct saga_table *both2[] = { &t2, &u2 };
    const char *why = NULL;
    cr_assert_eq(saga_tables_load(both2, 2, b.data, b.len, &why), 0, "%s", why);
    cr_assert_eq(t2.count, 5000);
    cr_assert_eq(u2.count, 1);
    struct rec *r = saga_table_find(&t2, 1234);
    cr_assert(r && r->a == 3702 && r->b == (uint8_t)1234);
    cr_assert_not_null(saga_table_find(&u2, 77));

    /* Cut short, a wrong record size, and trailing bytes are refused. */
    saga_table_init(&v, sizeof(struct rec), 5000);
    struct saga_table *one[] = { &v };
    cr_assert_eq(saga_tables_load(one, 1, b.data, 100, &why), -1);
    saga_table_fini(&v);
    saga_table_init(&v, 8, 5000);
    cr_assert_eq(saga_tables_load(one, 1, b.data, b.len, &why), -1);
    cr_assert_str_eq(why, "its records are of another size (another "
                          "version)");
    saga_table_fini(&v);
    saga_table_init(&v, sizeof(struct rec), 5000);
    cr_assert_eq(saga_tables_load(one, 1, b.data, b.len, &why), -1);
    cr_assert_str_eq(why, "it has bytes past its last table");
    saga_table_fini(&v);
    cr_assert_eq(saga_tables_load(one, 1, "SAGA2", 5, &why), -1);

    flow_buf_fini(&b);
    saga_table_fini(&t);
    saga_table_fini(&u);
    saga_table_fini(&t2);
    saga_table_fini(&u2);
}
