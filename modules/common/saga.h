/*
 * saga.h - what the order saga's apps share (order-sim, order, inventory,
 * payment): the event types, the fields of their payloads, a table of
 * fixed-size records keyed by an unsigned id (orders, skus, accounts) and
 * its snapshot format. docs/apps.md "The order saga" describes the events.
 */
#ifndef FLOW_MODULES_SAGA_H
#define FLOW_MODULES_SAGA_H

#include "flow/app.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum saga_type {
    SAGA_ORDER_PLACED,
    SAGA_RESERVE_INVENTORY,
    SAGA_INVENTORY_RESERVED,
    SAGA_INVENTORY_OUT_OF_STOCK,
    SAGA_CHARGE_PAYMENT,
    SAGA_PAYMENT_CHARGED,
    SAGA_PAYMENT_FAILED,
    SAGA_RELEASE_INVENTORY,
    SAGA_INVENTORY_RELEASED,
    SAGA_ORDER_COMPLETED,
    SAGA_ORDER_CANCELLED,
    SAGA_NTYPES
};

/* The reasons of a cancelled order (and of a failed payment). */
enum saga_reason {
    SAGA_REASON_NONE,
    SAGA_REASON_OUT_OF_STOCK,
    SAGA_REASON_DECLINED,
    SAGA_REASON_INSUFFICIENT_FUNDS,
};

/* Sends ev to the error output with the reason fmt formats (at most 255
 * bytes of it), as flow_emit_error does: the saga's apps reject with it. */
int saga_reject(flow_ctx *ctx, const flow_event *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The event type's name, e.g. "OrderPlaced". */
const char *saga_type_name(enum saga_type t);
/* The type named by the len bytes at s, or -1. */
int saga_type_parse(const char *s, size_t len);
/* "out-of-stock", "declined", "insufficient-funds"; NULL for none. */
const char *saga_reason_name(enum saga_reason r);
/* The reason named by the len bytes at s, or -1. */
int saga_reason_parse(const char *s, size_t len);

/* The fields of a saga event's payload map (scalars; strings borrowed
 * from the payload). A field that is absent or of another type has its
 * has_ flag false. */
struct saga_fields {
    int type; /* enum saga_type, or -1 when `type` is not one */
    bool has_type_str, has_order, has_account, has_sku, has_qty, has_amount;
    uint64_t order, account, sku, qty, amount;
    bool card_declined; /* `card` is "declined" */
    int reason;         /* enum saga_reason; -1 when `reason` is unknown */
    const char *type_str;
    uint32_t type_len;
};

/* Reads the fields of a payload map; 0, or -1 when it is not a
 * well-formed msgpack map. */
int saga_read_fields(const uint8_t *payload, size_t len, struct saga_fields *f);

/* An event being built: its type and the payload in b (a map whose entry
 * count is patched by saga_msg_end). */
struct saga_msg {
    flow_buf *b;
    uint32_t n;
    enum saga_type type;
};

void saga_msg_begin(struct saga_msg *m, flow_buf *b, enum saga_type type);
void saga_msg_uint(struct saga_msg *m, const char *name, uint64_t v);
void saga_msg_str(struct saga_msg *m, const char *name, const char *v);
void saga_msg_bool(struct saga_msg *m, const char *name, bool v);
/* Patches the entry count and emits the event, key the order id in
 * decimal, at ts_us; 0 or a negative FLOW_E*. */
int saga_msg_emit(flow_ctx *ctx, struct saga_msg *m, uint64_t order,
                  int64_t ts_us);

/*
 * A hash table of fixed-size records (vsize bytes, zeroed when new) keyed
 * by a uint64, with open addressing. At most max records; the table grows
 * as needed.
 */
struct saga_table {
    uint64_t *keys;
    uint8_t *used;
    uint8_t *vals;
    size_t cap, count, vsize, max;
};

void saga_table_init(struct saga_table *t, size_t vsize, size_t max);
void saga_table_fini(struct saga_table *t);
/* The record of key, or NULL when there is none. */
void *saga_table_find(const struct saga_table *t, uint64_t key);
/* The record of key, made (zeroed) when new; NULL when the table holds
 * max records already or memory runs out (*full says which). */
void *saga_table_get(struct saga_table *t, uint64_t key, bool *full);
/* Calls fn for every record, in no particular order. */
void saga_table_each(const struct saga_table *t,
                     void (*fn)(uint64_t key, void *rec, void *arg), void *arg);

/*
 * A snapshot of n tables: "SAGA1", then per table its record size and
 * count (u32, u64 little-endian) and each key (u64 little-endian) with
 * its record's bytes. saga_tables_load refills the tables (which must be
 * empty and of the same record sizes); it returns -1 with *why set when
 * the bytes are not such a snapshot.
 */
int saga_tables_save(struct saga_table *const *t, size_t n, flow_buf *out);
int saga_tables_load(struct saga_table *const *t, size_t n, const void *data,
                     size_t len, const char **why);

#endif
