/*
 * Checkpoints without a running app: the snapshot file (written, read,
 * torn and corrupt ones refused), barrier alignment over channels, the
 * barrier frame and the checkpoint control messages.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "flow/keygroup.h"
#include "flow/control.h"
#include "flow/error.h"
#include "flow/wire.h"

/* A snapshot body [n, epoch, app, unkeyed, keyed, counters]. */
static void body_of(flow_buf *b, uint64_t n, int nkeys)
{
    flow_buf_reset(b);
    flow_mp_put_array(b, 6);
    flow_mp_put_uint(b, n);
    flow_mp_put_uint(b, 7);
    flow_mp_put_cstr(b, "app");
    flow_mp_put_bin(b, "state", 5);
    flow_mp_put_array(b, (uint32_t)nkeys);
    for (int i = 0; i < nkeys; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "key%d", i);
        flow_mp_put_array(b, 3);
        flow_mp_put_uint(b, flow_keygroup_of(k, (size_t)kl, 128));
        flow_mp_put_bin(b, k, (size_t)kl);
        flow_mp_put_bin(b, "v", 1);
    }
    flow_mp_put_array(b, 0);
}

static void framed(flow_buf *file, uint64_t n, int nkeys)
{
    flow_buf body;
    flow_buf_init(&body);
    body_of(&body, n, nkeys);
    cr_assert_eq(flow__snap_frame(file, body.data, body.len), 0);
    flow_buf_fini(&body);
}

Test(snapshot, round_trip)
{
    flow_buf f;
    flow__snap s;
    char why[256];
    flow_buf_init(&f);
    framed(&f, 5, 3);
    cr_assert_eq(memcmp(f.data, "FLOWSNP1", 8), 0);
    cr_assert_eq(flow__snap_parse(f.data, f.len, &s, why, sizeof(why)), 0, "%s",
                 why);
    cr_assert_eq(s.n, 5);
    cr_assert_eq(s.epoch, 7);
    cr_assert_eq(s.app_len, 3);
    cr_assert_eq(s.unkeyed_len, 5);
    cr_assert_eq(memcmp(s.unkeyed, "state", 5), 0);
    cr_assert_eq(s.nkeyed, 3);
    flow_mp_reader r;
    flow_mp_reader_init(&r, s.keyed, (size_t)(s.counters - s.keyed));
    for (int i = 0; i < 3; i++) {
        uint32_t kg, kl, vl;
        const uint8_t *k, *v;
        cr_assert_eq(flow__snap_next_key(&r, &kg, &k, &kl, &v, &vl), 0);
        cr_assert_eq(kg, flow_keygroup_of(k, kl, 128));
        cr_assert_eq(vl, 1);
    }
    flow_buf_fini(&f);
}

/* Every way a file can be wrong is refused, with the reason. */
Test(snapshot, corrupt_refused)
{
    flow_buf f;
    flow__snap s;
    char why[256];
    flow_buf_init(&f);
    framed(&f, 1, 2);
    /* Torn: any prefix. */
    for (size_t len = 0; len < f.len; len++)
        cr_assert_eq(flow__snap_parse(f.data, len, &s, why, sizeof(why)),
                     -FLOW_EMALFORMED, "prefix of %zu accepted", len);
    /* Any one bit flipped. */
    for (size_t i = 0; i < f.len; i++) {
        f.data[i] ^= 0x10;
        cr_assert_eq(flow__snap_parse(f.data, f.len, &s, why, sizeof(why)),
                     -FLOW_EMALFORMED, "flip at %zu accepted", i);
        f.data[i] ^= 0x10;
    }
    f.data[0] = 'X';
    flow__snap_parse(f.data, f.len, &s, why, sizeof(why));
    cr_assert(strstr(why, "magic"), "%s", why);
    f.data[0] = 'F';
    f.data[f.len - 1] ^= 1;
    flow__snap_parse(f.data, f.len, &s, why, sizeof(why));
    cr_assert(strstr(why, "checksum"), "%s", why);
    /* A right checksum over a wrong layout. */
    flow_buf bad;
    flow_buf_init(&bad);
    flow_mp_put_array(&bad, 2);
    flow_mp_put_uint(&bad, 1);
    flow_mp_put_uint(&bad, 1);
    flow__snap_frame(&f, bad.data, bad.len);
    cr_assert_eq(flow__snap_parse(f.data, f.len, &s, why, sizeof(why)),
                 -FLOW_EMALFORMED);
    cr_assert(strstr(why, "array"), "%s", why);
    /* Trailing bytes after the content. */
    body_of(&bad, 1, 0);
    flow_buf_append(&bad, "\xc0", 1);
    flow__snap_frame(&f, bad.data, bad.len);
    cr_assert_eq(flow__snap_parse(f.data, f.len, &s, why, sizeof(why)),
                 -FLOW_EMALFORMED);
    flow_buf_fini(&bad);
    flow_buf_fini(&f);
}

Test(snapshot, written_durably_and_read_back)
{
    char dir[] = "/tmp/flow-test-snap-XXXXXX";
    char why[512], path[2048];
    flow_buf f, back;
    flow__snap s;
    cr_assert(mkdtemp(dir));
    flow_buf_init(&f);
    flow_buf_init(&back);
    framed(&f, 9, 1);
    char ck[256];
    snprintf(ck, sizeof(ck), "%s/ck", dir); /* made on first use */
    cr_assert_eq(
        flow__snap_write(ck, 9, "s.l.0.snap", f.data, f.len, why, sizeof(why)),
        0, "%s", why);
    snprintf(path, sizeof(path), "%s/9/s.l.0.snap", ck);
    cr_assert_eq(flow__snap_read(path, &back, why, sizeof(why)), 0);
    cr_assert_eq(back.len, f.len);
    cr_assert_eq(memcmp(back.data, f.data, f.len), 0);
    cr_assert_eq(flow__snap_parse(back.data, back.len, &s, why, sizeof(why)),
                 0);
    /* No temporary file is left behind. */
    snprintf(path, sizeof(path), "%s/9/s.l.0.snap.tmp", ck);
    cr_assert_neq(access(path, F_OK), 0);
    /* A directory that cannot be made: an error that says where. */
    snprintf(path, sizeof(path), "%s/9/s.l.0.snap", ck);
    cr_assert_neq(
        flow__snap_write(path, 1, "x.snap", f.data, f.len, why, sizeof(why)),
        0);
    cr_assert(strstr(why, path), "%s", why);
    flow_buf_fini(&f);
    flow_buf_fini(&back);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- Alignment ---- */

static size_t ready_count(flow__align *a, const char *want)
{
    uint8_t *d;
    size_t len, n = 0;
    while (flow__align_next(a, &d, &len)) {
        if (want) {
            cr_assert_eq(len, 1);
            cr_assert_eq(d[0], (uint8_t)want[n], "ready %zu is %c", n, d[0]);
        }
        free(d);
        n++;
    }
    return n;
}

Test(align, exactly_once_holds_the_channel_ahead)
{
    flow__align a;
    flow__align_init(&a, 2, true);
    flow__chan *x = flow__align_chan(&a, "p", 1, 0);
    flow__chan *y = flow__align_chan(&a, "p", 1, 1);
    cr_assert_neq(x, y);
    cr_assert_not(flow__align_holds(&a, x));
    cr_assert_eq(flow__align_barrier(&a, x, 1), FLOW_ALIGN_WAIT);
    /* x is ahead: its frames wait; y's do not. */
    cr_assert(flow__align_holds(&a, x));
    cr_assert_not(flow__align_holds(&a, y));
    cr_assert_eq(flow__align_hold(&a, x, "a", 1), 0);
    cr_assert_eq(flow__align_hold(&a, x, "b", 1), 0);
    cr_assert_eq(ready_count(&a, NULL), 0);
    /* A repeated barrier changes nothing. */
    cr_assert_eq(flow__align_barrier(&a, x, 1), FLOW_ALIGN_WAIT);
    cr_assert_eq(flow__align_barrier(&a, y, 1), FLOW_ALIGN_ALIGNED);
    cr_assert_eq(a.done, 1);
    cr_assert_not(flow__align_holds(&a, x));
    cr_assert_eq(ready_count(&a, "ab"), 2);
    cr_assert_eq(a.held_bytes, 0);
    flow__align_fini(&a);
}

Test(align, at_least_once_holds_nothing)
{
    flow__align a;
    flow__align_init(&a, 2, false);
    flow__chan *x = flow__align_chan(&a, "p", 1, 0);
    flow__chan *y = flow__align_chan(&a, "q", 1, 0);
    cr_assert_eq(flow__align_barrier(&a, x, 1), FLOW_ALIGN_WAIT);
    cr_assert_not(flow__align_holds(&a, x));
    cr_assert_eq(flow__align_barrier(&a, y, 1), FLOW_ALIGN_ALIGNED);
    flow__align_fini(&a);
}

Test(align, end_of_stream_counts_as_aligned)
{
    flow__align a;
    flow__align_init(&a, 2, true);
    flow__chan *x = flow__align_chan(&a, "p", 1, 0);
    flow__chan *y = flow__align_chan(&a, "p", 1, 1);
    cr_assert_eq(flow__align_end(&a, y), FLOW_ALIGN_WAIT);
    cr_assert_not(flow__align_all_ended(&a));
    cr_assert_eq(flow__align_barrier(&a, x, 3), FLOW_ALIGN_ALIGNED);
    cr_assert_eq(a.done, 3);
    cr_assert_eq(flow__align_end(&a, x), FLOW_ALIGN_WAIT);
    cr_assert(flow__align_all_ended(&a));
    flow__align_fini(&a);
}

Test(align, newer_barrier_gives_up_the_older)
{
    flow__align a;
    flow__align_init(&a, 2, true);
    flow__chan *x = flow__align_chan(&a, "p", 1, 0);
    flow__chan *y = flow__align_chan(&a, "p", 1, 1);
    flow__align_barrier(&a, x, 1);
    flow__align_hold(&a, x, "a", 1);
    /* y never sent 1 (flowd gave it up) and sends 2: x's held frames
     * came before its barrier 2, so they go now. */
    cr_assert_eq(flow__align_barrier(&a, y, 2), FLOW_ALIGN_WAIT);
    cr_assert_eq(ready_count(&a, "a"), 1);
    cr_assert(flow__align_holds(&a, y));
    cr_assert_not(flow__align_holds(&a, x));
    flow__align_hold(&a, y, "b", 1);
    cr_assert_eq(flow__align_barrier(&a, x, 2), FLOW_ALIGN_ALIGNED);
    cr_assert_eq(a.done, 2);
    cr_assert_eq(ready_count(&a, "b"), 1);
    /* The old one, late, is ignored. */
    cr_assert_eq(flow__align_barrier(&a, y, 1), FLOW_ALIGN_WAIT);
    flow__align_fini(&a);
}

Test(align, overflow_releases_everything_in_order)
{
    flow__align a;
    flow__align_init(&a, 2, true);
    a.max_held = 2;
    flow__chan *x = flow__align_chan(&a, "p", 1, 0);
    flow__chan *y = flow__align_chan(&a, "p", 1, 1);
    flow__align_barrier(&a, x, 1);
    cr_assert_eq(flow__align_hold(&a, x, "a", 1), 0);
    cr_assert_eq(flow__align_hold(&a, x, "b", 1), 0);
    cr_assert_eq(flow__align_hold(&a, x, "c", 1), 1);
    cr_assert_not(flow__align_holds(&a, x));
    cr_assert_eq(ready_count(&a, "abc"), 3);
    /* The alignment still completes (the caller forwards the barrier). */
    cr_assert_eq(flow__align_barrier(&a, y, 1), FLOW_ALIGN_ALIGNED);
    flow__align_fini(&a);
}

Test(keygroup, owners_partition_the_groups)
{
    for (uint32_t n = 1; n <= 7; n++) {
        uint32_t prev = 0;
        for (uint32_t kg = 0; kg < 128; kg++) {
            uint32_t o = flow_keygroup_owner(kg, n, 128);
            cr_assert_lt(o, n);
            cr_assert_geq(o, prev, "owners are contiguous ranges");
            prev = o;
        }
        cr_assert_eq(prev, n - 1);
    }
    /* Kafka's murmur2 (its own test vectors, made positive). */
    static const struct {
        const char *key;
        uint32_t hash;
    } kafka[] = {
        { "21", 1173551340 },
        { "foobar", 1357151166 },
        { "a-little-bit-long-string", 1161502112 },
        { "a-little-bit-longer-string", 661178819 },
        { "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 2088585677 },
        { "abc", 479470107 },
    };
    for (size_t i = 0; i < sizeof(kafka) / sizeof(kafka[0]); i++) {
        const char *k = kafka[i].key;
        cr_assert_eq(flow_keygroup_of(k, strlen(k), 0x7fffffff), kafka[i].hash,
                     "murmur2(%s)", k);
        cr_assert_eq(flow_keygroup_of(k, strlen(k), 128), kafka[i].hash % 128);
    }
    cr_assert_lt(flow_keygroup_of("42", 2, 128), 128);
    cr_assert_eq(flow_keygroup_of("42", 2, 128),
                 flow_keygroup_of("42", 2, 128));
}

/* ---- Wire and control ---- */

Test(wire, barrier_round_trip)
{
    flow_buf b;
    flow_frame f;
    flow_buf_init(&b);
    cr_assert_eq(flow_wire_barrier(&b, "prod", 3, 9, 42), 0);
    cr_assert_eq(flow_frame_parse(&f, b.data, b.len), 0);
    cr_assert_eq(f.barrier, 42);
    cr_assert_eq(f.count, 0);
    cr_assert_eq(f.instance, 3);
    cr_assert_eq(f.epoch, 9);
    cr_assert_eq(f.app_len, 4);
    /* Barrier 0 and a barrier with events are malformed. */
    flow_wire_barrier(&b, "prod", 3, 9, 0);
    cr_assert_eq(flow_frame_parse(&f, b.data, b.len), -FLOW_EMALFORMED);
    flow_batch bt;
    flow_batch_init(&bt);
    flow_batch_begin(&bt, "p", 0, 1);
    flow_event ev = { .type = "t",
                      .type_len = 1,
                      .payload = (const uint8_t *)"",
                      .payload_len = 0 };
    flow_batch_add(&bt, &ev, 1);
    size_t len;
    const uint8_t *d = flow_batch_finish(&bt, &len);
    flow_buf_reset(&b);
    flow_buf_append(&b, d, len);
    b.data[0] = 0x96; /* six elements: a barrier id after the events */
    flow_mp_put_uint(&b, 5);
    cr_assert_eq(flow_frame_parse(&f, b.data, b.len), -FLOW_EMALFORMED);
    /* An end of stream stays what it was. */
    flow_batch_begin(&bt, "p", 0, 1);
    d = flow_batch_finish(&bt, &len);
    cr_assert_eq(flow_frame_parse(&f, d, len), 0);
    cr_assert_eq(f.barrier, 0);
    cr_assert_eq(f.count, 0);
    flow_batch_fini(&bt);
    flow_buf_fini(&b);
}

static void decode(flow_buf *b, flow_ctl_msg *m)
{
    cr_assert_eq(b->err, 0);
    cr_assert_eq(flow_ctl_decode(b->data, b->len, m), 0);
}

static bool str_is(flow_ctl_str s, const char *want)
{
    return s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

Test(control, checkpoint_messages_round_trip)
{
    flow_buf b;
    flow_ctl_msg m;
    flow_ctl_ident id = { .stream = "s", .label = "l", .instance = 2 };
    flow_buf_init(&b);

    flow_ctl_encode_ckpt(&b, 7);
    decode(&b, &m);
    cr_assert_eq(m.type, FLOW_CTL_CKPT);
    cr_assert_eq(m.id, 7);
    flow_ctl_msg_fini(&m);

    flow_ctl_encode_ckpt_done(&b, 8);
    decode(&b, &m);
    cr_assert_eq(m.type, FLOW_CTL_CKPT_DONE);
    cr_assert_eq(m.id, 8);
    flow_ctl_msg_fini(&m);

    flow_ctl_encode_ack(&b, &id, 9, 1234);
    decode(&b, &m);
    cr_assert_eq(m.type, FLOW_CTL_ACK);
    cr_assert_eq(m.id, 9);
    cr_assert_eq(m.bytes, 1234);
    cr_assert_eq(m.instance, 2);
    cr_assert(str_is(m.stream, "s") && str_is(m.label, "l"));
    flow_ctl_msg_fini(&m);

    flow_ctl_encode_decline(&b, &id, 10, "disk full");
    decode(&b, &m);
    cr_assert_eq(m.type, FLOW_CTL_DECLINE);
    cr_assert_eq(m.id, 10);
    cr_assert(str_is(m.reason, "disk full"));
    flow_ctl_msg_fini(&m);

    flow_ctl_pair secs[] = { { { "100", 3 }, 5 } };
    flow_ctl_pair vals[] = { { { "A", 1 }, 2 }, { { "B", 1 }, 3 } };
    flow_ctl_encode_counter_ckpt(&b, "field-value-counter", "n", 11, 5, secs, 1,
                                 vals, 2);
    decode(&b, &m);
    cr_assert_eq(m.type, FLOW_CTL_COUNTER);
    cr_assert_eq(m.ckpt, 11);
    cr_assert(m.has_total);
    cr_assert_eq(m.total, 5);
    cr_assert_eq(m.inc, 0);
    cr_assert_eq(m.nseconds, 1);
    cr_assert_eq(m.seconds[0].value, 5);
    cr_assert_eq(m.nvalues, 2);
    cr_assert(str_is(m.kind, "field-value-counter") && str_is(m.name, "n"));
    flow_ctl_msg_fini(&m);

    /* An untagged counter has no ckpt and no total. */
    flow_ctl_encode_counter(&b, "counter", "n", 4, NULL, 0, NULL, 0);
    decode(&b, &m);
    cr_assert_eq(m.ckpt, 0);
    cr_assert_not(m.has_total);
    cr_assert_eq(m.inc, 4);
    flow_ctl_msg_fini(&m);
    flow_buf_fini(&b);
}
