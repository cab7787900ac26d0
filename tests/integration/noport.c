/*
 * Preloaded into flowd by test_ports.py: while the file named by
 * FLOW_NOPORT_WHEN exists, a bind() to an IPv4 address with port 0 (the
 * kernel's pick of a free port) fails with EADDRINUSE, as it does when no
 * ephemeral port is left. Other binds pass through, so flowd's listener
 * (bound before the file is made) and its ipc:// endpoints still work.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);

    const char *when = getenv("FLOW_NOPORT_WHEN");

    if (when && access(when, F_OK) == 0 && sa && sa->sa_family == AF_INET &&
        len >= (socklen_t)sizeof(struct sockaddr_in) &&
        ((const struct sockaddr_in *)sa)->sin_port == 0) {
        errno = EADDRINUSE;
        return -1;
    }
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(
            RTLD_NEXT, "bind");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, sa, len);
}
