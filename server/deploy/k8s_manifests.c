/* The Kubernetes objects of a stream's deployment, built from its
 * definition and deployment properties alone (a stream need not be
 * deployed): per app a Deployment or a StatefulSet and a Service, and per
 * stream a Secret with the transport keys. docs/kubernetes.md,
 * "Manifests", says how the pods are wired. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "deploy.h"
#include "k8s_manifests.h"

#define KEYS_SECRET_DIR "/etc/flow/secret"
#define KEYS_DIR        "/run/flow/keys"
#define WORK_DIR        "/var/lib/flow"
#define POD_USER        10001

/* What the generator decided about one app of the stream. */
typedef struct k8s_app {
    const dsl_app *da;        /* borrowed from the stream's definition */
    const dsl_app_info *info; /* borrowed from s->reg */
    char label[SRV_NAME_MAX + 16];
    char name[64]; /* the objects' name (srv_k8s_name) */
    int count;
    bool keyed;    /* a partition key routes events to it */
    bool stateful; /* a StatefulSet: keyed, or guaranteed */
    bool has_input;
    bool sink;   /* the stream's last app, no `> :dest` */
    char **opts; /* "--key=value" (owned, as each element) */
    int nopts;
} k8s_app;

typedef struct k8s_ctx {
    srv *s;
    const srv_stream *st;
    json_t *props; /* normalised (owned reference) */
    const char *ns;
    const char *image;
    srv_guarantee guarantee;
    int key_groups;
    k8s_app *apps; /* owned */
    size_t napps;
    char keys_hash[17];
} k8s_ctx;

static uint64_t fnv1a(const char *a, const char *b)
{
    uint64_t h = 14695981039346656037ULL;

    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '.') * 1099511628211ULL;
    for (const char *p = b ? b : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

void srv_k8s_name(const char *stream, const char *label, char *buf, size_t len)
{
    char raw[2 * SRV_NAME_MAX + 40];
    bool changed = false;
    size_t n = 0;

    snprintf(raw, sizeof raw, "%s%s%s", stream, label ? "-" : "",
             label ? label : "");
    if (!((raw[0] >= 'a' && raw[0] <= 'z') ||
          (raw[0] >= 'A' && raw[0] <= 'Z'))) {
        memmove(raw + 2, raw, strlen(raw) + 1);
        raw[0] = 'f';
        raw[1] = '-';
        changed = true;
    }
    for (char *p = raw; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
            changed = true;
        } else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                     *p == '-')) {
            *p = '-';
            changed = true;
        }
    }
    n = strlen(raw);
    /* A StatefulSet's name leaves room for its pods' ordinals and for the
     * controller-revision-hash label (63 characters in all). */
    if (changed || n > 47) {
        if (n > 38)
            n = 38;
        while (n > 0 && raw[n - 1] == '-')
            n--;
        snprintf(buf, len, "%.*s-%08llx", (int)n, raw,
                 (unsigned long long)(fnv1a(stream, label) & 0xffffffffULL));
        return;
    }
    snprintf(buf, len, "%s", raw);
}

/* Sets --key=value in an app's options (replacing a value given
 * earlier), as the local deployer does. */
static int opt_set(k8s_app *a, const char *key, const char *value)
{
    size_t klen = strlen(key);
    char *o = NULL;

    if (asprintf(&o, "--%s=%s", key, value) < 0)
        return -1;
    for (int k = 0; k < a->nopts; k++) {
        if (strncmp(a->opts[k] + 2, key, klen) == 0 &&
            a->opts[k][2 + klen] == '=') {
            free(a->opts[k]);
            a->opts[k] = o;
            return 0;
        }
    }
    char **n = realloc(a->opts, (size_t)(a->nopts + 1) * sizeof *n);
    if (!n) {
        free(o);
        return -1;
    }
    a->opts = n;
    a->opts[a->nopts++] = o;
    return 0;
}

struct opt_ud {
    k8s_app *a;
    bool oom;
};

static void opt_cb(void *ud, const char *key, const char *value)
{
    struct opt_ud *u = ud;

    if (srv_props_app_option(u->a->info, key) && opt_set(u->a, key, value))
        u->oom = true;
}

static void ctx_free(k8s_ctx *c)
{
    for (size_t k = 0; k < c->napps; k++) {
        for (int o = 0; o < c->apps[k].nopts; o++)
            free(c->apps[k].opts[o]);
        free(c->apps[k].opts);
    }
    free(c->apps);
    json_decref(c->props);
}

static json_t *labels_of(const k8s_ctx *c, const k8s_app *a)
{
    char stream[64];

    srv_k8s_name(c->st->name, NULL, stream, sizeof stream);
    json_t *l =
        json_pack("{s:s, s:s, s:s}", "app.kubernetes.io/managed-by", "flowd",
                  "app.kubernetes.io/part-of", "flow", "flow/stream", stream);
    if (l && a) {
        char app[64];
        srv_k8s_name(a->label, NULL, app, sizeof app);
        json_object_set_new(l, "flow/app", json_string(app));
        json_object_set_new(l, "app.kubernetes.io/name", json_string(a->name));
    }
    return l;
}

static json_t *metadata(const k8s_ctx *c, const char *name, const k8s_app *a)
{
    json_t *m = json_pack("{s:s, s:s, s:o, s:{s:s}}", "name", name, "namespace",
                          c->ns, "labels", labels_of(c, a), "annotations",
                          "flow/stream-name", c->st->name);
    if (m && a)
        json_object_set_new(json_object_get(m, "annotations"), "flow/app-label",
                            json_string(a->label));
    return m;
}

/* A ZeroMQ endpoint of app a's pods: its Service, or pod idx of its
 * StatefulSet (idx -1: the Service). */
static void pod_ep(const k8s_ctx *c, const k8s_app *a, int idx, int port,
                   char *buf, size_t len)
{
    if (idx >= 0)
        snprintf(buf, len, ">tcp://%s-%d.%s.%s.svc:%d", a->name, idx, a->name,
                 c->ns, port);
    else
        snprintf(buf, len, ">tcp://%s.%s.svc:%d", a->name, c->ns, port);
}

/* Appends to out the endpoints producers connect to for consumer a:
 * one lane per pod of a StatefulSet ('|' between them, for keyed
 * routing) when lanes, else its pods as one socket (',') or its Service. */
static void consumer_eps(const k8s_ctx *c, const k8s_app *a, bool lanes,
                         char *out, size_t len)
{
    char ep[256];
    size_t off = strlen(out);

    if (!a->stateful || a->count == 1) {
        pod_ep(c, a, a->stateful ? 0 : -1, SRV_K8S_PORT_INPUT, ep, sizeof ep);
        snprintf(out + off, len - off, "%s", ep);
        return;
    }
    for (int j = 0; j < a->count; j++) {
        pod_ep(c, a, j, SRV_K8S_PORT_INPUT, ep, sizeof ep);
        off = strlen(out);
        snprintf(out + off, len - off, "%s%s", j ? (lanes ? "|" : ",") : "",
                 ep);
    }
}

/* The count deployer.<label>.count gives an app of another stream (its
 * stored properties when it is deployed, else 1). */
static int other_count(const srv_stream *o, const char *label)
{
    return (int)srv_props_deployer_int(o->deployed ? o->props : NULL, label,
                                       "count", 1);
}

/* The first app of another stream as a k8s_app for consumer_eps (its
 * instance count and kind as that stream's deployment would have them). */
static void other_first(const srv_stream *o, k8s_app *a)
{
    const json_t *p = o->deployed ? o->props : NULL;
    srv_flow_props fp;

    memset(a, 0, sizeof *a);
    snprintf(a->label, sizeof a->label, "%s", dsl_app_label(&o->ast->apps[0]));
    srv_k8s_name(o->name, a->label, a->name, sizeof a->name);
    a->count = other_count(o, a->label);
    srv_props_flow(p, &fp);
    a->stateful =
        srv_props_partition_key(p, a->label) ||
        srv_props_partition_key_expr(p, a->label) ||
        (o->deployed ? o->guarantee : fp.guarantee) != SRV_GUARANTEE_NONE;
}

/* The output groups of the last app of a stream writing `> :dest`, or of
 * app a tapped by tap streams: one ';'-separated group per consumer group
 * of the streams flowd knows that read it, each the first apps of that
 * group's streams. Empty when none reads it yet: the app then holds its
 * events (docs/flowd.md), until it is applied again. */
static void reader_groups(k8s_ctx *c, const k8s_app *a, bool dest, char *out,
                          size_t len)
{
    char done[64][SRV_NAME_MAX + 16];
    int ndone = 0;

    out[0] = '\0';
    for (srv_stream *g = c->s->streams; g; g = g->next) {
        char ts[SRV_NAME_MAX + 16], tl[SRV_NAME_MAX + 16];
        const char *group;
        bool reads;

        if (!g->ast || !g->ast->source || g->ast->n_apps == 0 || g == c->st)
            continue;
        if (dest)
            reads = strcmp(g->ast->source->name, c->st->ast->sink->name) == 0;
        else
            reads = srv_tap_source(c->s, g, ts, sizeof ts, tl, sizeof tl) &&
                    strcmp(ts, c->st->name) == 0 && strcmp(tl, a->label) == 0;
        if (!reads)
            continue;
        group = dest ? srv_stream_group(g) : g->name;
        bool seen = false;
        for (int k = 0; k < ndone; k++)
            seen = seen || strcmp(done[k], group) == 0;
        if (seen || ndone == 64)
            continue;
        snprintf(done[ndone++], sizeof done[0], "%s", group);
        size_t off = strlen(out);
        if (off)
            snprintf(out + off, len - off, ";");
        bool first = true;
        for (srv_stream *m = g; m; m = m->next) {
            if (!m->ast || !m->ast->source || m->ast->n_apps == 0 ||
                strcmp(m->ast->source->name, g->ast->source->name) != 0)
                continue;
            if (dest && strcmp(srv_stream_group(m), group) != 0)
                continue;
            if (!dest && m != g)
                continue;
            k8s_app f;
            other_first(m, &f);
            if (!first) {
                off = strlen(out);
                snprintf(out + off, len - off, ",");
            }
            consumer_eps(c, &f, false, out, len);
            first = false;
        }
    }
}

/* How many producer channels feed app k (--flow.upstreams). */
static int upstreams_of(k8s_ctx *c, size_t k)
{
    char ts[SRV_NAME_MAX + 16], tl[SRV_NAME_MAX + 16];
    int n = 0;

    if (k > 0)
        return c->apps[k - 1].count;
    if (!c->st->ast->source)
        return 0;
    if (srv_tap_source(c->s, (srv_stream *)c->st, ts, sizeof ts, tl,
                       sizeof tl)) {
        srv_stream *t = srv_stream_find(c->s, ts);
        return t ? other_count(t, tl) : 1;
    }
    for (srv_stream *p = c->s->streams; p; p = p->next)
        if (p->ast && p->ast->sink && p->ast->n_apps > 0 &&
            strcmp(p->ast->sink->name, c->st->ast->source->name) == 0)
            n += other_count(p,
                             dsl_app_label(&p->ast->apps[p->ast->n_apps - 1]));
    return n > 0 ? n : 1;
}

static int add_arg(json_t *args, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int add_arg(json_t *args, const char *fmt, ...)
{
    va_list ap;
    char *v = NULL;

    va_start(ap, fmt);
    int n = vasprintf(&v, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    int rc = json_array_append_new(args, json_string(v));
    free(v);
    return rc;
}

/* The command line of app k's pods (without the program), as spawn.c's
 * app_args builds it for a local instance, on the pod network. host: it
 * runs inside flow-host, which wires it to its neighbours. */
static int app_args(k8s_ctx *c, size_t k, bool host, json_t *args)
{
    k8s_app *a = &c->apps[k];
    const srv_stream *st = c->st;
    char out[8192] = "";
    int rc = 0;
    int tap_port = host ? SRV_K8S_PORT_HOST_TAP + (int)k : SRV_K8S_PORT_TAP;
    int err_port =
        host ? SRV_K8S_PORT_HOST_ERRORS + (int)k : SRV_K8S_PORT_ERRORS;

    for (int o = 0; o < a->nopts; o++)
        rc |= add_arg(args, "%s", a->opts[o]);
    if (a->has_input && (!host || k == 0))
        rc |=
            add_arg(args, "--flow.input=@tcp://0.0.0.0:%d", SRV_K8S_PORT_INPUT);
    if (!a->sink) {
        if (k + 1 < c->napps && !host)
            consumer_eps(c, &c->apps[k + 1], true, out, sizeof out);
        else if (k + 1 == c->napps)
            reader_groups(c, a, true, out, sizeof out);
        char taps[4096];
        reader_groups(c, a, false, taps, sizeof taps);
        if (taps[0]) {
            size_t off = strlen(out);
            snprintf(out + off, sizeof out - off, "%s%s", out[0] ? ";" : "",
                     taps);
        }
        if (out[0])
            rc |= add_arg(args, "--flow.output=%s", out);
        rc |= add_arg(args, "--flow.tap=@tcp://0.0.0.0:%d", tap_port);
    }
    rc |= add_arg(args, "--flow.error-output=@tcp://0.0.0.0:%d", err_port);
    rc |= add_arg(args, "--flow.control=tcp://%s.%s.svc:%d",
                  SRV_K8S_FLOWD_SERVICE, c->ns, SRV_K8S_CONTROL_PORT);
    rc |= add_arg(args, "--flow.keys=%s/keys", KEYS_DIR);
    rc |= add_arg(args, "--flow.stream=%s", st->name);
    rc |= add_arg(args, "--flow.label=%s", a->label);
    /* Kubernetes expands $(VAR) from the container's environment. */
    rc |= add_arg(args, "--flow.instance=%s",
                  a->stateful ? "$(FLOW_INSTANCE)" : "0");
    /* As spawn.c: a guaranteed stream's apps get theirs with the other
     * guarantee flags below, which flow-host's apps are not given. */
    if (c->guarantee == SRV_GUARANTEE_NONE)
        rc |= add_arg(args, "--flow.producer-id=%s.%s", st->name, a->label);
    if (k + 1 < c->napps) {
        const char *next = c->apps[k + 1].label;
        const char *pe = srv_props_partition_key_expr(c->props, next);
        const char *pk = srv_props_partition_key(c->props, next);
        if (pe)
            rc |= add_arg(args, "--flow.partition-key-expression=%s", pe);
        else if (pk)
            rc |= add_arg(args, "--flow.partition-key=%s", pk);
    }
    rc |= add_arg(args, "--flow.instance-dir=%s/instance", WORK_DIR);
    if (c->guarantee != SRV_GUARANTEE_NONE && !host) {
        int ups = upstreams_of(c, k);
        rc |= add_arg(args, "--flow.guarantee=%s",
                      srv_guarantee_name(c->guarantee));
        rc |= add_arg(args, "--flow.epoch=1");
        if (ups > 0)
            rc |= add_arg(args, "--flow.upstreams=%d", ups);
        if (k == 0 && st->ast->source)
            rc |= add_arg(args, "--flow.open-input=true");
        rc |= add_arg(args, "--flow.producer-id=%s.%s", st->name, a->label);
        rc |= add_arg(args, "--flow.checkpoint-dir=%s/checkpoints", WORK_DIR);
        rc |= add_arg(args, "--flow.instances=%d", a->count);
        rc |= add_arg(args, "--flow.key-groups=%d", c->key_groups);
    }
    return rc ? -1 : 0;
}

/* SCDF's memory and disk sizes: a whole number of mebibytes, with m or g
 * (gibibytes) after it, as Kubernetes' "NMi". -1 when it is not one. */
static int mebibytes(const char *v, char *buf, size_t len)
{
    char *e;
    long n = strtol(v, &e, 10);

    if (e == v || n <= 0)
        return -1;
    if (*e == 'g' || *e == 'G') {
        n *= 1024;
        e++;
    } else if (*e == 'm' || *e == 'M') {
        e++;
    }
    if (*e)
        return -1;
    snprintf(buf, len, "%ldMi", n);
    return 0;
}

static json_t *resources_of(const k8s_ctx *c, const k8s_app *a)
{
    const char *mem = srv_props_deployer(c->props, a->label, "memory");
    const char *cpu = srv_props_deployer(c->props, a->label, "cpu");
    json_t *r = json_object();
    char mi[32];

    if (mem && mebibytes(mem, mi, sizeof mi) == 0) {
        json_object_set_new(r, "requests", json_pack("{s:s}", "memory", mi));
        json_object_set_new(r, "limits", json_pack("{s:s}", "memory", mi));
    }
    if (cpu) {
        json_t *req = json_object_get(r, "requests");
        if (!req) {
            req = json_object();
            json_object_set_new(r, "requests", req);
        }
        json_object_set_new(req, "cpu", json_string(cpu));
    }
    return r;
}

static json_t *probe(int port, int initial)
{
    return json_pack("{s:{s:i}, s:i, s:i, s:i}", "tcpSocket", "port", port,
                     "initialDelaySeconds", initial, "periodSeconds", 10,
                     "failureThreshold", 3);
}

static json_t *env_of(bool stateful)
{
    json_t *e = json_pack("[{s:s, s:{s:{s:s}}}, {s:s, s:{s:{s:s}}}]", "name",
                          "FLOW_POD_NAME", "valueFrom", "fieldRef", "fieldPath",
                          "metadata.name", "name", "FLOW_POD_IP", "valueFrom",
                          "fieldRef", "fieldPath", "status.podIP");
    if (e && stateful)
        json_array_append_new(
            e, json_pack("{s:s, s:{s:{s:s}}}", "name", "FLOW_INSTANCE",
                         "valueFrom", "fieldRef", "fieldPath",
                         "metadata.labels['apps.kubernetes.io/pod-index']"));
    return e;
}

static json_t *security_context(void)
{
    return json_pack("{s:b, s:b, s:b, s:{s:[s]}}", "runAsNonRoot", 1,
                     "readOnlyRootFilesystem", 1, "allowPrivilegeEscalation", 0,
                     "capabilities", "drop", "ALL");
}

static void secret_name(const k8s_ctx *c, char *buf, size_t len)
{
    char n[64];

    srv_k8s_name(c->st->name, NULL, n, sizeof n);
    snprintf(buf, len, "%s-keys", n);
}

/* The pod template of app a (or of the flow-host of a single-packaged
 * stream, labelled "host") running program with args, ports and
 * resources (taken). */
static json_t *pod_template(const k8s_ctx *c, const k8s_app *a,
                            const char *program, json_t *args, json_t *ports,
                            int probe_port, bool stateful, json_t *resources)
{
    char secret[80];

    secret_name(c, secret, sizeof secret);
    json_t *mounts = json_pack("[{s:s, s:s, s:b}, {s:s, s:s}]", "name", "keys",
                               "mountPath", KEYS_DIR, "readOnly", 1, "name",
                               "work", "mountPath", WORK_DIR);
    /* IfNotPresent even for a :latest tag, which Kubernetes would pull
     * always: an image loaded into the nodes (kind load, minikube image
     * load) is then found. */
    json_t *container = json_pack(
        "{s:s, s:s, s:s, s:[s], s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "name", "app", "image", c->image, "imagePullPolicy", "IfNotPresent",
        "command", program, "args", args, "ports", ports, "env",
        env_of(stateful), "resources", resources, "livenessProbe",
        probe(probe_port, 10), "readinessProbe", probe(probe_port, 2),
        "volumeMounts", mounts, "securityContext", security_context());
    /* The app reads its keys file only when it is its own and no one
     * else's (mode 0600, not a link): a Secret volume's files are links
     * owned by root, so an init container copies it. */
    json_t *init = json_pack(
        "{s:s, s:s, s:s, s:[s,s,s,s,s], s:[{s:s, s:s, s:b}, {s:s, s:s}], "
        "s:o}",
        "name", "keys", "image", c->image, "imagePullPolicy", "IfNotPresent",
        "command", "install", "-m", "0600", KEYS_SECRET_DIR "/keys",
        KEYS_DIR "/keys", "volumeMounts", "name", "keys-secret", "mountPath",
        KEYS_SECRET_DIR, "readOnly", 1, "name", "keys", "mountPath", KEYS_DIR,
        "securityContext", security_context());
    json_t *volumes =
        json_pack("[{s:s, s:{s:s, s:i}}, {s:s, s:{s:s}}]", "name",
                  "keys-secret", "secret", "secretName", secret, "defaultMode",
                  0400, "name", "keys", "emptyDir", "medium", "Memory");
    if (!stateful)
        json_array_append_new(
            volumes, json_pack("{s:s, s:{}}", "name", "work", "emptyDir"));
    json_t *meta = json_pack("{s:o, s:{s:s}}", "labels", labels_of(c, a),
                             "annotations", "flow/keys-hash", c->keys_hash);
    return json_pack(
        "{s:o, s:{s:[o], s:[o], s:o, s:b, s:i, s:{s:b, s:i, s:i, s:i, "
        "s:{s:s}}}}",
        "metadata", meta, "spec", "containers", container, "initContainers",
        init, "volumes", volumes, "automountServiceAccountToken", 0,
        "terminationGracePeriodSeconds",
        (int)((srv_props_deployer_int(c->props, a->label, "stopTimeout",
                                      c->s->cfg.stop_timeout_ms) +
               999) /
              1000),
        "securityContext", "runAsNonRoot", 1, "runAsUser", POD_USER,
        "runAsGroup", POD_USER, "fsGroup", POD_USER, "seccompProfile", "type",
        "RuntimeDefault");
}

static json_t *port(const char *name, int p)
{
    return json_pack("{s:s, s:i, s:s}", "name", name, "containerPort", p,
                     "protocol", "TCP");
}

static json_t *service_port(const char *name, int p)
{
    return json_pack("{s:s, s:i, s:s, s:s}", "name", name, "port", p,
                     "targetPort", name, "protocol", "TCP");
}

static const char *program_of(const k8s_ctx *c, const k8s_app *a, char *buf,
                              size_t len)
{
    const char *type = dsl_role_name(a->info->role);
    json_t *e = srv_registry_entry(c->s, type, a->da->name);
    const char *uri = json_string_value(json_object_get(e, "uri"));
    bool builtin = json_is_true(json_object_get(e, "builtin"));

    if (!uri)
        return NULL;
    if (strncmp(uri, "file://", 7) == 0)
        uri += 7;
    /* A built-in app is where the image installs it; another is expected
     * at the path it was registered with. */
    if (builtin) {
        const char *base = strrchr(uri, '/');
        snprintf(buf, len, "%s/%s", SRV_K8S_APPS_DIR, base ? base + 1 : uri);
    } else {
        snprintf(buf, len, "%s", uri);
    }
    return buf;
}

/* The Service of app a (name) with the ports given (taken). */
static json_t *service(const k8s_ctx *c, const k8s_app *a, const char *name,
                       json_t *ports, bool headless)
{
    json_t *spec =
        json_pack("{s:o, s:o, s:b}", "selector", labels_of(c, a), "ports",
                  ports, "publishNotReadyAddresses", headless);
    if (headless)
        json_object_set_new(spec, "clusterIP", json_string("None"));
    return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind",
                     "Service", "metadata", metadata(c, name, a), "spec", spec);
}

static json_t *workload(const k8s_ctx *c, const k8s_app *a, const char *name,
                        json_t *tmpl, int replicas, bool stateful)
{
    json_t *spec =
        json_pack("{s:i, s:{s:o}, s:o}", "replicas", replicas, "selector",
                  "matchLabels", labels_of(c, a), "template", tmpl);

    if (stateful) {
        const char *disk = srv_props_deployer(c->props, a->label, "disk");
        char mi[32] = "1024Mi";
        if (disk)
            mebibytes(disk, mi, sizeof mi);
        json_object_set_new(spec, "serviceName", json_string(name));
        json_object_set_new(spec, "podManagementPolicy",
                            json_string("Parallel"));
        /* Its claims go with it (the deployer may not delete claims);
         * a scale-down keeps them for a scale-up to find again. */
        json_object_set_new(spec, "persistentVolumeClaimRetentionPolicy",
                            json_pack("{s:s, s:s}", "whenDeleted", "Delete",
                                      "whenScaled", "Retain"));
        json_object_set_new(
            spec, "volumeClaimTemplates",
            json_pack("[{s:{s:s, s:o}, s:{s:[s], s:{s:{s:s}}}}]", "metadata",
                      "name", "work", "labels", labels_of(c, a), "spec",
                      "accessModes", "ReadWriteOnce", "resources", "requests",
                      "storage", mi));
    }
    return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "apps/v1", "kind",
                     stateful ? "StatefulSet" : "Deployment", "metadata",
                     metadata(c, name, a), "spec", spec);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const char *in, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t k = 0; k < n; k += 3) {
        unsigned v = (unsigned char)in[k] << 16;
        if (k + 1 < n)
            v |= (unsigned char)in[k + 1] << 8;
        if (k + 2 < n)
            v |= (unsigned char)in[k + 2];
        *o++ = b64[(v >> 18) & 63];
        *o++ = b64[(v >> 12) & 63];
        *o++ = k + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = k + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Does stream r read what st writes (its destination, or a tap of one of
 * its apps)? Then r's apps connect to st's as CURVE clients. */
static bool reads_from(srv *s, srv_stream *r, const srv_stream *st)
{
    char ts[SRV_NAME_MAX + 16], tl[SRV_NAME_MAX + 16];

    if (!r->ast || !r->ast->source)
        return false;
    if (srv_tap_source(s, r, ts, sizeof ts, tl, sizeof tl))
        return strcmp(ts, st->name) == 0;
    return st->ast->sink &&
           strcmp(r->ast->source->name, st->ast->sink->name) == 0;
}

/* The stream's Secret: the keys file its pods' apps read (flowd's CURVE
 * server pair, the deployment's own pair, and the clients allowed:
 * flowd's, its own and the deployed streams it reads from, whose
 * producers connect to its inputs). */
static json_t *keys_secret(k8s_ctx *c)
{
    char pub[FLOW_CURVE_Z85], sec[FLOW_CURVE_Z85], z85[FLOW_CURVE_Z85];
    char name[80];
    char *text = NULL;
    size_t len = 0;
    srv *s = c->s;

    if (c->st->curve_public[0]) {
        memcpy(pub, c->st->curve_public, sizeof pub);
        memcpy(sec, c->st->curve_secret, sizeof sec);
    } else if (zmq_curve_keypair(pub, sec)) {
        return NULL;
    }
    FILE *m = open_memstream(&text, &len);
    if (!m)
        return NULL;
    fprintf(m,
            "# CURVE keys of flow's tcp:// endpoints, written by flowd "
            "(docs/security.md)\n"
            "server-public %s\nserver-secret %s\npublic %s\nsecret %s\n",
            s->curve->server_public, s->curve->server_secret, pub, sec);
    zmq_z85_encode(z85, s->curve->allow[0], 32);
    fprintf(m, "allow %s\nallow %s\n", z85, pub);
    for (srv_stream *o = s->streams; o; o = o->next)
        if (o != c->st && o->deployed && o->curve_public[0] &&
            reads_from(s, (srv_stream *)c->st, o))
            fprintf(m, "allow %s\n", o->curve_public);
    explicit_bzero(sec, sizeof sec);
    if (fclose(m)) {
        free(text);
        return NULL;
    }
    snprintf(c->keys_hash, sizeof c->keys_hash, "%016llx",
             (unsigned long long)fnv1a(text, NULL));
    char *enc = base64(text, len);
    explicit_bzero(text, len);
    free(text);
    if (!enc)
        return NULL;
    secret_name(c, name, sizeof name);
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:{s:s}}", "apiVersion", "v1",
                          "kind", "Secret", "metadata", metadata(c, name, NULL),
                          "type", "Opaque", "data", "keys", enc);
    explicit_bzero(enc, strlen(enc));
    free(enc);
    return o;
}

/* Fills c->apps from the definition and the properties. */
static int build_apps(k8s_ctx *c, char *err, size_t errlen)
{
    const srv_stream *st = c->st;

    c->apps = calloc(st->ast->n_apps, sizeof *c->apps);
    if (!c->apps) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->napps = st->ast->n_apps;
    for (size_t k = 0; k < c->napps; k++) {
        k8s_app *a = &c->apps[k];
        a->da = &st->ast->apps[k];
        snprintf(a->label, sizeof a->label, "%s", dsl_app_label(a->da));
        a->info = dsl_registry_find_at(c->s->reg, st->ast, k);
        if (!a->info) {
            snprintf(err, errlen, "app '%s' is not registered", a->da->name);
            return -1;
        }
        srv_k8s_name(st->name, a->label, a->name, sizeof a->name);
        a->count = (int)srv_props_deployer_int(c->props, a->label, "count", 1);
        a->keyed = srv_props_partition_key(c->props, a->label) ||
                   srv_props_partition_key_expr(c->props, a->label);
        a->stateful = a->keyed || c->guarantee != SRV_GUARANTEE_NONE;
        a->has_input = k > 0 || st->ast->source;
        a->sink = k + 1 == c->napps && !st->ast->sink;
        for (size_t o = 0; o < a->da->n_options; o++)
            if (opt_set(a, a->da->options[o].key, a->da->options[o].value)) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        struct opt_ud u = { a, false };
        srv_props_app_options(c->props, a->label, opt_cb, &u);
        if (u.oom) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Appends an app's Service and workload (both taken, either may be NULL
 * when it could not be made) to list. */
static int append_pair(json_t *list, json_t *svc, json_t *w, char *err,
                       size_t errlen)
{
    if (!svc || !w) {
        json_decref(svc);
        json_decref(w);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = json_array_append_new(list, svc);
    if (rc)
        json_decref(w);
    else
        rc = json_array_append_new(list, w);
    if (rc)
        snprintf(err, errlen, "out of memory");
    return rc ? -1 : 0;
}

static int add_app(k8s_ctx *c, size_t k, json_t *list, char *err, size_t errlen)
{
    k8s_app *a = &c->apps[k];
    char program[PATH_MAX];
    json_t *args = json_array(), *ports = json_array(), *sports = json_array();

    if (!program_of(c, a, program, sizeof program)) {
        snprintf(err, errlen, "app '%s' has no executable", a->da->name);
        goto fail;
    }
    if (app_args(c, k, false, args)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (a->has_input) {
        json_array_append_new(ports, port("input", SRV_K8S_PORT_INPUT));
        json_array_append_new(sports,
                              service_port("input", SRV_K8S_PORT_INPUT));
    }
    if (!a->sink) {
        json_array_append_new(ports, port("tap", SRV_K8S_PORT_TAP));
        json_array_append_new(sports, service_port("tap", SRV_K8S_PORT_TAP));
    }
    json_array_append_new(ports, port("errors", SRV_K8S_PORT_ERRORS));
    json_array_append_new(sports, service_port("errors", SRV_K8S_PORT_ERRORS));
    json_t *tmpl = pod_template(c, a, program, args, ports, SRV_K8S_PORT_ERRORS,
                                a->stateful, resources_of(c, a));
    args = ports = NULL;
    json_t *svc = service(c, a, a->name, sports, a->stateful);
    sports = NULL;
    json_t *w = workload(c, a, a->name, tmpl, a->count, a->stateful);
    return append_pair(list, svc, w, err, errlen);
fail:
    json_decref(args);
    json_decref(ports);
    json_decref(sports);
    return -1;
}

/* deployer.packaging=single: one Deployment whose pod runs flow-host with
 * every app, wired over inproc:// inside it. */
static int add_host(k8s_ctx *c, json_t *list, char *err, size_t errlen)
{
    char name[64], program[PATH_MAX];
    json_t *args = json_array(), *ports = json_array(), *sports = json_array();
    k8s_app *first = &c->apps[0];
    k8s_app host = { .count = 1 };

    srv_k8s_name(c->st->name, "host", name, sizeof name);
    snprintf(host.label, sizeof host.label, "host");
    snprintf(host.name, sizeof host.name, "%s", name);
    for (size_t k = 0; k < c->napps; k++) {
        k8s_app *a = &c->apps[k];
        char p[32];
        if (!program_of(c, a, program, sizeof program)) {
            snprintf(err, errlen, "app '%s' has no executable", a->da->name);
            goto fail;
        }
        if (strcmp(a->da->name, "function") == 0) {
            snprintf(err, errlen,
                     "deployer.packaging=single runs the apps inside "
                     "flow-host, which cannot load function libraries; "
                     "deploy '%s' without it",
                     c->st->name);
            goto fail;
        }
        if (a->count != 1) {
            snprintf(err, errlen,
                     "deployer.packaging=single runs one instance of each "
                     "app; drop the count of '%s'",
                     a->label);
            goto fail;
        }
        a->stateful = false;
        if (k > 0)
            json_array_append_new(args, json_string("|"));
        json_array_append_new(args, json_string(a->da->name));
        if (app_args(c, k, true, args)) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (!a->sink) {
            snprintf(p, sizeof p, "tap-%d", (int)k % 100);
            json_array_append_new(ports,
                                  port(p, SRV_K8S_PORT_HOST_TAP + (int)k));
            json_array_append_new(
                sports, service_port(p, SRV_K8S_PORT_HOST_TAP + (int)k));
        }
        snprintf(p, sizeof p, "err-%d", (int)k % 100);
        json_array_append_new(ports,
                              port(p, SRV_K8S_PORT_HOST_ERRORS + (int)k));
        json_array_append_new(
            sports, service_port(p, SRV_K8S_PORT_HOST_ERRORS + (int)k));
    }
    if (first->has_input) {
        json_array_append_new(ports, port("input", SRV_K8S_PORT_INPUT));
        json_array_append_new(sports,
                              service_port("input", SRV_K8S_PORT_INPUT));
    }
    json_t *tmpl =
        pod_template(c, &host, SRV_K8S_APPS_DIR "/flow-host", args, ports,
                     SRV_K8S_PORT_HOST_ERRORS, false, json_object());
    args = ports = NULL;
    json_t *svc = service(c, &host, name, sports, false);
    sports = NULL;
    json_t *w = workload(c, &host, name, tmpl, 1, false);
    return append_pair(list, svc, w, err, errlen);
fail:
    json_decref(args);
    json_decref(ports);
    json_decref(sports);
    return -1;
}

json_t *srv_k8s_manifests(srv *s, const srv_stream *st, json_t *props,
                          const char *ns, const char *image, char *err,
                          size_t errlen)
{
    const char *labels[DSL_MAX_APPS];
    const dsl_app_info *infos[DSL_MAX_APPS];
    k8s_ctx c = { .s = s, .st = st };
    json_t *list = NULL;
    srv_flow_props fp;
    size_t n;

    if (!st->ast || st->ast->n_apps == 0) {
        snprintf(err, errlen, "stream '%s' has no app to run", st->name);
        return NULL;
    }
    if (!s->curve) {
        snprintf(err, errlen, "flowd has no transport keys");
        return NULL;
    }
    c.ns = ns && ns[0] ? ns : "default";
    c.image = image && image[0] ? image : SRV_K8S_DEFAULT_IMAGE;
    n = st->ast->n_apps < DSL_MAX_APPS ? st->ast->n_apps : DSL_MAX_APPS;
    for (size_t k = 0; k < n; k++) {
        labels[k] = dsl_app_label(&st->ast->apps[k]);
        infos[k] = dsl_registry_find_at(s->reg, st->ast, k);
    }
    if (srv_props_parse(props, labels, n, &c.props, err, errlen))
        return NULL;
    if (srv_props_check_apps(c.props, st->name, labels, infos, n, err, errlen))
        goto fail;
    srv_props_flow(c.props, &fp);
    /* A deployed stream keeps the guarantee its region settled on. */
    c.guarantee = st->deployed ? st->guarantee : fp.guarantee;
    c.key_groups = fp.key_groups;
    if (build_apps(&c, err, errlen))
        goto fail;
    list = json_array();
    json_t *secret = list ? keys_secret(&c) : NULL;
    if (!secret || json_array_append_new(list, secret)) {
        snprintf(err, errlen,
                 "out of memory, or no CURVE key pair could be "
                 "made (ZeroMQ needs libsodium)");
        goto fail;
    }
    if (strcmp(srv_props_packaging(c.props), "single") == 0) {
        if (add_host(&c, list, err, errlen))
            goto fail;
    } else {
        for (size_t k = 0; k < c.napps; k++)
            if (add_app(&c, k, list, err, errlen))
                goto fail;
    }
    ctx_free(&c);
    return list;
fail:
    json_decref(list);
    ctx_free(&c);
    return NULL;
}
