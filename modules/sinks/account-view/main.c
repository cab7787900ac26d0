#include "apps.h"

int main(int argc, char **argv)
{
    return flow_app_main(&account_view_app, argc, argv);
}
