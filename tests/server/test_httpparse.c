/* The request head, target and chunked-body parsers of flowd's HTTP
 * server (server/httpparse.c). */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "httpparse.h"

static long head(const char *text, srv_http_head *h)
{
    return srv_http_parse_head(text, strlen(text), h);
}

Test(head, parses_a_request_and_its_fields)
{
    srv_http_head h;
    const char *t = "POST /streams/definitions?x=1 HTTP/1.1\r\n"
                    "Host: a\r\nContent-Type: application/json\r\n"
                    "Authorization: Bearer t0k\r\nContent-Length: 12\r\n\r\n"
                    "{\"a\":1}";
    cr_assert_eq(head(t, &h), (long)(strstr(t, "\r\n\r\n") + 4 - t));
    cr_assert_str_eq(h.method, "POST");
    cr_assert_eq(h.target_len, strlen("/streams/definitions?x=1"));
    cr_assert(h.keep_alive);
    cr_assert(h.has_length);
    cr_assert_eq(h.content_length, 12);
    cr_assert_str_eq(h.content_type, "application/json");
    cr_assert_str_eq(h.authorization, "Bearer t0k");
}

Test(head, needs_more_until_the_blank_line)
{
    srv_http_head h;
    cr_assert_eq(head("GET / HTTP/1.1\r\nHost: a\r\n", &h), 0);
    cr_assert_eq(head("GET / HT", &h), 0);
    cr_assert_eq(head("", &h), 0);
}

Test(head, refuses_with_the_status_that_says_why)
{
    srv_http_head h;
    cr_assert_eq(head("GET / HTTP/2.0\r\n\r\n", &h), -SRV_EVERSION);
    cr_assert_eq(head("GET /\r\n\r\n", &h), -SRV_EINVAL);
    cr_assert_eq(head("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", &h),
                 -SRV_EINVAL);
    cr_assert_eq(head("GET / HTTP/1.1\r\n folded\r\n\r\n", &h), -SRV_EINVAL);
    cr_assert_eq(head("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", &h), -SRV_EINVAL);
    cr_assert_eq(head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &h),
                 -SRV_ENOTIMPL);
    cr_assert_eq(head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                      "Content-Length: 3\r\n\r\n",
                      &h),
                 -SRV_EINVAL);
    cr_assert_eq(head("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
                      "Content-Length: 4\r\n\r\n",
                      &h),
                 -SRV_EINVAL);
    cr_assert_eq(head("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &h),
                 -SRV_EINVAL);
    cr_assert_eq(head("GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", &h),
                 -SRV_EEXPECT);
}

Test(head, limits_are_431_and_414)
{
    srv_http_head h;
    size_t n = 20000;
    char *t = malloc(n + 64);

    /* A field over 8 KiB, complete or still coming. */
    strcpy(t, "GET / HTTP/1.1\r\nX-Big: ");
    memset(t + strlen(t), 'a', 9000);
    t[23 + 9000] = '\0';
    cr_assert_eq(head(t, &h), -SRV_EHEAD);
    strcat(t, "\r\n\r\n");
    cr_assert_eq(head(t, &h), -SRV_EHEAD);
    /* A field that fits Authorization's buffer only if cut. */
    strcpy(t, "GET / HTTP/1.1\r\nAuthorization: ");
    memset(t + strlen(t), 'a', 600);
    strcpy(t + 31 + 600, "\r\n\r\n");
    cr_assert_eq(head(t, &h), -SRV_EHEAD);
    /* A request target over 8 KiB. */
    strcpy(t, "GET /");
    memset(t + 5, 'a', 9000);
    t[5 + 9000] = '\0';
    cr_assert_eq(head(t, &h), -SRV_ETARGET);
    strcat(t, " HTTP/1.1\r\n\r\n");
    cr_assert_eq(head(t, &h), -SRV_ETARGET);
    /* Many fields under 8 KiB each, over 16 KiB together. */
    strcpy(t, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 20; i++) {
        size_t l = strlen(t);
        memcpy(t + l, "X-H: ", 5);
        memset(t + l + 5, 'b', 900);
        strcpy(t + l + 905, "\r\n");
    }
    cr_assert_eq(head(t, &h), -SRV_EHEAD);
    free(t);
}

Test(head, connection_and_version_decide_keep_alive)
{
    srv_http_head h;
    cr_assert_gt(head("GET / HTTP/1.0\r\n\r\n", &h), 0);
    cr_assert_not(h.keep_alive);
    cr_assert_gt(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h),
                 0);
    cr_assert(h.keep_alive);
    cr_assert_gt(head("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n", &h),
                 0);
    cr_assert_not(h.keep_alive);
}

static int target(const char *t, char *path, char *query, size_t *qlen)
{
    return srv_http_decode_target(t, strlen(t), path, 64, query, 64, qlen);
}

Test(target, decodes_path_and_query)
{
    char path[64], query[64];
    size_t ql;
    cr_assert_eq(target("/a%20b/c%C3%A9?x=1+2&y=%26&z&=v", path, query, &ql),
                 SRV_TARGET_OK);
    cr_assert_str_eq(path, "/a b/c\xC3\xA9");
    const char want[] = "x=1 2\0y=&\0z\0=v";
    cr_assert_eq(ql, sizeof want);
    cr_assert_eq(memcmp(query, want, ql), 0);
    /* An encoded '=' in a name cannot end it. */
    cr_assert_eq(target("/?a%3Db=c", path, query, &ql), SRV_TARGET_OK);
    cr_assert_str_eq(query, "a_b=c");
}

Test(target, refuses_nul_bad_escapes_and_bad_utf8)
{
    char path[64], query[64];
    size_t ql;
    cr_assert_eq(target("/dashboard/%00..", path, query, &ql), SRV_TARGET_NUL);
    cr_assert_eq(target("/a%zz", path, query, &ql), SRV_TARGET_BAD);
    cr_assert_eq(target("/a%4", path, query, &ql), SRV_TARGET_BAD);
    cr_assert_eq(target("a", path, query, &ql), SRV_TARGET_BAD);
    cr_assert_eq(target("/%ff", path, query, &ql), SRV_TARGET_UTF8);
    cr_assert_eq(target("/%c0%af", path, query, &ql), SRV_TARGET_UTF8);
    cr_assert_eq(target("/%ed%a0%80", path, query, &ql), SRV_TARGET_UTF8);
    cr_assert_eq(target("/?s=a%00b", path, query, &ql), SRV_TARGET_QUERY_NUL);
    cr_assert_eq(target("/?s%00=a", path, query, &ql), SRV_TARGET_QUERY_NUL);
    cr_assert_eq(target("/?s=%ff", path, query, &ql), SRV_TARGET_QUERY_UTF8);
    char longp[200];
    memset(longp, 'a', sizeof longp);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    cr_assert_eq(target(longp, path, query, &ql), SRV_TARGET_LONG);
    longp[0] = '?';
    char q[202] = "/";
    strcat(q, longp);
    cr_assert_eq(target(q, path, query, &ql), SRV_TARGET_LONG);
}

Test(form, decodes_and_refuses_nul)
{
    char out[32];
    cr_assert_eq(srv_form_decode("a+b%7C", 6, out), 4);
    cr_assert_str_eq(out, "a b|");
    cr_assert_eq(srv_form_decode("a%00b", 5, out), -1);
    cr_assert_eq(srv_form_decode("a\0b", 3, out), -1);
    cr_assert_eq(srv_form_decode("a%", 2, out), -1);
    cr_assert_eq(srv_form_decode("%fe", 3, out), -2);
}

static int feed_all(srv_chunked *c, const char *in, size_t len, char *out,
                    size_t step, size_t *consumed)
{
    size_t off = 0;
    int rc = SRV_CHUNKED_MORE;
    while (off < len && rc == SRV_CHUNKED_MORE) {
        size_t n = len - off < step ? len - off : step, used = 0;
        rc = srv_chunked_feed(c, in + off, n, out, &used);
        off += used;
    }
    *consumed = off;
    return rc;
}

Test(chunked, decodes_in_any_split)
{
    static const char enc[] = "5;x=1\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n"
                              "0\r\nTrailer: t\r\n\r\nNEXT";
    for (size_t step = 1; step <= sizeof enc; step++) {
        srv_chunked c;
        char out[64];
        size_t used;
        srv_chunked_init(&c, sizeof out);
        cr_assert_eq(feed_all(&c, enc, sizeof enc - 1, out, step, &used),
                     SRV_CHUNKED_DONE, "step %zu", step);
        cr_assert_eq(c.total, 12);
        cr_assert_eq(memcmp(out, "hello world!", 12), 0);
        cr_assert_str_eq(enc + used, "NEXT");
    }
}

Test(chunked, refuses_malformed_framing)
{
    static const char *const bad[] = {
        "zz\r\nab\r\n0\r\n\r\n", "2\r\nabXY0\r\n\r\n",     "2\nab\r\n0\r\n\r\n",
        "-2\r\nab\r\n0\r\n\r\n", "ffffffffffffffffff\r\n", "\r\n",
        "2\r\nab\r\n0\r\n\n",    "2 x\r\nab\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srv_chunked c;
        char out[64];
        size_t used;
        srv_chunked_init(&c, sizeof out);
        cr_assert_eq(srv_chunked_feed(&c, bad[i], strlen(bad[i]), out, &used),
                     SRV_CHUNKED_BAD, "%s", bad[i]);
    }
}

Test(chunked, refuses_a_body_over_the_limit_before_its_bytes)
{
    srv_chunked c;
    char out[8];
    size_t used;
    srv_chunked_init(&c, sizeof out);
    cr_assert_eq(srv_chunked_feed(&c, "9\r\n", 3, out, &used),
                 SRV_CHUNKED_TOO_LARGE);
    srv_chunked_init(&c, sizeof out);
    cr_assert_eq(srv_chunked_feed(&c, "5\r\nabcde\r\n4\r\n", 13, out, &used),
                 SRV_CHUNKED_TOO_LARGE);
    cr_assert_eq(c.total, 5);
}
