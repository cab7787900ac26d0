/* --load and --deploy: stream files read at start. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"

static int load_file(srv *s, const char *path)
{
    FILE *f = fopen(path, "r");
    char err[1024];
    dsl_errors errs = { 0 };
    dsl_file *df = NULL;

    if (!f) {
        fprintf(stderr, "flowd: cannot read %s\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    size_t n = text ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!text)
        return -1;
    text[n] = '\0';
    if (dsl_parse_file(text, n, &df, &errs)) {
        for (size_t k = 0; k < errs.n; k++)
            dsl_error_print(stderr, path, text, n, &errs.v[k]);
        dsl_errors_fini(&errs);
        free(text);
        return -1;
    }
    for (size_t k = 0; k < df->n_streams; k++) {
        dsl_stream *ds = df->streams[k];
        if (!ds->name || srv_stream_find(s, ds->name))
            continue;
        if (!srv_name_ok(ds->name)) {
            /* The parser applies the same rule; this is the last check
             * before the name becomes a store row. */
            char msg[256];
            fprintf(stderr, "flowd: %s: stream skipped: %s\n", path,
                    dsl_name_message(msg, sizeof msg, "stream", ds->name,
                                     strlen(ds->name)));
            continue;
        }
        /* Store the definition without its name. */
        char *name = ds->name;
        ds->name = NULL;
        char *def = dsl_stream_print(ds);
        ds->name = name;
        int64_t now = srv_now_ms();
        if (!def ||
            srv_store_exec(&s->store,
                           "INSERT INTO streams(name, dsl, "
                           "description, created_at) VALUES (?, ?, "
                           "'', ?)",
                           "ssi", name, def, now) ||
            !srv_stream_add(s, name, def, "", now, err, sizeof err))
            fprintf(stderr, "flowd: %s: stream '%s' not loaded\n", path, name);
        free(def);
    }
    dsl_file_destroy(&df);
    dsl_errors_fini(&errs);
    free(text);
    return 0;
}

int srv_load_path(srv *s, const char *path)
{
    struct stat sb;

    if (stat(path, &sb)) {
        fprintf(stderr, "flowd: --load: no such file or directory: %s\n", path);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode))
        return load_file(s, path);
    struct dirent **list;
    int n = scandir(path, &list, NULL, alphasort);
    int rc = 0;
    for (int k = 0; k < n; k++) {
        size_t len = strlen(list[k]->d_name);
        if (len > 5 && strcmp(list[k]->d_name + len - 5, ".flow") == 0) {
            char file[PATH_MAX + 256];
            snprintf(file, sizeof file, "%s/%s", path, list[k]->d_name);
            if (load_file(s, file))
                rc = -1;
        }
        free(list[k]);
    }
    free(list);
    return rc;
}

void srv_deploy_named(srv *s, const char *name)
{
    char err[1024];
    srv_stream *st = srv_stream_find(s, name);

    if (!st) {
        fprintf(stderr, "flowd: --deploy: no stream named '%s'\n", name);
        return;
    }
    if (st->deployed)
        return;
    if (srv_deploy(s, st, NULL, err, sizeof err))
        fprintf(stderr, "flowd: --deploy %s: %s\n", name, err);
}
