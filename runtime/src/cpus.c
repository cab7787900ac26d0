/* CPU lists (--flow.cpus, and flowd's deployer.<app>.cpus). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "flow/cpus.h"

int flow_cpus_parse(const char *list, cpu_set_t *set, char *err, size_t errlen)
{
    cpu_set_t allowed;
    const char *p = list;

    CPU_ZERO(set);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        CPU_ZERO(&allowed);
    do {
        char *e;
        errno = 0;
        unsigned long lo = strtoul(p, &e, 10), hi = lo;
        if (e == p || errno || !isdigit((unsigned char)*p))
            goto bad;
        if (*e == '-') {
            p = e + 1;
            hi = strtoul(p, &e, 10);
            if (e == p || errno || !isdigit((unsigned char)*p) || hi < lo)
                goto bad;
        }
        for (unsigned long c = lo; c <= hi; c++) {
            if (c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed)) {
                snprintf(err, errlen,
                         "CPU %lu is not one this process may run on "
                         "(it may use %d CPUs)",
                         c, CPU_COUNT(&allowed));
                return -1;
            }
            CPU_SET(c, set);
        }
        p = e;
    } while (*p++ == ',');
    if (p[-1] == '\0')
        return 0;
bad:
    snprintf(err, errlen,
             "expected a CPU list such as 0, 0-1 or 0,2-3 (numbers from 0)");
    return -1;
}
