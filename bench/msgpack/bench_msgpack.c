/*
 * msgpack decoding on the per-event path: the envelope of every event the
 * wire codec reads (runtime/src/wire.c, docs/wire.md), decoded and checked
 * three ways over the same frames:
 *   flow      libflow's own reader (flow_frame_parse + flow_frame_next),
 *             the baseline;
 *   unpacked  msgpack-c's msgpack_unpack_next (a new zone per frame);
 *   zone      msgpack-c's msgpack_unpack into one zone cleared per frame
 *             (msgpack-c's cheapest way).
 * Each msgpack-c way checks the same fields and limits as the codec and
 * first runs flow_mpjson_fits over the frame: untrusted bytes need it,
 * since msgpack-c allocates from declared counts (docs/wire.md); the
 * figures without that check are printed too. Prints events/s per second
 * of CPU time (one core) and each way's ratio to the baseline; the last
 * line is one JSON object of the figures.
 *
 * usage: flow-bench-msgpack [EVENTS] [BATCH]
 */
#include "flow/error.h"
#include "flow/mpjson.h"
#include "flow/wire.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAMES 64 /* distinct frames, decoded round-robin */

/* CPU time of this process: per core, not counting other processes. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct frame {
    uint8_t *data;
    size_t len;
};

/* A frame of n events shaped like load-sim's: a type, a key on every
 * other event and a four-field map as payload. */
static struct frame make_frame(unsigned f, unsigned n)
{
    static const char *const types[] = { "ACCOUNT_CREATED", "DEPOSIT",
                                         "WITHDRAWAL", "ACCOUNT_CLOSED" };
    flow_batch b;
    flow_buf pl;
    char key[32];
    flow_batch_init(&b);
    flow_buf_init(&pl);
    flow_batch_begin(&b, "load-sim", 3, 7);
    for (unsigned i = 0; i < n; i++) {
        unsigned id = f * n + i;
        flow_buf_reset(&pl);
        flow_mp_put_map(&pl, 4);
        flow_mp_put_cstr(&pl, "account");
        flow_mp_put_uint(&pl, id % 1000);
        flow_mp_put_cstr(&pl, "type");
        flow_mp_put_cstr(&pl, types[id % 4]);
        flow_mp_put_cstr(&pl, "amount");
        flow_mp_put_double(&pl, (double)(id % 5000) / 100.0);
        flow_mp_put_cstr(&pl, "ts");
        flow_mp_put_int(&pl, 1700000000000000LL + id);
        int kl = snprintf(key, sizeof(key), "acct-%u", id % 1000);
        flow_event ev = { .id = id,
                          .type = types[id % 4],
                          .type_len = (uint32_t)strlen(types[id % 4]),
                          .ts_us = 1700000000000000LL + id,
                          .key = i % 2 ? key : NULL,
                          .key_len = i % 2 ? (uint32_t)kl : 0,
                          .payload = pl.data,
                          .payload_len = (uint32_t)pl.len };
        if (flow_batch_add(&b, &ev, id + 1) != 0) {
            fprintf(stderr, "flow-bench-msgpack: cannot build a frame\n");
            exit(1);
        }
    }
    size_t len;
    const uint8_t *p = flow_batch_finish(&b, &len);
    struct frame fr = { malloc(len), len };
    if (!fr.data) {
        fprintf(stderr, "flow-bench-msgpack: out of memory\n");
        exit(1);
    }
    memcpy(fr.data, p, len);
    flow_buf_fini(&pl);
    flow_batch_fini(&b);
    return fr;
}

/* What every way sums over the events it decodes, to compare them. */
static uint64_t sum_event(const flow_event *ev)
{
    return ev->id + ev->seq + (uint64_t)ev->ts_us + ev->type_len + ev->key_len +
           ev->payload_len + (uint8_t)ev->type[0] +
           (ev->key ? (uint8_t)ev->key[0] : 0) + ev->payload[0];
}

static long decode_flow(const struct frame *fr, uint64_t *sum)
{
    flow_frame f;
    flow_event ev;
    long n = 0;
    if (flow_frame_parse(&f, fr->data, fr->len) != 0)
        return -1;
    while (flow_frame_next(&f, &ev)) {
        *sum += sum_event(&ev) + ev.instance + ev.epoch;
        n++;
    }
    return n;
}

/* The codec's checks of one event, on msgpack-c's objects. */
static bool mc_event(const msgpack_object *e, flow_event *ev)
{
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 6)
        return false;
    const msgpack_object *x = e->via.array.ptr;
    if (x[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        x[1].type != MSGPACK_OBJECT_STR ||
        x[1].via.str.size > FLOW_WIRE_MAX_NAME ||
        (x[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
         x[2].type != MSGPACK_OBJECT_NEGATIVE_INTEGER) ||
        (x[3].type != MSGPACK_OBJECT_NIL &&
         (x[3].type != MSGPACK_OBJECT_STR ||
          x[3].via.str.size > FLOW_WIRE_MAX_NAME)) ||
        x[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        x[5].type != MSGPACK_OBJECT_BIN ||
        x[5].via.bin.size > FLOW_WIRE_MAX_EVENT)
        return false;
    ev->id = x[0].via.u64;
    ev->type = x[1].via.str.ptr;
    ev->type_len = x[1].via.str.size;
    ev->ts_us =
        x[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER
            ? (x[2].via.u64 > INT64_MAX ? INT64_MAX : (int64_t)x[2].via.u64)
            : x[2].via.i64;
    ev->key = x[3].type == MSGPACK_OBJECT_STR ? x[3].via.str.ptr : NULL;
    ev->key_len = ev->key ? x[3].via.str.size : 0;
    ev->seq = x[4].via.u64;
    ev->payload = (const uint8_t *)x[5].via.bin.ptr;
    ev->payload_len = x[5].via.bin.size;
    return true;
}

/* The codec's checks of a frame, then every event. */
static long mc_frame(const msgpack_object *o, uint64_t *sum)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 5)
        return -1;
    const msgpack_object *f = o->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[0].via.u64 != FLOW_WIRE_VERSION || f[1].type != MSGPACK_OBJECT_STR ||
        f[1].via.str.size > FLOW_WIRE_MAX_NAME ||
        f[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[2].via.u64 > UINT32_MAX ||
        f[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[4].type != MSGPACK_OBJECT_ARRAY ||
        f[4].via.array.size > FLOW_WIRE_MAX_EVENTS)
        return -1;
    const msgpack_object_array *evs = &f[4].via.array;
    flow_event ev;
    for (uint32_t i = 0; i < evs->size; i++) {
        if (!mc_event(&evs->ptr[i], &ev))
            return -1;
        *sum += sum_event(&ev) + f[2].via.u64 + f[3].via.u64;
    }
    return (long)evs->size;
}

static bool check_fits = true;

static long decode_unpacked(const struct frame *fr, uint64_t *sum)
{
    if (check_fits && !flow_mpjson_fits(fr->data, fr->len))
        return -1;
    msgpack_unpacked u;
    size_t off = 0;
    long n = -1;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)fr->data, fr->len, &off) ==
            MSGPACK_UNPACK_SUCCESS &&
        off == fr->len)
        n = mc_frame(&u.data, sum);
    msgpack_unpacked_destroy(&u);
    return n;
}

static msgpack_zone zone;

static long decode_zone(const struct frame *fr, uint64_t *sum)
{
    if (check_fits && !flow_mpjson_fits(fr->data, fr->len))
        return -1;
    msgpack_object o;
    size_t off = 0;
    long n = -1;
    if (msgpack_unpack((const char *)fr->data, fr->len, &off, &zone, &o) ==
            MSGPACK_UNPACK_SUCCESS &&
        off == fr->len)
        n = mc_frame(&o, sum);
    msgpack_zone_clear(&zone);
    return n;
}

typedef long (*decoder)(const struct frame *, uint64_t *);

/* Decodes events (rounded up to whole frames); returns events/s. */
static double run(decoder dec, const struct frame *frames, long events,
                  uint64_t *sum)
{
    long done = 0;
    *sum = 0;
    double t0 = now();
    for (unsigned i = 0; done < events; i = (i + 1) % FRAMES) {
        long n = dec(&frames[i], sum);
        if (n < 0) {
            fprintf(stderr, "flow-bench-msgpack: a frame did not decode\n");
            exit(1);
        }
        done += n;
    }
    double dt = now() - t0;
    return (double)done / (dt > 0 ? dt : 1e-9);
}

int main(int argc, char **argv)
{
    long events = argc > 1 ? atol(argv[1]) : 20000000;
    unsigned batch = argc > 2 ? (unsigned)atoi(argv[2]) : 256;
    if (events <= 0 || batch == 0 || batch > FLOW_WIRE_MAX_EVENTS) {
        fprintf(stderr, "usage: flow-bench-msgpack [EVENTS] [BATCH]\n");
        return 2;
    }
    struct frame frames[FRAMES];
    for (unsigned f = 0; f < FRAMES; f++)
        frames[f] = make_frame(f, batch);
    if (!msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE)) {
        fprintf(stderr, "flow-bench-msgpack: out of memory\n");
        return 1;
    }
    uint64_t s_flow, s_unp, s_zone, s_unp_nc, s_zone_nc;
    /* A short warm-up of each, then the measured runs. */
    run(decode_flow, frames, events / 20, &s_flow);
    run(decode_zone, frames, events / 20, &s_zone);
    double flow = run(decode_flow, frames, events, &s_flow);
    double unp = run(decode_unpacked, frames, events, &s_unp);
    double zn = run(decode_zone, frames, events, &s_zone);
    check_fits = false;
    double unp_nc = run(decode_unpacked, frames, events, &s_unp_nc);
    double zn_nc = run(decode_zone, frames, events, &s_zone_nc);
    if (s_unp != s_flow || s_zone != s_flow || s_unp_nc != s_flow ||
        s_zone_nc != s_flow) {
        fprintf(stderr, "flow-bench-msgpack: the decoders disagree\n");
        return 1;
    }
    printf("per-event envelope decoding, %ld events in frames of %u "
           "(%zu bytes), per CPU second:\n",
           events, batch, frames[0].len);
    printf("  %-34s %12.0f events/s  (baseline)\n", "flow (runtime/src/mp.c)",
           flow);
    printf("  %-34s %12.0f events/s  %.2fx\n", "msgpack-c unpack_next + fits",
           unp, unp / flow);
    printf("  %-34s %12.0f events/s  %.2fx\n", "msgpack-c zone + fits", zn,
           zn / flow);
    printf("  %-34s %12.0f events/s  %.2fx\n",
           "msgpack-c unpack_next, unchecked", unp_nc, unp_nc / flow);
    printf("  %-34s %12.0f events/s  %.2fx\n", "msgpack-c zone, unchecked",
           zn_nc, zn_nc / flow);
    printf("{\"events\": %ld, \"batch\": %u, \"flow_eps\": %.0f, "
           "\"msgpackc_unpacked_eps\": %.0f, \"msgpackc_zone_eps\": %.0f, "
           "\"msgpackc_unpacked_unchecked_eps\": %.0f, "
           "\"msgpackc_zone_unchecked_eps\": %.0f, "
           "\"ratio_unpacked\": %.3f, \"ratio_zone\": %.3f, "
           "\"ratio_zone_unchecked\": %.3f}\n",
           events, batch, flow, unp, zn, unp_nc, zn_nc, unp / flow, zn / flow,
           zn_nc / flow);
    msgpack_zone_destroy(&zone);
    for (unsigned f = 0; f < FRAMES; f++)
        free(frames[f].data);
    return 0;
}
