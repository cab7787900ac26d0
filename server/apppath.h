/* The rules an app's executable passes before flowd runs it: registered
 * over REST, read back from the store at start, a built-in app, or about
 * to be spawned by the deployer. flowd runs apps as its own user (often
 * root), so an executable that another user could have written, or put
 * where flowd looks, is refused.
 *
 * The resolved file (realpath: no symlink can lead out) must be a regular,
 * executable file owned by root or by flowd's user and writable by
 * neither its group nor others; so must every directory above it, up to
 * /; and it must lie under one of the app directories the operator
 * allowed (flowd --apps-dir, plus the built-in apps' directory). */
#ifndef SRV_APPPATH_H
#define SRV_APPPATH_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* What a refusal means for the caller: the path itself is wrong (not a
 * path, missing, not an executable file), or it is a real executable that
 * the rules do not let flowd run. */
#define SRV_APPPATH_INVALID (-1)
#define SRV_APPPATH_REFUSED (-2)

/* stat(2), replaceable so that the rules can be tested without a file
 * system. Returns 0 or -1 with errno set. */
typedef int (*srv_apppath_stat_fn)(void *ud, const char *path, struct stat *sb);

/* Turns an app URI into an absolute path: "/abs/path" stays itself,
 * "file:///abs/path", "file://localhost/abs/path" and "file:/abs/path"
 * (the ways Spring Cloud Data Flow spells a local file) become
 * "/abs/path", with %XX escapes decoded. Returns 0, or
 * SRV_APPPATH_INVALID with a message in err. */
int srv_apppath_from_uri(const char *uri, char *out, size_t outlen, char *err,
                         size_t errlen);

/* Applies the rules to real, an absolute path with no symlink, "." or ".."
 * in it (realpath's result), calling st for the file and each directory
 * above it. uid is flowd's user. dirs are the allowed app directories,
 * themselves resolved. Returns 0, or SRV_APPPATH_INVALID /
 * SRV_APPPATH_REFUSED with a message in err that starts with real and
 * names the rule ("/tmp/x/app: directory /tmp/x is writable by others"). */
int srv_apppath_check_real(const char *real, uid_t uid, const char *const *dirs,
                           size_t ndirs, srv_apppath_stat_fn st, void *ud,
                           char *err, size_t errlen);

/* srv_apppath_from_uri, then realpath, then srv_apppath_check_real with
 * stat(2). On success the resolved path is in real (PATH_MAX bytes). */
int srv_apppath_check(const char *uri, uid_t uid, const char *const *dirs,
                      size_t ndirs, char *real, size_t reallen, char *err,
                      size_t errlen);

#endif
