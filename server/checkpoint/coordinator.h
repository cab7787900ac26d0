/* The checkpoint coordinator's private header (server/checkpoint/): the
 * coordinator and a region as its files share them. */
#ifndef SRV_COORDINATOR_H
#define SRV_COORDINATOR_H

#include "checkpoint.h"

#define SRV_CKPT_RING 256

/* The most streams a region holds. */
#define SRV_CKPT_REGION_MAX 64

/* One acknowledgement of the checkpoint in flight. */
typedef struct srv_ckpt_ack {
    char stream[SRV_NAME_MAX + 16];
    char label[SRV_NAME_MAX + 16];
    int instance;
    uint64_t bytes;
} srv_ckpt_ack;

/* One cumulative counter value an instance reported: value is the latest
 * (tagged with a checkpoint), committed what the last complete checkpoint
 * made of it. */
typedef struct srv_ckpt_value {
    char stream[SRV_NAME_MAX + 16];
    char label[SRV_NAME_MAX + 16];
    int instance;
    char kind[24];
    char name[256];
    char key[160]; /* "", "v:VALUE" or "s:SECOND" */
    uint64_t value, committed;
    /* The live figure is the greater of value and base + untagged: base
     * is committed at the instance's (re)start (or flowd's), untagged its
     * untagged increments since. Kept apart, the two never count an
     * event twice (an increment may be reported after the tagged value
     * that holds it). */
    uint64_t base, untagged;
    struct srv_ckpt_value *next; /* borrowed link: the region owns the
                                    list */
} srv_ckpt_value;

struct srv_region {
    char id[SRV_NAME_MAX + 16];
    uint64_t epoch;
    uint64_t next_id;
    uint64_t last_complete;
    int64_t last_completed_ms;
    /* The files of the last complete checkpoint, its acks (owned). */
    srv_ckpt_ack *done;
    size_t ndone;
    uint64_t in_flight;
    bool in_flight_all;      /* its ckpt went to every instance (a cycle) */
    int64_t started_ms;      /* of the one in flight */
    int64_t last_started_ms; /* of the last one started, for the interval */
    srv_ckpt_ack *acks;      /* of the one in flight (owned) */
    size_t nacks, capacks;
    uint64_t failed;
    char last_failure[512];
    bool failing; /* the last one failed: none completed since */
    bool recovering;
    int64_t death_ms;
    char recovery_why[256];
    /* Recovery times (death seen -> every instance's hello): how many,
     * the last SRV_CKPT_RING of them in milliseconds (the newest at
     * (recoveries - 1) % SRV_CKPT_RING), and all of them in the buckets
     * of srv_ckpt_recovery_bounds_ms. */
    uint64_t recoveries;
    int64_t recovery_sum_ms;
    int64_t recovery_ms[SRV_CKPT_RING];
    uint64_t recovery_buckets[SRV_CKPT_BUCKETS];
    srv_ckpt_value *values;  /* owned list */
    struct srv_region *next; /* borrowed link: the coordinator owns the
                                list */
};

typedef struct srv_ckpt {
    srv *s;
    int64_t (*now)(void *ud);
    void *now_ud;
    srv_ckpt_send_fn send;
    void *send_ud;
    void (*on_complete)(void *ud, srv_region *r);
    void *on_complete_ud;
    bool (*routes)(const srv_dapp *a, const char *dest);
    uv_timer_t *timer;   /* owned: closed by srv_ckpt_free, freed in its close
                            callback */
    srv_region *regions; /* owned list */
} srv_ckpt;

/* The region named id (created, with what the store holds of it, when
 * new; owned by s->ckpt), NULL when out of memory. */
srv_region *srv_ckpt_region_get(srv *s, const char *id);

#endif
