#include "pipeline/event_log/event_log_source.h"

#include <utility>

#include "common/clock.h"

namespace iomt::pipeline {
namespace {

// A batch holds at most this much event text.
constexpr std::size_t kMaxBatchBytes = 64u << 20;

}  // namespace

std::string EncodeQueueRecord(const ingest::ReceivedEvent& event) {
  std::string out = std::to_string(event.ingestion_ticks);
  out.push_back(' ');
  out.append(event.location.request_id);
  out.push_back('\n');
  out.append(event.text);
  return out;
}

ingest::ReceivedEvent DecodeQueueRecord(std::string record, std::int64_t now_ticks) {
  ingest::ReceivedEvent e;
  const std::size_t newline = record.find('\n');
  const std::size_t space = record.find(' ');
  bool ok = newline != std::string::npos && space != std::string::npos && space < newline && space > 0;
  std::int64_t value = 0;
  const bool negative = ok && record[0] == '-';
  for (std::size_t i = negative ? 1 : 0; ok && i < space; ++i) {
    ok = record[i] >= '0' && record[i] <= '9';
    value = value * 10 + (record[i] - '0');
  }
  if (!ok) {
    e.text = std::move(record);
    e.ingestion_ticks = now_ticks;
    return e;
  }
  e.ingestion_ticks = negative ? -value : value;
  e.location.request_id = record.substr(space + 1, newline - space - 1);
  record.erase(0, newline + 1);
  e.text = std::move(record);
  return e;
}

Status AppendEvents(EventLog* log, const std::vector<ingest::ReceivedEvent>& events) {
  std::vector<std::string> records;
  records.reserve(events.size());
  for (const ingest::ReceivedEvent& e : events)
    records.push_back(EncodeQueueRecord(e));
  std::vector<std::string_view> views(records.begin(), records.end());
  return log->Append(views);
}

Result<std::vector<ingest::ReceivedEvent>> EventLogSource::Read(std::size_t max, std::chrono::milliseconds wait,
                                                                std::chrono::milliseconds window) {
  IOMT_ASSIGN_OR_RETURN(std::vector<LogRecord> records, log_->Read(max, kMaxBatchBytes, wait));
  if (!records.empty()) {
    // Wait up to the window for more, so that more readings share a write.
    const auto until = std::chrono::steady_clock::now() + window;
    while (records.size() < max) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      auto more = log_->Read(max - records.size(), kMaxBatchBytes,
                             std::chrono::duration_cast<std::chrono::milliseconds>(until - now));
      if (!more.ok() || more->empty()) break;
      for (LogRecord& r : *more)
        records.push_back(std::move(r));
    }
  }
  std::vector<ingest::ReceivedEvent> events;
  events.reserve(records.size());
  const std::int64_t now = NowTicks();
  for (LogRecord& r : records) {
    last_read_ = r.seq;
    events.push_back(DecodeQueueRecord(std::move(r.data), now));
  }
  return events;
}

ReadPosition EventLogSource::Position() const {
  ReadPosition position;
  position.seq = last_read_;
  return position;
}

Status EventLogSource::Commit(const ReadPosition& upto) {
  if (upto.seq == 0) return Status::Ok();
  return log_->Commit(upto.seq);
}

void EventLogSource::Rewind() {
  log_->Rewind();
  last_read_ = 0;
}

}  // namespace iomt::pipeline
