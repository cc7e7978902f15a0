// A Kafka consumer-group member as a connector's batch source. Kafka is a
// durable queue of its own: nothing is queued again locally, and the
// committed offsets are the checkpoint (docs/adr/0012-kafka-source.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "ingest/kafka/kafka_source.h"
#include "pipeline/batch_source.h"

namespace iomt::pipeline {

class KafkaBatchSource : public BatchSource {
 public:
  // Joins the group. `on_received` counts the messages each Read hands out.
  static Result<std::unique_ptr<KafkaBatchSource>> Open(ingest::KafkaOptions options,
                                                        std::function<void(std::size_t)> on_received);

  Result<std::vector<ingest::ReceivedEvent>> Read(std::size_t max, std::chrono::milliseconds wait,
                                                  std::chrono::milliseconds window) override;
  [[nodiscard]] ReadPosition Position() const override;
  // Commits the offsets of `upto` (of the partitions still held). A
  // rebalance or an unanswered commit is reported; the messages are then
  // delivered again (to whoever owns the partitions), and writes are
  // idempotent.
  Status Commit(const ReadPosition& upto) override;
  // Leaves the group and joins again: the group hands the partitions out
  // from the last committed offsets.
  void Rewind() override;
  [[nodiscard]] bool drains_on_stop() const override { return false; }
  // The cluster's reachability, checked every 5 seconds from Read.
  std::string Problem() override IOMT_EXCLUDES(mu_);
  // The partitions of the topic this member holds, as of its last Read (the
  // group moves them when members join, leave or die).
  std::vector<std::int32_t> partitions() const IOMT_EXCLUDES(mu_);

  // Leaves the group (at the worker's stop).
  void Close();

 private:
  KafkaBatchSource(ingest::KafkaOptions options, std::function<void(std::size_t)> on_received)
      : options_(std::move(options)), on_received_(std::move(on_received)) {}
  void SetProblem(std::string problem) IOMT_EXCLUDES(mu_);

  ingest::KafkaOptions options_;
  std::function<void(std::size_t)> on_received_;
  std::unique_ptr<ingest::KafkaSource> source_;  // the worker's thread only
  std::chrono::steady_clock::time_point last_check_{};
  mutable Mutex mu_;
  std::string problem_ IOMT_GUARDED_BY(mu_);
  std::vector<std::int32_t> partitions_ IOMT_GUARDED_BY(mu_);
};

}  // namespace iomt::pipeline
