/* libFuzzer target: the pure pieces that see request bytes: the HTTP
 * request head, its target's path and query, a chunked body fed in
 * pieces, a form field, route matching of a path and deployment properties
 * parsed from a JSON body. Nothing may crash, leak or read out of bounds,
 * and what the parsers report must hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "httpparse.h"
#include "props.h"
#include "router.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int h;

static const srv_route routes[] = {
    { SRV_GET, "/", &h },
    { SRV_GET | SRV_POST, "/streams/definitions", &h },
    { SRV_GET | SRV_DELETE, "/streams/definitions/{}", &h },
    { SRV_POST, "/streams/deployments/scale/{}/{}/instances/{}", &h },
    { SRV_GET, "/dashboard/{*}", &h },
    { SRV_GET, "/metrics/{}/{}", &h },
};

static const char *const labels[] = { "load-sim", "account-events", "counter" };

/* A fixed hash seed, so that a run with a fixed -seed is the same run. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    return 0;
}

static void http_pieces(const char *d, size_t size)
{
    srv_http_head h;
    char path[1024], query[4096];
    size_t qlen;

    long n = srv_http_parse_head(d, size, &h);
    if (n > 0) {
        if ((size_t)n > size || h.target_len > SRV_TARGET_MAX || h.target < d ||
            h.target + h.target_len > d + n)
            abort();
        int rc =
            srv_http_decode_target(h.target, h.target_len, path, sizeof path,
                                   query, sizeof query, &qlen);
        if (rc == SRV_TARGET_OK &&
            (!srv_utf8_ok(path, strlen(path)) || qlen > sizeof query))
            abort();
    }
    (void)srv_http_decode_target(d, size, path, sizeof path, query,
                                 sizeof query, &qlen);

    /* The same bytes as a chunked body, fed in pieces of a size taken from
     * the first byte: the result must not depend on the split. */
    char *out = malloc(size + 1), *out2 = malloc(size + 1);
    if (out && out2) {
        srv_chunked a, b;
        size_t used = 0, off = 0, step = size ? (unsigned char)d[0] % 7 + 1 : 1;
        srv_chunked_init(&a, size);
        srv_chunked_init(&b, size);
        int ra = srv_chunked_feed(&a, d, size, out, &used);
        int rb = SRV_CHUNKED_MORE;
        while (off < size && rb == SRV_CHUNKED_MORE) {
            size_t k = size - off < step ? size - off : step, u = 0;
            rb = srv_chunked_feed(&b, d + off, k, out2, &u);
            off += u;
        }
        if (a.total > size || ra != rb || a.total != b.total ||
            memcmp(out, out2, a.total) != 0)
            abort();
        long f = srv_form_decode(d, size, out);
        if (f >= 0 && (size_t)f > size)
            abort();
    }
    free(out);
    free(out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = malloc(size + 1);
    srv_route_match m;
    char allow[128], err[512];
    json_t *out = NULL;

    if (!path)
        return 0;
    http_pieces((const char *)data, size);
    memcpy(path, data, size);
    path[size] = '\0';
    int rc = srv_router_match(routes, sizeof routes / sizeof routes[0], SRV_GET,
                              path, &m);
    if (rc == -SRV_EMETHOD)
        srv_router_allow(m.allow, allow, sizeof allow);
    free(path);

    json_t *in = json_loadb((const char *)data, size, 0, NULL);
    if (in && srv_props_parse(in, labels, 3, &out, err, sizeof err) == 0) {
        srv_props_deployer_int(out, "counter", "count", 1);
        srv_props_packaging(out);
        json_decref(out);
    }
    json_decref(in);
    return 0;
}
