// kafka_consume: a KafkaSource as a process, for tests that need a group
// member they can kill (SIGKILL: no LeaveGroup, the group waits for the
// session timeout) or run next to `iomt serve`.
//
//   kafka_consume --brokers B --topic T --group G [--set K=V]... [--count N]
//
// Polls (up to 100 messages, waiting up to 200 ms), prints each message as
// one line `message {"partition":P,"offset":O,"key":"...","payload":"..."}`,
// commits, then prints `committed N` (N = messages so far) when it committed
// something; prints `assigned P,P,...` (sorted, "" for none) whenever its
// assignment changed. stdout is flushed after every poll. --set K=V adds a
// librdkafka property (session.timeout.ms=3000, ...). Stops after --count
// messages in all, or on SIGTERM/SIGINT, leaving the group cleanly; exits 0,
// 1 on a fatal error, 2 on bad arguments.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/writer.h"
#include "ingest/kafka/kafka_source.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnSignal(int /*signal*/) { g_stop = 1; }

int Usage(const char* message) {
  std::fprintf(stderr,
               "kafka_consume: %s\nusage: kafka_consume --brokers B --topic T --group G [--set K=V]... [--count N]\n",
               message);
  return 2;
}

std::string Join(const std::vector<std::int32_t>& partitions) {
  std::string text;
  for (std::int32_t p : partitions) {
    if (!text.empty()) text += ',';
    text += std::to_string(p);
  }
  return text;
}

}  // namespace

// A test tool: running out of memory may end it with an exception.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  iomt::ingest::KafkaOptions options;
  options.client_id = "kafka_consume";
  long count = -1;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) return Usage("a value is missing");
    std::string value = argv[++i];
    if (arg == "--brokers") {
      options.brokers = value;
    } else if (arg == "--topic") {
      options.topic = value;
    } else if (arg == "--group") {
      options.group = value;
    } else if (arg == "--set") {
      auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) return Usage("--set needs K=V");
      options.config.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else if (arg == "--count") {
      count = std::atol(value.c_str());
    } else {
      return Usage("unknown argument");
    }
  }
  auto source = iomt::ingest::KafkaSource::Open(options);
  if (!source.ok()) {
    std::fprintf(stderr, "kafka_consume: %s\n", source.status().ToString().c_str());
    return 2;
  }
  struct sigaction action = {};
  action.sa_handler = &OnSignal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  std::vector<std::int32_t> assigned;
  long consumed = 0;
  int rc = 0;
  while (g_stop == 0 && (count < 0 || consumed < count)) {
    auto batch = (*source)->Poll(100, std::chrono::milliseconds(200));
    if (!batch.ok()) {
      std::fprintf(stderr, "kafka_consume: %s\n", batch.status().ToString().c_str());
      rc = 1;
      break;
    }
    std::vector<std::int32_t> now = (*source)->Assignment();
    if (now != assigned) {
      assigned = now;
      std::printf("assigned %s\n", Join(assigned).c_str());
    }
    for (const auto& m : *batch) {
      std::string line = "message {\"partition\":" + std::to_string(m.partition) +
                         ",\"offset\":" + std::to_string(m.offset) + ",\"key\":";
      iomt::json::AppendQuoted(&line, m.key);
      line += ",\"payload\":";
      iomt::json::AppendQuoted(&line, m.payload);
      line += '}';
      std::puts(line.c_str());
    }
    consumed += static_cast<long>(batch->size());
    if (!batch->empty()) {
      iomt::Status status = (*source)->Commit();
      if (status.ok()) {
        std::printf("committed %ld\n", consumed);
      } else {
        std::fprintf(stderr, "kafka_consume: %s\n", status.ToString().c_str());
      }
    }
    std::fflush(stdout);
  }
  (*source)->Close();
  return rc;
}
