// KafkaSource: one topic of a Kafka cluster (or an Azure Event Hub through its
// Kafka endpoint) read as a member of a consumer group, with librdkafka.
// docs/adr/0012-kafka-source.md explains the choices.
//
// What it promises:
// - At-least-once delivery, if the caller does Poll -> process -> Commit:
//   offsets are committed only by Commit (never automatically), and only for
//   messages Poll returned on partitions this consumer still owns. A message
//   is therefore delivered again (to this consumer or to the partition's new
//   owner) when it was returned but not committed before a crash, a Close or
//   a rebalance. Downstream writes must be idempotent.
// - Several sources (processes) in one group share the topic's partitions;
//   when one leaves (Close) they are reassigned at once, when one dies
//   without leaving, after session.timeout.ms. The new owner starts from the
//   last committed offset (or the earliest, for a partition never committed).
// - Everything, including the rebalance, error and log callbacks, runs on the
//   thread that calls Poll (or Close): librdkafka's own threads only do I/O.
//   The library never prints; librdkafka's log lines go to KafkaOptions::log.
//
// Threading: Poll, Commit and Close must be called from one thread at a time
// (the connector's worker). CheckReachable, Assignment and last_error may be
// called from any thread, also while Poll runs (e.g. /readyz).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

struct rd_kafka_s;
struct rd_kafka_topic_partition_list_s;

namespace iomt::ingest {

struct KafkaOptions {
  std::string brokers;  // "host:port,host:port" (bootstrap.servers)
  std::string topic;    // an Event Hub's name, for Event Hubs
  std::string group;    // group.id (an Event Hubs consumer group)
  std::string client_id = "iomt";
  // Extra librdkafka properties, applied last (security.protocol, sasl.*,
  // session.timeout.ms, ...); a property librdkafka does not know, or a bad
  // value, is kInvalidArgument from Open. enable.auto.commit=true is refused:
  // it would commit messages before they are processed.
  std::vector<std::pair<std::string, std::string>> config;
  // Receives librdkafka's log lines (syslog level 0-7, facility, text), on
  // the thread that calls Poll/Close. Unset: they are dropped.
  std::function<void(int level, std::string_view facility, std::string_view message)> log;
};

struct KafkaMessage {
  std::string payload;
  std::string key;
  // In the order the record carries them; a header without a value has "".
  std::vector<std::pair<std::string, std::string>> headers;
  // The record's timestamp (milliseconds since the epoch): the broker's
  // append time on LogAppendTime topics, else the producer's; -1 when none.
  std::int64_t timestamp_ms = -1;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

class KafkaSource {
 public:
  // Creates the consumer (enable.auto.commit=false,
  // auto.offset.reset=earliest, then options.config) and subscribes to the
  // topic. Connecting happens later, in Poll. kInvalidArgument for a missing
  // brokers/topic/group or a bad property (its name is in the message).
  static Result<std::unique_ptr<KafkaSource>> Open(const KafkaOptions& options);
  ~KafkaSource();  // Close()
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // Waits up to `wait` for the first message, then returns it with those
  // already fetched, up to `max` in all, without waiting more. Empty when
  // nothing came in time. Rebalances happen in here. Non-fatal errors
  // (broker down, unknown topic, ...) are recorded in last_error() and
  // skipped: librdkafka retries them. A fatal error is kUnavailable, and so
  // is Poll after Close.
  Result<std::vector<KafkaMessage>> Poll(std::size_t max, std::chrono::milliseconds wait);

  // Commits synchronously, for each partition still assigned, the offset
  // after the last message Poll returned from it (the partitions with
  // nothing new are skipped; nothing to commit is OK without a request).
  // - kConflict (detail "rebalance"): the group rebalanced under the commit
  //   (illegal generation, unknown member, rebalance in progress). Not a
  //   reason to stop: the uncommitted messages will be delivered again to
  //   whoever owns their partitions after the rebalance; go on polling.
  // - kUnavailable: the coordinator did not answer (or the consumer is
  //   closed). The positions are kept, so the next Commit tries again.
  Status Commit();
  // Commits `upto` (a copy of Positions() taken earlier, so that what was
  // polled after it stays uncommitted), skipping the partitions revoked
  // since; otherwise as Commit().
  Status Commit(const std::vector<std::pair<std::int32_t, std::int64_t>>& upto);
  // The offset after the last message Poll returned, per assigned partition
  // (those it returned any from since they were assigned), by partition.
  std::vector<std::pair<std::int32_t, std::int64_t>> Positions() const;

  // The cluster answers a metadata request within `timeout` and the topic
  // exists there with at least one partition; else kUnavailable saying why.
  Status CheckReachable(std::chrono::milliseconds timeout);

  // The partitions of the topic currently assigned to this consumer, sorted.
  std::vector<std::int32_t> Assignment();

  // The last non-fatal error seen (broker, rebalance or commit), "" if none.
  std::string last_error() const;

  // Leaves the group (rd_kafka_consumer_close: the partitions are revoked and
  // reassigned to the other members at once) and frees the consumer.
  // Commits nothing. Idempotent.
  void Close();

 private:
  explicit KafkaSource(KafkaOptions options);

  friend struct KafkaCallbacks;  // librdkafka's callbacks (kafka_source.cc)

  void OnRebalance(bool assign, rd_kafka_topic_partition_list_s* partitions);
  void SetLastError(std::string error);

  KafkaOptions options_;
  rd_kafka_s* rk_ = nullptr;
  // The offset to commit next per assigned partition (last returned + 1),
  // and what was last committed; only the worker thread touches them.
  std::map<std::int32_t, std::int64_t> positions_;
  std::map<std::int32_t, std::int64_t> committed_;
  mutable Mutex error_mu_;
  std::string last_error_ IOMT_GUARDED_BY(error_mu_);
  // Held shared by CheckReachable and Assignment (other threads) and
  // exclusively by Close, so that rk_ is not destroyed under them. Poll and
  // Commit run on the thread that calls Close, so they need not take it
  // (which is why rk_ is not annotated as guarded by it).
  SharedMutex rk_mu_;
};

}  // namespace iomt::ingest
