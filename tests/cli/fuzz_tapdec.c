/*
 * libFuzzer target: tap frames come from the network, so the decoder must
 * survive anything (no crash, no leak, output always valid JSON).
 */
#include <stdint.h>
#include <stdlib.h>

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
    json_t *out = json_array();
    long n = tap_decode("s", data, size, 0, out);
    if (n >= 0) {
        char *text = json_dumps(out, JSON_COMPACT);
        if (!text)
            abort(); /* every decoded event must be encodable JSON */
        free(text);
    }
    json_decref(out);
    return 0;
}
