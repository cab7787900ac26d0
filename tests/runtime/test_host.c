/*
 * test-gen | test-pass | test-sink in one process over inproc://, for the
 * single-process packaging. Usage: test-host COUNT [BATCH_MAX]
 */
#include <stdio.h>
#include <stdlib.h>

#include "flow/host.h"
#include "test_apps.h"

int main(int argc, char **argv)
{
    char count[64], metrics[4096];
    if (argc < 3) {
        fprintf(stderr, "usage: test-host COUNT METRICS_DIR\n");
        return 2;
    }
    snprintf(count, sizeof(count), "--count=%s", argv[1]);
    flow_host *h = flow_host_new();
    if (!h)
        return 1;
    char *gen[] = { "test-gen", count, "--flow.output=@inproc://a", NULL };
    char *pass[] = { "test-pass", "--flow.input=inproc://a",
                     "--flow.output=@inproc://b", "--flow.eos-exit=1", NULL };
    snprintf(metrics, sizeof(metrics), "--flow.metrics-json=%s/sink.json",
             argv[2]);
    char *sink[] = { "test-sink", "--flow.input=inproc://b",
                     "--flow.eos-exit=1", metrics, NULL };
    int rc = flow_host_add(h, &test_gen_app, 3, gen);
    if (!rc)
        rc = flow_host_add(h, &test_pass_app, 4, pass);
    if (!rc)
        rc = flow_host_add(h, &test_sink_app, 4, sink);
    if (rc) {
        flow_host_destroy(&h);
        return 2;
    }
    rc = flow_host_run(h);
    flow_host_destroy(&h);
    return rc;
}
