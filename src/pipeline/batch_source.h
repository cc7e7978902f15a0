// Where a connector's worker takes its batches from: the durable event log
// (HTTP, MQTT and replayed dead letters go through it) or a Kafka consumer.
// Both can hand out a batch, forget it once it is written (Commit), or hand
// it out again after a failure (Rewind), so the worker that drives them
// (worker.h) has one loop for both.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"
#include "ingest/envelope.h"

namespace iomt::pipeline {

class BatchSource {
 public:
  virtual ~BatchSource() = default;

  // Up to `max` events: waits up to `wait` for the first, then up to
  // `window` after it for more (0: only what is there). Empty when nothing
  // came. An error is the source's (EventSourceError); the worker waits and
  // asks again.
  virtual Result<std::vector<ingest::ReceivedEvent>> Read(std::size_t max, std::chrono::milliseconds wait,
                                                          std::chrono::milliseconds window) = 0;
  // Everything read so far is written or dead-lettered, durably: it is never
  // handed out again.
  virtual Status Commit() = 0;
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
