/*
 * The Kafka binder (kafka.c, docs/kafka.md "How an app reads and writes
 * Kafka"): an app's input from a topic and its output to a topic, one
 * record per event. kafka.c is its own library (libflow-kafka, linked
 * with librdkafka) that only the executables that bind Kafka link; libflow
 * calls it through the weak flow__kafka_* entry points below, which are
 * NULL in an app without it. Not a public header.
 */
#ifndef FLOW_SRC_KAFKA_H
#define FLOW_SRC_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/event.h"
#include "flow/mp.h"

typedef struct flow_ctx flow_ctx;

/* The most --flow.kafka.config flags an app takes. */
#define FLOW__KAFKA_CONFIG_MAX 64

/* --flow.kafka.*, parsed by options.c (strings borrowed from argv). */
typedef struct flow__kafka_conf {
    const char *brokers, *input, *group, *output, *error_output;
    const char *transactional_id;
    bool json; /* --flow.kafka.format=json */
    const char *config[FLOW__KAFKA_CONFIG_MAX];
    size_t nconfig;
} flow__kafka_conf;

/* Whether any --flow.kafka.* flag that binds a topic was given. */
static inline bool flow__kafka_used(const flow__kafka_conf *k)
{
    return k->input || k->output || k->error_output;
}

/* One record's headers, as the codec reads and writes them. */
#define FLOW__KAFKA_CT_MSGPACK "application/x-msgpack"
#define FLOW__KAFKA_CT_JSON    "application/json"

/* A decoded record: the event borrows rec's bytes and out's. */
typedef struct flow__kafka_in {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms; /* -1: none */
    int64_t offset;
    /* Header lookup: the value of header name (NUL-terminated), or NULL. */
    const void *(*header)(void *arg, const char *name, size_t *len);
    void *arg;
} flow__kafka_in;

/*
 * The codec (pure, unit-tested): the record value of ev's payload, as
 * msgpack (its bytes) or JSON text, appended to value; -FLOW_EMALFORMED
 * for a payload that is not one msgpack object.
 */
int flow__kafka_value(const flow_event *ev, bool json, flow_buf *value);
/*
 * The event of a record: type from the "type" header (default "kafka"),
 * key the record key, id from "id" (default offset + 1), time from "ts_us"
 * (default the record timestamp, else now_us); the payload is the value
 * when it is msgpack (content-type application/x-msgpack, or no
 * content-type and one msgpack object), converted into payload when it
 * is JSON. -FLOW_EMALFORMED for a value that is neither.
 */
int flow__kafka_event(const flow__kafka_in *rec, int64_t now_us,
                      flow_buf *payload, flow_event *ev);

/* libflow's calls into the binder (weak: NULL without libflow-kafka). */
int flow__kafka_setup(flow_ctx *ctx) __attribute__((weak));
int flow__kafka_emit(flow_ctx *ctx, const flow_event *ev, bool error)
    __attribute__((weak));
int flow__kafka_checkpoint(flow_ctx *ctx, uint64_t n, char *why, size_t whylen)
    __attribute__((weak));
void flow__kafka_commit(flow_ctx *ctx, uint64_t n) __attribute__((weak));
int flow__kafka_restore(flow_ctx *ctx, const char *snap_path, uint32_t inst)
    __attribute__((weak));
/* The instance that owns key under the Kafka input's partition
 * assignment (0), or -1 when keyed state follows key groups as without
 * Kafka. Valid after flow__kafka_setup. */
int flow__kafka_owner(flow_ctx *ctx, const void *key, size_t klen,
                      uint32_t *owner) __attribute__((weak));
int flow__kafka_start(flow_ctx *ctx) __attribute__((weak));
void flow__kafka_close(flow_ctx *ctx) __attribute__((weak));
void flow__kafka_free(flow_ctx *ctx) __attribute__((weak));

#endif
