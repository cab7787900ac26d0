/*
 * The events of a tap frame (docs/wire.md) as JSON:
 *   [1, producer_label, instance, epoch, [event, ...]]
 *   event = [id, type, ts_us, key | nil, seq, payload(bin: one msgpack
 *            object)]
 */
#ifndef FLOWCTL_TAPDEC_H
#define FLOWCTL_TAPDEC_H

#include <stddef.h>

#include <jansson.h>

/* Appends one object per event of the frame (at most limit when limit >
 * 0) to the array out: {"stream", "app", "instance", "id", "type", "ts",
 * "key", "seq", "payload"}, the payload decoded from msgpack. Returns the
 * number appended, or -1 for a frame that does not follow the format. */
long tap_decode(const char *stream, const void *data, size_t len, long limit,
                json_t *out);

#endif
