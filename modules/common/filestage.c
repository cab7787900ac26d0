/*
 * filestage.c - staging, publishing and cutting back the file sink's
 * output (see filestage.h).
 */
#include "filestage.h"

#include "flow/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void filestage_init(struct filestage *f, int vis, int stg, uint64_t pub)
{
    memset(f, 0, sizeof *f);
    f->vis = vis;
    f->stg = stg;
    f->stg_rd = stg;
    f->pub = pub;
    flow_buf_init(&f->buf);
}

void filestage_fini(struct filestage *f)
{
    free(f->marks);
    flow_buf_fini(&f->buf);
    f->marks = NULL;
    f->nmarks = f->capmarks = 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -FLOW_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies stg[from, to) to the end of the visible file. */
static int copy(struct filestage *f, uint64_t from, uint64_t to)
{
    uint8_t b[65536];
    while (from < to) {
        size_t want = to - from < sizeof b ? (size_t)(to - from) : sizeof b;
        ssize_t r = pread(f->stg_rd, b, want, (off_t)from);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -FLOW_EIO;
        if (r == 0)
            return -FLOW_EMALFORMED;
        int rc = write_all(f->vis, b, (size_t)r);
        if (rc)
            return rc;
        from += (uint64_t)r;
    }
    return 0;
}

int filestage_flush(struct filestage *f)
{
    if (f->buf.err)
        return f->buf.err;
    if (f->buf.len == 0)
        return 0;
    int rc = write_all(f->stg >= 0 ? f->stg : f->vis, f->buf.data, f->buf.len);
    if (rc)
        return rc;
    if (f->stg >= 0)
        f->stg_w += f->buf.len;
    else
        f->pub += f->buf.len;
    flow_buf_reset(&f->buf);
    return 0;
}

int filestage_write(struct filestage *f, const void *data, size_t len)
{
    flow_buf_append(&f->buf, data, len);
    if (f->buf.err)
        return f->buf.err;
    return f->buf.len >= FILESTAGE_BUF ? filestage_flush(f) : 0;
}

void filestage_position(const struct filestage *f, uint64_t *vis_len,
                        uint64_t *stg_end)
{
    uint64_t end = f->stg_w + f->buf.len;
    *stg_end = end;
    *vis_len = f->pub + (end - f->stg_p);
}

int filestage_barrier(struct filestage *f, uint64_t n)
{
    int rc = filestage_flush(f);
    if (rc)
        return rc;
    if (f->stg < 0)
        return 0;
    if (fsync(f->stg) != 0)
        return -FLOW_EIO;
    if (f->nmarks && f->marks[f->nmarks - 1].n >= n)
        return 0; /* an older barrier again: nothing new to mark */
    if (f->nmarks == f->capmarks) {
        size_t cap = f->capmarks ? f->capmarks * 2 : 8;
        struct filestage_mark *m = realloc(f->marks, cap * sizeof *m);
        if (!m)
            return -FLOW_ENOMEM;
        f->marks = m;
        f->capmarks = cap;
    }
    f->marks[f->nmarks++] = (struct filestage_mark){ n, f->stg_w };
    return 0;
}

int filestage_commit(struct filestage *f, uint64_t n, bool *published)
{
    *published = false;
    if (f->stg < 0)
        return 0;
    size_t k = 0;
    while (k < f->nmarks && f->marks[k].n <= n)
        k++;
    if (k == 0)
        return 0;
    uint64_t end = f->marks[k - 1].end;
    int rc = copy(f, f->stg_p, end);
    if (!rc && fsync(f->vis) != 0)
        rc = -FLOW_EIO;
    if (rc) {
        /* Cut off what was half copied, so that a retry appends it once. */
        if (ftruncate(f->vis, (off_t)f->pub) != 0)
            return -FLOW_EIO;
        return rc;
    }
    f->pub += end - f->stg_p;
    f->stg_p = end;
    f->last_n = f->marks[k - 1].n;
    memmove(f->marks, f->marks + k, (f->nmarks - k) * sizeof *f->marks);
    f->nmarks -= k;
    *published = true;
    if (f->nmarks == 0 && f->buf.len == 0 && f->stg_p == f->stg_w) {
        /* Everything staged is visible: start the staging file again. */
        if (ftruncate(f->stg, 0) != 0)
            return -FLOW_EIO;
        f->stg_w = f->stg_p = 0;
    }
    return 0;
}

int filestage_restore(struct filestage *f, uint64_t vis_len, uint64_t stg_end)
{
    struct stat st;
    if (fstat(f->vis, &st) != 0)
        return -FLOW_EIO;
    uint64_t have = (uint64_t)st.st_size;
    int rc;
    if (have >= vis_len) {
        if (have > vis_len && ftruncate(f->vis, (off_t)vis_len) != 0)
            return -FLOW_EIO;
    } else {
        uint64_t need = vis_len - have;
        struct stat ss;
        if (f->stg < 0 || fstat(f->stg, &ss) != 0 || need > stg_end ||
            (uint64_t)ss.st_size < stg_end)
            return -FLOW_EMALFORMED;
        if ((rc = copy(f, stg_end - need, stg_end)))
            return rc;
    }
    if (fsync(f->vis) != 0)
        return -FLOW_EIO;
    if (f->stg >= 0 && (ftruncate(f->stg, 0) != 0 || fsync(f->stg) != 0))
        return -FLOW_EIO;
    f->pub = vis_len;
    f->stg_w = f->stg_p = 0;
    f->nmarks = 0;
    flow_buf_reset(&f->buf);
    return 0;
}
