/*
 * libFuzzer target: tap frames come from the network, so the decoder must
 * survive anything (no crash, no leak, output always one JSON object per
 * event).
 */
#include <stdbool.h>
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

/*
 * True when line[0..n) is one JSON object. jansson reads integers above
 * INT64_MAX only as reals, and cannot hold a NUL in an object key, which
 * JSON allows (\u0000): such a line is read again with every \u0000 made
 * \u0001, which keeps valid JSON valid and invalid JSON invalid.
 */
static bool is_json_object(const char *line, size_t n)
{
    const size_t flags = JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL;
    json_error_t err;
    json_t *ev = json_loadb(line, n, flags, &err);
    if (!ev && json_error_code(&err) == json_error_null_byte_in_key) {
        char *copy = malloc(n ? n : 1);
        if (!copy)
            abort();
        memcpy(copy, line, n);
        for (size_t i = 0; i + 6 <= n; i++)
            if (memcmp(copy + i, "\\u0000", 6) == 0)
                copy[i + 5] = '1';
        ev = json_loadb(copy, n, flags, NULL);
        free(copy);
    }
    bool ok = json_is_object(ev);
    json_decref(ev);
    return ok;
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
    /* One line per event, each a JSON object. */
    long lines = 0;
    for (size_t at = 0; at < text.len; lines++) {
        const char *line = (const char *)text.data + at;
        const char *nl = memchr(line, '\n', text.len - at);
        if (!nl)
            abort();
        if (!is_json_object(line, (size_t)(nl - line)))
            abort();
        at += (size_t)(nl - line) + 1;
    }
    if (lines != (n < 0 ? 0 : n))
        abort();
    flow_buf_fini(&text);
    return 0;
}
