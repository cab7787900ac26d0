/*
 * Feedback channels without a running app: they are not aligned on, the
 * frames that come on them after a snapshot are recorded until their
 * barrier, the recording is bounded, a newer checkpoint waits for it, and
 * the snapshot's channel state parses back in order, to be processed
 * before anything else.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "flow/error.h"

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

/* The recorded frames, one byte each, as a string. */
static void recorded(const flow__align *a, const char *want)
{
    cr_assert_eq(a->nrec, strlen(want), "%zu frames recorded, not %zu", a->nrec,
                 strlen(want));
    for (size_t i = 0; i < a->nrec; i++)
        cr_assert_eq(a->rec_frames[i].data[0], (uint8_t)want[i],
                     "recorded frame %zu is %c", i, a->rec_frames[i].data[0]);
}

Test(feedback, channels_of_the_named_producers_are_feedback)
{
    flow__align a;
    flow__align_init(&a, 1, true);
    cr_assert_eq(flow__align_feedback(&a, "loop.router,,s.x", 0), 0);
    cr_assert_eq(a.fb_want, 2);
    cr_assert(flow__align_chan(&a, "loop.router", 11, 0)->feedback);
    cr_assert(flow__align_chan(&a, "loop.router", 11, 3)->feedback);
    cr_assert(flow__align_chan(&a, "s.x", 3, 0)->feedback);
    cr_assert_not(flow__align_chan(&a, "loop.route", 10, 0)->feedback);
    cr_assert_not(flow__align_chan(&a, "src.load-sim", 12, 0)->feedback);
    flow__align_fini(&a);
    flow__align_init(&a, 1, true);
    cr_assert_eq(flow__align_feedback(&a, "loop.router", 3), 0);
    cr_assert_eq(a.fb_want, 3);
    flow__align_fini(&a);
}

Test(feedback, not_waited_for_nor_held)
{
    flow__align a;
    flow__align_init(&a, 1, true);
    flow__align_feedback(&a, "loop.router", 0);
    flow__chan *src = flow__align_chan(&a, "src.load-sim", 12, 0);
    flow__chan *fb = flow__align_chan(&a, "loop.router", 11, 0);
    /* Barrier 1 on the back edge first: it aligns nothing, and the
     * channel's frames are never held. */
    cr_assert_eq(flow__align_barrier(&a, fb, 1), FLOW_ALIGN_WAIT);
    cr_assert_eq(a.cur, 0);
    cr_assert_not(flow__align_holds(&a, fb));
    /* The one other channel aligns checkpoint 2 alone. */
    cr_assert_eq(flow__align_barrier(&a, src, 2), FLOW_ALIGN_ALIGNED);
    cr_assert_eq(a.done, 2);
    cr_assert_not(flow__align_holds(&a, fb));
    /* Without the feedback flag the same barriers would never align:
     * both channels would count. */
    flow__align_fini(&a);
    flow__align_init(&a, 1, true);
    src = flow__align_chan(&a, "src.load-sim", 12, 0);
    fb = flow__align_chan(&a, "loop.router", 11, 0);
    cr_assert_eq(flow__align_barrier(&a, src, 2), FLOW_ALIGN_ALIGNED);
    flow__align_fini(&a);
}

Test(feedback, records_until_the_channel_barrier)
{
    flow__align a;
    flow__align_init(&a, 1, true);
    flow__align_feedback(&a, "loop.router", 0);
    flow__chan *src = flow__align_chan(&a, "src.load-sim", 12, 0);
    flow__chan *fb = flow__align_chan(&a, "loop.router", 11, 0);
    /* Before any snapshot nothing is recorded. */
    cr_assert_eq(flow__align_record(&a, fb, "x", 1), 0);
    recorded(&a, "");
    cr_assert_eq(flow__align_barrier(&a, src, 1), FLOW_ALIGN_ALIGNED);
    flow__align_record_start(&a, 1);
    cr_assert_not(flow__align_record_complete(&a));
    /* The other channel's frames are not channel state. */
    cr_assert_eq(flow__align_record(&a, src, "s", 1), 0);
    cr_assert_eq(flow__align_record(&a, fb, "a", 1), 0);
    cr_assert_eq(flow__align_record(&a, fb, "b", 1), 0);
    recorded(&a, "ab");
    /* A newer checkpoint aligns on the other channel meanwhile: it waits
     * for the recording of 1 to end. */
    cr_assert_eq(flow__align_barrier(&a, src, 2), FLOW_ALIGN_WAIT);
    cr_assert(flow__align_holds(&a, src));
    cr_assert_eq(flow__align_record(&a, fb, "c", 1), 0);
    cr_assert_eq(flow__align_barrier(&a, fb, 1), FLOW_ALIGN_WAIT);
    cr_assert(flow__align_record_complete(&a));
    /* After its barrier the channel records nothing more for 1. */
    cr_assert_eq(flow__align_record(&a, fb, "d", 1), 0);
    recorded(&a, "abc");
    cr_assert_eq(a.rec_bytes, 3);
    flow__align_record_end(&a);
    cr_assert_eq(a.rec, 0);
    cr_assert_eq(flow__align_check(&a), FLOW_ALIGN_ALIGNED);
    cr_assert_eq(a.done, 2);
    /* Checkpoint 2's recording: the channel that already delivered 1 is
     * still to deliver 2. */
    flow__align_record_start(&a, 2);
    cr_assert_not(flow__align_record_complete(&a));
    cr_assert_eq(flow__align_record(&a, fb, "e", 1), 0);
    recorded(&a, "e");
    /* Its end of stream ends the recording too. */
    flow__align_end(&a, fb);
    cr_assert(flow__align_record_complete(&a));
    flow__align_fini(&a);
}

Test(feedback, waits_for_every_feedback_channel)
{
    flow__align a;
    flow__align_init(&a, 1, false);
    flow__align_feedback(&a, "loop.router", 2);
    flow__chan *src = flow__align_chan(&a, "src.load-sim", 12, 0);
    flow__chan *f0 = flow__align_chan(&a, "loop.router", 11, 0);
    cr_assert_eq(flow__align_barrier(&a, src, 1), FLOW_ALIGN_ALIGNED);
    flow__align_record_start(&a, 1);
    cr_assert_eq(flow__align_record(&a, f0, "a", 1), 0);
    cr_assert_eq(flow__align_barrier(&a, f0, 1), FLOW_ALIGN_WAIT);
    /* The second channel has not been seen yet: it may still send. */
    cr_assert_not(flow__align_record_complete(&a));
    flow__chan *f1 = flow__align_chan(&a, "loop.router", 11, 1);
    cr_assert_eq(flow__align_record(&a, f1, "b", 1), 0);
    cr_assert_eq(flow__align_record(&a, f0, "z", 1), 0);
    cr_assert_eq(flow__align_barrier(&a, f1, 1), FLOW_ALIGN_WAIT);
    cr_assert(flow__align_record_complete(&a));
    recorded(&a, "ab");
    flow__align_fini(&a);
}

Test(feedback, a_barrier_already_come_ends_it_at_once)
{
    flow__align a;
    flow__align_init(&a, 1, true);
    flow__align_feedback(&a, "loop.router", 0);
    flow__chan *src = flow__align_chan(&a, "src.load-sim", 12, 0);
    flow__chan *fb = flow__align_chan(&a, "loop.router", 11, 0);
    /* The back edge's barrier 1 overtook the other channel's. */
    flow__align_barrier(&a, fb, 1);
    cr_assert_eq(flow__align_barrier(&a, src, 1), FLOW_ALIGN_ALIGNED);
    flow__align_record_start(&a, 1);
    cr_assert(flow__align_record_complete(&a));
    cr_assert_eq(flow__align_record(&a, fb, "a", 1), 0);
    recorded(&a, "");
    flow__align_fini(&a);
}

Test(feedback, recording_over_the_limit_keeps_nothing)
{
    flow__align a;
    flow__align_init(&a, 1, true);
    a.max_held = 2;
    flow__align_feedback(&a, "loop.router", 0);
    flow__chan *src = flow__align_chan(&a, "src.load-sim", 12, 0);
    flow__chan *fb = flow__align_chan(&a, "loop.router", 11, 0);
    flow__align_barrier(&a, src, 1);
    flow__align_record_start(&a, 1);
    cr_assert_eq(flow__align_record(&a, fb, "a", 1), 0);
    cr_assert_eq(flow__align_record(&a, fb, "b", 1), 0);
    cr_assert_eq(flow__align_record(&a, fb, "c", 1), 1);
    cr_assert(a.rec_over);
    recorded(&a, "");
    cr_assert_eq(a.rec_bytes, 0);
    cr_assert_eq(flow__align_record(&a, fb, "d", 1), 0);
    recorded(&a, "");
    flow__align_barrier(&a, fb, 1);
    cr_assert(flow__align_record_complete(&a));
    flow__align_record_end(&a);
    cr_assert_not(a.rec_over);
    /* The next checkpoint records again. */
    flow__align_barrier(&a, src, 2);
    flow__align_record_start(&a, 2);
    cr_assert_eq(flow__align_record(&a, fb, "e", 1), 0);
    recorded(&a, "e");
    flow__align_fini(&a);
}

/* A snapshot body with a channel state of the frames in chan. */
static void body_with(flow_buf *b, const char *chan)
{
    flow_buf_reset(b);
    flow_mp_put_array(b, 7);
    flow_mp_put_uint(b, 4);
    flow_mp_put_uint(b, 2);
    flow_mp_put_cstr(b, "transform");
    flow_mp_put_nil(b);
    flow_mp_put_array(b, 0);
    flow_mp_put_array(b, 0);
    flow_mp_put_array(b, (uint32_t)strlen(chan));
    for (const char *p = chan; *p; p++)
        flow_mp_put_bin(b, p, 1);
}

Test(feedback, channel_state_parses_back_in_order)
{
    flow_buf body, file;
    flow__snap s;
    char why[256];
    flow_buf_init(&body);
    flow_buf_init(&file);
    body_with(&body, "xyz");
    cr_assert_eq(flow__snap_frame(&file, body.data, body.len), 0);
    cr_assert_eq(flow__snap_parse(file.data, file.len, &s, why, sizeof(why)), 0,
                 "%s", why);
    cr_assert_eq(s.n, 4);
    cr_assert_eq(s.nchan, 3);
    flow_mp_reader r;
    flow_mp_value v;
    flow_mp_reader_init(&r, s.chan, s.chan_len);
    for (const char *p = "xyz"; *p; p++) {
        cr_assert_eq(flow_mp_read(&r, &v), 0);
        cr_assert_eq(v.type, FLOW_MP_BIN);
        cr_assert_eq(v.len, 1);
        cr_assert_eq(v.str[0], *p);
    }
    cr_assert_eq(flow_mp_remaining(&r), 0);
    /* A channel state that is not frames is refused. */
    flow_buf_reset(&body);
    body_with(&body, "");
    body.len--;
    flow_mp_put_array(&body, 1);
    flow_mp_put_uint(&body, 9);
    cr_assert_eq(flow__snap_frame(&file, body.data, body.len), 0);
    cr_assert_eq(flow__snap_parse(file.data, file.len, &s, why, sizeof(why)),
                 -FLOW_EMALFORMED);
    cr_assert(strstr(why, "channel state"), "%s", why);
    flow_buf_fini(&body);
    flow_buf_fini(&file);
}

Test(feedback, restored_frames_go_before_released_ones)
{
    flow__align a;
    flow__align_init(&a, 2, true);
    /* The restored channel state is queued first, at start. */
    cr_assert_eq(flow__align_push_ready(&a, "r", 1), 0);
    cr_assert_eq(flow__align_push_ready(&a, "s", 1), 0);
    flow__chan *x = flow__align_chan(&a, "p", 1, 0);
    flow__chan *y = flow__align_chan(&a, "p", 1, 1);
    flow__align_barrier(&a, x, 1);
    flow__align_hold(&a, x, "a", 1);
    cr_assert_eq(flow__align_barrier(&a, y, 1), FLOW_ALIGN_ALIGNED);
    cr_assert_eq(ready_count(&a, "rsa"), 3);
    flow__align_fini(&a);
}
