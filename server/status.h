/* Stream and app status derived from their instances, the way SCDF does.
 * Pure functions, unit-tested. */
#ifndef SRV_STATUS_H
#define SRV_STATUS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum srv_status {
    SRV_UNDEPLOYED,
    SRV_DEPLOYING,
    SRV_DEPLOYED,
    SRV_PARTIAL,
    SRV_FAILED,
} srv_status;

/* What one app's instances are doing. reason (borrowed, may be NULL) says
 * why the latest instance that is not running is not. */
typedef struct srv_app_counts {
    const char *label;
    int count;
    int deployed, deploying, restarting, failed;
    const char *reason;
} srv_app_counts;

const char *srv_status_name(srv_status s);

/* The status of one app, with a sentence in desc. */
srv_status srv_status_app(const srv_app_counts *a, char *desc, size_t len);

/* The status of a stream: undeployed when not deployed; failed when an
 * app failed; deployed when every instance of every app is; partial when
 * an instance is restarting; deploying otherwise. desc says which app is
 * not running and why. */
srv_status srv_status_stream(bool deployed, const srv_app_counts *apps,
                             size_t n, char *desc, size_t len);

#endif
