#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&tcp_sink_app, argc, argv);
}
