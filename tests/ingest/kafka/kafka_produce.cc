// kafka_produce: sends NDJSON lines to a Kafka topic, one message a line.
//
//   kafka_produce --brokers B --topic T [--key-member NAME] [--header K=V]... [--partition N]
//
// Reads stdin; every line that is not blank (whitespace only) becomes one
// message, its value the line without the line break. --key-member NAME: the
// key is the top-level member NAME of the line's JSON object when it is a
// string (its text) or a number (as written in JSON), so that one device's
// messages stay in one partition, as IoT Hub keeps a device's messages in
// one; a line that is not JSON, or has no such member, is sent without a key
// (so tests can send bad messages too). --header K=V (repeatable) adds the
// header to every message. --partition N sends everything to partition N,
// else the partitioner (murmur2 of the key, as Java's) picks one. Waits until
// every message is acknowledged by the cluster (acks=all; at most a minute
// per message), then prints
// `produced N` and exits 0; exits 1 with a message on stderr if any failed,
// 2 on bad arguments.
#include <librdkafka/rdkafka.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "produce_one.h"

namespace {

struct Delivery {
  long delivered = 0;
  long failed = 0;
  std::string first_error;
};

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message, void* opaque) {
  auto* delivery = static_cast<Delivery*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++delivery->delivered;
    return;
  }
  if (delivery->failed++ == 0) delivery->first_error = rd_kafka_err2str(message->err);
}

void QuietLog(const rd_kafka_t* /*rk*/, int level, const char* facility, const char* message) {
  if (level <= 3) std::fprintf(stderr, "kafka_produce: %s: %s\n", facility, message);
}

int Usage(const char* message) {
  std::fprintf(stderr,
               "kafka_produce: %s\nusage: kafka_produce --brokers B --topic T [--key-member NAME] [--header K=V]... "
               "[--partition N] < lines.ndjson\n",
               message);
  return 2;
}

bool IsBlank(std::string_view line) { return line.find_first_not_of(" \t\r\n") == std::string_view::npos; }

}  // namespace

int main(int argc, char** argv) {
  std::string brokers;
  std::string topic;
  std::string key_member;
  std::vector<std::pair<std::string, std::string>> headers;
  std::int32_t partition = RD_KAFKA_PARTITION_UA;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) return Usage("a value is missing");
    std::string value = argv[++i];
    if (arg == "--brokers") {
      brokers = value;
    } else if (arg == "--topic") {
      topic = value;
    } else if (arg == "--key-member") {
      key_member = value;
    } else if (arg == "--header") {
      auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) return Usage("--header needs K=V");
      headers.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else if (arg == "--partition") {
      partition = std::atoi(value.c_str());
      if (partition < 0) return Usage("--partition needs a number >= 0");
    } else {
      return Usage("unknown argument");
    }
  }
  if (brokers.empty() || topic.empty()) return Usage("--brokers and --topic are required");

  Delivery delivery;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> errstr{};
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr.data(), errstr.size()) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "acks", "all", errstr.data(), errstr.size()) != RD_KAFKA_CONF_OK ||
      // A cluster that is not there fails the run within a minute.
      rd_kafka_conf_set(conf, "message.timeout.ms", "60000", errstr.data(), errstr.size()) != RD_KAFKA_CONF_OK ||
      // The same partitioner as Java clients (and Event Hubs' Kafka producers).
      rd_kafka_conf_set(conf, "partitioner", "murmur2_random", errstr.data(), errstr.size()) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "kafka_produce: %s\n", errstr.data());
    rd_kafka_conf_destroy(conf);
    return 2;
  }
  rd_kafka_conf_set_opaque(conf, &delivery);
  rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
  rd_kafka_conf_set_log_cb(conf, &QuietLog);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
  if (rk == nullptr) {
    std::fprintf(stderr, "kafka_produce: %s\n", errstr.data());
    rd_kafka_conf_destroy(conf);
    return 2;
  }

  iomt::json::Document document;
  long sent = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (IsBlank(line)) continue;
    std::string key;
    bool has_key = false;
    iomt::json::Value member;
    if (!key_member.empty() && document.Parse(line).ok() && document.root().is_object() &&
        document.root().Find(key_member, &member)) {
      if (member.is_string()) {
        key = member.string_value();
        has_key = true;
      } else if (member.is_number()) {
        key = iomt::json::ToJson(member);
        has_key = true;
      }
    }
    rd_kafka_headers_t* message_headers = rd_kafka_headers_new(headers.size());
    for (const auto& [name, value] : headers) {
      rd_kafka_header_add(message_headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    while (true) {
      iomt::testing::KafkaMessageOut out;
      out.topic = topic.c_str();
      out.partition = partition;
      out.value = line;
      if (has_key) out.key = key;
      out.headers = message_headers;
      rd_kafka_resp_err_t err = iomt::testing::ProduceOne(rk, out);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 100);  // serve deliveries to make room
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(message_headers);  // producev owns them only on success
        std::fprintf(stderr, "kafka_produce: line %ld: %s\n", sent + 1, rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return 1;
      }
      break;
    }
    ++sent;
    rd_kafka_poll(rk, 0);
  }
  // message.timeout.ms bounds each message, so the loop ends.
  while (delivery.delivered + delivery.failed < sent)
    rd_kafka_flush(rk, 1000);
  rd_kafka_destroy(rk);
  if (delivery.failed > 0) {
    std::fprintf(stderr, "kafka_produce: %ld of %ld messages failed: %s\n", delivery.failed, sent,
                 delivery.first_error.c_str());
    return 1;
  }
  std::printf("produced %ld\n", sent);
  return 0;
}
