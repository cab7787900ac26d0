/*
 * libFuzzer target: tap frames come from the network, so the decoder must
 * survive anything (no crash, no leak, output always one JSON object per
 * event).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "flow/error.h"
#include "tapdec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed hash seed, so that a run with a fixed -seed is the same run. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    flow_buf text;
    flow_buf_init(&text);
    long n = tap_decode("s", data, size, 0, &text);
    /* The frame was checked before msgpack-c saw it: only memory may fail
     * past that check, and these inputs are small. */
    if (n == -FLOW_ENOMEM)
        abort();
    if (n < 0 && text.len != 0)
        abort(); /* a refused frame leaves the output untouched */
    /* One line per event, each JSON (integers above INT64_MAX read as
     * reals, since jansson holds integers as int64). */
    long lines = 0;
    for (size_t at = 0; at < text.len; lines++) {
        const char *line = (const char *)text.data + at;
        const char *nl = memchr(line, '\n', text.len - at);
        if (!nl)
            abort();
        json_t *ev = json_loadb(line, (size_t)(nl - line),
                                JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL);
        if (!json_is_object(ev))
            abort();
        json_decref(ev);
        at += (size_t)(nl - line) + 1;
    }
    if (lines != (n < 0 ? 0 : n))
        abort();
    flow_buf_fini(&text);
    return 0;
}
