#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "apppath.h"

/* A file system of a few entries: path, owner, mode. */
typedef struct entry {
    const char *path;
    uid_t uid;
    mode_t mode;
} entry;

static const entry tree[] = {
    { "/", 0, S_IFDIR | 0755 },
    { "/opt", 0, S_IFDIR | 0755 },
    { "/opt/apps", 0, S_IFDIR | 0755 },
    { "/opt/apps/good", 0, S_IFREG | 0755 },
    { "/opt/apps/mine", 1000, S_IFREG | 0700 },
    { "/opt/apps/theirs", 1001, S_IFREG | 0755 },
    { "/opt/apps/grp", 0, S_IFREG | 0775 },
    { "/opt/apps/oth", 0, S_IFREG | 0757 },
    { "/opt/apps/noexec", 0, S_IFREG | 0644 },
    { "/opt/apps/sub", 0, S_IFDIR | 0775 },
    { "/opt/apps/sub/app", 0, S_IFREG | 0755 },
    { "/opt/other", 0, S_IFDIR | 0755 },
    { "/opt/other/app", 0, S_IFREG | 0755 },
    { "/opt/appsx", 0, S_IFDIR | 0755 },
    { "/opt/appsx/app", 0, S_IFREG | 0755 },
    { "/tmp", 0, S_IFDIR | 01777 },
    { "/tmp/evil", 1001, S_IFREG | 0755 },
    { "/tmp/rootapp", 0, S_IFREG | 0755 },
    { "/tmp/open", 0, S_IFDIR | 0777 },
    { "/tmp/open/app", 0, S_IFREG | 0755 },
    { "/home", 0, S_IFDIR | 0755 },
    { "/home/u", 1001, S_IFDIR | 0755 },
    { "/home/u/app", 0, S_IFREG | 0755 },
};

static int fake_stat(void *ud, const char *path, struct stat *sb)
{
    (void)ud;
    for (size_t i = 0; i < sizeof tree / sizeof tree[0]; i++) {
        if (strcmp(tree[i].path, path) == 0) {
            memset(sb, 0, sizeof *sb);
            sb->st_uid = tree[i].uid;
            sb->st_mode = tree[i].mode;
            return 0;
        }
    }
    errno = ENOENT;
    return -1;
}

static const char *const allowed[] = { "/opt/apps", "/tmp", "/home/u" };

static int check(const char *path, uid_t uid, char *err, size_t len)
{
    err[0] = '\0';
    return srv_apppath_check_real(path, uid, allowed, 3, fake_stat, NULL, err,
                                  len);
}

static void refused(const char *path, int code, const char *msg)
{
    char err[512];

    cr_assert_eq(check(path, 1000, err, sizeof err), code, "%s: %s", path, err);
    cr_assert_str_eq(err, msg);
}

Test(apppath, accepts_safe_files_under_an_allowed_directory)
{
    char err[512];

    cr_assert_eq(check("/opt/apps/good", 1000, err, sizeof err), 0, "%s", err);
    cr_assert_eq(check("/opt/apps/mine", 1000, err, sizeof err), 0, "%s", err);
}

Test(apppath, names_the_rule_and_the_path)
{
    refused("/opt/apps/theirs", SRV_APPPATH_REFUSED,
            "/opt/apps/theirs: the file is owned by uid 1001, not by root "
            "or flowd's user (uid 1000)");
    refused("/opt/apps/grp", SRV_APPPATH_REFUSED,
            "/opt/apps/grp: the file is writable by group");
    refused("/opt/apps/oth", SRV_APPPATH_REFUSED,
            "/opt/apps/oth: the file is writable by others");
    refused("/opt/apps/sub/app", SRV_APPPATH_REFUSED,
            "/opt/apps/sub/app: directory /opt/apps/sub is writable by "
            "group");
    refused("/home/u/app", SRV_APPPATH_REFUSED,
            "/home/u/app: directory /home/u is owned by uid 1001, not by "
            "root or flowd's user (uid 1000)");
    refused("/opt/other/app", SRV_APPPATH_REFUSED,
            "/opt/other/app: not under an allowed app directory (/opt/apps, "
            "/tmp, /home/u); start flowd with --apps-dir=DIR to allow "
            "another");
}

Test(apppath, a_sticky_directory_of_roots_protects_what_others_cannot_own)
{
    char err[512];

    /* Any user may add a file to /tmp, but none may rename or remove one of
     * root's there: a root-owned app below it is safe, a stranger's is not. */
    cr_assert_eq(check("/tmp/rootapp", 1000, err, sizeof err), 0, "%s", err);
    refused("/tmp/evil", SRV_APPPATH_REFUSED,
            "/tmp/evil: the file is owned by uid 1001, not by root or "
            "flowd's user (uid 1000)");
    refused("/tmp/open/app", SRV_APPPATH_REFUSED,
            "/tmp/open/app: directory /tmp/open is writable by others");
}

Test(apppath, a_directory_prefix_is_not_the_directory)
{
    refused("/opt/appsx/app", SRV_APPPATH_REFUSED,
            "/opt/appsx/app: not under an allowed app directory (/opt/apps, "
            "/tmp, /home/u); start flowd with --apps-dir=DIR to allow "
            "another");
}

Test(apppath, what_is_not_an_executable_file)
{
    refused("/opt/apps/noexec", SRV_APPPATH_INVALID,
            "/opt/apps/noexec: not executable");
    refused("/opt/apps", SRV_APPPATH_INVALID, "/opt/apps: not a regular file");
    refused("/opt/apps/none", SRV_APPPATH_INVALID,
            "/opt/apps/none: No such file or directory");
    refused("apps/good", SRV_APPPATH_INVALID,
            "'apps/good' is not an absolute path");
}

Test(apppath, root_directory_allows_everything_safe)
{
    static const char *const root[] = { "/" };
    char err[512];

    cr_assert_eq(srv_apppath_check_real("/opt/other/app", 0, root, 1, fake_stat,
                                        NULL, err, sizeof err),
                 0, "%s", err);
}

static void uri_is(const char *uri, const char *want)
{
    char out[256], err[256] = "";

    cr_assert_eq(srv_apppath_from_uri(uri, out, sizeof out, err, sizeof err), 0,
                 "%s: %s", uri, err);
    cr_assert_str_eq(out, want, "%s", uri);
}

static void uri_refused(const char *uri, const char *needle)
{
    char out[256], err[256] = "";

    cr_assert_eq(srv_apppath_from_uri(uri, out, sizeof out, err, sizeof err),
                 SRV_APPPATH_INVALID, "%s accepted", uri);
    cr_assert(strstr(err, needle), "'%s' lacks '%s'", err, needle);
}

Test(apppath, file_uris_as_scdf_spells_them)
{
    uri_is("/opt/apps/x", "/opt/apps/x");
    uri_is("file:///opt/apps/x", "/opt/apps/x");
    uri_is("file://localhost/opt/apps/x", "/opt/apps/x");
    uri_is("file:/opt/apps/x", "/opt/apps/x");
    uri_is("file:///opt/my%20apps/x", "/opt/my apps/x");
    /* A plain path is taken as it is, '%' and all. */
    uri_is("/opt/100%25/x", "/opt/100%25/x");
    uri_refused("file://example.org/opt/x", "another host");
    uri_refused("file:opt/x", "absolute path");
    uri_refused("maven://org.example:app:1.0", "absolute path");
    uri_refused("docker:example/app", "absolute path");
    uri_refused("file:///opt/a%00b", "%-escape");
    uri_refused("file:///opt/a%zz", "%-escape");
    uri_refused("bin/x", "absolute path");
}
