/*
 * The list of built-in apps (FLOW_MODULES_APPS, generated from
 * modules_apps in modules/meson.build) against the descriptors it names
 * and the app directories in the source tree: every app directory is in
 * the list (or in modules_linked_apps, MODULES_LINKED_APPS: apps that
 * link a shared client library and flow-host does not carry), and every
 * entry's descriptor carries its DSL name. Every
 * option of every app but a prefix option fills a field of the app's state, and
 * the table passes the runtime's own check (--describe runs it).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

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

/* Whether name is one of modules_linked_apps (",a,b," in the define). */
static bool linked(const char *name)
{
    size_t n = strlen(name);
    for (const char *p = MODULES_LINKED_APPS; (p = strstr(p, name)); p++)
        if (p[-1] == ',' && p[n] == ',')
            return true;
    return false;
}

Test(builtin_apps, descriptors_carry_their_names)
{
    cr_assert_gt(NAPPS, 0);
    for (size_t i = 0; i < NAPPS; i++) {
        cr_assert_str_eq(apps[i].desc->name, apps[i].name);
        /* A name twice only for two roles (the file source and sink),
         * which the DSL tells apart by position. */
        for (size_t j = 0; j < i; j++)
            cr_assert(strcmp(apps[i].name, apps[j].name) != 0 ||
                          apps[i].desc->role != apps[j].desc->role,
                      "%s twice in one role", apps[i].name);
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
            if (linked(e->d_name))
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

Test(builtin_apps, every_option_fills_a_field)
{
    for (size_t i = 0; i < NAPPS; i++) {
        const flow_app_desc *a = apps[i].desc;
        for (const flow_option *o = a->options; o && o->name; o++) {
            /* A prefix option has many values and no field. */
            if (o->prefix)
                continue;
            cr_expect_neq(o->size, 0, "%s --%s has no field (FLOW_OPT_FIELD)",
                          a->name, o->name);
            cr_expect_leq(o->offset + o->size, a->state_size,
                          "%s --%s lies outside state_size", a->name, o->name);
        }
    }
}

Test(builtin_apps, tables_pass_the_runtime_check, .init = cr_redirect_stdout)
{
    for (size_t i = 0; i < NAPPS; i++) {
        char *argv[] = { (char *)apps[i].name, "--describe", NULL };
        cr_expect_eq(flow_app_main(apps[i].desc, 2, argv), 0,
                     "%s --describe failed", apps[i].name);
    }
}

/* The bounds in the tables do what the apps' own checks did. */
Test(builtin_apps, bounds_refuse_at_start, .init = cr_redirect_stderr)
{
    static const struct {
        const flow_app_desc *app;
        const char *arg;
    } cases[] = {
        { &load_sim_app, "--accounts=0" },
        { &load_sim_app, "--accounts=100000001" },
        { &load_sim_app, "--rate=-1" },
        { &load_sim_app, "--count=-1" },
        { &load_sim_app, "--illegal-ratio=1.01" },
        { &time_app, "--fixed-delay=0" },
        { &time_app, "--fixed-delay=31536001" },
        { &account_events_app, "--max-accounts=0" },
        { &counter_app, "--delay-us=10000001" },
        { &log_app, "--delay-us=-1" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = { "app", (char *)cases[i].arg, NULL };
        cr_expect_eq(flow_app_main(cases[i].app, 2, argv), 2, "%s %s",
                     cases[i].app->name, cases[i].arg);
    }
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "flow-load-sim: option '--accounts': 0 is below the minimum 1 (the "
        "range is 1 to 100000000)\n"
        "Try 'flow-load-sim --help'.\n"
        "flow-load-sim: option '--accounts': 100000001 is above the maximum "
        "100000000 (the range is 1 to 100000000)\n"
        "Try 'flow-load-sim --help'.\n"
        "flow-load-sim: option '--rate': -1 is below the minimum 0\n"
        "Try 'flow-load-sim --help'.\n"
        "flow-load-sim: option '--count': -1 is below the minimum 0\n"
        "Try 'flow-load-sim --help'.\n"
        "flow-load-sim: option '--illegal-ratio': 1.01 is above the maximum "
        "1 (the range is 0 to 1)\n"
        "Try 'flow-load-sim --help'.\n"
        "flow-time: option '--fixed-delay': 0 is below the minimum 1 (the "
        "range is 1 to 31536000)\n"
        "Try 'flow-time --help'.\n"
        "flow-time: option '--fixed-delay': 31536001 is above the maximum "
        "31536000 (the range is 1 to 31536000)\n"
        "Try 'flow-time --help'.\n"
        "flow-account-events: option '--max-accounts': 0 is below the "
        "minimum 1\n"
        "Try 'flow-account-events --help'.\n"
        "flow-counter: option '--delay-us': 10000001 is above the maximum "
        "10000000 (the range is 0 to 10000000)\n"
        "Try 'flow-counter --help'.\n"
        "flow-log: option '--delay-us': -1 is below the minimum 0 (the range "
        "is 0 to 10000000)\n"
        "Try 'flow-log --help'.\n");
}
