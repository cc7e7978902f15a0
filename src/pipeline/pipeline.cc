#include "pipeline/pipeline.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "common/clock.h"
#include "common/json/document.h"
#include "common/mutex.h"
#include "fhir/observation_writer.h"
#include "group/measurement_group.h"
#include "pipeline/backoff.h"
#include "pipeline/transform.h"

namespace iomt::pipeline {

Pipeline::Pipeline(const normalize::DeviceMapping* device, const fhir::FhirMapping& fhir, store::FhirClient* client,
                   DeadLetters* dead_letters, PipelineOptions options)
    : options_(std::move(options)),
      resolver_(std::make_unique<identity::IdentityResolver>(client, options_.resolver)),
      writer_(std::make_unique<fhir::ObservationWriter>(client)),
      converter_(std::make_unique<GroupConverter>(fhir, resolver_.get(), writer_.get(), &stats_)) {
  if (device != nullptr) {
    events_ = std::make_unique<EventProcessor>(*device, converter_.get(), *resolver_, dead_letters, options_, &stats_);
  }
}

Pipeline::~Pipeline() = default;

Status Pipeline::Accept(const EventInput& input) {
  if (!events_) return InvalidArgument("this pipeline has no device mapping: it converts measurements only");
  return events_->Accept(input);
}

SealedBatch Pipeline::Seal() { return events_ ? events_->Seal() : SealedBatch(); }

Status Pipeline::Write(SealedBatch batch) {
  if (!events_) return Status::Ok();
  return events_->Write(std::move(batch));
}

Status Pipeline::Retry() {
  if (!events_) return Status::Ok();
  return events_->Retry();
}

Status Pipeline::Flush() {
  if (!events_) return Status::Ok();
  return events_->Flush();
}

Status Pipeline::GiveUp() {
  if (!events_) return Status::Ok();
  return events_->GiveUp();
}

std::size_t Pipeline::pending() const { return events_ ? events_->pending() : 0; }

bool Pipeline::unavailable() const { return converter_->unavailable(); }

std::int64_t Pipeline::Now() const { return options_.now_ticks ? *options_.now_ticks : NowTicks(); }

std::vector<ErrorRecord> Pipeline::Convert(std::vector<OwnedMeasurement> measurements) {
  // Group by group, as iomt transform always has: each group's Patient and
  // Device are written just before its Observations (the order the output
  // lists them in).
  const std::int64_t now = Now();
  std::vector<ErrorRecord> failures;
  for (const group::MeasurementGroup& g : group::GroupBatch(std::move(measurements))) {
    std::optional<ErrorRecord> failure = converter_->Convert(g, now);
    if (!failure) continue;
    ++stats_.errors[std::string(Describe(failure->name).name)];
    if (options_.on_error) options_.on_error(*failure);
    failures.push_back(std::move(*failure));
  }
  stats_.patients_created = resolver_->patients_created();
  stats_.devices_created = resolver_->devices_created();
  stats_.unavailable = converter_->unavailable();
  return failures;
}

namespace {

bool Blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

Status WriteRecord(std::FILE* errors, const ErrorRecord& record) {
  std::string line;
  AppendErrorRecordJson(&line, record);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), errors) != line.size()) return IoError("cannot write error records");
  return Status::Ok();
}

}  // namespace

namespace {

// Write, holding the batch through an outage for up to the patience.
Status WritePatiently(Pipeline* pipeline, SealedBatch batch) {
  Status st = pipeline->Write(std::move(batch));
  if (st.code() != StatusCode::kUnavailable) return st;
  const PipelineOptions& options = pipeline->options();
  const auto start = std::chrono::steady_clock::now();
  Backoff backoff(std::chrono::milliseconds(500), std::chrono::milliseconds(15'000));
  while (st.code() == StatusCode::kUnavailable) {
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    if (waited >= options.outage_patience) return pipeline->GiveUp();
    const auto pause = std::min(backoff.Next(), options.outage_patience - waited);
    if (options.on_held) options.on_held(st, waited);
    std::this_thread::sleep_for(pause);
    st = pipeline->Retry();
  }
  return st;
}

// Sealed batches on their way from the thread that takes them in to the one
// that writes them. One waits at most: reading runs a batch ahead of the
// writes and no further, so memory holds two batches, and a batch is never
// read far ahead of a failure that stops the run.
class Handoff {
 public:
  // Waits while a batch is waiting. False when the writer stopped: the batch
  // is dropped (never written, so nothing of it is lost: the run fails and
  // the input is run again).
  bool Put(SealedBatch batch) IOMT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (waiting_ && !stopped_)
      cv_.Wait(lock);
    if (stopped_) return false;
    next_ = std::move(batch);
    waiting_ = true;
    cv_.NotifyAll();
    return true;
  }
  // The taker is finished; `status` says whether it read everything.
  void Close(Status status) IOMT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    closed_ = true;
    reading_ = std::move(status);
    cv_.NotifyAll();
  }
  // The next batch, or false once the taker closed and none is waiting.
  bool Take(SealedBatch* batch) IOMT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (!waiting_ && !closed_)
      cv_.Wait(lock);
    if (!waiting_) return false;
    *batch = std::move(next_);
    waiting_ = false;
    cv_.NotifyAll();
    return true;
  }
  // The writer failed: the taker stops at its next batch.
  void Stop() IOMT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    stopped_ = true;
    cv_.NotifyAll();
  }
  Status reading() IOMT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return reading_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  SealedBatch next_ IOMT_GUARDED_BY(mu_);
  bool waiting_ IOMT_GUARDED_BY(mu_) = false;
  bool closed_ IOMT_GUARDED_BY(mu_) = false;
  bool stopped_ IOMT_GUARDED_BY(mu_) = false;
  Status reading_ IOMT_GUARDED_BY(mu_);
};

// The taking-in stage of RunStream: every line into batches, each handed
// over when full, the last one (maybe empty: its commit still runs) at the
// end of the input. Stops early when the writer stopped.
Status TakeIn(ingest::LineReader* reader, Pipeline* pipeline, Handoff* handoff) {
  ingest::LineReader::Line line;
  while (reader->Next(&line)) {
    if (!line.too_long && Blank(line.text)) continue;
    EventInput input;
    input.text = line.text;
    input.location.line = line.number;
    input.too_long = line.too_long;
    input.padded = true;  // LineReader pads its lines for simdjson
    IOMT_RETURN_IF_ERROR(pipeline->Accept(input));
    if (pipeline->pending() >= pipeline->options().batch_events && !handoff->Put(pipeline->Seal())) {
      return Status::Ok();
    }
  }
  IOMT_RETURN_IF_ERROR(reader->status());
  handoff->Put(pipeline->Seal());
  return Status::Ok();
}

}  // namespace

Status RunStream(ingest::LineReader* reader, Pipeline* pipeline) {
  const auto start = std::chrono::steady_clock::now();
  Handoff handoff;
  std::thread taker([&] { handoff.Close(TakeIn(reader, pipeline, &handoff)); });
  Status st;
  SealedBatch batch;
  while (handoff.Take(&batch)) {
    st = WritePatiently(pipeline, std::move(batch));
    if (!st.ok()) {
      handoff.Stop();
      break;
    }
  }
  // The taker stops at its next full batch; reading stdin, that is when the
  // next lines (or the end) arrive.
  taker.join();
  // A failure to read stops the run where it was read to: the batches
  // before it are written, the one it cut short is not.
  if (st.ok()) st = handoff.reading();
  pipeline->mutable_stats().seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return st;
}

Status TransformStream(ingest::LineReader* reader, Pipeline* pipeline, std::size_t batch_size, std::FILE* errors,
                       std::int64_t* bad_lines) {
  json::Document doc;
  std::vector<OwnedMeasurement> batch;
  auto convert = [&]() -> Status {
    for (const ErrorRecord& failure : pipeline->Convert(std::move(batch)))
      IOMT_RETURN_IF_ERROR(WriteRecord(errors, failure));
    batch.clear();
    return Status::Ok();
  };
  ingest::LineReader::Line line;
  while (reader->Next(&line)) {
    if (!line.too_long && Blank(line.text)) continue;
    Status st = line.too_long ? OutOfRange("The line is longer than the 1 MiB a measurement may take.")
                              : doc.ParsePadded(line.text.data(), line.text.size());
    OwnedMeasurement m;
    if (st.ok()) st = ReadMeasurementJson(doc.root(), &m);
    if (!st.ok()) {
      ErrorRecord record;
      record.time_ticks = pipeline->Now();
      record.input.line = line.number;
      record.name = ErrorName::kIncompatibleData;
      record.message = "Line " + std::to_string(line.number) + " is not a measurement: " + st.message();
      IOMT_RETURN_IF_ERROR(WriteRecord(errors, record));
      ++*bad_lines;
      continue;
    }
    m.source.line = line.number;
    batch.push_back(std::move(m));
    ++pipeline->mutable_stats().measurements;
    if (batch.size() >= batch_size) IOMT_RETURN_IF_ERROR(convert());
  }
  IOMT_RETURN_IF_ERROR(reader->status());
  return convert();
}

}  // namespace iomt::pipeline
