/*
 * flow: where the rest of an installation lies, relative to the running
 * program.
 *
 * flowd and flowctl find the built-in apps, flow-host and the dashboard
 * from their own executable (/proc/self/exe) and a path relative to its
 * directory that the build computes from the install layout (bindir to
 * libexecdir/flow, bindir to datadir/flow). An installed tree can so be
 * moved to another prefix, or staged with DESTDIR, and still finds its
 * parts; no binary holds an absolute path of where it was built.
 */
#ifndef FLOW_INSTALL_H
#define FLOW_INSTALL_H

#include <stddef.h>

/*
 * Writes into out the directory of the running executable joined with
 * rel (a relative path such as "../libexec/flow"), resolved with
 * realpath. Returns 0, -FLOW_ENOENT when that directory does not exist
 * (or /proc/self/exe cannot be read), -FLOW_EINVAL when the result does
 * not fit in outlen.
 */
int flow_exe_relative(const char *rel, char *out, size_t outlen);

/*
 * The first of rels[0..nrels) (each as for flow_exe_relative) whose
 * directory holds a file named probe, written into out. Returns 0 or
 * -FLOW_ENOENT when none does.
 */
int flow_exe_relative_first(const char *const *rels, size_t nrels,
                            const char *probe, char *out, size_t outlen);

#endif
