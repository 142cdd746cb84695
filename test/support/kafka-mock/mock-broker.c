/*
 * mock-broker: serves librdkafka's in-process Kafka mock cluster on localhost
 * so that tests can talk to it with any Kafka client (e.g. kafkajs).
 *
 *   mock-broker [--brokers N] [--topic name:partitions]...
 *
 * Prints the bootstrap servers ("127.0.0.1:p1,127.0.0.1:p2") as the first
 * line on stdout, then reads commands from stdin, one per line, answering
 * "ok" or "error <reason>" for each:
 *
 *   down <brokerId|-1>          disconnect broker(s), refuse new connections
 *   up <brokerId|-1>            accept connections again
 *   create <topic> <partitions> create a topic (CreateTopics is unsupported)
 *
 * Exits (destroying the cluster) when stdin closes or on SIGTERM/SIGINT.
 * Build: gcc -O2 -o mock-broker mock-broker.c -lrdkafka
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *spec) {
        char name[512];
        int partitions;
        if (sscanf(spec, "%511[^:]:%d", name, &partitions) != 2 || partitions < 1)
                return fprintf(stderr, "mock-broker: bad topic spec '%s' (want name:partitions)\n", spec), -1;
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, 1);
        if (err)
                return fprintf(stderr, "mock-broker: creating %s: %s\n", name, rd_kafka_err2str(err)), -1;
        return 0;
}

static void reply(rd_kafka_resp_err_t err) {
        if (err) printf("error %s\n", rd_kafka_err2str(err));
        else printf("ok\n");
        fflush(stdout);
}

int main(int argc, char **argv) {
        int brokers = 1;
        for (int i = 1; i < argc; i++)
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc) brokers = atoi(argv[++i]);
        if (brokers < 1) return fprintf(stderr, "mock-broker: --brokers must be >= 1\n"), 2;

        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)); /* errors only */
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) return fprintf(stderr, "mock-broker: rd_kafka_new: %s\n", errstr), 1;
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
        if (!mc) return fprintf(stderr, "mock-broker: rd_kafka_mock_cluster_new failed\n"), 1;

        for (int i = 1; i < argc; i++)
                if (!strcmp(argv[i], "--topic") && i + 1 < argc && create_topic(mc, argv[++i]))
                        return 2;

        /* No SA_RESTART: a signal interrupts the blocking fgets() below. */
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);

        char line[1024], arg[512];
        int n;
        while (!stop && fgets(line, sizeof(line), stdin)) {
                if (sscanf(line, "down %d", &n) == 1)
                        reply(rd_kafka_mock_broker_set_down(mc, n));
                else if (sscanf(line, "up %d", &n) == 1)
                        reply(rd_kafka_mock_broker_set_up(mc, n));
                else if (sscanf(line, "create %511s %d", arg, &n) == 2 && n > 0)
                        reply(rd_kafka_mock_topic_create(mc, arg, n, 1));
                else if (line[strspn(line, " \t\r\n")] != '\0') {
                        printf("error unknown command\n");
                        fflush(stdout);
                }
        }

        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 0;
}
