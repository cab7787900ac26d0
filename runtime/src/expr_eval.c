/*
 * The expression evaluator: the per-event path. It walks the tree that
 * expr.c built, reads the payload's top-level fields the expression names
 * in one pass over the map (skipping the others undecoded) and nested
 * fields by lookup, and allocates only from the caller's scratch arena.
 * Every operand is type-checked: a mismatch is an error with the offset of
 * the operator, never undefined behaviour.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "expr_impl.h"
#include "flow/error.h"

typedef struct estate {
    const flow_expr *e;
    const flow_event *ev;
    flow_expr_scratch *sc;
    flow_expr_error *err;
    bool scanned;
    flow_expr_type payload_type; /* after the scan */
    flow_expr_value slots[XSLOTS_MAX];
} estate;

static int efail(estate *s, uint32_t off, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int efail(estate *s, uint32_t off, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s->err->code = code;
    s->err->offset = off;
    vsnprintf(s->err->message, sizeof(s->err->message), fmt, ap);
    va_end(ap);
    return -code;
}

static const char *tn(const flow_expr_value *v)
{
    return flow_expr_type_name(v->type);
}

static int bad_payload(estate *s, uint32_t off)
{
    return efail(s, off, FLOW_EXPR_EPAYLOAD,
                 "the payload is not well-formed msgpack");
}

/* ---- The payload -------------------------------------------------- */

static int read_item(flow_mp_reader *r, flow_expr_value *out)
{
    flow_mp_value m;
    int rc = flow_mp_read_object(r, &m);
    if (rc)
        return rc;
    return flow__expr_from_mp(&m, out) ? -FLOW_EMALFORMED : 0;
}

static int whole_payload(estate *s, uint32_t off, flow_expr_value *out)
{
    flow_mp_reader r;
    if (s->ev->payload_len == 0) {
        *out = (flow_expr_value){ .type = FLOW_EXPR_NIL };
        return 0;
    }
    flow_mp_reader_init(&r, s->ev->payload, s->ev->payload_len);
    if (read_item(&r, out))
        return bad_payload(s, off);
    return 0;
}

/* After a key that is a container header: skips its elements. */
static int skip_elements(flow_mp_reader *r, const flow_mp_value *k)
{
    if (k->type != FLOW_MP_ARRAY && k->type != FLOW_MP_MAP)
        return 0;
    uint64_t n = (uint64_t)k->len * (k->type == FLOW_MP_MAP ? 2 : 1);
    for (uint64_t q = 0; q < n; q++)
        if (flow_mp_skip(r))
            return -1;
    return 0;
}

static inline uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * The msgpack items payloads are mostly made of, decoded inline: returns
 * the bytes the item takes with *out set, or 0 when it is another kind
 * (or truncated), which the caller leaves to flow_mp_read.
 */
static inline size_t fast_item(const uint8_t *p, const uint8_t *end,
                               flow_expr_value *out)
{
    size_t left = (size_t)(end - p);
    uint8_t c = *p;
    size_t n;
    if (c <= 0x7f || c >= 0xe0) {
        *out = (flow_expr_value){ .type = FLOW_EXPR_INT, .i = (int8_t)c };
        if (c <= 0x7f)
            out->i = c;
        return 1;
    }
    if ((c & 0xe0) == 0xa0) {
        n = c & 0x1f;
        if (n + 1 > left)
            return 0;
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                  .len = (uint32_t)n,
                                  .s = (const char *)p + 1 };
        return n + 1;
    }
    static const uint8_t width[16] = {
        [0x0] = 2, [0x1] = 3, [0x2] = 5, [0x3] = 9,
        [0x4] = 2, [0x5] = 3, [0x6] = 5, [0x7] = 9
    };
    if (c >= 0xcc && c <= 0xd3) {
        n = width[c - 0xcc];
        if (n > left)
            return 0;
        uint64_t u = be(p + 1, (int)n - 1);
        int64_t i;
        if (c <= 0xcf) {
            if (u > (uint64_t)INT64_MAX)
                return 0;
            i = (int64_t)u;
        } else {
            int bits = 8 * ((int)n - 1);
            i = bits == 64 ? (int64_t)u
                           : (int64_t)(u ^ (1ull << (bits - 1))) -
                                 (int64_t)(1ull << (bits - 1));
        }
        *out = (flow_expr_value){ .type = FLOW_EXPR_INT, .i = i };
        return n;
    }
    switch (c) {
    case 0xc0:
        *out = (flow_expr_value){ .type = FLOW_EXPR_NIL };
        return 1;
    case 0xc2:
    case 0xc3:
        *out = (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = c == 0xc3 };
        return 1;
    case 0xcb:
        if (left < 9)
            return 0;
        uint64_t u = be(p + 1, 8);
        double d;
        memcpy(&d, &u, 8);
        *out = (flow_expr_value){ .type = FLOW_EXPR_DOUBLE, .d = d };
        return 9;
    case 0xd9:
        if (left < 2 || (size_t)p[1] + 2 > left)
            return 0;
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                  .len = p[1],
                                  .s = (const char *)p + 2 };
        return (size_t)p[1] + 2;
    }
    return 0;
}

/* The bytes of a common item (as fast_item), without decoding it; 0 for
 * another kind. */
static inline size_t fast_skip(const uint8_t *p, const uint8_t *end)
{
    size_t left = (size_t)(end - p), n;
    uint8_t c = *p;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
        return 1;
    if ((c & 0xe0) == 0xa0)
        n = (size_t)(c & 0x1f) + 1;
    else if (c >= 0xcc && c <= 0xd3)
        n = (size_t)1 + (1u << ((c - 0xcc) & 3));
    else if (c == 0xcb)
        n = 9;
    else if (c == 0xca)
        n = 5;
    else if (c == 0xd9 && left >= 2)
        n = (size_t)p[1] + 2;
    else
        return 0;
    return n <= left ? n : 0;
}

/*
 * The one pass: reads the map's keys, decodes the values of the fields
 * the expression names into slots and skips the rest; stops once every
 * slot is filled. Short keys and scalar values are read inline; the
 * rest goes through flow_mp_read.
 */
static int scan(estate *s, uint32_t off)
{
    const flow_expr *e = s->e;
    flow_mp_reader r;
    flow_mp_value m, k;
    flow_expr_value tmp;
    uint32_t left = e->nslots, count;
    s->scanned = true;
    for (uint32_t i = 0; i < e->nslots; i++)
        s->slots[i].type = FLOW_EXPR_NIL;
    if (s->ev->payload_len == 0) {
        s->payload_type = FLOW_EXPR_NIL;
        return 0;
    }
    flow_mp_reader_init(&r, s->ev->payload, s->ev->payload_len);
    if ((*r.p & 0xf0) == 0x80) {
        count = *r.p++ & 0x0f;
    } else {
        if (flow_mp_read(&r, &m))
            return bad_payload(s, off);
        if (m.type != FLOW_MP_MAP) {
            s->payload_type = m.type == FLOW_MP_NIL     ? FLOW_EXPR_NIL
                              : m.type == FLOW_MP_ARRAY ? FLOW_EXPR_LIST
                              : m.type == FLOW_MP_STR   ? FLOW_EXPR_STR
                              : m.type == FLOW_MP_BOOL  ? FLOW_EXPR_BOOL
                              : m.type == FLOW_MP_FLOAT ? FLOW_EXPR_DOUBLE
                                                        : FLOW_EXPR_INT;
            return 0;
        }
        count = m.len;
    }
    s->payload_type = FLOW_EXPR_MAP;
    for (uint32_t i = 0; i < count && left; i++) {
        const char *key = NULL;
        size_t klen = 0;
        if (r.p < r.end && (*r.p & 0xe0) == 0xa0 &&
            (size_t)(*r.p & 0x1f) < flow_mp_remaining(&r)) {
            klen = *r.p & 0x1f;
            key = (const char *)r.p + 1;
            r.p += 1 + klen;
        } else {
            if (flow_mp_read(&r, &k))
                return bad_payload(s, off);
            if (k.type == FLOW_MP_STR) {
                key = k.str;
                klen = k.len;
            } else if (skip_elements(&r, &k)) {
                return bad_payload(s, off);
            }
        }
        uint32_t j = e->nslots;
        /* Most keys differ in length from every slot's name. */
        if (key && (klen >= 32 || (e->slot_lens >> klen & 1)))
            for (j = 0; j < e->nslots; j++)
                if (e->slot_len[j] == klen &&
                    (klen == 0 || (e->slot_name[j][0] == key[0] &&
                                   memcmp(e->slot_name[j], key, klen) == 0)))
                    break;
        bool want = j < e->nslots && s->slots[j].type == FLOW_EXPR_NIL;
        flow_expr_value *dst = want ? &s->slots[j] : &tmp;
        size_t n = r.p >= r.end ? 0
                   : want       ? fast_item(r.p, r.end, dst)
                                : fast_skip(r.p, r.end);
        if (n) {
            r.p += n;
        } else if (want) {
            if (read_item(&r, dst))
                return bad_payload(s, off);
        } else if (flow_mp_skip(&r)) {
            return bad_payload(s, off);
        }
        if (want && dst->type != FLOW_EXPR_NIL)
            left--;
    }
    return 0;
}

/* Looks a key up in a raw map: 0 (found or not: nil), or an error. */
static int map_get(estate *s, uint32_t off, const flow_expr_value *map,
                   const char *key, size_t klen, flow_expr_value *out)
{
    flow_mp_reader r;
    flow_mp_value m, k;
    *out = (flow_expr_value){ .type = FLOW_EXPR_NIL };
    flow_mp_reader_init(&r, map->raw, map->raw_len);
    if (flow_mp_read(&r, &m) || m.type != FLOW_MP_MAP)
        return bad_payload(s, off);
    for (uint32_t i = 0; i < m.len; i++) {
        if (flow_mp_read(&r, &k) || skip_elements(&r, &k))
            return bad_payload(s, off);
        if (k.type == FLOW_MP_STR && k.len == klen &&
            memcmp(k.str, key, klen) == 0)
            return read_item(&r, out) ? bad_payload(s, off) : 0;
        if (flow_mp_skip(&r))
            return bad_payload(s, off);
    }
    return 0;
}

/* Iterates a list, raw or built. */
typedef struct liter {
    const flow_expr_value *v;
    uint32_t i;
    flow_mp_reader r;
} liter;

static int liter_init(liter *it, const flow_expr_value *v)
{
    flow_mp_value m;
    it->v = v;
    it->i = 0;
    if (!v->raw)
        return 0;
    flow_mp_reader_init(&it->r, v->raw, v->raw_len);
    return flow_mp_read(&it->r, &m);
}

/* 1 and *out set, 0 at the end, < 0 on a malformed payload. */
static int liter_next(liter *it, flow_expr_value *out)
{
    if (it->i >= it->v->len)
        return 0;
    it->i++;
    if (!it->v->raw) {
        *out = it->v->items[it->i - 1];
        return 1;
    }
    return read_item(&it->r, out) ? -1 : 1;
}

/* ---- Helpers ------------------------------------------------------ */

static bool is_num(const flow_expr_value *v)
{
    return v->type == FLOW_EXPR_INT || v->type == FLOW_EXPR_DOUBLE;
}

static double num(const flow_expr_value *v)
{
    return v->type == FLOW_EXPR_INT ? (double)v->i : v->d;
}

/* Deep equality; -1 on a malformed payload. */
static int equal(const flow_expr_value *a, const flow_expr_value *b)
{
    if (a->type == FLOW_EXPR_INT && b->type == FLOW_EXPR_INT)
        return a->i == b->i;
    if (is_num(a) && is_num(b))
        return num(a) == num(b);
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case FLOW_EXPR_NIL:
        return 1;
    case FLOW_EXPR_BOOL:
        return a->b == b->b;
    case FLOW_EXPR_STR:
        return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    case FLOW_EXPR_MAP:
        return a->raw_len == b->raw_len &&
               memcmp(a->raw, b->raw, a->raw_len) == 0;
    case FLOW_EXPR_LIST: {
        liter ia, ib;
        flow_expr_value x, y;
        if (a->len != b->len)
            return 0;
        if (liter_init(&ia, a) || liter_init(&ib, b))
            return -1;
        for (;;) {
            int ra = liter_next(&ia, &x), rb = liter_next(&ib, &y);
            if (ra < 0 || rb < 0)
                return -1;
            if (ra == 0)
                return 1;
            int q = equal(&x, &y);
            if (q <= 0)
                return q;
        }
    }
    default:
        return 0;
    }
}

static bool utf8_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

/* Code points in s[0..n). */
static size_t cp_count(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !utf8_cont((unsigned char)s[i]);
    return k;
}

/* The byte offset of code point idx (n when idx is the count). */
static size_t cp_offset(const char *s, size_t n, size_t idx)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!utf8_cont((unsigned char)s[i])) {
            if (k == idx)
                return i;
            k++;
        }
    }
    return n;
}

static int text_of(estate *s, uint32_t off, const flow_expr_value *v,
                   const char **t, size_t *n)
{
    int rc = flow_expr_value_text(v, s->sc, t, n);
    if (rc == -FLOW_EXPR_ELIMIT)
        return efail(s, off, FLOW_EXPR_ELIMIT,
                     "the scratch space of %u bytes is used up",
                     FLOW_EXPR_MAX_SCRATCH);
    if (rc == -FLOW_EXPR_EPAYLOAD)
        return bad_payload(s, off);
    if (rc)
        return efail(s, off, -rc, "cannot write a %s as text", tn(v));
    return 0;
}

static void *salloc(estate *s, uint32_t off, size_t n)
{
    void *p = flow__expr_alloc(s->sc, n);
    if (!p)
        efail(s, off, FLOW_EXPR_ELIMIT,
              "the scratch space of %u bytes is used up",
              FLOW_EXPR_MAX_SCRATCH);
    return p;
}

static const char *opname(int op)
{
    switch (op) {
    case X_EQ:
        return "==";
    case X_NE:
        return "!=";
    case X_LT:
        return "<";
    case X_LE:
        return "<=";
    case X_GT:
        return ">";
    case X_GE:
        return ">=";
    case X_ADD:
        return "+";
    case X_SUB:
        return "-";
    case X_MUL:
        return "*";
    case X_DIV:
        return "/";
    case X_MOD:
        return "%";
    default:
        return "?";
    }
}

/* ---- Evaluation --------------------------------------------------- */

static int eval(estate *s, const xnode *x, flow_expr_value *out);

/* An operand by reference when it is a literal or a slot already read (no
 * copy), else evaluated into tmp. */
static inline int operand(estate *s, const xnode *x, flow_expr_value *tmp,
                          const flow_expr_value **v)
{
    if (x->op == X_LIT) {
        *v = &x->lit;
        return 0;
    }
    if (x->op == X_SLOT && s->scanned && s->payload_type == FLOW_EXPR_MAP) {
        *v = &s->slots[x->slot];
        return 0;
    }
    *v = tmp;
    return eval(s, x, tmp);
}

static int order_bool(estate *s, const xnode *x, bool *out)
{
    flow_expr_value ta, tb;
    const flow_expr_value *a, *b;
    int rc = operand(s, x->a, &ta, &a);
    if (rc || (rc = operand(s, x->b, &tb, &b)))
        return rc;
    int c;
    if (a->type == FLOW_EXPR_INT && b->type == FLOW_EXPR_INT) {
        c = (a->i > b->i) - (a->i < b->i);
    } else if (is_num(a) && is_num(b)) {
        double p = num(a), q = num(b);
        if (isnan(p) || isnan(q)) {
            *out = false;
            return 0;
        }
        c = (p > q) - (p < q);
    } else if (a->type == FLOW_EXPR_STR && b->type == FLOW_EXPR_STR) {
        size_t n = a->len < b->len ? a->len : b->len;
        c = memcmp(a->s, b->s, n);
        if (c == 0)
            c = (a->len > b->len) - (a->len < b->len);
    } else if (a->type == FLOW_EXPR_NIL || b->type == FLOW_EXPR_NIL) {
        /* As in SpEL: null is less than any value, and equal to null. */
        c = (b->type == FLOW_EXPR_NIL) - (a->type == FLOW_EXPR_NIL);
    } else {
        return efail(s, x->off, FLOW_EXPR_ETYPE,
                     "'%s' cannot compare a %s with a %s", opname(x->op), tn(a),
                     tn(b));
    }
    bool r = x->op == X_LT   ? c < 0
             : x->op == X_LE ? c <= 0
             : x->op == X_GT ? c > 0
                             : c >= 0;
    *out = r;
    return 0;
}

/* a == b, a != b. */
static int eq_bool(estate *s, const xnode *x, bool *out)
{
    flow_expr_value ta, tb;
    const flow_expr_value *a, *b;
    int rc;
    if ((rc = operand(s, x->a, &ta, &a)) || (rc = operand(s, x->b, &tb, &b)))
        return rc;
    if (a->type == FLOW_EXPR_STR && b->type == FLOW_EXPR_STR)
        rc = a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    else
        rc = equal(a, b);
    if (rc < 0)
        return bad_payload(s, x->off);
    *out = (rc == 1) == (x->op == X_EQ);
    return 0;
}

static int concat(estate *s, const xnode *x, const flow_expr_value *a,
                  const flow_expr_value *b, flow_expr_value *out)
{
    const char *p, *q;
    size_t pn, qn;
    int rc = text_of(s, x->off, a, &p, &pn);
    if (rc || (rc = text_of(s, x->off, b, &q, &qn)))
        return rc;
    if (pn + qn > UINT32_MAX)
        return efail(s, x->off, FLOW_EXPR_ELIMIT, "the string is too long");
    char *r = salloc(s, x->off, pn + qn + 1);
    if (!r)
        return -FLOW_EXPR_ELIMIT;
    memcpy(r, p, pn);
    memcpy(r + pn, q, qn);
    r[pn + qn] = '\0';
    *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                              .len = (uint32_t)(pn + qn),
                              .s = r };
    return 0;
}

static int arith(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value a, b;
    int rc = eval(s, x->a, &a);
    if (rc || (rc = eval(s, x->b, &b)))
        return rc;
    if (x->op == X_ADD && (a.type == FLOW_EXPR_STR || b.type == FLOW_EXPR_STR))
        return concat(s, x, &a, &b, out);
    if (!is_num(&a) || !is_num(&b))
        return efail(s, x->off,
                     a.type == FLOW_EXPR_NIL || b.type == FLOW_EXPR_NIL
                         ? FLOW_EXPR_ENULL
                         : FLOW_EXPR_ETYPE,
                     "'%s' needs numbers%s, not a %s and a %s", opname(x->op),
                     x->op == X_ADD ? " or a string" : "", tn(&a), tn(&b));
    if ((x->op == X_DIV || x->op == X_MOD) &&
        ((b.type == FLOW_EXPR_INT && b.i == 0) ||
         (b.type == FLOW_EXPR_DOUBLE && b.d == 0)))
        return efail(s, x->off, FLOW_EXPR_EARG, "division by zero");
    if (a.type == FLOW_EXPR_INT && b.type == FLOW_EXPR_INT) {
        int64_t r;
        bool ovf = false;
        switch (x->op) {
        case X_ADD:
            ovf = __builtin_add_overflow(a.i, b.i, &r);
            break;
        case X_SUB:
            ovf = __builtin_sub_overflow(a.i, b.i, &r);
            break;
        case X_MUL:
            ovf = __builtin_mul_overflow(a.i, b.i, &r);
            break;
        case X_DIV:
            ovf = a.i == INT64_MIN && b.i == -1;
            r = ovf ? 0 : a.i / b.i;
            break;
        default:
            r = (a.i == INT64_MIN && b.i == -1) ? 0 : a.i % b.i;
            break;
        }
        if (!ovf) {
            *out = (flow_expr_value){ .type = FLOW_EXPR_INT, .i = r };
            return 0;
        }
        /* An integer overflow goes on in double. */
    }
    double p = num(&a), q = num(&b), r;
    switch (x->op) {
    case X_ADD:
        r = p + q;
        break;
    case X_SUB:
        r = p - q;
        break;
    case X_MUL:
        r = p * q;
        break;
    case X_DIV:
        r = p / q;
        break;
    default:
        r = fmod(p, q);
        break;
    }
    *out = (flow_expr_value){ .type = FLOW_EXPR_DOUBLE, .d = r };
    return 0;
}

/*
 * Evaluates x as a condition of `what` (the operator at off, or NULL for
 * the whole expression): the logic and the comparisons directly to a
 * bool, anything else through eval and then checked to be a boolean.
 */
static int need_bool(estate *s, const xnode *x, uint32_t off, const char *what,
                     bool *b)
{
    flow_expr_value v;
    int rc;
    switch (x->op) {
    case X_AND:
    case X_OR: {
        const char *w = x->op == X_AND ? "and" : "or";
        if ((rc = need_bool(s, x->a, x->off, w, b)))
            return rc;
        if (*b == (x->op == X_OR))
            return 0;
        return need_bool(s, x->b, x->off, w, b);
    }
    case X_NOT:
        if ((rc = need_bool(s, x->a, x->off, "not", b)))
            return rc;
        *b = !*b;
        return 0;
    case X_EQ:
    case X_NE:
        return eq_bool(s, x, b);
    case X_LT:
    case X_LE:
    case X_GT:
    case X_GE:
        return order_bool(s, x, b);
    default:
        break;
    }
    if ((rc = eval(s, x, &v)))
        return rc;
    if (v.type != FLOW_EXPR_BOOL && !what)
        return efail(s, 0, FLOW_EXPR_ETYPE,
                     "the expression gave %s %s, not a boolean",
                     v.type == FLOW_EXPR_INT ? "an" : "a", tn(&v));
    if (v.type != FLOW_EXPR_BOOL)
        return efail(
            s, off, v.type == FLOW_EXPR_NIL ? FLOW_EXPR_ENULL : FLOW_EXPR_ETYPE,
            "%s needs a boolean, not a %s", what, tn(&v));
    *b = v.b;
    return 0;
}

static int property(estate *s, const xnode *x, const flow_expr_value *base,
                    const char *name, size_t n, flow_expr_value *out)
{
    if (base->type == FLOW_EXPR_NIL) {
        if (x->nullsafe) {
            *out = *base;
            return 0;
        }
        return efail(s, x->off, FLOW_EXPR_ENULL,
                     "cannot read '%.*s' of null (write ?. to allow null)",
                     (int)(n > 60 ? 60 : n), name);
    }
    if (base->type != FLOW_EXPR_MAP)
        return efail(s, x->off, FLOW_EXPR_ETYPE,
                     "cannot read '%.*s' of a %s (only a map has fields)",
                     (int)(n > 60 ? 60 : n), name, tn(base));
    return map_get(s, x->off, base, name, n, out);
}

static int slot_value(estate *s, const xnode *x, flow_expr_value *out)
{
    int rc;
    if (!s->scanned && (rc = scan(s, x->off)))
        return rc;
    if (s->payload_type != FLOW_EXPR_MAP) {
        flow_expr_value p = { .type = s->payload_type };
        return property(s, x, &p, x->lit.s, x->lit.len, out);
    }
    *out = s->slots[x->slot];
    return 0;
}

static int header_value(estate *s, const xnode *x, flow_expr_value *out)
{
    const flow_event *ev = s->ev;
    switch (x->flag) {
    case H_TYPE:
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                  .len = ev->type_len,
                                  .s = ev->type ? ev->type : "" };
        break;
    case H_KEY:
        if (ev->key)
            *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                      .len = ev->key_len,
                                      .s = ev->key };
        else
            *out = (flow_expr_value){ .type = FLOW_EXPR_NIL };
        break;
    case H_ID:
        *out = (flow_expr_value){ .type = FLOW_EXPR_INT,
                                  .i = (int64_t)(ev->id & INT64_MAX) };
        break;
    case H_TS:
        *out = (flow_expr_value){ .type = FLOW_EXPR_INT, .i = ev->ts_us };
        break;
    default:
        *out = (flow_expr_value){ .type = FLOW_EXPR_INT,
                                  .i = (int64_t)(ev->seq & INT64_MAX) };
        break;
    }
    return 0;
}

static int list_at(estate *s, uint32_t off, const flow_expr_value *l, int64_t i,
                   flow_expr_value *out)
{
    if (i < 0 || (uint64_t)i >= l->len)
        return efail(s, off, FLOW_EXPR_EARG,
                     "index %" PRId64 " is outside the list of %u", i, l->len);
    if (!l->raw) {
        *out = l->items[i];
        return 0;
    }
    liter it;
    if (liter_init(&it, l))
        return bad_payload(s, off);
    for (int64_t k = 0; k <= i; k++)
        if (liter_next(&it, out) <= 0)
            return bad_payload(s, off);
    return 0;
}

static int index_(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value a, i;
    int rc = eval(s, x->a, &a);
    if (rc || (rc = eval(s, x->b, &i)))
        return rc;
    if (a.type == FLOW_EXPR_NIL && x->nullsafe) {
        *out = a;
        return 0;
    }
    if (a.type == FLOW_EXPR_MAP || a.type == FLOW_EXPR_NIL) {
        if (i.type != FLOW_EXPR_STR)
            return efail(s, x->off, FLOW_EXPR_ETYPE,
                         "a map is indexed by a string, not a %s", tn(&i));
        return property(s, x, &a, i.s, i.len, out);
    }
    if (i.type != FLOW_EXPR_INT)
        return efail(s, x->off, FLOW_EXPR_ETYPE,
                     "a %s is indexed by an int, not a %s", tn(&a), tn(&i));
    if (a.type == FLOW_EXPR_LIST)
        return list_at(s, x->off, &a, i.i, out);
    if (a.type == FLOW_EXPR_STR) {
        size_t n = cp_count(a.s, a.len);
        if (i.i < 0 || (uint64_t)i.i >= n)
            return efail(s, x->off, FLOW_EXPR_EARG,
                         "index %" PRId64 " is outside the string of %zu", i.i,
                         n);
        size_t b = cp_offset(a.s, a.len, (size_t)i.i);
        size_t e = cp_offset(a.s, a.len, (size_t)i.i + 1);
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                  .len = (uint32_t)(e - b),
                                  .s = a.s + b };
        return 0;
    }
    return efail(s, x->off, FLOW_EXPR_ETYPE, "a %s cannot be indexed", tn(&a));
}

static int list_lit(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value *items = NULL;
    if (x->nargs) {
        items = salloc(s, x->off, x->nargs * sizeof(*items));
        if (!items)
            return -FLOW_EXPR_ELIMIT;
    }
    for (uint32_t i = 0; i < x->nargs; i++) {
        int rc = eval(s, x->args[i], &items[i]);
        if (rc)
            return rc;
    }
    *out = (flow_expr_value){ .type = FLOW_EXPR_LIST,
                              .len = x->nargs,
                              .items = items };
    return 0;
}

static int str_arg(estate *s, const xnode *x, uint32_t k, const char *m,
                   flow_expr_value *v)
{
    int rc = eval(s, x->args[k], v);
    if (rc)
        return rc;
    if (v->type != FLOW_EXPR_STR)
        return efail(s, x->args[k]->off, FLOW_EXPR_ETYPE,
                     "%s() needs a string argument, not a %s", m, tn(v));
    return 0;
}

static int int_arg(estate *s, const xnode *x, uint32_t k, const char *m,
                   int64_t *i)
{
    flow_expr_value v;
    int rc = eval(s, x->args[k], &v);
    if (rc)
        return rc;
    if (v.type != FLOW_EXPR_INT)
        return efail(s, x->args[k]->off, FLOW_EXPR_ETYPE,
                     "%s() needs an int argument, not a %s", m, tn(&v));
    *i = v.i;
    return 0;
}

static const char *const method_names[] = {
    [M_LENGTH] = "length",       [M_SIZE] = "size",
    [M_ISEMPTY] = "isEmpty",     [M_UPPER] = "toUpperCase",
    [M_LOWER] = "toLowerCase",   [M_CONTAINS] = "contains",
    [M_STARTS] = "startsWith",   [M_ENDS] = "endsWith",
    [M_SUBSTRING] = "substring", [M_SPLIT] = "split",
    [M_TRIM] = "trim",           [M_INDEXOF] = "indexOf",
    [M_TOSTRING] = "toString",
};

static int split(estate *s, const xnode *x, const flow_expr_value *a,
                 flow_expr_value *out)
{
    flow_expr_value sep;
    int rc = str_arg(s, x, 0, "split", &sep);
    if (rc)
        return rc;
    if (sep.len == 0)
        return efail(s, x->args[0]->off, FLOW_EXPR_EARG,
                     "split() needs a separator that is not empty");
    size_t n = 1;
    for (size_t i = 0; i + sep.len <= a->len;) {
        if (memcmp(a->s + i, sep.s, sep.len) == 0) {
            n++;
            i += sep.len;
        } else {
            i++;
        }
    }
    flow_expr_value *items = salloc(s, x->off, n * sizeof(*items));
    if (!items)
        return -FLOW_EXPR_ELIMIT;
    size_t k = 0, start = 0;
    for (size_t i = 0; i + sep.len <= a->len;) {
        if (memcmp(a->s + i, sep.s, sep.len) == 0) {
            items[k++] = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                            .len = (uint32_t)(i - start),
                                            .s = a->s + start };
            i += sep.len;
            start = i;
        } else {
            i++;
        }
    }
    items[k++] = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                    .len = (uint32_t)(a->len - start),
                                    .s = a->s + start };
    /* As Java's String.split: trailing empty strings are dropped. */
    while (k > 0 && items[k - 1].len == 0 && a->len > 0)
        k--;
    *out = (flow_expr_value){ .type = FLOW_EXPR_LIST,
                              .len = (uint32_t)k,
                              .items = items };
    return 0;
}

static int method(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value a, b;
    const char *m = method_names[x->flag];
    int rc = eval(s, x->a, &a);
    if (rc)
        return rc;
    if (a.type == FLOW_EXPR_NIL) {
        if (x->nullsafe) {
            *out = a;
            return 0;
        }
        return efail(s, x->off, FLOW_EXPR_ENULL,
                     "cannot call %s() on null (write ?. to allow null)", m);
    }
    if (x->flag == M_TOSTRING) {
        const char *t;
        size_t n;
        if ((rc = text_of(s, x->off, &a, &t, &n)))
            return rc;
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                  .len = (uint32_t)n,
                                  .s = t };
        return 0;
    }
    if (x->flag == M_SIZE || x->flag == M_ISEMPTY) {
        if (a.type != FLOW_EXPR_STR && a.type != FLOW_EXPR_LIST &&
            a.type != FLOW_EXPR_MAP)
            return efail(s, x->off, FLOW_EXPR_ETYPE,
                         "%s() needs a string, list or map, not a %s", m,
                         tn(&a));
        int64_t n = a.type == FLOW_EXPR_STR ? (int64_t)cp_count(a.s, a.len)
                                            : (int64_t)a.len;
        *out = x->flag == M_SIZE
                   ? (flow_expr_value){ .type = FLOW_EXPR_INT, .i = n }
                   : (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = n == 0 };
        return 0;
    }
    if (x->flag == M_CONTAINS && a.type == FLOW_EXPR_LIST) {
        liter it;
        flow_expr_value v;
        if ((rc = eval(s, x->args[0], &b)))
            return rc;
        if (liter_init(&it, &a))
            return bad_payload(s, x->off);
        while ((rc = liter_next(&it, &v)) > 0) {
            int q = equal(&v, &b);
            if (q < 0)
                return bad_payload(s, x->off);
            if (q) {
                *out = (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = true };
                return 0;
            }
        }
        if (rc < 0)
            return bad_payload(s, x->off);
        *out = (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = false };
        return 0;
    }
    if (a.type != FLOW_EXPR_STR)
        return efail(s, x->off, FLOW_EXPR_ETYPE,
                     "%s() needs a string%s, not a %s", m,
                     x->flag == M_CONTAINS ? " or a list" : "", tn(&a));
    switch (x->flag) {
    case M_LENGTH:
        *out = (flow_expr_value){ .type = FLOW_EXPR_INT,
                                  .i = (int64_t)cp_count(a.s, a.len) };
        return 0;
    case M_UPPER:
    case M_LOWER: {
        char *r = salloc(s, x->off, (size_t)a.len + 1);
        if (!r)
            return -FLOW_EXPR_ELIMIT;
        for (uint32_t i = 0; i < a.len; i++) {
            char c = a.s[i];
            if (x->flag == M_UPPER && c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            else if (x->flag == M_LOWER && c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            r[i] = c;
        }
        r[a.len] = '\0';
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR, .len = a.len, .s = r };
        return 0;
    }
    case M_CONTAINS:
    case M_STARTS:
    case M_ENDS:
    case M_INDEXOF: {
        if ((rc = str_arg(s, x, 0, m, &b)))
            return rc;
        bool r = false;
        int64_t at = -1;
        if (x->flag == M_STARTS) {
            r = b.len <= a.len && memcmp(a.s, b.s, b.len) == 0;
        } else if (x->flag == M_ENDS) {
            r = b.len <= a.len && memcmp(a.s + a.len - b.len, b.s, b.len) == 0;
        } else {
            const char *f = b.len == 0 ? a.s : memmem(a.s, a.len, b.s, b.len);
            r = f != NULL;
            if (f)
                at = (int64_t)cp_count(a.s, (size_t)(f - a.s));
        }
        if (x->flag == M_INDEXOF)
            *out = (flow_expr_value){ .type = FLOW_EXPR_INT, .i = at };
        else
            *out = (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = r };
        return 0;
    }
    case M_SUBSTRING: {
        int64_t from, to;
        int64_t n = (int64_t)cp_count(a.s, a.len);
        if ((rc = int_arg(s, x, 0, m, &from)))
            return rc;
        to = n;
        if (x->nargs == 2 && (rc = int_arg(s, x, 1, m, &to)))
            return rc;
        if (from < 0 || to > n || from > to)
            return efail(s, x->off, FLOW_EXPR_EARG,
                         "substring(%" PRId64 ", %" PRId64
                         ") is outside the string of %" PRId64,
                         from, to, n);
        size_t b0 = cp_offset(a.s, a.len, (size_t)from);
        size_t b1 = cp_offset(a.s, a.len, (size_t)to);
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                  .len = (uint32_t)(b1 - b0),
                                  .s = a.s + b0 };
        return 0;
    }
    case M_SPLIT:
        return split(s, x, &a, out);
    case M_TRIM: {
        uint32_t b0 = 0, b1 = a.len;
        while (b0 < b1 && (unsigned char)a.s[b0] <= ' ')
            b0++;
        while (b1 > b0 && (unsigned char)a.s[b1 - 1] <= ' ')
            b1--;
        *out = (flow_expr_value){ .type = FLOW_EXPR_STR,
                                  .len = b1 - b0,
                                  .s = a.s + b0 };
        return 0;
    }
    }
    return efail(s, x->off, FLOW_EXPR_ETYPE, "unknown method");
}

/* Walks a JSON path ($.a.b, $['a'][0]) into v; a missing step is null. */
static int jsonpath(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value v, p;
    int rc = eval(s, x->args[0], &v);
    if (rc || (rc = eval(s, x->args[1], &p)))
        return rc;
    size_t bad;
    if (p.type != FLOW_EXPR_STR)
        return efail(s, x->args[1]->off, FLOW_EXPR_ETYPE,
                     "#jsonPath() needs a path string, not a %s", tn(&p));
    if (flow__expr_jsonpath_check(p.s, p.len, &bad))
        return efail(s, x->args[1]->off, FLOW_EXPR_EARG,
                     "bad JSON path '%.*s' at byte %zu",
                     (int)(p.len > 60 ? 60 : p.len), p.s, bad);
    size_t i = 1;
    while (i < p.len && v.type != FLOW_EXPR_NIL) {
        const char *name = NULL;
        size_t n = 0;
        int64_t idx = -1;
        if (p.s[i] == '.') {
            name = p.s + ++i;
            while (i < p.len && p.s[i] != '.' && p.s[i] != '[')
                i++;
            n = (size_t)(p.s + i - name);
        } else {
            i++;
            if (p.s[i] == '\'' || p.s[i] == '"') {
                char q = p.s[i++];
                name = p.s + i;
                while (p.s[i] != q)
                    i++;
                n = (size_t)(p.s + i - name);
                i++;
            } else {
                idx = 0;
                while (p.s[i] >= '0' && p.s[i] <= '9' && idx < INT32_MAX)
                    idx = idx * 10 + (p.s[i++] - '0');
                while (p.s[i] >= '0' && p.s[i] <= '9')
                    i++;
            }
            i++;
        }
        flow_expr_value next = { .type = FLOW_EXPR_NIL };
        if (name && v.type == FLOW_EXPR_MAP) {
            if ((rc = map_get(s, x->off, &v, name, n, &next)))
                return rc;
        } else if (!name && v.type == FLOW_EXPR_LIST && idx < v.len) {
            if ((rc = list_at(s, x->off, &v, idx, &next)))
                return rc;
        }
        v = next;
    }
    *out = v;
    return 0;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int hash(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value v;
    uint64_t h = 0xcbf29ce484222325ull;
    int rc = eval(s, x->args[0], &v);
    if (rc)
        return rc;
    unsigned char b[8];
    uint64_t u;
    switch (v.type) {
    case FLOW_EXPR_NIL:
        break;
    case FLOW_EXPR_BOOL:
        b[0] = v.b;
        h = fnv(h, b, 1);
        break;
    case FLOW_EXPR_INT:
    case FLOW_EXPR_DOUBLE:
        if (v.type == FLOW_EXPR_INT)
            u = (uint64_t)v.i;
        else
            memcpy(&u, &v.d, 8);
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)(u >> (8 * i));
        h = fnv(h, b, 8);
        break;
    case FLOW_EXPR_STR:
        h = fnv(h, v.s, v.len);
        break;
    default: {
        const char *t;
        size_t n;
        if ((rc = text_of(s, x->off, &v, &t, &n)))
            return rc;
        h = fnv(h, t, n);
        break;
    }
    }
    *out = (flow_expr_value){ .type = FLOW_EXPR_INT,
                              .i = (int64_t)(h & INT64_MAX) };
    return 0;
}

static int func(estate *s, const xnode *x, flow_expr_value *out)
{
    switch (x->flag) {
    case F_JSONPATH:
        return jsonpath(s, x, out);
    case F_NOW: {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *out = (flow_expr_value){ .type = FLOW_EXPR_INT,
                                  .i = (int64_t)ts.tv_sec * 1000 +
                                       ts.tv_nsec / 1000000 };
        return 0;
    }
    default:
        return hash(s, x, out);
    }
}

static int matches(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value a;
    int rc = eval(s, x->a, &a);
    if (rc)
        return rc;
    if (a.type != FLOW_EXPR_STR)
        return efail(s, x->off,
                     a.type == FLOW_EXPR_NIL ? FLOW_EXPR_ENULL
                                             : FLOW_EXPR_ETYPE,
                     "matches needs a string on its left, not a %s", tn(&a));
    if (!s->sc->match) {
        s->sc->match = pcre2_match_data_create(1, NULL);
        if (!s->sc->match)
            return efail(s, x->off, FLOW_EXPR_ENOMEM, "out of memory");
    }
    rc = pcre2_match(x->re, (PCRE2_SPTR)a.s, a.len, 0, 0, s->sc->match, NULL);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        return efail(s, x->off, FLOW_EXPR_EARG, "matches: %s",
                     (const char *)msg);
    }
    *out = (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = rc >= 0 };
    return 0;
}

static int instance(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value a;
    int rc = eval(s, x->a, &a);
    if (rc)
        return rc;
    bool r;
    switch (x->flag) {
    case T_STRING:
        r = a.type == FLOW_EXPR_STR;
        break;
    case T_INT:
        r = a.type == FLOW_EXPR_INT;
        break;
    case T_DOUBLE:
        r = a.type == FLOW_EXPR_DOUBLE;
        break;
    case T_NUMBER:
        r = is_num(&a);
        break;
    case T_BOOL:
        r = a.type == FLOW_EXPR_BOOL;
        break;
    case T_LIST:
        r = a.type == FLOW_EXPR_LIST;
        break;
    default:
        r = a.type == FLOW_EXPR_MAP;
        break;
    }
    *out = (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = r };
    return 0;
}

static int eval(estate *s, const xnode *x, flow_expr_value *out)
{
    flow_expr_value a;
    bool c;
    int rc;
    switch (x->op) {
    case X_LIT:
        *out = x->lit;
        return 0;
    case X_SLOT:
        return slot_value(s, x, out);
    case X_PAYLOAD:
        return whole_payload(s, x->off, out);
    case X_HEADER:
        return header_value(s, x, out);
    case X_PROP:
        if ((rc = eval(s, x->a, &a)))
            return rc;
        return property(s, x, &a, x->lit.s, x->lit.len, out);
    case X_INDEX:
        return index_(s, x, out);
    case X_LIST:
        return list_lit(s, x, out);
    case X_NEG:
        if ((rc = eval(s, x->a, &a)))
            return rc;
        if (a.type == FLOW_EXPR_INT && a.i != INT64_MIN)
            *out = (flow_expr_value){ .type = FLOW_EXPR_INT, .i = -a.i };
        else if (is_num(&a))
            *out = (flow_expr_value){ .type = FLOW_EXPR_DOUBLE, .d = -num(&a) };
        else
            return efail(s, x->off,
                         a.type == FLOW_EXPR_NIL ? FLOW_EXPR_ENULL
                                                 : FLOW_EXPR_ETYPE,
                         "'-' needs a number, not a %s", tn(&a));
        return 0;
    case X_NOT:
    case X_AND:
    case X_OR:
    case X_EQ:
    case X_NE:
    case X_LT:
    case X_LE:
    case X_GT:
    case X_GE:
        if ((rc = need_bool(s, x, x->off, "?", &c)))
            return rc;
        *out = (flow_expr_value){ .type = FLOW_EXPR_BOOL, .b = c };
        return 0;
    case X_ADD:
    case X_SUB:
    case X_MUL:
    case X_DIV:
    case X_MOD:
        return arith(s, x, out);
    case X_TERNARY:
        if ((rc = need_bool(s, x->a, x->off, "the condition of ?:", &c)))
            return rc;
        return eval(s, c ? x->b : x->c, out);
    case X_ELVIS:
        if ((rc = eval(s, x->a, out)))
            return rc;
        if (out->type == FLOW_EXPR_NIL ||
            (out->type == FLOW_EXPR_STR && out->len == 0))
            return eval(s, x->b, out);
        return 0;
    case X_MATCHES:
        return matches(s, x, out);
    case X_INSTANCE:
        return instance(s, x, out);
    case X_METHOD:
        return method(s, x, out);
    case X_FUNC:
        return func(s, x, out);
    default:
        return efail(s, x->off, FLOW_EXPR_ETYPE, "headers is not a value");
    }
}

static void estate_init(estate *s, const flow_expr *e, const flow_event *ev,
                        flow_expr_scratch *sc, flow_expr_error *err)
{
    s->e = e;
    s->ev = ev;
    s->sc = sc;
    s->err = err;
    s->scanned = false;
    if (sc->used)
        flow__expr_scratch_reset(sc);
}

int flow_expr_eval(const flow_expr *e, const flow_event *ev,
                   flow_expr_scratch *sc, flow_expr_value *out,
                   flow_expr_error *err)
{
    flow_expr_error dummy;
    estate s;
    estate_init(&s, e, ev, sc, err ? err : &dummy);
    int rc = eval(&s, e->root, out);
    if (rc)
        *out = (flow_expr_value){ .type = FLOW_EXPR_NIL };
    return rc;
}

int flow_expr_eval_bool(const flow_expr *e, const flow_event *ev,
                        flow_expr_scratch *sc, bool *out, flow_expr_error *err)
{
    flow_expr_error dummy;
    estate s;
    estate_init(&s, e, ev, sc, err ? err : &dummy);
    return need_bool(&s, e->root, 0, NULL, out);
}
