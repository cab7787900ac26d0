/* Where the deployer meets the operating system (srv_os_ops): spawning
 * with libuv, signals, /proc start times (against pid reuse) and
 * environments, the clock, loopback ports. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deploy.h"

uint64_t srv_dep_proc_start_ticks(int pid)
{
    char path[64], buf[1024];
    uint64_t t = 0;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* Fields after the command: state is 3; starttime is 22. */
    p += 2;
    if (*p == 'Z' || *p == 'X')
        return 0;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (p)
        t = strtoull(p, NULL, 10);
    return t;
}

bool srv_dep_pid_matches(const srv *s, int pid, uint64_t ticks)
{
    if (pid <= 0)
        return false;
    uint64_t now = s->os->start_ticks(s->os_ud, pid);
    return now != 0 && now == ticks;
}

void srv_dep_kill(const srv *s, const srv_inst *i, int sig)
{
    s->os->kill(s->os_ud, i->proc, i->pid, sig);
}

/* A loopback TCP port free now (the kernel's pick), or -1 with errno set
 * when none can be had (out of descriptors or of ephemeral ports). */
static int posix_free_tcp_port(void *ud)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    (void)ud;
    if (fd < 0)
        return -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    int e = errno;
    close(fd);
    if (port <= 0) {
        errno = port == 0 ? EADDRNOTAVAIL : e;
        return -1;
    }
    return port;
}

/* Is the port of a loopback tcp:// endpoint free to bind? An endpoint
 * of another kind is never moved, so it counts as free. SO_REUSEADDR as
 * ZeroMQ's listeners have: connections of the process that bound it
 * before, still in TIME_WAIT, do not make it taken; a listener does. */
static bool posix_tcp_free(void *ud, const char *ep)
{
    static const char pre[] = "tcp://127.0.0.1:";
    struct sockaddr_in a = { .sin_family = AF_INET };
    int one = 1;

    (void)ud;
    if (strncmp(ep, pre, sizeof pre - 1) != 0)
        return true;
    char *end;
    long port = strtol(ep + sizeof pre - 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return true;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
              bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

bool srv_dep_instance_of(srv *s, int pid, char *id, size_t len)
{
    char path[64], want[PATH_MAX + 40];
    static char env[65536];

    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    if (srv_fmt(want, sizeof want, "FLOW_INSTANCE_DIR=%s/run/",
                s->cfg.data_dir))
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, env, sizeof env - 1);
    close(fd);
    if (n <= 0)
        return false;
    env[n] = '\0';
    size_t wl = strlen(want);
    for (char *e = env; e < env + n; e += strlen(e) + 1)
        if (strncmp(e, want, wl) == 0 && e[wl]) {
            snprintf(id, len, "%s", e + wl);
            return true;
        }
    return false;
}

static void on_proc_close(uv_handle_t *h)
{
    free(h);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    srv_inst *i = p->data;

    uv_close((uv_handle_t *)p, on_proc_close);
    if (i)
        srv_deployer_exited(i->app->stream->s, i, status, sig);
}

static int posix_spawn_inst(void *ud, srv_inst *i, const char *file,
                            char **argv, char **envp, int log_fd, void **proc,
                            int *pid)
{
    srv *s = ud;
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE },
        { .flags = log_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = log_fd },
        { .flags = log_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = log_fd },
    };
    uv_process_options_t o = {
        .exit_cb = on_exit_cb,
        .file = file,
        .args = argv,
        .env = envp,
        .stdio_count = 3,
        .stdio = stdio,
    };
    uv_process_t *p = calloc(1, sizeof *p);

    if (!p)
        return UV_ENOMEM;
    p->data = i;
    int rc = uv_spawn(s->loop, p, &o);
    if (rc) {
        p->data = NULL;
        uv_close((uv_handle_t *)p, on_proc_close);
        return rc;
    }
    *proc = p;
    *pid = p->pid;
    return 0;
}

static void posix_kill(void *ud, void *proc, int pid, int sig)
{
    (void)ud;
    if (proc)
        uv_process_kill(proc, sig);
    else if (pid > 0)
        kill(pid, sig);
}

static void posix_detach(void *ud, void *proc)
{
    (void)ud;
    ((uv_process_t *)proc)->data = NULL;
}

static uint64_t posix_start_ticks(void *ud, int pid)
{
    (void)ud;
    return srv_dep_proc_start_ticks(pid);
}

static int64_t posix_now_ms(void *ud)
{
    (void)ud;
    return srv_now_ms();
}

const srv_os_ops srv_os_posix = {
    .spawn = posix_spawn_inst,
    .kill = posix_kill,
    .detach = posix_detach,
    .start_ticks = posix_start_ticks,
    .now_ms = posix_now_ms,
    .free_tcp_port = posix_free_tcp_port,
    .tcp_free = posix_tcp_free,
};
