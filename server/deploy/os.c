/* Where the deployer meets the operating system: /proc start times
 * (against pid reuse), a process's instance directory, loopback ports. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy.h"

/* /proc/<pid>/stat field 22: the start time in clock ticks since boot. */
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

/* Is pid still the process we started (same start time)? */
bool srv_dep_pid_matches(int pid, uint64_t ticks)
{
    if (pid <= 0)
        return false;
    uint64_t now = srv_dep_proc_start_ticks(pid);
    return now != 0 && now == ticks;
}

/* A loopback TCP port free now (the kernel's pick), or -1 with errno set
 * when none can be had (out of descriptors or of ephemeral ports). */
int srv_dep_free_tcp_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

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
bool srv_dep_tcp_free(const char *ep)
{
    static const char pre[] = "tcp://127.0.0.1:";
    struct sockaddr_in a = { .sin_family = AF_INET };
    int one = 1;

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

/* The instance directory process pid was started with, when it is one of
 * this data directory's (FLOW_INSTANCE_DIR=DATA/run/ID in its
 * environment): copies ID to id. */
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
