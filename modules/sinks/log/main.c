#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&log_app, argc, argv);
}
