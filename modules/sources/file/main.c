#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&file_source_app, argc, argv);
}
