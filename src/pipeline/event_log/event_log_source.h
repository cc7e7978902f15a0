// The event log as a connector's queue: how a received event is stored as a
// record (its ingestion time and origin ahead of its text), and a
// BatchSource that hands the records out to the worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "ingest/envelope.h"
#include "pipeline/batch_source.h"
#include "pipeline/event_log/event_log.h"

namespace iomt::pipeline {

// "<ingestion ticks> <origin>\n<event text>": one queue record. The origin
// is the request id (HTTP), "mqtt:<topic>", or "replay".
std::string EncodeQueueRecord(const ingest::ReceivedEvent& event);
// The event of a record. A record without the header (never written by
// this version) is taken as event text received now.
ingest::ReceivedEvent DecodeQueueRecord(std::string record, std::int64_t now_ticks);

// Appends events as records: all durably, or none (kOutOfRange when the log
// is full: the caller answers 429 or waits).
Status AppendEvents(EventLog* log, const std::vector<ingest::ReceivedEvent>& events);

class EventLogSource : public BatchSource {
 public:
  explicit EventLogSource(EventLog* log) : log_(log) {}
  Result<std::vector<ingest::ReceivedEvent>> Read(std::size_t max, std::chrono::milliseconds wait,
                                                  std::chrono::milliseconds window) override;
  [[nodiscard]] ReadPosition Position() const override;
  Status Commit(const ReadPosition& upto) override;
  void Rewind() override;
  [[nodiscard]] bool drains_on_stop() const override { return true; }

 private:
  EventLog* log_;
  std::uint64_t last_read_ = 0;  // the seq of the last record handed out
};

}  // namespace iomt::pipeline
