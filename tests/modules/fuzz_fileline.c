/*
 * libFuzzer target: the file source's handling of the bytes of a file
 * (outside bytes). The input is split into lines as the source splits
 * them, each line made a payload (JSON to msgpack, or text), and the
 * payload checked to be one well-formed msgpack object that converts back
 * to JSON; the whole input is also made one payload (--mode=contents) and
 * offered as a position snapshot to restore. Any crash, leak, sanitizer
 * report or malformed payload fails the run.
 */
#include "fileline.h"
#include "flow/mpjson.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void payload(flow_buf *mp, flow_buf *json, const char *p, size_t n)
{
    bool is_json;
    flow_buf_reset(mp);
    flow_buf_reset(json);
    if (fileline_payload(mp, p, n, &is_json) != 0)
        abort(); /* only out of memory may fail, and it does not here */
    if (flow_mp_validate(mp->data, mp->len) != 0)
        abort();
    if (flow_mpjson_append(json, mp->data, mp->len) != 0)
        abort();
    /* What the file sink writes back for JSON is JSON again. */
    if (is_json) {
        flow_buf again;
        flow_buf_init(&again);
        if (fileline_json(&again, (const char *)json->data, json->len) != 0)
            abort();
        flow_buf_fini(&again);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    flow_buf mp, json;
    flow_buf_init(&mp);
    flow_buf_init(&json);
    size_t at = 0, took, len;
    while ((took = fileline_next(p + at, size - at, &len)) != 0) {
        if (took > size - at || len >= took)
            abort();
        payload(&mp, &json, p + at, len);
        at += took;
    }
    payload(&mp, &json, p + at, size - at);
    payload(&mp, &json, p, size);

    struct filepos pos;
    filepos_init(&pos);
    if (filepos_restore(&pos, data, size) == 0) {
        flow_buf_reset(&mp);
        filepos_snapshot(&pos, &mp);
        struct filepos back;
        filepos_init(&back);
        if (filepos_restore(&back, mp.data, mp.len) != 0 || back.n != pos.n)
            abort();
        filepos_fini(&back);
    }
    filepos_fini(&pos);
    flow_buf_fini(&mp);
    flow_buf_fini(&json);
    return 0;
}
