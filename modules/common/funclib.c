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

/* A dotted path of names made of letters, digits, '_' and '-'. */
static bool path_ok(const char *p)
{
    bool start = true;
    for (; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (start)
                return false;
            start = true;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
        start = false;
    }
    return !start;
}

int funclib_key_parse(const char *expr, funclib_key *k, char *why,
                      size_t whylen)
{
    memset(k, 0, sizeof *k);
    if (strcmp(expr, "headers.type") == 0) {
        k->kind = FUNCLIB_KEY_TYPE;
        return 0;
    }
    if (strcmp(expr, "headers.key") == 0) {
        k->kind = FUNCLIB_KEY_KEY;
        return 0;
    }
    if (strncmp(expr, "payload.", 8) == 0 && path_ok(expr + 8)) {
        k->kind = FUNCLIB_KEY_PAYLOAD;
        k->path = expr + 8;
        return 0;
    }
    snprintf(why, whylen,
             "--action-expression: '%s' is not supported; use "
             "payload.FIELD (a dotted path into the payload), headers.type "
             "or headers.key",
             expr);
    return -1;
}

int funclib_key_eval(const funclib_key *k, const flow_event *ev, char *buf,
                     size_t buflen, const char **s, char *why, size_t whylen)
{
    if (k->kind == FUNCLIB_KEY_TYPE) {
        *s = ev->type ? ev->type : "";
        return (int)ev->type_len;
    }
    if (k->kind == FUNCLIB_KEY_KEY) {
        if (!ev->key) {
            snprintf(why, whylen, "the event has no key header");
            return -1;
        }
        *s = ev->key;
        return (int)ev->key_len;
    }
    flow_mp_value v;
    int rc = fieldpath_find(ev->payload, ev->payload_len, k->path, &v);
    if (rc == -FLOW_ENOTFOUND) {
        snprintf(why, whylen, "payload field '%s' is missing", k->path);
        return -1;
    }
    if (rc < 0) {
        snprintf(why, whylen, "payload is not a well-formed msgpack map");
        return -1;
    }
    int n = fieldpath_text(&v, buf, buflen, s);
    if (n < 0) {
        snprintf(why, whylen,
                 "payload field '%s' is a list or a map, not an action",
                 k->path);
        return -1;
    }
    return n;
}
