/*
 * account-events - event-sourced account aggregates.
 *
 * Folds each account event into its account through the state machine
 * (account.h). An applied event goes out with the account's new `state`
 * and `balance` added to its payload; a rejected one goes to the error
 * output with the reason; a duplicate (a sequence number already applied
 * to that account) is skipped and counted. The accounts are the app state
 * captured by snapshot and restore.
 */
#include "acct_table.h"
#include "apps.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct account_events {
    int64_t max_accounts; /* --max-accounts, at least 1 */
    struct acct_table accounts;
};

static const flow_option options[] = {
    { .name = "max-accounts",
      .type = FLOW_OPT_INT,
      .def = "10000000",
      .min = "1",
      FLOW_OPT_FIELD(struct account_events, max_accounts),
      .description = "Most accounts held; events for further new accounts "
                     "are rejected." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct account_events *s = flow_state(ctx);
    acct_table_init(&s->accounts, (size_t)s->max_accounts);
    return 0;
}

/* The fields of an account event, borrowed from its payload. */
struct fields {
    flow_mp_value type;
    bool has_type, has_account, has_seq, has_amount;
    bool has_result; /* the payload already has `state` or `balance` */
    uint64_t account, seq, amount;
    uint32_t nentries;   /* entries in the payload map */
    const uint8_t *body; /* the map's entries, after its header */
};

/* A non-negative integer; false for anything else. */
static bool as_uint(const flow_mp_value *v, uint64_t *out)
{
    if (v->type != FLOW_MP_INT || v->is_neg)
        return false;
    *out = v->u;
    return true;
}

/*
 * Reads the fields in one pass over the payload map. Returns 0 or a
 * negative FLOW_E* when the payload is not a well-formed map.
 */
static int read_fields(const flow_event *ev, struct fields *f)
{
    flow_mp_reader r;
    flow_mp_value m, k, v;
    int rc;
    memset(f, 0, sizeof(*f));
    flow_mp_reader_init(&r, ev->payload, ev->payload_len);
    if ((rc = flow_mp_read(&r, &m)) < 0)
        return rc;
    if (m.type != FLOW_MP_MAP)
        return -FLOW_EMALFORMED;
    f->nentries = m.len;
    f->body = r.p;
    for (uint32_t i = 0; i < m.len; i++) {
        /* Keys and values are scalars but for rare containers, which are
         * skipped whole: one read per scalar, no second pass. */
        const uint8_t *kp = r.p;
        if ((rc = flow_mp_read(&r, &k)) < 0)
            return rc;
        if (k.type == FLOW_MP_ARRAY || k.type == FLOW_MP_MAP) {
            r.p = kp;
            if ((rc = flow_mp_skip(&r)) < 0)
                return rc;
        }
        const uint8_t *vp = r.p;
        if ((rc = flow_mp_read(&r, &v)) < 0)
            return rc;
        if (v.type == FLOW_MP_ARRAY || v.type == FLOW_MP_MAP) {
            r.p = vp;
            if ((rc = flow_mp_skip(&r)) < 0)
                return rc;
        }
        if (k.type != FLOW_MP_STR)
            continue;
        if (flow_mp_str_eq(&k, "type")) {
            f->type = v;
            f->has_type = v.type == FLOW_MP_STR;
        } else if (flow_mp_str_eq(&k, "account")) {
            f->has_account = as_uint(&v, &f->account);
        } else if (flow_mp_str_eq(&k, "seq")) {
            f->has_seq = as_uint(&v, &f->seq);
        } else if (flow_mp_str_eq(&k, "amount")) {
            f->has_amount = as_uint(&v, &f->amount);
        } else if (flow_mp_str_eq(&k, "state") ||
                   flow_mp_str_eq(&k, "balance")) {
            f->has_result = true;
        }
    }
    if (flow_mp_remaining(&r) != 0)
        return -FLOW_EMALFORMED;
    return 0;
}

static int reject(flow_ctx *ctx, const flow_event *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reject(flow_ctx *ctx, const flow_event *ev, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return flow_emit_error(ctx, ev, reason);
}

/*
 * The input payload with `state` and `balance` set: every other entry is
 * copied as it is.
 */
static int enrich(flow_ctx *ctx, const flow_event *ev, const struct fields *f,
                  const struct acct *a, flow_buf **outp)
{
    if (!f->has_result && f->nentries < UINT32_MAX - 2) {
        /* The common case: the entries as they are, plus two. */
        flow_buf *b = flow_payload_buf(ctx);
        flow_mp_put_map(b, f->nentries + 2);
        flow_buf_append(b, f->body,
                        (size_t)(ev->payload + ev->payload_len - f->body));
        flow_mp_put_str(b, "state", 5);
        flow_mp_put_cstr(b, acct_state_name((enum acct_state)a->state));
        flow_mp_put_str(b, "balance", 7);
        flow_mp_put_int(b, a->balance);
        if (b->err)
            return b->err;
        *outp = b;
        return 0;
    }
    flow_mp_reader r;
    flow_mp_value m, k, v;
    flow_mp_reader_init(&r, ev->payload, ev->payload_len);
    int rc = flow_mp_read(&r, &m);
    if (rc < 0)
        return rc;
    if (m.type != FLOW_MP_MAP)
        return -FLOW_EMALFORMED;
    flow_buf *b = flow_payload_buf(ctx);
    /* Reserve a map32 header; the count is patched in at the end. */
    flow_buf_append(b, "\xdf\0\0\0\0", 5);
    uint32_t n = 0;
    for (uint32_t i = 0; i < m.len; i++) {
        if ((rc = flow_mp_read_object(&r, &k)) < 0 ||
            (rc = flow_mp_read_object(&r, &v)) < 0)
            return rc;
        if (flow_mp_str_eq(&k, "state") || flow_mp_str_eq(&k, "balance"))
            continue;
        flow_mp_put_raw(b, k.raw, k.raw_len);
        flow_mp_put_raw(b, v.raw, v.raw_len);
        n++;
    }
    flow_mp_put_str(b, "state", 5);
    flow_mp_put_cstr(b, acct_state_name((enum acct_state)a->state));
    flow_mp_put_str(b, "balance", 7);
    flow_mp_put_int(b, a->balance);
    n += 2;
    if (b->err)
        return b->err;
    b->data[1] = (uint8_t)(n >> 24);
    b->data[2] = (uint8_t)(n >> 16);
    b->data[3] = (uint8_t)(n >> 8);
    b->data[4] = (uint8_t)n;
    *outp = b;
    return 0;
}

static int on_event(flow_ctx *ctx, const flow_event *ev)
{
    struct account_events *s = flow_state(ctx);
    struct fields f;

    if (read_fields(ev, &f) < 0)
        return reject(ctx, ev, "payload is not a well-formed msgpack map");
    if (!f.has_type)
        return reject(ctx, ev,
                      "payload field 'type' is missing or not a "
                      "string");
    int type = acct_event_parse(f.type.str, f.type.len);
    if (type < 0)
        return reject(ctx, ev, "unknown account event type '%.*s'",
                      (int)(f.type.len > 64 ? 64 : f.type.len), f.type.str);
    if (!f.has_account)
        return reject(ctx, ev,
                      "payload field 'account' is missing or not "
                      "a non-negative integer");
    if (!f.has_seq || f.seq == 0)
        return reject(ctx, ev,
                      "payload field 'seq' is missing or not a "
                      "positive integer");
    uint64_t id = f.account, seq = f.seq, amount = f.amount;
    bool money = type == ACCT_EV_DEPOSITED || type == ACCT_EV_WITHDRAWN;
    if (money && (!f.has_amount || amount == 0 || amount > INT64_MAX))
        return reject(ctx, ev, "%s needs a positive integer 'amount'",
                      acct_event_name(type));

    struct acct *a = acct_table_get(&s->accounts, id);
    if (!a)
        return reject(ctx, ev,
                      "account %" PRIu64 " is new but %zu accounts "
                      "are held already (--max-accounts)",
                      id, s->accounts.count);
    if (acct_is_duplicate(a, seq)) {
        flow_count_dups(ctx, 1);
        return 0;
    }
    enum acct_state before = (enum acct_state)a->state;
    int64_t balance = a->balance;
    enum acct_result r = acct_apply(a, type, (int64_t)amount);
    if (r != ACCT_OK) {
        if (r == ACCT_INSUFFICIENT_FUNDS)
            return reject(ctx, ev,
                          "%s of %" PRIu64 " on account %" PRIu64
                          " (seq %" PRIu64 "): insufficient funds, balance "
                          "is %" PRId64,
                          acct_event_name(type), amount, id, seq, balance);
        return reject(ctx, ev,
                      "%s on account %" PRIu64 " (seq %" PRIu64
                      ") in state %s: %s",
                      acct_event_name(type), id, seq, acct_state_name(before),
                      acct_result_str(r));
    }
    a->last_seq = seq;
    flow_buf *b = NULL;
    int rc = enrich(ctx, ev, &f, a, &b);
    if (rc < 0)
        return rc;
    flow_event out = *ev;
    out.payload = b->data;
    out.payload_len = (uint32_t)b->len;
    return flow_emit_event(ctx, &out);
}

static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct account_events *s = flow_state(ctx);
    uint8_t *buf;
    size_t len;
    /* A checkpoint keeps the accounts as keyed state (snapshot_keys):
     * its unkeyed part stays empty. */
    if (flow_checkpoint_id(ctx))
        return 0;
    if (acct_table_save(&s->accounts, &buf, &len) < 0)
        return -FLOW_ENOMEM;
    flow_buf_append(out, buf, len);
    free(buf);
    return out->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct account_events *s = flow_state(ctx);
    const char *why;
    if (len == 0)
        return 0; /* a checkpoint's empty unkeyed part */
    if (acct_table_load(&s->accounts, data, len, &why) < 0) {
        flow_log(ctx, "cannot restore the saved accounts: %s", why);
        return -FLOW_EMALFORMED;
    }
    flow_log(ctx, "restored %zu accounts", s->accounts.count);
    return 0;
}

/* One account as keyed state: its id in decimal (the events' key) and
 * ACCT_REC_LEN bytes, little-endian last_seq, balance, then state. */
#define ACCT_REC_LEN 17

struct keys_walk {
    flow_keyed_writer *w;
    int rc;
};

static void put_key(uint64_t id, const struct acct *a, void *arg)
{
    struct keys_walk *k = arg;
    char key[24];
    uint8_t rec[ACCT_REC_LEN];
    if (k->rc)
        return;
    int kl = snprintf(key, sizeof(key), "%" PRIu64, id);
    for (int i = 0; i < 8; i++) {
        rec[i] = (uint8_t)(a->last_seq >> (8 * i));
        rec[8 + i] = (uint8_t)((uint64_t)a->balance >> (8 * i));
    }
    rec[16] = a->state;
    k->rc = flow_keyed_put(k->w, key, (size_t)kl, rec, sizeof(rec));
}

static int snapshot_keys(flow_ctx *ctx, flow_keyed_writer *w)
{
    struct account_events *s = flow_state(ctx);
    struct keys_walk k = { w, 0 };
    acct_table_each(&s->accounts, put_key, &k);
    return k.rc;
}

static int restore_key(flow_ctx *ctx, const char *key, size_t klen,
                       const void *data, size_t dlen)
{
    struct account_events *s = flow_state(ctx);
    const uint8_t *rec = data;
    uint64_t id = 0;
    if (klen == 0 || klen > 20 || dlen != ACCT_REC_LEN) {
        flow_log(ctx,
                 "cannot restore an account: a key of %zu bytes with "
                 "%zu bytes of state",
                 klen, dlen);
        return -FLOW_EMALFORMED;
    }
    for (size_t i = 0; i < klen; i++) {
        if (key[i] < '0' || key[i] > '9') {
            flow_log(ctx, "cannot restore account '%.*s': not a number",
                     (int)klen, key);
            return -FLOW_EMALFORMED;
        }
        id = id * 10 + (uint64_t)(key[i] - '0');
    }
    struct acct *a = acct_table_get(&s->accounts, id);
    if (!a)
        return -FLOW_ENOMEM;
    uint64_t seq = 0, bal = 0;
    for (int i = 7; i >= 0; i--) {
        seq = (seq << 8) | rec[i];
        bal = (bal << 8) | rec[8 + i];
    }
    a->last_seq = seq;
    a->balance = (int64_t)bal;
    a->state = rec[16];
    return 0;
}

static void fini(flow_ctx *ctx)
{
    struct account_events *s = flow_state(ctx);
    acct_table_fini(&s->accounts);
}

const flow_app_desc account_events_app = {
    .name = "account-events",
    .role = FLOW_ROLE_PROCESSOR,
    .description = "Folds account events into event-sourced accounts "
                   "through the account state machine; applied events go "
                   "out with the new state and balance, illegal ones to "
                   "the error output with the reason, duplicates are "
                   "skipped and counted.",
    .options = options,
    .state_size = sizeof(struct account_events),
    .init = init,
    .on_event = on_event,
    .snapshot = snapshot,
    .restore = restore,
    .fini = fini,
    .snapshot_keys = snapshot_keys,
    .restore_key = restore_key,
};
