#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&header_enricher_app, argc, argv);
}
