#include <criterion/criterion.h>
#include <string.h>

#include "error.h"
#include "router.h"

static int h_a, h_b, h_c, h_d;

static const srv_route routes[] = {
    { SRV_GET, "/", &h_a },
    { SRV_GET | SRV_POST, "/streams/definitions", &h_b },
    { SRV_GET | SRV_DELETE, "/streams/definitions/{}", &h_c },
    { SRV_POST, "/streams/deployments/scale/{}/{}/instances/{}", &h_d },
    { SRV_GET, "/dashboard/{*}", &h_a },
};
#define N (sizeof routes / sizeof routes[0])

Test(router, exact_and_params)
{
    srv_route_match m;

    cr_assert_eq(srv_router_match(routes, N, SRV_GET, "/", &m), 0);
    cr_assert_eq(m.route->handler, &h_a);
    cr_assert_eq(
        srv_router_match(routes, N, SRV_POST, "/streams/definitions", &m), 0);
    cr_assert_eq(m.route->handler, &h_b);
    cr_assert_eq(srv_router_match(routes, N, SRV_DELETE,
                                  "/streams/definitions/demo", &m),
                 0);
    cr_assert_eq(m.nparams, 1);
    cr_assert_str_eq(m.params[0], "demo");
    cr_assert_eq(srv_router_match(routes, N, SRV_POST,
                                  "/streams/deployments/scale/s/a/instances/3",
                                  &m),
                 0);
    cr_assert_eq(m.nparams, 3);
    cr_assert_str_eq(m.params[0], "s");
    cr_assert_str_eq(m.params[1], "a");
    cr_assert_str_eq(m.params[2], "3");
}

Test(router, not_found_and_method)
{
    srv_route_match m;
    char allow[64];

    cr_assert_eq(srv_router_match(routes, N, SRV_GET, "/nope", &m),
                 -SRV_ENOTFOUND);
    cr_assert_eq(
        srv_router_match(routes, N, SRV_GET, "/streams/definitions/", &m),
        -SRV_ENOTFOUND, "an empty segment is not a parameter");
    cr_assert_eq(
        srv_router_match(routes, N, SRV_GET, "/streams/definitions/a/b", &m),
        -SRV_ENOTFOUND);
    cr_assert_eq(
        srv_router_match(routes, N, SRV_PUT, "/streams/definitions", &m),
        -SRV_EMETHOD);
    srv_router_allow(m.allow, allow, sizeof allow);
    cr_assert_str_eq(allow, "GET, HEAD, POST");
    cr_assert_eq(srv_router_match(routes, N, SRV_HEAD, "/", &m), 0,
                 "HEAD answers GET routes");
}

Test(router, rest_of_path)
{
    srv_route_match m;

    cr_assert_eq(
        srv_router_match(routes, N, SRV_GET, "/dashboard/js/app.js", &m), 0);
    cr_assert_str_eq(m.params[0], "js/app.js");
    cr_assert_eq(srv_router_match(routes, N, SRV_GET, "/dashboard/", &m), 0);
    cr_assert_str_eq(m.params[0], "");
    cr_assert_eq(srv_router_match(routes, N, SRV_GET, "/dashboardx", &m),
                 -SRV_ENOTFOUND);
}

Test(router, long_parameter_is_not_found)
{
    srv_route_match m;
    char path[2048] = "/streams/definitions/";

    memset(path + strlen(path), 'a', 1500);
    cr_assert_eq(srv_router_match(routes, N, SRV_GET, path, &m),
                 -SRV_ENOTFOUND);
}

Test(router, method_names)
{
    cr_assert_eq(srv_method_parse("GET"), SRV_GET);
    cr_assert_eq(srv_method_parse("DELETE"), SRV_DELETE);
    cr_assert_eq(srv_method_parse("BREW"), 0);
}
