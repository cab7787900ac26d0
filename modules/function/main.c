#include "function-app.h"

#include <string.h>

int main(int argc, char **argv)
{
    /* flow-function --describe-library=PATH is what flowd runs, in a
     * short-lived process of its own, to check a library before it
     * registers it: flowd never loads user code itself. */
    if (argc == 2 && strncmp(argv[1], "--describe-library=", 19) == 0)
        return function_describe_library(argv[1] + 19);
    return flow_app_main(&function_app, argc, argv);
}
