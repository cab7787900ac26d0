/*
 * CPU lists as --flow.cpus takes them: "0", "0-1", "0,2-3". Needs
 * _GNU_SOURCE (cpu_set_t).
 */
#ifndef FLOW_CPUS_H
#define FLOW_CPUS_H

#include <sched.h>
#include <stddef.h>

/*
 * Parses list into set, checking that this process may run on every CPU it
 * names; returns 0, or -1 with why in err ("expected a CPU list such as
 * ...", "CPU 7 is not one this process may run on ...").
 */
int flow_cpus_parse(const char *list, cpu_set_t *set, char *err, size_t errlen);

#endif
