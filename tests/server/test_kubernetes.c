/* The kubernetes platform's pure pieces: kubeconfig and in-cluster
 * configuration, base64, object paths, and what a pod's status means as
 * an instance's state. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deploy/k8s_client.h"
#include "deploy/kubernetes.h"

static char dir[] = "/tmp/flow-k8s-test-XXXXXX";

static void setup(void)
{
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

TestSuite(kubeconfig, .init = setup, .fini = teardown);

/* "-----BEGIN X-----\n" */
#define CA_B64 "LS0tLS1CRUdJTiBYLS0tLS0K"

Test(kubeconfig, current_context_picks_cluster_user_namespace)
{
    char path[256], err[512];
    srv_k8s_config c;

    write_file("kc", "apiVersion: v1\n"
                     "kind: Config\n"
                     "current-context: two\n"
                     "clusters:\n"
                     "- name: a\n"
                     "  cluster: {server: 'https://a.example:6443'}\n"
                     "- name: b\n"
                     "  cluster:\n"
                     "    server: https://10.0.0.2:6443/\n"
                     "    certificate-authority-data: " CA_B64 "\n"
                     "users:\n"
                     "- name: u1\n"
                     "  user: {token: one}\n"
                     "- name: u2\n"
                     "  user:\n"
                     "    token: two\n"
                     "contexts:\n"
                     "- name: one\n"
                     "  context: {cluster: a, user: u1}\n"
                     "- name: two\n"
                     "  context: {cluster: b, user: u2, namespace: flows}\n");
    snprintf(path, sizeof path, "%s/kc", dir);
    cr_assert_eq(srv_k8s_config_kubeconfig(&c, path, err, sizeof err), 0, "%s",
                 err);
    cr_assert_str_eq(c.server, "https://10.0.0.2:6443");
    cr_assert_str_eq(c.token, "two");
    cr_assert_str_eq(c.namespace, "flows");
    cr_assert_str_eq(c.ca_pem, "-----BEGIN X-----\n");
    cr_assert_null(c.cert_pem);
    cr_assert(!c.insecure);
    srv_k8s_config_clear(&c);
}

Test(kubeconfig, files_relative_to_the_kubeconfig)
{
    char path[256], err[512];
    srv_k8s_config c;

    write_file("ca.crt", "CA\n");
    write_file("client.crt", "CERT\n");
    write_file("client.key", "KEY\n");
    write_file("kc", "current-context: k\n"
                     "clusters:\n"
                     "- name: c\n"
                     "  cluster:\n"
                     "    server: https://127.0.0.1:1\n"
                     "    certificate-authority: ca.crt\n"
                     "users:\n"
                     "- name: u\n"
                     "  user:\n"
                     "    client-certificate: client.crt\n"
                     "    client-key: client.key\n"
                     "contexts:\n"
                     "- name: k\n"
                     "  context:\n"
                     "    cluster: c\n"
                     "    user: u\n");
    snprintf(path, sizeof path, "%s/kc", dir);
    cr_assert_eq(srv_k8s_config_kubeconfig(&c, path, err, sizeof err), 0, "%s",
                 err);
    cr_assert_str_eq(c.ca_pem, "CA\n");
    cr_assert_str_eq(c.cert_pem, "CERT\n");
    cr_assert_str_eq(c.key_pem, "KEY\n");
    cr_assert_null(c.token);
    cr_assert_null(c.namespace);
    srv_k8s_config_clear(&c);
}

Test(kubeconfig, errors_say_what)
{
    char path[256], err[512];
    srv_k8s_config c;

    snprintf(path, sizeof path, "%s/kc", dir);
    write_file("kc", "current-context: gone\ncontexts: []\n");
    cr_assert_eq(srv_k8s_config_kubeconfig(&c, path, err, sizeof err), -1);
    cr_assert(strstr(err, "has no context 'gone'"), "%s", err);
    write_file("kc", "current-context: k\n"
                     "contexts:\n- name: k\n  context: {cluster: c, user: u}\n"
                     "clusters:\n- name: c\n  cluster: {server: https://x}\n"
                     "users:\n- name: u\n  user:\n    exec: {command: aws}\n");
    cr_assert_eq(srv_k8s_config_kubeconfig(&c, path, err, sizeof err), -1);
    cr_assert(strstr(err, "exec plugin"), "%s", err);
    write_file("kc", "a: [unclosed\n");
    cr_assert_eq(srv_k8s_config_kubeconfig(&c, path, err, sizeof err), -1);
    cr_assert(strstr(err, "is not YAML"), "%s", err);
    cr_assert_null(c.server);
}

Test(kubeconfig, in_cluster)
{
    char err[512];
    srv_k8s_config c;

    write_file("token", "tok\n");
    write_file("ca.crt", "CA\n");
    write_file("namespace", "apps\n");
    unsetenv("KUBERNETES_SERVICE_HOST");
    cr_assert_eq(srv_k8s_config_incluster(&c, dir, err, sizeof err), -1);
    cr_assert(strstr(err, "not in a cluster"), "%s", err);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    cr_assert_eq(srv_k8s_config_incluster(&c, dir, err, sizeof err), 0, "%s",
                 err);
    cr_assert_str_eq(c.server, "https://10.96.0.1:443");
    cr_assert_str_eq(c.token, "tok");
    cr_assert_str_eq(c.namespace, "apps");
    cr_assert_str_eq(c.ca_pem, "CA\n");
    srv_k8s_config_clear(&c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    cr_assert_eq(srv_k8s_config_incluster(&c, dir, err, sizeof err), 0);
    cr_assert_str_eq(c.server, "https://[fd00::1]:443");
    srv_k8s_config_clear(&c);
}

Test(base64, decodes)
{
    size_t n;
    char *s = srv_k8s_base64_decode("aGVs\nbG8=", &n);
    cr_assert_str_eq(s, "hello");
    cr_assert_eq(n, 5);
    free(s);
    cr_assert_null(srv_k8s_base64_decode("no*pe", &n));
}

static void path_of(const char *json, char *buf, size_t len, int want)
{
    json_t *o = json_loads(json, 0, NULL);
    cr_assert(o);
    cr_assert_eq(srv_k8s_object_path(o, "ns", buf, len), want);
    json_decref(o);
}

Test(object_path, core_and_groups)
{
    char b[256];
    path_of(
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
        "\"s\"}}",
        b, sizeof b, 0);
    cr_assert_str_eq(b, "/api/v1/namespaces/ns/services/s");
    path_of("{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":"
            "{\"name\":\"x\"}}",
            b, sizeof b, 0);
    cr_assert_str_eq(b, "/apis/apps/v1/namespaces/ns/statefulsets/x");
    path_of("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":"
            "\"NetworkPolicy\",\"metadata\":{\"name\":\"p\"}}",
            b, sizeof b, 0);
    cr_assert_str_eq(b, "/apis/networking.k8s.io/v1/namespaces/ns/"
                        "networkpolicies/p");
    path_of("{\"apiVersion\":\"v1\",\"kind\":\"Service\"}", b, sizeof b, -1);
    path_of(
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
        "\"s\"}}",
        b, 10, -1);
}

static srv_inst_state state_of(const char *json, int max, char *why)
{
    json_t *p = json_loads(json, 0, NULL);
    cr_assert(p, "%s", json);
    srv_inst_state s = srv_k8s_pod_state(p, max, why, 128);
    json_decref(p);
    return s;
}

Test(pod_state, from_conditions)
{
    char why[128];

    cr_assert_eq(state_of("{\"status\":{\"phase\":\"Running\",\"conditions\":"
                          "[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
                          5, why),
                 SRV_INST_DEPLOYED);
    cr_assert_str_eq(why, "");
    cr_assert_eq(state_of("{\"status\":{\"phase\":\"Pending\",\"conditions\":"
                          "[{\"type\":\"Ready\",\"status\":\"False\"}]}}",
                          5, why),
                 SRV_INST_DEPLOYING);
    cr_assert(strstr(why, "Pending"), "%s", why);
    cr_assert_eq(state_of("{\"status\":{}}", 5, why), SRV_INST_DEPLOYING);
    cr_assert_eq(state_of("{\"metadata\":{\"deletionTimestamp\":\"x\"},"
                          "\"status\":{\"conditions\":[{\"type\":\"Ready\","
                          "\"status\":\"True\"}]}}",
                          5, why),
                 SRV_INST_DEPLOYING);
    cr_assert_eq(state_of("{\"status\":{\"phase\":\"Succeeded\"}}", 5, why),
                 SRV_INST_STOPPED);
    cr_assert_eq(state_of("{\"status\":{\"phase\":\"Failed\",\"reason\":"
                          "\"Evicted\"}}",
                          5, why),
                 SRV_INST_FAILED);
    cr_assert_str_eq(why, "pod failed: Evicted");
}

#define CRASHING(n)                                                        \
    "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":" \
    "\"app\",\"restartCount\":" #n ",\"state\":{\"waiting\":{\"reason\":"  \
    "\"CrashLoopBackOff\"}}}],\"conditions\":[{\"type\":\"Ready\","        \
    "\"status\":\"False\"}]}}"

Test(pod_state, crash_loop_restarts_then_fails)
{
    char why[128];

    cr_assert_eq(state_of(CRASHING(2), 5, why), SRV_INST_RESTARTING);
    cr_assert_str_eq(why, "CrashLoopBackOff after 2 restarts");
    cr_assert_eq(state_of(CRASHING(5), 5, why), SRV_INST_FAILED);
    cr_assert_eq(state_of(CRASHING(0), 0, why), SRV_INST_FAILED);
    cr_assert_eq(state_of("{\"status\":{\"containerStatuses\":[{\"state\":{"
                          "\"waiting\":{\"reason\":\"ImagePullBackOff\"}}}]}}",
                          5, why),
                 SRV_INST_FAILED);
    cr_assert_str_eq(why, "ImagePullBackOff");
    cr_assert_eq(state_of("{\"status\":{\"containerStatuses\":[{\"state\":{"
                          "\"waiting\":{\"reason\":\"ContainerCreating\"}}}]}}",
                          5, why),
                 SRV_INST_DEPLOYING);
}
