#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&order_sim_app, argc, argv);
}
