/* ingest_src: the input log's group commit and replay (ingest_src.h). */
#include "ingest_src.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

/* One fsync on the thread pool. It owns a dup of the log's fd, so that
 * the source may close its log (fini) while the fsync still runs: the
 * syncer is then orphaned (is = NULL) and frees itself. */
struct ingest_syncer {
    uv_fs_t req;
    int fd;
    uint64_t target;
    ingest_src *is;
};

static void kick(ingest_src *is);

static void sync_done(uv_fs_t *req)
{
    struct ingest_syncer *y = req->data;
    ingest_src *is = y->is;
    int rc = (int)req->result;
    uv_fs_req_cleanup(req);
    close(y->fd);
    uint64_t target = y->target;
    free(y);
    if (!is)
        return;
    is->sync = NULL;
    if (rc < 0) {
        is->sync_errors++;
        flow_log(is->ctx, "cannot sync the input log: %s", uv_strerror(rc));
    } else {
        is->syncs++;
        if (target > is->log.durable)
            is->log.durable = target;
    }
    /* Tell the waiters, in order, up to what is durable (all of them,
     * with the error, when the sync failed). */
    while (is->waiting && (rc < 0 || is->waiting->off <= is->log.durable)) {
        ingest_waiter *w = is->waiting;
        is->waiting = w->next;
        if (!is->waiting)
            is->wtail = &is->waiting;
        w->next = NULL;
        w->done(w, rc < 0 ? -FLOW_EIO : 0);
    }
    if (is->on_durable)
        is->on_durable(is);
    kick(is);
}

/* Starts an fsync of what is appended, unless one runs. */
static void kick(ingest_src *is)
{
    if (is->sync || is->log.end <= is->log.durable)
        return;
    struct ingest_syncer *y = calloc(1, sizeof(*y));
    if (!y)
        return;
    y->fd = dup(ingest_log_fd(&is->log));
    if (y->fd < 0) {
        free(y);
        return;
    }
    y->target = is->log.end;
    y->is = is;
    y->req.data = y;
    if (uv_fs_fsync(flow_uv_loop(is->ctx), &y->req, y->fd, sync_done) < 0) {
        close(y->fd);
        free(y);
        return;
    }
    is->sync = y;
}

int ingest_src_init(ingest_src *is, flow_ctx *ctx, const char *type,
                    uint64_t max_pending, uint64_t seg_max)
{
    const flow_path_rules *r = flow_path_rules_of(ctx);
    char dir[4096], err[512];
    is->ctx = ctx;
    is->type = type;
    is->max_pending = max_pending;
    is->wtail = &is->waiting;
    flow_buf_init(&is->rbuf);
    snprintf(dir, sizeof(dir), "%s/ingest-log", r && r->base ? r->base : ".");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        flow_log(ctx, "cannot create the input log directory %s: %s", dir,
                 strerror(errno));
        return -FLOW_EIO;
    }
    int rc = ingest_log_open(&is->log, dir, seg_max, err, sizeof(err));
    if (rc) {
        flow_log(ctx, "%s", err);
        return rc;
    }
    is->log_open = true;
    if (is->log.torn)
        flow_log(ctx,
                 "input log: cut %llu bytes of a torn tail (never "
                 "acknowledged)",
                 (unsigned long long)is->log.torn);
    if (flow_guaranteed(ctx)) {
        /* Nothing of the log is covered by a checkpoint until restore
         * says so: all of it is emitted again. */
        is->emitted = ingest_log_first(&is->log);
        return 0;
    }
    /* Without a guarantee: from where the last clean stop left off, else
     * from the end (what a crash left unemitted is lost, as the
     * guarantee "none" allows, and nothing is emitted twice). */
    is->emitted = is->log.end;
    char path[4200];
    snprintf(path, sizeof(path), "%s/position", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        unsigned long long off;
        if (fscanf(f, "%llu", &off) == 1 && off >= ingest_log_first(&is->log) &&
            off <= is->log.end)
            is->emitted = off;
        fclose(f);
        unlink(path);
    }
    return 0;
}

/* Without a guarantee: where a clean stop left off, for the next start
 * (written whole, then renamed). */
static void save_position(ingest_src *is)
{
    char path[4200], tmp[4208];
    snprintf(path, sizeof(path), "%s/position", is->log.dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%llu\n", (unsigned long long)is->emitted);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        unlink(tmp);
        return;
    }
    fclose(f);
    if (rename(tmp, path) != 0)
        unlink(tmp);
}

void ingest_src_fini(ingest_src *is)
{
    if (is->sync)
        is->sync->is = NULL;
    is->sync = NULL;
    while (is->waiting) {
        ingest_waiter *w = is->waiting;
        is->waiting = w->next;
        w->next = NULL;
        w->done(w, -FLOW_ETERM);
    }
    is->wtail = &is->waiting;
    if (is->log_open && !flow_guaranteed(is->ctx))
        save_position(is);
    if (is->log_open)
        ingest_log_close(&is->log);
    is->log_open = false;
    flow_buf_fini(&is->rbuf);
}

int ingest_src_append(ingest_src *is, const void *recs, size_t len,
                      ingest_waiter *w)
{
    char err[512];
    int rc = ingest_log_append(&is->log, recs, len, is->sync == NULL, err,
                               sizeof(err));
    if (rc) {
        flow_log(is->ctx, "%s", err);
        return rc;
    }
    if (w) {
        w->off = is->log.end;
        w->next = NULL;
        *is->wtail = w;
        is->wtail = &w->next;
    }
    kick(is);
    return 0;
}

int ingest_src_tick(ingest_src *is)
{
    size_t room = flow_emit_room(is->ctx);
    while (room > 0 && is->emitted < is->log.durable) {
        ingest_rec rec;
        int64_t next = ingest_log_read(&is->log, is->emitted, &rec, &is->rbuf);
        if (next <= 0) {
            flow_log(is->ctx,
                     "input log: cannot read the record at offset %llu: %s",
                     (unsigned long long)is->emitted,
                     flow_strerror((int)(next ? next : -FLOW_EIO)));
            return next ? (int)next : -FLOW_EIO;
        }
        const char *key = NULL;
        if (rec.key) {
            size_t n =
                rec.klen < sizeof(is->key) ? rec.klen : sizeof(is->key) - 1;
            memcpy(is->key, rec.key, n);
            is->key[n] = 0;
            key = is->key;
        }
        int rc = flow_emit(is->ctx, is->type, key, 0, rec.payload, rec.plen);
        if (rc < 0)
            return rc;
        is->emitted = (uint64_t)next;
        room--;
    }
    /* Without checkpoints nothing will ask for a replay: what is emitted
     * may go. */
    if (!is->keep && !flow_guaranteed(is->ctx) && is->log.nsegs > 1 &&
        is->log.segs[1] <= is->emitted)
        ingest_log_trim(&is->log, is->emitted);
    if (is->on_durable)
        is->on_durable(is);
    return is->emitted < is->log.durable ? FLOW_TICK_MORE : FLOW_TICK_IDLE;
}

int ingest_src_snapshot(ingest_src *is, flow_buf *out)
{
    uint64_t id = flow_checkpoint_id(is->ctx);
    flow_mp_put_uint(out, is->emitted);
    if (id) {
        if (is->nring == INGEST_CKPT_RING) {
            memmove(is->ring, is->ring + 1,
                    (INGEST_CKPT_RING - 1) * sizeof(is->ring[0]));
            is->nring--;
        }
        is->ring[is->nring].id = id;
        is->ring[is->nring].off = is->emitted;
        is->nring++;
    }
    return out->err;
}

int ingest_src_restore(ingest_src *is, const void *data, size_t len)
{
    flow_mp_reader r;
    flow_mp_value v;
    if (len == 0)
        return 0;
    flow_mp_reader_init(&r, data, len);
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_INT || v.is_neg) {
        flow_log(is->ctx, "cannot restore: not an input log offset");
        return -FLOW_EMALFORMED;
    }
    uint64_t off = v.u;
    if (off < ingest_log_first(&is->log) || off > is->log.end) {
        flow_log(is->ctx,
                 "cannot restore: the checkpoint's input log offset %llu is "
                 "outside the log kept in %s (%llu to %llu); was the "
                 "instance's directory replaced?",
                 (unsigned long long)off, is->log.dir,
                 (unsigned long long)ingest_log_first(&is->log),
                 (unsigned long long)is->log.end);
        return -FLOW_ESTATE;
    }
    is->emitted = off;
    return 0;
}

void ingest_src_commit(ingest_src *is, uint64_t n)
{
    uint64_t off = 0;
    bool found = false;
    unsigned k = 0;
    for (unsigned i = 0; i < is->nring; i++) {
        if (is->ring[i].id <= n) {
            off = is->ring[i].off;
            found = is->ring[i].id == n || found;
            k = i + 1;
        }
    }
    if (!k)
        return;
    memmove(is->ring, is->ring + k, (is->nring - k) * sizeof(is->ring[0]));
    is->nring -= k;
    (void)found;
    if (is->keep)
        return;
    int rc = ingest_log_trim(&is->log, off);
    if (rc < 0)
        flow_log(is->ctx, "cannot trim the input log: %s", strerror(-rc));
}

int ingest_listen(flow_ctx *ctx, const char *host, int64_t port,
                  uv_connection_cb cb, void *data, uv_tcp_t **server,
                  int *port_out, bool *v6)
{
    struct sockaddr_storage ss;
    int rc;

    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss) &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss)) {
        flow_log(ctx, "--host='%s': not an IPv4 or IPv6 address", host);
        return -FLOW_EOPTION;
    }
    *server = calloc(1, sizeof(**server));
    if (!*server)
        return -FLOW_ENOMEM;
    uv_tcp_init(flow_uv_loop(ctx), *server);
    (*server)->data = data;
    if ((rc = uv_tcp_bind(*server, (struct sockaddr *)&ss, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)*server, 128, cb)) < 0) {
        flow_log(ctx, "cannot listen on %s port %lld: %s", host,
                 (long long)port, uv_strerror(rc));
        return -FLOW_EIO;
    }
    int len = sizeof(ss);
    uv_tcp_getsockname(*server, (struct sockaddr *)&ss, &len);
    *v6 = ss.ss_family == AF_INET6;
    *port_out = ntohs(*v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                          : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}
