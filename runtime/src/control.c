/*
 * The control protocol of docs/apps.md: one msgpack map per frame with a
 * string key "t". Encoders and the decoder live together so flowd decodes
 * exactly what apps send. Both read and write with msgpack-c: the control
 * channel is off the per-event path (docs/wire.md).
 */
#include <string.h>

#include "flow/control.h"
#include "flow/error.h"
#include "flow/mpjson.h"

#include <msgpack.h>

/* msgpack-c's packer writes through this into a flow_buf, whose error is
 * sticky: the encoders look at it once at the end. */
static int buf_write(void *data, const char *s, size_t n)
{
    flow_buf *b = data;
    flow_buf_append(b, s, n);
    return b->err;
}

/* Empties out and points a packer at it. */
static void start(msgpack_packer *pk, flow_buf *out)
{
    flow_buf_reset(out);
    msgpack_packer_init(pk, out, buf_write);
}

static void put_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str_with_body(pk, s, n);
}

static void put_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    put_str(pk, k, strlen(k));
    v = v ? v : "";
    put_str(pk, v, strlen(v));
}

static void put_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    put_str(pk, k, strlen(k));
    msgpack_pack_int64(pk, v);
}

static void put_kv_uint(msgpack_packer *pk, const char *k, uint64_t v)
{
    put_str(pk, k, strlen(k));
    msgpack_pack_uint64(pk, v);
}

/* A cumulative histogram as [[upper_bound_us, count], ...], last bound 0. */
static void put_hist(msgpack_packer *pk, const char *k, const flow_hist *h)
{
    uint64_t cum = 0;
    put_str(pk, k, strlen(k));
    msgpack_pack_array(pk, FLOW_HIST_BUCKETS);
    for (int i = 0; i < FLOW_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint64(pk, flow_hist_bounds_us[i]);
        msgpack_pack_uint64(pk, cum);
    }
}

static void put_pairs(msgpack_packer *pk, const char *k, const flow_ctl_pair *p,
                      uint32_t n)
{
    put_str(pk, k, strlen(k));
    msgpack_pack_map(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        put_str(pk, p[i].key.ptr, p[i].key.len);
        msgpack_pack_uint64(pk, p[i].value);
    }
}

int flow_ctl_encode_hello(flow_buf *out, const flow_ctl_ident *id)
{
    msgpack_packer pk;
    start(&pk, out);
    msgpack_pack_map(&pk, 8);
    put_kv_str(&pk, "t", "hello");
    put_kv_str(&pk, "stream", id->stream);
    put_kv_str(&pk, "label", id->label);
    put_kv_str(&pk, "app", id->app);
    put_kv_uint(&pk, "instance", id->instance);
    put_kv_int(&pk, "pid", id->pid);
    put_kv_str(&pk, "role", id->role);
    put_kv_str(&pk, "version", id->version);
    return out->err;
}

static int encode_metrics(flow_buf *out, const char *t,
                          const flow_ctl_ident *id, int64_t ts_ms,
                          const flow_metrics *m, const flow_ctl_status *st)
{
    const char *err =
        st && st->last_error && *st->last_error ? st->last_error : NULL;
    const char *end = st && st->end && *st->end ? st->end : NULL;
    msgpack_packer pk;

    start(&pk, out);
    const char *url = st && st->url && *st->url ? st->url : NULL;
    bool figs = st && st->nfigures > 0;
    msgpack_pack_map(&pk,
                     17 + (err != NULL) + (end != NULL) + (url != NULL) + figs);
    put_kv_str(&pk, "t", t);
    put_kv_str(&pk, "stream", id->stream);
    put_kv_str(&pk, "label", id->label);
    put_kv_uint(&pk, "instance", id->instance);
    put_kv_int(&pk, "pid", id->pid);
    put_kv_int(&pk, "ts_ms", ts_ms);
    put_kv_uint(&pk, "in", m->in);
    put_kv_uint(&pk, "out", m->out);
    put_kv_uint(&pk, "errors", m->errors);
    put_kv_uint(&pk, "bytes_in", m->bytes_in);
    put_kv_uint(&pk, "bytes_out", m->bytes_out);
    put_kv_uint(&pk, "drops", m->drops);
    put_kv_uint(&pk, "rejected", m->rejected);
    put_kv_uint(&pk, "dups", m->dups);
    put_kv_uint(&pk, "fenced", m->fenced);
    put_hist(&pk, "lat_us", &m->lat);
    put_hist(&pk, "e2e_us", &m->e2e);
    if (err) {
        /* Cut long text at a character boundary. */
        size_t n = strlen(err);
        if (n > FLOW_CTL_MAX_ERROR) {
            n = FLOW_CTL_MAX_ERROR;
            while (n > 0 && ((unsigned char)err[n] & 0xC0) == 0x80)
                n--;
        }
        put_str(&pk, "last_error", 10);
        put_str(&pk, err, n);
    }
    if (end)
        put_kv_str(&pk, "end", end);
    if (url)
        put_kv_str(&pk, "url", url);
    if (figs)
        put_pairs(&pk, "figures", st->figures, st->nfigures);
    return out->err;
}

int flow_ctl_encode_metrics(flow_buf *out, const flow_ctl_ident *id,
                            int64_t ts_ms, const flow_metrics *m,
                            const flow_ctl_status *st)
{
    return encode_metrics(out, "metrics", id, ts_ms, m, st);
}

int flow_ctl_encode_bye(flow_buf *out, const flow_ctl_ident *id, int64_t ts_ms,
                        const flow_metrics *m, const flow_ctl_status *st)
{
    return encode_metrics(out, "bye", id, ts_ms, m, st);
}

int flow_ctl_encode_counter(flow_buf *out, const char *kind, const char *name,
                            uint64_t inc, const flow_ctl_pair *seconds,
                            uint32_t nseconds, const flow_ctl_pair *values,
                            uint32_t nvalues)
{
    msgpack_packer pk;
    start(&pk, out);
    msgpack_pack_map(&pk, 4 + (seconds != NULL) + (values != NULL));
    put_kv_str(&pk, "t", "counter");
    put_kv_str(&pk, "kind", kind);
    put_kv_str(&pk, "name", name);
    put_kv_uint(&pk, "inc", inc);
    if (seconds)
        put_pairs(&pk, "seconds", seconds, nseconds);
    if (values)
        put_pairs(&pk, "values", values, nvalues);
    return out->err;
}

int flow_ctl_encode_counter_ckpt(flow_buf *out, const char *kind,
                                 const char *name, uint64_t ckpt,
                                 uint64_t total, const flow_ctl_pair *seconds,
                                 uint32_t nseconds, const flow_ctl_pair *values,
                                 uint32_t nvalues)
{
    msgpack_packer pk;
    start(&pk, out);
    msgpack_pack_map(&pk, 5 + (seconds != NULL) + (values != NULL));
    put_kv_str(&pk, "t", "counter");
    put_kv_str(&pk, "kind", kind);
    put_kv_str(&pk, "name", name);
    put_kv_uint(&pk, "ckpt", ckpt);
    put_kv_uint(&pk, "total", total);
    if (seconds)
        put_pairs(&pk, "seconds", seconds, nseconds);
    if (values)
        put_pairs(&pk, "values", values, nvalues);
    return out->err;
}

static int encode_id(flow_buf *out, const char *t, uint64_t id)
{
    msgpack_packer pk;
    start(&pk, out);
    msgpack_pack_map(&pk, 2);
    put_kv_str(&pk, "t", t);
    put_kv_uint(&pk, "id", id);
    return out->err;
}

int flow_ctl_encode_ckpt(flow_buf *out, uint64_t id)
{
    return encode_id(out, "ckpt", id);
}

int flow_ctl_encode_ckpt_done(flow_buf *out, uint64_t id)
{
    return encode_id(out, "ckpt_done", id);
}

/* ack and decline: the checkpoint, who, and bytes or reason. */
static int encode_reply(flow_buf *out, const char *t, const flow_ctl_ident *id,
                        uint64_t ckpt, const char *reason, uint64_t bytes)
{
    msgpack_packer pk;
    start(&pk, out);
    msgpack_pack_map(&pk, 6);
    put_kv_str(&pk, "t", t);
    put_kv_uint(&pk, "id", ckpt);
    put_kv_str(&pk, "stream", id->stream);
    put_kv_str(&pk, "label", id->label);
    put_kv_uint(&pk, "instance", id->instance);
    if (reason) {
        size_t n = strlen(reason);
        if (n > FLOW_CTL_MAX_ERROR) {
            n = FLOW_CTL_MAX_ERROR;
            while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
                n--;
        }
        put_str(&pk, "reason", 6);
        put_str(&pk, reason, n);
    } else {
        put_kv_uint(&pk, "bytes", bytes);
    }
    return out->err;
}

int flow_ctl_encode_ack(flow_buf *out, const flow_ctl_ident *id, uint64_t ckpt,
                        uint64_t bytes)
{
    return encode_reply(out, "ack", id, ckpt, NULL, bytes);
}

int flow_ctl_encode_decline(flow_buf *out, const flow_ctl_ident *id,
                            uint64_t ckpt, const char *reason)
{
    return encode_reply(out, "decline", id, ckpt, reason ? reason : "", 0);
}

static int encode_port(flow_buf *out, const char *t, const char *port,
                       const char *endpoint)
{
    msgpack_packer pk;
    start(&pk, out);
    msgpack_pack_map(&pk, 3);
    put_kv_str(&pk, "t", t);
    put_kv_str(&pk, "port", port);
    put_kv_str(&pk, "endpoint", endpoint);
    return out->err;
}

int flow_ctl_encode_connect(flow_buf *out, const char *port,
                            const char *endpoint)
{
    return encode_port(out, "connect", port, endpoint);
}

int flow_ctl_encode_disconnect(flow_buf *out, const char *port,
                               const char *endpoint)
{
    return encode_port(out, "disconnect", port, endpoint);
}

int flow_ctl_encode_stop(flow_buf *out)
{
    msgpack_packer pk;
    start(&pk, out);
    msgpack_pack_map(&pk, 1);
    put_kv_str(&pk, "t", "stop");
    return out->err;
}

/* A string that is present is never NULL: msgpack-c hands an empty one
 * over as a null pointer, and a null ptr means "absent" to the callers. */
static int get_str(const msgpack_object *v, flow_ctl_str *out)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return -FLOW_EMALFORMED;
    out->ptr = v->via.str.size ? v->via.str.ptr : "";
    out->len = v->via.str.size;
    return 0;
}

/* An integer above INT64_MAX reads as INT64_MAX. */
static int get_int(const msgpack_object *v, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = v->via.i64;
    else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        *out = v->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)v->via.u64;
    else
        return -FLOW_EMALFORMED;
    return 0;
}

static int get_uint(const msgpack_object *v, uint64_t *out)
{
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -FLOW_EMALFORMED;
    *out = v->via.u64;
    return 0;
}

/* Reads a cumulative [[bound, count], ...] histogram back into buckets. */
static int get_hist(const msgpack_object *v, flow_hist *h)
{
    uint64_t prev = 0;
    if (v->type != MSGPACK_OBJECT_ARRAY)
        return -FLOW_EMALFORMED;
    memset(h, 0, sizeof(*h));
    for (uint32_t i = 0; i < v->via.array.size; i++) {
        const msgpack_object *x = &v->via.array.ptr[i];
        uint64_t bound, cum;
        if (x->type != MSGPACK_OBJECT_ARRAY || x->via.array.size != 2 ||
            get_uint(&x->via.array.ptr[0], &bound) ||
            get_uint(&x->via.array.ptr[1], &cum) || cum < prev)
            return -FLOW_EMALFORMED;
        flow_hist_add(h, bound == 0 ? INT64_MAX : (int64_t)bound, cum - prev);
        prev = cum;
    }
    return 0;
}

/*
 * Copies a counter's map of string keys to non-negative integers into an
 * array allocated in zone (the keys keep pointing into the frame). A map
 * of any other shape is malformed.
 */
static int get_pairs(const msgpack_object *v, msgpack_zone *zone,
                     const flow_ctl_pair **out, uint32_t *n)
{
    static const flow_ctl_pair none[1];
    flow_ctl_pair *p;
    if (v->type != MSGPACK_OBJECT_MAP)
        return -FLOW_EMALFORMED;
    if (v->via.map.size == 0) {
        *out = none;
        *n = 0;
        return 0;
    }
    p = msgpack_zone_malloc(zone, v->via.map.size * sizeof(*p));
    if (!p)
        return -FLOW_ENOMEM;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object_kv *kv = &v->via.map.ptr[i];
        if (get_str(&kv->key, &p[i].key) || get_uint(&kv->val, &p[i].value))
            return -FLOW_EMALFORMED;
    }
    *out = p;
    *n = v->via.map.size;
    return 0;
}

static bool key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

static flow_ctl_type type_of(const msgpack_object *v)
{
    static const struct {
        const char *name;
        flow_ctl_type type;
    } types[] = {
        { "hello", FLOW_CTL_HELLO },
        { "metrics", FLOW_CTL_METRICS },
        { "counter", FLOW_CTL_COUNTER },
        { "bye", FLOW_CTL_BYE },
        { "connect", FLOW_CTL_CONNECT },
        { "disconnect", FLOW_CTL_DISCONNECT },
        { "stop", FLOW_CTL_STOP },
        { "ckpt", FLOW_CTL_CKPT },
        { "ckpt_done", FLOW_CTL_CKPT_DONE },
        { "ack", FLOW_CTL_ACK },
        { "decline", FLOW_CTL_DECLINE },
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (key_is(v, types[i].name))
            return types[i].type;
    return FLOW_CTL_UNKNOWN;
}

/* Fills msg from the map m; strings borrow the frame, pairs live in zone. */
static int decode_map(const msgpack_object *m, msgpack_zone *zone,
                      flow_ctl_msg *msg)
{
    bool have_t = false;
    int rc = 0;

    if (m->type != MSGPACK_OBJECT_MAP)
        return -FLOW_EMALFORMED;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        const msgpack_object *v = &m->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        if (key_is(k, "t")) {
            if (v->type != MSGPACK_OBJECT_STR)
                return -FLOW_EMALFORMED;
            msg->type = type_of(v);
            have_t = true;
        } else if (key_is(k, "stream"))
            rc = get_str(v, &msg->stream);
        else if (key_is(k, "label"))
            rc = get_str(v, &msg->label);
        else if (key_is(k, "app"))
            rc = get_str(v, &msg->app);
        else if (key_is(k, "role"))
            rc = get_str(v, &msg->role);
        else if (key_is(k, "version"))
            rc = get_str(v, &msg->version);
        else if (key_is(k, "kind"))
            rc = get_str(v, &msg->kind);
        else if (key_is(k, "name"))
            rc = get_str(v, &msg->name);
        else if (key_is(k, "port"))
            rc = get_str(v, &msg->port);
        else if (key_is(k, "endpoint"))
            rc = get_str(v, &msg->endpoint);
        else if (key_is(k, "last_error"))
            rc = get_str(v, &msg->last_error);
        else if (key_is(k, "end"))
            rc = get_str(v, &msg->end);
        else if (key_is(k, "url"))
            rc = get_str(v, &msg->url);
        else if (key_is(k, "reason"))
            rc = get_str(v, &msg->reason);
        else if (key_is(k, "id"))
            rc = get_uint(v, &msg->id);
        else if (key_is(k, "bytes"))
            rc = get_uint(v, &msg->bytes);
        else if (key_is(k, "ckpt"))
            rc = get_uint(v, &msg->ckpt);
        else if (key_is(k, "total")) {
            rc = get_uint(v, &msg->total);
            msg->has_total = rc == 0;
        } else if (key_is(k, "instance"))
            rc = get_int(v, &msg->instance);
        else if (key_is(k, "pid"))
            rc = get_int(v, &msg->pid);
        else if (key_is(k, "ts_ms"))
            rc = get_int(v, &msg->ts_ms);
        else if (key_is(k, "in"))
            rc = get_uint(v, &msg->m.in);
        else if (key_is(k, "out"))
            rc = get_uint(v, &msg->m.out);
        else if (key_is(k, "errors"))
            rc = get_uint(v, &msg->m.errors);
        else if (key_is(k, "bytes_in"))
            rc = get_uint(v, &msg->m.bytes_in);
        else if (key_is(k, "bytes_out"))
            rc = get_uint(v, &msg->m.bytes_out);
        else if (key_is(k, "drops"))
            rc = get_uint(v, &msg->m.drops);
        else if (key_is(k, "rejected"))
            rc = get_uint(v, &msg->m.rejected);
        else if (key_is(k, "dups"))
            rc = get_uint(v, &msg->m.dups);
        else if (key_is(k, "fenced"))
            rc = get_uint(v, &msg->m.fenced);
        else if (key_is(k, "inc"))
            rc = get_uint(v, &msg->inc);
        else if (key_is(k, "lat_us"))
            rc = get_hist(v, &msg->m.lat);
        else if (key_is(k, "e2e_us"))
            rc = get_hist(v, &msg->m.e2e);
        else if (key_is(k, "seconds"))
            rc = get_pairs(v, zone, &msg->seconds, &msg->nseconds);
        else if (key_is(k, "values"))
            rc = get_pairs(v, zone, &msg->values, &msg->nvalues);
        else if (key_is(k, "figures"))
            rc = get_pairs(v, zone, &msg->figures, &msg->nfigures);
        if (rc)
            return rc;
    }
    return have_t ? 0 : -FLOW_EMALFORMED;
}

int flow_ctl_decode(const void *data, size_t len, flow_ctl_msg *msg)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc;

    memset(msg, 0, sizeof(*msg));
    if (len > FLOW_CTL_MAX_FRAME)
        return -FLOW_ETOOBIG;
    /* Checked before msgpack-c sees the bytes: it allocates a container's
     * elements from the declared count, whatever the bytes present. */
    if (!flow_mpjson_fits(data, len))
        return -FLOW_EMALFORMED;
    msgpack_unpacked_init(&u);
    /* The bytes were checked: a failure here is msgpack-c out of memory. */
    if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        rc = -FLOW_ENOMEM;
    else
        rc = decode_map(&u.data, u.zone, msg);
    if (rc) {
        msgpack_unpacked_destroy(&u);
        memset(msg, 0, sizeof(*msg));
        return rc;
    }
    msg->zone = msgpack_unpacked_release_zone(&u);
    msgpack_unpacked_destroy(&u);
    return 0;
}

void flow_ctl_msg_fini(flow_ctl_msg *msg)
{
    if (msg->zone)
        msgpack_zone_free(msg->zone);
    msg->zone = NULL;
}
