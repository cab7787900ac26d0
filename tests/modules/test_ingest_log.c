/*
 * Unit tests of the sources' input log: append and read back, sync,
 * reopen after a torn or corrupt tail, segments and trimming.
 */
#include <criterion/criterion.h>

#include "ingest_log.h"

#include "flow/error.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void mkdir_tmp(void)
{
    strcpy(dir, "/tmp/ingest-log-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int nfiles(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void append(ingest_log *l, int i, const char *key)
{
    flow_buf b;
    char err[256];
    char payload[32];
    flow_buf_init(&b);
    int n = snprintf(payload, sizeof(payload), "event-%d", i);
    ingest_log_put(&b, key, key ? strlen(key) : 0, payload, (size_t)n);
    cr_assert_eq(b.err, 0);
    cr_assert_eq(ingest_log_append(l, b.data, b.len, true, err, sizeof(err)), 0,
                 "%s", err);
    flow_buf_fini(&b);
}

/* Reads every record from off on; returns how many, checking their
 * payloads are event-first, event-first+1, ... */
static int read_all(ingest_log *l, uint64_t off, int first)
{
    flow_buf s;
    flow_buf_init(&s);
    int n = 0;
    for (;;) {
        ingest_rec r;
        int64_t next = ingest_log_read(l, off, &r, &s);
        cr_assert_geq(next, 0, "read at %llu: %d", (unsigned long long)off,
                      (int)next);
        if (next == 0)
            break;
        char want[32];
        int wl = snprintf(want, sizeof(want), "event-%d", first + n);
        cr_assert_eq(r.plen, (size_t)wl);
        cr_assert_eq(memcmp(r.payload, want, (size_t)wl), 0);
        off = (uint64_t)next;
        n++;
    }
    flow_buf_fini(&s);
    return n;
}

Test(ingest_log, append_sync_read_reopen, .init = mkdir_tmp, .fini = rm_tmp)
{
    ingest_log l;
    char err[256];
    cr_assert_eq(ingest_log_open(&l, dir, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(l.end, 0);
    append(&l, 0, "k0");
    append(&l, 1, NULL);
    /* Nothing is read before it is durable. */
    cr_assert_eq(read_all(&l, 0, 0), 0);
    cr_assert_eq(ingest_log_sync(&l), 0);
    cr_assert_eq(l.durable, l.end);
    cr_assert_eq(read_all(&l, 0, 0), 2);

    flow_buf s;
    flow_buf_init(&s);
    ingest_rec r;
    int64_t next = ingest_log_read(&l, 0, &r, &s);
    cr_assert_gt(next, 0);
    cr_assert_eq(r.klen, 2);
    cr_assert_eq(memcmp(r.key, "k0", 2), 0);
    next = ingest_log_read(&l, (uint64_t)next, &r, &s);
    cr_assert_null(r.key);
    flow_buf_fini(&s);
    uint64_t end = l.end;
    ingest_log_close(&l);

    cr_assert_eq(ingest_log_open(&l, dir, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(l.end, end);
    cr_assert_eq(l.durable, end);
    cr_assert_eq(l.torn, 0);
    cr_assert_eq(read_all(&l, 0, 0), 2);
    append(&l, 2, NULL);
    ingest_log_sync(&l);
    cr_assert_eq(read_all(&l, 0, 0), 3);
    ingest_log_close(&l);
}

static void tail_test(void (*damage)(const char *path, off_t size))
{
    ingest_log l;
    char err[256], path[512];
    cr_assert_eq(ingest_log_open(&l, dir, 0, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < 5; i++)
        append(&l, i, NULL);
    ingest_log_sync(&l);
    uint64_t size = l.end;
    ingest_log_close(&l);
    snprintf(path, sizeof(path), "%s/ingest-%020d.log", dir, 0);
    damage(path, (off_t)size);
    cr_assert_eq(ingest_log_open(&l, dir, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_gt(l.torn, 0);
    cr_assert_eq(read_all(&l, 0, 0), 4, "the four whole records stay");
    struct stat st;
    stat(path, &st);
    cr_assert_eq((uint64_t)st.st_size, l.end, "the tail is cut on disk");
    /* Appends go on after the cut. */
    append(&l, 4, NULL);
    ingest_log_sync(&l);
    cr_assert_eq(read_all(&l, 0, 0), 5);
    ingest_log_close(&l);
}

static void cut_mid_record(const char *path, off_t size)
{
    cr_assert_eq(truncate(path, size - 3), 0);
}

static void garbage_after(const char *path, off_t size)
{
    (void)size;
    cut_mid_record(path, size);
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_eq(write(fd, "\0\0\0\x07zzzzzzz", 11), 11);
    close(fd);
}

static void flip_last_byte(const char *path, off_t size)
{
    int fd = open(path, O_RDWR);
    char c;
    cr_assert_eq(pread(fd, &c, 1, size - 1), 1);
    c ^= 0x55;
    cr_assert_eq(pwrite(fd, &c, 1, size - 1), 1);
    close(fd);
}

Test(ingest_log, torn_tail_is_cut, .init = mkdir_tmp, .fini = rm_tmp)
{
    tail_test(cut_mid_record);
}

Test(ingest_log, garbage_tail_is_cut, .init = mkdir_tmp, .fini = rm_tmp)
{
    tail_test(garbage_after);
}

Test(ingest_log, corrupt_last_record_is_cut, .init = mkdir_tmp, .fini = rm_tmp)
{
    tail_test(flip_last_byte);
}

Test(ingest_log, segments_roll_and_trim, .init = mkdir_tmp, .fini = rm_tmp)
{
    ingest_log l;
    char err[256];
    /* Records are 8 + 2 + 7..8 bytes: three or so per 50-byte segment. */
    cr_assert_eq(ingest_log_open(&l, dir, 50, err, sizeof(err)), 0, "%s", err);
    uint64_t at[20];
    for (int i = 0; i < 20; i++) {
        at[i] = l.end;
        append(&l, i, NULL);
    }
    ingest_log_sync(&l);
    cr_assert_gt(l.nsegs, 4);
    int files = nfiles();
    cr_assert_eq((size_t)files, l.nsegs);
    cr_assert_eq(read_all(&l, 0, 0), 20);

    /* Trim up to the start of the third segment: two go. */
    uint64_t third = l.segs[2];
    cr_assert_eq(ingest_log_trim(&l, third + 1), 2);
    cr_assert_eq(nfiles(), files - 2);
    cr_assert_eq(ingest_log_first(&l), third);
    flow_buf s;
    flow_buf_init(&s);
    ingest_rec r;
    cr_assert_lt(ingest_log_read(&l, 0, &r, &s), 0, "trimmed offsets fail");
    flow_buf_fini(&s);
    int k = 0;
    while (k < 20 && at[k] != third)
        k++;
    cr_assert_lt(k, 20, "a segment starts at a record");
    cr_assert_eq(read_all(&l, third, k), 20 - k);
    /* The last segment is never trimmed. */
    ingest_log_trim(&l, l.end + 1000);
    cr_assert_eq(l.nsegs, 1);
    cr_assert_eq(nfiles(), 1);
    ingest_log_close(&l);

    /* Reopening finds the segments kept. */
    cr_assert_eq(ingest_log_open(&l, dir, 50, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(l.nsegs, 1);
    cr_assert_gt(ingest_log_first(&l), 0);
    ingest_log_close(&l);
}

Test(ingest_log, offsets_inside_a_record_are_refused, .init = mkdir_tmp,
     .fini = rm_tmp)
{
    ingest_log l;
    char err[256];
    cr_assert_eq(ingest_log_open(&l, dir, 0, err, sizeof(err)), 0, "%s", err);
    append(&l, 0, NULL);
    append(&l, 1, NULL);
    ingest_log_sync(&l);
    flow_buf s;
    flow_buf_init(&s);
    ingest_rec r;
    cr_assert_lt(ingest_log_read(&l, 3, &r, &s), 0);
    flow_buf_fini(&s);
    ingest_log_close(&l);
}
