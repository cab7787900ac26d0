/*
 * flowctl: the command line of flow. This file holds main and the command
 * dispatcher; each command group lives in its own file.
 */
#include <stdio.h>
#include <string.h>

#include "flow-config.h"

#ifdef FLOWCTL_HAVE_VALIDATE
#include "validate.h"
#endif

static void usage(FILE *out)
{
    fputs("usage: flowctl [--server URL] COMMAND [ARGS...]\n"
          "\n"
          "Commands:\n"
          "  validate FILE|-     check stream definitions offline\n"
          "  version             print the client version\n"
          "\n"
          "Run 'flowctl COMMAND --help' for a command's options.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("flowctl %s\n", FLOW_VERSION);
        return 0;
    }
#ifdef FLOWCTL_HAVE_VALIDATE
    if (!strcmp(cmd, "validate"))
        return flowctl_validate(argc - 1, argv + 1);
#endif
    fprintf(stderr, "flowctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
