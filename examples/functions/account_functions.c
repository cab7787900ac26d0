/*
 * account_functions - an example function library (flow/function.h):
 * actions over the account events of load-sim and account-events.
 *
 *   on_created    ACCOUNT_CREATED: passes the event on with
 *                 "handled_by": "on_created" and "created": N, the number
 *                 of accounts created so far, added to its payload.
 *   on_suspended  ACCOUNT_SUSPENDED: the same with "suspended": N.
 *   tag           any event: adds "handled_by": "tag" alone (a default
 *                 action, or the one function of --name).
 *   reject        any event: sends it to the error output.
 *
 * on_created and on_suspended also add "handled": N, the events the two
 * have handled together: the library's own state, which its functions
 * share. The counts are state: snapshot and restore keep each function's
 * and the library's across restarts. Build (see README.md):
 *
 *     cc -shared -fPIC -O2 -I<prefix>/include account_functions.c \
 *        -o libaccount_functions.so
 */
#include <flow/function.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The state of on_created and on_suspended. */
struct tally {
    uint64_t n;
};

static int tally_init(void **state, const char *options, flow_fn_out *out)
{
    (void)options;
    (void)out;
    *state = calloc(1, sizeof(struct tally));
    return *state ? 0 : -1;
}

static void tally_fini(void *state)
{
    free(state);
}

static int tally_snapshot(void *state, flow_fn_out *out)
{
    const struct tally *t = state;
    uint8_t b[8];
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)(t->n >> (56 - 8 * k));
    return flow_fn_write(out, b, sizeof b);
}

static int tally_restore(void *state, const void *data, size_t len,
                         flow_fn_out *out)
{
    struct tally *t = state;
    const uint8_t *b = data;
    if (len != 8) {
        flow_fn_log(out, "the saved state is not 8 bytes");
        return -1;
    }
    t->n = 0;
    for (int k = 0; k < 8; k++)
        t->n = t->n << 8 | b[k];
    return 0;
}

/* The library's state is a tally too, shared by its functions. */
static int library_init(void **state, const char *options, flow_fn_out *out)
{
    return tally_init(state, options, out);
}

/*
 * Emits in with "handled_by": fn and, when count_key is not NULL,
 * count_key: n and "handled": the library's count, one more, added to its
 * payload map. Returns NULL or the reason.
 */
static const char *annotate(const flow_event *in, flow_fn_out *out,
                            const char *fn, const char *count_key, uint64_t n)
{
    struct tally *all = flow_fn_library_state(out);
    flow_mp_reader r;
    flow_mp_value m;
    flow_buf b;
    const char *err = NULL;

    flow_mp_reader_init(&r, in->payload, in->payload_len);
    if (flow_mp_read(&r, &m) < 0 || m.type != FLOW_MP_MAP ||
        m.len > UINT32_MAX - 3)
        return "the payload is not a msgpack map";
    flow_buf_init(&b);
    flow_mp_put_map(&b, m.len + (count_key ? 3 : 1));
    flow_buf_append(&b, r.p, flow_mp_remaining(&r));
    flow_mp_put_cstr(&b, "handled_by");
    flow_mp_put_cstr(&b, fn);
    if (count_key) {
        flow_mp_put_cstr(&b, count_key);
        flow_mp_put_uint(&b, n);
        flow_mp_put_cstr(&b, "handled");
        flow_mp_put_uint(&b, ++all->n);
    }
    if (b.err) {
        err = "out of memory";
    } else {
        flow_event ev = *in;
        ev.payload = b.data;
        ev.payload_len = (uint32_t)b.len;
        if (flow_fn_emit(out, &ev) != 0)
            err = "the output refused the event";
    }
    flow_buf_fini(&b);
    return err;
}

static const char *on_created(void *state, const flow_event *in,
                              flow_fn_out *out)
{
    struct tally *t = state;
    return annotate(in, out, "on_created", "created", ++t->n);
}

static const char *on_suspended(void *state, const flow_event *in,
                                flow_fn_out *out)
{
    struct tally *t = state;
    return annotate(in, out, "on_suspended", "suspended", ++t->n);
}

static const char *tag(void *state, const flow_event *in, flow_fn_out *out)
{
    (void)state;
    return annotate(in, out, "tag", NULL, 0);
}

static const char *reject(void *state, const flow_event *in, flow_fn_out *out)
{
    (void)state;
    (void)in;
    (void)out;
    return "rejected by the example function 'reject'";
}

static const flow_function functions[] = {
    { .abi_version = FLOW_FUNCTION_ABI_VERSION,
      .name = "on_created",
      .description = "Counts created accounts and annotates the event.",
      .init = tally_init,
      .process = on_created,
      .snapshot = tally_snapshot,
      .restore = tally_restore,
      .fini = tally_fini },
    { .abi_version = FLOW_FUNCTION_ABI_VERSION,
      .name = "on_suspended",
      .description = "Counts suspended accounts and annotates the event.",
      .init = tally_init,
      .process = on_suspended,
      .snapshot = tally_snapshot,
      .restore = tally_restore,
      .fini = tally_fini },
    { .abi_version = FLOW_FUNCTION_ABI_VERSION,
      .name = "tag",
      .description = "Annotates any event with handled_by: tag.",
      .process = tag },
    { .abi_version = FLOW_FUNCTION_ABI_VERSION,
      .name = "reject",
      .description = "Sends every event to the error output.",
      .process = reject },
};

static const flow_function_lib library = {
    .abi_version = FLOW_FUNCTION_ABI_VERSION,
    .name = "account_functions",
    .functions = functions,
    .nfunctions = sizeof functions / sizeof functions[0],
    .init = library_init,
    .snapshot = tally_snapshot,
    .restore = tally_restore,
    .fini = tally_fini,
};

const flow_function_lib *flow_functions(void)
{
    return &library;
}
