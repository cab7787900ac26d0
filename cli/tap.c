#include "ctl.h"
int cmd_tap(struct ctl *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    (void)argv;
    return CTL_EFAIL;
}
