// Where a connector's worker takes its batches from: the durable event log
// (HTTP, MQTT and replayed dead letters go through it) or a Kafka consumer.
// Both can hand out a batch, forget what was read up to a point once it is
// written (Commit), or hand it out again after a failure (Rewind), so the
// worker that drives them (worker.h) has one loop for both.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "ingest/envelope.h"

namespace iomt::pipeline {

// How far a source has been read: a point to commit up to once what was read
// before it is written. The worker reads the next batch while the last one
// is written, so "everything read so far" is too far.
struct ReadPosition {
  std::uint64_t seq = 0;  // the event log: the last record read (0: none)
  // Kafka: the offset after the last message read, per partition.
  std::vector<std::pair<std::int32_t, std::int64_t>> offsets;
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;

  // Up to `max` events: waits up to `wait` for the first, then up to
  // `window` after it for more (0: only what is there). Empty when nothing
  // came. An error is the source's (EventSourceError); the worker waits and
  // asks again.
  virtual Result<std::vector<ingest::ReceivedEvent>> Read(std::size_t max, std::chrono::milliseconds wait,
                                                          std::chrono::milliseconds window) = 0;
  // Where the reads so far have brought the source.
  [[nodiscard]] virtual ReadPosition Position() const = 0;
  // Everything read up to `upto` (a Position of this source since the last
  // Rewind) is written or dead-lettered, durably: it is never handed out
  // again.
  virtual Status Commit(const ReadPosition& upto) = 0;
  // What was read since the last Commit was not written: it is handed out
  // again.
  virtual void Rewind() = 0;
  // True when a stopping worker should go on until the source is empty (a
  // local queue, within the drain time); false when what is left stays with
  // the source anyway (Kafka keeps it).
  [[nodiscard]] virtual bool drains_on_stop() const = 0;
  // What is wrong with the source, "" when nothing is (shown by readiness).
  virtual std::string Problem() { return {}; }
};

}  // namespace iomt::pipeline
