/*
 * The control protocol of docs/apps.md: one msgpack map per frame with a
 * string key "t". Encoders and the decoder live together so flowd decodes
 * exactly what apps send. The decoder reads with msgpack-c (the control
 * channel is off the per-event path, docs/wire.md).
 */
#include <string.h>

#include "flow/control.h"
#include "flow/error.h"
#include "flow/mpjson.h"

#include <msgpack.h>

static void put_kv_str(flow_buf *b, const char *k, const char *v)
{
    flow_mp_put_cstr(b, k);
    flow_mp_put_cstr(b, v ? v : "");
}

static void put_kv_int(flow_buf *b, const char *k, int64_t v)
{
    flow_mp_put_cstr(b, k);
    flow_mp_put_int(b, v);
}

static void put_kv_uint(flow_buf *b, const char *k, uint64_t v)
{
    flow_mp_put_cstr(b, k);
    flow_mp_put_uint(b, v);
}

/* A cumulative histogram as [[upper_bound_us, count], ...], last bound 0. */
static void put_hist(flow_buf *b, const char *k, const flow_hist *h)
{
    uint64_t cum = 0;
    flow_mp_put_cstr(b, k);
    flow_mp_put_array(b, FLOW_HIST_BUCKETS);
    for (int i = 0; i < FLOW_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        flow_mp_put_array(b, 2);
        flow_mp_put_uint(b, flow_hist_bounds_us[i]);
        flow_mp_put_uint(b, cum);
    }
}

int flow_ctl_encode_hello(flow_buf *out, const flow_ctl_ident *id)
{
    flow_buf_reset(out);
    flow_mp_put_map(out, 8);
    put_kv_str(out, "t", "hello");
    put_kv_str(out, "stream", id->stream);
    put_kv_str(out, "label", id->label);
    put_kv_str(out, "app", id->app);
    put_kv_uint(out, "instance", id->instance);
    put_kv_int(out, "pid", id->pid);
    put_kv_str(out, "role", id->role);
    put_kv_str(out, "version", id->version);
    return out->err;
}

static int encode_metrics(flow_buf *out, const char *t,
                          const flow_ctl_ident *id, int64_t ts_ms,
                          const flow_metrics *m, const flow_ctl_status *st)
{
    const char *err =
        st && st->last_error && *st->last_error ? st->last_error : NULL;
    const char *end = st && st->end && *st->end ? st->end : NULL;

    flow_buf_reset(out);
    flow_mp_put_map(out, 16 + (err != NULL) + (end != NULL));
    put_kv_str(out, "t", t);
    put_kv_str(out, "stream", id->stream);
    put_kv_str(out, "label", id->label);
    put_kv_uint(out, "instance", id->instance);
    put_kv_int(out, "pid", id->pid);
    put_kv_int(out, "ts_ms", ts_ms);
    put_kv_uint(out, "in", m->in);
    put_kv_uint(out, "out", m->out);
    put_kv_uint(out, "errors", m->errors);
    put_kv_uint(out, "bytes_in", m->bytes_in);
    put_kv_uint(out, "bytes_out", m->bytes_out);
    put_kv_uint(out, "drops", m->drops);
    put_kv_uint(out, "rejected", m->rejected);
    put_kv_uint(out, "dups", m->dups);
    put_hist(out, "lat_us", &m->lat);
    put_hist(out, "e2e_us", &m->e2e);
    if (err) {
        /* Cut long text at a character boundary. */
        size_t n = strlen(err);
        if (n > FLOW_CTL_MAX_ERROR) {
            n = FLOW_CTL_MAX_ERROR;
            while (n > 0 && ((unsigned char)err[n] & 0xC0) == 0x80)
                n--;
        }
        flow_mp_put_cstr(out, "last_error");
        flow_mp_put_str(out, err, n);
    }
    if (end)
        put_kv_str(out, "end", end);
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
                            uint64_t inc, const void *seconds_map,
                            size_t seconds_len, const void *values_map,
                            size_t values_len)
{
    flow_buf_reset(out);
    flow_mp_put_map(out, 4 + (seconds_map != NULL) + (values_map != NULL));
    put_kv_str(out, "t", "counter");
    put_kv_str(out, "kind", kind);
    put_kv_str(out, "name", name);
    put_kv_uint(out, "inc", inc);
    if (seconds_map) {
        flow_mp_put_cstr(out, "seconds");
        flow_mp_put_raw(out, seconds_map, seconds_len);
    }
    if (values_map) {
        flow_mp_put_cstr(out, "values");
        flow_mp_put_raw(out, values_map, values_len);
    }
    return out->err;
}

static int encode_port(flow_buf *out, const char *t, const char *port,
                       const char *endpoint)
{
    flow_buf_reset(out);
    flow_mp_put_map(out, 3);
    put_kv_str(out, "t", t);
    put_kv_str(out, "port", port);
    put_kv_str(out, "endpoint", endpoint);
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
    flow_buf_reset(out);
    flow_mp_put_map(out, 1);
    put_kv_str(out, "t", "stop");
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
        { "hello", FLOW_CTL_HELLO },     { "metrics", FLOW_CTL_METRICS },
        { "counter", FLOW_CTL_COUNTER }, { "bye", FLOW_CTL_BYE },
        { "connect", FLOW_CTL_CONNECT }, { "disconnect", FLOW_CTL_DISCONNECT },
        { "stop", FLOW_CTL_STOP },
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
        else if (key_is(k, "instance"))
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
        msg->type = FLOW_CTL_UNKNOWN;
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
