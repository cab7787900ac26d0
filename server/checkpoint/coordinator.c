/* The checkpoint coordinator: a timer starts each guaranteed region's
 * checkpoint every interval by sending "ckpt" to its source instances;
 * the acks of every running instance complete it, in one store
 * transaction that records it with its snapshot files and commits the
 * counter values reported with it; then every instance hears
 * "ckpt_done" and the directories of older checkpoints go. A decline or
 * the timeout aborts it (counted, shown, retried at the next interval). */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coordinator.h"

#define POLL_MS 50

static int64_t now_of(const srv_ckpt *c)
{
    return c->now(c->now_ud);
}

static void send_control(void *ud, srv_inst *i, bool done, uint64_t id)
{
    srv_control_send_ckpt(ud, i, done, id);
}

static void values_free(srv_ckpt_value *v)
{
    while (v) {
        srv_ckpt_value *n = v->next;
        free(v);
        v = n;
    }
}

static void region_free(srv_region *r)
{
    free(r->done);
    free(r->acks);
    values_free(r->values);
    free(r);
}

int srv_ckpt_dir_of(srv *s, const srv_region *r, char *buf, size_t len)
{
    return srv_fmt(buf, len, "%s/checkpoints/%s", s->cfg.data_dir, r->id);
}

/* The highest numbered directory under r's, 0 when none. */
static uint64_t highest_dir(srv *s, const srv_region *r)
{
    char dir[PATH_MAX];
    uint64_t hi = 0;

    if (srv_ckpt_dir_of(s, r, dir, sizeof dir))
        return 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char *end;
        unsigned long long n = strtoull(e->d_name, &end, 10);
        if (*end == '\0' && end != e->d_name && n > hi)
            hi = n;
    }
    if (d)
        closedir(d);
    return hi;
}

/* Reads the acks of a complete checkpoint's files (JSON
 * [[stream, label, instance, bytes], ...]) into r->done. */
static void load_files(srv_region *r, const char *text)
{
    json_t *a = json_loads(text, 0, NULL);
    size_t n = json_array_size(a);

    free(r->done);
    r->done = n ? calloc(n, sizeof *r->done) : NULL;
    r->ndone = r->done ? n : 0;
    for (size_t k = 0; k < r->ndone; k++) {
        json_t *e = json_array_get(a, k);
        snprintf(r->done[k].stream, sizeof r->done[k].stream, "%s",
                 json_string_value(json_array_get(e, 0)) ?: "");
        snprintf(r->done[k].label, sizeof r->done[k].label, "%s",
                 json_string_value(json_array_get(e, 1)) ?: "");
        r->done[k].instance = (int)json_integer_value(json_array_get(e, 2));
        r->done[k].bytes = (uint64_t)json_integer_value(json_array_get(e, 3));
    }
    json_decref(a);
}

static srv_ckpt_value *value_get(srv_region *r, const char *stream,
                                 const char *label, int instance,
                                 const char *kind, const char *name,
                                 const char *key)
{
    srv_ckpt_value *v;

    for (v = r->values; v; v = v->next)
        if (v->instance == instance && strcmp(v->key, key) == 0 &&
            strcmp(v->name, name) == 0 && strcmp(v->kind, kind) == 0 &&
            strcmp(v->label, label) == 0 && strcmp(v->stream, stream) == 0)
            return v;
    if (strlen(name) >= sizeof v->name || strlen(key) >= sizeof v->key)
        return NULL;
    v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    snprintf(v->stream, sizeof v->stream, "%s", stream);
    snprintf(v->label, sizeof v->label, "%s", label);
    v->instance = instance;
    snprintf(v->kind, sizeof v->kind, "%s", kind);
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(v->key, sizeof v->key, "%s", key);
    v->next = r->values;
    r->values = v;
    return v;
}

/* What the store holds of region r: its epoch, its last complete
 * checkpoint and the counter values that one committed. What was in
 * flight when flowd stopped is past: the next id is beyond every
 * directory. */
static void region_load(srv *s, srv_region *r)
{
    srv_store *db = &s->store;
    sqlite3_stmt *q;

    r->epoch = 1;
    q = srv_store_query(db, "SELECT epoch FROM regions WHERE id=?", "s", r->id);
    if (q && sqlite3_step(q) == SQLITE_ROW)
        r->epoch = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    q = srv_store_query(db,
                        "SELECT id, completed_at, files FROM checkpoints "
                        "WHERE region=? ORDER BY id DESC LIMIT 1",
                        "s", r->id);
    if (q && sqlite3_step(q) == SQLITE_ROW) {
        r->last_complete = (uint64_t)sqlite3_column_int64(q, 0);
        r->last_completed_ms = sqlite3_column_int64(q, 1);
        load_files(r, (const char *)sqlite3_column_text(q, 2));
    }
    sqlite3_finalize(q);
    q = srv_store_query(db,
                        "SELECT stream, label, instance, kind, name, key, "
                        "value FROM checkpoint_counters WHERE region=?",
                        "s", r->id);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        srv_ckpt_value *v = value_get(
            r, (const char *)sqlite3_column_text(q, 0),
            (const char *)sqlite3_column_text(q, 1), sqlite3_column_int(q, 2),
            (const char *)sqlite3_column_text(q, 3),
            (const char *)sqlite3_column_text(q, 4),
            (const char *)sqlite3_column_text(q, 5));
        if (v)
            v->value = v->committed = v->base =
                (uint64_t)sqlite3_column_int64(q, 6);
    }
    sqlite3_finalize(q);
    uint64_t hi = highest_dir(s, r);
    r->next_id = (hi > r->last_complete ? hi : r->last_complete) + 1;
}

srv_region *srv_ckpt_region_get(srv *s, const char *id)
{
    srv_ckpt *c = s->ckpt;
    srv_region *r;

    for (r = c->regions; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->id, sizeof r->id, "%s", id);
    region_load(s, r);
    r->last_started_ms = now_of(c);
    r->next = c->regions;
    c->regions = r;
    return r;
}

static void on_ack_cb(void *ud, srv_inst *i, uint64_t id, uint64_t bytes)
{
    srv_ckpt_on_ack(ud, i, id, bytes);
}

static void on_decline_cb(void *ud, srv_inst *i, uint64_t id,
                          const char *reason, size_t rlen)
{
    char why[256];

    snprintf(why, sizeof why, "%.*s", (int)rlen, reason);
    srv_ckpt_on_decline(ud, i, id, why);
}

static void on_counter_cb(void *ud, srv_inst *i, const flow_ctl_msg *m)
{
    srv_ckpt_on_counter(ud, i, m);
}

static void on_live_cb(void *ud, srv_inst *i, const char *kind,
                       const char *name, const char *value, uint64_t inc)
{
    srv_ckpt_on_live(ud, i, kind, name, value, inc);
}

static const srv_ckpt_ops ckpt_ops = {
    .ack = on_ack_cb,
    .decline = on_decline_cb,
    .counter = on_counter_cb,
    .live = on_live_cb,
};

static void on_timer(uv_timer_t *t)
{
    srv_ckpt_poll(t->data);
}

int srv_ckpt_start(srv *s, int64_t (*now)(void *ud), void *ud)
{
    srv_ckpt *c = calloc(1, sizeof *c);

    if (!c)
        return -1;
    c->s = s;
    c->now = now;
    c->now_ud = ud;
    c->send = send_control;
    c->send_ud = s;
    c->timer = calloc(1, sizeof *c->timer);
    if (!c->timer) {
        free(c);
        return -1;
    }
    s->ckpt = c;
    s->ckpt_ops = &ckpt_ops;
    s->ckpt_ud = s;
    uv_timer_init(s->loop, c->timer);
    c->timer->data = s;
    uv_timer_start(c->timer, on_timer, POLL_MS, POLL_MS);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

void srv_ckpt_free(srv *s)
{
    srv_ckpt *c = s->ckpt;

    if (!c)
        return;
    s->ckpt = NULL;
    s->ckpt_ops = NULL;
    uv_close((uv_handle_t *)c->timer, on_timer_closed);
    while (c->regions) {
        srv_region *n = c->regions->next;
        region_free(c->regions);
        c->regions = n;
    }
    free(c);
}

void srv_ckpt_set_sender(srv *s, srv_ckpt_send_fn send, void *ud)
{
    s->ckpt->send = send;
    s->ckpt->send_ud = ud;
}

void srv_ckpt_set_on_complete(srv *s, void (*fn)(void *ud, srv_region *r),
                              void *ud)
{
    s->ckpt->on_complete = fn;
    s->ckpt->on_complete_ud = ud;
}

void srv_ckpt_set_routes(srv *s,
                         bool (*fn)(const srv_dapp *a, const char *dest))
{
    s->ckpt->routes = fn;
}

uint64_t srv_ckpt_epoch(const srv_region *r)
{
    return r->epoch;
}

void srv_ckpt_epoch_at_least(srv_region *r, uint64_t e)
{
    if (r->epoch < e)
        r->epoch = e;
}

uint64_t srv_ckpt_last_complete(const srv_region *r)
{
    return r->last_complete;
}

uint64_t srv_ckpt_in_flight(const srv_region *r)
{
    return r->in_flight;
}

bool srv_ckpt_recovering(const srv_region *r)
{
    return r->recovering;
}

/* The instances of r's streams that have a process, at most max into out
 * (borrowed); returns how many. */
static size_t running_of(srv *s, srv_region *r, srv_inst **out, size_t max)
{
    srv_stream *v[SRV_CKPT_REGION_MAX];
    size_t n = srv_ckpt_region_streams(s, r, v, SRV_CKPT_REGION_MAX), m = 0;

    for (size_t k = 0; k < n; k++)
        for (size_t a = 0; a < v[k]->napps; a++)
            for (int j = 0; j < v[k]->apps[a].ninst; j++) {
                srv_inst *i = v[k]->apps[a].inst[j];
                if (i->pid > 0 && m < max)
                    out[m++] = i;
            }
    return m;
}

#define INST_MAX (SRV_CKPT_REGION_MAX * 16)

static bool acked(const srv_region *r, const srv_inst *i)
{
    for (size_t k = 0; k < r->nacks; k++)
        if (r->acks[k].instance == i->index &&
            strcmp(r->acks[k].label, i->app->label) == 0 &&
            strcmp(r->acks[k].stream, i->app->stream->name) == 0)
            return true;
    return false;
}

static void abort_ckpt(srv *s, srv_region *r, const char *why)
{
    r->failed++;
    /* Cut to fit: the reason's start is what says most. */
    srv_fmt(r->last_failure, sizeof r->last_failure,
            "checkpoint %llu aborted: %.400s", (unsigned long long)r->in_flight,
            why);
    if (!s->store.quiet)
        fprintf(stderr, "flowd: [%s] %s; the next interval tries again\n",
                r->id, r->last_failure);
    r->in_flight = 0;
    r->nacks = 0;
    r->failing = true;
}

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes the directories of checkpoints older than the newest complete
 * one that are not among the complete ones kept (keep, nkeep). */
static void retain(srv *s, srv_region *r, const uint64_t *keep, size_t nkeep)
{
    char dir[PATH_MAX], sub[PATH_MAX + 32];

    if (srv_ckpt_dir_of(s, r, dir, sizeof dir))
        return;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char *end;
        unsigned long long n = strtoull(e->d_name, &end, 10);
        if (*end || end == e->d_name || n >= r->last_complete)
            continue;
        bool kept = false;
        for (size_t k = 0; k < nkeep && !kept; k++)
            kept = keep[k] == n;
        if (kept || srv_fmt(sub, sizeof sub, "%s/%s", dir, e->d_name))
            continue;
        nftw(sub, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (d)
        closedir(d);
}

/* What a value's committed delta is to the analytics: the counter's total
 * (key ""), a field value ("v:"), or a second of its history ("s:"). */
static int store_delta(srv *s, const srv_ckpt_value *v, uint64_t d,
                       int64_t now_s, bool has_seconds)
{
    bool fvc = strcmp(v->kind, "field-value-counter") == 0;

    if (v->key[0] == '\0') {
        if (fvc)
            return 0;
        return srv_analytics_commit_store(s->an, v->kind, v->name, NULL, d) ||
               (!has_seconds && srv_analytics_commit_history(
                                    s->an, v->kind, v->name, now_s, d));
    }
    if (strncmp(v->key, "v:", 2) == 0)
        return fvc ? srv_analytics_commit_store(s->an, v->kind, v->name,
                                                v->key + 2, d)
                   : 0;
    if (strncmp(v->key, "s:", 2) == 0 && !fvc)
        return srv_analytics_commit_history(s->an, v->kind, v->name,
                                            strtoll(v->key + 2, NULL, 10), d);
    return 0;
}

static void apply_delta(srv *s, const srv_ckpt_value *v, uint64_t d)
{
    bool fvc = strcmp(v->kind, "field-value-counter") == 0;

    if (v->key[0] == '\0' && !fvc)
        srv_analytics_commit_apply(s->an, v->kind, v->name, NULL, d);
    else if (strncmp(v->key, "v:", 2) == 0 && fvc)
        srv_analytics_commit_apply(s->an, v->kind, v->name, v->key + 2, d);
}

/* Does any value of the counter of v, of v's instance, count seconds? */
static bool has_seconds(const srv_region *r, const srv_ckpt_value *v)
{
    for (const srv_ckpt_value *o = r->values; o; o = o->next)
        if (strncmp(o->key, "s:", 2) == 0 && o->instance == v->instance &&
            strcmp(o->name, v->name) == 0 && strcmp(o->kind, v->kind) == 0 &&
            strcmp(o->label, v->label) == 0 &&
            strcmp(o->stream, v->stream) == 0)
            return true;
    return false;
}

static char *files_json(const srv_region *r)
{
    json_t *a = json_array();

    for (size_t k = 0; a && k < r->nacks; k++)
        json_array_append_new(
            a, json_pack("[s,s,i,I]", r->acks[k].stream, r->acks[k].label,
                         r->acks[k].instance, (json_int_t)r->acks[k].bytes));
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

/* Every running instance acked: records the checkpoint and the values it
 * commits in one transaction, then tells every instance, then removes the
 * directories that are no longer kept. */
static void complete(srv *s, srv_region *r)
{
    srv_ckpt *c = s->ckpt;
    srv_store *db = &s->store;
    srv_stream *st = srv_stream_find(s, r->id);
    int retain_n = st ? st->flow.retain : 3;
    int64_t now = now_of(c);
    char *files = files_json(r);
    uint64_t id = r->in_flight;

    if (!files) {
        abort_ckpt(s, r, "out of memory");
        return;
    }
    int rc = srv_store_begin(db) ||
             srv_store_exec(db,
                            "INSERT OR REPLACE INTO checkpoints(region, id, "
                            "epoch, completed_at, files) VALUES (?, ?, ?, ?, "
                            "?)",
                            "siiis", r->id, (int64_t)id, (int64_t)r->epoch, now,
                            files) ||
             srv_store_exec(db,
                            "INSERT OR REPLACE INTO regions(id, epoch) VALUES "
                            "(?, ?)",
                            "si", r->id, (int64_t)r->epoch);
    for (srv_ckpt_value *v = r->values; !rc && v; v = v->next) {
        if (v->value == v->committed)
            continue;
        rc = srv_store_exec(db,
                            "INSERT OR REPLACE INTO checkpoint_counters("
                            "region, stream, label, instance, kind, name, "
                            "key, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            "sssisssi", r->id, v->stream, v->label,
                            (int64_t)v->instance, v->kind, v->name, v->key,
                            (int64_t)v->value);
        if (!rc && v->value > v->committed)
            rc = store_delta(s, v, v->value - v->committed, now / 1000,
                             has_seconds(r, v));
    }
    if (!rc)
        rc = srv_store_exec(db,
                            "DELETE FROM checkpoints WHERE region=? AND id "
                            "NOT IN (SELECT id FROM checkpoints WHERE "
                            "region=? ORDER BY id DESC LIMIT ?)",
                            "ssi", r->id, r->id, (int64_t)retain_n);
    if (!rc)
        rc = srv_store_commit(db);
    free(files);
    if (rc) {
        char why[700];
        srv_fmt(why, sizeof why, "the store %.200s refused it (%.200s); %s",
                db->path, db->err, srv_store_advice(db));
        srv_store_rollback(db);
        abort_ckpt(s, r, why);
        return;
    }
    for (srv_ckpt_value *v = r->values; v; v = v->next) {
        if (v->value > v->committed)
            apply_delta(s, v, v->value - v->committed);
        v->committed = v->value;
    }
    free(r->done);
    r->done = r->acks;
    r->ndone = r->nacks;
    r->acks = NULL;
    r->nacks = r->capacks = 0;
    r->last_complete = id;
    r->last_completed_ms = now;
    r->in_flight = 0;
    r->failing = false;
    srv_inst *run[INST_MAX];
    size_t n = running_of(s, r, run, INST_MAX);
    for (size_t k = 0; k < n; k++)
        c->send(c->send_ud, run[k], true, id);
    uint64_t keep[100];
    size_t nkeep = 0;
    sqlite3_stmt *q = srv_store_query(
        db, "SELECT id FROM checkpoints WHERE region=? ORDER BY id DESC", "s",
        r->id);
    while (q && sqlite3_step(q) == SQLITE_ROW && nkeep < 100)
        keep[nkeep++] = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    retain(s, r, keep, nkeep);
    if (c->on_complete)
        c->on_complete(c->on_complete_ud, r);
}

/* Completes r's checkpoint in flight when every running instance acked
 * it. */
static void check_complete(srv *s, srv_region *r)
{
    srv_inst *run[INST_MAX];
    size_t n = running_of(s, r, run, INST_MAX);

    if (!r->in_flight || n == 0)
        return;
    for (size_t k = 0; k < n; k++)
        if (!acked(r, run[k]))
            return;
    complete(s, r);
}

/* Is i the instance of a source app: it reads nothing, or a Kafka
 * topic? */
static bool is_source(srv *s, const srv_inst *i)
{
    return srv_ckpt_is_source(s, i->app);
}

/*
 * The checkpoint in flight went to the sources of a cycle, and the last
 * of them ended without taking it (it had sent its end of stream): the
 * events still going round are checkpointed by every instance instead,
 * as when a cycle's sources have all ended, rather than after a timeout.
 * An instance that already took it ignores the repeat.
 */
static void resend_to_all(srv *s, srv_region *r)
{
    srv_ckpt *c = s->ckpt;
    srv_inst *run[INST_MAX];

    if (!r->in_flight || r->in_flight_all)
        return;
    size_t n = running_of(s, r, run, INST_MAX);
    for (size_t k = 0; k < n; k++)
        if (is_source(s, run[k]) || run[k]->state != SRV_INST_DEPLOYED ||
            run[k]->ident_len == 0)
            return;
    if (n == 0 || !srv_ckpt_cyclic(s, r))
        return;
    r->in_flight_all = true;
    for (size_t k = 0; k < n; k++)
        c->send(c->send_ud, run[k], false, r->in_flight);
}

uint64_t srv_ckpt_trigger(srv *s, srv_region *r)
{
    srv_ckpt *c = s->ckpt;
    srv_inst *run[INST_MAX];
    char dir[PATH_MAX], sub[PATH_MAX + 32];

    if (r->in_flight)
        return r->in_flight;
    if (r->recovering)
        return 0;
    size_t n = running_of(s, r, run, INST_MAX), sources = 0;
    for (size_t k = 0; k < n; k++) {
        if (run[k]->state != SRV_INST_DEPLOYED || run[k]->ident_len == 0)
            return 0;
        sources += is_source(s, run[k]);
    }
    /* A cycle goes on after its sources completed: then every instance
     * hears ckpt, and those whose channels but the feedback ones all
     * ended start it (docs/guarantees.md, "Cycles"). */
    bool all = sources == 0 && n > 0 && srv_ckpt_cyclic(s, r);
    if (sources == 0 && !all)
        return 0;
    uint64_t id = r->next_id++;
    if (srv_ckpt_dir_of(s, r, dir, sizeof dir) == 0 &&
        srv_fmt(sub, sizeof sub, "%s/%llu", dir, (unsigned long long)id) == 0) {
        char top[PATH_MAX + 16];
        snprintf(top, sizeof top, "%s/checkpoints", s->cfg.data_dir);
        mkdir(top, 0700);
        mkdir(dir, 0700);
        if (mkdir(sub, 0700) != 0 && errno != EEXIST && !s->store.quiet)
            fprintf(stderr, "flowd: [%s] cannot create %s: %s\n", r->id, sub,
                    strerror(errno));
    }
    r->in_flight = id;
    r->in_flight_all = all;
    r->nacks = 0;
    r->started_ms = r->last_started_ms = now_of(c);
    for (size_t k = 0; k < n; k++)
        if (all || is_source(s, run[k]))
            c->send(c->send_ud, run[k], false, id);
    return id;
}

void srv_ckpt_poll(srv *s)
{
    srv_ckpt *c = s->ckpt;

    if (!c)
        return;
    int64_t now = now_of(c);
    for (srv_stream *st = s->streams; st; st = st->next) {
        if (!st->deployed || st->guarantee == SRV_GUARANTEE_NONE)
            continue;
        srv_region *r = srv_ckpt_region_of(s, st);
        if (!r || strcmp(r->id, st->name) != 0)
            continue; /* each region once: by its first stream */
        srv_stream *first = st;
        if (r->in_flight) {
            srv_inst *run[INST_MAX];
            if (running_of(s, r, run, INST_MAX) == 0) {
                /* Nothing runs any more (the stream ended, or is being
                 * stopped): nothing to wait for, and no failure. */
                r->in_flight = 0;
                r->nacks = 0;
                continue;
            }
            check_complete(s, r);
            resend_to_all(s, r);
            if (r->in_flight && now - r->started_ms > first->flow.timeout_ms) {
                char why[256];
                srv_inst *run[INST_MAX];
                size_t n = running_of(s, r, run, INST_MAX), missing = 0;
                char who[160] = "";
                for (size_t k = 0; k < n; k++)
                    if (!acked(r, run[k]) && missing++ == 0)
                        srv_inst_id(run[k], who, sizeof who);
                snprintf(why, sizeof why,
                         "timed out after %lld ms with %zu of %zu "
                         "instances acknowledged (waiting for %s)",
                         (long long)first->flow.timeout_ms, n - missing, n,
                         who);
                abort_ckpt(s, r, why);
            }
            continue;
        }
        if (now - r->last_started_ms >= first->flow.interval_ms)
            srv_ckpt_trigger(s, r);
    }
}

void srv_ckpt_on_ack(srv *s, srv_inst *i, uint64_t id, uint64_t bytes)
{
    srv_region *r = srv_ckpt_region_of(s, i->app->stream);

    if (!r || id == 0 || id != r->in_flight || acked(r, i))
        return;
    if (r->nacks == r->capacks) {
        size_t cap = r->capacks ? r->capacks * 2 : 16;
        srv_ckpt_ack *n = realloc(r->acks, cap * sizeof *n);
        if (!n)
            return;
        r->acks = n;
        r->capacks = cap;
    }
    srv_ckpt_ack *a = &r->acks[r->nacks++];
    snprintf(a->stream, sizeof a->stream, "%s", i->app->stream->name);
    snprintf(a->label, sizeof a->label, "%s", i->app->label);
    a->instance = i->index;
    a->bytes = bytes;
    check_complete(s, r);
}

void srv_ckpt_on_decline(srv *s, srv_inst *i, uint64_t id, const char *reason)
{
    srv_region *r = srv_ckpt_region_of(s, i->app->stream);
    char who[160], why[512];

    if (!r || id == 0 || id != r->in_flight)
        return;
    srv_inst_id(i, who, sizeof who);
    snprintf(why, sizeof why, "%s declined it: %s", who,
             reason && *reason ? reason : "no reason given");
    abort_ckpt(s, r, why);
}

static void put_value(srv_region *r, const srv_inst *i, const char *kind,
                      const char *name, const char *key, uint64_t value)
{
    srv_ckpt_value *v = value_get(r, i->app->stream->name, i->app->label,
                                  i->index, kind, name, key);
    if (v)
        v->value = value;
}

void srv_ckpt_on_live(srv *s, srv_inst *i, const char *kind, const char *name,
                      const char *value, uint64_t inc)
{
    srv_region *r = srv_ckpt_region_of(s, i->app->stream);
    char key[160];

    /* Taken during a recovery too: what the killed instances sent before
     * their exit is forgotten when the region starts again, and the new
     * ones count from their restart. */
    if (!r ||
        srv_fmt(key, sizeof key, "%s%s", value ? "v:" : "", value ? value : ""))
        return;
    srv_ckpt_value *v = value_get(r, i->app->stream->name, i->app->label,
                                  i->index, kind, name, key);
    if (v)
        v->untagged += inc;
}

bool srv_ckpt_live(srv *s, const char *kind, const char *name, uint64_t *out)
{
    bool fvc = strcmp(kind, "field-value-counter") == 0, any = false;

    *out = 0;
    if (!s->ckpt)
        return false;
    for (srv_region *r = s->ckpt->regions; r; r = r->next)
        for (const srv_ckpt_value *v = r->values; v; v = v->next) {
            if (strcmp(v->name, name) || strcmp(v->kind, kind) ||
                (fvc ? strncmp(v->key, "v:", 2) != 0 : v->key[0] != '\0'))
                continue;
            *out += v->value > v->base + v->untagged ? v->value
                                                     : v->base + v->untagged;
            any = true;
        }
    return any;
}

void srv_ckpt_on_counter(srv *s, srv_inst *i, const flow_ctl_msg *m)
{
    srv_region *r = srv_ckpt_region_of(s, i->app->stream);
    char kind[24], name[256], key[160];

    if (!r || r->recovering || !m->kind.ptr || !m->name.ptr ||
        m->kind.len >= sizeof kind || m->name.len >= sizeof name ||
        m->name.len == 0)
        return;
    snprintf(kind, sizeof kind, "%.*s", (int)m->kind.len, m->kind.ptr);
    snprintf(name, sizeof name, "%.*s", (int)m->name.len, m->name.ptr);
    if (m->has_total)
        put_value(r, i, kind, name, "", m->total);
    for (uint32_t j = 0; m->values && j < m->nvalues; j++)
        if (m->values[j].key.len + 3 < sizeof key) {
            snprintf(key, sizeof key, "v:%.*s", (int)m->values[j].key.len,
                     m->values[j].key.ptr);
            put_value(r, i, kind, name, key, m->values[j].value);
        }
    for (uint32_t j = 0; m->seconds && j < m->nseconds; j++)
        if (m->seconds[j].key.len + 3 < sizeof key) {
            snprintf(key, sizeof key, "s:%.*s", (int)m->seconds[j].key.len,
                     m->seconds[j].key.ptr);
            put_value(r, i, kind, name, key, m->seconds[j].value);
        }
}

void srv_ckpt_on_hello(srv *s, srv_inst *i)
{
    srv_region *r = srv_ckpt_region_of(s, i->app->stream);
    srv_stream *v[SRV_CKPT_REGION_MAX];

    if (!r || !r->recovering)
        return;
    size_t n = srv_ckpt_region_streams(s, r, v, SRV_CKPT_REGION_MAX);
    for (size_t k = 0; k < n; k++)
        for (size_t a = 0; a < v[k]->napps; a++)
            for (int j = 0; j < v[k]->apps[a].ninst; j++) {
                srv_inst *o = v[k]->apps[a].inst[j];
                /* Back, or never coming back (failed, stopped). */
                if (o->state == SRV_INST_DEPLOYING ||
                    o->state == SRV_INST_RESTARTING)
                    return;
            }
    int64_t now = now_of(s->ckpt), took = now - r->death_ms;
    r->recovery_ms[r->recoveries % SRV_CKPT_RING] = took;
    int b = 0;
    while (srv_ckpt_recovery_bounds_ms[b] &&
           took > srv_ckpt_recovery_bounds_ms[b])
        b++;
    r->recovery_buckets[b]++;
    r->recovery_sum_ms += took;
    r->recoveries++;
    r->recovering = false;
    r->last_started_ms = now;
}

bool srv_ckpt_recovery_begin(srv *s, srv_region *r, const char *why)
{
    if (r->recovering)
        return false;
    /* What is in flight will never complete: dropped, not counted as a
     * failure (the recovery is what the status shows). */
    r->in_flight = 0;
    r->nacks = 0;
    r->recovering = true;
    r->death_ms = now_of(s->ckpt);
    snprintf(r->recovery_why, sizeof r->recovery_why, "%s", why);
    return true;
}

/* The number of instances app label of stream has now, -1 when none. */
static int count_of(srv *s, const char *stream, const char *label)
{
    srv_stream *st = srv_stream_find(s, stream);
    srv_dapp *a = st ? srv_stream_app(st, label) : NULL;

    return a ? a->ninst : -1;
}

int srv_ckpt_recovery_restart(srv *s, srv_region *r)
{
    srv_store *db = &s->store;

    r->epoch++;
    r->in_flight = 0;
    r->nacks = 0;
    int rc = srv_store_begin(db) ||
             srv_store_exec(db,
                            "INSERT OR REPLACE INTO regions(id, epoch) VALUES "
                            "(?, ?)",
                            "si", r->id, (int64_t)r->epoch);
    /* What the restored instances count from: the committed values, those
     * of instances a scale down took away in instance 0's. */
    for (srv_ckpt_value **pp = &r->values; *pp;) {
        srv_ckpt_value *v = *pp;
        v->value = v->base = v->committed;
        v->untagged = 0;
        int n = count_of(s, v->stream, v->label);
        if (n < 0 || v->instance < n) {
            pp = &v->next;
            continue;
        }
        *pp = v->next;
        srv_ckpt_value *z =
            value_get(r, v->stream, v->label, 0, v->kind, v->name, v->key);
        if (z) {
            z->committed += v->committed;
            z->value = z->base = z->committed;
            z->untagged = 0;
            rc = rc ||
                 srv_store_exec(db,
                                "INSERT OR REPLACE INTO "
                                "checkpoint_counters(region, stream, "
                                "label, instance, kind, name, key, "
                                "value) VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
                                "ssssssi", r->id, z->stream, z->label, z->kind,
                                z->name, z->key, (int64_t)z->committed);
        }
        rc = rc ||
             srv_store_exec(db,
                            "DELETE FROM checkpoint_counters WHERE "
                            "region=? AND stream=? AND label=? AND "
                            "instance=? AND kind=? AND name=? AND key=?",
                            "sssisss", r->id, v->stream, v->label,
                            (int64_t)v->instance, v->kind, v->name, v->key);
        free(v);
    }
    rc = rc || srv_store_commit(db);
    if (rc)
        srv_store_rollback(db);
    return rc ? -1 : 0;
}

void srv_ckpt_fresh(srv *s, srv_stream *st)
{
    srv_stream *v[2];
    srv_region *r = srv_ckpt_region_of(s, st);
    srv_store *db = &s->store;

    if (!r || srv_ckpt_region_streams(s, r, v, 2) != 1)
        return;
    if (srv_store_begin(db) ||
        srv_store_exec(db, "DELETE FROM checkpoints WHERE region=?", "s",
                       r->id) ||
        srv_store_exec(db, "DELETE FROM checkpoint_counters WHERE region=?",
                       "s", r->id) ||
        srv_store_commit(db)) {
        srv_store_rollback(db);
        return;
    }
    free(r->done);
    r->done = NULL;
    r->ndone = 0;
    values_free(r->values);
    r->values = NULL;
    r->in_flight = 0;
    r->nacks = 0;
    r->recovering = false;
    /* Directories up to the next id go (every one is older now). */
    r->last_complete = r->next_id;
    retain(s, r, NULL, 0);
    r->last_complete = 0;
    r->last_completed_ms = 0;
    r->last_started_ms = now_of(s->ckpt);
}

void srv_ckpt_handover(srv *s, srv_stream *st)
{
    srv_ckpt *c = s->ckpt;
    srv_region *r = c && st->deployed ? srv_ckpt_region_of(s, st) : NULL;
    srv_stream *v[SRV_CKPT_REGION_MAX];
    char heir[sizeof r->id] = "", from[PATH_MAX], to[PATH_MAX];
    srv_store *db = &s->store;

    if (!r || strcmp(r->id, st->name) != 0)
        return;
    size_t n = srv_ckpt_region_streams(s, r, v, SRV_CKPT_REGION_MAX);
    st->deployed = false;
    for (size_t k = 0; k < n && !heir[0]; k++) {
        if (v[k] == st)
            continue;
        srv_region *h = srv_ckpt_region_of(s, v[k]);
        if (!h || h == r)
            break;
        snprintf(heir, sizeof heir, "%s", h->id);
        /* The name's own record, made just now or left by an earlier
         * deployment, gives way. */
        for (srv_region **pp = &c->regions; *pp; pp = &(*pp)->next)
            if (*pp == h) {
                *pp = h->next;
                break;
            }
        region_free(h);
    }
    st->deployed = true;
    if (!heir[0])
        return;
    if (srv_ckpt_dir_of(s, r, from, sizeof from) == 0 &&
        srv_fmt(to, sizeof to, "%s/checkpoints/%s", s->cfg.data_dir, heir) ==
            0 &&
        rename(from, to) != 0 && errno != ENOENT && !s->store.quiet)
        fprintf(stderr,
                "flowd: [region %s] cannot move %s to %s (%s): region '%s' "
                "starts again from nothing at its next restart\n",
                r->id, from, to, strerror(errno), heir);
    if (srv_store_begin(db) ||
        srv_store_exec(db, "DELETE FROM regions WHERE id=?", "s", heir) ||
        srv_store_exec(db, "DELETE FROM checkpoints WHERE region=?", "s",
                       heir) ||
        srv_store_exec(db, "DELETE FROM checkpoint_counters WHERE region=?",
                       "s", heir) ||
        srv_store_exec(db, "UPDATE regions SET id=? WHERE id=?", "ss", heir,
                       r->id) ||
        srv_store_exec(db, "UPDATE checkpoints SET region=? WHERE region=?",
                       "ss", heir, r->id) ||
        srv_store_exec(db,
                       "UPDATE checkpoint_counters SET region=? WHERE "
                       "region=?",
                       "ss", heir, r->id) ||
        srv_store_commit(db)) {
        srv_store_rollback(db);
        if (!s->store.quiet)
            fprintf(stderr,
                    "flowd: [region %s] cannot record in the store that it "
                    "is now region '%s' (%s); it holds in memory\n",
                    r->id, heir, s->store.err);
    }
    snprintf(r->id, sizeof r->id, "%s", heir);
}

int srv_ckpt_restore_of(srv *s, srv_region *r, const srv_dapp *a, char *buf,
                        size_t len)
{
    char dir[PATH_MAX];
    size_t off = 0;

    buf[0] = '\0';
    if (!r->last_complete)
        return 0;
    if (srv_ckpt_dir_of(s, r, dir, sizeof dir))
        return -1;
    for (size_t k = 0; k < r->ndone; k++) {
        const srv_ckpt_ack *d = &r->done[k];
        if (strcmp(d->stream, a->stream->name) || strcmp(d->label, a->label))
            continue;
        int w =
            snprintf(buf + off, len - off, "%s%s/%llu/%s.%s.%d.snap",
                     off ? "," : "", dir, (unsigned long long)r->last_complete,
                     d->stream, d->label, d->instance);
        if (w < 0 || (size_t)w >= len - off) {
            buf[0] = '\0';
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

const int64_t srv_ckpt_recovery_bounds_ms[SRV_CKPT_BUCKETS] = {
    100, 250, 500, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 60000, 0,
};

uint64_t srv_ckpt_recovery_histogram(srv *s, srv_stream *st,
                                     uint64_t counts[SRV_CKPT_BUCKETS],
                                     int64_t *sum_ms)
{
    srv_region *r = st->deployed ? srv_ckpt_region_of(s, st) : NULL;

    memset(counts, 0, SRV_CKPT_BUCKETS * sizeof counts[0]);
    *sum_ms = 0;
    if (!r)
        return 0;
    *sum_ms = r->recovery_sum_ms;
    memcpy(counts, r->recovery_buckets, sizeof r->recovery_buckets);
    return r->recoveries;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of the last recoveries, in ms. */
static int64_t quantile_of(const srv_region *r, double q)
{
    int64_t v[SRV_CKPT_RING];
    size_t n = r->recoveries < SRV_CKPT_RING ? r->recoveries : SRV_CKPT_RING;

    if (n == 0)
        return 0;
    memcpy(v, r->recovery_ms, n * sizeof v[0]);
    qsort(v, n, sizeof v[0], cmp_i64);
    size_t k = (size_t)(q * (double)n + 0.999999);
    return v[k == 0 ? 0 : k - 1];
}

const char *srv_ckpt_warning(srv *s, srv_stream *st)
{
    srv_region *r = srv_ckpt_region_of(s, st);

    return r && r->failing && !r->recovering ? r->last_failure : NULL;
}

json_t *srv_ckpt_status_json(srv *s, srv_stream *st)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    json_object_set_new(o, "guarantee",
                        json_string(srv_guarantee_name(st->guarantee)));
    if (st->guarantee_note[0])
        json_object_set_new(o, "guarantee_note",
                            json_string(st->guarantee_note));
    srv_region *r =
        st->guarantee != SRV_GUARANTEE_NONE ? srv_ckpt_region_of(s, st) : NULL;
    if (!r) {
        json_object_set_new(o, "checkpoint", json_null());
        json_object_set_new(o, "recovery", json_null());
        return o;
    }
    char when[32] = "";
    if (r->last_completed_ms)
        srv_iso(r->last_completed_ms / 1000, when, sizeof when);
    json_object_set_new(
        o, "checkpoint",
        json_pack(
            "{s:s,s:I,s:I,s:o,s:o,s:I,s:o,s:I,s:I,s:I,s:b}", "region", r->id,
            "epoch", (json_int_t)r->epoch, "last_complete",
            (json_int_t)r->last_complete, "last_completed_at",
            when[0] ? json_string(when) : json_null(), "in_flight",
            r->in_flight ? json_integer((json_int_t)r->in_flight) : json_null(),
            "failed", (json_int_t)r->failed, "last_failure",
            r->last_failure[0] ? json_string(r->last_failure) : json_null(),
            "interval_ms", (json_int_t)st->flow.interval_ms, "timeout_ms",
            (json_int_t)st->flow.timeout_ms, "retain",
            (json_int_t)st->flow.retain, "recovering", r->recovering));
    json_int_t last =
        r->recoveries ? r->recovery_ms[(r->recoveries - 1) % SRV_CKPT_RING] : 0;
    json_object_set_new(
        o, "recovery",
        json_pack("{s:I,s:o,s:I,s:I,s:I}", "count", (json_int_t)r->recoveries,
                  "last_ms", r->recoveries ? json_integer(last) : json_null(),
                  "p50_ms", (json_int_t)quantile_of(r, 0.5), "p99_ms",
                  (json_int_t)quantile_of(r, 0.99), "max_ms",
                  (json_int_t)quantile_of(r, 1.0)));
    return o;
}
