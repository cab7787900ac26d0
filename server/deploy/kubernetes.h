/* The pure pieces of the kubernetes platform (deploy/kubernetes.c),
 * shared with its unit tests: where an object lives in the API, and what
 * a pod's status means as the state of a flowd instance. Pointers passed
 * are borrowed; buffers written are the caller's, of the size given. */
#ifndef SRV_KUBERNETES_H
#define SRV_KUBERNETES_H

#include <jansson.h>

#include "model.h"

/* The labels on every object flowd applies, and the selector of a
 * stream's pods: their values are srv_k8s_name(stream or label, NULL)
 * (deploy/k8s_manifests.h), which differ from the names when those are
 * too long for Kubernetes. */
#define SRV_K8S_MANAGED_BY "app.kubernetes.io/managed-by"
#define SRV_K8S_STREAM     "flow/stream"
#define SRV_K8S_APP        "flow/app"

/* The API path of object obj (its apiVersion, kind and metadata.name) in
 * namespace ns: /api/v1/namespaces/NS/PLURAL/NAME for the core group,
 * /apis/GROUP/VERSION/namespaces/NS/PLURAL/NAME otherwise. 0, or -1 when
 * obj lacks one of them or buf is too small. */
int srv_k8s_object_path(const json_t *obj, const char *ns, char *buf,
                        size_t len);

/* The state of the instance that pod (a v1 Pod) runs: deployed when its
 * Ready condition is True; restarting while a container waits in
 * CrashLoopBackOff with fewer than max_restarts restarts, failed from
 * then on (flowd's local meaning: it gave up restarting within its
 * window), and failed too for a pod that cannot start (an image that
 * cannot be pulled, a bad configuration) or whose phase is Failed;
 * stopped when it Succeeded; deploying otherwise (pending, starting, not
 * ready yet, or terminating). why gets a short reason (empty when
 * deployed). */
srv_inst_state srv_k8s_pod_state(const json_t *pod, int max_restarts, char *why,
                                 size_t len);

#endif
