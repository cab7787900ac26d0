/*
 * libFuzzer target: reading a stream file as flowctl apply does (the
 * stream language's reader, then each entry's text and offset map), with
 * every diagnostic printed (to a null stream), on any bytes.
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
        /* Offsets of the text sent, spread over it, and its end map
         * into the file (each mapping parses the text again: a few per
         * entry keep a run fast); the entry is the same definition as its
         * own text. */
        size_t n = strlen(f.v[i].def);
        size_t step = n / 7 + 1;
        for (size_t k = 0; k <= n; k += step)
            if (sf_map_offset(&f, &f.v[i], k) > size)
                abort();
        if (sf_map_offset(&f, &f.v[i], n) > size)
            abort();
        if (!sf_same_definition(&f.v[i], f.v[i].def))
            abort();
    }
    sf_fini(&f);
    return 0;
}
