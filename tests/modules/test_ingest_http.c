/*
 * Unit tests of the http source's request head parser: what it takes, and
 * that it refuses what is malformed or over its limits.
 */
#include <criterion/criterion.h>

#include "ingest_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long parse(const char *s, ingest_head *h)
{
    return ingest_http_head(s, strlen(s), h);
}

Test(ingest_http, a_post_with_its_fields)
{
    ingest_head h;
    const char *req = "POST /ingest?x=1 HTTP/1.1\r\nHost: a\r\n"
                      "content-length:  12 \r\nContent-Type: text/plain\r\n"
                      "Authorization: Bearer s3cret\r\n\r\nbody";
    long n = parse(req, &h);
    cr_assert_eq(n, (long)(strstr(req, "body") - req));
    cr_assert_str_eq(h.method, "POST");
    cr_assert_str_eq(h.path, "/ingest");
    cr_assert(h.has_length);
    cr_assert_eq(h.content_length, 12);
    cr_assert_str_eq(h.content_type, "text/plain");
    cr_assert_str_eq(h.authorization, "Bearer s3cret");
    cr_assert(h.keep_alive);
    cr_assert_not(h.chunked);
}

Test(ingest_http, more_bytes_and_connection_close)
{
    ingest_head h;
    cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\n", &h), 0);
    cr_assert_gt(parse("POST / HTTP/1.1\r\nConnection: Close\r\n\r\n", &h), 0);
    cr_assert_not(h.keep_alive);
    cr_assert_gt(parse("POST / HTTP/1.0\r\n\r\n", &h), 0);
    cr_assert_not(h.keep_alive);
    cr_assert_gt(
        parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 0);
    cr_assert(h.chunked);
}

Test(ingest_http, malformed_heads)
{
    ingest_head h;
    cr_assert_eq(parse("POST /\r\n\r\n", &h), -400);
    cr_assert_eq(parse("POST / HTTP/2.0\r\n\r\n", &h), -505);
    cr_assert_eq(parse("PO(ST / HTTP/1.1\r\n\r\n", &h), -400);
    cr_assert_eq(parse("POST / HTTP/1.1\r\nNoColon\r\n\r\n", &h), -400);
    cr_assert_eq(parse("POST / HTTP/1.1\r\nBad Name: x\r\n\r\n", &h), -400);
    cr_assert_eq(parse("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &h),
                 -400);
    cr_assert_eq(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\n"
                       "Content-Length: 2\r\n\r\n",
                       &h),
                 -400);
    cr_assert_eq(parse("POST / HTTP/1.1\r\nContent-Length: "
                       "99999999999999999999999\r\n\r\n",
                       &h),
                 -400);
}

Test(ingest_http, limits)
{
    ingest_head h;
    /* Too many fields. */
    char many[8192] = "POST / HTTP/1.1\r\n";
    for (int i = 0; i <= INGEST_FIELDS_MAX; i++)
        strcat(many, "X-A: 1\r\n");
    strcat(many, "\r\n");
    cr_assert_eq(parse(many, &h), -431);
    /* A head that never ends within the limit. */
    size_t big = INGEST_HEAD_MAX + 10;
    char *b = malloc(big);
    memset(b, 'a', big);
    memcpy(b, "POST / HTTP/1.1\r\nX: ", 20);
    cr_assert_eq(ingest_http_head(b, big, &h), -431);
    /* A long path. */
    memcpy(b, "POST /", 6);
    memset(b + 6, 'p', 1000);
    strcpy(b + 1006, " HTTP/1.1\r\n\r\n");
    cr_assert_eq(parse(b, &h), -414);
    free(b);
}

Test(ingest_http, query_and_if_match)
{
    ingest_head h;
    cr_assert_gt(parse("POST /v1/accounts/1/commands/confirm?a=1&b=2 HTTP/1.1"
                       "\r\nIf-Match: \"3\"\r\n\r\n",
                       &h),
                 0);
    cr_assert_str_eq(h.path, "/v1/accounts/1/commands/confirm");
    cr_assert_str_eq(h.query, "a=1&b=2");
    cr_assert_str_eq(h.if_match, "\"3\"");
    cr_assert_gt(parse("GET /x HTTP/1.1\r\n\r\n", &h), 0);
    cr_assert_str_eq(h.query, "");
    cr_assert_str_eq(h.if_match, "");
    char req[600];
    snprintf(req, sizeof(req), "GET /x?%0300d HTTP/1.1\r\n\r\n", 0);
    cr_assert_gt(parse(req, &h), 0);
    cr_assert(h.query_long);
    cr_assert_eq(strlen(h.query), sizeof(h.query) - 1);
}
