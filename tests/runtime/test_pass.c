/* The test-pass app as a program. */
#include "test_apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&test_pass_app, argc, argv);
}
