/*
 * libFuzzer target: stream-file splitting, with every diagnostic printed
 * (to a null stream), on any bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sink)
        sink = fopen("/dev/null", "w");
    struct sf_file f = { .path = "fuzz.flow", .err = sink };
    f.text = malloc(size + 1);
    memcpy(f.text, data, size);
    f.text[size] = '\0';
    f.len = size;
    sf_parse(NULL, &f);
    for (size_t i = 0; i < f.n; i++) {
        /* The map covers every byte of the definition and its end. */
        size_t n = strlen(f.v[i].def);
        for (size_t k = 0; k <= n; k++)
            if (f.v[i].map[k] > size)
                abort();
    }
    sf_fini(&f);
    return 0;
}
