/*
 * frames.h - how the tcp sink frames a payload on a byte stream: a string
 * (or bin) payload as its bytes, any other as JSON text, then a line end
 * (LF, CRLF) or, before it, its length as 4 bytes big-endian (L4).
 */
#ifndef FLOW_MODULES_FRAMES_H
#define FLOW_MODULES_FRAMES_H

#include "flow/mp.h"

#include <stddef.h>

enum frame_encoder { FRAME_LF, FRAME_CRLF, FRAME_L4 };

/* The encoder named (LF, CRLF, L4); -1 for another name. */
int frame_encoder_of(const char *name);

/* Appends the frame of the msgpack payload p to out. Returns 0,
 * -FLOW_EMALFORMED (not msgpack), -FLOW_ETOOBIG (over 4 GiB as L4) or
 * -FLOW_ENOMEM; on error out is as it was. */
int frame_append(flow_buf *out, enum frame_encoder enc, const void *p,
                 size_t len);

#endif
