/* The test-sink app as a program. */
#include "test_apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&test_sink_app, argc, argv);
}
