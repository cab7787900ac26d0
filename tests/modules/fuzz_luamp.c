/*
 * libFuzzer target: the script processor's msgpack-to-Lua decoder on
 * untrusted bytes (an event's payload from outside). Bytes the decoder
 * takes are encoded back and decoded again, and the second encoding must
 * be as long as the first (the same values, whatever the order of map
 * entries). Any crash, leak or sanitizer report fails the run.
 */
#include "luascript.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const lscript_limits lim = { .max_instructions = 100000,
                                        .max_memory = 16u * 1024 * 1024 };
    char err[512];
    lscript *s = lscript_new(&lim, NULL, NULL, err, sizeof(err));
    if (!s)
        abort();
    lua_State *L = lscript_state(s);
    flow_buf a, b;
    flow_buf_init(&a);
    flow_buf_init(&b);
    if (lscript_push_msgpack(s, data, size, err, sizeof(err)) != 0)
        goto done;
    if (lscript_to_msgpack(s, -1, &a, err, sizeof(err)) != 0)
        goto done;
    lua_settop(L, 0);
    if (lscript_push_msgpack(s, a.data, a.len, err, sizeof(err)) != 0)
        abort(); /* what we encoded must decode */
    if (lscript_to_msgpack(s, -1, &b, err, sizeof(err)) != 0 || a.len != b.len)
        abort();

done:
    flow_buf_fini(&a);
    flow_buf_fini(&b);
    lscript_destroy(&s);
    return 0;
}
