/* Paths relative to the running executable (flow/install.h). */
#include "flow/install.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/error.h"

int flow_exe_relative(const char *rel, char *out, size_t outlen)
{
    char exe[PATH_MAX];
    char joined[2 * PATH_MAX];
    char real[PATH_MAX];

    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -FLOW_ENOENT;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -FLOW_ENOENT;
    *slash = '\0';
    snprintf(joined, sizeof joined, "%s/%s", exe, rel);
    if (!realpath(joined, real))
        return -FLOW_ENOENT;
    if (strlen(real) >= outlen)
        return -FLOW_EINVAL;
    memcpy(out, real, strlen(real) + 1);
    return 0;
}

int flow_exe_relative_first(const char *const *rels, size_t nrels,
                            const char *probe, char *out, size_t outlen)
{
    char file[PATH_MAX];

    for (size_t i = 0; i < nrels; i++) {
        if (flow_exe_relative(rels[i], out, outlen))
            continue;
        int n = snprintf(file, sizeof file, "%s/%s", out, probe);
        if (n > 0 && (size_t)n < sizeof file && access(file, F_OK) == 0)
            return 0;
    }
    return -FLOW_ENOENT;
}
