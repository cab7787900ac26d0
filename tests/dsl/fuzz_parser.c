/*
 * libFuzzer target for the stream language: every input is parsed as one
 * definition and as a stream file; whatever parses must print, parse
 * back to an equal AST (the round-trip property), check and complete
 * without crashing, leaking or hanging. A broken property traps.
 */
#include "flow/dsl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static dsl_registry *registry(void)
{
    static dsl_registry *r;
    if (r)
        return r;
    static const char doc[] =
        "[{\"name\": \"load-sim\", \"role\": \"source\", \"options\": "
        "[{\"name\": \"rate\", \"type\": \"int\"}]},"
        "{\"name\": \"time\", \"role\": \"source\", \"options\": []},"
        "{\"name\": \"transform\", \"role\": \"processor\", \"options\": "
        "[{\"name\": \"expression\", \"type\": \"string\", \"required\": "
        "true}, {\"name\": \"f\", \"type\": \"float\"}, {\"name\": \"b\", "
        "\"type\": \"bool\"}, {\"name\": \"d\", \"type\": \"duration\"}]},"
        "{\"name\": \"log\", \"role\": \"sink\", \"options\": [{\"name\": "
        "\"level\", \"type\": \"enum\", \"values\": [\"INFO\", "
        "\"WARN\"]}]}]";
    r = dsl_registry_new();
    if (!r || dsl_registry_add_describe_array(r, doc, sizeof(doc) - 1, NULL))
        abort();
    return r;
}

static void round_trip(const dsl_stream *s)
{
    char *txt = dsl_stream_print(s);
    if (!txt)
        return;
    dsl_stream *again = NULL;
    dsl_errors e = { 0 };
    if (dsl_parse_stream(txt, strlen(txt), &again, &e) != 0 ||
        !dsl_stream_equal(s, again))
        __builtin_trap();
    char *j = dsl_stream_to_json(s);
    free(j);
    dsl_stream_destroy(&again);
    dsl_errors_fini(&e);
    free(txt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    dsl_check_ctx ctx = { .registry = registry() };
    dsl_errors e = { 0 };
    dsl_stream *s = NULL;
    if (dsl_parse_stream(text, size, &s, &e) == 0) {
        round_trip(s);
        dsl_check_stream(s, &ctx, text, size, &e);
        dsl_stream_destroy(&s);
    }
    for (size_t i = 0; i < e.n && i < 2; i++)
        free(dsl_error_format("in", text, size, &e.v[i]));
    dsl_errors_fini(&e);

    dsl_file *f = NULL;
    if (dsl_parse_file(text, size, &f, &e) == 0) {
        for (size_t i = 0; i < f->n_streams; i++)
            round_trip(f->streams[i]);
        dsl_check_file(f, &ctx, text, size, &e);
        free(dsl_file_print(f));
        dsl_file_destroy(&f);
    }
    dsl_errors_fini(&e);

    if (size < 96 && !memchr(text, '\0', size)) {
        dsl_completions c = { 0 };
        dsl_complete(text, size, registry(), &c);
        dsl_completions_fini(&c);
    }
    return 0;
}
