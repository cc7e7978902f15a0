// kafka_mock_cluster: a Kafka cluster for tests, librdkafka's mock cluster
// (brokers on 127.0.0.1, real TCP, everything in memory).
//
//   kafka_mock_cluster --brokers N --topic NAME:PARTITIONS [--topic ...] [--ignore-stdin]
//
// Creates N brokers (default 1) and the topics, then prints exactly
// `bootstrap <host:port,...>` as the first line on stdout (flushed). Runs
// until SIGTERM or SIGINT, or until stdin reaches EOF, so that a test that
// starts it with a pipe on stdin cannot leave it behind; --ignore-stdin runs
// until a signal only (for a shell's `&`, whose stdin is /dev/null). Exits 0
// when stopped, 2 on bad arguments, 1 when the cluster cannot start.
// Consumer groups (join, sync, heartbeats, session timeouts, offset commits)
// work with librdkafka clients: docs/adr/0012-kafka-source.md.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnSignal(int /*signal*/) { g_stop = 1; }

int Usage(const char* message) {
  std::fprintf(stderr,
               "kafka_mock_cluster: %s\nusage: kafka_mock_cluster --brokers N --topic NAME:PARTITIONS [--topic ...] "
               "[--ignore-stdin]\n",
               message);
  return 2;
}

// Keeps the mock's own client quiet: its log lines are not the test's output.
void DropLog(const rd_kafka_t* /*rk*/, int level, const char* facility, const char* message) {
  if (level <= 3) std::fprintf(stderr, "kafka_mock_cluster: %s: %s\n", facility, message);
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 1;
  bool watch_stdin = true;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--ignore-stdin") {
      watch_stdin = false;
      continue;
    }
    if (i + 1 >= argc) return Usage("a value is missing");
    std::string value = argv[++i];
    if (arg == "--brokers") {
      brokers = std::atoi(value.c_str());
      if (brokers < 1) return Usage("--brokers needs a number of at least 1");
    } else if (arg == "--topic") {
      auto colon = value.rfind(':');
      int partitions = colon == std::string::npos ? 0 : std::atoi(value.c_str() + colon + 1);
      if (colon == 0 || partitions < 1) return Usage("--topic needs NAME:PARTITIONS");
      topics.emplace_back(value.substr(0, colon), partitions);
    } else {
      return Usage("unknown argument");
    }
  }

  // The mock cluster lives in a client instance; a producer does no I/O here.
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, &DropLog);
  std::array<char, 512> errstr{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
  if (rk == nullptr) {
    std::fprintf(stderr, "kafka_mock_cluster: %s\n", errstr.data());
    rd_kafka_conf_destroy(conf);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "kafka_mock_cluster: cannot start the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  for (const auto& [name, partitions] : topics) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, brokers < 3 ? brokers : 3);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "kafka_mock_cluster: topic %s: %s\n", name.c_str(), rd_kafka_err2str(err));
      rd_kafka_mock_cluster_destroy(cluster);
      rd_kafka_destroy(rk);
      return 1;
    }
  }

  struct sigaction action = {};
  action.sa_handler = &OnSignal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);

  while (g_stop == 0) {
    if (!watch_stdin) {
      poll(nullptr, 0, 500);  // a signal ends it early; g_stop is checked again
      continue;
    }
    pollfd in = {STDIN_FILENO, POLLIN, 0};
    if (poll(&in, 1, 500) <= 0) continue;  // timeout, or EINTR from a signal
    std::array<char, 4096> buffer{};
    if (read(STDIN_FILENO, buffer.data(), buffer.size()) <= 0) break;  // EOF (or a broken stdin)
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
