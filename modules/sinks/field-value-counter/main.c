#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&field_value_counter_app, argc, argv);
}
