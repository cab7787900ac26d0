/* The deployer's ordering rules, driven without a process: a fake
 * operating system (srv_os_ops) records what would be spawned and
 * signalled and lets the test say when an instance exits; the store is
 * SQLite ":memory:" through srv_store. The loop runs only the deployer's
 * own timers (backoff, SIGKILL at the stop timeout). */
#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "deploy/deployer.h"

#include "fake_os.h"

static int64_t fake_now(void *ud)
{
    (void)ud;
    return fk.now;
}

static int fake_port(void *ud)
{
    (void)ud;
    return 40000 + fk.nprocs;
}

static bool fake_tcp_free(void *ud, const char *ep)
{
    (void)ud, (void)ep;
    return true;
}

static const srv_os_ops fake_os = {
    .spawn = fake_spawn,
    .kill = fake_kill,
    .detach = fake_detach,
    .start_ticks = fake_start_ticks,
    .now_ms = fake_now,
    .free_tcp_port = fake_port,
    .tcp_free = fake_tcp_free,
};

/* What the deployer reported upward. */
static int undeployed_calls;
static int changed_calls;

static void on_changed(void *ud, srv_stream *st)
{
    (void)ud, (void)st;
    changed_calls++;
}

static void on_undeployed(void *ud, srv_stream *st)
{
    (void)ud, (void)st;
    undeployed_calls++;
}

static const srv_deployer_ops up_ops = {
    .changed = on_changed,
    .undeployed = on_undeployed,
};

static srv S;
static flow_curve curve;
static uv_loop_t loop;
static char data[64];
static char apps_dir[PATH_MAX];

static const char *const describes[] = {
    "{\"name\": \"src\", \"role\": \"source\", \"options\": []}",
    "{\"name\": \"mid\", \"role\": \"processor\", \"options\": []}",
    "{\"name\": \"snk\", \"role\": \"sink\", \"options\": []}",
    "{\"name\": \"router\", \"role\": \"sink\", \"options\": ["
    "{\"name\": \"destination-mappings\", \"type\": \"string\"}, "
    "{\"name\": \"default-output-channel\", \"type\": \"string\"}]}",
};

static void setup(void)
{
    char path[PATH_MAX + 16], exe[PATH_MAX];
    srv *s = &S;

    memset(&fk, 0, sizeof fk);
    fk.now = 1000000;
    undeployed_calls = changed_calls = 0;
    memset(s, 0, sizeof *s);
    cr_assert_eq(uv_loop_init(&loop), 0);
    s->loop = &loop;
    snprintf(data, sizeof data, "/tmp/flow-deployer-XXXXXX");
    cr_assert_not_null(mkdtemp(data));
    snprintf(s->cfg.data_dir, sizeof s->cfg.data_dir, "%s", data);
    snprintf(path, sizeof path, "%s/run", data);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/logs", data);
    cr_assert_eq(mkdir(path, 0700), 0);
    s->cfg.max_restarts = 5;
    s->cfg.restart_window_s = 60;
    s->cfg.stop_timeout_ms = 60000;
    cr_assert_eq(srv_store_open(&s->store, ":memory:"), 0, "%s", s->store.err);
    s->store.quiet = true;
    /* The apps pass the path rules as a system executable that is never
     * run: the fake spawns nothing. */
    cr_assert_not_null(realpath("/bin/true", exe));
    snprintf(apps_dir, sizeof apps_dir, "%s", exe);
    *strrchr(apps_dir, '/') = '\0';
    s->apps_dirs[0] = apps_dir;
    s->napps_dirs = 1;
    s->reg = dsl_registry_new();
    s->app_uris = json_object();
    for (size_t k = 0; k < sizeof describes / sizeof *describes; k++) {
        char *e = NULL;
        cr_assert_eq(dsl_registry_add_describe(s->reg, describes[k],
                                               strlen(describes[k]), &e),
                     0, "%s", e);
    }
    json_object_set_new(s->app_uris, "source/src",
                        json_pack("{s:s}", "uri", exe));
    json_object_set_new(s->app_uris, "processor/mid",
                        json_pack("{s:s}", "uri", exe));
    json_object_set_new(s->app_uris, "sink/snk",
                        json_pack("{s:s}", "uri", exe));
    json_object_set_new(s->app_uris, "sink/router",
                        json_pack("{s:s}", "uri", exe));
    /* flowd's own keys (keys.c writes them into each instance's keys
     * file); no ZAP handler runs, as no socket binds. */
    memset(&curve, 0, sizeof curve);
    cr_assert_eq(zmq_curve_keypair(curve.server_public, curve.server_secret),
                 0);
    cr_assert_eq(zmq_curve_keypair(curve.public_key, curve.secret_key), 0);
    s->curve = &curve;
    snprintf(s->host_uri, sizeof s->host_uri, "%s", exe);
    s->os = &fake_os;
    s->deployer_ops = &up_ops;
    srv_deployer_attach(s);
    s->restore_done = true;
}

/* Lets the loop close what the deployer freed. */
static void run_pending(void)
{
    for (int k = 0; k < 10; k++)
        uv_run(&loop, UV_RUN_NOWAIT);
}

/* Frees the deployer's and the model's memory, as flowd does at exit. */
static void free_memory(void)
{
    srv_deployer_free_all(&S);
    run_pending();
    srv_streams_free_all(&S);
}

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    free_memory();
    srv_store_close(&S.store);
    dsl_registry_destroy(&S.reg);
    json_decref(S.app_uris);
    cr_assert_eq(uv_loop_close(&loop), 0);
    /* The data directory goes without a shell: nothing here starts a
     * process. */
    cr_assert_eq(nftw(data, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Adds and deploys stream name with properties props (JSON text). */
static srv_stream *deploy(const char *name, const char *dsl, const char *props)
{
    char err[1024];
    srv_stream *st = srv_stream_add(&S, name, dsl, "", fk.now, err, sizeof err);

    cr_assert_not_null(st, "%s", err);
    cr_assert_eq(srv_store_exec(&S.store,
                                "INSERT INTO streams(name, dsl, created_at) "
                                "VALUES (?, ?, ?)",
                                "ssi", name, dsl, fk.now),
                 0);
    json_t *p = json_loads(props, 0, NULL);
    cr_assert_not_null(p, "bad test JSON: %s", props);
    /* The supervision tests are of streams without a guarantee (the test
     * source cannot replay: at-least-once would be its default). */
    if (!json_object_get(p, "flow.guarantee"))
        json_object_set_new(p, "flow.guarantee", json_string("none"));
    int rc = srv_deploy(&S, st, p, err, sizeof err);
    json_decref(p);
    cr_assert_eq(rc, 0, "%s", err);
    return st;
}

static srv_inst *inst(srv_stream *st, const char *label, int index)
{
    srv_dapp *a = srv_stream_app(st, label);

    cr_assert_not_null(a, "no app %s", label);
    for (int j = 0; j < a->ninst; j++)
        if (a->inst[j]->index == index)
            return a->inst[j];
    cr_assert_fail("no instance %s-%d", label, index);
    return NULL;
}

/* The signals pid was sent, in order, as a string ("15,9"). */
static const char *signals_of(int pid)
{
    static char buf[256];
    size_t off = 0;

    buf[0] = '\0';
    for (int k = 0; k < fk.nsent; k++)
        if (fk.sent[k].pid == pid)
            off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%d",
                                    off ? "," : "", fk.sent[k].sig);
    return buf;
}

/* How many times the instance id was started. */
static int spawns_of(const char *id)
{
    int n = 0;

    for (int k = 0; k < fk.nprocs; k++)
        n += strcmp(fk.procs[k].id, id) == 0;
    return n;
}

/* The process of i ends: with status (sig 0) or killed by sig. */
static void exits(srv_inst *i, int64_t status, int sig)
{
    fake_proc *p = i->proc;

    cr_assert_not_null(p, "instance has no process");
    p->alive = false;
    p->inst = NULL;
    srv_deployer_exited(&S, i, status, sig);
}

/* Instance i says hello on the control endpoint (as control.c reports
 * it). */
static void hello(srv_inst *i)
{
    i->state = SRV_INST_DEPLOYED;
    S.control_ops->hello(S.control_ud, i);
}

/* Runs the loop until cond holds, at most about 10 s. */
#define RUN_UNTIL(cond)                                \
    do {                                               \
        for (int n_ = 0; n_ < 1000 && !(cond); n_++) { \
            uv_run(&loop, UV_RUN_NOWAIT);              \
            if (!(cond))                               \
                usleep(10000);                         \
        }                                              \
        cr_assert(cond, "never: %s", #cond);           \
    } while (0)

TestSuite(deployer, .init = setup, .fini = teardown);

Test(deployer, deploy_starts_each_instance_once_sink_first)
{
    srv_stream *st = deploy("s", "src | mid | snk", "{}");

    cr_assert_eq(fk.nprocs, 3);
    cr_assert_str_eq(fk.procs[0].id, "s.snk-0");
    cr_assert_str_eq(fk.procs[1].id, "s.mid-0");
    cr_assert_str_eq(fk.procs[2].id, "s.src-0");
    cr_assert(st->deployed);
    cr_assert_gt(changed_calls, 0);
    cr_assert_eq(fk.nsent, 0);
    /* Each reads what the app before it writes. */
    char want[SRV_OUTPUT_MAX + 32];
    snprintf(want, sizeof want, "\n--flow.output=%s\n",
             inst(st, "src", 0)->output);
    cr_assert(strstr(fk.procs[2].args, want), "%s", fk.procs[2].args);
    snprintf(want, sizeof want, "\n--flow.input=%s\n",
             inst(st, "src", 0)->output);
    cr_assert(strstr(fk.procs[1].args, want), "%s", fk.procs[1].args);
    snprintf(want, sizeof want, "\n--flow.input=%s\n",
             inst(st, "mid", 0)->output);
    cr_assert(strstr(fk.procs[0].args, want), "%s", fk.procs[0].args);
    cr_assert(strstr(fk.procs[0].args, "\n--flow.label=snk\n"), "%s",
              fk.procs[0].args);
    cr_assert_null(strstr(fk.procs[2].args, "--flow.input="), "%s",
                   fk.procs[2].args);
}

/* A tap stream deployed before the stream it taps: the tapped app is
 * started with the tap stream's output group beside its own output, so
 * the tap sees its first event; every app gets an error output. The tap
 * stream's undeploy takes the group away. */
Test(deployer, tap_first_is_in_the_tapped_apps_output)
{
    char err[1024];
    srv_stream *st =
        srv_stream_add(&S, "s", "src | mid | snk", "", fk.now, err, sizeof err);
    cr_assert_not_null(st, "%s", err);
    cr_assert_eq(srv_store_exec(&S.store,
                                "INSERT INTO streams(name, dsl, created_at) "
                                "VALUES ('s', 'src | mid | snk', 0)",
                                NULL),
                 0);
    srv_stream *t = deploy("t", ":s.mid > snk", "{}");
    cr_assert_eq(fk.nprocs, 1);
    cr_assert_null(strstr(fk.procs[0].args, "--flow.input="), "%s",
                   fk.procs[0].args);
    json_t *p = json_object();
    cr_assert_eq(srv_deploy(&S, st, p, err, sizeof err), 0, "%s", err);
    json_decref(p);
    srv_inst *mid = inst(st, "mid", 0);
    cr_assert_eq(mid->ngroups, 1);
    cr_assert_str_eq(mid->groups[0].group, "t");
    char want[SRV_OUTPUT_MAX + SRV_EP_MAX + 32];
    snprintf(want, sizeof want, "\n--flow.output=%s;%s\n", mid->output,
             mid->groups[0].ep);
    fake_proc *pm = mid->proc;
    cr_assert(strstr(pm->args, want), "%s", pm->args);
    snprintf(want, sizeof want, "\n--flow.error-output=%s\n", mid->errors);
    cr_assert(strstr(mid->errors, ".errors"), "%s", mid->errors);
    cr_assert(strstr(pm->args, want), "%s", pm->args);
    /* The untapped apps keep their one output. */
    srv_inst *src = inst(st, "src", 0);
    snprintf(want, sizeof want, "\n--flow.output=%s\n", src->output);
    cr_assert(strstr(((fake_proc *)src->proc)->args, want), "%s",
              ((fake_proc *)src->proc)->args);
    cr_assert(strstr(((fake_proc *)inst(st, "snk", 0)->proc)->args,
                     "\n--flow.error-output="));
    /* Undeploying the tap stream removes the group. */
    cr_assert_not(srv_undeploy(&S, t));
    cr_assert_eq(mid->ngroups, 0);
}

/* The group of producer instance u named key, or NULL. */
static const srv_group *group_named(const srv_inst *u, const char *key)
{
    for (int k = 0; k < u->ngroups; k++)
        if (strcmp(u->groups[k].group, key) == 0)
            return &u->groups[k];
    return NULL;
}

/* A router gets one output group per destination it maps to and
 * consumer stream reading it, whether that stream is deployed before or
 * after the router's; a stream reading a destination the router does not
 * route to reads nothing of it. */
Test(deployer, router_groups_per_destination)
{
    srv_stream *c1 = deploy("c1", ":d1 > snk", "{}");
    srv_stream *r = deploy("r",
                           "src | router --destination-mappings=A:d1,B:d1 "
                           "--default-output-channel=d2",
                           "{}");
    srv_inst *u = inst(r, "router", 0);
    cr_assert_str_eq(u->output, "");
    cr_assert_null(strstr(fk.procs[fk.nprocs - 2].args, "--flow.output"), "%s",
                   fk.procs[fk.nprocs - 2].args);
    hello(u);
    const srv_group *g1 = group_named(u, "d1:c1");
    cr_assert_not_null(g1);
    cr_assert(strstr(g1->ep, "/run/r.router.0.route.d1.to.c1"), "%s", g1->ep);
    cr_assert_eq(u->ngroups, 1);

    srv_stream *c2 = deploy("c2", ":d2 > snk", "{}");
    const srv_group *g2 = group_named(u, "d2:c2");
    cr_assert_not_null(g2);
    char want[SRV_EP_MAX + 32];
    snprintf(want, sizeof want, "\n--flow.input=%s\n", g2->ep);
    cr_assert(strstr(fk.procs[fk.nprocs - 1].args, want), "%s",
              fk.procs[fk.nprocs - 1].args);

    deploy("c3", ":d3 > snk", "{}");
    cr_assert_null(strstr(fk.procs[fk.nprocs - 1].args, "--flow.input="), "%s",
                   fk.procs[fk.nprocs - 1].args);
    cr_assert_eq(u->ngroups, 2);

    char names[8][SRV_NAME_MAX + 16];
    cr_assert_eq(srv_dep_router_dests(srv_stream_app(r, "router"), names, 8),
                 2);
    cr_assert_str_eq(names[0], "d1");
    cr_assert_str_eq(names[1], "d2");
    cr_assert(srv_dep_is_router(srv_stream_app(r, "router")));
    cr_assert_not(srv_dep_is_router(srv_stream_app(c1, "snk")));
    cr_assert_not(srv_dep_is_router(srv_stream_app(c2, "snk")));
}

/* Without mappings a router's expression may name any destination: it
 * gets a group for every stream reading one, and shows "any". */
Test(deployer, router_without_mappings_routes_to_any)
{
    srv_stream *r = deploy("r", "src | router", "{}");
    srv_inst *u = inst(r, "router", 0);
    hello(u);
    deploy("c1", ":d1 > snk", "{}");
    deploy("c2", ":d2 --group=g > snk", "{}");
    cr_assert_eq(u->ngroups, 2);
    cr_assert_not_null(group_named(u, "d1:c1"));
    cr_assert_not_null(group_named(u, "d2:g"));
    char names[8][SRV_NAME_MAX + 16];
    cr_assert_eq(srv_dep_router_dests(srv_stream_app(r, "router"), names, 8),
                 -1);
    cr_assert(srv_dep_routes_to(srv_stream_app(r, "router"), "anything"));
}

/* Each app gets SIGTERM only once every app before it has exited. */
Test(deployer, undeploy_stops_from_the_source_down)
{
    srv_stream *st = deploy("s", "src | mid | snk", "{}");
    srv_inst *src = inst(st, "src", 0), *mid = inst(st, "mid", 0),
             *snk = inst(st, "snk", 0);
    int psrc = src->pid, pmid = mid->pid, psnk = snk->pid;

    cr_assert_not(srv_undeploy(&S, st));
    cr_assert_str_eq(signals_of(psrc), "15");
    cr_assert_str_eq(signals_of(pmid), "");
    cr_assert_str_eq(signals_of(psnk), "");
    exits(src, -1, SIGTERM);
    cr_assert_str_eq(signals_of(pmid), "15");
    cr_assert_str_eq(signals_of(psnk), "");
    exits(mid, 0, 0);
    cr_assert_str_eq(signals_of(psnk), "15");
    cr_assert_eq(undeployed_calls, 0);
    exits(snk, 0, 0);
    cr_assert_eq(undeployed_calls, 1);
    cr_assert_eq(st->napps, 0);
    cr_assert_eq(fk.nsent, 3);
}

/* SIGKILL comes at an app's own stop timeout, and for the apps signalled
 * later at the stream's longest stop timeout, not their own. */
Test(deployer, undeploy_kills_at_the_streams_longest_stop_timeout)
{
    srv_stream *st = deploy("s", "src | snk",
                            "{\"deployer.src.stopTimeout\": \"50\","
                            " \"deployer.snk.stopTimeout\": \"60000\"}");
    srv_inst *src = inst(st, "src", 0), *snk = inst(st, "snk", 0);
    int psrc = src->pid, psnk = snk->pid;

    srv_undeploy(&S, st);
    cr_assert_str_eq(signals_of(psrc), "15");
    /* The source ignores SIGTERM: its own 50 ms are up. */
    RUN_UNTIL(strcmp(signals_of(psrc), "15,9") == 0);
    cr_assert_str_eq(signals_of(psnk), "");
    /* The stream's time (its longest stopTimeout, 60 s) is up when the
     * source is gone: the sink gets SIGTERM, then SIGKILL at once. */
    fk.now += 60000;
    exits(src, -1, SIGKILL);
    cr_assert_str_eq(signals_of(psnk), "15");
    RUN_UNTIL(strcmp(signals_of(psnk), "15,9") == 0);
    cr_assert_eq(undeployed_calls, 0);
    exits(snk, -1, SIGKILL);
    cr_assert_eq(undeployed_calls, 1);
}

/* Lane j of an output of lanes separated by '|' into buf. */
static bool lane_of(const char *output, int j, char *buf, size_t len)
{
    const char *p = output;

    for (; j > 0 && p; j--)
        p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL;
    if (!p)
        return false;
    size_t n = strchr(p, '|') ? (size_t)(strchr(p, '|') - p) : strlen(p);
    if (n >= len)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return true;
}

/* Lanes: each instance of an app that runs several gets a lane of its
 * own from every instance of the app before it, which routes by the
 * app.<label>.partition-key of the consumer; every instance gets epoch 1
 * and a producer id of its stream and label. A scale of the consumer
 * gives the producer an output of the new lane count. */
Test(deployer, several_consumers_get_a_lane_each)
{
    char err[256], want[SRV_OUTPUT_MAX + 32], lane[SRV_EP_MAX];
    srv_stream *st = deploy("s", "src | mid | snk",
                            "{\"deployer.mid.count\": \"3\", "
                            "\"app.mid.partition-key\": \"key\"}");
    srv_inst *src = inst(st, "src", 0);
    const char *args = NULL;

    for (int k = 0; k < fk.nprocs; k++)
        if (strcmp(fk.procs[k].id, "s.src-0") == 0)
            args = fk.procs[k].args;
    cr_assert_not_null(args);
    cr_assert_eq(srv_stream_app(st, "src")->lanes, 3);
    for (int j = 0; j < 3; j++) {
        char ep[SRV_EP_MAX];
        snprintf(ep, sizeof ep, "ipc://%s/run/s.src.0.l%d", data, j);
        cr_assert(lane_of(src->output, j, lane, sizeof lane));
        cr_assert_str_eq(lane, ep);
        char id[64];
        snprintf(id, sizeof id, "s.mid-%d", j);
        snprintf(want, sizeof want, "\n--flow.input=%s\n", ep);
        for (int k = 0; k < fk.nprocs; k++)
            if (strcmp(fk.procs[k].id, id) == 0)
                cr_assert(strstr(fk.procs[k].args, want), "%s: %s", id,
                          fk.procs[k].args);
    }
    snprintf(want, sizeof want, "\n--flow.output=%s\n", src->output);
    cr_assert(strstr(args, want), "%s", args);
    cr_assert(strchr(src->output, '|'));
    cr_assert(strstr(args, "\n--flow.partition-key=key\n"), "%s", args);
    /* Without a guarantee no epoch: the coordinator gives it. */
    cr_assert_null(strstr(args, "\n--flow.epoch="), "%s", args);
    cr_assert(strstr(args, "\n--flow.producer-id=s.src\n"), "%s", args);
    /* mid's consumer runs once: one output, no key, and the property is
     * not an option of mid. */
    cr_assert_null(strchr(inst(st, "mid", 0)->output, '|'));
    for (int k = 0; k < fk.nprocs; k++)
        cr_assert_null(strstr(fk.procs[k].args, "--partition-key"), "%s",
                       fk.procs[k].args);
    cr_assert_eq(
        srv_scale(&S, st, srv_stream_app(st, "mid"), 2, err, sizeof err), 0,
        "%s", err);
    cr_assert_eq(srv_stream_app(st, "src")->lanes, 2);
    cr_assert(lane_of(src->output, 1, lane, sizeof lane));
    snprintf(want, sizeof want, "ipc://%s/run/s.src.0.l0|%s", data, lane);
    cr_assert_str_eq(src->output, want);
    cr_assert_eq(
        srv_scale(&S, st, srv_stream_app(st, "mid"), 1, err, sizeof err), 0,
        "%s", err);
    cr_assert_null(strchr(src->output, '|'), "%s", src->output);
}

/* An undeploy that comes while a scale-down's instances still stop ends
 * once the last of them is gone, even when they are the last to exit. */
Test(deployer, scale_down_then_undeploy_waits_for_every_process)
{
    char err[256];
    srv_stream *st =
        deploy("s", "src | snk", "{\"deployer.snk.count\": \"3\"}");
    srv_dapp *snk = srv_stream_app(st, "snk");
    srv_inst *s1 = inst(st, "snk", 1), *s2 = inst(st, "snk", 2);
    int p1 = s1->pid, p2 = s2->pid;

    cr_assert_eq(srv_scale(&S, st, snk, 1, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(signals_of(p1), "15");
    cr_assert_str_eq(signals_of(p2), "15");
    cr_assert_eq(snk->count, 1);
    srv_inst *src = inst(st, "src", 0), *s0 = inst(st, "snk", 0);
    int p0 = s0->pid;
    cr_assert_not(srv_undeploy(&S, st));
    exits(src, 0, 0);
    cr_assert_str_eq(signals_of(p0), "15");
    exits(s0, 0, 0);
    cr_assert_eq(undeployed_calls, 0);
    exits(s2, 0, 0);
    cr_assert_eq(undeployed_calls, 0);
    exits(s1, 0, 0);
    cr_assert_eq(undeployed_calls, 1);
    cr_assert_eq(st->napps, 0);
}

/* A crash is restarted after a backoff; more than --max-restarts within
 * the window is failed, and not started again. */
Test(deployer, crashes_back_off_then_fail)
{
    srv_stream *st = deploy("s", "src | snk",
                            "{\"deployer.snk.maxRestarts\": \"2\","
                            " \"deployer.snk.restartWindow\": \"60\"}");

    for (int n = 1; n <= 3; n++) {
        srv_inst *i = inst(st, "snk", 0);
        cr_assert_eq(spawns_of("s.snk-0"), n);
        exits(i, 1, 0);
        if (n < 3) {
            cr_assert_eq(i->state, SRV_INST_RESTARTING);
            RUN_UNTIL(spawns_of("s.snk-0") == n + 1);
            cr_assert_eq(i->state, SRV_INST_DEPLOYING);
        }
    }
    srv_inst *i = inst(st, "snk", 0);
    cr_assert_eq(i->state, SRV_INST_FAILED);
    cr_assert_eq(i->restarts, 3);
    cr_assert_str_eq(i->last_exit, "exit status 1");
    cr_assert_eq(st->status, SRV_FAILED);
    /* Nothing more comes, however long the loop runs its timers. */
    for (int k = 0; k < 30; k++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    cr_assert_eq(spawns_of("s.snk-0"), 3);
    cr_assert_eq(spawns_of("s.src-0"), 1);
}

/* Crashes further apart than the window never add up to failed. */
Test(deployer, crashes_outside_the_window_are_restarted)
{
    srv_stream *st = deploy("s", "src | snk",
                            "{\"deployer.snk.maxRestarts\": \"1\","
                            " \"deployer.snk.restartWindow\": \"10\"}");

    for (int n = 1; n <= 4; n++) {
        srv_inst *i = inst(st, "snk", 0);
        fk.now += 11000;
        exits(i, 1, 0);
        cr_assert_eq(i->state, SRV_INST_RESTARTING, "crash %d", n);
        RUN_UNTIL(spawns_of("s.snk-0") == n + 1);
    }
}

/* After a flowd restart, instances whose recorded process still runs are
 * adopted (not started again); the others are started again. */
Test(deployer, restart_adopts_the_living_and_respawns_the_rest)
{
    srv_stream *st =
        deploy("s", "src | snk", "{\"deployer.snk.count\": \"2\"}");
    int psrc = inst(st, "src", 0)->pid, p0 = inst(st, "snk", 0)->pid;
    fake_proc *p1 = inst(st, "snk", 1)->proc;

    /* flowd goes down; its apps stay, but for snk-1. */
    free_memory();
    p1->alive = false;
    int before = fk.nprocs;

    srv_deployer_restore(&S);
    srv_deployer_restore_deployments(&S);
    st = srv_stream_find(&S, "s");
    cr_assert_not_null(st);
    cr_assert(st->deployed);
    srv_inst *src = inst(st, "src", 0), *s0 = inst(st, "snk", 0),
             *s1 = inst(st, "snk", 1);
    cr_assert(src->adopted);
    cr_assert_eq(src->pid, psrc);
    cr_assert(s0->adopted);
    cr_assert_eq(s0->pid, p0);
    cr_assert_not(s1->adopted);
    cr_assert_eq(fk.nprocs, before + 1);
    cr_assert_str_eq(fk.procs[before].id, "s.snk-1");
    cr_assert_eq(s1->pid, fk.procs[before].pid);
    /* Nothing that still runs was signalled. */
    cr_assert_eq(fk.nsent, 0);
    /* flowd is ready once every restored instance said hello. */
    cr_assert_not(S.ready);
    srv_inst *all[] = { src, s0, s1 };
    for (size_t k = 0; k < 3; k++) {
        cr_assert_not(S.ready);
        hello(all[k]);
    }
    cr_assert(S.ready);
}

/* deployer.packaging=single: one process runs every app; the undeploy
 * signals that one process, and the stream is undeployed when it exits. */
Test(deployer, single_packaging_is_one_process)
{
    srv_stream *st =
        deploy("s", "src | mid | snk", "{\"deployer.packaging\": \"single\"}");

    cr_assert_eq(fk.nprocs, 1);
    cr_assert_not_null(st->host);
    int pid = st->host->pid;
    cr_assert(strstr(fk.procs[0].args, "\nsrc\n") &&
                  strstr(fk.procs[0].args, "\n|\nmid\n") &&
                  strstr(fk.procs[0].args, "\n|\nsnk\n"),
              "%s", fk.procs[0].args);
    /* Its apps show the host's process. */
    cr_assert_eq(inst(st, "mid", 0)->pid, pid);
    cr_assert_not(srv_undeploy(&S, st));
    cr_assert_eq(fk.nsent, 1);
    cr_assert_str_eq(signals_of(pid), "15");
    exits(st->host, 0, 0);
    cr_assert_eq(undeployed_calls, 1);
    cr_assert_null(st->host);
    cr_assert_eq(st->napps, 0);
}

static void count_handle(uv_handle_t *h, void *arg)
{
    (void)h;
    (*(int *)arg)++;
}

/* The handles on the loop: each instance's timer until it is closed,
 * and the checkpoint coordinator's timer (srv_deployer_free_all closes
 * it). */
static int loop_handles(void)
{
    int n = 0;

    uv_walk(&loop, count_handle, &n);
    return n;
}

/* The model's srv_stream_free alone frees a deployed stream: its apps,
 * options, instances (with their timers, closed on the loop first: an
 * instance goes in its timer's close callback) and host, besides the
 * stream itself. The loop then holds no handle but the coordinator's
 * timer, and the sanitizer build finds no leak. */
static void free_deployed(srv_stream *st, int handles)
{
    cr_assert_eq(loop_handles(), handles + 1);
    for (srv_stream **pp = &S.streams; *pp; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    srv_stream_free(st);
    run_pending();
    cr_assert_null(S.streams);
    cr_assert_eq(loop_handles(), 1);
}

TestSuite(model, .init = setup, .fini = teardown);

Test(model, stream_free_frees_a_deployed_stream)
{
    srv_stream *st =
        deploy("s", "src | mid | snk", "{\"deployer.mid.count\": \"2\"}");

    cr_assert_eq(st->napps, 3);
    cr_assert_eq(fk.nprocs, 4);
    free_deployed(st, 4);
}

Test(model, stream_free_frees_a_single_packaged_stream)
{
    srv_stream *st =
        deploy("s", "src | mid | snk", "{\"deployer.packaging\": \"single\"}");

    cr_assert_not_null(st->host);
    cr_assert_eq(fk.nprocs, 1);
    free_deployed(st, 4);
}
