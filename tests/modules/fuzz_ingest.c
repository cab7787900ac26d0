/*
 * libFuzzer target: what the http and tcp sources do with outside bytes.
 * The input goes through the request head parser, every body decoder
 * (JSON, NDJSON, text, msgpack) and every frame decoder (LF, CRLF, L4),
 * fed whole and split at an input-chosen point as a network would. Any
 * crash, leak or sanitizer report fails the run.
 */
#include "ingest_decode.h"
#include "ingest_http.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(void *arg, const void *p, size_t len)
{
    /* Every payload must be one whole msgpack value. */
    if (flow_mp_validate(p, len) != 0)
        __builtin_trap();
    (*(size_t *)arg)++;
    return 0;
}

static void frames(ingest_framing f, const uint8_t *d, size_t n, size_t max)
{
    size_t pos = 0;
    for (;;) {
        const uint8_t *fr;
        size_t flen, used;
        int r = ingest_frame_next(f, d + pos, n - pos, max, &fr, &flen, &used);
        if (r <= 0)
            return;
        if (used == 0 || used > n - pos || flen > max || fr < d + pos ||
            fr + flen > d + pos + used)
            __builtin_trap();
        pos += used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ingest_head h;
    long n = ingest_http_head((const char *)data, size, &h);
    if (n > 0 && (size_t)n > size)
        __builtin_trap();
    /* A head that was complete stays the same with more bytes after. */
    if (size > 1)
        (void)ingest_http_head((const char *)data, size - 1, &h);

    flow_buf scratch;
    flow_buf_init(&scratch);
    for (int k = INGEST_BODY_JSON; k <= INGEST_BODY_MSGPACK; k++) {
        ingest_error err;
        size_t events = 0;
        (void)ingest_decode((ingest_body)k, data, size, &scratch, count,
                            &events, &err);
    }
    flow_buf_fini(&scratch);

    size_t max = size ? data[0] % 64 + 1 : 1;
    frames(INGEST_FRAME_LF, data, size, max);
    frames(INGEST_FRAME_CRLF, data, size, max);
    frames(INGEST_FRAME_L4, data, size, max);
    frames(INGEST_FRAME_L4, data, size, 1u << 20);
    return 0;
}
