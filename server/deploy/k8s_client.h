/* The Kubernetes API client of the kubernetes deployer (deploy/
 * kubernetes.c): where the API server is and how to authenticate
 * (a kubeconfig file, or the pod's service account), and HTTPS requests
 * on flowd's libuv loop through libcurl's multi interface (one uv_poll per
 * socket curl uses, one uv_timer for its timeouts), so that no request
 * blocks the loop. A watch is a request whose body arrives line by line.
 *
 * Ownership: a srv_k8s_config's strings are its own (srv_k8s_config_clear
 * frees them); a srv_k8s is the caller's (srv_k8s_free), and a request
 * is the client's until its done callback has returned or it is cancelled.
 * Strings passed are borrowed (copied when kept). */
#ifndef SRV_K8S_CLIENT_H
#define SRV_K8S_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* Where the service account's token and CA are mounted in a pod. */
#define SRV_K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct srv_k8s_config {
    char *server;    /* https://HOST:PORT, no trailing slash */
    char *token;     /* bearer token, or NULL */
    char *ca_pem;    /* the CA bundle (PEM), or NULL: the system's */
    char *cert_pem;  /* a client certificate (PEM), or NULL */
    char *key_pem;   /* its key (PEM), or NULL */
    char *namespace; /* the context's namespace, or NULL */
    bool insecure;   /* insecure-skip-tls-verify */
} srv_k8s_config;

/* Reads the current context of kubeconfig file path into c (zeroed
 * first): its cluster's server and CA (certificate-authority-data, or the
 * file certificate-authority names, relative to the kubeconfig's
 * directory), its user's token (token or tokenFile) or client
 * certificate and key (inline -data or files), and its namespace.
 * Returns 0, or -1 with err set (c then holds nothing). */
int srv_k8s_config_kubeconfig(srv_k8s_config *c, const char *path, char *err,
                              size_t errlen);
/* The in-cluster configuration: dir/token and dir/ca.crt (dir: NULL for
 * SRV_K8S_SA_DIR), dir/namespace when there is one, and the server from
 * KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. 0, or -1 with err
 * set. */
int srv_k8s_config_incluster(srv_k8s_config *c, const char *dir, char *err,
                             size_t errlen);
void srv_k8s_config_clear(srv_k8s_config *c);

typedef struct srv_k8s srv_k8s;
typedef struct srv_k8s_req srv_k8s_req;

/* A request ended: the HTTP status (0 when there was no answer, curl_err
 * then says why) and the whole body (NUL-terminated, borrowed for the
 * call; for a request with a line callback, what came after its last
 * line). */
typedef void (*srv_k8s_done_fn)(void *ud, long code, const char *body,
                                size_t len, const char *curl_err);
/* One line of a streamed body (a watch event), without its newline;
 * borrowed for the call. */
typedef void (*srv_k8s_line_fn)(void *ud, const char *line, size_t len);

/* A client of the API server cfg names, on loop (cfg is copied). NULL
 * when out of memory or libcurl cannot start. */
srv_k8s *srv_k8s_new(uv_loop_t *loop, const srv_k8s_config *cfg);
/* Starts method (GET, PATCH, DELETE, ...) on path (from the server's
 * root, with its query) with body of type ctype (both NULL: none). With
 * line set, the body is handed over line by line (a watch, which has no
 * timeout); else the request times out after 30 s. done is called once,
 * on the loop, never from within this call. NULL when out of memory. */
srv_k8s_req *srv_k8s_call(srv_k8s *k, const char *method, const char *path,
                          const char *ctype, const char *body,
                          srv_k8s_line_fn line, srv_k8s_done_fn done, void *ud);
/* Ends r without calling its callbacks again (from any callback too). */
void srv_k8s_cancel(srv_k8s *k, srv_k8s_req *r);
/* Cancels every request and closes the client's handles; the loop must
 * run once more to close them. */
void srv_k8s_free(srv_k8s *k);

/* Base64 (RFC 4648, padding optional, whitespace ignored) of in into a new
 * NUL-terminated string (*outlen bytes before the NUL), or NULL when it is
 * not base64 or memory is out. */
char *srv_k8s_base64_decode(const char *in, size_t *outlen);

#endif
