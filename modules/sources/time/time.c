/*
 * time - emits the current time every --fixed-delay seconds, formatted
 * with --date-format (SCDF's time source). The payload is one msgpack
 * string, as SCDF's is a plain string.
 */
#include "apps.h"
#include "datefmt.h"

#include <stdint.h>

struct timesrc {
    int64_t fixed_delay; /* --fixed-delay: seconds, 1 to 31536000 */
    const char *format;  /* --date-format */
    int64_t delay_us;
    int64_t next_us; /* when the next event is due; 0 = at once */
};

static const flow_option options[] = {
    { .name = "fixed-delay",
      .type = FLOW_OPT_INT,
      .def = "1",
      .min = "1",
      .max = "31536000",
      FLOW_OPT_FIELD(struct timesrc, fixed_delay),
      .description = "Seconds between two events." },
    { .name = "date-format",
      .type = FLOW_OPT_STRING,
      .def = "MM/dd/yy HH:mm:ss",
      FLOW_OPT_FIELD(struct timesrc, format),
      .description = "How the time is written (Java SimpleDateFormat "
                     "letters: yyyy MM dd HH mm ss SSS ...; UTC)." },
    { .name = NULL },
};

static int init(flow_ctx *ctx)
{
    struct timesrc *s = flow_state(ctx);
    size_t pos;
    if (datefmt_check(s->format, &pos) < 0) {
        flow_log(ctx,
                 "--date-format='%s': unsupported letter or unclosed "
                 "quote at offset %zu ('%c'); use yyyy, MM, dd, HH, "
                 "mm, ss, SSS, and quote literal text as 'T'",
                 s->format, pos, s->format[pos]);
        return -FLOW_EOPTION;
    }
    s->delay_us = s->fixed_delay * 1000000;
    return 0;
}

static int on_tick(flow_ctx *ctx)
{
    struct timesrc *s = flow_state(ctx);
    int64_t now = flow_clock_us();
    if (now < s->next_us)
        return FLOW_TICK_IDLE;
    if (flow_emit_room(ctx) == 0)
        return FLOW_TICK_MORE;
    char text[256];
    size_t n = datefmt_format(s->format, now / 1000, text, sizeof(text));
    if (n >= sizeof(text))
        n = sizeof(text) - 1;
    flow_buf *b = flow_payload_buf(ctx);
    flow_mp_put_str(b, text, n);
    if (b->err)
        return b->err;
    int rc = flow_emit(ctx, "time", NULL, now, b->data, b->len);
    if (rc < 0)
        return rc;
    /* Fixed delay: the next one comes a delay after this one. */
    s->next_us = now + s->delay_us;
    return FLOW_TICK_IDLE;
}

/* The checkpoint snapshot: the source's position, when its next event is
 * due (epoch microseconds), as one msgpack integer. */
static int snapshot(flow_ctx *ctx, flow_buf *out)
{
    struct timesrc *s = flow_state(ctx);
    flow_mp_put_int(out, s->next_us);
    return out->err;
}

static int restore(flow_ctx *ctx, const void *data, size_t len)
{
    struct timesrc *s = flow_state(ctx);
    flow_mp_reader r;
    flow_mp_value v;
    flow_mp_reader_init(&r, data, len);
    if (flow_mp_read(&r, &v) || v.type != FLOW_MP_INT || v.is_neg) {
        flow_log(ctx, "cannot restore: not a time snapshot");
        return -FLOW_EMALFORMED;
    }
    s->next_us = v.i;
    return 0;
}

const flow_app_desc time_app = {
    .name = "time",
    .role = FLOW_ROLE_SOURCE,
    .description = "Emits the current time as a formatted string every "
                   "--fixed-delay seconds.",
    .options = options,
    .state_size = sizeof(struct timesrc),
    .init = init,
    .on_tick = on_tick,
    .tick_us = 50000,
    .snapshot = snapshot,
    .restore = restore,
};
