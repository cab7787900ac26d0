/* Where the files that app options name may lie: the instance's own
 * directory, <data>/run/STREAM.LABEL-N, and the directories the operator
 * allows with --allow-path. The apps enforce the rules when they open a
 * file (flow/safepath.h); flowd judges the paths' text before it stores
 * or deploys a stream, so that a bad path is a 400 naming the option
 * rather than an app that fails at start. */
#include <errno.h>
#include <flow/safepath.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

int srv_inst_dir(srv *s, const srv_inst *i, char *buf, size_t len)
{
    char id[160];

    if (i->host)
        return srv_fmt(buf, len, "%s/run/%s-host", s->cfg.data_dir,
                       i->app->stream->name);
    srv_inst_id(i, id, sizeof id);
    return srv_fmt(buf, len, "%s/run/%s", s->cfg.data_dir, id);
}

int srv_paths_check(void *ud, const char *path, dsl_path_access access,
                    char *why, size_t whylen)
{
    srv *s = ud;
    /* Relative paths are judged by their text alone: the instance's
     * directory is not known before the stream is deployed. */
    flow_path_rules r = {
        .allow = s->cfg.allow_ptr,
        .nallow = (size_t)s->cfg.nallow,
        .confined = true,
        .record = true,
    };

    (void)access;
    return flow_path_check(&r, path, why, whylen) ? -1 : 0;
}

int srv_paths_check_app(srv *s, const dsl_app_info *info, char *const *opts,
                        int nopts, char *err, size_t errlen)
{
    char why[1024];

    for (int k = 0; k < nopts; k++) {
        const char *o = opts[k] + 2;
        const char *eq = strchr(o, '=');
        if (!eq)
            continue;
        for (size_t j = 0; info && j < info->n_options; j++) {
            const dsl_app_option *d = &info->options[j];
            if (d->type != DSL_TYPE_PATH ||
                strlen(d->name) != (size_t)(eq - o) ||
                strncmp(d->name, o, (size_t)(eq - o)) != 0)
                continue;
            if (srv_paths_check(s, eq + 1, d->access, why, sizeof why)) {
                snprintf(err, errlen, "%s --%s: %s", info->name, d->name, why);
                return -1;
            }
        }
    }
    return 0;
}

int srv_paths_config(srv_config *c, char *err, size_t errlen)
{
    char cwd[PATH_MAX];

    for (int k = 0; k < c->nallow; k++) {
        struct stat st;
        const char *d = c->allow_arg[k];
        int rc = stat(d, &st);
        if (rc != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen,
                     "--allow-path %s: %s; give an existing directory", d,
                     rc != 0 ? strerror(errno) : "not a directory");
            return -1;
        }
        if (d[0] == '/') {
            snprintf(c->allow[k], sizeof c->allow[k], "%s", d);
        } else if (!getcwd(cwd, sizeof cwd) ||
                   snprintf(c->allow[k], sizeof c->allow[k], "%s/%s", cwd, d) >=
                       (int)sizeof c->allow[k]) {
            snprintf(err, errlen, "--allow-path %s: the path is too long", d);
            return -1;
        }
        c->allow_ptr[k] = c->allow[k];
    }
    return 0;
}
