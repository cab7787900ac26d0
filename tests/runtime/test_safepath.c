/*
 * Unit tests: the confined opening of the files options name
 * (flow/safepath.h). Each test works in a fresh temporary directory with
 * an instance directory "inst", an allowed directory "allow" and a place
 * "outside" that neither covers; every test runs both with openat2 and
 * with the component-wise walk.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flow/error.h"
#include "flow/safepath.h"

extern bool flow__safepath_walk_only;

static char top[256], inst[300], allow[300], outside[300];
static const char *allow_list[1];
static flow_path_rules rules;

static void setup(void)
{
    snprintf(top, sizeof(top), "/tmp/flow-safepath-XXXXXX");
    cr_assert_not_null(mkdtemp(top));
    snprintf(inst, sizeof(inst), "%s/inst", top);
    snprintf(allow, sizeof(allow), "%s/allow", top);
    snprintf(outside, sizeof(outside), "%s/outside", top);
    cr_assert_eq(mkdir(inst, 0700), 0);
    cr_assert_eq(mkdir(allow, 0700), 0);
    cr_assert_eq(mkdir(outside, 0700), 0);
    allow_list[0] = allow;
    rules = (flow_path_rules){ .base = inst,
                               .allow = allow_list,
                               .nallow = 1,
                               .confined = true,
                               .record = true };
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    cr_assert_eq(system(cmd), 0);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static char *slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Writes text to path through the helper; returns its result. */
static int write_out(const char *path, flow_path_access acc, const char *text,
                     char *why, size_t whylen)
{
    flow_path_out o;
    FILE *f = flow_path_fopen(&o, &rules, path, acc, why, whylen);
    if (!f)
        return -1;
    fputs(text, f);
    return flow_path_fclose(&o, f, false, why, whylen);
}

static size_t entries(const char *dir)
{
    char cmd[400], buf[32];
    snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(buf, sizeof(buf), p));
    pclose(p);
    return (size_t)atoi(buf);
}

#define BOTH(name)                                               \
    static void name##_body(void);                               \
    ParameterizedTestParameters(safepath, name)                  \
    {                                                            \
        static bool walk[] = { false, true };                    \
        return cr_make_param_array(bool, walk, 2);               \
    }                                                            \
    ParameterizedTest(bool *walk, safepath, name, .init = setup, \
                      .fini = teardown)                          \
    {                                                            \
        flow__safepath_walk_only = *walk;                        \
        name##_body();                                           \
    }                                                            \
    static void name##_body(void)

BOTH(relative_under_base)
{
    char why[512], buf[64], p[400];
    snprintf(p, sizeof(p), "%s/sub", inst);
    cr_assert_eq(mkdir(p, 0700), 0);
    cr_assert_eq(
        write_out("sub/./out.json", FLOW_PATH_WRITE, "one", why, sizeof(why)),
        0, "%s", why);
    snprintf(p, sizeof(p), "%s/sub/out.json", inst);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "one");
    /* ".." that stays inside is fine. */
    cr_assert_eq(
        write_out("sub/../b.json", FLOW_PATH_WRITE, "two", why, sizeof(why)), 0,
        "%s", why);
    snprintf(p, sizeof(p), "%s/b.json", inst);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "two");
}

BOTH(dotdot_escape_refused)
{
    char why[512];
    cr_assert_eq(flow_path_check(&rules, "../x", why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert_str_eq(why, "../x climbs out of the instance directory");
    cr_assert_eq(flow_path_check(&rules, "a/../../outside/x", why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert_eq(
        write_out("../outside/x", FLOW_PATH_WRITE, "no", why, sizeof(why)), -1);
    cr_assert_eq(entries(outside), 0);
    /* An absolute path climbing out of an allowed directory too. */
    char p[400];
    snprintf(p, sizeof(p), "%s/../outside/x", allow);
    cr_assert_eq(flow_path_check(&rules, p, why, sizeof(why)), -FLOW_EOPTION);
    cr_assert(strstr(why, "is outside the allowed directories"), "%s", why);
}

BOTH(absolute_outside_refused)
{
    char why[512], p[400], want[600];
    snprintf(p, sizeof(p), "%s/x", outside);
    cr_assert_eq(flow_path_probe(&rules, p, FLOW_PATH_WRITE, why, sizeof(why)),
                 -FLOW_EOPTION);
    snprintf(want, sizeof(want),
             "%s is outside the allowed directories (flowd --allow-path)", p);
    cr_assert_str_eq(why, want);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "no", why, sizeof(why)), -1);
    cr_assert_eq(entries(outside), 0);
    /* A directory whose name only starts like the allowed one. */
    snprintf(p, sizeof(p), "%s2/x", allow);
    cr_assert_eq(flow_path_check(&rules, p, why, sizeof(why)), -FLOW_EOPTION);
    /* Under the allowed directory and the instance directory: fine. */
    snprintf(p, sizeof(p), "%s/x", allow);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "yes", why, sizeof(why)), 0,
                 "%s", why);
    snprintf(p, sizeof(p), "%s/y", inst);
    cr_assert_eq(flow_path_check(&rules, p, why, sizeof(why)), 0, "%s", why);
}

BOTH(symlink_out_refused)
{
    char why[512], p[400], link[400], buf[64];
    snprintf(p, sizeof(p), "%s/target", outside);
    put(p, "original");
    snprintf(link, sizeof(link), "%s/link", allow);
    cr_assert_eq(symlink(p, link), 0);
    cr_assert_eq(write_out(link, FLOW_PATH_WRITE, "evil", why, sizeof(why)),
                 -1);
    cr_assert(strstr(why, "is a symbolic link, which is not followed"), "%s",
              why);
    cr_assert_eq(write_out(link, FLOW_PATH_APPEND, "evil", why, sizeof(why)),
                 -1);
    cr_assert_eq(flow_path_open_read(&rules, link, why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "original");
    /* A symlinked directory on the way. */
    snprintf(link, sizeof(link), "%s/dir", allow);
    cr_assert_eq(symlink(outside, link), 0);
    snprintf(p, sizeof(p), "%s/dir/new", allow);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "evil", why, sizeof(why)), -1);
    cr_assert(strstr(why, "symbolic link, which is not followed"), "%s", why);
    cr_assert_eq(write_out("../allow/dir/new", FLOW_PATH_WRITE, "evil", why,
                           sizeof(why)),
                 -1);
    cr_assert_eq(entries(outside), 1);
}

/* The rule: no symbolic link is followed below the root, not even one
 * that stays inside. */
BOTH(symlink_inside_refused)
{
    char why[512], p[400], link[400];
    snprintf(p, sizeof(p), "%s/real", allow);
    put(p, "x");
    snprintf(link, sizeof(link), "%s/alias", allow);
    cr_assert_eq(symlink("real", link), 0);
    cr_assert_eq(flow_path_open_read(&rules, link, why, sizeof(why)),
                 -FLOW_EOPTION);
    snprintf(p, sizeof(p), "%s/sub", allow);
    cr_assert_eq(mkdir(p, 0700), 0);
    snprintf(link, sizeof(link), "%s/subalias", allow);
    cr_assert_eq(symlink("sub", link), 0);
    snprintf(p, sizeof(p), "%s/subalias/f", allow);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "x", why, sizeof(why)), -1);
}

BOTH(existing_not_created_refused_unless_append)
{
    char why[512], p[400], buf[64];
    snprintf(p, sizeof(p), "%s/theirs", allow);
    put(p, "theirs\n");
    /* Recorded outputs only: a writable file of the same user that this
     * instance did not write is left alone. */
    cr_assert_eq(flow_path_probe(&rules, p, FLOW_PATH_WRITE, why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert(strstr(why, "was not written by this instance"), "%s", why);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "mine", why, sizeof(why)), -1);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "theirs\n");
    /* An append option may open it, and only appends. */
    cr_assert_eq(write_out(p, FLOW_PATH_APPEND, "more\n", why, sizeof(why)), 0,
                 "%s", why);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "theirs\nmore\n");
    /* What the instance wrote, it may replace (a restart). */
    snprintf(p, sizeof(p), "%s/mine", allow);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "1", why, sizeof(why)), 0, "%s",
                 why);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "2", why, sizeof(why)), 0, "%s",
                 why);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "2");
    cr_assert_eq(entries(allow), 2); /* no temporary file left behind */
}

BOTH(readonly_file_untouched)
{
    char why[512], p[400], buf[64];
    struct stat st;
    snprintf(p, sizeof(p), "%s/ro", allow);
    put(p, "keep");
    cr_assert_eq(chmod(p, 0444), 0);
    cr_assert_eq(flow_path_probe(&rules, p, FLOW_PATH_WRITE, why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert(strstr(why, "is read-only"), "%s", why);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "evil", why, sizeof(why)), -1);
    /* Unconfined (run by hand), the same. */
    rules = (flow_path_rules){ 0 };
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "evil", why, sizeof(why)), -1);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "keep");
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0444);
    cr_assert_eq(entries(allow), 1);
}

BOTH(reserved_and_bad_names)
{
    char why[512];
    cr_assert_eq(flow_path_check(&rules, ".flow-outputs", why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert_eq(flow_path_check(&rules, "", why, sizeof(why)), -FLOW_EOPTION);
    cr_assert_eq(flow_path_check(&rules, "a/..", why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert_eq(flow_path_check(&rules, allow, why, sizeof(why)),
                 -FLOW_EOPTION);
    cr_assert(strstr(why, "names a directory"), "%s", why);
}

BOTH(unconfined_by_hand)
{
    char why[512], p[400], buf[64];
    rules = (flow_path_rules){ 0 };
    snprintf(p, sizeof(p), "%s/x", outside);
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "1", why, sizeof(why)), 0, "%s",
                 why);
    /* The user's own writable file is replaced (nothing is recorded). */
    cr_assert_eq(write_out(p, FLOW_PATH_WRITE, "2", why, sizeof(why)), 0, "%s",
                 why);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "2");
    snprintf(p, sizeof(p), "%s/none/x", outside);
    cr_assert_eq(flow_path_probe(&rules, p, FLOW_PATH_WRITE, why, sizeof(why)),
                 -FLOW_ENOENT);
}

/* The record of what an instance wrote keeps one line per live output,
 * however often it is replaced. */
BOTH(record_holds_live_outputs)
{
    char why[512], p[400], rec[400], buf[256];
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(
            write_out("a.json", FLOW_PATH_WRITE, "a", why, sizeof(why)), 0,
            "%s", why);
        cr_assert_eq(
            write_out("b.json", FLOW_PATH_WRITE, "b", why, sizeof(why)), 0,
            "%s", why);
    }
    snprintf(rec, sizeof(rec), "%s/.flow-outputs", inst);
    slurp(rec, buf, sizeof(buf));
    size_t lines = 0;
    for (char *c = buf; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 2, "%s", buf);
    struct stat st;
    snprintf(p, sizeof(p), "%s/a.json", inst);
    cr_assert_eq(stat(p, &st), 0);
    char want[64];
    snprintf(want, sizeof(want), "%ju %ju\n", (uintmax_t)st.st_dev,
             (uintmax_t)st.st_ino);
    cr_assert(strstr(buf, want), "%s lacks %s", buf, want);
    cr_assert_eq(entries(inst), 3); /* a.json, b.json, .flow-outputs */
}

/* An append never lands in a file hard-linked from elsewhere. */
BOTH(append_refuses_hard_links)
{
    char why[512], p[400], hard[400], buf[64];
    snprintf(p, sizeof(p), "%s/secret", outside);
    put(p, "secret");
    snprintf(hard, sizeof(hard), "%s/log", allow);
    cr_assert_eq(link(p, hard), 0);
    cr_assert_eq(write_out(hard, FLOW_PATH_APPEND, "more", why, sizeof(why)),
                 -1);
    cr_assert(strstr(why, "other hard links"), "%s", why);
    cr_assert_eq(write_out(hard, FLOW_PATH_WRITE, "more", why, sizeof(why)),
                 -1);
    cr_assert_str_eq(slurp(p, buf, sizeof(buf)), "secret");
}
