/* libFuzzer target: the pure pieces that see request bytes: route
 * matching of a path and deployment properties parsed from a JSON body.
 * Nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"
#include "router.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = malloc(size + 1);
    srv_route_match m;
    char allow[128], err[512];
    json_t *out = NULL;

    if (!path)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    int rc = srv_router_match(routes, sizeof routes / sizeof routes[0], SRV_GET,
                              path, &m);
    if (rc == 405)
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
