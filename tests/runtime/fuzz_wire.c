/*
 * libFuzzer target: the batch frame decoder and the control decoder on
 * arbitrary bytes. Every accepted frame is walked to its end and every
 * payload read field by field.
 */
#include <stddef.h>
#include <stdint.h>

#include "flow/control.h"
#include "flow/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    flow_frame f;
    if (flow_frame_parse(&f, data, size) == 0) {
        flow_event ev;
        while (flow_frame_next(&f, &ev)) {
            flow_mp_value v;
            (void)flow_event_get(&ev, "type", &v);
            (void)flow_event_get_int(&ev, "n", 0);
        }
    }
    flow_ctl_msg m;
    if (flow_ctl_decode(data, size, &m) == 0 && m.seconds) {
        flow_mp_reader r;
        flow_mp_reader_init(&r, m.seconds, m.seconds_len);
        int remaining = -1;
        flow_ctl_str k;
        uint64_t v;
        while (flow_ctl_next_pair(&r, &remaining, &k, &v) == 1)
            ;
    }
    return 0;
}
