/* Static files for the dashboard: GET / -> index.html, /dashboard/<path>,
 * /vendor/uplot/<file>, with content types by extension and no way out of
 * the directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"

#define STATIC_MAX (32 * 1024 * 1024)

static const struct {
    const char *ext, *type;
} types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".map", "application/json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
    { ".txt", "text/plain; charset=utf-8" },
    { ".woff2", "font/woff2" },
};

static const char *type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');

    if (dot && (!slash || dot > slash))
        for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
            if (strcmp(dot, types[k].ext) == 0)
                return types[k].type;
    return "application/octet-stream";
}

/* Rejects "..", "."-leading segments, backslashes and control bytes. */
static bool rel_ok(const char *rel)
{
    const char *p = rel;

    if (strchr(rel, '\\') || strchr(rel, '%'))
        return false;
    for (const char *c = rel; *c; c++)
        if ((unsigned char)*c < 0x20)
            return false;
    while (*p) {
        while (*p == '/')
            p++;
        if (*p == '.')
            return false;
        p = strchr(p, '/');
        if (!p)
            break;
    }
    return true;
}

void srv_static_serve(srv *s, srv_req *r, const char *dir, const char *rel)
{
    char path[PATH_MAX * 2], root[PATH_MAX], real[PATH_MAX];
    struct stat sb;

    (void)s;
    if (!rel_ok(rel) || !realpath(dir, root)) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no such file: %s", r->path);
        return;
    }
    snprintf(path, sizeof path, "%s/%s", root, rel);
    if (!realpath(path, real) || strncmp(real, root, strlen(root)) != 0 ||
        (real[strlen(root)] != '/' && real[strlen(root)] != '\0')) {
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no such file: %s", r->path);
        return;
    }
    if (stat(real, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        size_t n = strlen(real);
        if (n + 12 >= sizeof real) {
            srv_req_error(r, -SRV_ENOTFOUND, NULL, "no such file: %s", r->path);
            return;
        }
        memcpy(real + n, "/index.html", 12);
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode) ||
        sb.st_size > STATIC_MAX) {
        if (fd >= 0)
            close(fd);
        srv_req_error(r, -SRV_ENOTFOUND, NULL, "no such file: %s", r->path);
        return;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf) {
        srv_req_error(r, -SRV_ENOMEM, NULL, "out of memory");
        return;
    }
    srv_req_header(r, "Cache-Control", "no-cache");
    srv_req_raw(r, 200, type_of(real), buf, got);
}
