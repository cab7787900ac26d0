/* acctweb.c - account-web's routing, If-Match and HAL links (acctweb.h). */
#include "acctweb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const command_names[ACCT_EV_COUNT] = {
    [ACCT_EV_CREATED] = "create",     [ACCT_EV_CONFIRMED] = "confirm",
    [ACCT_EV_ACTIVATED] = "activate", [ACCT_EV_SUSPENDED] = "suspend",
    [ACCT_EV_ARCHIVED] = "archive",   [ACCT_EV_DEPOSITED] = "deposit",
    [ACCT_EV_WITHDRAWN] = "withdraw",
};

const char *acctweb_command_name(enum acct_event ev)
{
    return (unsigned)ev < ACCT_EV_COUNT ? command_names[ev] : "?";
}

int acctweb_command_parse(const char *s)
{
    for (int i = ACCT_EV_CONFIRMED; i < ACCT_EV_COUNT; i++)
        if (strcmp(s, command_names[i]) == 0)
            return i;
    return -1;
}

/* A decimal id from 1 at *p up to a '/', '-' or the end; advances *p.
 * False when there is none or it overflows. */
static bool take_id(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t x = 0;
    if (*s < '1' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    if (*s && *s != '/' && *s != '-')
        return false;
    *p = s;
    *out = x;
    return true;
}

static int method_is(const char *method, const char *allow)
{
    return strcmp(method, allow) == 0 ||
           (strcmp(allow, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

int acctweb_route_of(const char *method, const char *path, acctweb_route *r)
{
    memset(r, 0, sizeof(*r));
    const char *p = path;
    if (strncmp(p, "/v1/events/", 11) == 0) {
        p += 11;
        if (!take_id(&p, &r->account) || *p != '-')
            return -404;
        p++;
        if (!take_id(&p, &r->seq) || *p)
            return -404;
        r->res = ACCTWEB_EVENT;
        r->allow = "GET";
        return method_is(method, r->allow) ? 0 : -405;
    }
    if (strncmp(p, "/v1/accounts", 12) != 0)
        return -404;
    p += 12;
    if (!*p || strcmp(p, "/") == 0) {
        r->res = ACCTWEB_ACCOUNTS;
        r->allow = "GET, POST";
        return strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ? 0
                                                                         : -405;
    }
    if (*p++ != '/' || !take_id(&p, &r->account) || *p == '-')
        return -404;
    r->allow = "GET";
    if (!*p) {
        r->res = ACCTWEB_ACCOUNT;
    } else if (strcmp(p, "/events") == 0) {
        r->res = ACCTWEB_EVENTS;
    } else if (strcmp(p, "/commands") == 0) {
        r->res = ACCTWEB_COMMANDS;
    } else if (strncmp(p, "/commands/", 10) == 0) {
        int ev = acctweb_command_parse(p + 10);
        if (ev < 0)
            return -404;
        r->res = ACCTWEB_COMMAND;
        r->event = (enum acct_event)ev;
        r->allow = "POST";
    } else {
        return -404;
    }
    return method_is(method, r->allow) ? 0 : -405;
}

int acctweb_if_match(const char *v, uint64_t *version)
{
    size_t n = strlen(v);
    if (n == 0 || strcmp(v, "*") == 0)
        return 0;
    if (strncmp(v, "W/", 2) == 0) {
        v += 2;
        n -= 2;
    }
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n == 0 || n > 19)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *version = x;
    return 1;
}

/* The value of parameter name in query (borrowed, up to '&'): its length,
 * or -1 when absent. */
static long param(const char *query, const char *name, const char **val)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;
         p = strchr(p, '&'), p = p ? p + 1 : p) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            *val = p + nl + 1;
            const char *e = strchr(*val, '&');
            return e ? (long)(e - *val) : (long)strlen(*val);
        }
    }
    return -1;
}

static bool number(const char *s, long n, uint64_t *out)
{
    uint64_t x = 0;
    if (n <= 0 || n > 9)
        return false;
    for (long i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *out = x;
    return true;
}

int acctweb_page(const char *query, uint64_t def, uint64_t max, uint64_t *page,
                 uint64_t *size, const char **bad)
{
    const char *v;
    long n;
    *page = 0;
    *size = def;
    if ((n = param(query, "page", &v)) >= 0 && !number(v, n, page)) {
        *bad = "page";
        return -1;
    }
    if ((n = param(query, "size", &v)) >= 0 &&
        (!number(v, n, size) || *size < 1 || *size > max)) {
        *bad = "size";
        return -1;
    }
    return 0;
}

unsigned acctweb_legal(enum acct_state st)
{
    unsigned m = 0;
    for (int ev = ACCT_EV_CONFIRMED; ev < ACCT_EV_COUNT; ev++)
        if (acct_allows(st, (enum acct_event)ev))
            m |= 1u << ev;
    return m;
}

void acctweb_printf(flow_buf *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || flow_buf_reserve(out, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)out->data + out->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out->len += (size_t)n;
}

void acctweb_links(flow_buf *out, uint64_t id, enum acct_state st)
{
    unsigned long long i = (unsigned long long)id;
    acctweb_printf(out,
                   "\"_links\": {\"self\": {\"href\": \"/v1/accounts/%llu\"}, "
                   "\"events\": {\"href\": \"/v1/accounts/%llu/events\"}, "
                   "\"commands\": {\"href\": \"/v1/accounts/%llu/commands\"}",
                   i, i, i);
    unsigned m = acctweb_legal(st);
    for (int ev = ACCT_EV_CONFIRMED; ev < ACCT_EV_COUNT; ev++)
        if (m & (1u << ev))
            acctweb_printf(out,
                           ", \"%s\": {\"href\": "
                           "\"/v1/accounts/%llu/commands/%s\"}",
                           command_names[ev], i, command_names[ev]);
    acctweb_printf(out, "}");
}

void acctweb_commands(flow_buf *out, uint64_t id, enum acct_state st)
{
    unsigned long long i = (unsigned long long)id;
    unsigned m = acctweb_legal(st);
    bool first = true;
    acctweb_printf(out,
                   "{\"accountId\": %llu, \"status\": \"%s\", "
                   "\"commands\": [",
                   i, acct_state_name(st));
    for (int ev = ACCT_EV_CONFIRMED; ev < ACCT_EV_COUNT; ev++) {
        if (!(m & (1u << ev)))
            continue;
        bool money = ev == ACCT_EV_DEPOSITED || ev == ACCT_EV_WITHDRAWN;
        acctweb_printf(
            out,
            "%s{\"name\": \"%s\", \"href\": "
            "\"/v1/accounts/%llu/commands/%s\", \"method\": "
            "\"POST\"%s}",
            first ? "" : ", ", command_names[ev], i, command_names[ev],
            money ? ", \"body\": {\"amount\": \"integer > 0\"}" : "");
        first = false;
    }
    acctweb_printf(out, "], ");
    acctweb_links(out, id, st);
    acctweb_printf(out, "}");
}
