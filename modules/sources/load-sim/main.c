#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&load_sim_app, argc, argv);
}
