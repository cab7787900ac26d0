/* Deploy, undeploy and scale: a stream's apps built from its definition
 * and properties, the staged undeploy, and what the deployment layer
 * reports upward (srv_deployer_ops). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deploy.h"

void srv_dep_finish_undeploy(srv *s, srv_stream *st)
{
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++) {
            srv_dep_unlink_ipc(st->apps[k].inst[j]->output);
            srv_dep_unlink_ipc(st->apps[k].inst[j]->tap);
            srv_dep_unlink_ipc(st->apps[k].inst[j]->errors);
        }
    srv_dep_release_deployment(st);
    srv_tap_close(st);
    srv_dlq_refresh(s);
    srv_deployer_refresh(s, st);
    if (s->deployer_ops)
        s->deployer_ops->undeployed(s->deployer_ud, st);
}

static void set_opt(srv_dapp *a, const char *key, const char *value)
{
    size_t klen = strlen(key);

    for (int k = 0; k < a->nopts; k++) {
        if (strncmp(a->opts[k] + 2, key, klen) == 0 &&
            a->opts[k][2 + klen] == '=') {
            free(a->opts[k]);
            a->opts[k] = NULL;
            if (asprintf(&a->opts[k], "--%s=%s", key, value) < 0)
                a->opts[k] = NULL;
            return;
        }
    }
    char **n = realloc(a->opts, (size_t)(a->nopts + 1) * sizeof *n);
    if (!n)
        return;
    a->opts = n;
    if (asprintf(&a->opts[a->nopts], "--%s=%s", key, value) >= 0)
        a->nopts++;
}

struct set_opt_ud {
    srv_dapp *a;
    const dsl_app_info *info;
};

/* An app.*.<option> property reaches only the apps that have the option
 * (an app.<label>.<option> the app lacks was refused at deploy). */
static void set_opt_cb(void *ud, const char *key, const char *value)
{
    struct set_opt_ud *u = ud;

    if (srv_props_app_option(u->info, key))
        set_opt(u->a, key, value);
}

/*
 * The function app's --library=@NAME becomes the path of the library
 * registered as NAME (judged again by the rules of an app's executable),
 * and its directory is allowed to the instance, whose path rules the
 * library must pass too. Any other --library must be an absolute path
 * under --allow-path, as the app will judge it.
 */
static int resolve_library(srv *s, srv_dapp *a, char *err, size_t errlen)
{
    char real[PATH_MAX], why[1024];

    if (strcmp(a->name, "function") != 0)
        return 0;
    for (int k = 0; k < a->nopts; k++) {
        if (strncmp(a->opts[k], "--library=", 10) != 0)
            continue;
        const char *v = a->opts[k] + 10;
        if (v[0] != '@') {
            if (v[0] != '/') {
                snprintf(err, errlen,
                         "app '%s': --library=%s: give @NAME of a library "
                         "registered with 'flowctl function register', or "
                         "an absolute path",
                         a->label, v);
                return -SRV_EPATH;
            }
            if (srv_paths_check(s, v, DSL_PATH_READ, why, sizeof why)) {
                snprintf(err, errlen, "app '%s': --library: %s", a->label, why);
                return -SRV_EPATH;
            }
            continue;
        }
        if (srv_function_resolve(s, a->opts[k] + 11, real, sizeof real, why,
                                 sizeof why)) {
            snprintf(err, errlen, "app '%s': %s", a->label, why);
            return -SRV_EUNRUNNABLE;
        }
        set_opt(a, "library", real);
        char *slash = strrchr(real, '/');
        if (slash == real)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        snprintf(a->lib_dir, sizeof a->lib_dir, "%s", real);
    }
    return 0;
}

int srv_dep_build_apps(srv *s, srv_stream *st, json_t *props, char *err,
                       size_t errlen)
{
    st->apps = calloc(st->ast->n_apps, sizeof *st->apps);
    if (!st->apps) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    st->napps = st->ast->n_apps;
    srv_props_flow(props, &st->flow);
    for (size_t k = 0; k < st->napps; k++) {
        const dsl_app *da = &st->ast->apps[k];
        srv_dapp *a = &st->apps[k];
        a->stream = st;
        a->pos = (int)k;
        snprintf(a->label, sizeof a->label, "%s", dsl_app_label(da));
        snprintf(a->name, sizeof a->name, "%s", da->name);
        const dsl_app_info *info = dsl_registry_find_at(s->reg, st->ast, k);
        if (!info) {
            snprintf(err, errlen, "app '%s' is not registered", da->name);
            return -SRV_EUNRUNNABLE;
        }
        snprintf(a->type, sizeof a->type, "%s", dsl_role_name(info->role));
        json_t *e = srv_registry_entry(s, a->type, a->name);
        const char *uri = json_string_value(json_object_get(e, "uri"));
        if (!uri) {
            snprintf(err, errlen, "app '%s' has no executable", da->name);
            return -SRV_EUNRUNNABLE;
        }
        /* It passed the rules when it was registered; whoever may have
         * changed it or a directory above it since is not trusted now. */
        char why[1024];
        if (srv_registry_check_path(s, uri, a->uri, sizeof a->uri, why,
                                    sizeof why)) {
            snprintf(err, errlen, "app '%s' is not run: %s", da->name, why);
            return -SRV_EUNRUNNABLE;
        }
        for (size_t o = 0; o < da->n_options; o++)
            set_opt(a, da->options[o].key, da->options[o].value);
        struct set_opt_ud su = { a, info };
        srv_props_app_options(props, a->label, set_opt_cb, &su);
        for (int o = 0; o < a->nopts; o++) {
            if (!a->opts[o]) {
                snprintf(err, errlen, "out of memory");
                return -SRV_ENOMEM;
            }
        }
        int lrc = resolve_library(s, a, err, errlen);
        if (lrc)
            return lrc;
        if (srv_paths_check_app(s, info, a->opts, a->nopts, err, errlen))
            return -SRV_EPATH;
        a->count = (int)srv_props_deployer_int(props, a->label, "count", 1);
        a->max_restarts = (int)srv_props_deployer_int(
            props, a->label, "maxRestarts", s->cfg.max_restarts);
        a->restart_window_s = (int)srv_props_deployer_int(
            props, a->label, "restartWindow", s->cfg.restart_window_s);
        a->stop_timeout_ms = (int)srv_props_deployer_int(
            props, a->label, "stopTimeout", s->cfg.stop_timeout_ms);
        const char *tr = srv_props_deployer(props, a->label, "transport");
        a->tcp = tr && strcmp(tr, "tcp") == 0;
        const char *binder = srv_props_deployer(props, a->label, "binder");
        a->kafka = binder && strcmp(binder, "kafka") == 0;
        const char *format =
            srv_props_deployer(props, a->label, "binder.format");
        a->kafka_json = format && strcmp(format, "json") == 0;
        const char *cpus = srv_props_deployer(props, a->label, "cpus");
        snprintf(a->cpus, sizeof a->cpus, "%s", cpus ? cpus : "");
        a->error_threshold = (int)srv_props_deployer_int(
            props, a->label, "errorThreshold", SRV_ERR_THRESHOLD);
        a->lanes = 1;
        if (k + 1 < st->napps) {
            const char *next = dsl_app_label(&st->ast->apps[k + 1]);
            const char *pk = srv_props_partition_key(props, next);
            a->lanes = (int)srv_props_deployer_int(props, next, "count", 1);
            snprintf(a->partition_key, sizeof a->partition_key, "%s",
                     pk ? pk : "");
            const char *pe = srv_props_partition_key_expr(props, next);
            free(a->partition_expr);
            a->partition_expr = pe ? strdup(pe) : NULL;
        }
        a->inst = calloc((size_t)a->count, sizeof *a->inst);
        if (!a->inst) {
            snprintf(err, errlen, "out of memory");
            return -SRV_ENOMEM;
        }
        for (int j = 0; j < a->count; j++) {
            a->inst[j] = srv_dep_inst_new(s, a, j);
            if (!a->inst[j]) {
                snprintf(err, errlen, "out of memory");
                return -SRV_ENOMEM;
            }
            a->ninst++;
            if (srv_dep_alloc_endpoints(s, a->inst[j])) {
                snprintf(err, errlen,
                         "no loopback TCP port is free for app '%s' (%s); "
                         "free descriptors or ports on this machine and "
                         "deploy again",
                         a->label, strerror(errno));
                return -SRV_EUNRUNNABLE;
            }
        }
    }
    return 0;
}

int srv_dep_setup_single(srv *s, srv_stream *st, char *err, size_t errlen)
{
    for (size_t k = 0; k + 1 < st->napps; k++)
        st->apps[k].inst[0]->output[0] = '\0';
    st->host = srv_dep_inst_new(s, &st->apps[0], 0);
    if (!st->host) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->host->host = true;
    st->single = true;
    return 0;
}

void srv_dep_release_deployment(srv_stream *st)
{
    if (st->host)
        srv_dep_unlink_groups(st->host);
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++)
            srv_dep_unlink_groups(st->apps[k].inst[j]);
    srv_stream_free_deployment(st);
}

void srv_dep_platform_guarantee(srv *s, srv_stream *st)
{
    /* No checkpoint coordinator runs its apps: they run without a
     * guarantee (and so as Deployments unless keyed), and say why. */
    st->guarantee = SRV_GUARANTEE_NONE;
    snprintf(st->guarantee_note, sizeof st->guarantee_note,
             "the %s deployer takes no checkpoints: flow.guarantee is not "
             "kept there",
             s->platform->name);
}

/* The rest of srv_deploy on another platform than the local one: the
 * platform places the apps (norm: st's normalised properties, taken). */
static int platform_deploy(srv *s, srv_stream *st, json_t *norm, int64_t now,
                           char *err, size_t errlen)
{
    json_t *old = st->props;

    /* The stream's key pair goes into its manifests' Secret, and flowd's
     * control endpoint admits it (srv_keys_refresh). */
    if (srv_keys_stream(s, st, false, err, errlen)) {
        srv_store_exec(&s->store, "DELETE FROM deployments WHERE stream=?", "s",
                       st->name);
        srv_dep_release_deployment(st);
        json_decref(norm);
        return -SRV_EINTERNAL;
    }
    st->props = norm;
    st->deployed = true;
    st->deployed_ms = now;
    srv_dep_platform_guarantee(s, st);
    int rc = s->platform->deploy(s->platform_ud, st, err, errlen);
    if (rc) {
        srv_store_exec(&s->store, "DELETE FROM deployments WHERE stream=?", "s",
                       st->name);
        st->deployed = false;
        st->props = old;
        json_decref(norm);
        srv_keys_forget(s, st);
        srv_dep_release_deployment(st);
        return rc;
    }
    json_decref(old);
    srv_keys_refresh(s);
    srv_deployer_refresh(s, st);
    return 0;
}

/* The rest of srv_scale on another platform: a's instances follow the
 * count at once (deploying until the platform says otherwise). */
static int platform_scale(srv *s, srv_stream *st, srv_dapp *a, int count,
                          char *err, size_t errlen)
{
    while (a->ninst > count)
        srv_dep_remove_inst(s, a->inst[a->ninst - 1]);
    if (count > a->ninst) {
        srv_inst **n = realloc(a->inst, (size_t)count * sizeof *n);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            return -SRV_ENOMEM;
        }
        a->inst = n;
        while (a->ninst < count) {
            srv_inst *i = srv_dep_inst_new(s, a, a->ninst);
            if (!i) {
                snprintf(err, errlen, "out of memory");
                return -SRV_ENOMEM;
            }
            a->inst[a->ninst++] = i;
        }
    }
    a->count = count;
    int rc = s->platform->scale(s->platform_ud, st, a, count, err, errlen);
    srv_deployer_refresh(s, st);
    return rc;
}

int srv_deploy(srv *s, srv_stream *st, json_t *props, char *err, size_t errlen)
{
    const char *labels[DSL_MAX_APPS];
    const dsl_app_info *infos[DSL_MAX_APPS];
    json_t *norm = NULL;
    size_t n = st->ast->n_apps < DSL_MAX_APPS ? st->ast->n_apps : DSL_MAX_APPS;

    if (st->deployed || st->napps) {
        snprintf(err, errlen,
                 "stream '%s' is already deployed; undeploy it first "
                 "or scale its apps",
                 st->name);
        return -SRV_EDEPLOYED;
    }
    const char *group = srv_stream_group(st);
    if (group && !srv_name_ok(group)) {
        char msg[256];
        snprintf(err, errlen, "%s, on ':%s'; change --group in the definition",
                 dsl_name_message(msg, sizeof msg, "consumer group", group,
                                  strlen(group)),
                 st->ast->source->name);
        return -SRV_EDEFINITION;
    }
    for (size_t k = 0; k < n; k++) {
        labels[k] = dsl_app_label(&st->ast->apps[k]);
        infos[k] = dsl_registry_find_at(s->reg, st->ast, k);
    }
    int prc = srv_props_parse(props, labels, n, &norm, err, errlen);
    if (prc)
        return prc;
    if (srv_props_check_apps(norm, st->name, labels, infos, n, err, errlen)) {
        json_decref(norm);
        return -SRV_EPROPS;
    }
    bool single = strcmp(srv_props_packaging(norm), "single") == 0;
    if (single) {
        for (size_t k = 0; k < n; k++) {
            if (strcmp(st->ast->apps[k].name, "function") == 0) {
                snprintf(err, errlen,
                         "deployer.packaging=single runs the apps inside "
                         "flow-host, which cannot load function libraries; "
                         "deploy '%s' without it",
                         st->name);
                json_decref(norm);
                return -SRV_EPROPS;
            }
            if (srv_props_deployer_int(norm, labels[k], "count", 1) != 1) {
                snprintf(err, errlen,
                         "deployer.packaging=single runs one instance of "
                         "each app; drop the count of '%s'",
                         labels[k]);
                json_decref(norm);
                return -SRV_EPROPS;
            }
        }
        if (access(s->host_uri, X_OK) != 0) {
            snprintf(err, errlen,
                     "deployer.packaging=single needs flow-host, which is "
                     "not at %s",
                     s->host_uri);
            json_decref(norm);
            return -SRV_EUNRUNNABLE;
        }
    }
    int built = srv_dep_build_apps(s, st, norm, err, errlen);
    if (built || (single && srv_dep_setup_single(s, st, err, errlen))) {
        srv_dep_release_deployment(st);
        json_decref(norm);
        return built ? built : -SRV_ENOMEM;
    }
    if (srv_kafka_check(s, st, err, errlen)) {
        srv_dep_release_deployment(st);
        json_decref(norm);
        return -SRV_EPROPS;
    }
    char *text = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS);
    int64_t now = srv_dep_now(s);
    if (!text || srv_store_exec(&s->store,
                                "INSERT OR REPLACE INTO deployments(stream, "
                                "properties, deployed_at) VALUES (?, ?, ?)",
                                "ssi", st->name, text, now)) {
        if (text)
            snprintf(err, errlen,
                     "cannot deploy '%s': the store %s refused it (%s), so "
                     "nothing was changed; %s",
                     st->name, s->store.path, s->store.err,
                     srv_store_advice(&s->store));
        else
            snprintf(err, errlen, "out of memory");
        bool oom = !text;
        free(text);
        srv_dep_release_deployment(st);
        json_decref(norm);
        return oom ? -SRV_ENOMEM : srv_store_error(&s->store);
    }
    free(text);
    if (s->platform)
        return platform_deploy(s, st, norm, now, err, errlen);
    if (srv_keys_stream(s, st, false, err, errlen)) {
        srv_store_exec(&s->store, "DELETE FROM deployments WHERE stream=?", "s",
                       st->name);
        srv_dep_release_deployment(st);
        json_decref(norm);
        return -SRV_EINTERNAL;
    }
    if (srv_tap_open(s, st, err, errlen)) {
        srv_keys_forget(s, st);
        srv_dep_release_deployment(st);
        json_decref(norm);
        return -SRV_EINTERNAL;
    }
    json_decref(st->props);
    st->props = norm;
    st->deployed = true;
    st->deployed_ms = now;
    /* Every app admits the new deployment's instances before they start
     * (a consumer of a destination connects to other streams' apps). */
    srv_keys_refresh(s);
    /* Its region's guarantee, and a region of its own starts from no
     * checkpoint (not from one of an earlier deployment). */
    srv_ckpt_regions_update(s);
    srv_ckpt_fresh(s, st);
    /* Each instance's record is written on its own, so that one that
     * cannot be is known (row_stale) and written again later. */
    if (st->host)
        srv_dep_spawn_inst(s, st->host);
    else
        for (size_t k = st->napps; k-- > 0;)
            for (int j = 0; j < st->apps[k].ninst; j++)
                srv_dep_spawn_inst(s, st->apps[k].inst[j]);
    srv_dep_notify_new_outputs(s, &st->apps[st->napps - 1], 0);
    srv_dep_notify_taps(s, st);
    srv_dep_producers_groups(s, st, true);
    srv_dep_region_joined(s, st);
    srv_dlq_refresh(s);
    srv_deployer_refresh(s, st);
    return 0;
}

static bool pos_has_processes(const srv_stream *st, int pos)
{
    const srv_dapp *a = &st->apps[pos];
    for (int j = 0; j < a->ninst; j++)
        if (a->inst[j]->pid > 0)
            return true;
    return false;
}

void srv_dep_undeploy_next(srv_stream *st)
{
    while (st->stop_pos < (int)st->napps &&
           !pos_has_processes(st, st->stop_pos))
        st->stop_pos++;
    if (st->stop_pos >= (int)st->napps)
        return;
    srv_dapp *a = &st->apps[st->stop_pos];
    for (int j = 0; j < a->ninst; j++)
        if (a->inst[j]->pid > 0 && !a->inst[j]->term_sent) {
            a->inst[j]->term_sent = true;
            srv_dep_stop_inst(a->inst[j]);
        }
}

int srv_forget_deployment(srv *s, srv_stream *st, bool definition)
{
    srv_store *db = &s->store;

    if (srv_store_begin(db) ||
        srv_store_exec(db, "DELETE FROM deployments WHERE stream=?", "s",
                       st->name) ||
        srv_store_exec(db, "DELETE FROM instances WHERE stream=?", "s",
                       st->name) ||
        srv_store_exec(db, "DELETE FROM output_groups WHERE stream=?", "s",
                       st->name) ||
        (definition && srv_store_exec(db, "DELETE FROM streams WHERE name=?",
                                      "s", st->name)) ||
        srv_store_commit(db))
        return -1;
    return 0;
}

bool srv_undeploy(srv *s, srv_stream *st)
{
    if (s->platform && st->deployed) {
        st->deployed = false;
        srv_keys_forget(s, st);
        srv_keys_refresh(s);
        if (s->platform->undeploy(s->platform_ud, st)) {
            srv_deployer_refresh(s, st);
            return false;
        }
        srv_dep_finish_undeploy(s, st);
        return true;
    }
    /* The platform removes what it placed, and finishes then. */
    if (s->platform && st->napps)
        return false;
    if (st->deployed) {
        srv_ckpt_handover(s, st);
        st->deployed = false;
        srv_keys_forget(s, st);
        srv_keys_refresh(s);
        /* Tell consumers in other streams that these outputs go (a tap
         * stream reads any app), and the producers of its source
         * destination or the app it taps that it goes. */
        for (size_t k = 0; k < st->napps; k++) {
            srv_dapp *a = &st->apps[k];
            for (int j = 0; j < a->ninst; j++) {
                struct connect_ud cu = { "disconnect", a->inst[j] };
                srv_dep_for_each_consumer(s, a,
                                          k + 1 == st->napps
                                              ? srv_dep_send_connect
                                              : srv_dep_send_tap_connect,
                                          &cu);
            }
        }
        srv_dep_producers_groups(s, st, false);
        int64_t longest = 0;
        for (size_t k = 0; k < st->napps; k++)
            for (int j = 0; j < st->apps[k].ninst; j++) {
                srv_inst *i = st->apps[k].inst[j];
                uv_timer_stop(i->timer); /* no restart from here on */
                i->term_sent = false;
                if (i->pid > 0)
                    i->state = SRV_INST_UNDEPLOYING;
                else if (!i->removing)
                    i->state = SRV_INST_STOPPED;
                if (st->apps[k].stop_timeout_ms > longest)
                    longest = st->apps[k].stop_timeout_ms;
            }
        st->stop_pos = 0;
        st->stop_deadline_ms = srv_dep_now(s) + longest;
        srv_ckpt_regions_update(s);
        if (!st->host)
            srv_dep_undeploy_next(st);
        if (st->host) {
            if (st->host->pid > 0)
                st->host->state = SRV_INST_UNDEPLOYING;
            srv_dep_stop_inst(st->host);
        }
    }
    if (!srv_dep_stream_has_processes(st)) {
        srv_dep_finish_undeploy(s, st);
        return true;
    }
    srv_deployer_refresh(s, st);
    return false;
}

int srv_dep_record_count(srv *s, srv_stream *st, const srv_dapp *a, int count)
{
    char key[128], val[16];
    json_t *props = json_deep_copy(st->props);
    char *text = NULL;

    snprintf(key, sizeof key, "deployer.%s.count", a->label);
    snprintf(val, sizeof val, "%d", count);
    if (!props || json_object_set_new(props, key, json_string(val)) ||
        !(text = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS))) {
        json_decref(props);
        return -2;
    }
    int stored = srv_store_exec(&s->store,
                                "UPDATE deployments SET properties=? WHERE "
                                "stream=?",
                                "ss", text, st->name);
    free(text);
    if (stored) {
        json_decref(props);
        return -1;
    }
    json_decref(st->props);
    st->props = props;
    return 0;
}

int srv_scale(srv *s, srv_stream *st, srv_dapp *a, int count, char *err,
              size_t errlen)
{
    int rc = 0, asked = count;

    if (count < 1 || count > SRV_MAX_COUNT) {
        snprintf(err, errlen, "count must be from 1 to %d", SRV_MAX_COUNT);
        return -SRV_EINVAL;
    }
    if (st->host) {
        snprintf(err, errlen,
                 "stream '%s' runs in one process (deployer.packaging="
                 "single); redeploy it with multi packaging to scale",
                 st->name);
        return -SRV_EUNRUNNABLE;
    }
    /* The new count is stored first: a scale the store does not hold
     * would be undone by the next flowd. */
    int stored = srv_dep_record_count(s, st, a, count);
    if (stored == -2) {
        snprintf(err, errlen, "out of memory");
        return -SRV_ENOMEM;
    }
    if (stored) {
        snprintf(err, errlen,
                 "cannot scale '%s': the store %s refused the new count "
                 "(%s), so nothing was changed; %s",
                 a->label, s->store.path, s->store.err,
                 srv_store_advice(&s->store));
        return srv_store_error(&s->store);
    }
    if (s->platform)
        return platform_scale(s, st, a, count, err, errlen);
    srv_region *r =
        st->guarantee != SRV_GUARANTEE_NONE ? srv_ckpt_region_of(s, st) : NULL;
    if (r) {
        /* State moves with the key groups: a checkpoint now, then the
         * region restarts from it with the new count
         * (srv_dep_checkpoint_complete). */
        a->rescale_to = count == a->count ? 0 : count;
        if (a->rescale_to)
            srv_dep_rescale(s, r, a);
        srv_deployer_refresh(s, st);
        return 0;
    }
    /* The app feeding a in its stream gives each of a's instances a lane
     * of its own (with the next app's partition key, by key). */
    if (a->pos > 0)
        srv_dep_relane(s, &st->apps[a->pos - 1], count);
    int live = 0;
    for (int j = 0; j < a->ninst; j++)
        if (!a->inst[j]->removing)
            live++;
    if (count > live) {
        int first = a->ninst;
        srv_inst **n =
            realloc(a->inst, (size_t)(a->ninst + count - live) * sizeof *n);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            return -SRV_ENOMEM;
        }
        a->inst = n;
        for (int j = live; j < count; j++) {
            int idx = 0;
            /* The lowest index not in use. */
            for (bool used = true; used; idx++) {
                used = false;
                for (int k = 0; k < a->ninst; k++)
                    if (a->inst[k]->index == idx)
                        used = true;
                if (!used)
                    break;
            }
            srv_inst *i = srv_dep_inst_new(s, a, idx);
            if (!i) {
                snprintf(err, errlen, "out of memory");
                return -SRV_ENOMEM;
            }
            a->inst[a->ninst++] = i;
            if (srv_dep_alloc_endpoints(s, i)) {
                snprintf(err, errlen,
                         "no loopback TCP port is free for a new instance "
                         "of '%s' (%s); free descriptors or ports on this "
                         "machine and scale again",
                         a->label, strerror(errno));
                srv_dep_remove_inst(s, i);
                /* The instances started so far stay, and are counted. */
                count = j;
                rc = -SRV_ESYSTEM;
                break;
            }
            srv_dep_spawn_inst(s, i);
        }
        srv_dep_notify_new_outputs(s, a, first);
    } else if (count < live) {
        int drop = live - count;
        for (int j = a->ninst; j-- > 0 && drop > 0;) {
            srv_inst *i = a->inst[j];
            if (i->removing)
                continue;
            i->removing = true;
            drop--;
            struct connect_ud cu = { "disconnect", i };
            srv_dep_for_each_consumer(s, a, srv_dep_send_connect, &cu);
            if (i->pid > 0) {
                i->state = SRV_INST_UNDEPLOYING;
                srv_dep_stop_inst(i);
            } else {
                srv_dep_remove_inst(s, i);
            }
        }
    }
    /* A scale-up cut short counts, and records, what runs. */
    if (count != asked && a->pos > 0)
        srv_dep_relane(s, &st->apps[a->pos - 1], count);
    if (count != asked && srv_dep_record_count(s, st, a, count))
        fprintf(stderr,
                "flowd: [%s] cannot record that '%s' runs %d instances (%s); "
                "the store keeps the count asked for\n",
                st->name, a->label, count, s->store.err);
    a->count = count;
    srv_dlq_refresh(s);
    srv_deployer_refresh(s, st);
    return rc;
}

void srv_deployer_refresh(srv *s, srv_stream *st)
{
    srv_dep_sync_hosted(st);
    size_t n = st->napps;
    srv_app_counts *c = calloc(n + 1, sizeof *c);

    if (!c)
        return;
    for (size_t k = 0; k < n; k++)
        srv_app_counts_of(&st->apps[k], &c[k]);
    st->status = srv_status_stream(st->deployed, c, n, st->status_desc,
                                   sizeof st->status_desc);
    free(c);
    /* The stream runs on when a checkpoint fails: its status says so
     * until one completes again. */
    const char *warn = st->deployed && st->guarantee != SRV_GUARANTEE_NONE
                           ? srv_ckpt_warning(s, st)
                           : NULL;
    if (warn) {
        size_t used = strlen(st->status_desc);
        snprintf(st->status_desc + used, sizeof st->status_desc - used, "; %s",
                 warn);
    }
    if (st->restoring && st->status != SRV_DEPLOYING) {
        st->restoring = false;
        srv_ready_update(s);
    }
    if (s->deployer_ops)
        s->deployer_ops->changed(s->deployer_ud, st);
}

static void on_ctl_hello(void *ud, srv_inst *i)
{
    srv_ckpt_on_hello(ud, i);
    srv_inst_catch_up(ud, i);
    srv_deployer_refresh(ud, i->app->stream);
}

static void on_ctl_changed(void *ud, srv_inst *i)
{
    srv_deployer_refresh(ud, i->app->stream);
}

static const srv_control_ops deployer_control_ops = {
    .hello = on_ctl_hello,
    .changed = on_ctl_changed,
};

static int64_t ckpt_now(void *ud)
{
    return srv_dep_now(ud);
}

void srv_deployer_attach(srv *s)
{
    if (!s->os) {
        s->os = &srv_os_posix;
        s->os_ud = s;
    }
    s->control_ops = &deployer_control_ops;
    s->control_ud = s;
    if (!s->ckpt && srv_ckpt_start(s, ckpt_now, s) == 0) {
        srv_ckpt_set_on_complete(s, srv_dep_checkpoint_complete, s);
        srv_ckpt_set_routes(s, srv_dep_routes_to);
    }
}
