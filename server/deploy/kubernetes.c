/* The kubernetes platform (flowd --deployer=kubernetes): a stream's apps
 * become the objects srv_k8s_manifests makes, applied with server-side
 * apply; its instances follow its pods through a watch; scale patches the
 * scale subresource; undeploy deletes, by name, exactly the objects it
 * applied; the pods' logs are fetched from the pod log endpoint into the
 * log files flowd serves. What was applied is kept in the store (table
 * k8s_objects), so a restarted flowd watches its streams again and
 * deletes the right objects. See docs/kubernetes.md.
 *
 * Ownership: the platform (kplat) is its table's (k_free); it owns its
 * client and its streams' records (kstream), each of which owns its
 * objects and pods. A request's ud is a kstream, or a log fetch (owned by
 * the request, freed in its done callback); a kstream is freed once it is
 * undeployed and no request of its is outstanding. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow-config.h"
#include "deploy.h"
#include "k8s_client.h"
#include "k8s_manifests.h"
#include "kubernetes.h"

#define RETRY_MS     1000
#define LOG_EVERY    2 /* ticks between two fetches of the pods' logs */
#define LOG_TAIL     "tailLines=2000"
#define APPLY_CTYPE  "application/apply-patch+yaml"
#define FIELD_MANAGE "fieldManager=flowd&force=true"

typedef struct kplat kplat;

typedef struct kstream {
    kplat *p; /* borrowed */
    char name[SRV_NAME_MAX + 16];
    char label[64];     /* its flow/stream label, srv_k8s_name(name, NULL) */
    json_t *objects;    /* what was applied: an array (owned) */
    json_t *pods;       /* pod name -> pod, as the watch says (owned) */
    json_t *logs;       /* pod name -> the log file of its instance (owned) */
    srv_k8s_req *watch; /* the list or the watch (the client's) */
    bool relist;        /* the watch said 410 Gone: list again */
    int64_t retry_at;   /* list or watch again then (0: not waiting) */
    char rv[64];        /* the resourceVersion seen last */
    int pending;        /* applies, scales, deletes and log fetches */
    bool undeploying;
    bool finish;     /* undeploy answered: finish at the next tick */
    char error[200]; /* the last apply's failure, shown as the status */
    struct kstream *next;
} kstream;

struct kplat {
    srv *s;     /* borrowed */
    srv_k8s *k; /* owned */
    char ns[64];
    char image[256];
    kstream *streams; /* owned list */
    unsigned ticks;
};

/* Copies src into dst (n bytes), cut short when longer. */
static void copy(char *dst, size_t n, const char *src)
{
    size_t l = strnlen(src, n - 1);
    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* The pure pieces (kubernetes.h). */

int srv_k8s_object_path(const json_t *obj, const char *ns, char *buf,
                        size_t len)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *name = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "name"));
    char plural[64];

    if (!av || !kind || !name || !*kind || strlen(kind) + 4 > sizeof plural)
        return -1;
    size_t n = 0;
    for (const char *c = kind; *c; c++)
        plural[n++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    plural[n] = '\0';
    if (plural[n - 1] == 'y')
        snprintf(plural + n - 1, sizeof plural - n + 1, "ies");
    else if (plural[n - 1] == 's')
        snprintf(plural + n, sizeof plural - n, "es");
    else
        snprintf(plural + n, sizeof plural - n, "s");
    int w = strchr(av, '/') ? snprintf(buf, len, "/apis/%s/namespaces/%s/%s/%s",
                                       av, ns, plural, name)
                            : snprintf(buf, len, "/api/%s/namespaces/%s/%s/%s",
                                       av, ns, plural, name);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

srv_inst_state srv_k8s_pod_state(const json_t *pod, int max_restarts, char *why,
                                 size_t len)
{
    static const char *const fatal[] = {
        "ImagePullBackOff",     "ErrImagePull",
        "InvalidImageName",     "CreateContainerConfigError",
        "CreateContainerError",
    };
    const json_t *meta = json_object_get(pod, "metadata");
    const json_t *status = json_object_get(pod, "status");
    const char *phase = json_string_value(json_object_get(status, "phase"));
    size_t k;
    const json_t *cs;

    why[0] = '\0';
    if (json_object_get(meta, "deletionTimestamp")) {
        snprintf(why, len, "pod terminating");
        return SRV_INST_DEPLOYING;
    }
    if (phase && strcmp(phase, "Succeeded") == 0)
        return SRV_INST_STOPPED;
    if (phase && strcmp(phase, "Failed") == 0) {
        const char *r = json_string_value(json_object_get(status, "reason"));
        snprintf(why, len, "pod failed%s%s", r ? ": " : "", r ? r : "");
        return SRV_INST_FAILED;
    }
    json_array_foreach(json_object_get(status, "containerStatuses"), k, cs)
    {
        const json_t *w =
            json_object_get(json_object_get(cs, "state"), "waiting");
        const char *reason = json_string_value(json_object_get(w, "reason"));
        json_int_t restarts =
            json_integer_value(json_object_get(cs, "restartCount"));
        if (!reason)
            continue;
        if (strcmp(reason, "CrashLoopBackOff") == 0) {
            snprintf(why, len, "CrashLoopBackOff after %lld restarts",
                     (long long)restarts);
            return restarts >= max_restarts ? SRV_INST_FAILED
                                            : SRV_INST_RESTARTING;
        }
        for (size_t f = 0; f < sizeof fatal / sizeof fatal[0]; f++)
            if (strcmp(reason, fatal[f]) == 0) {
                snprintf(why, len, "%s", reason);
                return SRV_INST_FAILED;
            }
    }
    const json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), k, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *st = json_string_value(json_object_get(c, "status"));
        if (type && st && strcmp(type, "Ready") == 0 && strcmp(st, "True") == 0)
            return SRV_INST_DEPLOYED;
    }
    snprintf(why, len, "pod %s, not ready", phase ? phase : "unscheduled");
    return SRV_INST_DEPLOYING;
}

/* The store: what was applied, one row per object. */

static int store_init(srv *s)
{
    return srv_store_exec(&s->store,
                          "CREATE TABLE IF NOT EXISTS k8s_objects("
                          "stream TEXT NOT NULL, idx INTEGER NOT NULL, "
                          "object TEXT NOT NULL, PRIMARY KEY(stream, idx))",
                          NULL);
}

static int store_objects(kplat *p, kstream *ks)
{
    srv_store *db = &p->s->store;
    size_t k;
    json_t *o;

    if (srv_store_begin(db) ||
        srv_store_exec(db, "DELETE FROM k8s_objects WHERE stream=?", "s",
                       ks->name))
        return -1;
    json_array_foreach(ks->objects, k, o)
    {
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        int rc = !text || srv_store_exec(db,
                                         "INSERT INTO k8s_objects(stream, "
                                         "idx, object) VALUES (?, ?, ?)",
                                         "sis", ks->name, (int64_t)k, text);
        free(text);
        if (rc) {
            srv_store_rollback(db);
            return -1;
        }
    }
    return srv_store_commit(db);
}

static json_t *load_objects(kplat *p, const char *stream)
{
    json_t *a = json_array();
    sqlite3_stmt *q = srv_store_query(&p->s->store,
                                      "SELECT object FROM k8s_objects WHERE "
                                      "stream=? ORDER BY idx",
                                      "s", stream);
    while (q && a && sqlite3_step(q) == SQLITE_ROW) {
        json_t *o =
            json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
        if (o)
            json_array_append_new(a, o);
    }
    sqlite3_finalize(q);
    return a;
}

/* Streams. */

static kstream *kstream_find(kplat *p, const char *name)
{
    for (kstream *ks = p->streams; ks; ks = ks->next)
        if (strcmp(ks->name, name) == 0 && !ks->undeploying)
            return ks;
    return NULL;
}

static kstream *kstream_new(kplat *p, const char *name, json_t *objects)
{
    kstream *ks = calloc(1, sizeof *ks);
    if (!ks)
        return NULL;
    ks->p = p;
    snprintf(ks->name, sizeof ks->name, "%s", name);
    srv_k8s_name(name, NULL, ks->label, sizeof ks->label);
    ks->objects = objects;
    ks->pods = json_object();
    ks->logs = json_object();
    ks->next = p->streams;
    p->streams = ks;
    return ks;
}

static void kstream_free(kstream *ks)
{
    kplat *p = ks->p;
    for (kstream **q = &p->streams; *q; q = &(*q)->next)
        if (*q == ks) {
            *q = ks->next;
            break;
        }
    srv_k8s_cancel(p->k, ks->watch);
    json_decref(ks->objects);
    json_decref(ks->pods);
    json_decref(ks->logs);
    free(ks);
}

/* The message of a Status object in body, or body itself. */
static void status_message(const char *body, char *out, size_t len)
{
    json_t *j = json_loads(body, 0, NULL);
    const char *m = json_string_value(json_object_get(j, "message"));
    snprintf(out, len, "%s", m ? m : body);
    json_decref(j);
}

static const char *label_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "labels"), key));
}

static int by_name(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    const char *nx = json_string_value(
        json_object_get(json_object_get(x, "metadata"), "name"));
    const char *ny = json_string_value(
        json_object_get(json_object_get(y, "metadata"), "name"));
    size_t lx = strlen(nx), ly = strlen(ny);
    /* StatefulSet ordinals sort as numbers: app-2 before app-10. */
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(nx, ny);
}

/* The stream's instances take the states of its pods: app a's pods
 * (label flow/app), by name, are its instances 0, 1, ... */
static void follow_pods(kstream *ks)
{
    srv *s = ks->p->s;
    srv_stream *st = srv_stream_find(s, ks->name);
    json_t *pods[SRV_MAX_COUNT];

    if (!st || !st->deployed || ks->undeploying)
        return;
    json_object_clear(ks->logs);
    if (st->host) {
        /* deployer.packaging=single: one pod, labelled flow/app=host,
         * whose state srv_deployer_refresh mirrors onto the apps. */
        const char *pn;
        json_t *pod, *found = NULL;
        char why[128], hl[64];
        srv_k8s_name("host", NULL, hl, sizeof hl);
        json_object_foreach(ks->pods, pn, pod)
        {
            const char *l = label_of(pod, SRV_K8S_APP);
            if (l && strcmp(l, hl) == 0)
                found = pod;
        }
        st->host->state =
            ks->error[0] ? SRV_INST_FAILED
            : found ? srv_k8s_pod_state(found, st->apps[0].max_restarts, why,
                                        sizeof why)
                    : SRV_INST_DEPLOYING;
        copy(st->host->last_exit, sizeof st->host->last_exit,
             ks->error[0] ? ks->error
             : found      ? why
                          : "no pod yet");
        if (found) {
            /* The host's log is its first app's, as on the local
             * platform. */
            char path[PATH_MAX + 64];
            srv_dep_log_path(s, st->host, path, sizeof path);
            json_object_set_new(
                ks->logs,
                json_string_value(json_object_get(
                    json_object_get(found, "metadata"), "name")),
                json_string(path));
        }
        srv_deployer_refresh(s, st);
        return;
    }
    for (size_t k = 0; k < st->napps; k++) {
        srv_dapp *a = &st->apps[k];
        size_t n = 0;
        const char *pn;
        json_t *pod;
        char al[64];
        srv_k8s_name(a->label, NULL, al, sizeof al);
        json_object_foreach(ks->pods, pn, pod)
        {
            const char *l = label_of(pod, SRV_K8S_APP);
            if (l && strcmp(l, al) == 0 && n < SRV_MAX_COUNT)
                pods[n++] = pod;
        }
        qsort(pods, n, sizeof pods[0], by_name);
        for (int j = 0; j < a->ninst; j++) {
            srv_inst *i = a->inst[j];
            char why[128], path[PATH_MAX + 64];
            if (ks->error[0]) {
                i->state = SRV_INST_FAILED;
                copy(i->last_exit, sizeof i->last_exit, ks->error);
                continue;
            }
            if ((size_t)j >= n) {
                i->state = SRV_INST_DEPLOYING;
                snprintf(i->last_exit, sizeof i->last_exit, "no pod yet");
                continue;
            }
            srv_inst_state was = i->state;
            i->state =
                srv_k8s_pod_state(pods[j], a->max_restarts, why, sizeof why);
            copy(i->last_exit, sizeof i->last_exit, why);
            if (i->state == SRV_INST_DEPLOYED && was != SRV_INST_DEPLOYED)
                i->started_ms = srv_dep_now(s);
            srv_dep_log_path(s, i, path, sizeof path);
            json_object_set_new(
                ks->logs,
                json_string_value(json_object_get(
                    json_object_get(pods[j], "metadata"), "name")),
                json_string(path));
        }
    }
    srv_deployer_refresh(s, st);
}

static void start_list(kstream *ks);

static void pods_path(kstream *ks, char *buf, size_t len, bool watch)
{
    /* The selector: app.kubernetes.io/managed-by=flowd,flow/stream=NAME. */
    int n = snprintf(buf, len,
                     "/api/v1/namespaces/%s/pods?labelSelector="
                     "app.kubernetes.io%%2Fmanaged-by%%3Dflowd%%2C"
                     "flow%%2Fstream%%3D%s",
                     ks->p->ns, ks->label);
    if (watch && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n,
                 "&watch=1&allowWatchBookmarks=true&resourceVersion=%s",
                 ks->rv);
}

static void take_rv(kstream *ks, const json_t *obj)
{
    const char *rv = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (rv)
        snprintf(ks->rv, sizeof ks->rv, "%s", rv);
}

static void on_watch_line(void *ud, const char *line, size_t len)
{
    kstream *ks = ud;
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    const char *name = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "name"));

    if (!type || ks->relist) {
        json_decref(ev);
        return;
    }
    if (strcmp(type, "ERROR") == 0) {
        /* 410 Gone: the version is compacted away; the server ends the
         * watch and the pods are listed again. */
        if (json_integer_value(json_object_get(obj, "code")) == 410)
            ks->relist = true;
        else
            fprintf(stderr, "flowd: [%s] kubernetes watch error: %s\n",
                    ks->name,
                    json_string_value(json_object_get(obj, "message")));
        json_decref(ev);
        return;
    }
    take_rv(ks, obj);
    if (name && (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0))
        json_object_set(ks->pods, name, obj);
    else if (name && strcmp(type, "DELETED") == 0)
        json_object_del(ks->pods, name);
    bool bookmark = strcmp(type, "BOOKMARK") == 0;
    json_decref(ev);
    if (!bookmark)
        follow_pods(ks);
}

static void on_watch_done(void *ud, long code, const char *body, size_t len,
                          const char *curl_err)
{
    kstream *ks = ud;

    (void)len;
    ks->watch = NULL;
    if (ks->undeploying)
        return;
    if (code == 410 || ks->relist) {
        ks->relist = false;
        ks->rv[0] = '\0';
        start_list(ks);
        return;
    }
    /* A watch ends when the server closes it (its timeout): watch on from
     * the last version seen, at once when it ended well. */
    if (code != 200)
        fprintf(stderr, "flowd: [%s] kubernetes watch of pods ended: %s\n",
                ks->name,
                curl_err ? curl_err : (body && *body ? body : "no answer"));
    ks->retry_at = srv_dep_now(ks->p->s) + (code == 200 ? 0 : RETRY_MS);
}

static void start_watch(kstream *ks)
{
    char path[1024];
    pods_path(ks, path, sizeof path, true);
    ks->watch = srv_k8s_call(ks->p->k, "GET", path, NULL, NULL, on_watch_line,
                             on_watch_done, ks);
    if (!ks->watch)
        ks->retry_at = srv_dep_now(ks->p->s) + RETRY_MS;
}

static void on_list_done(void *ud, long code, const char *body, size_t len,
                         const char *curl_err)
{
    kstream *ks = ud;
    json_t *items, *pod;
    size_t k;

    ks->watch = NULL;
    if (ks->undeploying)
        return;
    json_t *list = code == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    if (!list) {
        char msg[256];
        status_message(body, msg, sizeof msg);
        fprintf(stderr, "flowd: [%s] cannot list the stream's pods: %s\n",
                ks->name, curl_err ? curl_err : msg);
        ks->retry_at = srv_dep_now(ks->p->s) + RETRY_MS;
        return;
    }
    json_object_clear(ks->pods);
    items = json_object_get(list, "items");
    json_array_foreach(items, k, pod)
    {
        const char *name = json_string_value(
            json_object_get(json_object_get(pod, "metadata"), "name"));
        if (name)
            json_object_set(ks->pods, name, pod);
    }
    take_rv(ks, list);
    json_decref(list);
    follow_pods(ks);
    start_watch(ks);
}

static void start_list(kstream *ks)
{
    char path[1024];
    pods_path(ks, path, sizeof path, false);
    ks->retry_at = 0;
    ks->watch =
        srv_k8s_call(ks->p->k, "GET", path, NULL, NULL, NULL, on_list_done, ks);
    if (!ks->watch)
        ks->retry_at = srv_dep_now(ks->p->s) + RETRY_MS;
}

/* Applies, scales and deletes. */

static void request_ended(kstream *ks)
{
    ks->pending--;
    if (ks->undeploying && ks->pending == 0)
        ks->finish = true;
}

static void on_apply_done(void *ud, long code, const char *body, size_t len,
                          const char *curl_err)
{
    kstream *ks = ud;

    (void)len;
    if (code < 200 || code >= 300) {
        char msg[512];
        status_message(body, msg, sizeof msg);
        char e[600];
        snprintf(e, sizeof e, "apply refused: %s", curl_err ? curl_err : msg);
        copy(ks->error, sizeof ks->error, e);
        fprintf(stderr, "flowd: [%s] kubernetes %s (HTTP %ld)\n", ks->name,
                ks->error, code);
    }
    request_ended(ks);
    follow_pods(ks);
}

static int apply(kstream *ks, const json_t *obj, char *err, size_t errlen)
{
    char path[1024];

    if (srv_k8s_object_path(obj, ks->p->ns, path, sizeof path - 64)) {
        snprintf(err, errlen,
                 "a manifest of '%s' has no apiVersion, kind or name",
                 ks->name);
        return -SRV_EINTERNAL;
    }
    strcat(path, "?" FIELD_MANAGE);
    char *body = json_dumps(obj, JSON_COMPACT);
    srv_k8s_req *r = body ? srv_k8s_call(ks->p->k, "PATCH", path, APPLY_CTYPE,
                                         body, NULL, on_apply_done, ks)
                          : NULL;
    free(body);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    ks->pending++;
    return 0;
}

static int k_deploy(void *ud, srv_stream *st, char *err, size_t errlen)
{
    kplat *p = ud;
    size_t k;
    json_t *o;

    json_t *objs = srv_k8s_manifests(
        p->s, st, st->props, p->ns, p->image[0] ? p->image : NULL, err, errlen);
    if (!objs)
        return -SRV_EPROPS;
    /* Undeploy deletes these by name and the watch selects the pods by
     * these labels: each object must carry them. */
    char ks_label[64];
    srv_k8s_name(st->name, NULL, ks_label, sizeof ks_label);
    json_array_foreach(objs, k, o)
    {
        const char *mb = label_of(o, SRV_K8S_MANAGED_BY);
        const char *sn = label_of(o, SRV_K8S_STREAM);
        char path[1024];
        if (srv_k8s_object_path(o, p->ns, path, sizeof path)) {
            snprintf(err, errlen,
                     "manifest %zu of '%s' has no apiVersion, kind or name", k,
                     st->name);
            json_decref(objs);
            return -SRV_EINTERNAL;
        }
        if (!mb || strcmp(mb, "flowd") || !sn || strcmp(sn, ks_label)) {
            snprintf(err, errlen,
                     "manifest %zu of '%s' lacks the labels %s=flowd and "
                     "%s=%s",
                     k, st->name, SRV_K8S_MANAGED_BY, SRV_K8S_STREAM, ks_label);
            json_decref(objs);
            return -SRV_EINTERNAL;
        }
    }
    kstream *ks = kstream_new(p, st->name, objs);
    if (!ks) {
        json_decref(objs);
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    if (store_objects(p, ks)) {
        snprintf(err, errlen,
                 "cannot deploy '%s': the store %s refused its objects (%s); "
                 "%s",
                 st->name, p->s->store.path, p->s->store.err,
                 srv_store_advice(&p->s->store));
        kstream_free(ks);
        return srv_store_error(&p->s->store);
    }
    json_array_foreach(objs, k, o)
    {
        char why[256];
        if (apply(ks, o, why, sizeof why)) {
            /* Shown as the stream's status; undeploy deletes what was
             * sent. */
            copy(ks->error, sizeof ks->error, why);
            break;
        }
    }
    start_list(ks);
    follow_pods(ks);
    return 0;
}

static void on_delete_done(void *ud, long code, const char *body, size_t len,
                           const char *curl_err)
{
    kstream *ks = ud;

    (void)len;
    if ((code < 200 || code >= 300) && code != 404) {
        char msg[512];
        status_message(body, msg, sizeof msg);
        fprintf(stderr,
                "flowd: [%s] kubernetes delete refused (HTTP %ld): %s; delete "
                "the stream's objects with kubectl delete -l "
                "%s=flowd,%s=%s\n",
                ks->name, code, curl_err ? curl_err : msg, SRV_K8S_MANAGED_BY,
                SRV_K8S_STREAM, ks->label);
    }
    request_ended(ks);
}

static bool k_undeploy(void *ud, srv_stream *st)
{
    kplat *p = ud;
    kstream *ks = kstream_find(p, st->name);
    size_t k;
    json_t *o;

    if (!ks)
        return false;
    ks->undeploying = true;
    srv_k8s_cancel(p->k, ks->watch);
    ks->watch = NULL;
    /* In reverse order of apply: the workloads before their Services and
     * Secrets. */
    for (k = json_array_size(ks->objects); k-- > 0;) {
        char path[1024];
        o = json_array_get(ks->objects, k);
        if (srv_k8s_object_path(o, p->ns, path, sizeof path - 64))
            continue;
        strcat(path, "?propagationPolicy=Background");
        if (srv_k8s_call(p->k, "DELETE", path, NULL, NULL, NULL, on_delete_done,
                         ks))
            ks->pending++;
    }
    for (size_t a = 0; a < st->napps; a++)
        for (int j = 0; j < st->apps[a].ninst; j++)
            st->apps[a].inst[j]->state = SRV_INST_UNDEPLOYING;
    if (ks->pending == 0)
        ks->finish = true;
    return true;
}

static void on_scale_done(void *ud, long code, const char *body, size_t len,
                          const char *curl_err)
{
    kstream *ks = ud;

    (void)len;
    if (code < 200 || code >= 300) {
        char msg[512];
        status_message(body, msg, sizeof msg);
        fprintf(stderr, "flowd: [%s] kubernetes scale refused (HTTP %ld): %s\n",
                ks->name, code, curl_err ? curl_err : msg);
    }
    request_ended(ks);
}

static int k_scale(void *ud, srv_stream *st, srv_dapp *a, int count, char *err,
                   size_t errlen)
{
    kplat *p = ud;
    kstream *ks = kstream_find(p, st->name);
    size_t k;
    json_t *o;

    if (!ks) {
        snprintf(err, errlen, "stream '%s' has no kubernetes objects",
                 st->name);
        return -SRV_EINTERNAL;
    }
    char al[64];
    srv_k8s_name(a->label, NULL, al, sizeof al);
    json_array_foreach(ks->objects, k, o)
    {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *l = label_of(o, SRV_K8S_APP);
        char path[1024], body[64];
        if (!kind || !l || strcmp(l, al) ||
            (strcmp(kind, "Deployment") && strcmp(kind, "StatefulSet")))
            continue;
        if (srv_k8s_object_path(o, p->ns, path, sizeof path - 16))
            continue;
        strcat(path, "/scale");
        snprintf(body, sizeof body, "{\"spec\":{\"replicas\":%d}}", count);
        if (!srv_k8s_call(p->k, "PATCH", path, "application/merge-patch+json",
                          body, NULL, on_scale_done, ks)) {
            snprintf(err, errlen, "out of memory");
            return -SRV_ENOMEM;
        }
        ks->pending++;
        /* A redeploy after a restart applies what is stored: the new
         * count with it. */
        json_object_set_new(json_object_get(o, "spec"), "replicas",
                            json_integer(count));
        store_objects(p, ks);
        follow_pods(ks);
        return 0;
    }
    snprintf(err, errlen, "app '%s' of '%s' has no Deployment or StatefulSet",
             a->label, st->name);
    return -SRV_EINTERNAL;
}

static void k_restore(void *ud, srv_stream *st)
{
    kplat *p = ud;
    kstream *ks = kstream_new(p, st->name, load_objects(p, st->name));
    if (!ks) {
        fprintf(stderr, "flowd: [%s] out of memory\n", st->name);
        return;
    }
    start_list(ks);
    follow_pods(ks);
}

/* Logs: each pod's tail into its instance's log file. */

typedef struct log_fetch {
    kstream *ks; /* borrowed */
    char path[PATH_MAX + 64];
} log_fetch;

static void on_log_done(void *ud, long code, const char *body, size_t len,
                        const char *curl_err)
{
    log_fetch *f = ud;

    (void)curl_err;
    if (code == 200) {
        char tmp[PATH_MAX + 80];
        snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
        FILE *out = fopen(tmp, "w");
        if (out) {
            bool ok = fwrite(body, 1, len, out) == len;
            if (fclose(out) == 0 && ok)
                rename(tmp, f->path);
            else
                remove(tmp);
        }
    }
    request_ended(f->ks);
    free(f);
}

static void fetch_logs(kstream *ks)
{
    const char *pod;
    json_t *path;

    json_object_foreach(ks->logs, pod, path)
    {
        char url[1024];
        log_fetch *f = calloc(1, sizeof *f);
        if (!f)
            return;
        f->ks = ks;
        snprintf(f->path, sizeof f->path, "%s", json_string_value(path));
        snprintf(url, sizeof url, "/api/v1/namespaces/%s/pods/%s/log?" LOG_TAIL,
                 ks->p->ns, pod);
        if (srv_k8s_call(ks->p->k, "GET", url, NULL, NULL, NULL, on_log_done,
                         f))
            ks->pending++;
        else
            free(f);
    }
}

static void k_tick(void *ud)
{
    kplat *p = ud;
    int64_t now = srv_dep_now(p->s);

    p->ticks++;
    for (kstream *ks = p->streams, *next; ks; ks = next) {
        next = ks->next;
        if (ks->undeploying) {
            if (ks->finish && ks->pending == 0) {
                srv_stream *st = srv_stream_find(p->s, ks->name);
                srv_store_exec(&p->s->store,
                               "DELETE FROM k8s_objects WHERE stream=?", "s",
                               ks->name);
                kstream_free(ks);
                if (st && !st->deployed)
                    srv_dep_finish_undeploy(p->s, st);
            }
            continue;
        }
        if (!ks->watch && ks->retry_at && now >= ks->retry_at) {
            ks->retry_at = 0;
            if (ks->rv[0])
                start_watch(ks);
            else
                start_list(ks);
        }
        if (p->ticks % LOG_EVERY == 0 && ks->pending == 0)
            fetch_logs(ks);
    }
}

static void k_free(void *ud)
{
    kplat *p = ud;
    while (p->streams)
        kstream_free(p->streams);
    srv_k8s_free(p->k);
    free(p);
}

static const srv_platform_ops kubernetes_ops = {
    .name = "kubernetes",
    .deploy = k_deploy,
    .undeploy = k_undeploy,
    .scale = k_scale,
    .restore = k_restore,
    .tick = k_tick,
    .free = k_free,
};

const srv_platform_ops *srv_kubernetes_platform(srv *s, void **ud, char *err,
                                                size_t errlen)
{
    srv_k8s_config c;
    int rc = s->cfg.kubeconfig[0]
                 ? srv_k8s_config_kubeconfig(&c, s->cfg.kubeconfig, err, errlen)
                 : srv_k8s_config_incluster(&c, NULL, err, errlen);
    if (rc)
        return NULL;
    kplat *p = calloc(1, sizeof *p);
    if (!p || store_init(s)) {
        snprintf(err, errlen, "%s", p ? s->store.err : "out of memory");
        free(p);
        srv_k8s_config_clear(&c);
        return NULL;
    }
    p->s = s;
    snprintf(p->ns, sizeof p->ns, "%s",
             s->cfg.k8s_namespace[0] ? s->cfg.k8s_namespace
             : c.namespace           ? c.namespace
                                     : "default");
    snprintf(p->image, sizeof p->image, "%s", s->cfg.k8s_image);
    p->k = srv_k8s_new(s->loop, &c);
    srv_k8s_config_clear(&c);
    if (!p->k) {
        snprintf(err, errlen, "cannot start libcurl");
        free(p);
        return NULL;
    }
    *ud = p;
    return &kubernetes_ops;
}
