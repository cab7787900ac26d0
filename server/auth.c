/* flowd's access token. --token or FLOW_TOKEN gives it; otherwise it is the
 * one in DATA_DIR/token, which the first start makes from 32 random bytes
 * (64 hex digits, mode 0600) and later starts reuse. flowctl and
 * scripts/run.sh read that file when run as the same user (see
 * docs/rest.md, "Authentication"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"

#define TOKEN_BYTES 32

/* Reads the token file at path into c->token. Returns 0, or -1 with err. */
static int read_token_file(srv_config *c, const char *path, char *err,
                           size_t errlen)
{
    struct stat st;
    char buf[sizeof c->token + 1];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen,
                 "cannot read the token file %s: %s; remove it and flowd "
                 "makes a new one",
                 path,
                 errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st)) {
        snprintf(err, errlen, "cannot read the token file %s: %s", path,
                 strerror(errno));
        goto close_fd;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
        snprintf(err, errlen,
                 "the token file %s must be a regular file owned by flowd's "
                 "user with mode 0600 (it is mode %04o, uid %u); fix it or "
                 "remove it and flowd makes a new one",
                 path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
        goto close_fd;
    }
    n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        snprintf(err, errlen, "cannot read the token file %s: %s", path,
                 strerror(errno));
        goto close_fd;
    }
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                     buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    if (n == 0 || (size_t)n >= sizeof c->token) {
        snprintf(err, errlen,
                 "the token file %s must hold one token of 1 to %zu "
                 "characters; remove it and flowd makes a new one",
                 path, sizeof c->token - 1);
        return -1;
    }
    for (ssize_t k = 0; k < n; k++)
        if (buf[k] <= ' ' || buf[k] > '~') {
            snprintf(err, errlen,
                     "the token file %s holds a space or a control "
                     "character; remove it and flowd makes a new one",
                     path);
            return -1;
        }
    memcpy(c->token, buf, (size_t)n + 1);
    return 0;
close_fd:
    close(fd);
    return -1;
}

/* Makes a new token file at path, atomically: written in full to a file of
 * our own (O_EXCL), then linked into place, so that a reader never sees half
 * a token and an existing file is never replaced. Returns 0 when made, 1
 * when path exists already, -1 with err. */
static int make_token_file(srv_config *c, const char *path, char *err,
                           size_t errlen)
{
    unsigned char raw[TOKEN_BYTES];
    char hex[2 * TOKEN_BYTES + 2];
    char tmp[sizeof c->token_file + 32];
    size_t got = 0;
    int rc = -1;

    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "cannot make a token: getrandom: %s",
                     strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    for (size_t k = 0; k < sizeof raw; k++)
        snprintf(hex + 2 * k, 3, "%02x", raw[k]);
    hex[2 * TOKEN_BYTES] = '\n';
    hex[2 * TOKEN_BYTES + 1] = '\0';

    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    unlink(tmp);
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the token file %s: %s", tmp,
                 strerror(errno));
        return -1;
    }
    size_t len = strlen(hex);
    if (write(fd, hex, len) != (ssize_t)len || fsync(fd)) {
        snprintf(err, errlen, "cannot write the token file %s: %s", tmp,
                 strerror(errno ? errno : EIO));
        close(fd);
        goto unlink_tmp;
    }
    if (close(fd)) {
        snprintf(err, errlen, "cannot write the token file %s: %s", tmp,
                 strerror(errno));
        goto unlink_tmp;
    }
    if (link(tmp, path) == 0) {
        hex[2 * TOKEN_BYTES] = '\0';
        snprintf(c->token, sizeof c->token, "%s", hex);
        rc = 0;
    } else if (errno == EEXIST) {
        rc = 1;
    } else {
        snprintf(err, errlen, "cannot create the token file %s: %s", path,
                 strerror(errno));
    }
unlink_tmp:
    unlink(tmp);
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(hex, sizeof hex);
    return rc;
}

int srv_auth_setup(srv_config *c, char *err, size_t errlen)
{
    if (c->auth_none) {
        if (c->token[0]) {
            snprintf(err, errlen,
                     "--auth=none and a token (%s) contradict each other; "
                     "drop one of them",
                     c->token_from);
            return -1;
        }
        return 0;
    }
    if (c->token[0])
        return 0;
    if (srv_fmt(c->token_file, sizeof c->token_file, "%s/token", c->data_dir)) {
        snprintf(err, errlen, "the data directory's path %s is too long",
                 c->data_dir);
        return -1;
    }
    c->token_from = "file";
    int rc = make_token_file(c, c->token_file, err, errlen);
    if (rc == 1)
        rc = read_token_file(c, c->token_file, err, errlen);
    return rc < 0 ? -1 : 0;
}
