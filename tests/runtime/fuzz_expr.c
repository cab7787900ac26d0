/*
 * libFuzzer target for the expression language: the compiler on any text
 * and the evaluator on any payload. The input is the expression, a NUL
 * byte, then the payload's msgpack bytes (no NUL: a fixed account-event
 * payload). Every result is also written as msgpack and as text, which
 * walks the values the evaluator made.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flow/expr.h"

static const uint8_t account[] = {
    0x85, 0xa4, 't',  'y', 'p',  'e',  0xb1, 'A',  'C',  'C',  'O',
    'U',  'N',  'T',  '_', 'D',  'E',  'P',  'O',  'S',  'I',  'T',
    'E',  'D',  0xa7, 'a', 'c',  'c',  'o',  'u',  'n',  't',  0x07,
    0xa3, 's',  'e',  'q', 0x03, 0xa2, 't',  's',  0xcd, 0x04, 0xd2,
    0xa6, 'a',  'm',  'o', 'u',  'n',  't',  0xcd, 0x05, 0xdc,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static flow_expr_scratch sc;
    const uint8_t *nul = memchr(data, 0, size);
    size_t elen = nul ? (size_t)(nul - data) : size;
    flow_expr *e = NULL;
    flow_expr_error err;
    if (flow_expr_compile((const char *)data, elen, &e, &err) != 0)
        return 0;
    flow_event ev = {
        .id = 1,
        .ts_us = 1700000000000000,
        .type = "ACCOUNT_DEPOSITED",
        .type_len = 17,
        .payload = nul ? nul + 1 : account,
        .payload_len =
            nul ? (uint32_t)(size - elen - 1) : (uint32_t)sizeof(account),
    };
    flow_expr_value v;
    if (flow_expr_eval(e, &ev, &sc, &v, &err) == 0) {
        flow_buf b;
        const char *t;
        size_t n;
        flow_buf_init(&b);
        flow_expr_value_write(&v, &b);
        flow_buf_fini(&b);
        (void)flow_expr_value_text(&v, &sc, &t, &n);
    } else {
        char caret[512];
        (void)flow_expr_error_caret(flow_expr_source(e), &err, caret,
                                    sizeof(caret));
    }
    bool b;
    (void)flow_expr_eval_bool(e, &ev, &sc, &b, &err);
    flow_expr_free(&e);
    return 0;
}
