/*
 * time - emits the current time every --fixed-delay seconds, formatted
 * with --date-format (SCDF's time source). The payload is one msgpack
 * string, as SCDF's is a plain string.
 */
#include "apps.h"
#include "datefmt.h"

#include <inttypes.h>
#include <stdlib.h>

struct timesrc {
    const char *format;
    int64_t delay_us;
    int64_t next_us; /* when the next event is due; 0 = at once */
};

static const flow_option options[] = {
    { "fixed-delay", FLOW_OPT_INT, "1", false, NULL,
      "Seconds between two events." },
    { "date-format", FLOW_OPT_STRING, "MM/dd/yy HH:mm:ss", false, NULL,
      "How the time is written (Java SimpleDateFormat letters: yyyy MM dd "
      "HH mm ss SSS ...; UTC)." },
    { NULL, 0, NULL, false, NULL, NULL },
};

static int init(flow_ctx *ctx)
{
    const char *fmt = flow_opt_str(ctx, "date-format");
    int64_t delay = flow_opt_int(ctx, "fixed-delay");
    size_t pos;
    if (delay < 1 || delay > 86400 * 365) {
        flow_log(ctx,
                 "--fixed-delay=%" PRId64 " is out of range: give a "
                 "number of seconds from 1 to 31536000",
                 delay);
        return -FLOW_EOPTION;
    }
    if (datefmt_check(fmt, &pos) < 0) {
        flow_log(ctx,
                 "--date-format='%s': unsupported letter or unclosed "
                 "quote at offset %zu ('%c'); use yyyy, MM, dd, HH, "
                 "mm, ss, SSS, and quote literal text as 'T'",
                 fmt, pos, fmt[pos]);
        return -FLOW_EOPTION;
    }
    struct timesrc *s = calloc(1, sizeof(*s));
    if (!s)
        return -FLOW_ENOMEM;
    s->format = fmt;
    s->delay_us = delay * 1000000;
    flow_set_state(ctx, s);
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

static void fini(flow_ctx *ctx)
{
    free(flow_state(ctx));
    flow_set_state(ctx, NULL);
}

const flow_app_desc time_app = {
    .name = "time",
    .role = FLOW_ROLE_SOURCE,
    .description = "Emits the current time as a formatted string every "
                   "--fixed-delay seconds.",
    .options = options,
    .init = init,
    .on_tick = on_tick,
    .tick_us = 50000,
    .fini = fini,
};
