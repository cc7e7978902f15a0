#include "pipeline/kafka_batch_source.h"

#include <thread>
#include <utility>

#include "common/clock.h"
#include "common/json/document.h"
#include "ingest/kafka/kafka_envelope.h"

namespace iomt::pipeline {

Result<std::unique_ptr<KafkaBatchSource>> KafkaBatchSource::Open(ingest::KafkaOptions options,
                                                                 std::function<void(std::size_t)> on_received) {
  std::unique_ptr<KafkaBatchSource> s(new KafkaBatchSource(std::move(options), std::move(on_received)));
  IOMT_ASSIGN_OR_RETURN(s->source_, ingest::KafkaSource::Open(s->options_));
  s->last_check_ = std::chrono::steady_clock::now() - std::chrono::hours(1);
  return s;
}

Result<std::vector<ingest::ReceivedEvent>> KafkaBatchSource::Read(std::size_t max, std::chrono::milliseconds wait,
                                                                  std::chrono::milliseconds window) {
  if (!source_) {
    // Rewind could not join again: try now.
    auto reopened = ingest::KafkaSource::Open(options_);
    if (!reopened.ok()) return Unavailable("Kafka: " + reopened.status().message());
    source_ = std::move(*reopened);
  }
  if (std::chrono::steady_clock::now() - last_check_ > std::chrono::seconds(5)) {
    last_check_ = std::chrono::steady_clock::now();
    Status reachable = source_->CheckReachable(std::chrono::milliseconds(2000));
    SetProblem(reachable.ok() ? "" : reachable.message());
  }
  auto polled = source_->Poll(max, wait);
  {
    // A copy of librdkafka's list under its lock: cheap next to a batch.
    std::vector<std::int32_t> held = source_->Assignment();
    MutexLock lock(mu_);
    partitions_ = std::move(held);
  }
  if (!polled.ok()) {
    SetProblem(polled.status().message());
    return Unavailable("Kafka: " + polled.status().message());
  }
  if (!polled->empty()) {
    // As the event log does: wait up to the window for more, so that a batch
    // is not a handful of messages (each batch is one commit).
    const auto until = std::chrono::steady_clock::now() + window;
    while (polled->size() < max) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      auto more =
          source_->Poll(max - polled->size(), std::chrono::duration_cast<std::chrono::milliseconds>(until - now));
      if (!more.ok() || more->empty()) break;
      for (ingest::KafkaMessage& m : *more)
        polled->push_back(std::move(m));
    }
  }
  thread_local json::Document scratch;
  std::vector<ingest::ReceivedEvent> events;
  events.reserve(polled->size());
  const std::int64_t now = NowTicks();
  for (const ingest::KafkaMessage& m : *polled)
    events.push_back(ingest::KafkaEvent(m, now, &scratch));
  if (!events.empty() && on_received_) on_received_(events.size());
  return events;
}

ReadPosition KafkaBatchSource::Position() const {
  ReadPosition position;
  if (source_) position.offsets = source_->Positions();
  return position;
}

Status KafkaBatchSource::Commit(const ReadPosition& upto) {
  if (!source_) return Unavailable("kafka: the consumer is closed");
  return source_->Commit(upto.offsets);
}

void KafkaBatchSource::Rewind() {
  if (source_) source_->Close();
  source_.reset();
  {
    MutexLock lock(mu_);
    partitions_.clear();
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto reopened = ingest::KafkaSource::Open(options_);
  if (reopened.ok()) {
    source_ = std::move(*reopened);
  } else {
    SetProblem(reopened.status().message());
  }
}

std::string KafkaBatchSource::Problem() {
  MutexLock lock(mu_);
  return problem_;
}

std::vector<std::int32_t> KafkaBatchSource::partitions() const {
  MutexLock lock(mu_);
  return partitions_;
}

void KafkaBatchSource::SetProblem(std::string problem) {
  MutexLock lock(mu_);
  problem_ = std::move(problem);
}

void KafkaBatchSource::Close() {
  if (source_) source_->Close();
}

}  // namespace iomt::pipeline
