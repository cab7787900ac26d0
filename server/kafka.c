/* The Kafka binder as flowd sees it: which sides of which apps are Kafka
 * topics, the topics' and groups' names, and the checks a deployment
 * passes before its apps are bound (docs/kafka.md). An app is bound by
 * deployer.<label>.binder=kafka; a named destination is a topic when the
 * apps that write and read it are bound, and every side of a destination
 * must agree. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

/* Does st read a named destination (not a tap, not dead letters)? */
static bool reads_plain(srv *s, const srv_stream *st)
{
    char stream[SRV_NAME_MAX + 16], label[SRV_NAME_MAX + 16];

    return st->ast && st->ast->source && !st->tap && st->napps &&
           !srv_dlq_is_dest(s, st->ast->source->name) &&
           !srv_tap_source(s, (srv_stream *)st, stream, sizeof stream, label,
                           sizeof label);
}

/* Does st read a tap (it may not be open yet)? */
static bool reads_tap(srv *s, const srv_stream *st)
{
    char stream[SRV_NAME_MAX + 16], label[SRV_NAME_MAX + 16];

    return st->tap || srv_tap_source(s, (srv_stream *)st, stream, sizeof stream,
                                     label, sizeof label);
}

bool srv_kafka_pipe(const srv_dapp *a)
{
    const srv_stream *st = a->stream;

    return a->pos + 1 < (int)st->napps &&
           (a->kafka || st->apps[a->pos + 1].kafka);
}

bool srv_kafka_in(srv *s, const srv_dapp *a, char *topic, size_t len,
                  char *group, size_t glen)
{
    const srv_stream *st = a->stream;

    if (a->pos > 0) {
        const srv_dapp *p = &st->apps[a->pos - 1];
        if (!srv_kafka_pipe(p))
            return false;
        if (topic && srv_fmt(topic, len, "%s.%s", st->name, p->label))
            return false;
        if (group)
            snprintf(group, glen, "%s", st->name);
        return true;
    }
    if (!a->kafka || !reads_plain(s, st))
        return false;
    if (topic)
        snprintf(topic, len, "%s", st->ast->source->name);
    if (group) {
        const char *g = srv_stream_group(st);
        snprintf(group, glen, "%s", g ? g : st->name);
    }
    return true;
}

bool srv_kafka_out(const srv_dapp *a, char *topic, size_t len)
{
    const srv_stream *st = a->stream;

    if (srv_kafka_pipe(a)) {
        if (topic && srv_fmt(topic, len, "%s.%s", st->name, a->label))
            return false;
        return true;
    }
    if (!a->kafka || a->pos + 1 != (int)st->napps || !st->ast || !st->ast->sink)
        return false;
    if (topic)
        snprintf(topic, len, "%s", st->ast->sink->name);
    return true;
}

bool srv_kafka_writes(const srv_stream *st, const char *dest)
{
    return st->napps && st->ast && st->ast->sink &&
           strcmp(st->ast->sink->name, dest) == 0 &&
           st->apps[st->napps - 1].kafka;
}

bool srv_kafka_reads(srv *s, const srv_stream *st, const char *dest)
{
    return reads_plain(s, st) && strcmp(st->ast->source->name, dest) == 0 &&
           st->apps[0].kafka;
}

bool srv_kafka_dest(srv *s, const char *dest)
{
    for (srv_stream *o = s->streams; o; o = o->next)
        if (o->deployed &&
            (srv_kafka_writes(o, dest) || srv_kafka_reads(s, o, dest)))
            return true;
    return false;
}

/* The deployed stream other than st that reads or writes dest with its
 * side bound otherwise than kafka says, or NULL. */
static srv_stream *disagrees(srv *s, const srv_stream *st, const char *dest,
                             bool kafka)
{
    for (srv_stream *o = s->streams; o; o = o->next) {
        if (o == st || !o->deployed || !o->napps || !o->ast)
            continue;
        bool w = o->ast->sink && strcmp(o->ast->sink->name, dest) == 0;
        bool r = reads_plain(s, o) && strcmp(o->ast->source->name, dest) == 0;
        if ((w && o->apps[o->napps - 1].kafka != kafka) ||
            (r && o->apps[0].kafka != kafka))
            return o;
    }
    return NULL;
}

int srv_kafka_check(srv *s, const srv_stream *st, char *err, size_t errlen)
{
    bool any = false;

    for (size_t k = 0; k < st->napps; k++)
        any = any || st->apps[k].kafka;
    if (any && !s->cfg.kafka_brokers) {
        for (size_t k = 0; k < st->napps; k++)
            if (st->apps[k].kafka) {
                snprintf(err, errlen,
                         "'deployer.%s.binder' (or deployer.*.binder) is "
                         "kafka, but flowd runs without --kafka-brokers; "
                         "start flowd with --kafka-brokers=HOST:PORT",
                         st->apps[k].label);
                return -1;
            }
    }
    if (any && st->single) {
        snprintf(err, errlen,
                 "'deployer.packaging' is single, where apps talk in one "
                 "process: no app of it can take deployer.<label>.binder="
                 "kafka");
        return -1;
    }
    if (st->napps && st->ast && !st->ast->sink &&
        st->apps[st->napps - 1].kafka &&
        strcmp(st->apps[st->napps - 1].name, "router") == 0) {
        snprintf(err, errlen,
                 "'deployer.%s.binder' is kafka, but '%s' is a router, "
                 "whose destinations are bound over ZeroMQ only; bind the "
                 "streams that read its destinations instead",
                 st->apps[st->napps - 1].label, st->apps[st->napps - 1].label);
        return -1;
    }
    /* Bound apps run in flow-kafka, which holds the built-in apps only
     * (an app's uri beside it). */
    const char *slash = strrchr(s->kafka_uri, '/');
    size_t dirlen = slash ? (size_t)(slash - s->kafka_uri) : 0;
    for (size_t k = 0; k < st->napps; k++) {
        const srv_dapp *a = &st->apps[k];
        if (!srv_kafka_in(s, a, NULL, 0, NULL, 0) && !srv_kafka_out(a, NULL, 0))
            continue;
        if (access(s->kafka_uri, X_OK) != 0) {
            snprintf(err, errlen,
                     "'deployer.%s.binder' is kafka, but %s is missing: "
                     "this flow was built without librdkafka; install "
                     "librdkafka-dev and build again",
                     a->label, s->kafka_uri);
            return -1;
        }
        bool builtin = strncmp(a->uri, s->kafka_uri, dirlen) == 0 &&
                       a->uri[dirlen] == '/' &&
                       !strchr(a->uri + dirlen + 1, '/');
        if (!builtin || strcmp(a->name, "function") == 0) {
            snprintf(err, errlen,
                     "'%s' (%s) is next to a Kafka topic, but only the "
                     "built-in apps (no function app) run bound to Kafka; "
                     "bind its neighbours through a named destination "
                     "instead",
                     a->label, a->name);
            return -1;
        }
    }
    const srv_dapp *first = st->napps ? &st->apps[0] : NULL;
    if (first && first->kafka && st->ast && st->ast->source &&
        !reads_plain(s, st)) {
        snprintf(err, errlen,
                 "'deployer.%s.binder' is kafka, but stream '%s' reads %s, "
                 "which flowd relays over ZeroMQ; only a named destination "
                 "can be a Kafka topic",
                 first->label, st->name,
                 reads_tap(s, st) ? "a tap" : "dead letters");
        return -1;
    }
    if (first && reads_plain(s, st)) {
        const char *d = st->ast->source->name;
        srv_stream *o = disagrees(s, st, d, first->kafka);
        if (o) {
            snprintf(err, errlen,
                     "'deployer.%s.binder' makes stream '%s' read :%s over "
                     "%s, but the deployed stream '%s' binds :%s to %s; "
                     "every stream of a destination must use one binder",
                     first->label, st->name, d,
                     first->kafka ? "kafka" : "zeromq", o->name, d,
                     first->kafka ? "zeromq" : "kafka");
            return -1;
        }
    }
    if (st->napps && st->ast && st->ast->sink) {
        const srv_dapp *last = &st->apps[st->napps - 1];
        const char *d = st->ast->sink->name;
        srv_stream *o = disagrees(s, st, d, last->kafka);
        if (o) {
            snprintf(err, errlen,
                     "'deployer.%s.binder' makes stream '%s' write :%s over "
                     "%s, but the deployed stream '%s' binds :%s to %s; "
                     "every stream of a destination must use one binder",
                     last->label, st->name, d, last->kafka ? "kafka" : "zeromq",
                     o->name, d, last->kafka ? "zeromq" : "kafka");
            return -1;
        }
    }
    return 0;
}
