/* Unit tests: histograms, the control codec, counters and endpoints. */
#include <criterion/criterion.h>
#include <string.h>

#include "ctx.h"
#include "flow/control.h"
#include "flow/endpoint.h"
#include "flow/error.h"
#include "flow/metrics.h"

#include <msgpack.h>

Test(hist, buckets_and_quantiles)
{
    flow_hist h = { 0 };
    cr_assert_eq(flow_hist_quantile(&h, 0.5), 0);
    flow_hist_add(&h, 5, 50);       /* <= 10 */
    flow_hist_add(&h, 180, 49);     /* <= 200 */
    flow_hist_add(&h, 10000000, 1); /* +Inf */
    flow_hist_add(&h, -3, 0);
    cr_assert_eq(flow_hist_total(&h), 100);
    cr_assert_eq(h.counts[0], 50);
    cr_assert_eq(h.counts[FLOW_HIST_BUCKETS - 1], 1);
    double p50 = flow_hist_quantile(&h, 0.5);
    cr_assert(p50 > 0 && p50 <= 10, "p50 %f", p50);
    double p99 = flow_hist_quantile(&h, 0.99);
    cr_assert(p99 > 150 && p99 <= 200, "p99 %f", p99);
    cr_assert_gt(flow_hist_quantile(&h, 1.0), 1000000);
}

/* The last error and the end of the run travel in metrics and bye; a
 * message without them (an older app) decodes with both empty. */
Test(control, last_error_and_end)
{
    flow_metrics m = { .in = 5, .errors = 5 };
    flow_ctl_ident id = { .stream = "s", .label = "l", .instance = 0 };
    char longer[FLOW_CTL_MAX_ERROR + 50];
    flow_buf b;
    flow_ctl_msg msg = { 0 };

    flow_buf_init(&b);
    flow_ctl_status st = { .last_error = "rejected a X event: bad",
                           .end = FLOW_CTL_END_SIGNAL };
    cr_assert_eq(flow_ctl_encode_bye(&b, &id, 1, &m, &st), 0);
    flow_ctl_msg_fini(&msg);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_eq(msg.type, FLOW_CTL_BYE);
    cr_assert_eq(msg.m.errors, 5);
    cr_assert_eq(msg.last_error.len, strlen(st.last_error));
    cr_assert_eq(memcmp(msg.last_error.ptr, st.last_error, msg.last_error.len),
                 0);
    cr_assert_eq(msg.end.len, 6);
    cr_assert_eq(memcmp(msg.end.ptr, "signal", 6), 0);

    /* Long text is cut, never in the middle of a character. */
    memset(longer, 'a', sizeof longer);
    memcpy(longer + FLOW_CTL_MAX_ERROR - 1, "\xc3\xa9", 2);
    longer[sizeof longer - 1] = '\0';
    st.last_error = longer;
    st.end = NULL;
    cr_assert_eq(flow_ctl_encode_metrics(&b, &id, 1, &m, &st), 0);
    flow_ctl_msg_fini(&msg);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_eq(msg.last_error.len, FLOW_CTL_MAX_ERROR - 1);
    cr_assert_null(msg.end.ptr);

    cr_assert_eq(flow_ctl_encode_metrics(&b, &id, 1, &m, NULL), 0);
    flow_ctl_msg_fini(&msg);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_null(msg.last_error.ptr);
    cr_assert_null(msg.end.ptr);
    flow_ctl_msg_fini(&msg);
    flow_buf_fini(&b);
}

Test(control, url_and_figures)
{
    flow_metrics m = { .in = 1 };
    flow_ctl_ident id = { .stream = "s", .label = "http", .instance = 0 };
    flow_ctl_pair figs[2] = { { { "requests", 8 }, 17 },
                              { { "syncs", 5 }, 6 } };
    flow_ctl_status st = { .url = "http://127.0.0.1:4321/ingest",
                           .figures = figs,
                           .nfigures = 2 };
    flow_buf b;
    flow_ctl_msg msg = { 0 };
    msgpack_unpacked u;

    flow_buf_init(&b);
    cr_assert_eq(flow_ctl_encode_metrics(&b, &id, 1, &m, &st), 0);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_eq(msg.type, FLOW_CTL_METRICS);
    cr_assert_eq(msg.url.len, strlen(st.url));
    cr_assert_eq(memcmp(msg.url.ptr, st.url, msg.url.len), 0);
    cr_assert_eq(msg.nfigures, 2);
    cr_assert_eq(msg.figures[0].key.len, 8);
    cr_assert_eq(memcmp(msg.figures[0].key.ptr, "requests", 8), 0);
    cr_assert_eq(msg.figures[0].value, 17);
    cr_assert_eq(msg.figures[1].value, 6);
    flow_ctl_msg_fini(&msg);
    /* The figures are a map of names to counts. */
    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, (const char *)b.data, b.len, NULL),
                 MSGPACK_UNPACK_SUCCESS);
    const msgpack_object_map *mp = &u.data.via.map;
    bool found = false;
    for (uint32_t i = 0; i < mp->size; i++) {
        const msgpack_object *k = &mp->ptr[i].key, *v = &mp->ptr[i].val;
        if (k->via.str.size != 7 || memcmp(k->via.str.ptr, "figures", 7))
            continue;
        found = true;
        cr_assert_eq(v->type, MSGPACK_OBJECT_MAP);
        cr_assert_eq(v->via.map.size, 2);
        cr_assert_eq(v->via.map.ptr[1].val.via.u64, 6);
    }
    cr_assert(found);
    msgpack_unpacked_destroy(&u);

    /* Without them the message is as before. */
    cr_assert_eq(flow_ctl_encode_metrics(&b, &id, 1, &m, NULL), 0);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_null(msg.url.ptr);
    flow_ctl_msg_fini(&msg);
    flow_buf_fini(&b);
}

Test(control, metrics_roundtrip)
{
    flow_metrics m = { .in = 10,
                       .out = 9,
                       .errors = 1,
                       .bytes_in = 1000,
                       .bytes_out = 900,
                       .drops = 2,
                       .rejected = 3,
                       .dups = 4,
                       .fenced = 5 };
    flow_hist_add(&m.lat, 42, 7);
    flow_hist_add(&m.e2e, 99999999, 2);
    flow_ctl_ident id = { .stream = "s",
                          .label = "l",
                          .app = "a",
                          .role = "sink",
                          .version = "1",
                          .instance = 2,
                          .pid = 1234 };
    flow_buf b;
    flow_buf_init(&b);
    cr_assert_eq(flow_ctl_encode_metrics(&b, &id, 1700000000123, &m, NULL), 0);
    flow_ctl_msg msg = { 0 };
    flow_ctl_msg_fini(&msg);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_eq(msg.type, FLOW_CTL_METRICS);
    cr_assert_eq(msg.instance, 2);
    cr_assert_eq(msg.pid, 1234);
    cr_assert_eq(msg.ts_ms, 1700000000123);
    cr_assert_eq(msg.label.len, 1);
    cr_assert_eq(memcmp(&msg.m, &m, sizeof(m)), 0);

    cr_assert_eq(flow_ctl_encode_hello(&b, &id), 0);
    flow_ctl_msg_fini(&msg);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_eq(msg.type, FLOW_CTL_HELLO);
    cr_assert_eq(msg.role.len, 4);
    cr_assert_eq(memcmp(msg.app.ptr, "a", 1), 0);

    cr_assert_eq(flow_ctl_encode_connect(&b, "input", "ipc:///x"), 0);
    flow_ctl_msg_fini(&msg);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_eq(msg.type, FLOW_CTL_CONNECT);
    cr_assert_eq(msg.endpoint.len, 8);
    cr_assert_eq(flow_ctl_encode_stop(&b), 0);
    flow_ctl_msg_fini(&msg);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_eq(msg.type, FLOW_CTL_STOP);
    flow_ctl_msg_fini(&msg);
    flow_buf_fini(&b);
}

Test(control, counter_roundtrip_and_bad_input)
{
    flow_buf b;
    flow_buf_init(&b);
    const flow_ctl_pair secs[] = { { { "1700000000", 10 }, 5 },
                                   { { "1700000001", 10 }, 6 } };
    cr_assert_eq(
        flow_ctl_encode_counter(&b, "counter", "hits", 11, secs, 2, NULL, 0),
        0);
    flow_ctl_msg msg = { 0 };
    flow_ctl_msg_fini(&msg);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &msg), 0);
    cr_assert_eq(msg.type, FLOW_CTL_COUNTER);
    cr_assert_eq(msg.inc, 11);
    cr_assert_null(msg.values);
    cr_assert_eq(msg.nseconds, 2);
    cr_assert_eq(msg.seconds[0].key.len, 10);
    cr_assert_eq(memcmp(msg.seconds[0].key.ptr, "1700000000", 10), 0);
    cr_assert_eq(msg.seconds[0].value, 5);
    cr_assert_eq(msg.seconds[1].value, 6);
    flow_ctl_msg_fini(&msg);

    /* Unknown types decode as UNKNOWN; a missing t or a wrong type of a
     * known key is malformed; truncations never crash. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "t", 1);
    msgpack_pack_str_with_body(&pk, "future", 6);
    msgpack_pack_str_with_body(&pk, "x", 1);
    msgpack_pack_uint64(&pk, 1);
    cr_assert_eq(flow_ctl_decode(sb.data, sb.size, &msg), 0);
    cr_assert_eq(msg.type, FLOW_CTL_UNKNOWN);
    flow_ctl_msg_fini(&msg);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "t", 1);
    msgpack_pack_str_with_body(&pk, "metrics", 7);
    msgpack_pack_str_with_body(&pk, "in", 2);
    msgpack_pack_str_with_body(&pk, "ten", 3);
    cr_assert_eq(flow_ctl_decode(sb.data, sb.size, &msg), -FLOW_EMALFORMED);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 0);
    cr_assert_eq(flow_ctl_decode(sb.data, sb.size, &msg), -FLOW_EMALFORMED);
    msgpack_sbuffer_destroy(&sb);
    flow_ctl_ident id = { .stream = "s", .label = "l" };
    flow_metrics m = { .in = 1 };
    flow_ctl_encode_bye(&b, &id, 1, &m, NULL);
    for (size_t n = 0; n < b.len; n++)
        cr_assert_neq(flow_ctl_decode(b.data, n, &msg), 0);
    flow_ctl_msg_fini(&msg);
    flow_buf_fini(&b);
}

/* A counter map of any other shape than strings to non-negative integers
 * refuses the whole message, and a declared count the frame cannot hold
 * is refused before msgpack-c would allocate for it. */
Test(control, counter_maps_are_checked)
{
#define MP(s) s, sizeof(s) - 1
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } bad[] = {
        /* {"t":"counter","seconds":{"1":"x"}} */
        { "string value", MP("\x82\xa1t\xa7"
                             "counter\xa7seconds\x81\xa1"
                             "1\xa1x") },
        /* {"t":"counter","values":{"a":-1}} */
        { "negative value", MP("\x82\xa1t\xa7"
                               "counter\xa6values\x81\xa1"
                               "a\xff") },
        /* {"t":"counter","values":{1:1}} */
        { "integer key", MP("\x82\xa1t\xa7"
                            "counter\xa6values\x81\x01\x01") },
        /* {"t":"counter","seconds":[]} */
        { "array", MP("\x82\xa1t\xa7"
                      "counter\xa7seconds\x90") },
        /* {"t":"counter","seconds": map32 of 2^32-1 entries, no bytes} */
        { "huge count", MP("\x82\xa1t\xa7"
                           "counter\xa7seconds\xdf\xff\xff\xff\xff") },
    };
#undef MP
    flow_ctl_msg msg;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(flow_ctl_decode(bad[i].bytes, bad[i].len, &msg),
                     -FLOW_EMALFORMED, "%s", bad[i].name);

    /* An empty map is present, with no entries; an empty key is an empty
     * string, not an absent one. */
    static const char ok[] = "\x83\xa1t\xa7"
                             "counter\xa7seconds\x80\xa6values\x81\xa0\x07";
    cr_assert_eq(flow_ctl_decode(ok, sizeof(ok) - 1, &msg), 0);
    cr_assert_not_null(msg.seconds);
    cr_assert_eq(msg.nseconds, 0);
    cr_assert_eq(msg.nvalues, 1);
    cr_assert_not_null(msg.values[0].key.ptr);
    cr_assert_eq(msg.values[0].key.len, 0);
    cr_assert_eq(msg.values[0].value, 7);
    flow_ctl_msg_fini(&msg);
}

/* The bytes on the wire, as docs/apps.md gives them: a change of encoder
 * must not change one of them. */
Test(control, encodings_are_byte_exact)
{
    flow_buf b;
    flow_buf_init(&b);

    cr_assert_eq(flow_ctl_encode_stop(&b), 0);
    cr_assert_eq(b.len, 8);
    cr_assert_eq(memcmp(b.data, "\x81\xa1t\xa4stop", 8), 0);

    cr_assert_eq(flow_ctl_encode_connect(&b, "output", "ipc:///x"), 0);
    static const char conn[] = "\x83\xa1t\xa7"
                               "connect\xa4port\xa6output\xa8"
                               "endpoint\xa8ipc:///x";
    cr_assert_eq(b.len, sizeof(conn) - 1);
    cr_assert_eq(memcmp(b.data, conn, b.len), 0);

    const flow_ctl_pair sec = { { "1700000000", 10 }, 300 };
    cr_assert_eq(
        flow_ctl_encode_counter(&b, "counter", "n", 300, &sec, 1, NULL, 0), 0);
    static const char ctr[] = "\x85\xa1t\xa7"
                              "counter\xa4kind\xa7"
                              "counter\xa4name\xa1n\xa3inc\xcd\x01\x2c"
                              "\xa7seconds\x81\xaa"
                              "1700000000\xcd\x01\x2c";
    cr_assert_eq(b.len, sizeof(ctr) - 1);
    cr_assert_eq(memcmp(b.data, ctr, b.len), 0);

    flow_ctl_ident id = { .stream = "s",
                          .label = "l",
                          .app = "a",
                          .role = "sink",
                          .version = "1",
                          .instance = 2,
                          .pid = -1 };
    cr_assert_eq(flow_ctl_encode_hello(&b, &id), 0);
    static const char hello[] = "\x88\xa1t\xa5hello\xa6stream\xa1s\xa5label"
                                "\xa1l\xa3"
                                "app\xa1"
                                "a\xa8instance\x02\xa3pid\xff\xa4role\xa4sink"
                                "\xa7version\xa1"
                                "1";
    cr_assert_eq(b.len, sizeof(hello) - 1);
    cr_assert_eq(memcmp(b.data, hello, b.len), 0);
    flow_buf_fini(&b);
}

/* metrics in every integer width, against the same map written item by
 * item with libflow's writer (what the encoder used before). */
Test(control, metrics_bytes_match_the_item_writer)
{
    flow_metrics m = { .in = UINT64_MAX,
                       .out = UINT32_MAX + 1ull,
                       .errors = 65536,
                       .bytes_in = 256,
                       .bytes_out = 200,
                       .drops = 127,
                       .rejected = 0,
                       .dups = 3,
                       .fenced = 11 };
    flow_hist_add(&m.lat, 42, 70000);
    flow_hist_add(&m.e2e, 99999999, 2);
    flow_ctl_ident id = { .stream = "a stream name of more than 31 bytes",
                          .label = "l",
                          .instance = 7,
                          .pid = -40000 };
    flow_ctl_status st = { .last_error = "x", .end = FLOW_CTL_END_INPUT };
    const char *keys[] = { "in",       "out",       "errors",
                           "bytes_in", "bytes_out", "drops",
                           "rejected", "dups",      "fenced" };
    const uint64_t vals[] = { m.in,       m.out,       m.errors,
                              m.bytes_in, m.bytes_out, m.drops,
                              m.rejected, m.dups,      m.fenced };
    flow_buf b, want;
    flow_buf_init(&b);
    flow_buf_init(&want);
    flow_mp_put_map(&want, 19);
    flow_mp_put_cstr(&want, "t");
    flow_mp_put_cstr(&want, "metrics");
    flow_mp_put_cstr(&want, "stream");
    flow_mp_put_cstr(&want, id.stream);
    flow_mp_put_cstr(&want, "label");
    flow_mp_put_cstr(&want, "l");
    flow_mp_put_cstr(&want, "instance");
    flow_mp_put_uint(&want, 7);
    flow_mp_put_cstr(&want, "pid");
    flow_mp_put_int(&want, -40000);
    flow_mp_put_cstr(&want, "ts_ms");
    flow_mp_put_int(&want, -1);
    for (size_t i = 0; i < 9; i++) {
        flow_mp_put_cstr(&want, keys[i]);
        flow_mp_put_uint(&want, vals[i]);
    }
    const flow_hist *h[] = { &m.lat, &m.e2e };
    for (size_t k = 0; k < 2; k++) {
        uint64_t cum = 0;
        flow_mp_put_cstr(&want, k ? "e2e_us" : "lat_us");
        flow_mp_put_array(&want, FLOW_HIST_BUCKETS);
        for (int i = 0; i < FLOW_HIST_BUCKETS; i++) {
            cum += h[k]->counts[i];
            flow_mp_put_array(&want, 2);
            flow_mp_put_uint(&want, flow_hist_bounds_us[i]);
            flow_mp_put_uint(&want, cum);
        }
    }
    flow_mp_put_cstr(&want, "last_error");
    flow_mp_put_cstr(&want, "x");
    flow_mp_put_cstr(&want, "end");
    flow_mp_put_cstr(&want, "input");
    cr_assert_eq(flow_ctl_encode_metrics(&b, &id, -1, &m, &st), 0);
    cr_assert_eq(b.len, want.len);
    cr_assert_eq(memcmp(b.data, want.data, b.len), 0);
    flow_buf_fini(&want);
    flow_buf_fini(&b);
}

static const flow_app_desc sink = { .name = "c", .role = FLOW_ROLE_SINK };

Test(counter, totals_values_and_report)
{
    int status;
    char *argv[] = { "c", NULL };
    flow_ctx *ctx = flow__ctx_new(&sink, 1, argv, &status);
    cr_assert_not_null(ctx);
    ctx->now_us = 1700000000500000LL;
    flow_counter *c = flow_counter_get(ctx, FLOW_FIELD_VALUE_COUNTER, "t");
    cr_assert_eq(flow_counter_get(ctx, FLOW_FIELD_VALUE_COUNTER, "t"), c);
    cr_assert_neq(flow_counter_get(ctx, FLOW_COUNTER, "t"), c);
    char val[16];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(val, sizeof(val), "v%d", i % 100);
        cr_assert_eq(
            flow_counter_add(c, i % 2 ? -1 : 1700000000 + i, val, (size_t)n, 2),
            0);
    }
    cr_assert_eq(flow_counter_total(c, NULL, 0), 2000);
    cr_assert_eq(flow_counter_total(c, "v7", 2), 20);
    cr_assert_eq(flow_counter_total(c, "nope", 4), 0);
    cr_assert_eq(c->sec_n, 500); /* "now" is the second of i = 0 */
    flow__counters_report(ctx);  /* no control socket: resets pending */
    cr_assert_eq(c->pending, 0);
    cr_assert_eq(c->sec_n, 0);
    cr_assert_eq(flow_counter_total(c, NULL, 0), 2000);
    flow_counter_add(c, 5, "v1", 2, 1);
    cr_assert_eq(c->sec_n, 1);
    flow__ctx_free(&ctx);
}

Test(endpoint, parse)
{
    flow_endpoint ep;
    char err[256];
    cr_assert_eq(
        flow_endpoint_parse("ipc:///tmp/x", 12, true, &ep, err, sizeof(err)),
        0);
    cr_assert(ep.bind);
    cr_assert_str_eq(ep.addr, "ipc:///tmp/x");
    cr_assert_eq(
        flow_endpoint_parse(">ipc:///tmp/x", 13, true, &ep, err, sizeof(err)),
        0);
    cr_assert_not(ep.bind);
    cr_assert_eq(flow_endpoint_parse("@tcp://127.0.0.1:0", 18, false, &ep, err,
                                     sizeof(err)),
                 0);
    cr_assert(ep.bind);
    static const char *const bad[] = { "",          "@",       "ipc://",
                                       "udp://x:1", "tcp://x", "inproc:// a",
                                       "ipc:/x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(flow_endpoint_parse(bad[i], strlen(bad[i]), true, &ep, err,
                                         sizeof(err)),
                     -FLOW_EENDPOINT, "%s", bad[i]);
    flow_endpoint eps[FLOW_ENDPOINTS_MAX];
    size_t n;
    cr_assert_eq(flow_endpoint_parse_list("ipc:///a,>tcp://h:1,@inproc://c",
                                          false, eps, FLOW_ENDPOINTS_MAX, &n,
                                          err, sizeof(err)),
                 0);
    cr_assert_eq(n, 3);
    cr_assert_not(eps[0].bind);
    cr_assert_not(eps[1].bind);
    cr_assert(eps[2].bind);
    cr_assert_eq(flow_endpoint_parse_list("ipc:///a,,ipc:///b", false, eps,
                                          FLOW_ENDPOINTS_MAX, &n, err,
                                          sizeof(err)),
                 -FLOW_EENDPOINT);
    cr_assert_str_eq(err, "endpoint '': is empty");
}

Test(error, table)
{
    cr_assert_str_eq(flow_strerror(-FLOW_ETRUNCATED), "truncated message");
    cr_assert_str_eq(flow_errname(-FLOW_EVERSION), "EVERSION");
    cr_assert_str_eq(flow_strerror(0), "success");
    cr_assert_str_eq(flow_strerror(-9999), "unknown error");
}
