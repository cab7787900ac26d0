#include "frames.h"

#include "flow/error.h"
#include "flow/mpjson.h"

#include <string.h>

int frame_encoder_of(const char *name)
{
    if (strcmp(name, "LF") == 0)
        return FRAME_LF;
    if (strcmp(name, "CRLF") == 0)
        return FRAME_CRLF;
    if (strcmp(name, "L4") == 0)
        return FRAME_L4;
    return -1;
}

int frame_append(flow_buf *out, enum frame_encoder enc, const void *p,
                 size_t len)
{
    size_t mark = out->len;
    if (enc == FRAME_L4)
        flow_buf_append(out, "\0\0\0\0", 4);
    size_t start = out->len;
    flow_mp_reader r;
    flow_mp_value v;
    flow_mp_reader_init(&r, p, len);
    int rc = flow_mp_read(&r, &v);
    if (rc == 0 && (v.type == FLOW_MP_STR || v.type == FLOW_MP_BIN) &&
        flow_mp_remaining(&r) == 0)
        flow_buf_append(out, v.str, v.len);
    else
        rc = flow_mpjson_append(out, p, len);
    if (rc == 0 && out->err)
        rc = out->err;
    size_t n = out->len - start;
    if (rc == 0 && enc == FRAME_L4 && n > 0xffffffffu)
        rc = -FLOW_ETOOBIG;
    if (rc < 0) {
        out->len = mark;
        return rc == -FLOW_ENOMEM || rc == -FLOW_ETOOBIG ? rc
                                                         : -FLOW_EMALFORMED;
    }
    if (enc == FRAME_L4) {
        out->data[mark] = (uint8_t)(n >> 24);
        out->data[mark + 1] = (uint8_t)(n >> 16);
        out->data[mark + 2] = (uint8_t)(n >> 8);
        out->data[mark + 3] = (uint8_t)n;
    } else if (enc == FRAME_CRLF) {
        flow_buf_append(out, "\r\n", 2);
    } else {
        flow_buf_append(out, "\n", 1);
    }
    if (out->err) {
        rc = out->err;
        out->len = mark;
        return rc;
    }
    return 0;
}
