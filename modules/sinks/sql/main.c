#include "flow/app.h"

extern const flow_app_desc sql_app;

int main(int argc, char **argv)
{
    return flow_app_main(&sql_app, argc, argv);
}
