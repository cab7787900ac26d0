/*
 * The file sink's staging: bytes become visible only when their
 * checkpoint commits; a restore cuts the visible file back to the length
 * its snapshot recorded, or completes it from the staging file when the
 * sink died before publishing; without a guarantee bytes go through.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filestage.h"
#include "flow/error.h"

static char dir[] = "/tmp/test-filestage-XXXXXX";
static int vis, stg;

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    char p[64];
    snprintf(p, sizeof p, "%s/v", dir);
    vis = open(p, O_RDWR | O_CREAT | O_APPEND, 0644);
    snprintf(p, sizeof p, "%s/s", dir);
    stg = open(p, O_RDWR | O_CREAT | O_APPEND, 0644);
    cr_assert(vis >= 0 && stg >= 0);
}

static void teardown(void)
{
    char cmd[128];
    close(vis);
    close(stg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* The visible file's bytes as a string. */
static const char *visible(void)
{
    static char b[256];
    ssize_t n = pread(vis, b, sizeof b - 1, 0);
    cr_assert(n >= 0);
    b[n] = '\0';
    return b;
}

TestSuite(filestage, .init = setup, .fini = teardown);

Test(filestage, visible_at_commit_only)
{
    struct filestage f;
    bool pub;
    uint64_t vl, se;
    filestage_init(&f, vis, stg, 0);
    cr_assert_eq(filestage_write(&f, "a\n", 2), 0);
    cr_assert_eq(filestage_barrier(&f, 1), 0);
    cr_assert_eq(filestage_write(&f, "b\n", 2), 0);
    filestage_position(&f, &vl, &se);
    cr_assert_eq(vl, 4);
    cr_assert_eq(filestage_barrier(&f, 2), 0);
    cr_assert_str_eq(visible(), "", "nothing before a commit");
    cr_assert_eq(filestage_commit(&f, 1, &pub), 0);
    cr_assert(pub);
    cr_assert_str_eq(visible(), "a\n");
    cr_assert_eq(f.last_n, 1);
    cr_assert_eq(filestage_commit(&f, 1, &pub), 0);
    cr_assert_not(pub, "a commit again publishes nothing");
    cr_assert_str_eq(visible(), "a\n");
    cr_assert_eq(filestage_write(&f, "c\n", 2), 0);
    cr_assert_eq(filestage_commit(&f, 2, &pub), 0);
    cr_assert_str_eq(visible(), "a\nb\n", "c is after the barrier of 2");
    cr_assert_eq(f.pub, 4);
    cr_assert_eq(filestage_barrier(&f, 3), 0);
    cr_assert_eq(filestage_commit(&f, 3, &pub), 0);
    cr_assert_str_eq(visible(), "a\nb\nc\n");
    struct stat st;
    fstat(stg, &st);
    cr_assert_eq(st.st_size, 0, "all published: the staging file is emptied");
    filestage_fini(&f);
}

Test(filestage, restore_cuts_back_what_was_not_committed)
{
    struct filestage f;
    bool pub;
    uint64_t vl, se;
    filestage_init(&f, vis, stg, 0);
    filestage_write(&f, "a\n", 2);
    filestage_position(&f, &vl, &se); /* the snapshot of 1 */
    filestage_barrier(&f, 1);
    filestage_commit(&f, 1, &pub);
    filestage_write(&f, "b\n", 2);
    filestage_barrier(&f, 2);
    filestage_commit(&f, 2, &pub); /* 2 published, then restored from 1 */
    cr_assert_str_eq(visible(), "a\nb\n");
    filestage_fini(&f);

    filestage_init(&f, vis, stg, 4);
    cr_assert_eq(filestage_restore(&f, vl, se), 0);
    cr_assert_str_eq(visible(), "a\n");
    cr_assert_eq(f.pub, 2);
    filestage_fini(&f);
}

Test(filestage, restore_completes_what_was_not_published)
{
    struct filestage f;
    bool pub;
    uint64_t vl, se;
    filestage_init(&f, vis, stg, 0);
    filestage_write(&f, "a\n", 2);
    filestage_barrier(&f, 1);
    filestage_commit(&f, 1, &pub);
    filestage_write(&f, "bb\n", 3);
    filestage_write(&f, "cc\n", 3);
    filestage_position(&f, &vl, &se); /* the snapshot of 2 */
    cr_assert_eq(filestage_barrier(&f, 2), 0);
    /* Died with 2 complete but not published, and a half-published
     * copy: only "b" of it reached the visible file. */
    cr_assert_eq(write(vis, "b", 1), 1);
    filestage_write(&f, "dd\n", 3);
    filestage_flush(&f);
    filestage_fini(&f);

    filestage_init(&f, vis, stg, 3);
    cr_assert_eq(filestage_restore(&f, vl, se), 0);
    cr_assert_str_eq(visible(), "a\nbb\ncc\n");
    struct stat st;
    fstat(stg, &st);
    cr_assert_eq(st.st_size, 0, "what followed the checkpoint is dropped");
    /* And the sink goes on from there. */
    filestage_write(&f, "ee\n", 3);
    filestage_barrier(&f, 3);
    filestage_commit(&f, 3, &pub);
    cr_assert_str_eq(visible(), "a\nbb\ncc\nee\n");
    filestage_fini(&f);
}

Test(filestage, restore_refuses_without_the_staged_bytes)
{
    struct filestage f;
    filestage_init(&f, vis, stg, 0);
    cr_assert_eq(filestage_restore(&f, 10, 10), -FLOW_EMALFORMED);
    filestage_fini(&f);
}

Test(filestage, through_without_a_guarantee)
{
    struct filestage f;
    uint64_t vl, se;
    filestage_init(&f, vis, -1, 0);
    filestage_write(&f, "a\n", 2);
    cr_assert_str_eq(visible(), "", "held until flushed");
    cr_assert_eq(filestage_flush(&f), 0);
    cr_assert_str_eq(visible(), "a\n");
    filestage_position(&f, &vl, &se);
    cr_assert_eq(vl, 2);
    filestage_fini(&f);
}
