#include "pipeline/normalize_stream.h"

#include <string>

#include "common/clock.h"
#include "common/errors.h"
#include "common/event.h"
#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/measurement.h"
#include "normalize/normalizer.h"

namespace iomt::pipeline {

namespace {

constexpr std::size_t kFlushBytes = std::size_t{1} << 16;

Status Flush(ByteBuffer* buffer, std::FILE* f) {
  if (buffer->empty()) return Status::Ok();
  if (std::fwrite(buffer->view().data(), 1, buffer->size(), f) != buffer->size()) return IoError("write failed");
  buffer->clear();
  return Status::Ok();
}

Status Flush(std::string* buffer, std::FILE* f) {
  if (buffer->empty()) return Status::Ok();
  if (std::fwrite(buffer->data(), 1, buffer->size(), f) != buffer->size()) return IoError("write failed");
  buffer->clear();
  return Status::Ok();
}

bool Blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

Status NormalizeStream(const normalize::DeviceMapping& mapping, ingest::LineReader* reader, std::FILE* out,
                       std::FILE* errors, const NormalizeStreamOptions& options, NormalizeStreamStats* stats) {
  normalize::Normalizer normalizer(mapping);
  json::Document doc(json::ParseOptions{64, ingest::LineReader::kDefaultMaxLine});
  json::Arena arena;
  MeasurementWriter writer;
  ByteBuffer out_buffer;
  std::string error_buffer;

  auto write_error = [&](const ErrorRecord& record) {
    AppendErrorRecordJson(&error_buffer, record);
    error_buffer.push_back('\n');
    if (Describe(record.name).severity == ErrorSeverity::kWarning) {
      ++stats->warnings;
    } else {
      ++stats->failed_events;
    }
  };
  auto not_supported = [&](std::int64_t line, std::int64_t now, std::string message) {
    ErrorRecord record;
    record.time_ticks = now;
    record.name = ErrorName::kNotSupported;
    record.message = std::move(message);
    record.input.line = line;
    write_error(record);
  };

  ingest::LineReader::Line line;
  while (reader->Next(&line)) {
    if (!line.too_long && Blank(line.text)) continue;
    ++stats->events;
    const std::int64_t now = options.now_ticks.value_or(NowTicks());
    if (line.too_long) {
      not_supported(line.number, now,
                    "The message is larger than " + std::to_string(ingest::LineReader::kDefaultMaxLine) + " bytes.");
    } else if (Status st = doc.ParsePadded(line.text.data(), line.text.size()); !st.ok()) {
      not_supported(line.number, now, st.message());
    } else {
      arena.Reset();
      Event event;
      event.location.line = line.number;
      std::int64_t ingestion = options.ingestion_ticks.value_or(now);
      if (Status es = ingest::MakeEventValue(doc.root(), options.envelope, ingestion, &arena, &event.value); !es.ok()) {
        not_supported(line.number, now, es.message());
      } else {
        event.ingestion_ticks = ingestion;
        if (!options.ingestion_ticks && event.value.SameNode(doc.root())) {
          if (auto enqueued = ingest::EnqueuedTime(event.value)) event.ingestion_ticks = *enqueued;
        }
        const normalize::NormalizeResult& result = normalizer.Normalize(event, now);
        for (const Measurement& m : result.measurements) {
          if (options.on_measurement) options.on_measurement(m, line.number);
          if (out == nullptr) continue;
          writer.Append(&out_buffer, m);
          out_buffer.Push('\n');
        }
        stats->measurements += static_cast<std::int64_t>(result.measurements.size());
        if (result.error) write_error(*result.error);
      }
    }
    if (out != nullptr && out_buffer.size() >= kFlushBytes) IOMT_RETURN_IF_ERROR(Flush(&out_buffer, out));
    if (error_buffer.size() >= kFlushBytes) IOMT_RETURN_IF_ERROR(Flush(&error_buffer, errors));
  }
  if (out != nullptr) IOMT_RETURN_IF_ERROR(Flush(&out_buffer, out));
  IOMT_RETURN_IF_ERROR(Flush(&error_buffer, errors));
  if (out != nullptr) std::fflush(out);
  std::fflush(errors);
  return reader->status();
}

}  // namespace iomt::pipeline
