/* Paths relative to the running executable (flow/install.h). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flow/error.h"
#include "flow/install.h"

/* The directory of this test's executable, resolved. */
static void exe_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    cr_assert(realpath(exe, out) != NULL && strlen(out) < len);
}

Test(install, relative_to_the_executable)
{
    char dir[PATH_MAX], got[PATH_MAX], parent[PATH_MAX + 4];

    exe_dir(dir, sizeof dir);
    cr_assert_eq(flow_exe_relative(".", got, sizeof got), 0);
    cr_assert_str_eq(got, dir);
    snprintf(parent, sizeof parent, "%s/..", dir);
    char want[PATH_MAX];
    cr_assert(realpath(parent, want) != NULL);
    cr_assert_eq(flow_exe_relative("..", got, sizeof got), 0);
    cr_assert_str_eq(got, want);
    cr_assert_eq(flow_exe_relative("no-such-dir/x", got, sizeof got),
                 -FLOW_ENOENT);
    cr_assert_eq(flow_exe_relative(".", got, 2), -FLOW_EINVAL);
}

Test(install, first_that_holds_the_probe)
{
    char dir[PATH_MAX], got[PATH_MAX], sub[PATH_MAX + 32], file[PATH_MAX + 64];

    exe_dir(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/install-probe.%d", dir, (int)getpid());
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(file, sizeof file, "%s/flow-host", sub);
    FILE *f = fopen(file, "w");
    cr_assert(f != NULL);
    fclose(f);
    char rel[64];
    snprintf(rel, sizeof rel, "install-probe.%d", (int)getpid());
    const char *const rels[] = { "no-such-dir", ".", rel };

    /* "." exists but holds no flow-host: the third is taken. */
    int rc = flow_exe_relative_first(rels, 3, "flow-host", got, sizeof got);
    unlink(file);
    rmdir(sub);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(got, sub);
    cr_assert_eq(flow_exe_relative_first(rels, 2, "flow-host", got, sizeof got),
                 -FLOW_ENOENT);
}
