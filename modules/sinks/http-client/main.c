#include "flow/app.h"

extern const flow_app_desc http_client_app;

int main(int argc, char **argv)
{
    return flow_app_main(&http_client_app, argc, argv);
}
