#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&http_app, argc, argv);
}
