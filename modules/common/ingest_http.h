/*
 * ingest_http: the request head parser of the http source. It sees raw
 * bytes from the network and trusts none of them: it has hard limits on
 * the head's size and its number of fields, and answers "more bytes",
 * a head, or the HTTP status to refuse the request with.
 */
#ifndef INGEST_HTTP_H
#define INGEST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The whole request head (request line and fields). */
#define INGEST_HEAD_MAX (16 * 1024)
/* Header fields in one head. */
#define INGEST_FIELDS_MAX 64

typedef struct ingest_head {
    char method[8];
    char path[512];  /* the target without its query, as sent */
    char query[256]; /* the query after '?' as sent, "" when none */
    bool query_long; /* the query was cut to fit query */
    int minor;       /* HTTP/1.minor */
    bool keep_alive; /* after this request */
    bool chunked;    /* Transfer-Encoding other than identity */
    bool has_length;
    bool expect_continue; /* Expect: 100-continue */
    uint64_t content_length;
    char content_type[128];
    char authorization[512];
    char if_match[64]; /* If-Match as sent, "" when none */
} ingest_head;

/*
 * Parses the request head at the start of buf (len bytes so far).
 * Returns the head's length through its blank line when complete, 0 when
 * more bytes are needed, or minus the HTTP status that refuses it: -400
 * malformed, -431 head or a field too large or too many fields, -414 a
 * target over the path buffer (a longer query is cut, query_long), -505 not
 * HTTP/1.x.
 */
long ingest_http_head(const char *buf, size_t len, ingest_head *h);

#endif
