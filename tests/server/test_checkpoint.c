/* The checkpoint coordinator (server/checkpoint/) with the deployer over
 * a fake operating system, as in test_deployer.c: what would be spawned
 * and signalled is recorded, the test says when an instance exits, says
 * hello, acks or declines; the store is SQLite ":memory:"; the clock is
 * the fake's, and the coordinator's timer is driven by srv_ckpt_poll. */
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

#include "analytics.h"
#include "checkpoint/checkpoint.h"
#include "deploy/deployer.h"

#include "fake_os.h"

/* What the coordinator sent: ckpt or ckpt_done of an id, to a pid. */
static struct {
    int pid;
    bool done;
    uint64_t id;
} sent_ck[FAKE_MAX];
static int nsent_ck;

static void fake_send(void *ud, srv_inst *i, bool done, uint64_t id)
{
    (void)ud;
    cr_assert_lt(nsent_ck, FAKE_MAX);
    sent_ck[nsent_ck].pid = i->pid;
    sent_ck[nsent_ck].done = done;
    sent_ck[nsent_ck].id = id;
    nsent_ck++;
}

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
    "{\"name\": \"load-sim\", \"role\": \"source\", \"options\": []}",
    "{\"name\": \"mid\", \"role\": \"processor\", \"options\": []}",
    "{\"name\": \"snk\", \"role\": \"sink\", \"options\": []}",
};

static void setup(void)
{
    char path[PATH_MAX + 16], exe[PATH_MAX];
    srv *s = &S;

    memset(&fk, 0, sizeof fk);
    nsent_ck = 0;
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
    for (size_t k = 0; k < 3; k++) {
        char *e = NULL;
        cr_assert_eq(dsl_registry_add_describe(s->reg, describes[k],
                                               strlen(describes[k]), &e),
                     0, "%s", e);
    }
    json_object_set_new(s->app_uris, "source/load-sim",
                        json_pack("{s:s}", "uri", exe));
    json_object_set_new(s->app_uris, "processor/mid",
                        json_pack("{s:s}", "uri", exe));
    json_object_set_new(s->app_uris, "sink/snk",
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
    s->an = srv_analytics_new(s);
    srv_deployer_attach(s);
    srv_ckpt_set_sender(s, fake_send, NULL);
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
    srv_analytics_destroy(&S.an);
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
    i->ident[0] = 'x';
    i->ident_len = 1;
    i->last_seen_ms = fk.now;
    S.control_ops->hello(S.control_ud, i);
}

/* The demo's shape: a source that replays, a processor, a sink. */
#define DEMO "load-sim | mid | snk"
#define FAST "\"flow.checkpoint.interval\": \"100ms\""

static void hello_all(srv_stream *st)
{
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++)
            hello(st->apps[k].inst[j]);
}

static void ack(srv_inst *i, uint64_t id)
{
    srv_ckpt_on_ack(&S, i, id, 100);
}

/* The clock moves on by ms and the coordinator's timer fires. */
static void later(int64_t ms)
{
    fk.now += ms;
    srv_ckpt_poll(&S);
}

/* How many ckpt (done false) or ckpt_done messages of id went out, and
 * to pid (0: to anyone). */
static int sent_of(bool done, uint64_t id, int pid)
{
    int n = 0;
    for (int k = 0; k < nsent_ck; k++)
        n += sent_ck[k].done == done && sent_ck[k].id == id &&
             (!pid || sent_ck[k].pid == pid);
    return n;
}

static srv_region *region(srv_stream *st)
{
    srv_region *r = srv_ckpt_region_of(&S, st);
    cr_assert_not_null(r);
    return r;
}

/* Every instance of st acks id. */
static void ack_all(srv_stream *st, uint64_t id)
{
    for (size_t k = 0; k < st->napps; k++)
        for (int j = 0; j < st->apps[k].ninst; j++)
            ack(st->apps[k].inst[j], id);
}

static int64_t store_int(const char *sql, const char *arg)
{
    sqlite3_stmt *q = srv_store_query(&S.store, sql, "s", arg);
    int64_t v = -1;
    if (q && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* The argv of the latest start of instance id, one element a line. */
static const char *args_of(const char *id)
{
    for (int k = fk.nprocs; k-- > 0;)
        if (strcmp(fk.procs[k].id, id) == 0)
            return fk.procs[k].args;
    cr_assert_fail("%s never started", id);
    return NULL;
}

static bool dir_exists(uint64_t id)
{
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof path, "%s/checkpoints/s/%llu", data,
             (unsigned long long)id);
    return stat(path, &sb) == 0;
}

/* A counter message tagged with checkpoint id: cumulative total. */
static void tagged_counter(srv_inst *i, uint64_t id, const char *name,
                           uint64_t total)
{
    flow_ctl_msg m;
    memset(&m, 0, sizeof m);
    m.type = FLOW_CTL_COUNTER;
    m.kind.ptr = "counter";
    m.kind.len = 7;
    m.name.ptr = name;
    m.name.len = (uint32_t)strlen(name);
    m.total = total;
    m.has_total = true;
    m.ckpt = id;
    srv_ckpt_on_counter(&S, i, &m);
}

static uint64_t committed(const char *name)
{
    srv_counter *c = srv_analytics_find(S.an, "counter", name);
    return c ? c->total : 0;
}

TestSuite(checkpoint, .init = setup, .fini = teardown);

Test(checkpoint, guarantee_defaults_by_what_the_sources_replay)
{
    srv_stream *a = deploy("s", DEMO, "{}");
    srv_stream *b = deploy("t", "mid | snk", "{}");
    srv_stream *c = deploy("u", DEMO, "{\"flow.guarantee\": \"none\"}");

    cr_assert_eq(a->guarantee, SRV_GUARANTEE_EXACTLY_ONCE);
    cr_assert_str_eq(a->guarantee_note, "");
    cr_assert_eq(b->guarantee, SRV_GUARANTEE_AT_LEAST_ONCE);
    cr_assert_not_null(strstr(b->guarantee_note, "cannot replay"), "%s",
                       b->guarantee_note);
    cr_assert_eq(c->guarantee, SRV_GUARANTEE_NONE);
    /* A stream without a guarantee starts as before: no flag of them. */
    cr_assert_null(strstr(args_of("u.mid-0"), "--flow.guarantee"));
    cr_assert_not_null(
        strstr(args_of("s.mid-0"), "--flow.guarantee=exactly-once\n"));
}

Test(checkpoint, a_destination_shared_makes_one_region)
{
    srv_stream *p = deploy("s", "load-sim | mid > :d", "{}");
    srv_stream *q = deploy("t", ":d > snk", "{}");
    srv_stream *o = deploy("u", ":e > snk", "{}");

    cr_assert_eq(region(p), region(q));
    cr_assert_str_eq(srv_ckpt_region_id(region(q)), "s");
    cr_assert_neq(region(o), region(p));
    cr_assert_eq(q->guarantee, SRV_GUARANTEE_EXACTLY_ONCE);
    /* Fed only from outside flowd: at-least-once at most, and it says so. */
    cr_assert_eq(o->guarantee, SRV_GUARANTEE_AT_LEAST_ONCE);
    cr_assert_not_null(strstr(o->guarantee_note, "':e'"), "%s",
                       o->guarantee_note);
}

Test(checkpoint, spawn_flags_count_the_upstream_channels)
{
    deploy("s", DEMO, "{\"deployer.mid.count\": 2, \"flow.key-groups\": 256}");
    const char *src = args_of("s.load-sim-0");
    const char *mid = args_of("s.mid-1");
    const char *snk = args_of("s.snk-0");
    char dir[PATH_MAX + 64];

    cr_assert_null(strstr(src, "--flow.upstreams="), "%s", src);
    cr_assert_not_null(strstr(mid, "--flow.upstreams=1\n"), "%s", mid);
    cr_assert_not_null(strstr(snk, "--flow.upstreams=2\n"), "%s", snk);
    cr_assert_not_null(strstr(mid, "--flow.instances=2\n"), "%s", mid);
    cr_assert_not_null(strstr(snk, "--flow.instances=1\n"), "%s", snk);
    cr_assert_not_null(strstr(mid, "--flow.key-groups=256\n"), "%s", mid);
    cr_assert_not_null(strstr(mid, "--flow.epoch=1\n"), "%s", mid);
    cr_assert_not_null(strstr(mid, "--flow.producer-id=s.mid\n"), "%s", mid);
    snprintf(dir, sizeof dir, "--flow.checkpoint-dir=%s/checkpoints/s\n", data);
    cr_assert_not_null(strstr(mid, dir), "%s", mid);
    cr_assert_null(strstr(mid, "--flow.restore"), "%s", mid);
}

Test(checkpoint, complete_only_when_every_instance_acked)
{
    srv_stream *st = deploy("s", DEMO, "{" FAST "}");
    srv_region *r = region(st);

    later(200);
    cr_assert_eq(nsent_ck, 0, "no ckpt before every instance said hello");
    hello_all(st);
    later(200);
    cr_assert_eq(srv_ckpt_in_flight(r), 1);
    cr_assert_eq(nsent_ck, 1, "ckpt goes to the source alone");
    cr_assert_eq(sent_of(false, 1, inst(st, "load-sim", 0)->pid), 1);
    ack(inst(st, "load-sim", 0), 1);
    ack(inst(st, "mid", 0), 1);
    ack(inst(st, "mid", 0), 1);
    later(10);
    cr_assert_eq(srv_ckpt_last_complete(r), 0);
    cr_assert_eq(
        store_int("SELECT count(*) FROM checkpoints WHERE region=?", "s"), 0);
    cr_assert_eq(sent_of(true, 1, 0), 0);
    ack(inst(st, "snk", 0), 7); /* an ack of another id counts for nothing */
    cr_assert_eq(srv_ckpt_last_complete(r), 0);
    ack(inst(st, "snk", 0), 1);
    cr_assert_eq(srv_ckpt_last_complete(r), 1);
    cr_assert_eq(srv_ckpt_in_flight(r), 0);
    cr_assert_eq(
        store_int("SELECT max(id) FROM checkpoints WHERE region=?", "s"), 1);
    cr_assert_eq(sent_of(true, 1, 0), 3, "ckpt_done to every instance");
    json_t *j = srv_ckpt_status_json(&S, st);
    json_t *ck = json_object_get(j, "checkpoint");
    cr_assert_eq(json_integer_value(json_object_get(ck, "last_complete")), 1);
    cr_assert(json_is_string(json_object_get(ck, "last_completed_at")));
    cr_assert(json_is_null(json_object_get(ck, "in_flight")));
    cr_assert_eq(json_integer_value(json_object_get(ck, "failed")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(j, "guarantee")),
                     "exactly-once");
    json_decref(j);
}

Test(checkpoint, timeout_and_decline_abort_and_the_next_interval_retries)
{
    srv_stream *st =
        deploy("s", DEMO, "{" FAST ", \"flow.checkpoint.timeout\": \"1s\"}");
    srv_region *r = region(st);

    hello_all(st);
    later(200);
    cr_assert_eq(srv_ckpt_in_flight(r), 1);
    ack(inst(st, "load-sim", 0), 1);
    ack(inst(st, "mid", 0), 1);
    later(900);
    cr_assert_eq(srv_ckpt_in_flight(r), 1, "not timed out yet");
    later(200);
    cr_assert_eq(srv_ckpt_in_flight(r), 0);
    cr_assert_eq(srv_ckpt_last_complete(r), 0);
    json_t *j = srv_ckpt_status_json(&S, st);
    json_t *ck = json_object_get(j, "checkpoint");
    const char *why = json_string_value(json_object_get(ck, "last_failure"));
    cr_assert_eq(json_integer_value(json_object_get(ck, "failed")), 1);
    cr_assert_not_null(why);
    cr_assert_not_null(strstr(why, "checkpoint 1 aborted: timed out"), "%s",
                       why);
    cr_assert_not_null(strstr(why, "s.snk-0"), "%s", why);
    json_decref(j);
    srv_deployer_refresh(&S, st);
    cr_assert_not_null(strstr(st->status_desc, "checkpoint 1 aborted"),
                       "the status warns: %s", st->status_desc);
    ack(inst(st, "snk", 0), 1); /* too late */
    cr_assert_eq(srv_ckpt_last_complete(r), 0);
    later(100);
    cr_assert_eq(srv_ckpt_in_flight(r), 2, "retried at the next interval");
    srv_ckpt_on_decline(&S, inst(st, "mid", 0), 2, "disk full");
    cr_assert_eq(srv_ckpt_in_flight(r), 0);
    j = srv_ckpt_status_json(&S, st);
    ck = json_object_get(j, "checkpoint");
    why = json_string_value(json_object_get(ck, "last_failure"));
    cr_assert_eq(json_integer_value(json_object_get(ck, "failed")), 2);
    cr_assert_not_null(strstr(why, "s.mid-0 declined it: disk full"), "%s",
                       why);
    json_decref(j);
    later(100);
    cr_assert_eq(srv_ckpt_in_flight(r), 3);
    ack_all(st, 3);
    cr_assert_eq(srv_ckpt_last_complete(r), 3);
    srv_deployer_refresh(&S, st);
    cr_assert_null(strstr(st->status_desc, "aborted"),
                   "no warning once one completes: %s", st->status_desc);
}

Test(checkpoint, counters_are_committed_at_completion_alone)
{
    srv_stream *st = deploy("s", DEMO, "{" FAST "}");
    srv_inst *snk;

    hello_all(st);
    snk = inst(st, "snk", 0);
    uint64_t live;
    srv_ckpt_on_live(&S, snk, "counter", "hits", NULL, 4);
    cr_assert(srv_ckpt_live(&S, "counter", "hits", &live));
    cr_assert_eq(live, 4, "the untagged increments: live only");
    later(200);
    tagged_counter(snk, 1, "hits", 5);
    cr_assert_eq(committed("hits"), 0, "not before the checkpoint completes");
    cr_assert_eq(store_int("SELECT count(*) FROM checkpoint_counters WHERE "
                           "region=?",
                           "s"),
                 0);
    ack_all(st, 1);
    cr_assert_eq(committed("hits"), 5);
    cr_assert(srv_ckpt_live(&S, "counter", "hits", &live));
    cr_assert_eq(live, 5, "never below what was reported: %llu",
                 (unsigned long long)live);
    cr_assert_eq(store_int("SELECT value FROM checkpoint_counters WHERE "
                           "region=? AND name='hits' AND key=''",
                           "s"),
                 5);
    cr_assert_eq(store_int("SELECT total FROM counters WHERE name=?", "hits"),
                 5, "the analytics total, in the same transaction");
    /* Checkpoint 2 reports 9 but is declined: nothing moves. */
    later(100);
    tagged_counter(snk, 2, "hits", 9);
    srv_ckpt_on_decline(&S, snk, 2, "snapshot failed");
    cr_assert_eq(committed("hits"), 5);
    later(100);
    ack_all(st, 3);
    cr_assert_eq(committed("hits"), 9);
    cr_assert_eq(store_int("SELECT total FROM counters WHERE name=?", "hits"),
                 9);
    json_t *h =
        srv_analytics_history(S.an, "counter", "hits", 3600, 0, fk.now / 1000);
    const char *k;
    json_t *v;
    json_int_t sum = 0;
    json_object_foreach(h, k, v) sum += json_integer_value(v);
    cr_assert_eq(sum, 9, "the history gains the committed deltas");
    json_decref(h);
}

Test(checkpoint, retention_keeps_the_last_complete_ones)
{
    srv_stream *st = deploy("s", DEMO,
                            "{" FAST ", \"flow.checkpoint.retain\": 2, "
                            "\"flow.checkpoint.timeout\": \"1s\"}");
    srv_region *r = region(st);

    hello_all(st);
    for (uint64_t id = 1; id <= 2; id++) {
        later(100);
        ack_all(st, id);
    }
    later(100);
    cr_assert_eq(srv_ckpt_in_flight(r), 3);
    later(1100); /* 3 times out */
    for (uint64_t id = 4; id <= 5; id++) {
        later(100);
        cr_assert_eq(srv_ckpt_in_flight(r), id);
        ack_all(st, id);
    }
    cr_assert_eq(srv_ckpt_last_complete(r), 5);
    cr_assert_not(dir_exists(1));
    cr_assert_not(dir_exists(2));
    cr_assert_not(dir_exists(3), "an aborted one older than the newest");
    cr_assert(dir_exists(4));
    cr_assert(dir_exists(5));
    cr_assert_eq(
        store_int("SELECT count(*) FROM checkpoints WHERE region=?", "s"), 2);
    cr_assert_eq(
        store_int("SELECT min(id) FROM checkpoints WHERE region=?", "s"), 4);
}

Test(checkpoint, a_crash_restarts_the_whole_region_in_the_next_epoch)
{
    srv_stream *st = deploy("s", DEMO, "{" FAST "}");
    srv_region *r = region(st);
    char want[PATH_MAX + 128];

    hello_all(st);
    later(200);
    ack_all(st, 1);
    later(100);
    cr_assert_eq(srv_ckpt_in_flight(r), 2);
    int src = inst(st, "load-sim", 0)->pid, snk = inst(st, "snk", 0)->pid;
    exits(inst(st, "mid", 0), 0, SIGKILL);
    cr_assert(srv_ckpt_recovering(r));
    cr_assert_eq(srv_ckpt_in_flight(r), 0, "the one in flight is aborted");
    cr_assert_str_eq(signals_of(src), "9");
    cr_assert_str_eq(signals_of(snk), "9");
    cr_assert_eq(spawns_of("s.mid-0"), 1, "nothing starts before all exit");
    exits(inst(st, "load-sim", 0), 0, SIGKILL);
    cr_assert_eq(spawns_of("s.mid-0"), 1);
    exits(inst(st, "snk", 0), 0, SIGKILL);
    cr_assert_eq(spawns_of("s.load-sim-0"), 2);
    cr_assert_eq(spawns_of("s.mid-0"), 2);
    cr_assert_eq(spawns_of("s.snk-0"), 2);
    cr_assert_eq(srv_ckpt_epoch(r), 2);
    cr_assert_eq(store_int("SELECT epoch FROM regions WHERE id=?", "s"), 2);
    const char *mid = args_of("s.mid-0");
    cr_assert_not_null(strstr(mid, "--flow.epoch=2\n"), "%s", mid);
    snprintf(want, sizeof want,
             "--flow.restore=%s/checkpoints/s/1/s.mid.0.snap\n", data);
    cr_assert_not_null(strstr(mid, want), "%s", mid);
    hello_all(st);
    cr_assert_not(srv_ckpt_recovering(r));
    json_t *j = srv_ckpt_status_json(&S, st);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(j, "recovery"), "count")),
                 1);
    json_decref(j);
    later(100);
    cr_assert_eq(srv_ckpt_in_flight(r), 3, "the ids go on");
}

Test(checkpoint, a_silent_instance_stops_its_region)
{
    srv_stream *st = deploy("s", DEMO, "{" FAST "}");
    srv_region *r = region(st);

    hello_all(st);
    fk.now += 1000;
    for (size_t k = 0; k < st->napps; k++)
        if (k != 1)
            st->apps[k].inst[0]->last_seen_ms = fk.now;
    srv_deployer_tick(&S);
    cr_assert_not(srv_ckpt_recovering(r));
    fk.now += 2500; /* mid has been silent 3.5 s (SIGSTOP) */
    for (size_t k = 0; k < st->napps; k++)
        if (k != 1)
            st->apps[k].inst[0]->last_seen_ms = fk.now;
    srv_deployer_tick(&S);
    cr_assert(srv_ckpt_recovering(r));
    for (size_t k = 0; k < st->napps; k++)
        cr_assert_str_eq(signals_of(st->apps[k].inst[0]->pid), "9",
                         "every instance is killed, the stopped one too");
    for (size_t k = 0; k < st->napps; k++)
        exits(st->apps[k].inst[0], 0, SIGKILL);
    cr_assert_eq(spawns_of("s.mid-0"), 2);
    cr_assert_null(strstr(args_of("s.mid-0"), "--flow.restore"),
                   "no checkpoint complete yet: a fresh start");
    cr_assert_not_null(strstr(args_of("s.mid-0"), "--flow.epoch=2\n"));
}

Test(checkpoint, a_restarted_coordinator_goes_on_from_the_store)
{
    srv_stream *st = deploy("s", DEMO, "{" FAST "}");
    srv_region *r = region(st);

    hello_all(st);
    later(200);
    tagged_counter(inst(st, "snk", 0), 1, "hits", 5);
    ack_all(st, 1);
    later(100);
    cr_assert_eq(srv_ckpt_in_flight(r), 2);
    /* flowd stops with 2 in flight; the apps go on. */
    srv_ckpt_free(&S);
    run_pending();
    cr_assert_eq(srv_ckpt_start(&S, fake_now, NULL), 0);
    srv_ckpt_set_sender(&S, fake_send, NULL);
    r = region(st);
    cr_assert_eq(srv_ckpt_last_complete(r), 1);
    cr_assert_eq(srv_ckpt_in_flight(r), 0, "what was in flight is aborted");
    cr_assert_eq(srv_ckpt_epoch(r), 1);
    ack_all(st, 2); /* the old one's acks count for nothing */
    cr_assert_eq(srv_ckpt_last_complete(r), 1);
    later(100);
    cr_assert_eq(srv_ckpt_in_flight(r), 3, "the next id, past the old one");
    /* The committed value is the base: 7 now commits 2 more. */
    tagged_counter(inst(st, "snk", 0), 3, "hits", 7);
    ack_all(st, 3);
    cr_assert_eq(committed("hits"), 7);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/checkpoints/s/3/s.snk.0.snap", data);
    char files[PATH_MAX + 64];
    cr_assert_eq(srv_ckpt_restore_of(&S, r, srv_stream_app(st, "snk"), files,
                                     sizeof files),
                 0);
    cr_assert_str_eq(files, want);
}

Test(checkpoint, scale_takes_a_checkpoint_then_restarts_from_it)
{
    srv_stream *st = deploy("s", DEMO, "{" FAST "}");
    srv_region *r = region(st);
    char err[256];

    hello_all(st);
    later(200);
    ack_all(st, 1);
    cr_assert_eq(
        srv_scale(&S, st, srv_stream_app(st, "mid"), 2, err, sizeof err), 0,
        "%s", err);
    cr_assert_eq(srv_ckpt_in_flight(r), 2, "a checkpoint at once");
    cr_assert_eq(fk.nsent, 0, "nothing stops before it completes");
    ack_all(st, 2);
    cr_assert(srv_ckpt_recovering(r));
    for (size_t k = 0; k < st->napps; k++)
        exits(st->apps[k].inst[0], 0, SIGKILL);
    cr_assert_eq(srv_stream_app(st, "mid")->ninst, 2);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want,
             "--flow.restore=%s/checkpoints/s/2/s.mid.0.snap\n", data);
    cr_assert_not_null(strstr(args_of("s.mid-1"), want), "%s",
                       args_of("s.mid-1"));
    cr_assert_not_null(strstr(args_of("s.mid-1"), "--flow.instances=2\n"));
    cr_assert_not_null(strstr(args_of("s.snk-0"), "--flow.upstreams=2\n"));
    cr_assert_not_null(strstr(args_of("s.snk-0"), "--flow.epoch=2\n"));
}

Test(checkpoint, bad_properties_are_refused_by_name)
{
    char err[1024];
    srv_stream *st = srv_stream_add(&S, "s", DEMO, "", fk.now, err, sizeof err);
    json_t *p = json_pack("{s:s}", "flow.checkpoint.interval", "soon");

    cr_assert_not_null(st);
    cr_assert_eq(srv_deploy(&S, st, p, err, sizeof err), -SRV_EPROPS);
    cr_assert_not_null(strstr(err, "'flow.checkpoint.interval'"), "%s", err);
    cr_assert_eq(fk.nprocs, 0);
    json_decref(p);
}

/* The checkpoint messages flowd reads and sends, through the one codec. */
Test(control, checkpoint_messages_round_trip)
{
    flow_buf b;
    flow_ctl_msg m;
    flow_ctl_ident id = { .stream = "s", .label = "mid", .instance = 2 };
    flow_ctl_pair v[1] = { { { "gold", 4 }, 7 } };

    flow_buf_init(&b);
    cr_assert_eq(flow_ctl_encode_ack(&b, &id, 41, 1234), 0);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &m), 0);
    cr_assert_eq(m.type, FLOW_CTL_ACK);
    cr_assert_eq(m.id, 41);
    cr_assert_eq(m.bytes, 1234);
    cr_assert_eq(m.instance, 2);
    cr_assert_eq(m.label.len, 3);
    flow_ctl_msg_fini(&m);
    cr_assert_eq(flow_ctl_encode_decline(&b, &id, 42, "disk full"), 0);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &m), 0);
    cr_assert_eq(m.type, FLOW_CTL_DECLINE);
    cr_assert_eq(m.id, 42);
    cr_assert_eq(m.reason.len, 9);
    cr_assert_eq(memcmp(m.reason.ptr, "disk full", 9), 0);
    flow_ctl_msg_fini(&m);
    cr_assert_eq(flow_ctl_encode_counter_ckpt(&b, "field-value-counter", "c",
                                              43, 7, NULL, 0, v, 1),
                 0);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &m), 0);
    cr_assert_eq(m.type, FLOW_CTL_COUNTER);
    cr_assert_eq(m.ckpt, 43);
    cr_assert(m.has_total);
    cr_assert_eq(m.total, 7);
    cr_assert_eq(m.nvalues, 1);
    cr_assert_eq(m.values[0].value, 7);
    flow_ctl_msg_fini(&m);
    cr_assert_eq(
        flow_ctl_encode_counter(&b, "counter", "c", 3, NULL, 0, NULL, 0), 0);
    cr_assert_eq(flow_ctl_decode(b.data, b.len, &m), 0);
    cr_assert_eq(m.ckpt, 0, "an untagged increment");
    cr_assert_not(m.has_total);
    flow_ctl_msg_fini(&m);
    for (int done = 0; done < 2; done++) {
        cr_assert_eq(done ? flow_ctl_encode_ckpt_done(&b, 44)
                          : flow_ctl_encode_ckpt(&b, 44),
                     0);
        cr_assert_eq(flow_ctl_decode(b.data, b.len, &m), 0);
        cr_assert_eq(m.type, done ? FLOW_CTL_CKPT_DONE : FLOW_CTL_CKPT);
        cr_assert_eq(m.id, 44);
        flow_ctl_msg_fini(&m);
    }
    flow_buf_fini(&b);
}

Test(checkpoint, scale_of_a_region_without_a_source_restarts_at_once)
{
    srv_stream *st = deploy("t", ":e > snk", "{}");
    srv_region *r = region(st);
    char err[256];

    hello_all(st);
    cr_assert_eq(st->guarantee, SRV_GUARANTEE_AT_LEAST_ONCE);
    cr_assert_eq(
        srv_scale(&S, st, srv_stream_app(st, "snk"), 2, err, sizeof err), 0,
        "%s", err);
    cr_assert_eq(srv_ckpt_in_flight(r), 0, "no source: no checkpoint");
    cr_assert(srv_ckpt_recovering(r));
    cr_assert_str_eq(signals_of(inst(st, "snk", 0)->pid), "9");
    exits(inst(st, "snk", 0), 0, SIGKILL);
    cr_assert_eq(srv_stream_app(st, "snk")->ninst, 2);
    cr_assert_eq(spawns_of("t.snk-1"), 1);
    cr_assert_not_null(strstr(args_of("t.snk-0"), "--flow.epoch=2\n"));
}

/* The fake's process of pid is gone (a SIGKILL took effect). */
static void dies(int pid)
{
    for (int k = 0; k < fk.nprocs; k++)
        if (fk.procs[k].pid == pid)
            fk.procs[k].alive = false;
}

Test(checkpoint, an_instance_lost_while_flowd_was_down_restarts_its_region)
{
    srv_stream *st = deploy("s", DEMO, "{" FAST "}");
    char want[PATH_MAX + 128];

    hello_all(st);
    later(200);
    ack_all(st, 1);
    int psrc = inst(st, "load-sim", 0)->pid, psnk = inst(st, "snk", 0)->pid;
    fake_proc *pmid = inst(st, "mid", 0)->proc;
    /* flowd goes down; its apps stay, but for mid. */
    free_memory();
    pmid->alive = false;
    srv_deployer_attach(&S);
    srv_ckpt_set_sender(&S, fake_send, NULL);
    srv_deployer_restore(&S);
    srv_deployer_restore_deployments(&S);
    st = srv_stream_find(&S, "s");
    cr_assert(inst(st, "load-sim", 0)->adopted);
    cr_assert_str_eq(signals_of(psrc), "9", "the survivors are killed");
    cr_assert_str_eq(signals_of(psnk), "9");
    cr_assert_eq(spawns_of("s.mid-0"), 1, "nothing starts before all exit");
    dies(psrc);
    dies(psnk);
    srv_deployer_tick(&S);
    cr_assert_eq(spawns_of("s.load-sim-0"), 2);
    cr_assert_eq(spawns_of("s.mid-0"), 2);
    cr_assert_eq(spawns_of("s.snk-0"), 2);
    snprintf(want, sizeof want,
             "--flow.restore=%s/checkpoints/s/1/s.snk.0.snap\n", data);
    cr_assert_not_null(strstr(args_of("s.snk-0"), want), "%s",
                       args_of("s.snk-0"));
    cr_assert_not_null(strstr(args_of("s.snk-0"), "--flow.epoch=2\n"));
}

Test(checkpoint, joining_two_regions_restarts_them_in_one_epoch)
{
    srv_stream *a = deploy("s", "load-sim | mid > :d", "{}");
    srv_stream *b = deploy("t", ":e > snk",
                           "{\"flow.guarantee\": "
                           "\"at-least-once\"}");
    hello_all(a);
    hello_all(b);
    /* t's region recovers once: epoch 2, s's stays at 1. */
    exits(inst(b, "snk", 0), 0, SIGKILL);
    cr_assert_not_null(strstr(args_of("t.snk-0"), "--flow.epoch=2\n"));
    hello_all(b);
    int pmid = inst(a, "mid", 0)->pid;
    deploy("u", ":d > mid > :e", "{}");
    cr_assert_eq(region(a), region(b), "one region now");
    cr_assert_str_eq(signals_of(inst(b, "snk", 0)->pid), "9",
                     "t runs in another epoch than the region");
    cr_assert_str_eq(signals_of(pmid), "9");
    for (srv_stream *st = S.streams; st; st = st->next)
        for (size_t k = 0; k < st->napps; k++)
            if (st->apps[k].inst[0]->pid > 0 && st->apps[k].inst[0]->proc)
                exits(st->apps[k].inst[0], 0, SIGKILL);
    cr_assert_not_null(strstr(args_of("t.snk-0"), "--flow.epoch=3\n"),
                       "newer than every epoch of both: %s",
                       args_of("t.snk-0"));
    cr_assert_not_null(strstr(args_of("s.mid-0"), "--flow.epoch=3\n"));
}

Test(checkpoint, a_producer_deployed_later_restarts_its_consumers)
{
    srv_stream *c = deploy("t", ":d > snk", "{}");
    hello_all(c);
    cr_assert_null(strstr(args_of("t.snk-0"), "--flow.upstreams="));
    deploy("s", "load-sim | mid > :d", "{\"deployer.mid.count\": 2}");
    cr_assert_str_eq(signals_of(inst(c, "snk", 0)->pid), "9",
                     "it aligns on 2 producers now");
    srv_stream *p = srv_stream_find(&S, "s");
    for (int j = 0; j < 2; j++)
        exits(inst(p, "mid", j), 0, SIGKILL);
    exits(inst(p, "load-sim", 0), 0, SIGKILL);
    exits(inst(c, "snk", 0), 0, SIGKILL);
    cr_assert_not_null(strstr(args_of("t.snk-0"), "--flow.upstreams=2\n"), "%s",
                       args_of("t.snk-0"));
}

/* Does the --flow.output of the last start of id hold every group of u? */
static bool output_has_groups(const char *id, const srv_inst *u)
{
    const char *args = args_of(id);
    const char *out = strstr(args, "\n--flow.output=");
    size_t len = out ? strcspn(out + 1, "\n") : 0;

    for (int k = 0; out && k < u->ngroups; k++) {
        const char *at = strstr(out + 1, u->groups[k].ep);
        if (!at || at > out + 1 + len)
            return false;
    }
    return out != NULL;
}

/* Under a guarantee a destination's writer starts with the groups of its
 * readers, at its first start and at its region's restart: told at its
 * hello one by one, the later groups missed its first batches. */
Test(checkpoint, a_destinations_writer_starts_with_its_groups)
{
    srv_stream *t = deploy("t", ":d > snk", "{}");
    srv_stream *u = deploy("u", ":d > snk", "{}");
    srv_stream *p = deploy("s", "load-sim | mid > :d", "{" FAST "}");
    srv_inst *mid = inst(p, "mid", 0);

    cr_assert_eq(mid->ngroups, 2);
    cr_assert(output_has_groups("s.mid-0", mid), "%s", args_of("s.mid-0"));
    srv_stream *all[] = { t, u, p };
    for (size_t k = 0; k < 3; k++)
        for (size_t a = 0; a < all[k]->napps; a++)
            for (int j = 0; j < all[k]->apps[a].ninst; j++)
                if (all[k]->apps[a].inst[j]->proc)
                    exits(all[k]->apps[a].inst[j], 0, SIGKILL);
    cr_assert_eq(spawns_of("s.mid-0"), 2);
    mid = inst(p, "mid", 0);
    cr_assert_eq(mid->ngroups, 2);
    cr_assert(output_has_groups("s.mid-0", mid), "%s", args_of("s.mid-0"));
}

/* A cycle of destinations: a -> :x -> b -> :y -> c -> :x, and :y -> d;
 * b last, so that it starts with the whole graph known. */
static void deploy_cycle(void)
{
    deploy("a", "load-sim > :x", "{}");
    deploy("c", ":y > mid > :x", "{}");
    deploy("d", ":y > snk", "{}");
    deploy("b", ":x > mid > :y", "{}");
}

Test(checkpoint, a_back_edge_is_feedback_not_upstream)
{
    deploy_cycle();
    const char *b = args_of("b.mid-0");
    const char *c = args_of("c.mid-0");
    const char *d = args_of("d.snk-0");

    /* The search from a enters b, then c and d; c's :x leads back into
     * b, which is on its stack. */
    cr_assert_not_null(strstr(b, "--flow.feedback=c.mid\n"), "%s", b);
    cr_assert_not_null(strstr(b, "--flow.feedback-channels=1\n"), "%s", b);
    cr_assert_not_null(strstr(b, "--flow.upstreams=1\n"), "%s", b);
    cr_assert_null(strstr(c, "--flow.feedback"), "%s", c);
    cr_assert_eq(srv_ckpt_upstreams_of(
                     &S, srv_stream_app(srv_stream_find(&S, "c"), "mid")),
                 1);
    cr_assert_null(strstr(d, "--flow.feedback"), "%s", d);
    srv_stream *st = srv_stream_find(&S, "b");
    cr_assert_eq(st->guarantee, SRV_GUARANTEE_EXACTLY_ONCE);
    cr_assert_str_eq(st->guarantee_note, "");
}

Test(checkpoint, a_cycle_without_a_source_says_so)
{
    deploy("b", ":x > mid > :y", "{}");
    deploy("c", ":y > mid > :x", "{}");
    srv_stream *st = srv_stream_find(&S, "b");

    cr_assert_eq(st->guarantee, SRV_GUARANTEE_EXACTLY_ONCE);
    cr_assert_not_null(strstr(st->guarantee_note, "no stream of the region "
                                                  "starts with a source"),
                       "%s", st->guarantee_note);
    cr_assert_null(strstr(args_of("b.mid-0"), "--flow.feedback"));
}

Test(checkpoint, closing_a_cycle_restarts_its_region)
{
    deploy("a", "load-sim > :x", "{}");
    srv_stream *b = deploy("b", ":x > mid > :y", "{}");
    hello_all(srv_stream_find(&S, "a"));
    hello_all(b);
    int pid = inst(b, "mid", 0)->pid;
    cr_assert_null(strstr(args_of("b.mid-0"), "--flow.feedback"));
    /* c closes the cycle: b's aligned channels count the same (a's; c's
     * is feedback), but b must start again with --flow.feedback. */
    deploy("c", ":y > mid > :x", "{}");
    cr_assert_not_null(strstr(signals_of(pid), "9"), "%s", signals_of(pid));
}
