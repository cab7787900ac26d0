#include "funclib.h"
#include "fieldpath.h"

#include "flow/error.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A function name: [A-Za-z_][A-Za-z0-9_-]*, at most 128 bytes. */
static bool name_ok(const char *n, size_t len)
{
    if (len == 0 || len > 128)
        return false;
    for (size_t k = 0; k < len; k++) {
        char c = n[k];
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = (c >= '0' && c <= '9') || c == '-';
        if (!alpha && !(k > 0 && digit))
            return false;
    }
    return true;
}

int funclib_check(const flow_function_lib *lib, char *why, size_t whylen)
{
    if (!lib) {
        snprintf(why, whylen, "%s() returned NULL", FLOW_FUNCTIONS_SYMBOL);
        return -1;
    }
    /* The version first: the rest of the table is laid out as that
     * version says, which may not be this one. */
    if (lib->abi_version != FLOW_FUNCTION_ABI_VERSION) {
        snprintf(why, whylen,
                 "the library speaks function ABI version %u, this flow "
                 "speaks version %u; rebuild it against this flow's "
                 "flow/function.h",
                 (unsigned)lib->abi_version, FLOW_FUNCTION_ABI_VERSION);
        return -1;
    }
    if (lib->nfunctions == 0 || !lib->functions) {
        snprintf(why, whylen, "the library lists no functions");
        return -1;
    }
    for (size_t k = 0; k < lib->nfunctions; k++) {
        const flow_function *f = &lib->functions[k];
        if (!f->name || !name_ok(f->name, strlen(f->name))) {
            snprintf(why, whylen,
                     "function %zu of the library has %s name; a name is "
                     "[A-Za-z_][A-Za-z0-9_-]*, at most 128 bytes",
                     k + 1, f->name ? "a bad" : "no");
            return -1;
        }
        if (f->abi_version != FLOW_FUNCTION_ABI_VERSION) {
            snprintf(why, whylen,
                     "function '%s' speaks function ABI version %u, this "
                     "flow speaks version %u; rebuild the library against "
                     "this flow's flow/function.h",
                     f->name, (unsigned)f->abi_version,
                     FLOW_FUNCTION_ABI_VERSION);
            return -1;
        }
        if (!f->process) {
            snprintf(why, whylen, "function '%s' has no process callback",
                     f->name);
            return -1;
        }
        for (size_t j = 0; j < k; j++)
            if (strcmp(lib->functions[j].name, f->name) == 0) {
                snprintf(why, whylen, "the library lists function '%s' twice",
                         f->name);
                return -1;
            }
    }
    return 0;
}

int funclib_open(funclib *fl, const char *path, int fd, char *why,
                 size_t whylen)
{
    char procpath[64];
    const char *file = path;

    memset(fl, 0, sizeof *fl);
    if (fd >= 0) {
        snprintf(procpath, sizeof procpath, "/proc/self/fd/%d", fd);
        file = procpath;
    }
    dlerror();
    fl->handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!fl->handle) {
        const char *e = dlerror();
        snprintf(why, whylen, "cannot load %s: %s", path,
                 e ? e : "unknown error");
        return -1;
    }
    typedef const flow_function_lib *(*entry_fn)(void);
    entry_fn entry;
    void *sym = dlsym(fl->handle, FLOW_FUNCTIONS_SYMBOL);
    memcpy(&entry, &sym, sizeof entry);
    if (!entry) {
        snprintf(why, whylen,
                 "%s exports no %s(): a function library defines "
                 "'const flow_function_lib *%s(void)' (flow/function.h)",
                 path, FLOW_FUNCTIONS_SYMBOL, FLOW_FUNCTIONS_SYMBOL);
        goto fail;
    }
    fl->lib = entry();
    char e[512];
    if (funclib_check(fl->lib, e, sizeof e)) {
        snprintf(why, whylen, "%s: %s", path, e);
        goto fail;
    }
    return 0;
fail:
    dlclose(fl->handle);
    memset(fl, 0, sizeof *fl);
    return -1;
}

const flow_function *funclib_find(const funclib *fl, const char *name)
{
    for (size_t k = 0; fl->lib && k < fl->lib->nfunctions; k++)
        if (strcmp(fl->lib->functions[k].name, name) == 0)
            return &fl->lib->functions[k];
    return NULL;
}

void funclib_close(funclib *fl)
{
    if (fl->handle)
        dlclose(fl->handle);
    memset(fl, 0, sizeof *fl);
}

/* Appends s as a JSON string. */
static void json_str(flow_buf *b, const char *s)
{
    flow_buf_append(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            flow_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            flow_buf_append(b, esc, 6);
        } else {
            flow_buf_append(b, s, 1);
        }
    }
    flow_buf_append(b, "\"", 1);
}

int funclib_describe(const funclib *fl, flow_buf *out)
{
    char num[32];
    const flow_function_lib *lib = fl->lib;

    snprintf(num, sizeof num, "%u", (unsigned)lib->abi_version);
    flow_buf_append(out, "{\"abi_version\":", 15);
    flow_buf_append(out, num, strlen(num));
    flow_buf_append(out, ",\"name\":", 8);
    if (lib->name)
        json_str(out, lib->name);
    else
        flow_buf_append(out, "null", 4);
    const char *lsnap = lib->snapshot && lib->restore ? "true" : "false";
    flow_buf_append(out, ",\"snapshot\":", 12);
    flow_buf_append(out, lsnap, strlen(lsnap));
    flow_buf_append(out, ",\"functions\":[", 14);
    for (size_t k = 0; k < lib->nfunctions; k++) {
        const flow_function *f = &lib->functions[k];
        if (k)
            flow_buf_append(out, ",", 1);
        flow_buf_append(out, "{\"name\":", 8);
        json_str(out, f->name);
        flow_buf_append(out, ",\"description\":", 15);
        if (f->description)
            json_str(out, f->description);
        else
            flow_buf_append(out, "null", 4);
        const char *snap = f->snapshot && f->restore ? "true" : "false";
        flow_buf_append(out, ",\"snapshot\":", 12);
        flow_buf_append(out, snap, strlen(snap));
        flow_buf_append(out, "}", 1);
    }
    flow_buf_append(out, "]}", 3); /* with the NUL */
    if (out->err)
        return out->err;
    out->len--;
    return 0;
}

void funclib_actions_free(funclib_actions *a)
{
    for (size_t k = 0; k < a->n; k++) {
        free(a->v[k].value);
        free(a->v[k].fn);
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

int funclib_actions_parse(const char *text, funclib_actions *out, char *why,
                          size_t whylen)
{
    const char *p = text;

    memset(out, 0, sizeof *out);
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        size_t off = (size_t)(p - text);
        if (!colon || colon == p) {
            snprintf(why, whylen,
                     "--actions: expected VALUE:FUNCTION at offset %zu, "
                     "e.g. ACCOUNT_CREATED:on_created",
                     off);
            goto fail;
        }
        size_t vlen = (size_t)(colon - p);
        size_t flen = (size_t)(end - colon - 1);
        if (!name_ok(colon + 1, flen)) {
            snprintf(why, whylen,
                     "--actions: '%.*s' at offset %zu is not a function "
                     "name ([A-Za-z_][A-Za-z0-9_-]*)",
                     (int)flen, colon + 1, (size_t)(colon + 1 - text));
            goto fail;
        }
        if (funclib_actions_find(out, p, vlen)) {
            snprintf(why, whylen,
                     "--actions: action '%.*s' at offset %zu is mapped "
                     "twice",
                     (int)vlen, p, off);
            goto fail;
        }
        funclib_action *v = realloc(out->v, (out->n + 1) * sizeof *v);
        if (!v)
            goto oom;
        out->v = v;
        v[out->n].value = strndup(p, vlen);
        v[out->n].len = vlen;
        v[out->n].fn = strndup(colon + 1, flen);
        out->n++;
        if (!v[out->n - 1].value || !v[out->n - 1].fn)
            goto oom;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
oom:
    snprintf(why, whylen, "out of memory");
fail:
    funclib_actions_free(out);
    return -1;
}

const funclib_action *funclib_actions_find(const funclib_actions *a,
                                           const char *s, size_t len)
{
    for (size_t k = 0; k < a->n; k++)
        if (a->v[k].len == len && memcmp(a->v[k].value, s, len) == 0)
            return &a->v[k];
    return NULL;
}

int funclib_key_parse(const char *expr, funclib_key *k, char *why,
                      size_t whylen)
{
    flow_expr_error err;

    memset(k, 0, sizeof *k);
    if (flow_expr_compile(expr, strlen(expr), &k->expr, &err)) {
        snprintf(why, whylen,
                 "--action-expression: bad expression at byte %zu: %s",
                 err.offset, err.message);
        return -1;
    }
    flow_expr_scratch_init(&k->sc);
    return 0;
}

void funclib_key_free(funclib_key *k)
{
    if (!k->expr)
        return;
    flow_expr_free(&k->expr);
    flow_expr_scratch_fini(&k->sc);
}

int funclib_key_eval(funclib_key *k, const flow_event *ev, const char **s,
                     char *why, size_t whylen)
{
    flow_expr_value v;
    flow_expr_error err;
    size_t len;

    if (flow_expr_eval(k->expr, ev, &k->sc, &v, &err)) {
        snprintf(why, whylen, "%s", err.message);
        return -1;
    }
    if (v.type == FLOW_EXPR_NIL) {
        snprintf(why, whylen, "the action is null (a missing field?)");
        return -1;
    }
    if (v.type == FLOW_EXPR_LIST || v.type == FLOW_EXPR_MAP) {
        snprintf(why, whylen, "the action is a %s, not a value",
                 flow_expr_type_name(v.type));
        return -1;
    }
    if (flow_expr_value_text(&v, &k->sc, s, &len) || len > INT32_MAX) {
        snprintf(why, whylen, "the action's text does not fit");
        return -1;
    }
    return (int)len;
}
