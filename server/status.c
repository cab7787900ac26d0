#include "status.h"

#include <stdio.h>

const char *srv_status_name(srv_status s)
{
    switch (s) {
    case SRV_UNDEPLOYED:
        return "undeployed";
    case SRV_DEPLOYING:
        return "deploying";
    case SRV_DEPLOYED:
        return "deployed";
    case SRV_PARTIAL:
        return "partial";
    case SRV_FAILED:
        return "failed";
    case SRV_DEGRADED:
        return "degraded";
    }
    return "unknown";
}

bool srv_status_over_threshold(const srv_app_counts *a)
{
    return a->window_events > 0 &&
           a->window_errors * 100 >
               (uint64_t)a->error_threshold * a->window_events;
}

/* Why a running app is degraded, or false when it is not. */
static bool degraded(const srv_app_counts *a, char *desc, size_t len)
{
    if (a->stale > 0) {
        snprintf(desc, len,
                 "app %s instance %d stopped reporting metrics (stale for "
                 "%lld s)",
                 a->label, a->stale_index, (long long)a->stale_s);
        return true;
    }
    if (srv_status_over_threshold(a)) {
        snprintf(
            desc, len,
            "app %s failed %llu of %llu events in the last %d s "
            "(%llu%%, over its %d%% error threshold); last error: %s",
            a->label, (unsigned long long)a->window_errors,
            (unsigned long long)a->window_events, a->window_s,
            (unsigned long long)(a->window_errors * 100 / a->window_events),
            a->error_threshold,
            a->last_error && *a->last_error ? a->last_error : "none reported");
        return true;
    }
    return false;
}

srv_status srv_status_app(const srv_app_counts *a, char *desc, size_t len)
{
    if (a->failed > 0) {
        snprintf(desc, len, "%s failed: %s", a->label,
                 a->reason ? a->reason : "too many restarts");
        return SRV_FAILED;
    }
    if (a->count > 0 && a->deployed >= a->count) {
        if (degraded(a, desc, len))
            return SRV_DEGRADED;
        snprintf(desc, len, "%d of %d instances deployed", a->deployed,
                 a->count);
        return SRV_DEPLOYED;
    }
    if (a->restarting > 0) {
        snprintf(desc, len, "%s: %d of %d instances deployed, %s", a->label,
                 a->deployed, a->count,
                 a->reason ? a->reason : "an instance is restarting");
        return SRV_PARTIAL;
    }
    snprintf(desc, len, "%s: %d of %d instances deployed, waiting for %d",
             a->label, a->deployed, a->count, a->count - a->deployed);
    return a->deployed > 0 ? SRV_PARTIAL : SRV_DEPLOYING;
}

srv_status srv_status_stream(bool deployed, const srv_app_counts *apps,
                             size_t n, char *desc, size_t len)
{
    size_t i;
    char buf[512];

    if (!deployed) {
        snprintf(desc, len, "the stream is not deployed");
        return SRV_UNDEPLOYED;
    }
    for (i = 0; i < n; i++) {
        if (srv_status_app(&apps[i], buf, sizeof buf) == SRV_FAILED) {
            snprintf(desc, len, "%s", buf);
            return SRV_FAILED;
        }
    }
    for (i = 0; i < n; i++) {
        if (apps[i].restarting > 0) {
            srv_status_app(&apps[i], buf, sizeof buf);
            snprintf(desc, len, "%s", buf);
            return SRV_PARTIAL;
        }
    }
    for (i = 0; i < n; i++) {
        srv_status st = srv_status_app(&apps[i], buf, sizeof buf);
        if (st != SRV_DEPLOYED && st != SRV_DEGRADED) {
            snprintf(desc, len, "%s", buf);
            return SRV_DEPLOYING;
        }
    }
    for (i = 0; i < n; i++) {
        if (srv_status_app(&apps[i], buf, sizeof buf) == SRV_DEGRADED) {
            snprintf(desc, len, "%s", buf);
            return SRV_DEGRADED;
        }
    }
    snprintf(desc, len, "all %zu apps are deployed", n);
    return SRV_DEPLOYED;
}
