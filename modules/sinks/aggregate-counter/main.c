#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&aggregate_counter_app, argc, argv);
}
