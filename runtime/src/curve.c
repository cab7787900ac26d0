/* ZeroMQ CURVE on tcp:// endpoints and the ZAP handler that admits the
 * peers flowd named (flow/curve.h, docs/security.md). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "flow/curve.h"
#include "flow/error.h"

#define KEYS_FILE_MAX (64 * 1024 + FLOW_CURVE_ALLOW_MAX * 64)

static int bad_line(char *err, size_t err_size, int line, const char *why)
{
    if (err && err_size)
        snprintf(err, err_size, "line %d: %s", line, why);
    return -FLOW_EUSAGE;
}

/* Copies a 40-character Z85 key of n bytes into out, checking it decodes. */
static bool take_key(const char *p, size_t n, char out[FLOW_CURVE_Z85],
                     uint8_t bin[32])
{
    if (n != FLOW_CURVE_Z85 - 1)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return zmq_z85_decode(bin, out) != NULL;
}

int flow_curve_parse(const char *text, size_t len, flow_curve *out, char *err,
                     size_t err_size)
{
    static const char *const names[] = { "server-public", "server-secret",
                                         "public", "secret" };
    char *fields[4] = { out->server_public, out->server_secret, out->public_key,
                        out->secret_key };
    bool seen[4] = { false, false, false, false };
    const char *p = text, *end = text + len;
    int line = 0;

    memset(out, 0, sizeof *out);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        line++;
        const char *sp = memchr(p, ' ', (size_t)(e - p));
        if (e == p || *p == '#') {
            p = e + (nl != NULL);
            continue;
        }
        if (!sp)
            return bad_line(err, err_size, line, "needs 'NAME KEY'");
        size_t nlen = (size_t)(sp - p);
        const char *key = sp + 1;
        size_t klen = (size_t)(e - key);
        char z85[FLOW_CURVE_Z85];
        uint8_t bin[32];
        if (!take_key(key, klen, z85, bin))
            return bad_line(err, err_size, line,
                            "the key is not 40 characters of Z85");
        if (nlen == 5 && memcmp(p, "allow", 5) == 0) {
            if (out->nallow == FLOW_CURVE_ALLOW_MAX)
                return bad_line(err, err_size, line, "too many 'allow' keys");
            memcpy(out->allow[out->nallow++], bin, 32);
        } else {
            size_t k = 0;
            while (k < 4 &&
                   (strlen(names[k]) != nlen || memcmp(p, names[k], nlen) != 0))
                k++;
            if (k == 4)
                return bad_line(err, err_size, line,
                                "unknown name (server-public, server-secret, "
                                "public, secret or allow)");
            memcpy(fields[k], z85, sizeof z85);
            seen[k] = true;
        }
        p = e + (nl != NULL);
    }
    for (size_t k = 0; k < 4; k++)
        if (!seen[k]) {
            if (err && err_size)
                snprintf(err, err_size, "no '%s' line", names[k]);
            return -FLOW_EUSAGE;
        }
    return 0;
}

int flow_curve_load(const char *path, flow_curve *out, char *err,
                    size_t err_size)
{
    struct stat st;
    char *text = NULL;
    int rc = -FLOW_EIO;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0 || fstat(fd, &st)) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        goto close_fd;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid()) {
        snprintf(err, err_size,
                 "%s must be a regular file of this user that only it can "
                 "read (mode 0600)",
                 path);
        rc = -FLOW_EUSAGE;
        goto close_fd;
    }
    if (st.st_size > KEYS_FILE_MAX) {
        snprintf(err, err_size, "%s is larger than %d bytes", path,
                 KEYS_FILE_MAX);
        rc = -FLOW_EUSAGE;
        goto close_fd;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        rc = -FLOW_ENOMEM;
        snprintf(err, err_size, "out of memory");
        goto close_fd;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, err_size, "cannot read %s: %s", path,
                     n ? strerror(errno) : "it got shorter");
            goto free_text;
        }
        got += (size_t)n;
    }
    char why[256];
    rc = flow_curve_parse(text, got, out, why, sizeof why);
    if (rc)
        snprintf(err, err_size, "%s: %s", path, why);
free_text:
    free(text);
close_fd:
    if (fd >= 0)
        close(fd);
    return rc;
}

bool flow_curve_admits(const flow_curve *k, const char *mechanism, size_t mlen,
                       const void *cred, size_t clen)
{
    if (!k || mlen != 5 || memcmp(mechanism, "CURVE", 5) != 0 || clen != 32)
        return false;
    for (size_t i = 0; i < k->nallow; i++)
        if (memcmp(k->allow[i], cred, 32) == 0)
            return true;
    return false;
}

int flow_curve_prepare(void *zsock, const flow_curve *k, const char *addr,
                       bool bind)
{
    int zero = 0, one = 1;
    int rc;

    if (!k || strncmp(addr, "tcp://", 6) != 0) {
        /* Back to the NULL mechanism for this attachment. */
        rc =
            k ? zmq_setsockopt(zsock, ZMQ_CURVE_SERVER, &zero, sizeof zero) : 0;
    } else if (bind) {
        rc = zmq_setsockopt(zsock, ZMQ_CURVE_SERVER, &one, sizeof one);
        if (rc == 0)
            rc = zmq_setsockopt(zsock, ZMQ_CURVE_SECRETKEY, k->server_secret,
                                FLOW_CURVE_Z85);
    } else {
        rc = zmq_setsockopt(zsock, ZMQ_CURVE_SERVERKEY, k->server_public,
                            FLOW_CURVE_Z85);
        if (rc == 0)
            rc = zmq_setsockopt(zsock, ZMQ_CURVE_PUBLICKEY, k->public_key,
                                FLOW_CURVE_Z85);
        if (rc == 0)
            rc = zmq_setsockopt(zsock, ZMQ_CURVE_SECRETKEY, k->secret_key,
                                FLOW_CURVE_Z85);
    }
    return rc == 0 ? 0 : flow_from_zmq();
}

/* The process's ZAP handler: one thread per process, counted users. */
static struct {
    pthread_mutex_t lock;
    int users;
    pthread_t thread;
    void *rep;
    char path[4096];
    int stop; /* atomic */
    flow_curve *keys;
    struct stat seen;
} zap = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Reads the keys file again when it was replaced or changed. A file that
 * cannot be read keeps the last list (flowd replaces it by rename, so a
 * reader never sees half of one). */
static void zap_reload(void)
{
    struct stat st;
    char err[512];

    if (stat(zap.path, &st))
        return;
    if (st.st_ino == zap.seen.st_ino && st.st_size == zap.seen.st_size &&
        st.st_mtim.tv_sec == zap.seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == zap.seen.st_mtim.tv_nsec)
        return;
    flow_curve *k = malloc(sizeof *k);
    if (!k)
        return;
    if (flow_curve_load(zap.path, k, err, sizeof err)) {
        fprintf(stderr, "flow: ZAP keeps its peers: %s\n", err);
        free(k);
        return;
    }
    free(zap.keys);
    zap.keys = k;
    zap.seen = st;
}

/* Answers one ZAP request (RFC 27): version, request id, domain,
 * address, identity, mechanism, then the mechanism's credentials. */
static void zap_answer(void)
{
    zmq_msg_t f[8];
    int n = 0, more = 1;

    while (more && n < 8) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], zap.rep, 0) < 0) {
            zmq_msg_close(&f[n]);
            break;
        }
        more = zmq_msg_more(&f[n]);
        n++;
    }
    /* Drain what a malformed request has beyond 8 frames. */
    while (more) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, zap.rep, 0) < 0)
            more = 0;
        else
            more = zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    if (n >= 2) {
        zap_reload();
        bool ok = n >= 7 &&
                  flow_curve_admits(zap.keys, zmq_msg_data(&f[5]),
                                    zmq_msg_size(&f[5]), zmq_msg_data(&f[6]),
                                    zmq_msg_size(&f[6]));
        zmq_send(zap.rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(zap.rep, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]),
                 ZMQ_SNDMORE);
        zmq_send(zap.rep, ok ? "200" : "400", 3, ZMQ_SNDMORE);
        const char *text = ok ? "OK" : "not a peer flowd named";
        zmq_send(zap.rep, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(zap.rep, "", 0, ZMQ_SNDMORE);
        zmq_send(zap.rep, "", 0, 0);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *zap_main(void *arg)
{
    (void)arg;
    zmq_pollitem_t it = { .socket = zap.rep, .events = ZMQ_POLLIN };
    while (!__atomic_load_n(&zap.stop, __ATOMIC_ACQUIRE)) {
        int rc = zmq_poll(&it, 1, 100);
        if (rc < 0 && zmq_errno() == ETERM)
            break;
        if (rc > 0)
            zap_answer();
    }
    return NULL;
}

int flow_zap_start(void *zctx, const char *path, char *err, size_t err_size)
{
    int rc = 0;
    int zero = 0;

    pthread_mutex_lock(&zap.lock);
    if (zap.users++ > 0)
        goto unlock;
    snprintf(zap.path, sizeof zap.path, "%s", path);
    memset(&zap.seen, 0, sizeof zap.seen);
    zap.keys = malloc(sizeof *zap.keys);
    if (!zap.keys) {
        rc = -FLOW_ENOMEM;
        snprintf(err, err_size, "out of memory");
        goto undo;
    }
    if ((rc = flow_curve_load(path, zap.keys, err, err_size)))
        goto free_keys;
    stat(path, &zap.seen);
    zap.rep = zmq_socket(zctx, ZMQ_REP);
    if (!zap.rep) {
        rc = flow_from_zmq();
        snprintf(err, err_size, "cannot make the ZAP socket: %s",
                 zmq_strerror(zmq_errno()));
        goto free_keys;
    }
    zmq_setsockopt(zap.rep, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(zap.rep, "inproc://zeromq.zap.01")) {
        rc = flow_from_zmq();
        snprintf(err, err_size, "cannot bind the ZAP handler: %s",
                 zmq_strerror(zmq_errno()));
        goto close_rep;
    }
    __atomic_store_n(&zap.stop, 0, __ATOMIC_RELEASE);
    if (pthread_create(&zap.thread, NULL, zap_main, NULL)) {
        rc = -FLOW_ETHREAD;
        snprintf(err, err_size, "cannot start the ZAP thread");
        goto close_rep;
    }
    goto unlock;

close_rep:
    zmq_close(zap.rep);
    zap.rep = NULL;
free_keys:
    free(zap.keys);
    zap.keys = NULL;
undo:
    zap.users--;
unlock:
    pthread_mutex_unlock(&zap.lock);
    return rc;
}

void flow_zap_stop(void)
{
    pthread_mutex_lock(&zap.lock);
    if (zap.users > 0 && --zap.users == 0) {
        __atomic_store_n(&zap.stop, 1, __ATOMIC_RELEASE);
        pthread_join(zap.thread, NULL);
        zmq_close(zap.rep);
        zap.rep = NULL;
        free(zap.keys);
        zap.keys = NULL;
    }
    pthread_mutex_unlock(&zap.lock);
}
