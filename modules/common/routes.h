/*
 * routes.h - the router's choice of a destination: --destination-mappings
 * (V1:dest1,V2:dest2: the value an expression gave, then after the last
 * ':' the destination it goes to) and --default-output-channel (where a
 * value without a mapping goes). Without mappings the value names the
 * destination itself.
 */
#ifndef FLOW_MODULES_ROUTES_H
#define FLOW_MODULES_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

/* The longest destination name (as flowd's names). */
#define ROUTES_NAME_MAX 48

struct route {
    char *value; /* owned */
    char *dest;  /* owned */
};

struct routes {
    struct route *r; /* owned */
    size_t n;
    const char *def; /* borrowed: --default-output-channel, or NULL */
};

/* Whether s is a destination name: 1 to ROUTES_NAME_MAX letters, digits,
 * '_', '-' and '.', starting with a letter or digit. */
bool routes_name_ok(const char *s, size_t len);

/*
 * Parses mappings (NULL or "" = none) and keeps def (borrowed; NULL or
 * "" = none). Returns 0, or -1 with the reason in why: an item without
 * ':', an empty value, a destination that is no name, a value mapped
 * twice, or out of memory. fini is safe on zeroed memory.
 */
int routes_init(struct routes *rt, const char *mappings, const char *def,
                char *why, size_t whysize);
void routes_fini(struct routes *rt);

/*
 * The destination of value v (NUL-terminated): its mapping, else the
 * default; without mappings v itself when it is a name, else the default.
 * NULL when there is none: the caller sends the event to the error
 * output. Borrowed from rt or v.
 */
const char *routes_pick(const struct routes *rt, const char *v);

#endif
