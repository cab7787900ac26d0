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
    if (flow_ctl_decode(data, size, &m) == 0) {
        /* Every string and pair the decoder hands out is read whole, so a
         * pointer past the frame shows under the sanitizers. */
        volatile uint64_t sum = 0;
        const flow_ctl_str strs[] = { m.stream,   m.label,      m.app,  m.role,
                                      m.version,  m.kind,       m.name, m.port,
                                      m.endpoint, m.last_error, m.end };
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
            for (uint32_t j = 0; j < strs[i].len; j++)
                sum += (uint8_t)strs[i].ptr[j];
        const flow_ctl_pair *maps[] = { m.seconds, m.values };
        const uint32_t lens[] = { m.nseconds, m.nvalues };
        for (size_t i = 0; i < 2; i++)
            for (uint32_t j = 0; j < lens[i]; j++) {
                sum += maps[i][j].value;
                for (uint32_t c = 0; c < maps[i][j].key.len; c++)
                    sum += (uint8_t)maps[i][j].key.ptr[c];
            }
        (void)sum;
        flow_ctl_msg_fini(&m);
    }
    return 0;
}
