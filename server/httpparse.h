/* The pure pieces of flowd's HTTP/1.1 server (http.c): the request head,
 * the request target's path and query, and chunked request bodies. They
 * see raw bytes from the network and trust none of them; each answers
 * either "more bytes, please", a result, or the error code (error.h, which
 * gives the HTTP status) to refuse the request with. */
#ifndef SRV_HTTPPARSE_H
#define SRV_HTTPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The whole request head (request line and header fields). */
#define SRV_HEAD_MAX (16 * 1024)
/* One header field line. */
#define SRV_FIELD_MAX (8 * 1024)
/* The request target as sent (path and query, still percent-encoded). */
#define SRV_TARGET_MAX (8 * 1024)

typedef struct srv_http_head {
    char method[16];
    const char *target; /* into the parsed buffer, not terminated */
    size_t target_len;
    int minor;       /* HTTP/1.minor */
    bool keep_alive; /* after this request */
    bool chunked;    /* Transfer-Encoding: chunked */
    bool expect_continue;
    bool has_length;
    uint64_t content_length;
    char content_type[128];
    char authorization[512];
} srv_http_head;

/*
 * Parses the request head at the start of buf. Returns the head's length
 * (through its blank line) when it is complete, 0 when more bytes are
 * needed, or the error code (error.h) that refuses it: -SRV_EINVAL (400)
 * for a malformed head, -SRV_ETARGET (414) for a request target over
 * SRV_TARGET_MAX, -SRV_EHEAD (431) for a field over SRV_FIELD_MAX or a
 * head over SRV_HEAD_MAX, -SRV_ENOTIMPL (501) for a transfer coding other
 * than chunked, -SRV_EVERSION (505) for a version other than HTTP/1.x,
 * -SRV_EEXPECT (417) for an Expect other than 100-continue. Values of
 * fields longer than head's buffers are refused with -SRV_EHEAD, never
 * cut.
 */
long srv_http_parse_head(const char *buf, size_t len, srv_http_head *head);

/* What srv_http_decode_target found wrong, if anything. */
enum {
    SRV_TARGET_OK = 0,
    SRV_TARGET_BAD,       /* not origin-form, or a bad %-escape */
    SRV_TARGET_NUL,       /* %00 in the path */
    SRV_TARGET_UTF8,      /* the decoded path is not UTF-8 */
    SRV_TARGET_QUERY_NUL, /* %00 in a query parameter */
    SRV_TARGET_QUERY_UTF8,
    SRV_TARGET_LONG, /* does not fit path or query */
};

/*
 * Decodes a request target "/path?query" into path (percent-decoded,
 * terminated) and query ("name=value" pairs, each decoded with '+' as a
 * space and terminated by '\0', *query_len bytes in all). Returns one of
 * SRV_TARGET_*.
 */
int srv_http_decode_target(const char *target, size_t len, char *path,
                           size_t path_size, char *query, size_t query_size,
                           size_t *query_len);

/* True when the n bytes at s are UTF-8 (no overlongs, no surrogates). */
bool srv_utf8_ok(const char *s, size_t n);

/*
 * Decodes one application/x-www-form-urlencoded component (a name or a
 * value) of n bytes into out (at least n + 1 bytes), terminated. Returns
 * its decoded length, or -1 for a %00 or a bad escape, -2 for bytes that
 * are not UTF-8.
 */
long srv_form_decode(const char *in, size_t n, char *out);

/* A chunked request body being decoded, fed as bytes arrive. */
typedef struct srv_chunked {
    int state;
    uint64_t left; /* bytes of the current chunk still to come */
    int digits;    /* of the chunk size read so far */
    size_t line;   /* bytes of the current size or trailer line */
    size_t max;    /* decoded bytes allowed */
    size_t total;  /* decoded bytes so far */
} srv_chunked;

enum {
    SRV_CHUNKED_MORE = 0,
    SRV_CHUNKED_DONE = 1,
    SRV_CHUNKED_BAD = -1,
    SRV_CHUNKED_TOO_LARGE = -2,
};

/* Starts decoding a body of at most max bytes. */
void srv_chunked_init(srv_chunked *c, size_t max);

/*
 * Feeds len bytes of the encoded body; appends what they decode to out,
 * which holds c->max bytes, at c->total. Sets *used to the bytes consumed
 * (on DONE, what follows belongs to the next request). Returns one of
 * SRV_CHUNKED_*; after BAD or TOO_LARGE the decoder must not be fed again.
 */
int srv_chunked_feed(srv_chunked *c, const char *in, size_t len, char *out,
                     size_t *used);

#endif
