/*
 * Decoding the batch frames a tap publishes (docs/wire.md) into JSON
 * lines; see tapdec.h. The frames come from the network: every field is
 * checked and nothing is trusted. msgpack to JSON is libflow's
 * (flow/mpjson.h), shared with the log sink.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "flow/error.h"
#include "flow/mpjson.h"
#include "tapdec.h"

/* The producer field's limit (docs/wire.md). */
#define TAP_PRODUCER_MAX 255

static bool as_uint(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = o->via.u64;
    return true;
}

static void put(flow_buf *out, const char *s)
{
    flow_buf_append(out, s, strlen(s));
}

/* ts_us as an ISO-8601 UTC time with microseconds. */
static void put_ts(flow_buf *out, const msgpack_object *o)
{
    int64_t us = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                     ? (int64_t)o->via.u64
                 : o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64
                                                              : 0;
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    char ts[64];
    gmtime_r(&secs, &tm);
    size_t k = strftime(ts, sizeof(ts), "\"%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof(ts) - k, ".%06lldZ\"",
             (long long)((us % 1000000 + 1000000) % 1000000));
    put(out, ts);
}

/* A payload: a bin holding one msgpack object is that object, anything
 * else in a bin is base64. */
static int put_payload(flow_buf *out, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return flow_mpjson_object(out, o);
    int rc = flow_mpjson_append(out, o->via.bin.ptr, o->via.bin.size);
    if (rc != -FLOW_EMALFORMED)
        return rc;
    put(out, "\"");
    flow_base64(out, o->via.bin.ptr, o->via.bin.size);
    put(out, "\"");
    return out->err;
}

/* One event's line (see tapdec.h); e has at least 6 fields. */
static int put_event(flow_buf *out, const char *stream,
                     const msgpack_object *app, uint64_t instance,
                     const msgpack_object *x)
{
    char num[64]; /* ,"instance":<20 digits>,"id": */
    put(out, "{\"stream\":");
    flow_json_string(out, stream, strlen(stream));
    put(out, ",\"app\":");
    flow_mpjson_object(out, app);
    snprintf(num, sizeof(num),
             ",\"instance\":%llu,\"id\":", (unsigned long long)instance);
    put(out, num);
    flow_mpjson_object(out, &x[0]);
    put(out, ",\"type\":");
    flow_mpjson_object(out, &x[1]);
    put(out, ",\"ts\":");
    put_ts(out, &x[2]);
    put(out, ",\"key\":");
    flow_mpjson_object(out, &x[3]);
    put(out, ",\"seq\":");
    flow_mpjson_object(out, &x[4]);
    put(out, ",\"payload\":");
    int rc = put_payload(out, &x[5]);
    put(out, "}\n");
    return rc < 0 ? rc : out->err;
}

long tap_decode(const char *stream, const void *data, size_t len, long limit,
                flow_buf *out)
{
    /* Checked before msgpack-c sees it: msgpack-c allocates an array's
     * elements from its declared count, so a six-byte frame could
     * otherwise ask for gigabytes. */
    if (!flow_mpjson_fits(data, len))
        return -FLOW_EMALFORMED;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    long n = 0;
    int rc = msgpack_unpack_next(&u, data, len, &off);
    if (rc != MSGPACK_UNPACK_SUCCESS) {
        /* The bytes were checked: only memory can fail here. */
        n = -FLOW_ENOMEM;
        goto done;
    }
    const msgpack_object *f = u.data.via.array.ptr;
    uint64_t version, instance, epoch;
    if (u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 5 ||
        !as_uint(&f[0], &version) || version != 1 ||
        f[1].type != MSGPACK_OBJECT_STR || !as_uint(&f[2], &instance) ||
        !as_uint(&f[3], &epoch) || f[4].type != MSGPACK_OBJECT_ARRAY ||
        f[1].via.str.size > TAP_PRODUCER_MAX) {
        n = -FLOW_EMALFORMED;
        goto done;
    }
    /* flowd names producers STREAM.LABEL (--flow.producer-id): the app
     * shown is the label. */
    msgpack_object app = f[1];
    size_t sl = strlen(stream);
    if (app.via.str.size > sl + 1 && memcmp(app.via.str.ptr, stream, sl) == 0 &&
        app.via.str.ptr[sl] == '.') {
        app.via.str.ptr += sl + 1;
        app.via.str.size -= (uint32_t)(sl + 1);
    }
    const msgpack_object_array *evs = &f[4].via.array;
    for (uint32_t i = 0; i < evs->size && (limit <= 0 || n < limit); i++) {
        const msgpack_object *e = &evs->ptr[i];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 6)
            continue;
        if (put_event(out, stream, &app, instance, e->via.array.ptr) < 0) {
            n = -FLOW_ENOMEM;
            goto done;
        }
        n++;
    }
done:
    msgpack_unpacked_destroy(&u);
    return n;
}
