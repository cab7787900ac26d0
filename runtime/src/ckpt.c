/*
 * Barrier alignment and the snapshot file (ckpt.h): the logic of
 * checkpoints that needs no sockets, used by checkpoint.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ckpt.h"
#include "flow/error.h"

void flow__align_init(flow__align *a, uint32_t want, bool exactly)
{
    memset(a, 0, sizeof(*a));
    a->want = want ? want : 1;
    a->exactly = exactly;
    a->max_held = FLOW_ALIGN_MAX_HELD;
}

void flow__align_fini(flow__align *a)
{
    for (size_t i = 0; i < a->nch; i++) {
        for (size_t j = 0; j < a->ch[i]->nheld; j++)
            free(a->ch[i]->held[j].data);
        free(a->ch[i]->held);
        free(a->ch[i]->name);
        free(a->ch[i]);
    }
    free(a->ch);
    for (size_t i = a->ready_head; i < a->nready; i++)
        free(a->ready[i].data);
    free(a->ready);
    for (size_t i = 0; i < a->nfb_ids; i++)
        free(a->fb_ids[i]);
    free(a->fb_ids);
    flow__align_record_end(a);
    free(a->rec_frames);
    memset(a, 0, sizeof(*a));
}

int flow__align_feedback(flow__align *a, const char *ids, uint32_t nchan)
{
    size_t n = 0;
    for (const char *p = ids; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len) {
            char **v = realloc(a->fb_ids, (n + 1) * sizeof(*v));
            if (!v)
                return -FLOW_ENOMEM;
            a->fb_ids = v;
            if (!(v[n] = strndup(p, len)))
                return -FLOW_ENOMEM;
            a->nfb_ids = ++n;
        }
        p += len + (e != NULL);
    }
    a->fb_want = nchan ? nchan : (uint32_t)n;
    return 0;
}

static bool is_feedback(const flow__align *a, const char *name, uint32_t len)
{
    for (size_t i = 0; i < a->nfb_ids; i++)
        if (strlen(a->fb_ids[i]) == len && !memcmp(a->fb_ids[i], name, len))
            return true;
    return false;
}

flow__chan *flow__align_chan(flow__align *a, const char *name, uint32_t len,
                             uint32_t instance)
{
    for (size_t i = 0; i < a->nch; i++)
        if (a->ch[i]->instance == instance && a->ch[i]->name_len == len &&
            !memcmp(a->ch[i]->name, name, len))
            return a->ch[i];
    flow__chan **n = realloc(a->ch, (a->nch + 1) * sizeof(*n));
    if (!n)
        return NULL;
    a->ch = n;
    flow__chan *c = calloc(1, sizeof(*c));
    if (!c || !(c->name = malloc(len + 1))) {
        free(c);
        return NULL;
    }
    memcpy(c->name, name, len);
    c->name[len] = '\0';
    c->name_len = len;
    c->instance = instance;
    c->feedback = is_feedback(a, name, len);
    /* A channel first seen while a checkpoint aligns has not sent its
     * barrier yet: it is behind, not ahead. */
    n[a->nch++] = c;
    return c;
}

bool flow__align_holds(const flow__align *a, const flow__chan *ch)
{
    return a->exactly && a->cur && !a->overflow && !ch->ended &&
           !ch->feedback && ch->last >= a->cur;
}

/* Moves what ch holds to the end of the ready queue, in order. */
static int release(flow__align *a, flow__chan *ch)
{
    if (!ch->nheld)
        return 0;
    if (a->ready_head == a->nready)
        a->ready_head = a->nready = 0;
    if (a->nready + ch->nheld > a->ready_cap) {
        size_t cap = a->ready_cap ? a->ready_cap : 16;
        while (cap < a->nready + ch->nheld)
            cap *= 2;
        flow__held *r = realloc(a->ready, cap * sizeof(*r));
        if (!r)
            return -FLOW_ENOMEM;
        a->ready = r;
        a->ready_cap = cap;
    }
    memcpy(a->ready + a->nready, ch->held, ch->nheld * sizeof(*ch->held));
    a->nready += ch->nheld;
    for (size_t j = 0; j < ch->nheld; j++)
        a->held_bytes -= ch->held[j].len;
    ch->nheld = 0;
    return 0;
}

static void release_all(flow__align *a)
{
    for (size_t i = 0; i < a->nch; i++)
        release(a, a->ch[i]);
}

int flow__align_hold(flow__align *a, flow__chan *ch, const void *data,
                     size_t len)
{
    bool over = a->held_bytes + len > a->max_held;
    if (ch->nheld == ch->held_cap) {
        size_t cap = ch->held_cap ? ch->held_cap * 2 : 16;
        flow__held *h = realloc(ch->held, cap * sizeof(*h));
        if (!h)
            return -FLOW_ENOMEM;
        ch->held = h;
        ch->held_cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -FLOW_ENOMEM;
    memcpy(copy, data, len);
    ch->held[ch->nheld++] = (flow__held){ copy, len };
    a->held_bytes += len;
    if (!over)
        return 0;
    /* This one too goes after the others: in order, to the ready queue. */
    a->overflow = true;
    release_all(a);
    return 1;
}

/* Have all channels delivered a->cur (or ended)? Then it is done. The
 * feedback channels are not waited for, and while the channel state of
 * an older checkpoint is recorded a newer one is not taken. */
static int check(flow__align *a)
{
    if (!a->cur || a->rec)
        return FLOW_ALIGN_WAIT;
    uint32_t aligned = 0;
    for (size_t i = 0; i < a->nch; i++)
        aligned += !a->ch[i]->feedback &&
                   (a->ch[i]->ended || a->ch[i]->last >= a->cur);
    if (aligned < a->want)
        return FLOW_ALIGN_WAIT;
    a->done = a->cur;
    a->cur = 0;
    a->overflow = false;
    release_all(a);
    return FLOW_ALIGN_ALIGNED;
}

int flow__align_barrier(flow__align *a, flow__chan *ch, uint64_t n)
{
    if (n <= ch->last)
        return FLOW_ALIGN_WAIT; /* a repeat */
    ch->last = n;
    if (ch->feedback)
        return FLOW_ALIGN_WAIT; /* it ends a recording, not an alignment */
    if (n <= a->done || (a->cur && n < a->cur))
        return FLOW_ALIGN_WAIT; /* of a checkpoint given up or done */
    if (a->cur && n > a->cur) {
        /* A newer checkpoint began before this one aligned (flowd gave
         * it up): the channels held for the old one are not ahead of
         * the new one. */
        a->cur = n;
        a->overflow = false;
        for (size_t i = 0; i < a->nch; i++)
            if (a->ch[i]->last < n)
                release(a, a->ch[i]);
    }
    a->cur = n;
    return check(a);
}

int flow__align_end(flow__align *a, flow__chan *ch)
{
    ch->ended = true;
    /* What it holds came before its end: it goes first. */
    release(a, ch);
    return check(a);
}

bool flow__align_all_ended(const flow__align *a)
{
    uint32_t ended = 0;
    for (size_t i = 0; i < a->nch; i++)
        ended += a->ch[i]->ended && !a->ch[i]->feedback;
    return ended >= a->want;
}

bool flow__align_next(flow__align *a, uint8_t **data, size_t *len)
{
    if (a->ready_head >= a->nready)
        return false;
    flow__held h = a->ready[a->ready_head++];
    *data = h.data;
    *len = h.len;
    return true;
}

int flow__align_push_ready(flow__align *a, const void *data, size_t len)
{
    if (a->ready_head == a->nready)
        a->ready_head = a->nready = 0;
    if (a->nready == a->ready_cap) {
        size_t cap = a->ready_cap ? a->ready_cap * 2 : 16;
        flow__held *r = realloc(a->ready, cap * sizeof(*r));
        if (!r)
            return -FLOW_ENOMEM;
        a->ready = r;
        a->ready_cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -FLOW_ENOMEM;
    memcpy(copy, data, len);
    a->ready[a->nready++] = (flow__held){ copy, len };
    return 0;
}

int flow__align_start(flow__align *a, uint64_t n)
{
    if (!flow__align_all_ended(a) || n <= a->done || (a->cur && n <= a->cur))
        return FLOW_ALIGN_WAIT;
    a->cur = n;
    return check(a);
}

int flow__align_check(flow__align *a)
{
    return check(a);
}

void flow__align_record_start(flow__align *a, uint64_t n)
{
    flow__align_record_end(a);
    a->rec = n;
}

/* Is ch still to deliver barrier a->rec? */
static bool recording(const flow__align *a, const flow__chan *ch)
{
    return a->rec && ch->feedback && !ch->ended && ch->last < a->rec;
}

int flow__align_record(flow__align *a, flow__chan *ch, const void *data,
                       size_t len)
{
    if (!recording(a, ch) || a->rec_over)
        return 0;
    if (a->rec_bytes + len > a->max_held) {
        for (size_t i = 0; i < a->nrec; i++)
            free(a->rec_frames[i].data);
        a->nrec = a->rec_bytes = 0;
        a->rec_over = true;
        return 1;
    }
    if (a->nrec == a->rec_cap) {
        size_t cap = a->rec_cap ? a->rec_cap * 2 : 16;
        flow__held *h = realloc(a->rec_frames, cap * sizeof(*h));
        if (!h)
            return -FLOW_ENOMEM;
        a->rec_frames = h;
        a->rec_cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -FLOW_ENOMEM;
    memcpy(copy, data, len);
    a->rec_frames[a->nrec++] = (flow__held){ copy, len };
    a->rec_bytes += len;
    return 0;
}

bool flow__align_record_complete(const flow__align *a)
{
    if (!a->rec)
        return false;
    uint32_t done = 0;
    for (size_t i = 0; i < a->nch; i++)
        done += a->ch[i]->feedback && !recording(a, a->ch[i]);
    return done >= a->fb_want;
}

void flow__align_record_end(flow__align *a)
{
    for (size_t i = 0; i < a->nrec; i++)
        free(a->rec_frames[i].data);
    a->nrec = a->rec_bytes = 0;
    a->rec_over = false;
    a->rec = 0;
}

/* ---- The snapshot file ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint32_t crc_of(const uint8_t *data, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = crc32(crc, data, n);
        data += n;
        len -= n;
    }
    return (uint32_t)crc;
}

int flow__snap_frame(flow_buf *out, const uint8_t *body, size_t len)
{
    uint8_t head[FLOW_SNAP_HEADER_LEN] = { 0 };
    memcpy(head, FLOW_SNAP_MAGIC, 8);
    put_be32(head + 8, crc_of(body, len));
    flow_buf_reset(out);
    flow_buf_append(out, head, sizeof(head));
    flow_buf_append(out, body, len);
    return out->err;
}

#define BAD(...)                            \
    do {                                    \
        snprintf(why, whylen, __VA_ARGS__); \
        return -FLOW_EMALFORMED;            \
    } while (0)

static bool read_uint(flow_mp_reader *r, uint64_t *u)
{
    flow_mp_value v;
    if (flow_mp_read(r, &v) || v.type != FLOW_MP_INT || v.is_neg)
        return false;
    *u = v.u;
    return true;
}

int flow__snap_next_key(flow_mp_reader *r, uint32_t *kg, const uint8_t **key,
                        uint32_t *klen, const uint8_t **val, uint32_t *vlen)
{
    flow_mp_value v;
    uint64_t g;
    if (flow_mp_read(r, &v) || v.type != FLOW_MP_ARRAY || v.len != 3 ||
        !read_uint(r, &g) || g > UINT32_MAX)
        return -FLOW_EMALFORMED;
    *kg = (uint32_t)g;
    if (flow_mp_read(r, &v) || v.type != FLOW_MP_BIN)
        return -FLOW_EMALFORMED;
    *key = (const uint8_t *)v.str;
    *klen = v.len;
    if (flow_mp_read(r, &v) || v.type != FLOW_MP_BIN)
        return -FLOW_EMALFORMED;
    *val = (const uint8_t *)v.str;
    *vlen = v.len;
    return 0;
}

int flow__snap_parse(const uint8_t *data, size_t len, flow__snap *s, char *why,
                     size_t whylen)
{
    flow_mp_reader r;
    flow_mp_value v;
    memset(s, 0, sizeof(*s));
    if (len < FLOW_SNAP_HEADER_LEN)
        BAD("the file has %zu bytes, less than the %d-byte header (torn?)", len,
            FLOW_SNAP_HEADER_LEN);
    if (memcmp(data, FLOW_SNAP_MAGIC, 8))
        BAD("it does not start with the magic %s (not a snapshot)",
            FLOW_SNAP_MAGIC);
    if (get_be32(data + 12) != 0)
        BAD("its reserved header word is not 0");
    uint32_t want = get_be32(data + 8);
    uint32_t got =
        crc_of(data + FLOW_SNAP_HEADER_LEN, len - FLOW_SNAP_HEADER_LEN);
    if (want != got)
        BAD("its checksum is wrong (crc32 %08x in the header, %08x of the "
            "content): the file is torn or corrupt",
            want, got);
    flow_mp_reader_init(&r, data + FLOW_SNAP_HEADER_LEN,
                        len - FLOW_SNAP_HEADER_LEN);
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY ||
        (v.len != 6 && v.len != 7))
        BAD("its content is not the array [n, epoch, app, unkeyed, keyed, "
            "counters] or [..., counters, channel state]");
    uint32_t parts = v.len;
    if (!read_uint(&r, &s->n) || !read_uint(&r, &s->epoch))
        BAD("its checkpoint id or epoch is not a non-negative integer");
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_STR)
        BAD("its app name is not a string");
    s->app = v.str;
    s->app_len = v.len;
    if (flow_mp_read(&r, &v) ||
        (v.type != FLOW_MP_BIN && v.type != FLOW_MP_NIL))
        BAD("its unkeyed state is neither bin nor nil");
    if (v.type == FLOW_MP_BIN) {
        s->unkeyed = (const uint8_t *)v.str;
        s->unkeyed_len = v.len;
    }
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY)
        BAD("its keyed state is not an array");
    s->nkeyed = v.len;
    s->keyed = r.p;
    for (uint32_t i = 0; i < s->nkeyed; i++) {
        uint32_t kg, kl, vl;
        const uint8_t *k, *d;
        if (flow__snap_next_key(&r, &kg, &k, &kl, &d, &vl))
            BAD("keyed entry %u is not [key group, key (bin), value (bin)]", i);
    }
    s->counters = r.p;
    if (flow_mp_read_object(&r, &v) || v.type != FLOW_MP_ARRAY)
        BAD("its counters are not an array");
    s->counters_len = v.raw_len;
    if (parts == 7) {
        if (flow_mp_read(&r, &v) || v.type != FLOW_MP_ARRAY)
            BAD("its channel state is not an array");
        s->nchan = v.len;
        s->chan = r.p;
        for (uint32_t i = 0; i < s->nchan; i++)
            if (flow_mp_read(&r, &v) || v.type != FLOW_MP_BIN)
                BAD("frame %u of its channel state is not bin", i);
        s->chan_len = (size_t)(r.p - s->chan);
    }
    if (flow_mp_remaining(&r))
        BAD("%zu bytes follow its content", flow_mp_remaining(&r));
    return 0;
}

/* fsync of a directory. */
static int sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

int flow__snap_write(const char *dir, uint64_t n, const char *name,
                     const uint8_t *data, size_t len, char *why, size_t whylen)
{
    char sub[4096], path[4096], tmp[4096];
    int e;
    if (snprintf(sub, sizeof(sub), "%s/%llu", dir, (unsigned long long)n) >=
            (int)sizeof(sub) ||
        snprintf(path, sizeof(path), "%s/%s", sub, name) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        snprintf(why, whylen, "the snapshot path under %s is too long", dir);
        return -FLOW_EINVAL;
    }
    /* The checkpoint directory itself is made on first use. */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        e = errno;
        snprintf(why, whylen, "cannot make %s: %s", dir, strerror(e));
        return flow_from_errno(e);
    }
    if (mkdir(sub, 0700) == 0) {
        if ((e = sync_dir(dir)) < 0) {
            snprintf(why, whylen, "cannot sync %s: %s", dir, strerror(-e));
            return flow_from_errno(-e);
        }
    } else if (errno != EEXIST) {
        e = errno;
        snprintf(why, whylen, "cannot make %s: %s", sub, strerror(e));
        return flow_from_errno(e);
    }
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        e = errno;
        snprintf(why, whylen, "cannot create %s: %s", tmp, strerror(e));
        return flow_from_errno(e);
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            e = errno;
            snprintf(why, whylen, "cannot write %s: %s", tmp, strerror(e));
            goto remove_tmp;
        }
        off += (size_t)w;
    }
    if (fsync(fd)) {
        e = errno;
        snprintf(why, whylen, "cannot sync %s: %s", tmp, strerror(e));
        goto remove_tmp;
    }
    if (close(fd)) {
        fd = -1;
        e = errno;
        snprintf(why, whylen, "cannot write %s: %s", tmp, strerror(e));
        goto remove_tmp;
    }
    fd = -1;
    if (rename(tmp, path)) {
        e = errno;
        snprintf(why, whylen, "cannot rename %s into place: %s", tmp,
                 strerror(e));
        goto remove_tmp;
    }
    if ((e = sync_dir(sub)) < 0) {
        e = -e;
        snprintf(why, whylen, "cannot sync %s: %s", sub, strerror(e));
        return flow_from_errno(e);
    }
    return 0;

remove_tmp:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return flow_from_errno(e);
}

int flow__snap_read(const char *path, flow_buf *out, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "cannot open it: %s", strerror(e));
        return flow_from_errno(e);
    }
    flow_buf_reset(out);
    for (;;) {
        if (flow_buf_reserve(out, 65536)) {
            close(fd);
            snprintf(why, whylen, "out of memory");
            return -FLOW_ENOMEM;
        }
        ssize_t r = read(fd, out->data + out->len, out->cap - out->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            snprintf(why, whylen, "cannot read it: %s", strerror(e));
            return flow_from_errno(e);
        }
        if (r == 0)
            break;
        out->len += (size_t)r;
    }
    close(fd);
    return 0;
}
