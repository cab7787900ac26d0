/* flow_app_record_exit: the exit status an app leaves in its instance
 * directory for a flowd that adopted it and cannot wait for it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/app.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/flow-exit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];

    unsetenv("FLOW_INSTANCE_DIR");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static int entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    cr_assert_not_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

TestSuite(exit_record, .init = make_dir, .fini = remove_dir);

Test(exit_record, writes_pid_and_status_and_nothing_else)
{
    char path[128], buf[64], want[64];

    setenv("FLOW_INSTANCE_DIR", dir, 1);
    cr_assert_eq(flow_app_record_exit(3), 3);
    snprintf(path, sizeof path, "%s/.flow-exit", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    snprintf(want, sizeof want, "%d 3\n", (int)getpid());
    cr_assert_str_eq(buf, want);
    cr_assert_eq(entries(), 1, "the temporary file is gone");
    /* A later exit replaces it. */
    cr_assert_eq(flow_app_record_exit(0), 0);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    snprintf(want, sizeof want, "%d 0\n", (int)getpid());
    cr_assert_str_eq(buf, want);
}

Test(exit_record, does_nothing_without_an_instance_directory)
{
    unsetenv("FLOW_INSTANCE_DIR");
    cr_assert_eq(flow_app_record_exit(1), 1);
    cr_assert_eq(entries(), 0);
    setenv("FLOW_INSTANCE_DIR", "/nonexistent/flow-instance", 1);
    cr_assert_eq(flow_app_record_exit(1), 1, "a write that fails is quiet");
}
