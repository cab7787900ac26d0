/*
 * The Kafka binder (docs/kafka.md, "How an app reads and writes Kafka"):
 * --flow.kafka.input makes a consumer of the group --flow.kafka.group whose
 * records are the app's input events; --flow.kafka.output and
 * --flow.kafka.error-output make a producer whose records are the app's
 * output and rejected events. librdkafka runs its own threads; the app's
 * loop learns of new records through the consumer queue's event fd
 * (rd_kafka_queue_io_event_enable on a pipe watched by a uv_poll), and a
 * timer serves delivery reports and resumes reading after backpressure.
 *
 * Guarantees. none: plain producer, the consumer's automatic commits.
 * at-least-once: idempotent producer; at checkpoint n the producer is
 * flushed (every record emitted before the cut is acknowledged) and the
 * input positions of the cut are written to the snapshot; at ckpt_done n
 * they are committed to the group. exactly-once: records are held in
 * memory and written only inside a transaction at ckpt_done (below).
 *
 * The exactly-once protocol. Records emitted after the last committed
 * checkpoint wait in "pending". Checkpoint n moves pending into the open
 * set "txn" and writes txn, the input positions of the cut and n into the
 * snapshot's Kafka part (STREAM.LABEL.I.kafka beside the .snap file, same
 * framing, fsync and rename). At ckpt_done n one transaction produces txn,
 * sends the input positions to the input group's offsets and writes the
 * marker record "n" to the producer's own topic flow.txn.<transactional
 * id>, then commits. A checkpoint that is aborted leaves txn as it is: the
 * next one adds to it, so its transaction covers both. On restore from
 * checkpoint n the marker says whether n's transaction committed (the
 * largest marker a read_committed reader sees is >= n); when it did not
 * (a kill between the ack and the commit), the snapshot's txn is produced
 * again in a new transaction with the same positions and marker. The
 * consumer then starts at the checkpoint's positions: records before the
 * cut are neither lost nor written twice, and those after it are produced
 * again from the replayed input. A kill at any other moment leaves no
 * transaction open, or aborts the open one (the restarted instance's
 * init_transactions fences it), whose records a read_committed reader
 * never sees.
 *
 * Partitions. Under a guarantee instance i of N reads the partitions p
 * with p * N / P == i (no group rebalancing: a scale is a restart from a
 * checkpoint), and owns the keyed state of the keys of those partitions
 * (Kafka's murmur2 partition of the key); instance 0 settles the last
 * transactions of old instances that a scale-in removed. Without a
 * guarantee the consumer subscribes and the group balances partitions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "ckpt.h"
#include "ctx.h"
#include "flow/error.h"
#include "flow/fieldpath.h"
#include "flow/keygroup.h"
#include "flow/mpjson.h"
#include "kafka.h"

/* Records taken from the consumer per callback. */
#define KAFKA_BUDGET 256
/* How long a transaction's calls may take (ms). */
#define KAFKA_TXN_TIMEOUT_MS 30000
#define KAFKA_SNAP_MAGIC     0x464b3031u /* "FK01" */

/* ------------------------------------------------------------------ */
/* The codec. */

int flow__kafka_value(const flow_event *ev, bool json, flow_buf *value)
{
    if (!json) {
        if (flow_mp_validate(ev->payload, ev->payload_len))
            return -FLOW_EMALFORMED;
        flow_buf_append(value, ev->payload, ev->payload_len);
        return value->err;
    }
    return flow_mpjson_append(value, ev->payload, ev->payload_len);
}

static int json_to_mp(flow_buf *b, const json_t *j, int depth)
{
    if (depth > 64)
        return -FLOW_EMALFORMED;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        flow_mp_put_map(b, (uint32_t)json_object_size(j));
        json_object_foreach((json_t *)j, k, v)
        {
            flow_mp_put_cstr(b, k);
            int rc = json_to_mp(b, v, depth + 1);
            if (rc)
                return rc;
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        flow_mp_put_array(b, (uint32_t)json_array_size(j));
        json_array_foreach(j, i, v)
        {
            int rc = json_to_mp(b, v, depth + 1);
            if (rc)
                return rc;
        }
        break;
    }
    case JSON_STRING:
        flow_mp_put_str(b, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        flow_mp_put_int(b, json_integer_value(j));
        break;
    case JSON_REAL:
        flow_mp_put_double(b, json_real_value(j));
        break;
    case JSON_TRUE:
        flow_mp_put_bool(b, true);
        break;
    case JSON_FALSE:
        flow_mp_put_bool(b, false);
        break;
    default:
        flow_mp_put_nil(b);
    }
    return b->err;
}

/* A header's value as a decimal; def when absent or not one. */
static int64_t header_int(const flow__kafka_in *rec, const char *name,
                          int64_t def)
{
    size_t len;
    const char *v = rec->header ? rec->header(rec->arg, name, &len) : NULL;
    char tmp[32];
    if (!v || len == 0 || len >= sizeof(tmp))
        return def;
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(tmp, &end, 10);
    return errno || *end ? def : (int64_t)x;
}

int flow__kafka_event(const flow__kafka_in *rec, int64_t now_us,
                      flow_buf *payload, flow_event *ev)
{
    size_t ctlen = 0, tlen = 0;
    const char *ct =
        rec->header ? rec->header(rec->arg, "content-type", &ctlen) : NULL;
    const char *type =
        rec->header ? rec->header(rec->arg, "type", &tlen) : NULL;
    memset(ev, 0, sizeof(*ev));
    if (!type || tlen == 0 || tlen > FLOW_WIRE_MAX_NAME) {
        type = "kafka";
        tlen = 5;
    }
    ev->type = type;
    ev->type_len = (uint32_t)tlen;
    if (rec->key && rec->key_len && rec->key_len <= FLOW_WIRE_MAX_NAME) {
        ev->key = rec->key;
        ev->key_len = (uint32_t)rec->key_len;
    }
    ev->id = (uint64_t)header_int(rec, "id", rec->offset + 1);
    int64_t ts = rec->timestamp_ms >= 0 ? rec->timestamp_ms * 1000 : now_us;
    ev->ts_us = header_int(rec, "ts_us", ts);
    bool is_json = ct && ctlen == strlen(FLOW__KAFKA_CT_JSON) &&
                   !memcmp(ct, FLOW__KAFKA_CT_JSON, ctlen);
    bool is_mp = ct && ctlen == strlen(FLOW__KAFKA_CT_MSGPACK) &&
                 !memcmp(ct, FLOW__KAFKA_CT_MSGPACK, ctlen);
    if (!is_json && (is_mp || !ct) && rec->value_len &&
        flow_mp_validate(rec->value, rec->value_len) == 0) {
        ev->payload = rec->value;
        ev->payload_len = (uint32_t)rec->value_len;
        return rec->value_len > FLOW_WIRE_MAX_EVENT ? -FLOW_ETOOBIG : 0;
    }
    if (is_mp)
        return -FLOW_EMALFORMED;
    /* JSON: said so, or no content-type and not msgpack (kcat -P). */
    json_error_t jerr;
    json_t *j = json_loadb(rec->value, rec->value_len,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        return -FLOW_EMALFORMED;
    flow_buf_reset(payload);
    int rc = json_to_mp(payload, j, 0);
    json_decref(j);
    if (rc)
        return rc;
    if (payload->len > FLOW_WIRE_MAX_EVENT)
        return -FLOW_ETOOBIG;
    ev->payload = payload->data;
    ev->payload_len = (uint32_t)payload->len;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The binder. */

/* Records held for a transaction, one after another:
 * u8 dest (0 output, 1 error output), u32 key length (UINT32_MAX: none),
 * key, u32 value length, value, i64 timestamp ms, u64 id, u64 ts_us,
 * u16 type length, type. */
typedef struct recs {
    flow_buf b;
    uint64_t n;
} recs;

/* A checkpoint's Kafka part, as flow__kafka_checkpoint wrote it. */
typedef struct kpart {
    char tid[1025];
    uint64_t n;
    uint64_t token; /* its marker's token */
    int64_t *pos;   /* owned */
    int32_t npos;
    recs txn; /* owned */
} kpart;

static void kpart_free(kpart *p)
{
    free(p->pos);
    flow_buf_fini(&p->txn.b);
}

typedef struct flow__kafka {
    flow_ctx *ctx;
    const flow__kafka_conf *c;
    rd_kafka_t *prod, *cons;
    rd_kafka_queue_t *cq;
    int pipefd[2];
    uv_poll_t poll;
    uv_timer_t timer;
    bool poll_init, timer_init;
    bool eo, txn_ready, started;
    char marker_group[512];
    /* The input's positions (next offset per partition; -1: none). */
    int64_t *pos;
    int32_t npos;
    /* The positions of the last checkpoint taken (to commit). */
    int64_t *cut;
    int32_t ncut;
    uint64_t cut_n;
    uint64_t cut_token;  /* the marker token of cut_n's transaction */
    uint64_t restored_n; /* the checkpoint restored (0: none) */
    /* Instance 0 after a scale-in: the Kafka parts of the old instances
     * that have no new one (owned paths), settled at start. */
    kpart *orphans;
    size_t norphans;
    kpart own; /* this instance's part of the checkpoint restored */
    bool has_own;
    int32_t partitions; /* the input topic's (manual assignment) */
    recs pending, txn;
    flow_buf value, payload, snap, file;
    uint64_t failed; /* delivery failures (dropped records) */
} flow__kafka;

static flow__kafka *K(flow_ctx *ctx)
{
    return ctx->kafka;
}

static void put32(flow_buf *b, uint32_t v)
{
    flow_buf_append(b, &v, 4);
}

static void put64(flow_buf *b, uint64_t v)
{
    flow_buf_append(b, &v, 8);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    flow_ctx *ctx = opaque;
    if (m->err) {
        ctx->kafka->failed++;
        ctx->m.drops++;
        flow__note_error(ctx, "a Kafka record was not delivered: %s",
                         rd_kafka_err2str(m->err));
    }
}

static void err_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    flow_ctx *ctx = opaque;
    flow_log(ctx, "kafka: %s: %s", rd_kafka_err2name(err), reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        flow_log(ctx, "kafka: fatal error, stopping: %s", buf);
        flow__begin_stop(ctx, FLOW_CTL_END_ERROR, 1);
    }
}

static rd_kafka_conf_t *base_conf(flow_ctx *ctx, char *err, size_t errlen)
{
    const flow__kafka_conf *c = &ctx->conf.kafka;
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(rc, "bootstrap.servers", c->brokers, err, errlen) ||
        rd_kafka_conf_set(rc, "log_level", "3", err, errlen))
        goto fail;
    for (size_t i = 0; i < c->nconfig; i++) {
        char kv[1024];
        snprintf(kv, sizeof(kv), "%s", c->config[i]);
        char *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(err, errlen, "--flow.kafka.config=%s: give KEY=VALUE",
                     c->config[i]);
            goto fail;
        }
        *eq = '\0';
        if (rd_kafka_conf_set(rc, kv, eq + 1, err, errlen))
            goto fail;
    }
    rd_kafka_conf_set_opaque(rc, ctx);
    rd_kafka_conf_set_error_cb(rc, err_cb);
    return rc;
fail:
    rd_kafka_conf_destroy(rc);
    return NULL;
}

static int make_producer(flow_ctx *ctx, flow__kafka *k)
{
    char err[512];
    const flow__kafka_conf *c = k->c;
    rd_kafka_conf_t *pc = base_conf(ctx, err, sizeof(err));
    if (!pc)
        goto usage;
    if (rd_kafka_conf_set(pc, "partitioner", "murmur2_random", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(pc, "linger.ms", "5", err, sizeof(err)))
        goto usage_conf;
    if (ctx->conf.guarantee != FLOW_GUARANTEE_NONE &&
        rd_kafka_conf_set(pc, "enable.idempotence", "true", err, sizeof(err)))
        goto usage_conf;
    if (k->eo && rd_kafka_conf_set(pc, "transactional.id", c->transactional_id,
                                   err, sizeof(err)))
        goto usage_conf;
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    k->prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
    if (!k->prod) {
        rd_kafka_conf_destroy(pc);
        goto usage;
    }
    if (k->eo) {
        rd_kafka_error_t *e =
            rd_kafka_init_transactions(k->prod, KAFKA_TXN_TIMEOUT_MS);
        if (e) {
            flow_log(ctx,
                     "kafka: cannot initialise the transactions of %s on "
                     "%s: %s",
                     c->transactional_id, c->brokers, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return -FLOW_EIO;
        }
        k->txn_ready = true;
    }
    return 0;
usage_conf:
    rd_kafka_conf_destroy(pc);
usage:
    flow_log(ctx, "kafka: producer: %s", err);
    return -FLOW_EUSAGE;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    flow_ctx *ctx = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        flow_log(ctx, "kafka: assigned %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, parts);
    } else {
        flow_log(ctx, "kafka: revoked %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, NULL);
    }
}

static int make_consumer(flow_ctx *ctx, flow__kafka *k)
{
    char err[512];
    const flow__kafka_conf *c = k->c;
    rd_kafka_conf_t *cc = base_conf(ctx, err, sizeof(err));
    if (!cc)
        goto usage;
    if (rd_kafka_conf_set(cc, "group.id", c->group, err, sizeof(err)) ||
        rd_kafka_conf_set(cc, "auto.offset.reset", "earliest", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(cc, "enable.partition.eof", "false", err,
                          sizeof(err)))
        goto usage_conf;
    if (ctx->conf.guarantee != FLOW_GUARANTEE_NONE &&
        rd_kafka_conf_set(cc, "enable.auto.commit", "false", err, sizeof(err)))
        goto usage_conf;
    if (ctx->conf.guarantee == FLOW_GUARANTEE_EXACTLY_ONCE &&
        rd_kafka_conf_set(cc, "isolation.level", "read_committed", err,
                          sizeof(err)))
        goto usage_conf;
    rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
    k->cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
    if (!k->cons) {
        rd_kafka_conf_destroy(cc);
        goto usage;
    }
    rd_kafka_poll_set_consumer(k->cons);
    return 0;
usage_conf:
    rd_kafka_conf_destroy(cc);
usage:
    flow_log(ctx, "kafka: consumer: %s", err);
    return -FLOW_EUSAGE;
}

static void kafka_cb(flow_ctx *ctx);
static int learn_partitions(flow__kafka *k);

static void poll_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    flow__kafka *k = h->data;
    char buf[64];
    while (read(k->pipefd[0], buf, sizeof(buf)) > 0)
        ;
    kafka_cb(k->ctx);
}

static void timer_cb(uv_timer_t *t)
{
    flow__kafka *k = t->data;
    kafka_cb(k->ctx);
}

int flow__kafka_setup(flow_ctx *ctx)
{
    const flow__kafka_conf *c = &ctx->conf.kafka;
    if (!flow__kafka_used(c))
        return 0;
    if (!c->brokers) {
        flow_log(ctx, "--flow.kafka.input/output need --flow.kafka.brokers "
                      "(the cluster's bootstrap servers)");
        return -FLOW_EUSAGE;
    }
    if (c->input && !c->group) {
        flow_log(ctx, "--flow.kafka.input needs --flow.kafka.group (its "
                      "consumer group)");
        return -FLOW_EUSAGE;
    }
    bool eo = ctx->conf.guarantee == FLOW_GUARANTEE_EXACTLY_ONCE &&
              (c->output || c->error_output);
    if (eo && !c->transactional_id) {
        flow_log(ctx, "exactly-once into Kafka needs "
                      "--flow.kafka.transactional-id (STREAM.LABEL.INSTANCE)");
        return -FLOW_EUSAGE;
    }
    if (ctx->conf.input && c->input) {
        flow_log(ctx, "give --flow.input or --flow.kafka.input, not both");
        return -FLOW_EUSAGE;
    }
    flow__kafka *k = calloc(1, sizeof(*k));
    if (!k)
        return -FLOW_ENOMEM;
    ctx->kafka = k;
    k->ctx = ctx;
    k->c = c;
    k->eo = eo;
    k->pipefd[0] = k->pipefd[1] = -1;
    flow_buf_init(&k->pending.b);
    flow_buf_init(&k->txn.b);
    flow_buf_init(&k->value);
    flow_buf_init(&k->payload);
    flow_buf_init(&k->snap);
    flow_buf_init(&k->file);
    if (eo)
        snprintf(k->marker_group, sizeof(k->marker_group), "flow.txn.%s",
                 c->transactional_id);
    int rc;
    if ((c->output || c->error_output) && (rc = make_producer(ctx, k)))
        return rc;
    if (c->output || c->error_output)
        ctx->has_out = ctx->has_out || c->output;
    if (c->error_output)
        ctx->has_err = true;
    if (c->input && (rc = make_consumer(ctx, k)))
        return rc;
    if (c->input && ctx->conf.guarantee != FLOW_GUARANTEE_NONE &&
        (rc = learn_partitions(k)))
        return rc;
    if (uv_timer_init(&ctx->loop, &k->timer))
        return -FLOW_EIO;
    k->timer.data = k;
    k->timer_init = true;
    if (k->cons) {
        if (pipe(k->pipefd))
            return -FLOW_EIO;
        for (int i = 0; i < 2; i++) {
            int fl = fcntl(k->pipefd[i], F_GETFL);
            fcntl(k->pipefd[i], F_SETFL, fl | O_NONBLOCK);
        }
        k->cq = rd_kafka_queue_get_consumer(k->cons);
        rd_kafka_queue_io_event_enable(k->cq, k->pipefd[1], "1", 1);
        if (uv_poll_init(&ctx->loop, &k->poll, k->pipefd[0]))
            return -FLOW_EIO;
        k->poll.data = k;
        k->poll_init = true;
    }
    return 0;
}

/* Appends a record to a set (EO: pending). */
static int hold(recs *s, int dest, const flow_event *ev, const void *key,
                size_t klen, const flow_buf *value)
{
    flow_buf *b = &s->b;
    uint8_t d = (uint8_t)dest;
    flow_buf_append(b, &d, 1);
    put32(b, key ? (uint32_t)klen : UINT32_MAX);
    if (key)
        flow_buf_append(b, key, klen);
    put32(b, (uint32_t)value->len);
    flow_buf_append(b, value->data, value->len);
    put64(b, (uint64_t)(ev->ts_us / 1000));
    put64(b, ev->id);
    put64(b, (uint64_t)ev->ts_us);
    uint16_t tl = (uint16_t)ev->type_len;
    flow_buf_append(b, &tl, 2);
    flow_buf_append(b, ev->type, ev->type_len);
    if (b->err)
        return b->err;
    s->n++;
    return 0;
}

/* Produces one record; waits for room when librdkafka's queue is full. */
static int produce(flow__kafka *k, int dest, const void *key, size_t klen,
                   const void *value, size_t vlen, int64_t ts_ms, uint64_t id,
                   int64_t ts_us, const char *type, size_t tlen)
{
    const char *topic = dest ? k->c->error_output : k->c->output;
    char idt[24], tst[24];
    snprintf(idt, sizeof(idt), "%llu", (unsigned long long)id);
    snprintf(tst, sizeof(tst), "%lld", (long long)ts_us);
    const char *ct = k->c->json ? FLOW__KAFKA_CT_JSON : FLOW__KAFKA_CT_MSGPACK;
    for (int tries = 0;; tries++) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        rd_kafka_header_add(h, "content-type", -1, ct, -1);
        rd_kafka_header_add(h, "type", -1, type, (ssize_t)tlen);
        rd_kafka_header_add(h, "id", -1, idt, -1);
        rd_kafka_header_add(h, "ts_us", -1, tst, -1);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            k->prod, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, key ? klen : 0),
            RD_KAFKA_V_VALUE((void *)value, vlen), RD_KAFKA_V_TIMESTAMP(ts_ms),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (!err)
            return 0;
        rd_kafka_headers_destroy(h);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 600) {
            flow__note_error(k->ctx, "cannot produce to Kafka topic %s: %s",
                             topic, rd_kafka_err2str(err));
            return -FLOW_EIO;
        }
        /* Backpressure: serve delivery reports until there is room. */
        rd_kafka_poll(k->prod, 100);
    }
}

/* The record key of ev: its key, else the partition key's text. */
static const char *key_of(flow_ctx *ctx, const flow_event *ev, char *text,
                          size_t n, size_t *klen)
{
    if (ev->key) {
        *klen = ev->key_len;
        return ev->key;
    }
    const char *pk = ctx->conf.partition_key;
    if (pk && strcmp(pk, "key")) {
        flow_mp_value v;
        const char *k;
        if (flow_fieldpath_find(ev->payload, ev->payload_len, pk, &v) == 0 &&
            v.type != FLOW_MP_NIL) {
            int len = flow_fieldpath_text(&v, text, n, &k);
            if (len >= 0) {
                *klen = (size_t)len;
                return k;
            }
        }
    }
    *klen = 0;
    return NULL;
}

int flow__kafka_emit(flow_ctx *ctx, const flow_event *ev, bool error)
{
    flow__kafka *k = K(ctx);
    char text[64];
    size_t klen;
    const char *key = key_of(ctx, ev, text, sizeof(text), &klen);
    flow_buf_reset(&k->value);
    int rc = flow__kafka_value(ev, k->c->json, &k->value);
    if (rc)
        return rc;
    if (!error)
        ctx->m.out++;
    if (k->eo)
        return hold(&k->pending, error, ev, key, klen, &k->value);
    return produce(k, error, key, klen, k->value.data, k->value.len,
                   ev->ts_us / 1000, ev->id, ev->ts_us, ev->type, ev->type_len);
}

static const void *msg_header(void *arg, const char *name, size_t *len)
{
    rd_kafka_headers_t *h = arg;
    const void *v;
    if (!h || rd_kafka_header_get_last(h, name, &v, len))
        return NULL;
    return v;
}

static void note_pos(flow__kafka *k, int32_t part, int64_t next)
{
    if (part >= k->npos) {
        int32_t n = part + 1;
        int64_t *p = realloc(k->pos, (size_t)n * sizeof(*p));
        if (!p)
            return;
        for (int32_t i = k->npos; i < n; i++)
            p[i] = -1;
        k->pos = p;
        k->npos = n;
    }
    k->pos[part] = next;
}

/*
 * A record past the position a partition was to be read from is normal
 * (a transaction's commit marker takes an offset, an aborted one's records
 * are skipped), unless the partition now starts past that position: then
 * the records in between were deleted (retention) before they were read,
 * and librdkafka went on from the oldest one kept without a word
 * (auto.offset.reset). Under a guarantee each instance owns its
 * partitions, so its position is the one to compare; the loss is said in
 * the log and in last_error, as nothing can bring it back.
 */
static void check_gap(flow_ctx *ctx, flow__kafka *k, rd_kafka_message_t *m)
{
    int32_t part = m->partition;
    if (part >= k->npos || k->pos[part] < 0 || m->offset <= k->pos[part])
        return;
    int64_t lo = -1, hi = -1;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (rd_kafka_get_watermark_offsets(k->cons, topic, part, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        lo <= k->pos[part])
        return;
    flow_log(ctx,
             "kafka: %s [%" PRId32 "] starts at offset %lld: the records "
             "from %lld on were deleted before they were read; going on "
             "from %lld",
             topic, part, (long long)lo, (long long)k->pos[part],
             (long long)m->offset);
    flow__note_error(ctx,
                     "kafka: records of %s [%" PRId32 "] at offsets %lld to "
                     "%lld were deleted before they were read (retention)",
                     topic, part, (long long)k->pos[part], (long long)lo - 1);
}

static void handle_record(flow_ctx *ctx, flow__kafka *k, rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(m, &h);
    rd_kafka_timestamp_type_t tt;
    flow__kafka_in rec = {
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
        .timestamp_ms = rd_kafka_message_timestamp(m, &tt),
        .offset = m->offset,
        .header = msg_header,
        .arg = h,
    };
    flow__update_now(ctx);
    flow_event ev;
    int rc = flow__kafka_event(&rec, ctx->now_us, &k->payload, &ev);
    if (ctx->ck)
        check_gap(ctx, k, m);
    note_pos(k, m->partition, m->offset + 1);
    ctx->m.bytes_in += m->len;
    if (rc) {
        ctx->m.rejected++;
        flow__note_error(ctx,
                         "rejected Kafka record %s[%d]@%lld: %s (the value "
                         "must be msgpack or JSON)",
                         rd_kafka_topic_name(m->rkt), (int)m->partition,
                         (long long)m->offset, flow_strerror(rc));
        return;
    }
    ctx->m.in++;
    flow_hist_add(&ctx->m.e2e, ctx->now_us - ev.ts_us, 1);
    ctx->cur = &ev;
    int erc = ctx->app->on_event ? ctx->app->on_event(ctx, &ev) : 0;
    ctx->cur = NULL;
    if (erc < 0) {
        ctx->m.errors++;
        flow__note_error(ctx, "a %.*s event failed: %s", (int)ev.type_len,
                         ev.type, flow_strerror(erc));
    }
}

static void kafka_cb(flow_ctx *ctx)
{
    flow__kafka *k = K(ctx);
    if (k->prod)
        rd_kafka_poll(k->prod, 0);
    if (ctx->phase != PH_RUN)
        return;
    if (ctx->ck)
        flow__ckpt_tick(ctx);
    if (!k->cons || !k->started)
        return;
    for (int i = 0; i < KAFKA_BUDGET; i++) {
        if (flow__blocked(ctx) || ctx->phase != PH_RUN)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->cons, 0);
        if (!m)
            break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                flow_log(ctx, "kafka: %s", rd_kafka_message_errstr(m));
        } else {
            handle_record(ctx, k, m);
        }
        rd_kafka_message_destroy(m);
        if (ctx->ck)
            flow__ckpt_tick(ctx);
    }
    flow__flush(ctx);
}

/* The positions list of an array (next offsets; -1 skipped). */
static rd_kafka_topic_partition_list_t *pos_list(const char *topic,
                                                 const int64_t *pos, int32_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int32_t i = 0; i < n; i++)
        if (pos[i] >= 0)
            rd_kafka_topic_partition_list_add(l, topic, i)->offset = pos[i];
    return l;
}

static int copy_cut(flow__kafka *k, const int64_t *pos, int32_t n)
{
    int64_t *c = NULL;
    if (n && !(c = malloc((size_t)n * sizeof(*c))))
        return -FLOW_ENOMEM;
    if (n)
        memcpy(c, pos, (size_t)n * sizeof(*c));
    free(k->cut);
    k->cut = c;
    k->ncut = n;
    return 0;
}

int flow__kafka_checkpoint(flow_ctx *ctx, uint64_t n, char *why, size_t whylen)
{
    flow__kafka *k = K(ctx);
    int rc;
    if (k->prod && !k->eo) {
        /* Everything before the cut is acknowledged before its positions
         * can be committed. */
        rd_kafka_resp_err_t err =
            rd_kafka_flush(k->prod, (int)ctx->conf.drain_ms + 1000);
        if (err) {
            snprintf(why, whylen,
                     "Kafka did not take the records before "
                     "the checkpoint in time (%s)",
                     rd_kafka_err2str(err));
            return -FLOW_EIO;
        }
    }
    if (k->eo) {
        flow_buf_append(&k->txn.b, k->pending.b.data, k->pending.b.len);
        k->txn.n += k->pending.n;
        flow_buf_reset(&k->pending.b);
        k->pending.n = 0;
        if (k->txn.b.err)
            return k->txn.b.err;
    }
    if ((rc = copy_cut(k, k->pos, k->npos)))
        return rc;
    k->cut_n = n;
    /* The Kafka part: magic, n, positions, then the transaction's
     * records. */
    flow_buf *b = &k->snap;
    flow_buf_reset(b);
    put32(b, KAFKA_SNAP_MAGIC);
    const char *tid = k->c->transactional_id ? k->c->transactional_id : "";
    uint16_t tidl = (uint16_t)strnlen(tid, 1024);
    flow_buf_append(b, &tidl, 2);
    flow_buf_append(b, tid, tidl);
    /* A token of this checkpoint's own, in its marker: a marker left by
     * a stream of the same name before is never taken for it. */
    if (getrandom(&k->cut_token, sizeof(k->cut_token), 0) !=
        (ssize_t)sizeof(k->cut_token))
        k->cut_token = (uint64_t)flow_clock_us() ^ ((uint64_t)getpid() << 40);
    put64(b, n);
    put64(b, k->cut_token);
    put32(b, (uint32_t)k->ncut);
    for (int32_t i = 0; i < k->ncut; i++)
        put64(b, (uint64_t)k->cut[i]);
    put64(b, k->txn.n);
    flow_buf_append(b, k->txn.b.data, k->txn.b.len);
    if (b->err || (rc = flow__snap_frame(&k->file, b->data, b->len))) {
        snprintf(why, whylen, "cannot build the Kafka snapshot");
        return b->err ? b->err : rc;
    }
    char name[1024];
    snprintf(name, sizeof(name), "%s.%s.%u.kafka", ctx->conf.stream,
             ctx->conf.label, ctx->conf.instance);
    return flow__snap_write(ctx->conf.ckpt_dir, n, name, k->file.data,
                            k->file.len, why, whylen);
}

static uint32_t get32(const uint8_t **p)
{
    uint32_t v;
    memcpy(&v, *p, 4);
    *p += 4;
    return v;
}

static uint64_t get64(const uint8_t **p)
{
    uint64_t v;
    memcpy(&v, *p, 8);
    *p += 8;
    return v;
}

/* Produces a set's records (inside the open transaction). */
static int produce_set(flow__kafka *k, const recs *s)
{
    const uint8_t *p = s->b.data, *end = p + s->b.len;
    for (uint64_t i = 0; i < s->n; i++) {
        if (end - p < 5)
            return -FLOW_EMALFORMED;
        int dest = *p++;
        uint32_t kl = get32(&p);
        const void *key = NULL;
        if (kl != UINT32_MAX) {
            key = p;
            p += kl;
        }
        uint32_t vl = get32(&p);
        const void *value = p;
        p += vl;
        int64_t ts_ms = (int64_t)get64(&p);
        uint64_t id = get64(&p);
        int64_t ts_us = (int64_t)get64(&p);
        uint16_t tl;
        memcpy(&tl, p, 2);
        p += 2;
        const char *type = (const char *)p;
        p += tl;
        if (p > end)
            return -FLOW_EMALFORMED;
        int rc = produce(k, dest, key, key ? kl : 0, value, vl, ts_ms, id,
                         ts_us, type, tl);
        if (rc)
            return rc;
    }
    return 0;
}

static int txn_fail(flow__kafka *k, const char *what, rd_kafka_error_t *e)
{
    flow_log(k->ctx, "kafka: %s: %s", what, rd_kafka_error_string(e));
    flow__note_error(k->ctx, "Kafka transaction: %s: %s", what,
                     rd_kafka_error_string(e));
    bool abortable = rd_kafka_error_txn_requires_abort(e);
    rd_kafka_error_destroy(e);
    if (abortable) {
        rd_kafka_error_t *a =
            rd_kafka_abort_transaction(k->prod, KAFKA_TXN_TIMEOUT_MS);
        if (a)
            rd_kafka_error_destroy(a);
    }
    return -FLOW_EIO;
}

/* One transaction: the set's records, the positions committed to the
 * input group and the marker n. */
static int commit_txn(flow__kafka *k, const recs *s, const int64_t *pos,
                      int32_t npos, uint64_t n, uint64_t token)
{
    rd_kafka_error_t *e;
    if ((e = rd_kafka_begin_transaction(k->prod)))
        return txn_fail(k, "begin", e);
    int rc = produce_set(k, s);
    if (rc) {
        e = rd_kafka_abort_transaction(k->prod, KAFKA_TXN_TIMEOUT_MS);
        if (e)
            rd_kafka_error_destroy(e);
        return rc;
    }
    if (k->c->input && npos) {
        rd_kafka_topic_partition_list_t *l = pos_list(k->c->input, pos, npos);
        rd_kafka_consumer_group_metadata_t *md =
            rd_kafka_consumer_group_metadata_new(k->c->group);
        if (l->cnt)
            e = rd_kafka_send_offsets_to_transaction(k->prod, l, md,
                                                     KAFKA_TXN_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(md);
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
            return txn_fail(k, "send the input offsets", e);
    }
    /* The marker: n, one record in the producer's own topic. */
    char nv[48];
    snprintf(nv, sizeof(nv), "%llu %016llx", (unsigned long long)n,
             (unsigned long long)token);
    rd_kafka_resp_err_t merr = rd_kafka_producev(
        k->prod, RD_KAFKA_V_TOPIC(k->marker_group), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(nv, strlen(nv)),
        RD_KAFKA_V_HEADER("type", "flow-checkpoint", -1), RD_KAFKA_V_END);
    if (merr) {
        flow_log(k->ctx, "kafka: cannot write the checkpoint marker to %s: %s",
                 k->marker_group, rd_kafka_err2str(merr));
        e = rd_kafka_abort_transaction(k->prod, KAFKA_TXN_TIMEOUT_MS);
        if (e)
            rd_kafka_error_destroy(e);
        return -FLOW_EIO;
    }
    if ((e = rd_kafka_commit_transaction(k->prod, KAFKA_TXN_TIMEOUT_MS)))
        return txn_fail(k, "commit", e);
    return 0;
}

void flow__kafka_commit(flow_ctx *ctx, uint64_t n)
{
    flow__kafka *k = K(ctx);
    if (!k || n != k->cut_n)
        return; /* an older checkpoint's: the next one covers it */
    if (k->eo) {
        if (commit_txn(k, &k->txn, k->cut, k->ncut, n, k->cut_token) == 0) {
            flow_buf_reset(&k->txn.b);
            k->txn.n = 0;
        } else {
            /* The records stay: the next checkpoint's transaction takes
             * them (a fenced producer stops the app instead). */
            flow_log(ctx,
                     "kafka: the transaction of checkpoint %llu "
                     "failed; the next checkpoint retries it",
                     (unsigned long long)n);
        }
        return;
    }
    if (k->cons && k->ncut) {
        rd_kafka_topic_partition_list_t *l =
            pos_list(k->c->input, k->cut, k->ncut);
        if (l->cnt)
            rd_kafka_commit(k->cons, l, 1);
        rd_kafka_topic_partition_list_destroy(l);
    }
}

/* Reads the Kafka part beside the snapshot file snap_path into p. */
static int read_part(flow_ctx *ctx, const char *snap_path, kpart *kp)
{
    flow__kafka *k = K(ctx);
    char path[4096], why[512];
    size_t len = strlen(snap_path);
    memset(kp, 0, sizeof(*kp));
    flow_buf_init(&kp->txn.b);
    if (len < 5 || strcmp(snap_path + len - 5, ".snap") ||
        len + 2 >= sizeof(path)) {
        flow_log(ctx,
                 "--flow.restore: %s: not a .snap file, so no Kafka "
                 "part beside it",
                 snap_path);
        return -FLOW_EMALFORMED;
    }
    snprintf(path, sizeof(path), "%.*s.kafka", (int)(len - 5), snap_path);
    flow_buf raw;
    flow_buf_init(&raw);
    int rc = flow__snap_read(path, &raw, why, sizeof(why));
    if (rc) {
        flow_log(ctx,
                 "--flow.restore: the Kafka part %s: %s (a checkpoint of an "
                 "app bound to Kafka has one beside each .snap file)",
                 path, why);
        goto out;
    }
    /* Framed as the snapshot is: checked by framing the body again. */
    rc = -FLOW_EMALFORMED;
    if (raw.len < 16 + 26 ||
        flow__snap_frame(&k->file, raw.data + 16, raw.len - 16) ||
        k->file.len != raw.len || memcmp(k->file.data, raw.data, raw.len)) {
        flow_log(ctx, "--flow.restore: %s is torn or corrupt (checksum)", path);
        goto out;
    }
    const uint8_t *p = raw.data + 16, *end = raw.data + raw.len;
    if (get32(&p) != KAFKA_SNAP_MAGIC)
        goto bad;
    uint16_t tidl;
    memcpy(&tidl, p, 2);
    p += 2;
    if (tidl > 1024 || end - p < tidl + 20)
        goto bad;
    memcpy(kp->tid, p, tidl);
    kp->tid[tidl] = '\0';
    p += tidl;
    kp->n = get64(&p);
    kp->token = get64(&p);
    uint32_t np = get32(&p);
    if ((size_t)(end - p) < (size_t)np * 8 + 8)
        goto bad;
    if (!(kp->pos = calloc(np ? np : 1, sizeof(*kp->pos)))) {
        rc = -FLOW_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < np; i++)
        kp->pos[i] = (int64_t)get64(&p);
    kp->npos = (int32_t)np;
    kp->txn.n = get64(&p);
    flow_buf_append(&kp->txn.b, p, (size_t)(end - p));
    rc = kp->txn.b.err;
    goto out;
bad:
    flow_log(ctx, "--flow.restore: %s: not a Kafka snapshot part", path);
out:
    flow_buf_fini(&raw);
    return rc;
}

/* Takes the positions of a part (each partition is read by one
 * instance, so the parts of a checkpoint do not overlap). */
static void merge_pos(flow__kafka *k, const kpart *kp)
{
    for (int32_t p = 0; p < kp->npos; p++)
        if (kp->pos[p] >= 0 && (p >= k->npos || kp->pos[p] > k->pos[p]))
            note_pos(k, p, kp->pos[p]);
}

int flow__kafka_restore(flow_ctx *ctx, const char *snap_path, uint32_t inst)
{
    flow__kafka *k = K(ctx);
    const flow__conf *c = &ctx->conf;
    kpart kp;
    int rc = read_part(ctx, snap_path, &kp);
    if (rc) {
        kpart_free(&kp);
        return rc;
    }
    /* Every instance starts from the positions of the whole checkpoint
     * (after a scale, its partitions were another's). */
    merge_pos(k, &kp);
    k->cut_n = k->restored_n = kp.n;
    if (inst == c->instance) {
        k->own = kp;
        k->has_own = true;
        return 0;
    }
    if (c->instance == 0 && inst >= c->instances) {
        /* An old instance without a new one of its index: instance 0
         * settles its last transaction. */
        kpart *o = realloc(k->orphans, (k->norphans + 1) * sizeof(*o));
        if (!o) {
            kpart_free(&kp);
            return -FLOW_ENOMEM;
        }
        k->orphans = o;
        o[k->norphans++] = kp;
        return 0;
    }
    kpart_free(&kp);
    return 0;
}

/* Whether the transaction of checkpoint n with token committed: 1 when a
 * read_committed reader of the producer's marker topic sees its marker,
 * 0 when not, -1 when Kafka does not say. Only the last few offsets are
 * read: each transaction adds its marker and a control record, and no
 * transaction commits after the one of the checkpoint restored. */
static int marker_found(flow__kafka *k, uint64_t n, uint64_t token)
{
    char want[48];
    snprintf(want, sizeof(want), "%llu %016llx", (unsigned long long)n,
             (unsigned long long)token);
    char err[512];
    rd_kafka_conf_t *cc = base_conf(k->ctx, err, sizeof(err));
    if (!cc ||
        rd_kafka_conf_set(cc, "group.id", k->marker_group, err, sizeof(err)) ||
        rd_kafka_conf_set(cc, "isolation.level", "read_committed", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(cc, "enable.partition.eof", "true", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(cc, "enable.auto.commit", "false", err,
                          sizeof(err))) {
        if (cc)
            rd_kafka_conf_destroy(cc);
        return -1;
    }
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
    if (!c) {
        rd_kafka_conf_destroy(cc);
        return -1;
    }
    int64_t lo = 0, hi = 0;
    int v = -1;
    rd_kafka_resp_err_t qerr = rd_kafka_query_watermark_offsets(
        c, k->marker_group, 0, &lo, &hi, KAFKA_TXN_TIMEOUT_MS);
    if (qerr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        qerr == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        qerr == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || (!qerr && hi <= lo)) {
        v = 0; /* no transaction ever committed */
        goto out;
    }
    if (qerr)
        goto out;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->marker_group, 0)->offset =
        hi - 16 > lo ? hi - 16 : lo;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    v = 0;
    bool eof = false;
    for (int i = 0; i < 200 && !eof && v == 0; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!m->err && m->len == strlen(want) &&
            !memcmp(m->payload, want, m->len)) {
            v = 1;
        } else if (m->err && !eof) {
            v = -1;
        }
        rd_kafka_message_destroy(m);
    }
    if (v == 0 && !eof)
        v = -1; /* the end was not reached: Kafka did not say */
out:
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return v;
}

/* Makes checkpoint n's transaction of producer tid (records txn,
 * positions pos) committed, unless its marker says it is: the one of
 * this instance, or of an old instance that has no new one. Without a
 * transactional producer the positions are committed to the group. */
static int settle(flow__kafka *k, const char *tid, uint64_t n, uint64_t token,
                  const recs *txn, const int64_t *pos, int32_t npos)
{
    flow_ctx *ctx = k->ctx;
    if (!k->eo) {
        if (!k->cons || !npos)
            return 0;
        rd_kafka_topic_partition_list_t *l = pos_list(k->c->input, pos, npos);
        rd_kafka_resp_err_t err = l->cnt ? rd_kafka_commit(k->cons, l, 0)
                                         : RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
            flow_log(ctx,
                     "kafka: cannot commit checkpoint %llu's positions "
                     "to group %s: %s",
                     (unsigned long long)n, k->c->group, rd_kafka_err2str(err));
            return -FLOW_EIO;
        }
        return 0;
    }
    /* Another instance's producer: one of its own id (fencing any zombie
     * of it), used in place of ours for the check and the commit. */
    rd_kafka_t *own = k->prod;
    char own_marker[sizeof(k->marker_group)];
    bool other = strcmp(tid, k->c->transactional_id) != 0;
    int rc = 0;
    if (other) {
        flow__kafka_conf c2 = *k->c;
        const flow__kafka_conf *saved = k->c;
        c2.transactional_id = tid;
        k->c = &c2;
        k->prod = NULL;
        memcpy(own_marker, k->marker_group, sizeof(own_marker));
        snprintf(k->marker_group, sizeof(k->marker_group), "flow.txn.%s", tid);
        rc = make_producer(ctx, k);
        k->c = saved;
        if (rc)
            goto back;
    }
    int m = marker_found(k, n, token);
    if (m < 0) {
        flow_log(ctx, "kafka: cannot read the checkpoint marker of %s",
                 k->marker_group);
        rc = -FLOW_EIO;
    } else if (m == 0) {
        flow_log(ctx,
                 "kafka: checkpoint %llu's transaction of %s did not commit "
                 "(no marker in %s): writing its %llu record(s) again",
                 (unsigned long long)n, tid, k->marker_group,
                 (unsigned long long)txn->n);
        rc = commit_txn(k, txn, pos, npos, n, token);
    }
back:
    if (other) {
        if (k->prod)
            rd_kafka_destroy(k->prod);
        k->prod = own;
        memcpy(k->marker_group, own_marker, sizeof(own_marker));
    }
    return rc;
}

/* Under a guarantee the instances do not rebalance among themselves:
 * instance i of N takes the partitions p with p * N / P == i, the owner
 * of key k being that of Kafka's partition of k (murmur2), so a restore
 * hands each instance the keyed state of exactly its partitions. */
static int learn_partitions(flow__kafka *k)
{
    flow_ctx *ctx = k->ctx;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(k->cons, k->c->input, NULL);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    for (int tries = 0; tries < 30; tries++) {
        err = rd_kafka_metadata(k->cons, 0, t, &md, 5000);
        if (!err && md->topic_cnt == 1 && !md->topics[0].err &&
            md->topics[0].partition_cnt > 0)
            break;
        if (!err) {
            err = md->topic_cnt ? md->topics[0].err
                                : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            rd_kafka_metadata_destroy(md);
            md = NULL;
        }
        usleep(200000);
    }
    rd_kafka_topic_destroy(t);
    if (!md) {
        flow_log(ctx, "kafka: cannot learn the partitions of topic %s: %s",
                 k->c->input, rd_kafka_err2str(err));
        return -FLOW_EIO;
    }
    k->partitions = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return 0;
}

static int assign_owned(flow__kafka *k)
{
    flow_ctx *ctx = k->ctx;
    rd_kafka_resp_err_t err;
    uint32_t n = ctx->conf.instances ? ctx->conf.instances : 1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(0);
    for (int32_t p = 0; p < k->partitions; p++)
        if (flow_keygroup_owner((uint32_t)p, n, (uint32_t)k->partitions) ==
            ctx->conf.instance)
            /* The checkpoint's position, else the group's committed
             * one (else the earliest). */
            rd_kafka_topic_partition_list_add(l, k->c->input, p)->offset =
                p < k->npos && k->pos[p] >= 0 ? k->pos[p]
                                              : RD_KAFKA_OFFSET_INVALID;
    flow_log(ctx, "kafka: reading %d of the %d partitions of %s", l->cnt,
             k->partitions, k->c->input);
    err = rd_kafka_assign(k->cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        flow_log(ctx, "kafka: cannot assign the partitions of %s: %s",
                 k->c->input, rd_kafka_err2str(err));
        return -FLOW_EIO;
    }
    return 0;
}

int flow__kafka_owner(flow_ctx *ctx, const void *key, size_t klen,
                      uint32_t *owner)
{
    flow__kafka *k = K(ctx);
    if (!k || !k->cons || ctx->conf.guarantee == FLOW_GUARANTEE_NONE ||
        k->partitions <= 0)
        return -1;
    uint32_t p = flow_keygroup_of(key, klen, (uint32_t)k->partitions);
    *owner =
        flow_keygroup_owner(p, ctx->conf.instances ? ctx->conf.instances : 1,
                            (uint32_t)k->partitions);
    return 0;
}

int flow__kafka_start(flow_ctx *ctx)
{
    flow__kafka *k = K(ctx);
    if (!k)
        return 0;
    int rc;
    if (k->has_own && (rc = settle(k, k->own.tid, k->own.n, k->own.token,
                                   &k->own.txn, k->own.pos, k->own.npos)))
        return rc;
    for (size_t i = 0; i < k->norphans; i++) {
        kpart *o = &k->orphans[i];
        if ((rc = settle(k, o->tid, o->n, o->token, &o->txn, o->pos, o->npos)))
            return rc;
    }
    if (k->cons && ctx->conf.guarantee != FLOW_GUARANTEE_NONE) {
        if ((rc = assign_owned(k)))
            return rc;
        uv_poll_start(&k->poll, UV_READABLE, poll_cb);
    } else if (k->cons) {
        rd_kafka_topic_partition_list_t *t =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(t, k->c->input,
                                          RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(k->cons, t);
        rd_kafka_topic_partition_list_destroy(t);
        if (err) {
            flow_log(ctx, "kafka: cannot subscribe to %s: %s", k->c->input,
                     rd_kafka_err2str(err));
            return -FLOW_EIO;
        }
        uv_poll_start(&k->poll, UV_READABLE, poll_cb);
    }
    k->started = true;
    uv_timer_start(&k->timer, timer_cb, 20, 20);
    return 0;
}

static void closed_cb(uv_handle_t *h)
{
    (void)h;
}

void flow__kafka_close(flow_ctx *ctx)
{
    flow__kafka *k = K(ctx);
    if (!k)
        return;
    if (k->poll_init) {
        uv_poll_stop(&k->poll);
        uv_close((uv_handle_t *)&k->poll, closed_cb);
        k->poll_init = false;
    }
    if (k->timer_init) {
        uv_timer_stop(&k->timer);
        uv_close((uv_handle_t *)&k->timer, closed_cb);
        k->timer_init = false;
    }
    if (k->cq) {
        rd_kafka_queue_io_event_enable(k->cq, -1, NULL, 0);
        rd_kafka_queue_destroy(k->cq);
        k->cq = NULL;
    }
    if (k->cons) {
        rd_kafka_consumer_close(k->cons);
        rd_kafka_destroy(k->cons);
        k->cons = NULL;
    }
    if (k->prod) {
        /* Under exactly-once what was not committed is dropped: it is
         * produced again from the replay. */
        if (!k->eo && rd_kafka_flush(k->prod, (int)ctx->conf.drain_ms) != 0)
            ctx->m.drops += (uint64_t)rd_kafka_outq_len(k->prod);
        rd_kafka_destroy(k->prod);
        k->prod = NULL;
    }
    if (k->pipefd[0] >= 0)
        close(k->pipefd[0]);
    if (k->pipefd[1] >= 0)
        close(k->pipefd[1]);
    k->pipefd[0] = k->pipefd[1] = -1;
}

void flow__kafka_free(flow_ctx *ctx)
{
    flow__kafka *k = K(ctx);
    if (!k)
        return;
    flow__kafka_close(ctx);
    flow_buf_fini(&k->pending.b);
    flow_buf_fini(&k->txn.b);
    flow_buf_fini(&k->value);
    flow_buf_fini(&k->payload);
    flow_buf_fini(&k->snap);
    flow_buf_fini(&k->file);
    for (size_t i = 0; i < k->norphans; i++)
        kpart_free(&k->orphans[i]);
    free(k->orphans);
    if (k->has_own)
        kpart_free(&k->own);
    free(k->pos);
    free(k->cut);
    free(k);
    ctx->kafka = NULL;
}
