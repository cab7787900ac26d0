/*
 * Batch frames on the wire (docs/wire.md). Hot path: no allocation once
 * the batch buffer has grown, no per-event syscalls.
 */
#include <string.h>

#include "flow/error.h"
#include "flow/wire.h"

/* Frame head: fixarray(5), version, label, instance, epoch, array32 hdr. */
#define EVENTS_HDR_LEN 5

void flow_batch_init(flow_batch *b)
{
    memset(b, 0, sizeof(*b));
    flow_buf_init(&b->buf);
}

void flow_batch_fini(flow_batch *b)
{
    flow_buf_fini(&b->buf);
    memset(b, 0, sizeof(*b));
}

void flow_batch_begin(flow_batch *b, const char *label, uint32_t instance,
                      uint64_t epoch)
{
    flow_buf_reset(&b->buf);
    flow_mp_put_array(&b->buf, 5);
    flow_mp_put_uint(&b->buf, FLOW_WIRE_VERSION);
    flow_mp_put_cstr(&b->buf, label ? label : "");
    flow_mp_put_uint(&b->buf, instance);
    flow_mp_put_uint(&b->buf, epoch);
    /* array32 header: its count is patched in by finish. */
    uint8_t hdr[EVENTS_HDR_LEN] = { 0xdd, 0, 0, 0, 0 };
    flow_buf_append(&b->buf, hdr, sizeof(hdr));
    b->head_len = b->buf.len;
    b->count = 0;
}

int flow_batch_add(flow_batch *b, const flow_event *ev, uint64_t seq)
{
    if (ev->type_len > FLOW_WIRE_MAX_NAME || ev->key_len > FLOW_WIRE_MAX_NAME ||
        ev->payload_len > FLOW_WIRE_MAX_EVENT)
        return -FLOW_ETOOBIG;
    if (b->count >= FLOW_WIRE_MAX_EVENTS)
        return -FLOW_ETOOBIG;
    flow_buf *buf = &b->buf;
    /* Worst case header bytes: 1 + 9 + 2 + 9 + 2 + 9 + 5, plus data. */
    if (flow_buf_reserve(buf, FLOW_WIRE_EVENT_OVERHEAD + ev->type_len +
                                  ev->key_len + ev->payload_len))
        return buf->err;
    size_t save = buf->len;
    flow_mp_put_array(buf, 6);
    flow_mp_put_uint(buf, ev->id);
    flow_mp_put_str(buf, ev->type ? ev->type : "", ev->type_len);
    flow_mp_put_int(buf, ev->ts_us);
    if (ev->key)
        flow_mp_put_str(buf, ev->key, ev->key_len);
    else
        flow_mp_put_nil(buf);
    flow_mp_put_uint(buf, seq);
    flow_mp_put_bin(buf, ev->payload, ev->payload_len);
    if (buf->err) {
        int rc = buf->err;
        buf->len = save;
        buf->err = 0;
        return rc;
    }
    b->count++;
    return 0;
}

const uint8_t *flow_batch_finish(flow_batch *b, size_t *len)
{
    uint8_t *p = b->buf.data + b->head_len - 4;
    p[0] = (uint8_t)(b->count >> 24);
    p[1] = (uint8_t)(b->count >> 16);
    p[2] = (uint8_t)(b->count >> 8);
    p[3] = (uint8_t)b->count;
    *len = b->buf.len;
    return b->buf.data;
}

int flow_wire_barrier(flow_buf *out, const char *label, uint32_t instance,
                      uint64_t epoch, uint64_t n)
{
    flow_buf_reset(out);
    flow_mp_put_array(out, 6);
    flow_mp_put_uint(out, FLOW_WIRE_VERSION);
    flow_mp_put_cstr(out, label ? label : "");
    flow_mp_put_uint(out, instance);
    flow_mp_put_uint(out, epoch);
    flow_mp_put_array(out, 0);
    flow_mp_put_uint(out, n);
    return out->err;
}

/*
 * Header field readers. Every event's headers are read twice (checked
 * when the frame arrives, then handed out), so the encodings the writer
 * above produces are decoded inline here, each length checked against
 * the bytes left; anything else goes through the generic flow_mp_read,
 * which accepts every valid encoding.
 */
static inline uint64_t be_n(const uint8_t *p, size_t n)
{
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++)
        u = (u << 8) | p[i];
    return u;
}

/* Reads one unsigned integer field. */
static int read_uint(flow_mp_reader *r, uint64_t *out)
{
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);
    if (left >= 1 && p[0] <= 0x7f) {
        *out = p[0];
        r->p = p + 1;
        return 0;
    }
    if (left >= 1 && p[0] >= 0xcc && p[0] <= 0xcf) {
        size_t n = (size_t)1 << (p[0] - 0xcc);
        if (left < 1 + n)
            return -FLOW_ETRUNCATED;
        *out = be_n(p + 1, n);
        r->p = p + 1 + n;
        return 0;
    }
    flow_mp_value v;
    int rc = flow_mp_read(r, &v);
    if (rc)
        return rc;
    if (v.type != FLOW_MP_INT || v.is_neg)
        return -FLOW_EMALFORMED;
    *out = v.u;
    return 0;
}

/* Reads one signed integer field (an int64 or a uint up to INT64_MAX). */
static int read_int(flow_mp_reader *r, int64_t *out)
{
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);
    if (left >= 1 && p[0] >= 0xcc && p[0] <= 0xcf) {
        size_t n = (size_t)1 << (p[0] - 0xcc);
        if (left < 1 + n)
            return -FLOW_ETRUNCATED;
        uint64_t u = be_n(p + 1, n);
        *out = u > INT64_MAX ? INT64_MAX : (int64_t)u; /* as flow_mp_read */
        r->p = p + 1 + n;
        return 0;
    }
    flow_mp_value v;
    int rc = flow_mp_read(r, &v);
    if (rc)
        return rc;
    if (v.type != FLOW_MP_INT)
        return -FLOW_EMALFORMED;
    *out = v.i;
    return 0;
}

/*
 * Reads a string (or, when nil_ok, a nil: *s = NULL) or a binary (bin)
 * field of at most max bytes.
 */
static int read_bytes(flow_mp_reader *r, bool bin, bool nil_ok, size_t max,
                      const char **s, uint32_t *len)
{
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);
    size_t hdr = 0, n = 0;
    if (left >= 1) {
        uint8_t c = p[0];
        if (!bin && (c & 0xe0) == 0xa0) {
            hdr = 1;
            n = c & 0x1f;
        } else if (left >= 2 && c == (bin ? 0xc4 : 0xd9)) {
            hdr = 2;
            n = p[1];
        } else if (left >= 3 && c == (bin ? 0xc5 : 0xda)) {
            hdr = 3;
            n = (size_t)be_n(p + 1, 2);
        } else if (left >= 5 && c == (bin ? 0xc6 : 0xdb)) {
            hdr = 5;
            n = (size_t)be_n(p + 1, 4);
        } else if (nil_ok && c == 0xc0) {
            *s = NULL;
            *len = 0;
            r->p = p + 1;
            return 0;
        }
    }
    if (hdr == 0) {
        flow_mp_value v;
        int rc = flow_mp_read(r, &v);
        if (rc)
            return rc;
        return -FLOW_EMALFORMED; /* any other type is wrong here */
    }
    if (n > left - hdr)
        return -FLOW_ETRUNCATED;
    if (n > max)
        return -FLOW_ETOOBIG;
    *s = (const char *)p + hdr;
    *len = (uint32_t)n;
    r->p = p + hdr + n;
    return 0;
}

/* Checks one event and, if ev is not NULL, fills it in. */
static int read_event(flow_mp_reader *r, flow_event *ev)
{
    uint64_t id, seq;
    int64_t ts;
    const char *type, *key, *payload;
    uint32_t type_len, key_len, payload_len;
    int rc;
    if (r->p < r->end && r->p[0] == 0x96) {
        r->p++;
    } else {
        flow_mp_value v;
        if ((rc = flow_mp_read(r, &v)))
            return rc;
        if (v.type != FLOW_MP_ARRAY || v.len != 6)
            return -FLOW_EMALFORMED;
    }
    if ((rc = read_uint(r, &id)) ||
        (rc = read_bytes(r, false, false, FLOW_WIRE_MAX_NAME, &type,
                         &type_len)) ||
        (rc = read_int(r, &ts)) ||
        (rc = read_bytes(r, false, true, FLOW_WIRE_MAX_NAME, &key, &key_len)) ||
        (rc = read_uint(r, &seq)) ||
        (rc = read_bytes(r, true, false, FLOW_WIRE_MAX_EVENT, &payload,
                         &payload_len)))
        return rc;
    if (!ev)
        return 0;
    /* The payload stays an opaque, length-checked byte string here: it
     * is decoded once, by the app that reads it, with the bounds-checked
     * reader (flow_mp_*), which rejects what is malformed then. Checking
     * it at every hop doubled the decoding work of the data path. */
    ev->id = id;
    ev->type = type;
    ev->type_len = type_len;
    ev->ts_us = ts;
    ev->key = key;
    ev->key_len = key_len;
    ev->seq = seq;
    ev->payload = (const uint8_t *)payload;
    ev->payload_len = payload_len;
    return 0;
}

int flow_frame_parse(flow_frame *f, const void *data, size_t len)
{
    flow_mp_reader r;
    flow_mp_value v;
    uint64_t u;
    int rc;

    memset(f, 0, sizeof(*f));
    if (len > FLOW_WIRE_MAX_FRAME)
        return -FLOW_ETOOBIG;
    flow_mp_reader_init(&r, data, len);
    if ((rc = flow_mp_read(&r, &v)))
        return rc;
    if (v.type != FLOW_MP_ARRAY || (v.len != 5 && v.len != 6))
        return -FLOW_EMALFORMED;
    bool is_barrier = v.len == 6;
    if ((rc = read_uint(&r, &u)))
        return rc;
    if (u != FLOW_WIRE_VERSION)
        return -FLOW_EVERSION;
    if ((rc = flow_mp_read(&r, &v)))
        return rc;
    if (v.type != FLOW_MP_STR)
        return -FLOW_EMALFORMED;
    if (v.len > FLOW_WIRE_MAX_NAME)
        return -FLOW_ETOOBIG;
    f->app = v.str;
    f->app_len = v.len;
    if ((rc = read_uint(&r, &u)))
        return rc;
    if (u > UINT32_MAX)
        return -FLOW_EMALFORMED;
    f->instance = (uint32_t)u;
    if ((rc = read_uint(&r, &f->epoch)))
        return rc;
    if ((rc = flow_mp_read(&r, &v)))
        return rc;
    if (v.type != FLOW_MP_ARRAY)
        return -FLOW_EMALFORMED;
    if (v.len > FLOW_WIRE_MAX_EVENTS)
        return -FLOW_ETOOBIG;
    f->count = v.len;
    f->events = r;
    for (uint32_t i = 0; i < f->count; i++)
        if ((rc = read_event(&r, NULL)))
            return rc;
    if (is_barrier) {
        /* A barrier carries no events and a positive checkpoint id. */
        if (f->count != 0)
            return -FLOW_EMALFORMED;
        if ((rc = read_uint(&r, &f->barrier)))
            return rc;
        if (f->barrier == 0)
            return -FLOW_EMALFORMED;
    }
    if (r.p != r.end)
        return -FLOW_EMALFORMED;
    return 0;
}

bool flow_frame_next(flow_frame *f, flow_event *ev)
{
    if (f->next >= f->count)
        return false;
    if (read_event(&f->events, ev))
        return false; /* not reached after a successful parse */
    ev->app = f->app;
    ev->app_len = f->app_len;
    ev->instance = f->instance;
    ev->epoch = f->epoch;
    f->next++;
    return true;
}
