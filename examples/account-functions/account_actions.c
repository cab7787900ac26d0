/*
 * account_actions - the account actions of the reference architecture as
 * functions (flow/function.h), one per action, for the function app with
 * --action-expression=payload.type:
 *
 *   created    ACCOUNT_CREATED    a new account: PENDING
 *   confirmed  ACCOUNT_CONFIRMED  PENDING -> CONFIRMED
 *   activated  ACCOUNT_ACTIVATED  CONFIRMED, SUSPENDED or ARCHIVED -> ACTIVE
 *   suspended  ACCOUNT_SUSPENDED  ACTIVE -> SUSPENDED
 *   archived   ACCOUNT_ARCHIVED   ACTIVE -> ARCHIVED
 *   deposited  ACCOUNT_DEPOSITED  ACTIVE, balance + amount
 *   withdrawn  ACCOUNT_WITHDRAWN  ACTIVE, balance - amount (not below 0)
 *
 * The accounts (state, balance, last applied seq) are the library's state,
 * which all seven share. An action applied goes out with the account's
 * new `state` and `balance` set in its payload, as account-events emits
 * it; an illegal one goes to the error output with the reason; a seq
 * already applied to the account is a duplicate and dropped. The accounts
 * are saved at a clean exit and restored at the next start (--flow.state).
 * Build (see README.md):
 *
 *     cc -shared -fPIC -O2 -I<prefix>/include account_actions.c \
 *        -o libaccount_actions.so
 */
#include <flow/function.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum state { CREATED, PENDING, CONFIRMED, ACTIVE, SUSPENDED, ARCHIVED };

static const char *const state_names[] = { "CREATED", "PENDING",   "CONFIRMED",
                                           "ACTIVE",  "SUSPENDED", "ARCHIVED" };

struct account {
    uint64_t id;
    bool used; /* false: an empty slot */
    uint8_t state;
    int64_t balance;
    uint64_t last_seq;
};

/* The accounts: open addressing, linear probing, at most half full. */
struct accounts {
    struct account *slot;
    size_t cap, count;
};

static size_t hash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static struct account *find_slot(struct account *slot, size_t cap, uint64_t id)
{
    size_t i = hash(id, cap);
    while (slot[i].used && slot[i].id != id)
        i = (i + 1) & (cap - 1);
    return &slot[i];
}

/* The account id, a new one (CREATED, balance 0) when unknown; NULL when
 * out of memory. */
static struct account *account_get(struct accounts *t, uint64_t id)
{
    if (2 * (t->count + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        struct account *slot = calloc(cap, sizeof(*slot));
        if (!slot)
            return NULL;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i].used)
                *find_slot(slot, cap, t->slot[i].id) = t->slot[i];
        free(t->slot);
        t->slot = slot;
        t->cap = cap;
    }
    struct account *a = find_slot(t->slot, t->cap, id);
    if (!a->used) {
        memset(a, 0, sizeof(*a));
        a->used = true;
        a->id = id;
        t->count++;
    }
    return a;
}

/* ---- The library's state ------------------------------------------ */

static int lib_init(void **state, const char *options, flow_fn_out *out)
{
    (void)options;
    (void)out;
    *state = calloc(1, sizeof(struct accounts));
    return *state ? 0 : -1;
}

static void lib_fini(void *state)
{
    struct accounts *t = state;
    if (t)
        free(t->slot);
    free(t);
}

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)(v >> (56 - 8 * k));
}

static uint64_t get_u64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | b[k];
    return v;
}

#define REC_LEN 25 /* id, balance, last_seq (8 bytes each), state */

static int lib_snapshot(void *state, flow_fn_out *out)
{
    struct accounts *t = state;
    for (size_t i = 0; i < t->cap; i++) {
        const struct account *a = &t->slot[i];
        if (!a->used)
            continue;
        uint8_t rec[REC_LEN];
        put_u64(rec, a->id);
        put_u64(rec + 8, (uint64_t)a->balance);
        put_u64(rec + 16, a->last_seq);
        rec[24] = a->state;
        if (flow_fn_write(out, rec, sizeof rec) != 0)
            return -1;
    }
    return 0;
}

static int lib_restore(void *state, const void *data, size_t len,
                       flow_fn_out *out)
{
    struct accounts *t = state;
    const uint8_t *b = data;
    if (len % REC_LEN != 0) {
        flow_fn_log(out, "the saved accounts are not whole records");
        return -1;
    }
    for (size_t at = 0; at < len; at += REC_LEN) {
        if (b[at + 24] > ARCHIVED) {
            flow_fn_log(out, "a saved account has an unknown state");
            return -1;
        }
        struct account *a = account_get(t, get_u64(b + at));
        if (!a)
            return -1;
        a->balance = (int64_t)get_u64(b + at + 8);
        a->last_seq = get_u64(b + at + 16);
        a->state = b[at + 24];
    }
    return 0;
}

/* ---- The actions ---------------------------------------------------- */

/* The fields an action reads. */
struct fields {
    uint64_t account, seq, amount;
    bool has_account, has_seq, has_amount;
};

static bool as_uint(const flow_mp_value *v, uint64_t *out)
{
    if (v->type != FLOW_MP_INT || v->is_neg)
        return false;
    *out = v->u;
    return true;
}

static const char *read_fields(const flow_event *in, struct fields *f)
{
    flow_mp_value v;
    memset(f, 0, sizeof(*f));
    if (flow_mp_map_find(in->payload, in->payload_len, "account", &v) == 0)
        f->has_account = as_uint(&v, &f->account);
    if (flow_mp_map_find(in->payload, in->payload_len, "seq", &v) == 0)
        f->has_seq = as_uint(&v, &f->seq);
    if (flow_mp_map_find(in->payload, in->payload_len, "amount", &v) == 0)
        f->has_amount = as_uint(&v, &f->amount);
    if (!f->has_account)
        return "payload field 'account' is missing or not a non-negative "
               "integer";
    if (!f->has_seq || f->seq == 0)
        return "payload field 'seq' is missing or not a positive integer";
    return NULL;
}

/* Emits in with `state` and `balance` set from a, every other entry of its
 * payload map as it is. Returns NULL or the reason. */
static const char *emit_applied(const flow_event *in, const struct account *a,
                                flow_fn_out *out)
{
    flow_mp_reader r;
    flow_mp_value m, k, v;
    flow_buf b;
    const char *err = NULL;
    flow_mp_reader_init(&r, in->payload, in->payload_len);
    if (flow_mp_read(&r, &m) < 0 || m.type != FLOW_MP_MAP)
        return "the payload is not a msgpack map";
    flow_buf_init(&b);
    /* A map32 header, its count patched in at the end. */
    flow_buf_append(&b, "\xdf\0\0\0\0", 5);
    uint32_t n = 0;
    for (uint32_t i = 0; i < m.len; i++) {
        if (flow_mp_read_object(&r, &k) < 0 ||
            flow_mp_read_object(&r, &v) < 0) {
            err = "the payload is not a well-formed msgpack map";
            goto out;
        }
        if (flow_mp_str_eq(&k, "state") || flow_mp_str_eq(&k, "balance"))
            continue;
        flow_mp_put_raw(&b, k.raw, k.raw_len);
        flow_mp_put_raw(&b, v.raw, v.raw_len);
        n++;
    }
    flow_mp_put_cstr(&b, "state");
    flow_mp_put_cstr(&b, state_names[a->state]);
    flow_mp_put_cstr(&b, "balance");
    flow_mp_put_int(&b, a->balance);
    n += 2;
    if (b.err) {
        err = "out of memory";
        goto out;
    }
    b.data[1] = (uint8_t)(n >> 24);
    b.data[2] = (uint8_t)(n >> 16);
    b.data[3] = (uint8_t)(n >> 8);
    b.data[4] = (uint8_t)n;
    flow_event ev = *in;
    ev.payload = b.data;
    ev.payload_len = (uint32_t)b.len;
    if (flow_fn_emit(out, &ev) != 0)
        err = "the output refused the event";
out:
    flow_buf_fini(&b);
    return err;
}

/* The reason of the last refusal, for the error output (the app copies it
 * at once, so one buffer does). */
static char reason[200];

/*
 * One action: the account moves from one of the states of `from` (a bit
 * per state) to `to`, with delta added to its balance (money actions).
 */
static const char *act(const flow_event *in, flow_fn_out *out, const char *name,
                       unsigned from, enum state to, int money)
{
    struct fields f;
    const char *err = read_fields(in, &f);
    if (err)
        return err;
    if (money && (!f.has_amount || f.amount == 0 || f.amount > INT64_MAX)) {
        snprintf(reason, sizeof reason, "%s needs a positive integer 'amount'",
                 name);
        return reason;
    }
    struct account *a = account_get(flow_fn_library_state(out), f.account);
    if (!a)
        return "out of memory";
    if (f.seq <= a->last_seq)
        return NULL; /* a duplicate: applied already */
    if (!(from & (1u << a->state))) {
        snprintf(reason, sizeof reason,
                 "%s on account %" PRIu64 " (seq %" PRIu64 ") in state %s: %s",
                 name, f.account, f.seq, state_names[a->state],
                 money ? "account is not active" : "illegal transition");
        return reason;
    }
    int64_t amount = (int64_t)f.amount;
    if (money > 0 && a->balance > INT64_MAX - amount) {
        snprintf(reason, sizeof reason,
                 "%s on account %" PRIu64 " (seq %" PRIu64
                 "): balance would overflow",
                 name, f.account, f.seq);
        return reason;
    }
    if (money < 0 && amount > a->balance) {
        snprintf(reason, sizeof reason,
                 "%s of %" PRId64 " on account %" PRIu64 " (seq %" PRIu64
                 "): insufficient funds, balance is %" PRId64,
                 name, amount, f.account, f.seq, a->balance);
        return reason;
    }
    a->balance += money * amount;
    a->state = (uint8_t)to;
    a->last_seq = f.seq;
    return emit_applied(in, a, out);
}

#define BIT(s) (1u << (s))

static const char *created(void *state, const flow_event *in, flow_fn_out *out)
{
    (void)state;
    return act(in, out, "ACCOUNT_CREATED", BIT(CREATED), PENDING, 0);
}

static const char *confirmed(void *state, const flow_event *in,
                             flow_fn_out *out)
{
    (void)state;
    return act(in, out, "ACCOUNT_CONFIRMED", BIT(PENDING), CONFIRMED, 0);
}

static const char *activated(void *state, const flow_event *in,
                             flow_fn_out *out)
{
    (void)state;
    return act(in, out, "ACCOUNT_ACTIVATED",
               BIT(CONFIRMED) | BIT(SUSPENDED) | BIT(ARCHIVED), ACTIVE, 0);
}

static const char *suspended(void *state, const flow_event *in,
                             flow_fn_out *out)
{
    (void)state;
    return act(in, out, "ACCOUNT_SUSPENDED", BIT(ACTIVE), SUSPENDED, 0);
}

static const char *archived(void *state, const flow_event *in, flow_fn_out *out)
{
    (void)state;
    return act(in, out, "ACCOUNT_ARCHIVED", BIT(ACTIVE), ARCHIVED, 0);
}

static const char *deposited(void *state, const flow_event *in,
                             flow_fn_out *out)
{
    (void)state;
    return act(in, out, "ACCOUNT_DEPOSITED", BIT(ACTIVE), ACTIVE, 1);
}

static const char *withdrawn(void *state, const flow_event *in,
                             flow_fn_out *out)
{
    (void)state;
    return act(in, out, "ACCOUNT_WITHDRAWN", BIT(ACTIVE), ACTIVE, -1);
}

#define ACTION(fn, what)                                       \
    {                                                          \
        .abi_version = FLOW_FUNCTION_ABI_VERSION, .name = #fn, \
        .description = what, .process = fn                     \
    }

static const flow_function functions[] = {
    ACTION(created, "ACCOUNT_CREATED: a new account, PENDING."),
    ACTION(confirmed, "ACCOUNT_CONFIRMED: PENDING to CONFIRMED."),
    ACTION(activated, "ACCOUNT_ACTIVATED: CONFIRMED, SUSPENDED or "
                      "ARCHIVED to ACTIVE."),
    ACTION(suspended, "ACCOUNT_SUSPENDED: ACTIVE to SUSPENDED."),
    ACTION(archived, "ACCOUNT_ARCHIVED: ACTIVE to ARCHIVED."),
    ACTION(deposited, "ACCOUNT_DEPOSITED: adds the amount, ACTIVE only."),
    ACTION(withdrawn, "ACCOUNT_WITHDRAWN: takes the amount, ACTIVE only, "
                      "never below 0."),
};

static const flow_function_lib library = {
    .abi_version = FLOW_FUNCTION_ABI_VERSION,
    .name = "account_actions",
    .functions = functions,
    .nfunctions = sizeof functions / sizeof functions[0],
    .init = lib_init,
    .snapshot = lib_snapshot,
    .restore = lib_restore,
    .fini = lib_fini,
};

const flow_function_lib *flow_functions(void)
{
    return &library;
}
