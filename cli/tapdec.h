/*
 * The events of a tap frame (docs/wire.md) as JSON lines:
 *   [1, producer_label, instance, epoch, [event, ...]]
 *   event = [id, type, ts_us, key | nil, seq, payload(bin: one msgpack
 *            object)]
 */
#ifndef FLOWCTL_TAPDEC_H
#define FLOWCTL_TAPDEC_H

#include <stddef.h>

#include "flow/mp.h"

/*
 * Appends one line per event of the frame (at most limit when limit > 0)
 * to out: a compact JSON object {"stream", "app", "instance", "id",
 * "type", "ts", "key", "seq", "payload"} and a newline (app: the
 * producer, without a leading "STREAM." of this stream), the payload
 * decoded from msgpack by libflow's flow_mpjson_append (base64 when it is
 * not one msgpack object). The text is a bounded multiple of the frame's
 * size. Returns the number of events appended, -FLOW_EMALFORMED for a
 * frame that does not follow the format (out untouched), or -FLOW_ENOMEM.
 */
long tap_decode(const char *stream, const void *data, size_t len, long limit,
                flow_buf *out);

#endif
