/*
 * fieldsel.c - a field path or an expression (see fieldsel.h).
 */
#include "fieldsel.h"

#include "exprerr.h"
#include "fieldpath.h"
#include "flow/error.h"

#include <stdio.h>
#include <string.h>

bool fieldsel_is_path(const char *text)
{
    size_t first = strcspn(text, ".");
    if (!*text || (first == 7 && !strncmp(text, "payload", 7)) ||
        (first == 7 && !strncmp(text, "headers", 7)))
        return false;
    bool empty = true;
    for (const char *p = text; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (empty)
                return false;
            empty = true;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '_' || c == '-') {
            empty = false;
        } else {
            return false;
        }
    }
    return !empty;
}

int fieldsel_init(struct fieldsel *s, const char *text, char *why,
                  size_t whysize)
{
    flow_expr_error err;
    memset(s, 0, sizeof(*s));
    flow_expr_scratch_init(&s->sc);
    flow_buf_init(&s->val);
    if (fieldsel_is_path(text)) {
        s->path = text;
        return 0;
    }
    if (flow_expr_compile(text, strlen(text), &s->expr, &err) == 0)
        return 0;
    flow_expr_error_caret(text, &err, why, whysize);
    return -1;
}

void fieldsel_fini(struct fieldsel *s)
{
    flow_expr_free(&s->expr);
    flow_expr_scratch_fini(&s->sc);
    flow_buf_fini(&s->val);
}

int fieldsel_find(struct fieldsel *s, const char *opt, const flow_event *ev,
                  flow_mp_value *v, char *why, size_t whysize)
{
    flow_expr_error err;
    flow_expr_value x;
    flow_mp_reader r;
    if (s->path)
        return fieldpath_find(ev->payload, ev->payload_len, s->path, v);
    if (flow_expr_eval(s->expr, ev, &s->sc, &x, &err)) {
        exprerr_reason(why, whysize, opt, s->expr, &err);
        return -FLOW_EINVAL;
    }
    if (x.type == FLOW_EXPR_NIL)
        return -FLOW_ENOTFOUND;
    flow_buf_reset(&s->val);
    flow_expr_value_write(&x, &s->val);
    if (s->val.err)
        return s->val.err;
    flow_mp_reader_init(&r, s->val.data, s->val.len);
    return flow_mp_read_object(&r, v);
}
