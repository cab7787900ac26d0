/*
 * The list of built-in apps (FLOW_MODULES_APPS, generated from
 * modules_apps in modules/meson.build) against the descriptors it names
 * and the app directories in the source tree: every app directory is in
 * the list, and every entry's descriptor carries its DSL name.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "apps.h"

#define ENTRY(desc, name) { &desc, name },
static const struct {
    const flow_app_desc *desc;
    const char *name;
} apps[] = { FLOW_MODULES_APPS(ENTRY) };
#undef ENTRY
#define NAPPS (sizeof(apps) / sizeof(apps[0]))

static bool listed(const char *name)
{
    for (size_t i = 0; i < NAPPS; i++)
        if (strcmp(apps[i].name, name) == 0)
            return true;
    return false;
}

Test(builtin_apps, descriptors_carry_their_names)
{
    cr_assert_gt(NAPPS, 0);
    for (size_t i = 0; i < NAPPS; i++) {
        cr_assert_str_eq(apps[i].desc->name, apps[i].name);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(apps[i].name, apps[j].name, "%s twice",
                              apps[i].name);
    }
}

Test(builtin_apps, every_app_directory_is_listed)
{
    static const char *const roles[] = { "sources", "processors", "sinks" };
    size_t found = 0;

    for (size_t r = 0; r < 3; r++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", MODULES_DIR, roles[r]);
        DIR *d = opendir(path);
        cr_assert_not_null(d, "cannot open %s", path);
        struct dirent *e;
        while ((e = readdir(d))) {
            char main_c[4096 + 512];
            struct stat st;
            snprintf(main_c, sizeof main_c, "%s/%s/main.c", path, e->d_name);
            if (e->d_name[0] == '.' || stat(main_c, &st) != 0)
                continue;
            cr_expect(listed(e->d_name),
                      "%s/%s has a main.c but is not in modules_apps", roles[r],
                      e->d_name);
            found++;
        }
        closedir(d);
    }
    cr_assert_eq(found, NAPPS, "%zu app directories, %zu apps listed", found,
                 NAPPS);
}
