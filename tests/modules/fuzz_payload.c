/*
 * libFuzzer target: what the apps do with untrusted bytes. A payload goes
 * through msgpack-to-JSON (the log sink), field lookups, value texts and
 * time parsing (the counters), and the same bytes are offered as an
 * account-events snapshot to restore. Any crash, leak or sanitizer report
 * fails the run.
 */
#include "acct_table.h"
#include "fieldpath.h"
#include "flow/mpjson.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[] = { "type", "account", "seq",       "ts",
                                         "tags", "a.b",     "nested.k.x" };
    flow_buf out;
    flow_buf_init(&out);
    (void)flow_mpjson_append(&out, data, size);
    flow_buf_fini(&out);

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        flow_mp_value v;
        if (fieldpath_find(data, size, paths[i], &v) != 0)
            continue;
        char buf[64];
        const char *s;
        int64_t t;
        (void)fieldpath_text(&v, buf, sizeof(buf), &s);
        (void)fieldpath_epoch_seconds(&v, &t);
        if (v.type == FLOW_MP_STR)
            (void)acct_event_parse(v.str, v.len);
    }

    struct acct_table tab;
    const char *why;
    acct_table_init(&tab, 1000);
    (void)acct_table_load(&tab, data, size, &why);
    acct_table_fini(&tab);
    return 0;
}
