/* The names of a stream's Kubernetes objects (srv_k8s_name): DNS-1035
 * labels short enough for a StatefulSet's pods, and two streams never
 * given the same name. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "deploy/k8s_manifests.h"

static void dns_label(const char *n)
{
    size_t len = strlen(n);

    cr_assert(len >= 1 && len <= 47, "'%s' is %zu long", n, len);
    cr_assert(islower((unsigned char)n[0]), "'%s' starts with no letter", n);
    cr_assert(n[len - 1] != '-', "'%s' ends in '-'", n);
    for (const char *p = n; *p; p++)
        cr_assert(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
                      *p == '-',
                  "'%s' holds '%c'", n, *p);
}

Test(k8s_names, plain_names_are_kept)
{
    char n[64];

    srv_k8s_name("accounts", "account-events", n, sizeof n);
    cr_assert_str_eq(n, "accounts-account-events");
    srv_k8s_name("accounts", NULL, n, sizeof n);
    cr_assert_str_eq(n, "accounts");
}

Test(k8s_names, changed_names_get_a_hash)
{
    char a[64], b[64], c[64];

    srv_k8s_name("My_Stream", "log", a, sizeof a);
    srv_k8s_name("my-stream", "log", b, sizeof b);
    srv_k8s_name("_x", "log", c, sizeof c);
    dns_label(a);
    dns_label(c);
    cr_assert_str_eq(b, "my-stream-log");
    cr_assert_str_neq(a, b);
    cr_assert_eq(strncmp(a, "my-stream-log-", 14), 0, "%s", a);
    cr_assert_eq(strncmp(c, "f--x-log-", 9), 0, "%s", c);
}

Test(k8s_names, long_names_are_shortened_apart)
{
    char a[64], b[64];
    const char *s = "a-stream-name-that-is-rather-long-for-kubernetes";

    srv_k8s_name(s, "account-events-first", a, sizeof a);
    srv_k8s_name(s, "account-events-second", b, sizeof b);
    dns_label(a);
    dns_label(b);
    cr_assert_str_neq(a, b);
}
