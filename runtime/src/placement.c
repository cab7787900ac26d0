/*
 * Where an app's threads run: --flow.cpus=LIST|auto|any.
 *
 * A hand-off between threads on two CPUs wakes the other CPU; when that CPU
 * was idle (and in a virtual machine, halted) the wake-up costs tens of
 * microseconds, against a few for a switch on a CPU that is awake. An event
 * crosses six such hand-offs through a three-app pipeline (app to ZeroMQ's
 * I/O thread, the socket, I/O thread to the next app, twice), so at low
 * rates where they run decides the latency.
 *
 * auto (the default for an app that is its own process) packs while light
 * and spreads when busy: the app starts on its home CPU (the first it may
 * use, the same for every app, so a whole pipeline shares it), and spreads
 * over every CPU it may use as soon as it moves events faster than one
 * core comfortably carries, or its home CPU is busy with other work. A
 * spread app packs again once it has been quiet for a while, waiting
 * twice as long after each spread so a crowded home CPU cannot make apps
 * swing back and forth.
 *
 * The affinity is set before the first socket, so ZeroMQ's I/O and reaper
 * threads inherit it; moving later changes every thread of the process.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "flow/error.h"

/* Events in plus out per second above which an app leaves its home CPU:
 * a processor at 150,000 events/s moves 300,000. */
#define SPREAD_RATE 300000.0
/* ... and below which a spread app may go home again. */
#define PACK_RATE 30000.0
/* Events between two looks at the rate, on the hot path. */
#define CHECK_EVERY 32768
/* Home CPU busy fraction (all processes) above which apps spread, and
 * below which a quiet app packs again. */
#define SPREAD_BUSY    0.85
#define PACK_BUSY      0.5
#define BACKOFF_MIN_US (2 * 1000000LL)
#define BACKOFF_MAX_US (64 * 1000000LL)

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sets the affinity of every thread of this process. */
static int set_all_threads(const cpu_set_t *set)
{
    DIR *d = opendir("/proc/self/task");
    int rc = 0;
    if (!d)
        return sched_setaffinity(0, sizeof(*set), set);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
        if (tid > 0 && sched_setaffinity(tid, sizeof(*set), set) != 0 &&
            errno != ESRCH)
            rc = -1;
    }
    closedir(d);
    return rc;
}

/* Busy and total jiffies of one CPU from /proc/stat; -1 if unreadable. */
static int read_cpu(int cpu, uint64_t *busy, uint64_t *total)
{
    char name[24], line[256];
    int n = snprintf(name, sizeof(name), "cpu%d ", cpu);
    FILE *f = fopen("/proc/stat", "re");
    int rc = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, name, (size_t)n) != 0)
            continue;
        uint64_t v[8] = { 0 };
        if (sscanf(line + n,
                   "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                   " %" SCNu64 " %" SCNu64 " %" SCNu64,
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) >= 4) {
            uint64_t idle = v[3] + v[4];
            *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
            *busy = *total - idle;
            rc = 0;
        }
        break;
    }
    fclose(f);
    return rc;
}

/* The home CPU's busy fraction since the last call; -1 before a first
 * reading or when /proc/stat cannot be read. */
static double home_busy(flow__placement *p)
{
    uint64_t busy, total;
    if (read_cpu(p->home, &busy, &total))
        return -1;
    double frac = -1;
    if (p->cpu_total && total > p->cpu_total)
        frac = (double)(busy - p->cpu_busy) / (double)(total - p->cpu_total);
    p->cpu_busy = busy;
    p->cpu_total = total;
    return frac;
}

static uint64_t moved(const flow_ctx *ctx)
{
    return ctx->m.in + ctx->m.out;
}

static void spread(flow_ctx *ctx)
{
    flow__placement *p = &ctx->place;
    if (set_all_threads(&p->allowed) != 0) {
        flow_log(ctx, "cannot widen the CPU affinity: %s", strerror(errno));
        p->mode = FLOW_PLACE_ANY; /* leave it as it is from now on */
        return;
    }
    p->packed = false;
    p->pack_after_us = mono_us() + p->backoff_us;
    p->backoff_us =
        p->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : p->backoff_us * 2;
}

static void pack(flow_ctx *ctx)
{
    flow__placement *p = &ctx->place;
    cpu_set_t home;
    CPU_ZERO(&home);
    CPU_SET(p->home, &home);
    if (set_all_threads(&home) != 0) {
        /* Some threads may have moved: put them all back. */
        set_all_threads(&p->allowed);
        p->mode = FLOW_PLACE_ANY;
        return;
    }
    p->packed = true;
    p->mark_events = moved(ctx);
    p->mark_us = mono_us();
    p->next_check = p->mark_events + CHECK_EVERY;
}

int flow__place_start(flow_ctx *ctx, bool own_process)
{
    flow__placement *p = &ctx->place;
    const flow__conf *c = &ctx->conf;

    memset(p, 0, sizeof(*p));
    p->mode = FLOW_PLACE_ANY;
    if (c->cpus_mode == FLOW_PLACE_ANY)
        return 0;
    if (c->cpus_mode == FLOW_PLACE_FIXED) {
        /* The list was checked against this process's CPUs when parsed. */
        if (sched_setaffinity(0, sizeof(c->cpus_set), &c->cpus_set) != 0) {
            flow_log(ctx, "--flow.cpus=%s: %s", c->cpus, strerror(errno));
            return -FLOW_EUSAGE;
        }
        p->mode = FLOW_PLACE_FIXED;
        return 0;
    }
    /* auto: only an app that owns its process moves it (in flow-host the
     * apps share one, and inproc:// hand-offs stay in it anyway). */
    if (!own_process ||
        sched_getaffinity(0, sizeof(p->allowed), &p->allowed) != 0 ||
        CPU_COUNT(&p->allowed) < 2)
        return 0;
    for (p->home = 0; !CPU_ISSET(p->home, &p->allowed); p->home++)
        ;
    p->mode = FLOW_PLACE_AUTO;
    p->backoff_us = BACKOFF_MIN_US;
    (void)home_busy(p);
    cpu_set_t home;
    CPU_ZERO(&home);
    CPU_SET(p->home, &home);
    if (sched_setaffinity(0, sizeof(home), &home) != 0) {
        p->mode = FLOW_PLACE_ANY;
        return 0;
    }
    p->packed = true;
    p->mark_us = mono_us();
    p->next_check = CHECK_EVERY;
    return 0;
}

void flow__place_rate(flow_ctx *ctx)
{
    flow__placement *p = &ctx->place;
    uint64_t n = moved(ctx);
    int64_t now = mono_us();
    double secs = (double)(now - p->mark_us) / 1e6;
    if (secs > 0 && (double)(n - p->mark_events) / secs > SPREAD_RATE) {
        spread(ctx);
        return;
    }
    p->mark_events = n;
    p->mark_us = now;
    p->next_check = n + CHECK_EVERY;
}

void flow__place_tick(flow_ctx *ctx)
{
    flow__placement *p = &ctx->place;
    if (p->mode != FLOW_PLACE_AUTO)
        return;
    double busy = home_busy(p);
    uint64_t n = moved(ctx);
    int64_t now = mono_us();
    if (p->packed) {
        if (busy > SPREAD_BUSY)
            spread(ctx);
    } else if (now >= p->pack_after_us && busy >= 0 && busy < PACK_BUSY &&
               p->tick_us &&
               (double)(n - p->tick_events) * 1e6 / (double)(now - p->tick_us) <
                   PACK_RATE) {
        pack(ctx);
    }
    p->tick_events = n;
    p->tick_us = now;
}
