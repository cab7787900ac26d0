/* Taps: a stream that starts with `:stream.label >` gets a lossless copy
 * of what app `label` of `stream` sends. flowd gives each instance of the
 * tapped app an output group for the tap stream, as for a consumer group
 * of a named destination (deploy/wiring.c), whichever of the two streams
 * is deployed first; the tap stream's first app reads those groups. A
 * slow tap stream slows the tapped app, as a slow consumer group slows a
 * destination's producer, and nothing is dropped. The PUB endpoint of
 * each app (--flow.tap) is for viewers only (flowctl tap, the dashboard),
 * which may drop and count what they drop. This file only says which app
 * a stream taps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

struct srv_tap {
    char stream[SRV_NAME_MAX + 16];
    char label[SRV_NAME_MAX + 16];
};

/* Is the source of st a tap (`:S.L` where a stream S exists)? Fills the
 * stream and label names. */
bool srv_tap_source(srv *s, srv_stream *st, char *stream, size_t slen,
                    char *label, size_t llen)
{
    if (!st->ast->source)
        return false;
    const char *name = st->ast->source->name;
    const char *dot = strchr(name, '.');
    if (!dot || strchr(dot + 1, '.'))
        return false;
    snprintf(stream, slen, "%.*s", (int)(dot - name), name);
    snprintf(label, llen, "%s", dot + 1);
    return srv_stream_find(s, stream) != NULL;
}

int srv_tap_open(srv *s, srv_stream *st, char *err, size_t errlen)
{
    srv_tap *t;

    if (st->tap)
        return 0;
    t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!srv_tap_source(s, st, t->stream, sizeof t->stream, t->label,
                        sizeof t->label)) {
        free(t);
        return 0;
    }
    st->tap = t;
    return 0;
}

void srv_tap_close(srv_stream *st)
{
    free(st->tap);
    st->tap = NULL;
}

srv_dapp *srv_tap_target(srv *s, const srv_stream *c)
{
    if (!c->tap)
        return NULL;
    srv_stream *src = srv_stream_find(s, c->tap->stream);
    return src && src->deployed && src != c ? srv_stream_app(src, c->tap->label)
                                            : NULL;
}

bool srv_tap_reads(const srv_stream *c, const srv_dapp *a)
{
    return c->tap && c->deployed && c->napps &&
           strcmp(c->tap->stream, a->stream->name) == 0 &&
           strcmp(c->tap->label, a->label) == 0;
}
