#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&account_events_app, argc, argv);
}
