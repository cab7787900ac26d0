/* Unit tests: the keys file flowd hands its apps and the ZAP handler's
 * decision (flow/curve.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "flow/curve.h"
#include "flow/error.h"

typedef struct pair {
    char pub[41], sec[41];
    uint8_t bin[32];
} pair;

static pair make_pair(void)
{
    pair p;
    cr_assert_eq(zmq_curve_keypair(p.pub, p.sec), 0);
    cr_assert_not_null(zmq_z85_decode(p.bin, p.pub));
    return p;
}

/* A keys file: server pair, own pair, then the allowed keys. */
static char *keys_text(const pair *server, const pair *own,
                       const pair *const *allow, size_t nallow)
{
    static char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "# comment\nserver-public %s\nserver-secret %s\n\n"
                     "public %s\nsecret %s\n",
                     server->pub, server->sec, own->pub, own->sec);
    for (size_t i = 0; i < nallow; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "allow %s\n",
                      allow[i]->pub);
    return buf;
}

Test(curve, parses_a_keys_file_and_admits_only_the_named_keys)
{
    pair server = make_pair(), own = make_pair(), flowd = make_pair();
    pair other = make_pair();
    const pair *allow[] = { &flowd, &own };
    char *text = keys_text(&server, &own, allow, 2);
    flow_curve k;
    char err[256];
    cr_assert_eq(flow_curve_parse(text, strlen(text), &k, err, sizeof err), 0,
                 "%s", err);
    cr_assert_str_eq(k.server_public, server.pub);
    cr_assert_str_eq(k.server_secret, server.sec);
    cr_assert_str_eq(k.public_key, own.pub);
    cr_assert_str_eq(k.secret_key, own.sec);
    cr_assert_eq(k.nallow, 2);
    cr_assert(flow_curve_admits(&k, "CURVE", 5, flowd.bin, 32));
    cr_assert(flow_curve_admits(&k, "CURVE", 5, own.bin, 32));
    /* A key flowd did not name, even the server's own. */
    cr_assert_not(flow_curve_admits(&k, "CURVE", 5, other.bin, 32));
    cr_assert_not(flow_curve_admits(&k, "CURVE", 5, server.bin, 32));
    /* Another mechanism, or credentials of the wrong size. */
    cr_assert_not(flow_curve_admits(&k, "NULL", 4, flowd.bin, 32));
    cr_assert_not(flow_curve_admits(&k, "PLAIN", 5, flowd.bin, 32));
    cr_assert_not(flow_curve_admits(&k, "CURVE", 5, flowd.bin, 31));
    cr_assert_not(flow_curve_admits(&k, "CURVE", 5, NULL, 0));
    cr_assert_not(flow_curve_admits(NULL, "CURVE", 5, flowd.bin, 32));
}

Test(curve, admits_no_one_without_allow_lines)
{
    pair server = make_pair(), own = make_pair();
    char *text = keys_text(&server, &own, NULL, 0);
    flow_curve k;
    char err[256];
    cr_assert_eq(flow_curve_parse(text, strlen(text), &k, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(k.nallow, 0);
    cr_assert_not(flow_curve_admits(&k, "CURVE", 5, own.bin, 32));
}

Test(curve, refuses_a_broken_keys_file_saying_where)
{
    pair server = make_pair(), own = make_pair();
    flow_curve k;
    char err[256], text[1024];

    snprintf(text, sizeof text, "server-public %s\npublic %s\nsecret %s\n",
             server.pub, own.pub, own.sec);
    cr_assert_eq(flow_curve_parse(text, strlen(text), &k, err, sizeof err),
                 -FLOW_EUSAGE);
    cr_assert_str_eq(err, "no 'server-secret' line");

    snprintf(text, sizeof text, "server-public %s\nserver-secret short\n",
             server.pub);
    cr_assert_eq(flow_curve_parse(text, strlen(text), &k, err, sizeof err),
                 -FLOW_EUSAGE);
    cr_assert_str_eq(err, "line 2: the key is not 40 characters of Z85");

    snprintf(text, sizeof text, "sever-public %s\n", server.pub);
    cr_assert_eq(flow_curve_parse(text, strlen(text), &k, err, sizeof err),
                 -FLOW_EUSAGE);
    cr_assert(strstr(err, "line 1: unknown name"), "%s", err);

    snprintf(text, sizeof text, "allow\n");
    cr_assert_eq(flow_curve_parse(text, strlen(text), &k, err, sizeof err),
                 -FLOW_EUSAGE);
    cr_assert_str_eq(err, "line 1: needs 'NAME KEY'");
}

Test(curve, loads_only_a_private_file)
{
    pair server = make_pair(), own = make_pair();
    const pair *allow[] = { &own };
    char *text = keys_text(&server, &own, allow, 1);
    char path[] = "/tmp/flow-curve-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    flow_curve k;
    char err[512];
    chmod(path, 0600);
    cr_assert_eq(flow_curve_load(path, &k, err, sizeof err), 0, "%s", err);
    cr_assert(flow_curve_admits(&k, "CURVE", 5, own.bin, 32));
    chmod(path, 0640);
    cr_assert_eq(flow_curve_load(path, &k, err, sizeof err), -FLOW_EUSAGE);
    cr_assert(strstr(err, "mode 0600"), "%s", err);
    unlink(path);
}
