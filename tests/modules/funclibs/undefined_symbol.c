/* A library that needs a symbol nobody defines: refused at load, since
 * the app loads with RTLD_NOW. */
#include <flow/function.h>

void flow_test_nobody_defines_this(void);

static const char *call(void *state, const flow_event *in, flow_fn_out *out)
{
    (void)state;
    (void)in;
    (void)out;
    flow_test_nobody_defines_this();
    return NULL;
}

static const flow_function functions[] = {
    { .abi_version = FLOW_FUNCTION_ABI_VERSION,
      .name = "call",
      .process = call },
};

static const flow_function_lib library = {
    .abi_version = FLOW_FUNCTION_ABI_VERSION,
    .functions = functions,
    .nfunctions = 1,
};

const flow_function_lib *flow_functions(void)
{
    return &library;
}
