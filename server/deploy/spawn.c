/* Starting an instance: one process per app instance (uv_spawn of an
 * absolute path, an allowlisted environment, one argv element per option,
 * never a shell). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy.h"

static const char *const env_allow[] = {
    "PATH",         "HOME",          "LANG",         "LC_ALL", "TZ",
    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR",
};

/* A growing argv of owned strings. */
typedef struct strv {
    char **v;
    int n, cap;
    bool oom;
} strv;

static void strv_add(strv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void strv_add(strv *a, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    if (a->n + 2 > a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        char **nv = realloc(a->v, (size_t)cap * sizeof *nv);
        if (!nv) {
            a->oom = true;
            return;
        }
        a->v = nv;
        a->cap = cap;
    }
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
        a->oom = true;
    }
    va_end(ap);
    if (s) {
        a->v[a->n++] = s;
        a->v[a->n] = NULL;
    }
}

static void strv_free(strv *a)
{
    for (int k = 0; k < a->n; k++)
        free(a->v[k]);
    free(a->v);
}

static void add_arg(void *ud, const char *arg)
{
    strv_add(ud, "%s", arg);
}

/* The --flow.kafka.* options of a Kafka-bound instance i (docs/kafka.md):
 * its input topic and group in place of --flow.input, its output topic in
 * place of --flow.output (JSON records with binder.format=json), its
 * dead-letter topic error.TOPIC.GROUP when it reads a topic (its
 * --flow.error-output stays, for the barriers flowd's dead-letter relay passes
 * on), the cluster and its settings, and under exactly-once its transactional
 * id (a reader's offsets commit in its transaction too). */
static void kafka_args(srv *s, srv_inst *i, strv *av)
{
    srv_dapp *a = i->app;
    char in[2 * SRV_NAME_MAX + 32], group[2 * SRV_NAME_MAX + 32];
    char out[2 * SRV_NAME_MAX + 32];
    bool reads = srv_kafka_in(s, a, in, sizeof in, group, sizeof group);
    bool writes = srv_kafka_out(a, out, sizeof out);

    if ((!reads && !writes) || !s->cfg.kafka_brokers)
        return;
    strv_add(av, "--flow.kafka.brokers=%s", s->cfg.kafka_brokers);
    for (int k = 0; k < s->cfg.nkafka_config; k++)
        strv_add(av, "--flow.kafka.config=%s", s->cfg.kafka_config[k]);
    if (reads) {
        strv_add(av, "--flow.kafka.input=%s", in);
        strv_add(av, "--flow.kafka.group=%s", group);
        strv_add(av, "--flow.kafka.error-output=error.%s.%s", in, group);
    }
    if (writes)
        strv_add(av, "--flow.kafka.output=%s", out);
    /* What it writes (its output and its dead letters) as JSON. */
    if (a->kafka_json)
        strv_add(av, "--flow.kafka.format=json");
    /* A reader needs one too: its offsets (and its dead letters) are
     * committed in its producer's transaction. */
    if (a->stream->guarantee == SRV_GUARANTEE_EXACTLY_ONCE)
        strv_add(av, "--flow.kafka.transactional-id=%s.%s.%d", a->stream->name,
                 a->label, i->index);
}

/* The command line of one app instance (without the program), which
 * reads its transport keys from the file keys. */
static void app_args(srv *s, srv_inst *i, const char *keys, strv *av)
{
    srv_dapp *a = i->app;
    char inputs[8192], outputs[8192];
    char dir[PATH_MAX];

    for (int k = 0; k < a->nopts; k++)
        strv_add(av, "%s", a->opts[k]);
    srv_dep_collect_inputs(s, a, i->index, false, inputs, sizeof inputs);
    free(i->spawn_inputs);
    i->spawn_inputs = strdup(inputs);
    if (inputs[0] && (!a->stream->host || a->pos == 0))
        strv_add(av, "--flow.input=%s", inputs);
    srv_dep_output_spec(s, i, outputs, sizeof outputs);
    free(i->spawn_output);
    i->spawn_output = strdup(i->output);
    kafka_args(s, i, av);
    if (outputs[0] && !srv_kafka_out(a, NULL, 0))
        strv_add(av, "--flow.output=%s", outputs);
    if (i->errors[0])
        strv_add(av, "--flow.error-output=%s", i->errors);
    if (i->tap[0])
        strv_add(av, "--flow.tap=%s", i->tap);
    strv_add(av, "--flow.control=%s", s->ctl_endpoint);
    strv_add(av, "--flow.keys=%s", keys);
    strv_add(av, "--flow.stream=%s", a->stream->name);
    strv_add(av, "--flow.label=%s", a->label);
    strv_add(av, "--flow.instance=%d", i->index);
    /* A producer name no other stream's app shares; a guaranteed stream
     * also gets its epoch and the rest (srv_dep_guarantee_args). */
    if (a->stream->guarantee == SRV_GUARANTEE_NONE)
        strv_add(av, "--flow.producer-id=%s.%s", a->stream->name, a->label);
    if (a->partition_expr)
        strv_add(av, "--flow.partition-key-expression=%s", a->partition_expr);
    else if (a->partition_key[0])
        strv_add(av, "--flow.partition-key=%s", a->partition_key);
    /* The instance's own directory, where its relative paths resolve; it
     * is kept after undeploy, so the files written there stay. */
    srv_inst_dir(s, i, dir, sizeof dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        fprintf(stderr, "flowd: cannot create %s: %s\n", dir, strerror(errno));
    strv_add(av, "--flow.instance-dir=%s", dir);
    for (int k = 0; k < s->cfg.nallow; k++)
        strv_add(av, "--flow.allow-path=%s", s->cfg.allow[k]);
    if (a->lib_dir[0])
        strv_add(av, "--flow.allow-path=%s", a->lib_dir);
    if (a->cpus[0])
        strv_add(av, "--flow.cpus=%s", a->cpus);
    srv_dep_guarantee_args(s, i, add_arg, av);
}

void srv_dep_spawn_inst(srv *s, srv_inst *i)
{
    srv_dapp *a = i->app;
    srv_stream *st = a->stream;
    char path[PATH_MAX + 64];
    char *envp[sizeof env_allow / sizeof env_allow[0] + 2];
    char dir[PATH_MAX + 128] = "", direnv[PATH_MAX + 160];
    char envbuf[sizeof env_allow / sizeof env_allow[0]][1024];
    int envc = 0;
    strv av = { 0 };
    /* A Kafka-bound app runs in flow-kafka, which links librdkafka (the
     * app's own executable does not): `flow-kafka APP OPTIONS`. */
    bool kafka = !i->host && (srv_kafka_in(s, a, NULL, 0, NULL, 0) ||
                              srv_kafka_out(a, NULL, 0));
    const char *file = i->host ? s->host_uri : kafka ? s->kafka_uri : a->uri;
    char keys[PATH_MAX];

    if (srv_keys_write_inst(s, i, keys, sizeof keys)) {
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr,
                "flowd: [%s] cannot write its transport keys %s: %s; "
                "not started\n",
                id, keys, strerror(errno));
        srv_dep_inst_gone(s, i, 127, 0);
        return;
    }
    if (i->host)
        for (size_t k = 0; k < st->napps; k++)
            srv_dep_move_taken(s, st->apps[k].inst[0]);
    else
        srv_dep_move_taken(s, i);
    strv_add(&av, "%s", file);
    if (i->host) {
        /* flow-host APP [OPTIONS] '|' APP ...: consecutive apps are
         * wired over inproc:// by the host. */
        for (size_t k = 0; k < st->napps; k++) {
            if (k > 0)
                strv_add(&av, "|");
            strv_add(&av, "%s", st->apps[k].name);
            app_args(s, st->apps[k].inst[0], keys, &av);
            srv_dep_unlink_ipc(st->apps[k].inst[0]->output);
            srv_dep_unlink_ipc(st->apps[k].inst[0]->tap);
            srv_dep_unlink_ipc(st->apps[k].inst[0]->errors);
        }
    } else {
        if (kafka)
            strv_add(&av, "%s", a->name);
        app_args(s, i, keys, &av);
    }
    if (av.oom) {
        strv_free(&av);
        srv_dep_inst_gone(s, i, 127, 0);
        return;
    }
    /* Checked again at each start: a restart must not run what another
     * user put in its place since the deploy. */
    char real[PATH_MAX] = "", why[1024];
    int bad =
        srv_registry_check_path(s, file, real, sizeof real, why, sizeof why);
    if (!bad && strcmp(real, file) != 0) {
        srv_fmt(why, sizeof why, "%s now resolves to %s", file, real);
        bad = -1;
    }
    if (bad) {
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr, "flowd: [%s] refusing to start %s: %s\n", id, file,
                why);
        strv_free(&av);
        srv_dep_inst_gone(s, i, 127, 0);
        return;
    }

    for (size_t k = 0; k < sizeof env_allow / sizeof env_allow[0]; k++) {
        const char *v = getenv(env_allow[k]);
        if (!v)
            continue;
        snprintf(envbuf[envc], sizeof envbuf[envc], "%s=%s", env_allow[k], v);
        envp[envc] = envbuf[envc];
        envc++;
    }
    /* Set even when the directory cannot be made (a full disk): it is
     * also how the next flowd knows the process is one of its instances
     * (kill_untracked). */
    if (srv_dep_prepare_inst_dir(s, i, dir, sizeof dir))
        fprintf(stderr,
                "flowd: cannot prepare the directory %s (%s): the exit of "
                "this instance will not be known after a flowd restart\n",
                dir, strerror(errno));
    if (dir[0] &&
        srv_fmt(direnv, sizeof direnv, "FLOW_INSTANCE_DIR=%s", dir) == 0)
        envp[envc++] = direnv;
    envp[envc] = NULL;

    srv_dep_log_path(s, i, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    void *proc = NULL;
    int pid = 0;
    srv_dep_unlink_ipc(i->output);
    srv_dep_unlink_ipc(i->tap);
    srv_dep_unlink_ipc(i->errors);
    int rc = s->os->spawn(s->os_ud, i, file, av.v, envp, fd, &proc, &pid);
    if (fd >= 0)
        close(fd);
    strv_free(&av);
    if (rc) {
        char id[160];
        srv_inst_id(i, id, sizeof id);
        fprintf(stderr, "flowd: [%s] cannot start %s: %s\n", id, file,
                uv_strerror(rc));
        srv_dep_inst_gone(s, i, 127, 0);
        return;
    }
    i->proc = proc;
    i->pid = pid;
    i->adopted = false;
    i->started_ms = srv_dep_now(s);
    i->start_ticks = s->os->start_ticks(s->os_ud, pid);
    i->state = SRV_INST_DEPLOYING;
    memset(&i->m, 0, sizeof i->m);
    i->prev_in = i->prev_out = 0;
    i->end[0] = '\0';
    i->stale = false;
    i->win_n = 0;
    srv_dep_save_inst(s, i);
    if (i->host)
        srv_deployer_refresh(s, st);
}
