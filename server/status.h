/* Stream and app status derived from their instances, the way SCDF does.
 * Pure functions, unit-tested. */
#ifndef SRV_STATUS_H
#define SRV_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum srv_status {
    SRV_UNDEPLOYED,
    SRV_DEPLOYING,
    SRV_DEPLOYED,
    SRV_PARTIAL,
    SRV_FAILED,
    SRV_DEGRADED,
} srv_status;

/* The last srv_status, for loops over every one. */
#define SRV_STATUS_LAST SRV_DEGRADED

/* What one app's instances are doing. reason (borrowed, may be NULL) says
 * why the latest instance that is not running is not.
 *
 * Of the deployed instances, stale ones stopped reporting metrics:
 * stale_index is the first of them and stale_s how long it has been
 * silent. window_events and window_errors are summed over the instances
 * for the last seconds (see deploy/instance.c); the app is degraded when errors
 * are over error_threshold percent of events. last_error (borrowed, may
 * be NULL) is the latest error an instance reported. */
typedef struct srv_app_counts {
    const char *label;
    int count;
    int deployed, deploying, restarting, failed;
    const char *reason;
    int stale;
    int stale_index;
    int64_t stale_s;
    uint64_t window_events, window_errors;
    int window_s;
    int error_threshold;
    const char *last_error;
} srv_app_counts;

const char *srv_status_name(srv_status s);

/* Is the app failing more of its events than its threshold allows? */
bool srv_status_over_threshold(const srv_app_counts *a);

/* The status of one app, with a sentence in desc: failed, partial or
 * deploying while instances are not running; degraded when all run but
 * one is stale or the app fails more of its events than its threshold
 * allows; deployed otherwise. */
srv_status srv_status_app(const srv_app_counts *a, char *desc, size_t len);

/* The status of a stream: undeployed when not deployed; failed when an
 * app failed; partial when an instance is restarting; deploying while an
 * instance is starting; degraded when every instance runs but one is
 * stale or an app fails too many of its events; deployed otherwise. desc
 * says which app is not right and why. */
srv_status srv_status_stream(bool deployed, const srv_app_counts *apps,
                             size_t n, char *desc, size_t len);

#endif
