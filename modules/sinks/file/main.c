#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&file_sink_app, argc, argv);
}
