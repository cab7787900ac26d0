/* The Kubernetes objects of a stream's deployment (deploy/k8s_manifests.c):
 * what the Kubernetes deployer applies and what GET
 * /streams/deployments/{name}/manifests?platform=kubernetes shows
 * (docs/kubernetes.md, "Manifests").
 *
 * Ownership: s, st, props and the strings passed are borrowed; the array
 * returned is new (the caller owns it); err is the caller's buffer of
 * errlen bytes. */
#ifndef SRV_K8S_MANIFESTS_H
#define SRV_K8S_MANIFESTS_H

#include "model.h"

/* The container ports every app's pod binds (docs/kubernetes.md). A
 * consumer binds its input and its producers connect to it; the tap and
 * the error output are bound for flowd and tap streams to connect to. */
#define SRV_K8S_PORT_INPUT  7000
#define SRV_K8S_PORT_TAP    7001
#define SRV_K8S_PORT_ERRORS 7002
/* Apps hosted by flow-host (deployer.packaging=single) bind their taps
 * and error outputs on these ports plus their position in the stream. */
#define SRV_K8S_PORT_HOST_TAP    7100
#define SRV_K8S_PORT_HOST_ERRORS 7200
/* flowd in the cluster: its Service's name and the port of its control
 * endpoint, which the apps' --flow.control names
 * (tcp://flowd.NAMESPACE.svc:9394), and of its REST API. */
#define SRV_K8S_FLOWD_SERVICE "flowd"
#define SRV_K8S_CONTROL_PORT  9394
#define SRV_K8S_HTTP_PORT     9393
/* The image when none is given, and where the image installs the apps
 * (packaging/Containerfile: meson's prefix /usr, libexecdir/flow). */
#define SRV_K8S_DEFAULT_IMAGE "flow:latest"
#define SRV_K8S_APPS_DIR      "/usr/libexec/flow"

/* Every object carries the labels app.kubernetes.io/managed-by=flowd and
 * flow/stream=NAME, NAME srv_k8s_name(stream, NULL): the selector of
 * what a stream's deployment created. Per app they also carry flow/app
 * (srv_k8s_name(label, NULL)); the objects' names are
 * srv_k8s_name(stream, label), the Secret's NAME-keys. */
/* The Kubernetes objects that deploying st with props (borrowed, NULL:
 * none) on the platform would apply: a new JSON array (caller owns), or
 * NULL with err set. ns NULL: "default"; image NULL: SRV_K8S_DEFAULT_IMAGE.
 * Nothing is applied, stored or started. */
json_t *srv_k8s_manifests(srv *s, const srv_stream *st, json_t *props,
                          const char *ns, const char *image, char *err,
                          size_t errlen);

/* The name of the Kubernetes objects of app label of stream (a DNS-1035
 * label of at most 47 characters: lowercase, '-' for '_', a hash of the
 * names appended when they had to be shortened or changed), into buf. */
void srv_k8s_name(const char *stream, const char *label, char *buf, size_t len);

#endif
