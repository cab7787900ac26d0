/* The Kubernetes API client: kubeconfig and in-cluster configuration,
 * and libcurl's multi interface on the libuv loop (see k8s_client.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <yaml.h>

#include "k8s_client.h"

#define REQ_TIMEOUT_MS 30000L

/* Configuration. */

char *srv_k8s_base64_decode(const char *in, size_t *outlen)
{
    size_t n = strlen(in);
    unsigned char *out = malloc(n / 4 * 3 + 4);
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;

    if (!out)
        return NULL;
    for (const char *p = in; *p; p++) {
        int v;
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '+' || ch == '-')
            v = 62;
        else if (ch == '/' || ch == '_')
            v = 63;
        else if (ch == '=' || ch == ' ' || ch == '\n' || ch == '\r' ||
                 ch == '\t')
            continue;
        else {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return (char *)out;
}

void srv_k8s_config_clear(srv_k8s_config *c)
{
    free(c->server);
    free(c->token);
    free(c->ca_pem);
    free(c->cert_pem);
    free(c->key_pem);
    free(c->namespace);
    memset(c, 0, sizeof *c);
}

/* The whole file path (relative to dir when it is relative and dir is
 * not NULL) as a new string, trailing newlines kept; NULL with errno. */
static char *read_file(const char *dir, const char *path)
{
    char full[PATH_MAX];
    if (path[0] != '/' && dir)
        snprintf(full, sizeof full, "%s/%s", dir, path);
    else
        snprintf(full, sizeof full, "%s", path);
    FILE *f = fopen(full, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (cap - n - 1 == 0) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static void trim(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* The value of key in mapping node m, or NULL. */
static yaml_node_t *ymap(yaml_document_t *d, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static const char *yscalar(yaml_document_t *d, yaml_node_t *m, const char *key)
{
    yaml_node_t *v = ymap(d, m, key);
    return v && v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value
                                            : NULL;
}

/* The entry named name of sequence key (clusters, users, contexts), its
 * field field (cluster, user, context). */
static yaml_node_t *ynamed(yaml_document_t *d, yaml_node_t *root,
                           const char *key, const char *field, const char *name)
{
    yaml_node_t *seq = ymap(d, root, key);
    if (!seq || seq->type != YAML_SEQUENCE_NODE || !name)
        return NULL;
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(d, *it);
        const char *n = yscalar(d, e, "name");
        if (n && strcmp(n, name) == 0)
            return ymap(d, e, field);
    }
    return NULL;
}

/* PEM from NAME-data (base64) or the file NAME names; 0 when neither is
 * given (*out NULL), -1 with err set when one cannot be read. */
static int pem_of(yaml_document_t *d, yaml_node_t *m, const char *name,
                  const char *dir, char **out, char *err, size_t errlen)
{
    char key[64];
    snprintf(key, sizeof key, "%s-data", name);
    const char *data = yscalar(d, m, key);
    const char *file = yscalar(d, m, name);

    *out = NULL;
    if (data) {
        *out = srv_k8s_base64_decode(data, NULL);
        if (!*out) {
            snprintf(err, errlen, "%s is not base64", key);
            return -1;
        }
    } else if (file) {
        *out = read_file(dir, file);
        if (!*out) {
            snprintf(err, errlen, "cannot read %s %s: %s", name, file,
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int srv_k8s_config_kubeconfig(srv_k8s_config *c, const char *path, char *err,
                              size_t errlen)
{
    yaml_parser_t p;
    yaml_document_t d;
    char dir[PATH_MAX], msg[512] = "";
    int rc = -1;

    memset(c, 0, sizeof *c);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read the kubeconfig %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &d)) {
        snprintf(err, errlen, "the kubeconfig %s is not YAML: %s (line %zu)",
                 path, p.problem ? p.problem : "?", p.problem_mark.line + 1);
        yaml_parser_delete(&p);
        fclose(f);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    const char *ctxname = yscalar(&d, root, "current-context");
    yaml_node_t *ctx = ynamed(&d, root, "contexts", "context", ctxname);
    if (!ctx) {
        snprintf(msg, sizeof msg,
                 "has no context '%s' (current-context); set one with "
                 "kubectl config use-context",
                 ctxname ? ctxname : "");
        goto out;
    }
    const char *cname = yscalar(&d, ctx, "cluster");
    const char *uname = yscalar(&d, ctx, "user");
    yaml_node_t *cl = ynamed(&d, root, "clusters", "cluster", cname);
    yaml_node_t *us = ynamed(&d, root, "users", "user", uname);
    const char *server = yscalar(&d, cl, "server");
    if (!cl || !server) {
        snprintf(msg, sizeof msg, "has no server for cluster '%s'",
                 cname ? cname : "");
        goto out;
    }
    c->server = strdup(server);
    trim(c->server);
    size_t sl = strlen(c->server);
    if (sl && c->server[sl - 1] == '/')
        c->server[sl - 1] = '\0';
    const char *ins = yscalar(&d, cl, "insecure-skip-tls-verify");
    c->insecure = ins && strcmp(ins, "true") == 0;
    c->namespace = dup_or_null(yscalar(&d, ctx, "namespace"));
    if (pem_of(&d, cl, "certificate-authority", dir, &c->ca_pem, msg,
               sizeof msg))
        goto out;
    if (us) {
        const char *tok = yscalar(&d, us, "token");
        const char *tokfile = yscalar(&d, us, "tokenFile");
        if (tok)
            c->token = strdup(tok);
        else if (tokfile && !(c->token = read_file(dir, tokfile))) {
            snprintf(msg, sizeof msg, "cannot read tokenFile %s: %s", tokfile,
                     strerror(errno));
            goto out;
        }
        trim(c->token);
        if (pem_of(&d, us, "client-certificate", dir, &c->cert_pem, msg,
                   sizeof msg) ||
            pem_of(&d, us, "client-key", dir, &c->key_pem, msg, sizeof msg))
            goto out;
        if (ymap(&d, us, "exec") && !c->token && !c->cert_pem) {
            snprintf(msg, sizeof msg,
                     "user '%s' authenticates with an exec plugin, which "
                     "flowd does not run; give it a token or a client "
                     "certificate",
                     uname ? uname : "");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc) {
        snprintf(err, errlen, "the kubeconfig %s %s", path, msg);
        srv_k8s_config_clear(c);
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

int srv_k8s_config_incluster(srv_k8s_config *c, const char *dir, char *err,
                             size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    char buf[512];

    memset(c, 0, sizeof *c);
    if (!dir)
        dir = SRV_K8S_SA_DIR;
    if (!host || !*host) {
        snprintf(err, errlen,
                 "not in a cluster (KUBERNETES_SERVICE_HOST is not set); "
                 "give --kubeconfig=PATH");
        return -1;
    }
    c->token = read_file(dir, "token");
    c->ca_pem = read_file(dir, "ca.crt");
    if (!c->token || !c->ca_pem) {
        snprintf(err, errlen,
                 "cannot read the service account's %s under %s: %s; is "
                 "automountServiceAccountToken off?",
                 c->token ? "ca.crt" : "token", dir, strerror(errno));
        srv_k8s_config_clear(c);
        return -1;
    }
    trim(c->token);
    c->namespace = read_file(dir, "namespace");
    trim(c->namespace);
    /* An IPv6 address goes in brackets. */
    snprintf(buf, sizeof buf,
             strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
             port && *port ? port : "443");
    c->server = strdup(buf);
    return 0;
}

/* Requests on the loop. */

struct srv_k8s {
    uv_loop_t *loop; /* borrowed */
    CURLM *multi;
    uv_timer_t *timer; /* curl's timeout (owned: closed by srv_k8s_free) */
    uv_timer_t *reap;  /* ends cancelled requests outside curl's callbacks */
    srv_k8s_config cfg;
    struct curl_slist *auth; /* the Authorization header */
    srv_k8s_req *reqs;       /* every live request (owned list) */
};

struct srv_k8s_req {
    srv_k8s *k; /* borrowed */
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* sent (owned) */
    char *buf;  /* received, not yet handed over (owned) */
    size_t len, cap;
    srv_k8s_line_fn line;
    srv_k8s_done_fn done;
    void *ud;
    bool cancelled;
    char errbuf[CURL_ERROR_SIZE];
    srv_k8s_req *next;
};

/* One per socket curl watches (curl_multi_assign): freed when closed. */
typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    srv_k8s *k;
} sock_ctx;

static void req_free(srv_k8s_req *r)
{
    srv_k8s *k = r->k;
    for (srv_k8s_req **p = &k->reqs; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    curl_multi_remove_handle(k->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r->buf);
    free(r);
}

static void check_done(srv_k8s *k)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(k->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        srv_k8s_req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        long code = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        CURLcode res = m->data.result;
        curl_multi_remove_handle(k->multi, r->easy);
        if (!r->cancelled && r->done) {
            const char *why =
                res == CURLE_OK
                    ? NULL
                    : (r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
            if (res != CURLE_OK)
                code = 0;
            r->done(r->ud, code, r->buf ? r->buf : "", r->len, why);
        }
        req_free(r);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx *c = h->data;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    srv_k8s *k = c->k;
    curl_multi_socket_action(k->multi, c->fd, flags, &running);
    check_done(k);
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    srv_k8s *k = ud;
    sock_ctx *c = sockp;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            uv_poll_stop(&c->poll);
            uv_close((uv_handle_t *)&c->poll, on_sock_closed);
            curl_multi_assign(k->multi, fd, NULL);
        }
        return 0;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return -1;
        c->fd = fd;
        c->k = k;
        if (uv_poll_init_socket(k->loop, &c->poll, fd)) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        curl_multi_assign(k->multi, fd, c);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&c->poll, ev, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    srv_k8s *k = t->data;
    int running;

    curl_multi_socket_action(k->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(k);
}

static int on_timer(CURLM *multi, long ms, void *ud)
{
    srv_k8s *k = ud;

    (void)multi;
    if (ms < 0)
        uv_timer_stop(k->timer);
    else
        uv_timer_start(k->timer, on_timeout, (uint64_t)ms, 0);
    return 0;
}

static void on_reap(uv_timer_t *t)
{
    srv_k8s *k = t->data;
    for (srv_k8s_req *r = k->reqs, *n; r; r = n) {
        n = r->next;
        if (r->cancelled)
            req_free(r);
    }
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    srv_k8s_req *r = ud;
    size_t n = size * nmemb;

    if (r->cancelled)
        return 0;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b)
            return 0;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    if (r->line) {
        char *start = r->buf, *nl;
        while (!r->cancelled &&
               (nl = memchr(start, '\n', r->len - (size_t)(start - r->buf)))) {
            *nl = '\0';
            if (nl > start)
                r->line(r->ud, start, (size_t)(nl - start));
            start = nl + 1;
        }
        r->len -= (size_t)(start - r->buf);
        memmove(r->buf, start, r->len);
        r->buf[r->len] = '\0';
    }
    return n;
}

srv_k8s *srv_k8s_new(uv_loop_t *loop, const srv_k8s_config *cfg)
{
    static bool inited;
    char hdr[8192];

    if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    inited = true;
    srv_k8s *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->loop = loop;
    k->multi = curl_multi_init();
    k->timer = malloc(sizeof *k->timer);
    k->reap = malloc(sizeof *k->reap);
    k->cfg.server = dup_or_null(cfg->server);
    k->cfg.token = dup_or_null(cfg->token);
    k->cfg.ca_pem = dup_or_null(cfg->ca_pem);
    k->cfg.cert_pem = dup_or_null(cfg->cert_pem);
    k->cfg.key_pem = dup_or_null(cfg->key_pem);
    k->cfg.namespace = dup_or_null(cfg->namespace);
    k->cfg.insecure = cfg->insecure;
    if (!k->multi || !k->timer || !k->reap || !k->cfg.server) {
        if (k->multi)
            curl_multi_cleanup(k->multi);
        free(k->timer);
        free(k->reap);
        srv_k8s_config_clear(&k->cfg);
        free(k);
        return NULL;
    }
    uv_timer_init(loop, k->timer);
    k->timer->data = k;
    uv_timer_init(loop, k->reap);
    k->reap->data = k;
    curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
    curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
    if (k->cfg.token) {
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", k->cfg.token);
        k->auth = curl_slist_append(NULL, hdr);
    }
    return k;
}

srv_k8s_req *srv_k8s_call(srv_k8s *k, const char *method, const char *path,
                          const char *ctype, const char *body,
                          srv_k8s_line_fn line, srv_k8s_done_fn done, void *ud)
{
    char url[4096], hdr[256];
    srv_k8s_req *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->k = k;
    r->line = line;
    r->done = done;
    r->ud = ud;
    r->easy = curl_easy_init();
    if (!r->easy || (body && !(r->body = strdup(body)))) {
        if (r->easy)
            curl_easy_cleanup(r->easy);
        free(r);
        return NULL;
    }
    snprintf(url, sizeof url, "%s%s", k->cfg.server, path);
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
    if (!line)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, REQ_TIMEOUT_MS);
    else {
        /* A watch that hears nothing for this long is dead (the server
         * sends events or ends it well before). */
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 600L);
    }
    for (struct curl_slist *h = k->auth; h; h = h->next)
        r->headers = curl_slist_append(r->headers, h->data);
    r->headers = curl_slist_append(r->headers, "Accept: application/json");
    if (ctype) {
        snprintf(hdr, sizeof hdr, "Content-Type: %s", ctype);
        r->headers = curl_slist_append(r->headers, hdr);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    }
    if (k->cfg.ca_pem) {
        struct curl_blob b = { k->cfg.ca_pem, strlen(k->cfg.ca_pem),
                               CURL_BLOB_NOCOPY };
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (k->cfg.cert_pem && k->cfg.key_pem) {
        struct curl_blob c = { k->cfg.cert_pem, strlen(k->cfg.cert_pem),
                               CURL_BLOB_NOCOPY };
        struct curl_blob y = { k->cfg.key_pem, strlen(k->cfg.key_pem),
                               CURL_BLOB_NOCOPY };
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &c);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &y);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (k->cfg.insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_multi_add_handle(k->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(r->headers);
        free(r->body);
        free(r);
        return NULL;
    }
    r->next = k->reqs;
    k->reqs = r;
    return r;
}

void srv_k8s_cancel(srv_k8s *k, srv_k8s_req *r)
{
    if (!r)
        return;
    r->cancelled = true;
    uv_timer_start(k->reap, on_reap, 0, 0);
}

static void on_handle_closed(uv_handle_t *h)
{
    free(h);
}

void srv_k8s_free(srv_k8s *k)
{
    if (!k)
        return;
    while (k->reqs)
        req_free(k->reqs);
    /* Removing the handles closed their sockets' polls (CURL_POLL_REMOVE). */
    curl_multi_cleanup(k->multi);
    uv_close((uv_handle_t *)k->timer, on_handle_closed);
    uv_close((uv_handle_t *)k->reap, on_handle_closed);
    curl_slist_free_all(k->auth);
    srv_k8s_config_clear(&k->cfg);
    free(k);
}
