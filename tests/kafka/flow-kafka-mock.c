/* flow-kafka-mock: librdkafka's mock Kafka cluster as a process, for tests.
 *
 *   flow-kafka-mock [--brokers=N] [--topic=NAME:PARTITIONS ...]
 *
 * Starts a mock cluster of N brokers (default 3) listening on loopback
 * ports, creates the topics given with --topic (other topics are created
 * on first use, as a broker with auto.create.topics.enable does), prints
 * the cluster's bootstrap servers on the first line of stdout, flushes,
 * and runs until SIGTERM or SIGINT. Real librdkafka clients (flow's apps,
 * kcat) talk to it over TCP as they talk to a real cluster. Built for the
 * tests only, never installed. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: flow-kafka-mock [--brokers=N] [--topic=NAME:PARTITIONS ...]\n"
        "Runs librdkafka's mock Kafka cluster with N brokers (default 3)\n"
        "until SIGTERM or SIGINT; prints its bootstrap servers on the\n"
        "first line of stdout.\n");
}

/* Parses a decimal in [lo, hi] into *out; 0 on success. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    int brokers = 3;
    int rc = 1;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    char errstr[512];

    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--brokers=", 10)) {
            if (parse_int(argv[i] + 10, 1, 64, &brokers)) {
                fprintf(stderr,
                        "flow-kafka-mock: --brokers=%s: give a number of "
                        "brokers from 1 to 64\n",
                        argv[i] + 10);
                return 2;
            }
        } else if (!strncmp(argv[i], "--topic=", 8)) {
            /* Checked here, created once the cluster runs. */
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "flow-kafka-mock: unknown argument '%s'\n",
                    argv[i]);
            usage(stderr);
            return 2;
        }
    }

    /* The mock cluster needs an rd_kafka_t for its bookkeeping; a producer
     * that never produces is the lightest one. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "flow-kafka-mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr,
                "flow-kafka-mock: cannot create the librdkafka handle: %s\n",
                errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr,
                "flow-kafka-mock: cannot start a mock cluster of %d brokers "
                "(are loopback ports available?)\n",
                brokers);
        goto out;
    }

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--topic=", 8))
            continue;
        char name[256];
        const char *spec = argv[i] + 8;
        const char *colon = strrchr(spec, ':');
        int parts = 0;
        if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof name ||
            parse_int(colon + 1, 1, 10000, &parts)) {
            fprintf(stderr,
                    "flow-kafka-mock: --topic=%s: give NAME:PARTITIONS, e.g. "
                    "--topic=orders:6\n",
                    spec);
            rc = 2;
            goto out;
        }
        memcpy(name, spec, (size_t)(colon - spec));
        name[colon - spec] = '\0';
        int rf = brokers < 3 ? brokers : 3;
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mc, name, parts, rf);
        if (err) {
            fprintf(stderr, "flow-kafka-mock: cannot create topic '%s': %s\n",
                    name, rd_kafka_err2str(err));
            goto out;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    /* The cluster runs on librdkafka's own threads; this one only waits. */
    while (!stop_requested)
        pause();
    rc = 0;

out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return rc;
}
