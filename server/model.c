/* The stream model: definitions in memory, sorted by name, and what
 * their deployments' apps and instances show (model.h). Below the
 * deployment layer; calls only the store, the status rules and the DSL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

srv_stream *srv_stream_find(srv *s, const char *name)
{
    for (srv_stream *st = s->streams; st; st = st->next)
        if (strcmp(st->name, name) == 0)
            return st;
    return NULL;
}

static void inst_free_now(srv_inst *i)
{
    free(i->groups);
    free(i->spawn_inputs);
    free(i->spawn_output);
    free(i);
}

/* The loop is done with i's timer: the handle and i go. */
static void on_inst_timer_close(uv_handle_t *h)
{
    srv_inst *i = h->data;

    free(h);
    inst_free_now(i);
}

void srv_inst_free(srv_inst *i)
{
    if (!i)
        return;
    if (i->timer) {
        uv_timer_stop(i->timer);
        uv_close((uv_handle_t *)i->timer, on_inst_timer_close);
    } else {
        inst_free_now(i);
    }
}

void srv_stream_free_deployment(srv_stream *st)
{
    srv_inst_free(st->host);
    st->host = NULL;
    st->single = false;
    for (size_t k = 0; k < st->napps; k++) {
        srv_dapp *a = &st->apps[k];
        for (int j = 0; j < a->ninst; j++)
            srv_inst_free(a->inst[j]);
        free(a->inst);
        for (int j = 0; j < a->nopts; j++)
            free(a->opts[j]);
        free(a->opts);
        free(a->partition_expr);
    }
    free(st->apps);
    st->apps = NULL;
    st->napps = 0;
}

void srv_stream_free(srv_stream *st)
{
    if (!st)
        return;
    srv_stream_free_deployment(st);
    srv_tap_close(st);
    free(st->dsl);
    free(st->description);
    dsl_stream_destroy(&st->ast);
    json_decref(st->props);
    free(st);
}

srv_stream *srv_stream_add(srv *s, const char *name, const char *dsl,
                           const char *desc, int64_t created, char *err,
                           size_t errlen)
{
    dsl_errors errs = { 0 };
    dsl_stream *ast = NULL;

    int prc = dsl_parse_stream(dsl, strlen(dsl), &ast, &errs);
    if (prc) {
        snprintf(err, errlen, "%s",
                 prc == DSL_ENOMEM ? "out of memory"
                 : errs.n          ? errs.v[0].message
                                   : "does not parse");
        dsl_errors_fini(&errs);
        return NULL;
    }
    dsl_errors_fini(&errs);
    /* The checker finds taps by the names of known streams. */
    if (!ast->name)
        ast->name = strdup(name);
    srv_stream *st = calloc(1, sizeof *st);
    if (!st) {
        dsl_stream_destroy(&ast);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->s = s;
    snprintf(st->name, sizeof st->name, "%s", name);
    st->dsl = strdup(dsl);
    st->description = strdup(desc ? desc : "");
    st->created_ms = created;
    st->ast = ast;
    st->status = SRV_UNDEPLOYED;
    snprintf(st->status_desc, sizeof st->status_desc,
             "the stream is not deployed");
    srv_stream **pp = &s->streams;
    while (*pp && strcmp((*pp)->name, name) < 0)
        pp = &(*pp)->next;
    st->next = *pp;
    *pp = st;
    return st;
}

bool srv_output_lane(const char *output, int lane, char *buf, size_t len)
{
    int n = 1;
    for (const char *p = output; (p = strchr(p, '|')); p++)
        n++;
    const char *p = output;
    for (int j = lane % n; j > 0; j--)
        p = strchr(p, '|') + 1;
    const char *bar = strchr(p, '|');
    size_t k = bar ? (size_t)(bar - p) : strlen(p);
    if (k >= len)
        return false;
    memcpy(buf, p, k);
    buf[k] = '\0';
    return true;
}

const char *srv_stream_group(const srv_stream *st)
{
    const dsl_destination *d = st->ast ? st->ast->source : NULL;
    const char *group = NULL;

    if (!d)
        return NULL;
    /* The last --group wins, as for app options. */
    for (size_t k = 0; k < d->n_options; k++)
        if (strcmp(d->options[k].key, "group") == 0)
            group = d->options[k].value;
    return group ? group : st->name;
}

void srv_stream_delete(srv *s, srv_stream *st)
{
    srv_store_exec(&s->store, "DELETE FROM streams WHERE name=?", "s",
                   st->name);
    for (srv_stream **pp = &s->streams; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    }
    srv_stream_free(st);
}

void srv_streams_free_all(srv *s)
{
    while (s->streams) {
        srv_stream *st = s->streams;
        s->streams = st->next;
        srv_stream_free(st);
    }
}

const char *srv_inst_state_name(srv_inst_state st)
{
    switch (st) {
    case SRV_INST_DEPLOYING:
        return "deploying";
    case SRV_INST_DEPLOYED:
        return "deployed";
    case SRV_INST_RESTARTING:
        return "restarting";
    case SRV_INST_FAILED:
        return "failed";
    case SRV_INST_UNDEPLOYING:
        return "undeploying";
    case SRV_INST_STOPPED:
        return "completed";
    }
    return "unknown";
}

const char *srv_inst_shown_state(const srv_inst *i)
{
    if (i->state == SRV_INST_DEPLOYED && i->stale)
        return "stale";
    return srv_inst_state_name(i->state);
}

void srv_inst_window(const srv_inst *i, uint64_t *events, uint64_t *errors)
{
    *events = *errors = 0;
    if (i->win_n < 2)
        return;
    *events = i->win[i->win_n - 1].events - i->win[0].events;
    *errors = i->win[i->win_n - 1].errors - i->win[0].errors;
}

/* Takes the newest sample of an instance's cumulative counts for its
 * error window. An app's events are what it received (a rejected
 * malformed message counts as one) or, for a source, what it produced or
 * failed to; its errors are failed events and rejected messages. */
void srv_app_counts_of(const srv_dapp *a, srv_app_counts *c)
{
    int64_t now = srv_now_ms();

    memset(c, 0, sizeof *c);
    c->label = a->label;
    c->count = a->count;
    c->error_threshold = a->error_threshold;
    c->window_s = SRV_ERR_WINDOW_S;
    for (int j = 0; j < a->ninst; j++) {
        const srv_inst *i = a->inst[j];
        uint64_t ev, er;
        if (i->removing)
            continue;
        switch (i->state) {
        case SRV_INST_DEPLOYED:
        case SRV_INST_STOPPED:
            c->deployed++;
            break;
        case SRV_INST_DEPLOYING:
        case SRV_INST_UNDEPLOYING:
            c->deploying++;
            break;
        case SRV_INST_RESTARTING:
            c->restarting++;
            c->reason = i->last_exit;
            break;
        case SRV_INST_FAILED:
            c->failed++;
            c->reason = i->last_exit;
            break;
        }
        if (i->state == SRV_INST_DEPLOYED && i->stale) {
            if (c->stale++ == 0) {
                c->stale_index = i->index;
                c->stale_s = (now - i->last_seen_ms) / 1000;
            }
        }
        srv_inst_window(i, &ev, &er);
        c->window_events += ev;
        c->window_errors += er;
        if (er > 0 && i->last_error[0])
            c->last_error = i->last_error;
    }
}

void srv_inst_id(const srv_inst *i, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s-%d", i->app->stream->name, i->app->label,
             i->index);
}

srv_dapp *srv_stream_app(srv_stream *st, const char *label)
{
    for (size_t k = 0; k < st->napps; k++)
        if (strcmp(st->apps[k].label, label) == 0)
            return &st->apps[k];
    return NULL;
}

srv_outside *srv_outside_find(srv *s, const char *dest, const char *name,
                              bool producer)
{
    for (srv_outside *o = s->outside; o; o = o->next)
        if (o->producer == producer && strcmp(o->dest, dest) == 0 &&
            strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

void srv_outside_free_all(srv *s)
{
    while (s->outside) {
        srv_outside *o = s->outside;
        s->outside = o->next;
        free(o);
    }
}
