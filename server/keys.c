/* Transport keys: ZeroMQ CURVE key pairs of flowd and of each deployment,
 * recorded in the store, and the keys files flowd hands its apps
 * (flow/curve.h, docs/security.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "model.h"

/* Takes back the key pair recorded for owner, or makes and records a new
 * one (always a new one unless keep). */
static int key_pair(srv *s, const char *owner, bool keep,
                    char pub[FLOW_CURVE_Z85], char sec[FLOW_CURVE_Z85],
                    char *err, size_t errlen)
{
    if (keep) {
        sqlite3_stmt *q = srv_store_query(
            &s->store,
            "SELECT public, secret FROM transport_keys WHERE owner=?", "s",
            owner);
        bool found = false;
        if (q && sqlite3_step(q) == SQLITE_ROW) {
            const char *p = (const char *)sqlite3_column_text(q, 0);
            const char *k = (const char *)sqlite3_column_text(q, 1);
            if (p && k && strlen(p) == FLOW_CURVE_Z85 - 1 &&
                strlen(k) == FLOW_CURVE_Z85 - 1) {
                memcpy(pub, p, FLOW_CURVE_Z85);
                memcpy(sec, k, FLOW_CURVE_Z85);
                found = true;
            }
        }
        sqlite3_finalize(q);
        if (found)
            return 0;
    }
    if (zmq_curve_keypair(pub, sec)) {
        snprintf(err, errlen,
                 "cannot make a CURVE key pair: %s (ZeroMQ needs libsodium)",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    if (srv_store_exec(&s->store,
                       "INSERT OR REPLACE INTO transport_keys(owner, public, "
                       "secret) VALUES (?, ?, ?)",
                       "sss", owner, pub, sec)) {
        snprintf(err, errlen, "cannot record the key pair of %s: %s", owner,
                 s->store.err);
        return -1;
    }
    return 0;
}

/* Does deployed stream c read the named destination that st writes
 * (`st: ... > :d` and `c: :d > ...`), or tap an app of st (it reads that
 * app's output group)? */
static bool reads_from(srv *s, const srv_stream *c, const srv_stream *st)
{
    if (c->deployed && c->tap) {
        srv_dapp *t = srv_tap_target(s, c);
        return t && t->stream == st;
    }
    return c->deployed && c->ast && c->ast->source && st->ast &&
           st->ast->sink &&
           strcmp(c->ast->source->name, st->ast->sink->name) == 0;
}

/*
 * Appends the allow lines of a keys file: flowd's client key (flowctl
 * tap, and flowd's reader of every error output), then, for an instance
 * of stream owner, its own deployment's key and those of the streams that
 * read the destination owner writes or tap one of its apps; for flowd's
 * own file (owner NULL: the control endpoint, the dead-letter groups),
 * every deployment's key.
 */
static void put_allow(srv *s, const srv_stream *owner, FILE *f)
{
    char z85[FLOW_CURVE_Z85];

    zmq_z85_encode(z85, s->curve->allow[0], 32);
    fprintf(f, "allow %s\n", z85);
    for (srv_stream *st = s->streams; st; st = st->next)
        if (st->deployed && st->curve_public[0] &&
            (!owner || st == owner || reads_from(s, st, owner)))
            fprintf(f, "allow %s\n", st->curve_public);
}

/*
 * Writes a keys file at path: written to path.tmp, created anew (never
 * through a link, mode 0600) and renamed over path, so that a reader (an
 * app's ZAP handler) sees the old file or the new one, never half of one.
 */
/* Does the file at path hold exactly len bytes of text? */
static bool holds(const char *path, const char *text, size_t len)
{
    char buf[4096];
    bool same = false;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return false;
    if (len < sizeof buf) {
        ssize_t n = read(fd, buf, sizeof buf);
        same = n == (ssize_t)len && memcmp(buf, text, len) == 0;
    }
    close(fd);
    return same;
}

static int write_keys(srv *s, const srv_stream *owner, const char *path,
                      const char *pub, const char *sec)
{
    char tmp[PATH_MAX + 8];
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);

    if (!m)
        return -1;
    fprintf(m,
            "# CURVE keys of flow's tcp:// endpoints, written by flowd "
            "(docs/security.md)\n"
            "server-public %s\nserver-secret %s\npublic %s\nsecret %s\n",
            s->curve->server_public, s->curve->server_secret, pub, sec);
    put_allow(s, owner, m);
    if (fclose(m)) {
        free(text);
        return -1;
    }
    /* Unchanged keys are not written again: an instance restarted while
     * the disk is full keeps the file it has. */
    if (holds(path, text, len)) {
        explicit_bzero(text, len);
        free(text);
        return 0;
    }
    int rc = -1;
    if (srv_fmt(tmp, sizeof tmp, "%s.tmp", path)) {
        errno = ENAMETOOLONG;
        goto free_text;
    }
    unlink(tmp);
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto free_text;
    bool ok = write(fd, text, len) == (ssize_t)len;
    int e = ok ? 0 : (errno ? errno : EIO);
    if (close(fd) && ok) {
        ok = false;
        e = errno;
    }
    if (!ok || rename(tmp, path)) {
        if (ok)
            e = errno;
        unlink(tmp);
        errno = e;
        goto free_text;
    }
    rc = 0;
free_text:
    explicit_bzero(text, len);
    free(text);
    return rc;
}

static void flowd_keys_path(srv *s, char *buf, size_t len)
{
    srv_fmt(buf, len, "%s/flowd.keys", s->cfg.data_dir);
}

int srv_keys_start(srv *s, char *err, size_t errlen)
{
    char path[PATH_MAX];
    char pub[FLOW_CURVE_Z85], sec[FLOW_CURVE_Z85];
    char why[512];

    if (!zmq_has("curve")) {
        snprintf(err, errlen,
                 "this ZeroMQ has no CURVE security, which flow's tcp:// "
                 "endpoints need; use a libzmq built with libsodium");
        return -1;
    }
    s->curve = calloc(1, sizeof *s->curve);
    if (!s->curve) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (key_pair(s, "flowd.server", true, s->curve->server_public,
                 s->curve->server_secret, err, errlen) ||
        key_pair(s, "flowd.client", true, pub, sec, err, errlen))
        return -1;
    memcpy(s->curve->public_key, pub, sizeof pub);
    memcpy(s->curve->secret_key, sec, sizeof sec);
    zmq_z85_decode(s->curve->allow[0], pub);
    s->curve->nallow = 1;
    flowd_keys_path(s, path, sizeof path);
    if (write_keys(s, NULL, path, pub, sec)) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    if (flow_zap_start(s->zctx, path, why, sizeof why)) {
        snprintf(err, errlen, "cannot start the transport's ZAP handler: %s",
                 why);
        return -1;
    }
    return 0;
}

void srv_keys_stop(srv *s)
{
    if (s->curve)
        flow_zap_stop();
    free(s->curve);
    s->curve = NULL;
}

int srv_keys_stream(srv *s, srv_stream *st, bool keep, char *err, size_t errlen)
{
    char owner[SRV_NAME_MAX + 32];

    snprintf(owner, sizeof owner, "stream %s", st->name);
    return key_pair(s, owner, keep, st->curve_public, st->curve_secret, err,
                    errlen);
}

/* Removes instance i's keys file; its directory stays, with what the
 * instance wrote there. */
static void remove_inst_keys(srv *s, const srv_inst *i)
{
    char path[PATH_MAX];

    srv_inst_dir(s, i, path, sizeof path);
    if (strlen(path) + sizeof "/.flow-keys" > sizeof path)
        return;
    strcat(path, "/.flow-keys");
    unlink(path);
}

void srv_keys_forget(srv *s, srv_stream *st)
{
    char owner[SRV_NAME_MAX + 32];

    if (st->host)
        remove_inst_keys(s, st->host);
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++)
            remove_inst_keys(s, st->apps[k].inst[j]);

    snprintf(owner, sizeof owner, "stream %s", st->name);
    srv_store_exec(&s->store, "DELETE FROM transport_keys WHERE owner=?", "s",
                   owner);
    st->curve_public[0] = st->curve_secret[0] = '\0';
}

int srv_keys_write_inst(srv *s, const srv_inst *i, char *path, size_t len)
{
    srv_stream *st = i->app->stream;

    errno = 0;
    if (!st->curve_public[0]) {
        errno = ENOKEY;
        return -1;
    }
    /* The instance's own directory (paths.c), inside run/, which flowd
     * keeps 0700. */
    srv_inst_dir(s, i, path, len);
    if (strlen(path) + sizeof "/.flow-keys" > len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (srv_private_dir(path))
        return -1;
    strcat(path, "/.flow-keys");
    return write_keys(s, st, path, st->curve_public, st->curve_secret);
}

void srv_keys_refresh(srv *s)
{
    char path[PATH_MAX];

    if (!s->curve)
        return;
    flowd_keys_path(s, path, sizeof path);
    if (write_keys(s, NULL, path, s->curve->public_key, s->curve->secret_key))
        fprintf(stderr, "flowd: cannot write %s: %s\n", path, strerror(errno));
    for (srv_stream *st = s->streams; st; st = st->next) {
        if (!st->deployed)
            continue;
        if (st->host) {
            if (st->host->pid > 0 &&
                srv_keys_write_inst(s, st->host, path, sizeof path))
                fprintf(stderr, "flowd: cannot write %s: %s\n", path,
                        strerror(errno));
            continue;
        }
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                srv_inst *i = st->apps[k].inst[j];
                if (i->pid > 0 && srv_keys_write_inst(s, i, path, sizeof path))
                    fprintf(stderr, "flowd: cannot write %s: %s\n", path,
                            strerror(errno));
            }
    }
}
