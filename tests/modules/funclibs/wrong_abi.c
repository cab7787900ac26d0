/* A function library built for another ABI version: refused whole. */
#include <flow/function.h>

static const char *pass(void *state, const flow_event *in, flow_fn_out *out)
{
    (void)state;
    (void)in;
    (void)out;
    return NULL;
}

static const flow_function functions[] = {
    { .abi_version = FLOW_FUNCTION_ABI_VERSION + 1,
      .name = "pass",
      .process = pass },
};

static const flow_function_lib library = {
    .abi_version = FLOW_FUNCTION_ABI_VERSION + 1,
    .functions = functions,
    .nfunctions = 1,
};

const flow_function_lib *flow_functions(void)
{
    return &library;
}
