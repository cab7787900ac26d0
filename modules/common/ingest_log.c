/* ingest_log: segment files of framed, checksummed records
 * (ingest_log.h). */
#include "ingest_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "flow/error.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void seg_path(const ingest_log *l, uint64_t start, char *out, size_t n)
{
    snprintf(out, n, "%s/ingest-%020" PRIu64 ".log", l->dir, start);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int push_seg(ingest_log *l, uint64_t start)
{
    if (l->nsegs == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        uint64_t *s = realloc(l->segs, cap * sizeof(*s));
        if (!s)
            return -FLOW_ENOMEM;
        l->segs = s;
        l->cap = cap;
    }
    l->segs[l->nsegs++] = start;
    return 0;
}

/* Opens segment start for appending (creating it). */
static int open_tail(ingest_log *l, uint64_t start, char *err, size_t errlen)
{
    char path[4096];
    seg_path(l, start, path, sizeof(path));
    l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd < 0) {
        snprintf(err, errlen, "cannot open the input log segment %s: %s", path,
                 strerror(errno));
        return -FLOW_EIO;
    }
    return 0;
}

/* Scans the last segment's records; cuts it after the last whole one. */
static int recover_tail(ingest_log *l, char *err, size_t errlen)
{
    char path[4096];
    uint64_t start = l->segs[l->nsegs - 1];
    seg_path(l, start, path, sizeof(path));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the input log segment %s: %s", path,
                 strerror(errno));
        return -FLOW_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return -FLOW_EIO;
    }
    uint64_t size = (uint64_t)st.st_size, pos = 0;
    uint8_t *body = NULL;
    size_t bcap = 0;
    int rc = 0;
    while (size - pos >= INGEST_LOG_HDR) {
        uint8_t h[INGEST_LOG_HDR];
        if (pread(fd, h, sizeof(h), (off_t)pos) != (ssize_t)sizeof(h))
            break;
        uint32_t n = be32(h);
        if (n < 2 || n > INGEST_LOG_MAX_BODY || size - pos - 8 < n)
            break;
        if (n > bcap) {
            uint8_t *nb = realloc(body, n);
            if (!nb) {
                rc = -FLOW_ENOMEM;
                goto out;
            }
            body = nb;
            bcap = n;
        }
        if (pread(fd, body, n, (off_t)(pos + 8)) != (ssize_t)n)
            break;
        if ((uint32_t)crc32(0, body, n) != be32(h + 4))
            break;
        pos += 8 + (uint64_t)n;
    }
    if (pos < size) {
        l->torn = size - pos;
        if (ftruncate(fd, (off_t)pos) < 0 || fsync(fd) < 0) {
            snprintf(err, errlen, "cannot cut the torn tail of %s: %s", path,
                     strerror(errno));
            rc = -FLOW_EIO;
            goto out;
        }
    }
    l->end = l->durable = start + pos;
out:
    free(body);
    close(fd);
    return rc;
}

int ingest_log_open(ingest_log *l, const char *dir, uint64_t seg_max, char *err,
                    size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->fd = l->rfd = -1;
    l->seg_max = seg_max ? seg_max : 64u * 1024 * 1024;
    l->dir = strdup(dir);
    if (!l->dir)
        return -FLOW_ENOMEM;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open the input log directory %s: %s", dir,
                 strerror(errno));
        ingest_log_close(l);
        return -FLOW_EIO;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        uint64_t start;
        char tail[8];
        if (strlen(e->d_name) != 31 ||
            sscanf(e->d_name, "ingest-%20" SCNu64 "%4s", &start, tail) != 2 ||
            strcmp(tail, ".log") != 0)
            continue;
        if ((rc = push_seg(l, start)))
            break;
    }
    closedir(d);
    if (rc) {
        ingest_log_close(l);
        return rc;
    }
    if (l->nsegs == 0) {
        if ((rc = push_seg(l, 0)) || (rc = open_tail(l, 0, err, errlen)) ||
            (rc = fsync_dir(dir) ? -FLOW_EIO : 0)) {
            if (rc == -FLOW_EIO && l->fd >= 0)
                snprintf(err, errlen, "cannot sync the directory %s", dir);
            ingest_log_close(l);
            return rc;
        }
        return 0;
    }
    qsort(l->segs, l->nsegs, sizeof(*l->segs), cmp_u64);
    if ((rc = recover_tail(l, err, errlen)) ||
        (rc = open_tail(l, l->segs[l->nsegs - 1], err, errlen))) {
        ingest_log_close(l);
        return rc;
    }
    return 0;
}

void ingest_log_close(ingest_log *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->rfd >= 0)
        close(l->rfd);
    free(l->segs);
    free(l->dir);
    memset(l, 0, sizeof(*l));
    l->fd = l->rfd = -1;
}

void ingest_log_put(flow_buf *buf, const char *key, size_t klen,
                    const void *payload, size_t plen)
{
    if (!key)
        klen = 0;
    size_t n = 2 + klen + plen;
    if (klen >= INGEST_LOG_NOKEY || n > INGEST_LOG_MAX_BODY) {
        buf->err = -FLOW_ETOOBIG;
        return;
    }
    if (flow_buf_reserve(buf, 8 + n))
        return;
    uint8_t *h = buf->data + buf->len;
    put_be32(h, (uint32_t)n);
    h[8] = (uint8_t)((key ? klen : INGEST_LOG_NOKEY) >> 8);
    h[9] = (uint8_t)(key ? klen : INGEST_LOG_NOKEY);
    if (klen)
        memcpy(h + 10, key, klen);
    if (plen)
        memcpy(h + 10 + klen, payload, plen);
    put_be32(h + 4, (uint32_t)crc32(0, h + 8, (uInt)n));
    buf->len += 8 + n;
}

int ingest_log_sync(ingest_log *l)
{
    if (fsync(l->fd) < 0)
        return -errno;
    l->durable = l->end;
    return 0;
}

static int roll(ingest_log *l, char *err, size_t errlen)
{
    int rc = ingest_log_sync(l);
    if (rc) {
        snprintf(err, errlen, "cannot sync the input log: %s", strerror(-rc));
        return -FLOW_EIO;
    }
    if ((rc = push_seg(l, l->end)))
        return rc;
    close(l->fd);
    l->fd = -1;
    if ((rc = open_tail(l, l->end, err, errlen)))
        return rc;
    if (fsync_dir(l->dir)) {
        snprintf(err, errlen, "cannot sync the directory %s", l->dir);
        return -FLOW_EIO;
    }
    return 0;
}

int ingest_log_append(ingest_log *l, const void *records, size_t len,
                      bool may_roll, char *err, size_t errlen)
{
    if (may_roll && l->end - l->segs[l->nsegs - 1] >= l->seg_max) {
        int rc = roll(l, err, errlen);
        if (rc)
            return rc;
    }
    const uint8_t *p = records;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(l->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            /* Take back a partial write so the log stays whole. */
            if (left != len &&
                ftruncate(l->fd, (off_t)(l->end - l->segs[l->nsegs - 1])) < 0)
                e = errno;
            snprintf(err, errlen, "cannot write the input log in %s: %s",
                     l->dir, strerror(e));
            return -FLOW_EIO;
        }
        p += w;
        left -= (size_t)w;
    }
    l->end += len;
    return 0;
}

/* The index of the segment holding off. */
static size_t seg_of(const ingest_log *l, uint64_t off)
{
    size_t i = l->nsegs - 1;
    while (i > 0 && l->segs[i] > off)
        i--;
    return i;
}

int64_t ingest_log_read(ingest_log *l, uint64_t off, ingest_rec *rec,
                        flow_buf *scratch)
{
    if (off >= l->durable)
        return 0;
    if (off < l->segs[0])
        return -FLOW_EINVAL;
    uint64_t start = l->segs[seg_of(l, off)];
    if (l->rfd < 0 || l->rseg != start) {
        char path[4096];
        if (l->rfd >= 0)
            close(l->rfd);
        seg_path(l, start, path, sizeof(path));
        l->rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (l->rfd < 0)
            return -FLOW_EIO;
        l->rseg = start;
    }
    uint8_t h[INGEST_LOG_HDR];
    if (pread(l->rfd, h, sizeof(h), (off_t)(off - start)) != (ssize_t)sizeof(h))
        return -FLOW_EIO;
    uint32_t n = be32(h);
    if (n < 2 || n > INGEST_LOG_MAX_BODY || off + 8 + n > l->durable)
        return -FLOW_EMALFORMED;
    flow_buf_reset(scratch);
    if (flow_buf_reserve(scratch, n))
        return -FLOW_ENOMEM;
    if (pread(l->rfd, scratch->data, n, (off_t)(off - start + 8)) != (ssize_t)n)
        return -FLOW_EIO;
    scratch->len = n;
    if ((uint32_t)crc32(0, scratch->data, n) != be32(h + 4))
        return -FLOW_EMALFORMED;
    uint32_t k = (uint32_t)scratch->data[0] << 8 | scratch->data[1];
    size_t klen = k == INGEST_LOG_NOKEY ? 0 : k;
    if (2 + klen > n)
        return -FLOW_EMALFORMED;
    rec->key = k == INGEST_LOG_NOKEY ? NULL : (const char *)scratch->data + 2;
    rec->klen = klen;
    rec->payload = scratch->data + 2 + klen;
    rec->plen = n - 2 - klen;
    return (int64_t)(off + 8 + n);
}

int ingest_log_trim(ingest_log *l, uint64_t upto)
{
    size_t k = 0;
    /* Segment i ends where segment i+1 starts. */
    while (k + 1 < l->nsegs && l->segs[k + 1] <= upto)
        k++;
    for (size_t i = 0; i < k; i++) {
        char path[4096];
        seg_path(l, l->segs[i], path, sizeof(path));
        if (unlink(path) < 0 && errno != ENOENT)
            return -errno;
        if (l->rfd >= 0 && l->rseg == l->segs[i]) {
            close(l->rfd);
            l->rfd = -1;
        }
    }
    memmove(l->segs, l->segs + k, (l->nsegs - k) * sizeof(*l->segs));
    l->nsegs -= k;
    return (int)k;
}
