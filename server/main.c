/* flowd: the data-flow server. Parses the command line, opens the store,
 * fills the app registry, restores deployed streams and serves the REST
 * API, all on one libuv loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "flow-config.h"
#include "api.h"
#include "deploy/k8s_manifests.h"
#include "flow/install.h"

#define SRV_K8S_SA_DIR_HELP "/var/run/secrets/kubernetes.io/serviceaccount"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: flowd [OPTION]...\n"
            "The flow data-flow server: REST API, store, app registry, "
            "deployer (local or kubernetes), analytics.\n\n"
            "  --bind=ADDR           listen on ADDR (default 127.0.0.1)\n"
            "  --port=N              listen on port N (default 9393; 0 = any "
            "free port)\n"
            "  --data-dir=DIR        store, token, sockets and logs (default "
            "$FLOW_DATA_DIR, else ./flow-data); created when missing, "
            "used by one flowd at a time\n"
            "  --token=TOKEN         require Authorization: Bearer TOKEN "
            "(default $FLOW_TOKEN,\n"
            "                        else the token in DATA_DIR/token, "
            "made on the first start)\n"
            "  --auth=MODE           token (default) or none: no "
            "authentication at all,\n"
            "                        so every local user can use the API "
            "(warned at start)\n"
            "  --dashboard-dir=DIR   the dashboard's files (default "
            "PREFIX/share/flow/dashboard,\n"
            "                        found from flowd's own directory; "
            "in the build tree the source tree's dashboard/)\n"
            "  --uplot-dir=DIR       uPlot's dist/ files (default "
            "PREFIX/share/flow/uplot)\n"
            "  --load=PATH           create the definitions of a stream file, "
            "or of every *.flow file in a directory (repeatable)\n"
            "  --deploy=NAME         deploy stream NAME after loading unless "
            "it is deployed (repeatable)\n"
            "  --apps-dir=DIR        allow registering apps and function "
            "libraries under DIR "
            "(repeatable; the built-in apps' directory is always allowed); "
            "an app's file and every directory above it must be owned by "
            "root or flowd's user and not writable by group or others "
            "(a sticky directory of root's, such as /tmp, passes)\n"
            "  --max-restarts=N      restarts of an instance within the "
            "window before it is failed (default 5)\n"
            "  --restart-window=SEC  that window (default 60)\n"
            "  --stop-timeout=MS     SIGTERM to SIGKILL delay on undeploy "
            "(default 5000)\n"
            "  --deployer=NAME       where apps run: local (default), "
            "processes on this machine,\n"
            "                        or kubernetes: objects in a "
            "Kubernetes cluster (docs/kubernetes.md)\n"
            "  --kubeconfig=PATH     kubernetes: the cluster and "
            "credentials of PATH's current context\n"
            "                        (default: in-cluster, the service "
            "account's token and CA under\n"
            "                        " SRV_K8S_SA_DIR_HELP " and "
            "KUBERNETES_SERVICE_HOST/PORT)\n"
            "  --namespace=NS        kubernetes: the namespace of the "
            "objects (default: the context's, else default)\n"
            "  --image=IMAGE         kubernetes: the image of the apps' "
            "containers (default flow:latest)\n"
            "  --allow-path=DIR      app options may name files under DIR "
            "(repeatable); else\n"
            "                        only relative paths, under each "
            "instance's directory\n"
            "  --kafka-brokers=LIST  the Kafka cluster's bootstrap servers "
            "(HOST:PORT[,HOST:PORT...]),\n"
            "                        for apps deployed with "
            "deployer.<label>.binder=kafka\n"
            "  --kafka-config KEY=VALUE\n"
            "                        a librdkafka property for every "
            "Kafka-bound app (repeatable;\n"
            "                        SASL and TLS settings, e.g. "
            "security.protocol=SASL_SSL)\n"
            "  --quiet               log errors only\n"
            "  --help                print this help\n"
            "  --version             print the version\n");
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* A default directory of the dashboard's files: where an installation
 * puts them relative to flowd's own directory, else where they lie
 * relative to flowd in the build tree, else the installed path as
 * written (serving then answers 404 and --dashboard-dir says where). */
static void default_dir(char *out, size_t outlen, const char *installed,
                        const char *build)
{
    if (flow_exe_relative(installed, out, outlen) == 0 ||
        flow_exe_relative(build, out, outlen) == 0)
        return;
    snprintf(out, outlen, "%s", installed);
}

static int parse_args(srv_config *c, int argc, char **argv)
{
    enum {
        O_BIND = 1,
        O_PORT,
        O_DATA,
        O_TOKEN,
        O_AUTH,
        O_DASH,
        O_UPLOT,
        O_LOAD,
        O_DEPLOY,
        O_APPS,
        O_MAXR,
        O_WIN,
        O_STOP,
        O_ALLOW,
        O_DEPLOYER,
        O_KUBECONFIG,
        O_NAMESPACE,
        O_IMAGE,
        O_QUIET,
        O_HELP,
        O_VERSION,
        O_ROUTES,
        O_KBROKERS,
        O_KCONFIG
    };
    static const struct option opts[] = {
        { "bind", required_argument, NULL, O_BIND },
        { "port", required_argument, NULL, O_PORT },
        { "data-dir", required_argument, NULL, O_DATA },
        { "token", required_argument, NULL, O_TOKEN },
        { "auth", required_argument, NULL, O_AUTH },
        { "dashboard-dir", required_argument, NULL, O_DASH },
        { "uplot-dir", required_argument, NULL, O_UPLOT },
        { "load", required_argument, NULL, O_LOAD },
        { "deploy", required_argument, NULL, O_DEPLOY },
        { "apps-dir", required_argument, NULL, O_APPS },
        { "max-restarts", required_argument, NULL, O_MAXR },
        { "restart-window", required_argument, NULL, O_WIN },
        { "stop-timeout", required_argument, NULL, O_STOP },
        { "allow-path", required_argument, NULL, O_ALLOW },
        { "deployer", required_argument, NULL, O_DEPLOYER },
        { "kubeconfig", required_argument, NULL, O_KUBECONFIG },
        { "namespace", required_argument, NULL, O_NAMESPACE },
        { "image", required_argument, NULL, O_IMAGE },
        { "quiet", no_argument, NULL, O_QUIET },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { "routes", no_argument, NULL, O_ROUTES },
        { "kafka-brokers", required_argument, NULL, O_KBROKERS },
        { "kafka-config", required_argument, NULL, O_KCONFIG },
        { NULL, 0, NULL, 0 },
    };
    const char *env;

    snprintf(c->bind, sizeof c->bind, "127.0.0.1");
    c->port = 9393;
    env = getenv("FLOW_DATA_DIR");
    snprintf(c->data_dir, sizeof c->data_dir, "%s",
             env && *env ? env : "flow-data");
    env = getenv("FLOW_TOKEN");
    snprintf(c->token, sizeof c->token, "%s", env ? env : "");
    if (c->token[0])
        c->token_from = "FLOW_TOKEN";
    default_dir(c->dashboard_dir, sizeof c->dashboard_dir,
                FLOW_DATA_REL "/dashboard", FLOW_BUILD_SRC_REL "/dashboard");
    default_dir(c->uplot_dir, sizeof c->uplot_dir, FLOW_DATA_REL "/uplot",
                FLOW_BUILD_SRC_REL "/node_modules/uplot/dist");
    c->max_restarts = 5;
    c->restart_window_s = 60;
    c->stop_timeout_ms = 5000;

    opterr = 0;
    for (;;) {
        int o = getopt_long(argc, argv, "", opts, NULL);
        if (o == -1)
            break;
        switch (o) {
        case O_BIND:
            snprintf(c->bind, sizeof c->bind, "%s", optarg);
            break;
        case O_PORT:
            if (!parse_int(optarg, 0, 65535, &c->port)) {
                fprintf(stderr,
                        "flowd: --port must be 0..65535, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_DATA:
            snprintf(c->data_dir, sizeof c->data_dir, "%s", optarg);
            break;
        case O_TOKEN:
            if (!*optarg) {
                fprintf(stderr, "flowd: --token needs a token; for no "
                                "authentication say --auth=none\n");
                return 2;
            }
            snprintf(c->token, sizeof c->token, "%s", optarg);
            c->token_from = "--token";
            break;
        case O_AUTH:
            if (strcmp(optarg, "none") == 0)
                c->auth_none = true;
            else if (strcmp(optarg, "token") == 0)
                c->auth_none = false;
            else {
                fprintf(stderr,
                        "flowd: --auth must be token or none, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_DASH:
            snprintf(c->dashboard_dir, sizeof c->dashboard_dir, "%s", optarg);
            break;
        case O_UPLOT:
            snprintf(c->uplot_dir, sizeof c->uplot_dir, "%s", optarg);
            break;
        case O_LOAD:
            if (c->nload < 32)
                c->load[c->nload++] = optarg;
            break;
        case O_DEPLOY:
            if (c->ndeploy < 32)
                c->deploy[c->ndeploy++] = optarg;
            break;
        case O_APPS:
            if (c->napps_dir == 32) {
                fprintf(stderr, "flowd: at most 32 --apps-dir\n");
                return 2;
            }
            c->apps_dir[c->napps_dir++] = optarg;
            break;
        case O_MAXR:
            if (!parse_int(optarg, 0, 1000000, &c->max_restarts)) {
                fprintf(stderr,
                        "flowd: --max-restarts must be a whole "
                        "number, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_WIN:
            if (!parse_int(optarg, 1, 1000000, &c->restart_window_s)) {
                fprintf(stderr,
                        "flowd: --restart-window must be "
                        "seconds, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_STOP:
            if (!parse_int(optarg, 0, 600000, &c->stop_timeout_ms)) {
                fprintf(stderr,
                        "flowd: --stop-timeout must be "
                        "milliseconds, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_ALLOW:
            if (c->nallow == SRV_ALLOW_MAX) {
                fprintf(stderr, "flowd: at most %d --allow-path directories\n",
                        SRV_ALLOW_MAX);
                return 2;
            }
            c->allow_arg[c->nallow++] = optarg;
            break;
        case O_DEPLOYER:
            if (strcmp(optarg, "kubernetes") == 0)
                c->kubernetes = true;
            else if (strcmp(optarg, "local") == 0)
                c->kubernetes = false;
            else {
                fprintf(stderr,
                        "flowd: --deployer must be local or kubernetes, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_KUBECONFIG:
            if (srv_fmt(c->kubeconfig, sizeof c->kubeconfig, "%s", optarg)) {
                fprintf(stderr, "flowd: the --kubeconfig path is too long\n");
                return 2;
            }
            break;
        case O_NAMESPACE:
            /* A DNS-1123 label: lowercase letters, digits and '-'. */
            if (!*optarg || strlen(optarg) > 63 ||
                strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                    strlen(optarg) ||
                optarg[0] == '-' || optarg[strlen(optarg) - 1] == '-') {
                fprintf(stderr,
                        "flowd: --namespace must be a Kubernetes namespace "
                        "name (lowercase letters, digits and '-', at most "
                        "63), not '%s'\n",
                        optarg);
                return 2;
            }
            snprintf(c->k8s_namespace, sizeof c->k8s_namespace, "%s", optarg);
            break;
        case O_IMAGE:
            if (!*optarg ||
                srv_fmt(c->k8s_image, sizeof c->k8s_image, "%s", optarg)) {
                fprintf(stderr,
                        "flowd: --image must name an image of at most 255 "
                        "characters\n");
                return 2;
            }
            break;
        case O_KBROKERS:
            if (!*optarg || strchr(optarg, ' ')) {
                fprintf(stderr,
                        "flowd: --kafka-brokers must be HOST:PORT[,HOST:PORT"
                        "...], not '%s'\n",
                        optarg);
                return 2;
            }
            c->kafka_brokers = optarg;
            break;
        case O_KCONFIG: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr,
                        "flowd: --kafka-config must be KEY=VALUE (a "
                        "librdkafka property), not '%s'\n",
                        optarg);
                return 2;
            }
            if (c->nkafka_config == SRV_KAFKA_CONFIG_MAX) {
                fprintf(stderr, "flowd: at most %d --kafka-config\n",
                        SRV_KAFKA_CONFIG_MAX);
                return 2;
            }
            c->kafka_config[c->nkafka_config++] = optarg;
            break;
        }
        case O_QUIET:
            c->quiet = true;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        case O_VERSION:
            printf("flowd %s\n", FLOW_VERSION);
            return 0;
        case O_ROUTES:
            srv_api_routes_print(stdout);
            return 0;
        default:
            fprintf(stderr,
                    "flowd: unknown or incomplete option '%s'; see "
                    "flowd --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "flowd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!c->kubernetes &&
        (c->kubeconfig[0] || c->k8s_namespace[0] || c->k8s_image[0])) {
        fprintf(stderr, "flowd: --kubeconfig, --namespace and --image are "
                        "for --deployer=kubernetes\n");
        return 2;
    }
    /* In the cluster the pods report to flowd's Service on this port
     * (their --flow.control, docs/kubernetes.md). */
    if (c->kubernetes && !c->kubeconfig[0])
        snprintf(c->control_tcp, sizeof c->control_tcp, "tcp://0.0.0.0:%d",
                 SRV_K8S_CONTROL_PORT);
    char err[PATH_MAX + 128];
    if (srv_paths_config(c, err, sizeof err)) {
        fprintf(stderr, "flowd: %s\n", err);
        return 2;
    }
    return -1;
}

static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];

    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) && errno != EEXIST)
        return -1;
    return 0;
}

/*
 * One flowd per data directory: an exclusive flock on DIR/flowd.lock,
 * which holds the pid of the flowd that has it. The descriptor is
 * O_CLOEXEC and never closed, so the kernel releases the lock when this
 * flowd dies, however it dies, and no app it starts inherits it (an
 * inherited descriptor would keep the lock alive after flowd's death).
 * Returns 0, or -1 after saying on stderr why.
 */
static int lock_data_dir(const char *dir)
{
    char path[PATH_MAX + 16], buf[32];

    if (srv_fmt(path, sizeof path, "%s/flowd.lock", dir)) {
        fprintf(stderr, "flowd: the data directory path %s is too long\n", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "flowd: cannot open the lock file %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        ssize_t n = e == EWOULDBLOCK ? pread(fd, buf, sizeof buf - 1, 0) : -1;
        buf[n > 0 ? n : 0] = '\0';
        if (e == EWOULDBLOCK)
            fprintf(stderr,
                    "flowd: data directory %s is in use by flowd pid %d\n", dir,
                    atoi(buf));
        else
            fprintf(stderr, "flowd: cannot lock %s: %s\n", path, strerror(e));
        close(fd);
        return -1;
    }
    int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)len, 0) != len) {
        fprintf(stderr, "flowd: cannot write the lock file %s: %s\n", path,
                strerror(errno));
        close(fd);
        return -1;
    }
    return 0;
}

static bool is_loopback(const char *bind)
{
    return strncmp(bind, "127.", 4) == 0 || strcmp(bind, "::1") == 0 ||
           strcmp(bind, "localhost") == 0;
}

static void on_exit_timer(uv_timer_t *t)
{
    srv *s = t->data;

    if (!srv_deployer_idle(s))
        return;
    uv_timer_stop(t);
    uv_stop(s->loop);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    srv *s = sig->data;

    (void)signum;
    if (s->stopping) {
        /* A second signal: stop waiting for the apps. */
        uv_stop(s->loop);
        return;
    }
    s->stopping = true;
    if (!s->cfg.quiet)
        fprintf(stderr, "flowd: stopping the apps, then exiting\n");
    srv_deployer_stop_all(s);
    uv_timer_start(&s->exit_timer, on_exit_timer, 0, 50);
}

int srv_load_path(srv *s, const char *path);
void srv_deploy_named(srv *s, const char *name);

/* Restores the stored deployments and runs --deploy once the loop runs,
 * so that HTTP is served (GET /ready answers 503) meanwhile. */
static void on_restore(uv_timer_t *t)
{
    srv *s = t->data;

    uv_close((uv_handle_t *)t, NULL);
    if (s->stopping)
        return;
    srv_deployer_restore_deployments(s);
    for (int i = 0; i < s->cfg.ndeploy; i++)
        srv_deploy_named(s, s->cfg.deploy[i]);
}

/* Ready at the latest this long after the start, even when a restored
 * stream never leaves deploying (its status tells why). */
#define READY_CAP_MS 60000

static void on_tick(uv_timer_t *t)
{
    srv *s = t->data;

    if (!s->ready && s->restore_done &&
        srv_now_ms() - s->started_ms > READY_CAP_MS)
        s->ready = true;
    srv_deployer_tick(s);
    srv_analytics_tick(s->an);
    srv_events_tick(s);
}

int main(int argc, char **argv)
{
    static srv S;
    srv *s = &S;
    char err[1024];
    char path[PATH_MAX + 32];
    int rc;

    rc = parse_args(&s->cfg, argc, argv);
    if (rc >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    s->loop = uv_default_loop();
    s->started_ms = srv_now_ms();
    if (strcmp(s->cfg.bind, "localhost") == 0)
        snprintf(s->cfg.bind, sizeof s->cfg.bind, "127.0.0.1");
    s->loopback = is_loopback(s->cfg.bind);

    if (mkdir_p(s->cfg.data_dir)) {
        fprintf(stderr, "flowd: cannot create the data directory %s: %s\n",
                s->cfg.data_dir, strerror(errno));
        return 1;
    }
    char *real = realpath(s->cfg.data_dir, NULL);
    if (real) {
        snprintf(s->cfg.data_dir, sizeof s->cfg.data_dir, "%s", real);
        free(real);
    }
    if (lock_data_dir(s->cfg.data_dir))
        return 1;
    if (srv_auth_setup(&s->cfg, err, sizeof err)) {
        fprintf(stderr, "flowd: %s\n", err);
        return 1;
    }
    if (s->cfg.auth_none)
        fprintf(stderr,
                "flowd: warning: --auth=none: the API needs no token, so "
                "every local user%s can read and change every stream\n",
                s->loopback ? "" : " and everyone who reaches this address");
    srv_fmt(path, sizeof path, "%s/run", s->cfg.data_dir);
    if (srv_private_dir(path)) {
        fprintf(stderr,
                "flowd: cannot make %s a directory only flowd's user can "
                "enter (mode 0700): %s; remove it or fix its owner\n",
                path, strerror(errno));
        return 1;
    }
    srv_fmt(path, sizeof path, "%s/logs", s->cfg.data_dir);
    mkdir_p(path);
    srv_fmt(path, sizeof path, "%s/flow.db", s->cfg.data_dir);
    if (srv_store_open(&s->store, path)) {
        fprintf(stderr, "flowd: %s\n", s->store.err);
        return 1;
    }
    /* The store holds the transport's secret keys: flowd's user alone
     * reads it, whatever the umask was. */
    static const char *const store_files[] = { "flow.db", "flow.db-wal",
                                               "flow.db-shm" };
    for (size_t k = 0; k < 3; k++) {
        srv_fmt(path, sizeof path, "%s/%s", s->cfg.data_dir, store_files[k]);
        if (chmod(path, 0600) && errno != ENOENT)
            fprintf(stderr, "flowd: cannot make %s mode 0600: %s\n", path,
                    strerror(errno));
    }
    s->an = srv_analytics_new(s);
    if (!s->an) {
        fprintf(stderr, "flowd: out of memory\n");
        return 1;
    }
    if (srv_registry_load(s, err, sizeof err)) {
        fprintf(stderr, "flowd: %s\n", err);
        return 1;
    }
    if (srv_functions_load(s, err, sizeof err)) {
        fprintf(stderr, "flowd: %s\n", err);
        return 1;
    }
    srv_api_attach(s);
    srv_deployer_attach(s);
    if (s->cfg.kubernetes) {
        s->platform =
            srv_kubernetes_platform(s, &s->platform_ud, err, sizeof err);
        if (!s->platform) {
            fprintf(stderr, "flowd: --deployer=kubernetes: %s\n", err);
            return 1;
        }
    }
    if (srv_control_start(s, err, sizeof err)) {
        fprintf(stderr, "flowd: %s\n", err);
        return 1;
    }
    srv_http_config hc = {
        .bind = s->cfg.bind,
        .port = s->cfg.port,
        .dispatch = srv_api_dispatch,
        .ud = s,
    };
    rc = srv_http_new(&s->http, s->loop, &hc);
    if (rc) {
        fprintf(stderr, "flowd: cannot listen on %s port %d: %s\n", s->cfg.bind,
                s->cfg.port,
                rc == -EADDRNOTAVAIL ? "not a local numeric address"
                                     : strerror(-rc));
        _exit(1);
    }
    srv_deployer_restore(s);
    for (int i = 0; i < s->cfg.nload; i++)
        if (srv_load_path(s, s->cfg.load[i]))
            return 1;
    uv_timer_init(s->loop, &s->restore_timer);
    s->restore_timer.data = s;
    uv_timer_start(&s->restore_timer, on_restore, 0, 0);

    uv_timer_init(s->loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, 1000, 1000);
    uv_timer_init(s->loop, &s->exit_timer);
    s->exit_timer.data = s;
    uv_signal_init(s->loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_init(s->loop, &s->sigint);
    s->sigint.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);

    printf("flowd %s listening on http://%s:%d/ (data %s)\n", FLOW_VERSION,
           s->cfg.bind, srv_http_port(s->http), s->cfg.data_dir);
    fflush(stdout);

    uv_run(s->loop, UV_RUN_DEFAULT);

    srv_analytics_flush(s->an);
    srv_control_stop(s);
    srv_deployer_free_all(s);
    uv_close((uv_handle_t *)&s->tick, NULL);
    uv_close((uv_handle_t *)&s->exit_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&s->restore_timer))
        uv_close((uv_handle_t *)&s->restore_timer, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    /* The HTTP server closes its listener and connections on the loop. */
    srv_http_close(s->http);
    uv_run(s->loop, UV_RUN_DEFAULT);
    srv_http_free(&s->http);
    srv_api_detach(s);
    srv_streams_free_all(s);
    srv_outside_free_all(s);
    srv_analytics_destroy(&s->an);
    srv_keys_stop(s);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    srv_store_close(&s->store);
    dsl_registry_destroy(&s->reg);
    json_decref(s->app_uris);
    json_decref(s->function_libs);
    for (size_t k = 0; k < s->napps_dirs; k++)
        free(s->apps_dirs[k]);
    uv_loop_close(s->loop);
    return 0;
}
