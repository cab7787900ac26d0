/*
 * Deployment properties from the command line and from files.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"

/* Adds "k=v" (trimmed) to props. Returns 0 or CTL_EUSAGE. */
static int add_prop(json_t *props, char *kv, const char *where)
{
    char *eq = strchr(kv, '=');
    if (!eq) {
        fprintf(stderr,
                "flowctl: %s: '%s' is not a property (expected key=value, "
                "such as deployer.counter.count=2)\n",
                where, kv);
        return CTL_EUSAGE;
    }
    *eq = '\0';
    char *k = kv, *v = eq + 1;
    while (isspace((unsigned char)*k))
        k++;
    char *e = k + strlen(k);
    while (e > k && isspace((unsigned char)e[-1]))
        *--e = '\0';
    while (isspace((unsigned char)*v))
        v++;
    e = v + strlen(v);
    while (e > v && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (!*k) {
        fprintf(stderr, "flowctl: %s: a property has an empty key\n", where);
        return CTL_EUSAGE;
    }
    json_object_set_new(props, k, json_string(v));
    return 0;
}

/* Parses 'k=v,k2=v2'. A comma not followed by a key=value belongs to the
 * previous value (deployer.x.list=a,b stays whole). */
int props_parse(json_t *props, const char *text)
{
    char *s = strdup(text);
    char *start = s;
    int rc = 0;
    for (char *p = s;; p++) {
        if (*p == ',' || *p == '\0') {
            /* Does the next segment hold an '=' before the next comma? */
            bool next_is_kv = false;
            if (*p == ',') {
                for (char *q = p + 1; *q && *q != ','; q++)
                    if (*q == '=') {
                        next_is_kv = true;
                        break;
                    }
            }
            if (*p == '\0' || next_is_kv) {
                bool end = *p == '\0';
                *p = '\0';
                if (*start)
                    rc = add_prop(props, start, "--properties");
                if (rc || end)
                    break;
                start = p + 1;
            }
        }
    }
    free(s);
    return rc;
}

int props_parse_file(json_t *props, const char *file)
{
    char *text = ctl_read_file(file, NULL);
    if (!text) {
        fprintf(stderr, "flowctl: cannot read properties file '%s': %s\n", file,
                strerror(errno));
        return CTL_EUSAGE;
    }
    int rc = 0, lineno = 0;
    char *p = text;
    while (*p && !rc) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        char *s = p;
        while (isspace((unsigned char)*s))
            s++;
        if (*s && *s != '#' && *s != '!') {
            char where[512];
            snprintf(where, sizeof(where), "%s:%d", file, lineno);
            rc = add_prop(props, s, where);
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    free(text);
    return rc;
}
