/*
 * routes.c - the router's mappings (see routes.h).
 */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool routes_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > ROUTES_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-' && c != '.')))
            return false;
    }
    return true;
}

static char *dup_trimmed(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return strndup(p, (size_t)(end - p));
}

int routes_init(struct routes *rt, const char *mappings, const char *def,
                char *why, size_t whysize)
{
    memset(rt, 0, sizeof(*rt));
    rt->def = def && *def ? def : NULL;
    if (rt->def && !routes_name_ok(rt->def, strlen(rt->def))) {
        snprintf(why, whysize,
                 "--default-output-channel '%s' is not a destination name "
                 "(1 to %d letters, digits, '_', '-' and '.')",
                 rt->def, ROUTES_NAME_MAX);
        return -1;
    }
    for (const char *p = mappings ? mappings : ""; *p;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *colon = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == ':')
                colon = q;
        if (!colon) {
            snprintf(why, whysize,
                     "--destination-mappings: '%.*s' is not VALUE:DESTINATION",
                     (int)(end - p), p);
            goto fail;
        }
        struct route *r = realloc(rt->r, (rt->n + 1) * sizeof(*r));
        if (!r) {
            snprintf(why, whysize, "out of memory");
            goto fail;
        }
        rt->r = r;
        r = &rt->r[rt->n];
        r->value = dup_trimmed(p, colon);
        r->dest = dup_trimmed(colon + 1, end);
        if (!r->value || !r->dest) {
            free(r->value);
            free(r->dest);
            snprintf(why, whysize, "out of memory");
            goto fail;
        }
        rt->n++;
        if (!*r->value) {
            snprintf(why, whysize,
                     "--destination-mappings: '%.*s' has an empty value",
                     (int)(end - p), p);
            goto fail;
        }
        if (!routes_name_ok(r->dest, strlen(r->dest))) {
            snprintf(why, whysize,
                     "--destination-mappings: '%s' is not a destination name "
                     "(1 to %d letters, digits, '_', '-' and '.')",
                     r->dest, ROUTES_NAME_MAX);
            goto fail;
        }
        for (size_t k = 0; k + 1 < rt->n; k++)
            if (!strcmp(rt->r[k].value, r->value)) {
                snprintf(why, whysize, "--destination-mappings maps '%s' twice",
                         r->value);
                goto fail;
            }
        p = *end ? end + 1 : end;
    }
    return 0;

fail:
    routes_fini(rt);
    return -1;
}

void routes_fini(struct routes *rt)
{
    for (size_t k = 0; k < rt->n; k++) {
        free(rt->r[k].value);
        free(rt->r[k].dest);
    }
    free(rt->r);
    rt->r = NULL;
    rt->n = 0;
}

const char *routes_pick(const struct routes *rt, const char *v)
{
    for (size_t k = 0; k < rt->n; k++)
        if (!strcmp(rt->r[k].value, v))
            return rt->r[k].dest;
    if (rt->n == 0 && routes_name_ok(v, strlen(v)))
        return v;
    return rt->def;
}
