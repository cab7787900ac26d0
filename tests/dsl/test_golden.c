/*
 * Golden diagnostics: each tests/dsl/golden/NAME.def (one definition) or
 * NAME.flow (a stream file) is parsed and checked against
 * tests/dsl/registry.json; the errors, formatted as flowctl validate
 * prints them (FILE:LINE:COL: error: MESSAGE, the line, the caret), must
 * equal NAME.err byte for byte. Run with FLOW_GOLDEN_UPDATE=1 to rewrite
 * the .err files after an intended change, then review the diff.
 */
#include "flow-config.h"
#include "helpers.h"

#include <dirent.h>

#define GOLDEN FLOW_SOURCE_DIR "/tests/dsl/golden"

static char *diagnose(const char *name, const char *text, size_t len,
                      bool file_mode, const dsl_registry *reg)
{
    dsl_errors e = { 0 };
    dsl_check_ctx ctx = { .registry = reg };
    if (file_mode) {
        dsl_file *f = NULL;
        if (dsl_parse_file(text, len, &f, &e) == 0)
            dsl_check_file(f, &ctx, text, len, &e);
        dsl_file_destroy(&f);
    } else {
        /* A .def file holds one definition and its final newline. */
        size_t n = len && text[len - 1] == '\n' ? len - 1 : len;
        dsl_stream *s = NULL;
        if (dsl_parse_stream(text, n, &s, &e) == 0)
            dsl_check_stream(s, &ctx, text, n, &e);
        dsl_stream_destroy(&s);
    }
    char *out = NULL;
    size_t olen = 0;
    FILE *m = open_memstream(&out, &olen);
    cr_assert_not_null(m);
    for (size_t i = 0; i < e.n; i++)
        dsl_error_print(m, name, text, len, &e.v[i]);
    fclose(m);
    dsl_errors_fini(&e);
    return out;
}

Test(golden, diagnostics)
{
    size_t rlen;
    char *rtxt = read_src(FLOW_SOURCE_DIR "/tests/dsl/registry.json", &rlen);
    dsl_registry *reg = dsl_registry_new();
    cr_assert_eq(dsl_registry_add_describe_array(reg, rtxt, rlen, NULL), 0);
    free(rtxt);
    bool update = getenv("FLOW_GOLDEN_UPDATE") != NULL;
    DIR *d = opendir(GOLDEN);
    cr_assert_not_null(d);
    struct dirent *de;
    size_t cases = 0, with_errors = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        bool def = n > 4 && !strcmp(de->d_name + n - 4, ".def");
        bool flow = n > 5 && !strcmp(de->d_name + n - 5, ".flow");
        if (!def && !flow)
            continue;
        char in[4096], exp[4096];
        snprintf(in, sizeof(in), "%s/%s", GOLDEN, de->d_name);
        snprintf(exp, sizeof(exp), "%s/%.*s.err", GOLDEN,
                 (int)(n - (def ? 4 : 5)), de->d_name);
        size_t len;
        char *text = read_src(in, &len);
        char *got = diagnose(de->d_name, text, len, flow, reg);
        if (update) {
            FILE *f = fopen(exp, "wb");
            cr_assert_not_null(f);
            fputs(got, f);
            fclose(f);
        }
        FILE *f = fopen(exp, "rb");
        cr_assert_not_null(f, "missing %s; this input gives:\n%s", exp, got);
        fclose(f);
        char *want = read_src(exp, NULL);
        cr_expect_str_eq(got, want, "%s differs", de->d_name);
        if (*want)
            with_errors++;
        cases++;
        free(want);
        free(got);
        free(text);
    }
    closedir(d);
    dsl_registry_destroy(&reg);
    cr_assert_geq(cases, 15, "only %zu golden cases", cases);
    cr_assert_geq(with_errors, 14);
}
