/* Analytics: counters, field-value counters and aggregate counters fed by
 * the apps' counter messages. Totals and every second's increments are
 * kept in memory and written to the store once a second, into buckets of
 * a second, a minute, an hour and a day; old detail is pruned (seconds
 * after an hour, minutes after 7 days, hours after 90 days). */
#include "analytics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PRUNE_EVERY_MS 60000

struct srv_analytics {
    srv *s;
    srv_counter *head;
    int64_t last_prune_ms;
};

static const int64_t resolutions[] = { SRV_RES_SECOND, SRV_RES_MINUTE,
                                       SRV_RES_HOUR, SRV_RES_DAY };
static const int64_t keep_s[] = { 3600, 7 * 86400, 90 * 86400,
                                  10 * 366 * 86400 };

static srv_counter *get(srv_analytics *a, const char *kind, const char *name,
                        bool create)
{
    srv_counter **pp = &a->head;

    for (; *pp; pp = &(*pp)->next) {
        int c = strcmp((*pp)->name, name);
        if (c == 0)
            c = strcmp((*pp)->kind, kind);
        if (c == 0)
            return *pp;
        if (c > 0)
            break;
    }
    if (!create || strlen(name) >= sizeof((*pp)->name))
        return NULL;
    srv_counter *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->kind, sizeof c->kind, "%s", kind);
    snprintf(c->name, sizeof c->name, "%s", name);
    if (strcmp(kind, "field-value-counter") == 0) {
        c->values = json_object();
        c->pending = json_object();
    }
    c->next = *pp;
    *pp = c;
    return c;
}

srv_counter *srv_analytics_find(srv_analytics *a, const char *kind,
                                const char *name)
{
    if (kind)
        return get(a, kind, name, false);
    srv_counter *c = get(a, "aggregate-counter", name, false);
    return c ? c : get(a, "counter", name, false);
}

srv_counter *srv_analytics_first(srv_analytics *a)
{
    return a->head;
}

srv_analytics *srv_analytics_new(srv *s)
{
    srv_analytics *a = calloc(1, sizeof *a);

    if (!a)
        return NULL;
    a->s = s;
    a->last_prune_ms = srv_now_ms();
    sqlite3_stmt *q = srv_store_query(
        &s->store, "SELECT kind, name, total FROM counters", NULL);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        srv_counter *c = get(a, (const char *)sqlite3_column_text(q, 0),
                             (const char *)sqlite3_column_text(q, 1), true);
        if (c)
            c->total = c->last_total = (uint64_t)sqlite3_column_int64(q, 2);
    }
    sqlite3_finalize(q);
    q = srv_store_query(&s->store,
                        "SELECT name, value, count FROM counter_values", NULL);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        srv_counter *c = get(a, "field-value-counter",
                             (const char *)sqlite3_column_text(q, 0), true);
        if (c)
            json_object_set_new(c->values,
                                (const char *)sqlite3_column_text(q, 1),
                                json_integer(sqlite3_column_int64(q, 2)));
    }
    sqlite3_finalize(q);
    return a;
}

static void counter_free(srv_counter *c)
{
    json_decref(c->values);
    json_decref(c->pending);
    free(c->hist);
    free(c);
}

void srv_analytics_destroy(srv_analytics **ap)
{
    srv_analytics *a = *ap;

    if (!a)
        return;
    *ap = NULL;
    while (a->head) {
        srv_counter *n = a->head->next;
        counter_free(a->head);
        a->head = n;
    }
    free(a);
}

void srv_analytics_add(srv_analytics *a, const char *kind, const char *name,
                       uint64_t inc)
{
    srv_counter *c = get(a, kind, name, true);

    if (!c)
        return;
    c->total += inc;
    c->dirty = true;
}

void srv_analytics_add_second(srv_analytics *a, const char *kind,
                              const char *name, int64_t sec, uint64_t inc)
{
    srv_counter *c = get(a, kind, name, true);

    if (!c || inc == 0)
        return;
    for (size_t k = 0; k < c->nhist; k++) {
        if (c->hist[k].sec == sec) {
            c->hist[k].inc += inc;
            return;
        }
    }
    if (c->nhist == c->caphist) {
        size_t cap = c->caphist ? c->caphist * 2 : 8;
        void *n = realloc(c->hist, cap * sizeof c->hist[0]);
        if (!n)
            return;
        c->hist = n;
        c->caphist = cap;
    }
    c->hist[c->nhist].sec = sec;
    c->hist[c->nhist].inc = inc;
    c->nhist++;
    c->dirty = true;
}

void srv_analytics_add_value(srv_analytics *a, const char *name,
                             const char *value, uint64_t inc)
{
    srv_counter *c = get(a, "field-value-counter", name, true);

    if (!c || !c->values)
        return;
    json_int_t old = json_integer_value(json_object_get(c->values, value));
    json_object_set_new(c->values, value, json_integer(old + (json_int_t)inc));
    old = json_integer_value(json_object_get(c->pending, value));
    json_object_set_new(c->pending, value, json_integer(old + (json_int_t)inc));
    c->total += inc;
    c->dirty = true;
}

void srv_analytics_add_live(srv_analytics *a, const char *kind,
                            const char *name, const char *value, uint64_t inc)
{
    srv_counter *c = get(a, kind, name, true);

    (void)value, (void)inc;
    if (c)
        c->guarded = true;
}

int srv_analytics_commit_store(srv_analytics *a, const char *kind,
                               const char *name, const char *value,
                               uint64_t inc)
{
    srv_store *st = &a->s->store;

    if (inc == 0)
        return 0;
    if (srv_store_exec(st,
                       "INSERT INTO counters(kind, name, total) VALUES "
                       "(?, ?, ?) ON CONFLICT(kind, name) DO UPDATE "
                       "SET total=total+excluded.total",
                       "ssi", kind, name, (int64_t)inc))
        return -1;
    if (value &&
        srv_store_exec(st,
                       "INSERT INTO counter_values(name, value, count) VALUES "
                       "(?, ?, ?) ON CONFLICT(name, value) DO UPDATE SET "
                       "count=count+excluded.count",
                       "ssi", name, value, (int64_t)inc))
        return -1;
    return 0;
}

int srv_analytics_commit_history(srv_analytics *a, const char *kind,
                                 const char *name, int64_t sec, uint64_t inc)
{
    srv_store *st = &a->s->store;

    for (size_t r = 0; inc > 0 && sec > 0 && r < 4; r++) {
        int64_t b = sec - sec % resolutions[r];
        if (srv_store_exec(st,
                           "INSERT INTO counter_history(kind, name, res, ts, "
                           "count) VALUES (?, ?, ?, ?, ?) ON CONFLICT(kind, "
                           "name, res, ts) DO UPDATE SET "
                           "count=count+excluded.count",
                           "ssiii", kind, name, resolutions[r], b,
                           (int64_t)inc))
            return -1;
    }
    return 0;
}

void srv_analytics_commit_apply(srv_analytics *a, const char *kind,
                                const char *name, const char *value,
                                uint64_t inc)
{
    srv_counter *c = get(a, kind, name, true);

    if (!c)
        return;
    c->guarded = true;
    c->total += inc;
    if (value && c->values) {
        json_int_t old = json_integer_value(json_object_get(c->values, value));
        json_object_set_new(c->values, value,
                            json_integer(old + (json_int_t)inc));
    }
}

/* Writes counter c's total and what it gained since the last flush.
 * Returns 0 or -1 (the store failed). */
static int flush_one(srv_store *st, srv_counter *c)
{
    const char *v;
    json_t *n;

    if (srv_store_exec(st,
                       "INSERT INTO counters(kind, name, total) VALUES "
                       "(?, ?, ?) ON CONFLICT(kind, name) DO UPDATE "
                       "SET total=excluded.total",
                       "ssi", c->kind, c->name, (int64_t)c->total))
        return -1;
    json_object_foreach(c->pending, v, n)
    {
        if (srv_store_exec(st,
                           "INSERT INTO counter_values(name, value, "
                           "count) VALUES (?, ?, ?) ON CONFLICT(name, "
                           "value) DO UPDATE SET count=count+excluded.count",
                           "ssi", c->name, v, (int64_t)json_integer_value(n)))
            return -1;
    }
    for (size_t k = 0; k < c->nhist; k++) {
        for (size_t r = 0; r < 4; r++) {
            int64_t b = c->hist[k].sec - c->hist[k].sec % resolutions[r];
            if (srv_store_exec(st,
                               "INSERT INTO counter_history(kind, "
                               "name, res, ts, count) VALUES (?, ?, "
                               "?, ?, ?) ON CONFLICT(kind, name, res, "
                               "ts) DO UPDATE SET "
                               "count=count+excluded.count",
                               "ssiii", c->kind, c->name, resolutions[r], b,
                               (int64_t)c->hist[k].inc))
                return -1;
        }
    }
    return 0;
}

/* One transaction for every dirty counter. What it held is forgotten in
 * memory only once it is committed: when the store fails, the increments
 * wait for the next flush. */
int srv_analytics_flush(srv_analytics *a)
{
    srv_store *st = &a->s->store;
    bool any = false;

    for (srv_counter *c = a->head; c && !any; c = c->next)
        any = c->dirty;
    if (!any)
        return 0;
    if (srv_store_begin(st))
        return -1;
    for (srv_counter *c = a->head; c; c = c->next)
        if (c->dirty && flush_one(st, c))
            return -1; /* rolled back by the store */
    if (srv_store_commit(st))
        return -1;
    for (srv_counter *c = a->head; c; c = c->next) {
        if (!c->dirty)
            continue;
        if (c->pending)
            json_object_clear(c->pending);
        c->nhist = 0;
        c->dirty = false;
    }
    return 0;
}

void srv_analytics_tick(srv_analytics *a)
{
    int64_t now = srv_now_ms();

    for (srv_counter *c = a->head; c; c = c->next) {
        c->rate = (double)(c->total - c->last_total);
        if (c->total < c->last_total)
            c->rate = 0;
        c->last_total = c->total;
    }
    srv_analytics_flush(a);
    if (now - a->last_prune_ms >= PRUNE_EVERY_MS) {
        a->last_prune_ms = now;
        for (size_t r = 0; r < 4; r++)
            srv_store_exec(&a->s->store,
                           "DELETE FROM counter_history WHERE "
                           "res=? AND ts<?",
                           "ii", resolutions[r], now / 1000 - keep_s[r]);
    }
}

int srv_analytics_reset(srv_analytics *a, const char *kind, const char *name)
{
    srv_store *st = &a->s->store;

    for (srv_counter **pp = &a->head; *pp; pp = &(*pp)->next) {
        srv_counter *c = *pp;
        if (strcmp(c->kind, kind) != 0 || strcmp(c->name, name) != 0)
            continue;
        /* Forgotten in the store first, in one transaction: a reset the
         * store does not hold would come back with the next flowd. */
        if (srv_store_begin(st) ||
            srv_store_exec(st, "DELETE FROM counters WHERE kind=? AND name=?",
                           "ss", kind, name) ||
            srv_store_exec(st,
                           "DELETE FROM counter_history WHERE kind=? AND "
                           "name=?",
                           "ss", kind, name) ||
            (strcmp(kind, "field-value-counter") == 0 &&
             srv_store_exec(st, "DELETE FROM counter_values WHERE name=?", "s",
                            name)) ||
            srv_store_commit(st))
            return srv_store_error(st);
        *pp = c->next;
        counter_free(c);
        return 0;
    }
    return -SRV_ENOTFOUND;
}

json_t *srv_analytics_history(srv_analytics *a, const char *kind,
                              const char *name, int64_t res, int64_t from,
                              int64_t to)
{
    int64_t src = res > 0 ? res : SRV_RES_DAY;
    json_t *out = json_object();
    char iso[32];

    if (!out)
        return NULL;
    srv_analytics_flush(a);
    from = srv_bucket_floor(from, res);
    for (int64_t t = from; t <= to; t = srv_bucket_next(t, res)) {
        srv_iso(t, iso, sizeof iso);
        json_object_set_new(out, iso, json_integer(0));
    }
    sqlite3_stmt *q = srv_store_query(
        &a->s->store,
        "SELECT ts, count FROM counter_history WHERE kind=? AND "
        "name=? AND res=? AND ts>=? AND ts<=? ORDER BY ts",
        "ssiii", kind, name, src, from, to);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        int64_t ts = srv_bucket_floor(sqlite3_column_int64(q, 0), res);
        srv_iso(ts, iso, sizeof iso);
        json_t *v = json_object_get(out, iso);
        if (!v)
            continue;
        json_integer_set(v, json_integer_value(v) + sqlite3_column_int64(q, 1));
    }
    sqlite3_finalize(q);
    return out;
}

static int cmp_count_desc(const void *a, const void *b)
{
    json_int_t x =
        json_integer_value(json_object_get(*(json_t *const *)a, "n"));
    json_int_t y =
        json_integer_value(json_object_get(*(json_t *const *)b, "n"));
    if (x != y)
        return x < y ? 1 : -1;
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "v")),
                  json_string_value(json_object_get(*(json_t *const *)b, "v")));
}

json_t *srv_analytics_values_sorted(const srv_counter *c)
{
    json_t *values = c->values;
    size_t n = json_object_size(values), k = 0;
    json_t **v = calloc(n + 1, sizeof *v);
    const char *key;
    json_t *val;
    json_t *out = json_object();

    if (!v)
        return out;
    json_object_foreach(values, key, val) v[k++] =
        json_pack("{s:s,s:O}", "v", key, "n", val);
    qsort(v, k, sizeof v[0], cmp_count_desc);
    for (size_t i = 0; i < k; i++) {
        json_object_set(out, json_string_value(json_object_get(v[i], "v")),
                        json_object_get(v[i], "n"));
        json_decref(v[i]);
    }
    free(v);
    return out;
}
