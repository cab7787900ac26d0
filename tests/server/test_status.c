#include <criterion/criterion.h>
#include <string.h>

#include "status.h"

static srv_status stream(bool deployed, srv_app_counts *a, size_t n, char *desc)
{
    return srv_status_stream(deployed, a, n, desc, 512);
}

Test(status, undeployed)
{
    char d[512];
    cr_assert_eq(stream(false, NULL, 0, d), SRV_UNDEPLOYED);
    cr_assert_str_eq(srv_status_name(SRV_UNDEPLOYED), "undeployed");
}

Test(status, deploying_then_deployed)
{
    char d[512];
    srv_app_counts a[2] = {
        { .label = "src", .count = 1, .deployed = 1 },
        { .label = "sink", .count = 2, .deployed = 1, .deploying = 1 },
    };
    cr_assert_eq(stream(true, a, 2, d), SRV_DEPLOYING);
    cr_assert(strstr(d, "sink"), "%s", d);
    a[1].deployed = 2;
    a[1].deploying = 0;
    cr_assert_eq(stream(true, a, 2, d), SRV_DEPLOYED);
    cr_assert_str_eq(srv_status_name(SRV_DEPLOYED), "deployed");
}

Test(status, restarting_is_partial_with_reason)
{
    char d[512];
    srv_app_counts a[2] = {
        { .label = "src", .count = 1, .deployed = 1 },
        { .label = "proc",
          .count = 1,
          .restarting = 1,
          .reason = "killed by signal 9" },
    };
    cr_assert_eq(stream(true, a, 2, d), SRV_PARTIAL);
    cr_assert(strstr(d, "proc") && strstr(d, "killed by signal 9"), "%s", d);
}

Test(status, failed_wins)
{
    char d[512];
    srv_app_counts a[3] = {
        { .label = "src", .count = 1, .restarting = 1, .reason = "x" },
        { .label = "proc",
          .count = 2,
          .deployed = 1,
          .failed = 1,
          .reason = "exit status 3" },
        { .label = "sink", .count = 1, .deployed = 1 },
    };
    cr_assert_eq(stream(true, a, 3, d), SRV_FAILED);
    cr_assert(strstr(d, "proc failed: exit status 3"), "%s", d);
}

Test(status, app_level)
{
    char d[512];
    srv_app_counts a = {
        .label = "x", .count = 3, .deployed = 1, .deploying = 2
    };
    cr_assert_eq(srv_status_app(&a, d, sizeof d), SRV_PARTIAL);
    a.deployed = 0;
    a.deploying = 3;
    cr_assert_eq(srv_status_app(&a, d, sizeof d), SRV_DEPLOYING);
    a.deployed = 3;
    a.deploying = 0;
    cr_assert_eq(srv_status_app(&a, d, sizeof d), SRV_DEPLOYED);
    cr_assert_str_eq(d, "3 of 3 instances deployed");
}

Test(status, stale_instance_degrades_the_stream)
{
    char d[512];
    srv_app_counts a[2] = {
        { .label = "load-sim", .count = 1, .deployed = 1 },
        { .label = "counter",
          .count = 2,
          .deployed = 2,
          .stale = 1,
          .stale_index = 1,
          .stale_s = 4,
          .error_threshold = 50 },
    };
    cr_assert_eq(stream(true, a, 2, d), SRV_DEGRADED);
    cr_assert_str_eq(d, "app counter instance 1 stopped reporting metrics "
                        "(stale for 4 s)");
    cr_assert_str_eq(srv_status_name(SRV_DEGRADED), "degraded");
    /* A restart elsewhere says more than a silent instance. */
    a[0].deployed = 0;
    a[0].restarting = 1;
    a[0].reason = "killed by signal 9";
    cr_assert_eq(stream(true, a, 2, d), SRV_PARTIAL);
    cr_assert(strstr(d, "load-sim"), "%s", d);
}

Test(status, error_ratio_over_threshold_degrades)
{
    char d[512];
    srv_app_counts a[3] = {
        { .label = "load-sim", .count = 1, .deployed = 1 },
        { .label = "account-events",
          .count = 1,
          .deployed = 1,
          .window_events = 2000,
          .window_errors = 1000,
          .window_s = 10,
          .error_threshold = 50,
          .last_error = "rejected a ACCOUNT_DEPOSITED event: not active" },
        { .label = "counter", .count = 1, .deployed = 1 },
    };
    /* Exactly at the threshold is not over it. */
    cr_assert_eq(stream(true, a, 3, d), SRV_DEPLOYED);
    cr_assert_str_eq(d, "all 3 apps are deployed");
    a[1].window_errors = 2000;
    cr_assert_eq(stream(true, a, 3, d), SRV_DEGRADED);
    cr_assert_str_eq(d, "app account-events failed 2000 of 2000 events in the "
                        "last 10 s (100%, over its 50% error threshold); last "
                        "error: rejected a ACCOUNT_DEPOSITED event: not "
                        "active");
    /* A threshold of 100% never degrades; 0% degrades on any error. */
    a[1].error_threshold = 100;
    cr_assert_eq(stream(true, a, 3, d), SRV_DEPLOYED);
    a[1].error_threshold = 0;
    a[1].window_errors = 1;
    cr_assert_eq(stream(true, a, 3, d), SRV_DEGRADED);
    /* No events in the window: nothing to judge. */
    a[1].window_events = a[1].window_errors = 0;
    cr_assert_eq(stream(true, a, 3, d), SRV_DEPLOYED);
}

Test(status, degraded_waits_for_deploying)
{
    char d[512];
    srv_app_counts a[2] = {
        { .label = "src", .count = 1, .deployed = 1, .stale = 1 },
        { .label = "sink", .count = 1, .deploying = 1 },
    };
    cr_assert_eq(stream(true, a, 2, d), SRV_DEPLOYING);
    a[1].deploying = 0;
    a[1].deployed = 1;
    cr_assert_eq(stream(true, a, 2, d), SRV_DEGRADED);
    cr_assert(strstr(d, "app src instance 0 stopped reporting"), "%s", d);
}
