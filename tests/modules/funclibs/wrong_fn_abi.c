/* A library whose table is of this ABI but one of whose functions is
 * not: refused whole too. */
#include <flow/function.h>

static const char *pass(void *state, const flow_event *in, flow_fn_out *out)
{
    (void)state;
    (void)in;
    (void)out;
    return NULL;
}

static const flow_function functions[] = {
    { .abi_version = FLOW_FUNCTION_ABI_VERSION,
      .name = "pass",
      .process = pass },
    { .abi_version = 0, .name = "old", .process = pass },
};

static const flow_function_lib library = {
    .abi_version = FLOW_FUNCTION_ABI_VERSION,
    .functions = functions,
    .nfunctions = 2,
};

const flow_function_lib *flow_functions(void)
{
    return &library;
}
