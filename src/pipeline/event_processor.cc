#include "pipeline/event_processor.h"

#include <utility>

#include "common/clock.h"
#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "group/measurement_group.h"
#include "ingest/line_reader.h"
#include "normalize/normalizer.h"

namespace iomt::pipeline {

namespace {

// A dead-letter record (formats.md): an error record with the event.
bool IsDeadLetter(const json::Value& root) { return root.is_object() && root.Has("errorName") && root.Has("event"); }

// One event of a batch.
struct PendingEvent {
  std::string text;  // as received
  InputLocation location;
  std::int64_t ingestion = 0;
  bool dead = false;  // dead-lettered already (each event once)
};

}  // namespace

struct EventBatch {
  std::vector<PendingEvent> events;
  std::vector<OwnedMeasurement> measurements;  // until sealed
  std::vector<group::MeasurementGroup> groups;
  std::vector<std::string> dead;    // the dead-letter records, written with the batch
  std::vector<ErrorRecord> errors;  // its events' own failures, counted with the batch
  // Counted into the stats when the batch is committed, by the writing
  // stage: the taking-in stage may run on another thread.
  std::int64_t measurement_count = 0;
  std::int64_t dead_count = 0;
};

void EventBatchDeleter::operator()(EventBatch* batch) const { delete batch; }

class EventProcessor::Impl {
 public:
  Impl(const normalize::DeviceMapping& mapping, GroupConverter* converter, const identity::IdentityResolver& resolver,
       DeadLetters* dead_letters, const PipelineOptions& options, PipelineStats* summary)
      : normalizer_(mapping),
        converter_(converter),
        resolver_(resolver),
        dead_letters_(dead_letters),
        options_(options),
        summary_(summary),
        doc_(json::ParseOptions{64, ingest::LineReader::kDefaultMaxLine}) {}

  [[nodiscard]] std::size_t pending() const { return filling_->events.size(); }

  // Taking in.

  Status Accept(const EventInput& input) {
    EventBatch& batch = *filling_;
    // A measurement remembers its event by its index in the batch (1-based,
    // in source.line) so that a failed group dead-letters its events.
    const std::size_t index = batch.events.size();
    PendingEvent& e = batch.events.emplace_back();
    e.location = input.location;
    const std::int64_t now = Now();
    e.ingestion = input.ingestion_ticks.value_or(options_.ingestion_ticks.value_or(now));
    if (input.too_long) {
      return NotSupported(
          &batch, &e, "The message is larger than " + std::to_string(ingest::LineReader::kDefaultMaxLine) + " bytes.");
    }
    e.text.assign(input.text);
    if (Status st = input.padded ? doc_.ParsePadded(input.text.data(), input.text.size()) : doc_.Parse(input.text);
        !st.ok()) {
      return NotSupported(&batch, &e, st.message());
    }
    // A dead-letter record of a line that was not JSON carries that line as
    // a string: the replay reads the line again, so it fails (or, if the
    // sender's text was fixed, goes on) exactly as the original did.
    if (json::Value replayed;
        IsDeadLetter(doc_.root()) && doc_.root().Find("event", &replayed) && replayed.is_string()) {
      e.text.assign(replayed.string_value());
      if (Status st = doc_.Parse(e.text); !st.ok()) return NotSupported(&batch, &e, st.message());
    }
    arena_.Reset();
    Event event;
    event.location = input.location;
    if (Status st = EventValue(doc_.root(), e.ingestion, &arena_, &event.value); !st.ok()) {
      return NotSupported(&batch, &e, st.message());
    }
    event.ingestion_ticks = e.ingestion;
    if (!options_.ingestion_ticks) {
      if (auto enqueued = ingest::EnqueuedTime(event.value)) event.ingestion_ticks = *enqueued;
    }
    e.ingestion = event.ingestion_ticks;
    const normalize::NormalizeResult& result = normalizer_.Normalize(event, now);
    if (result.error) {
      // A message no template matches is dead-lettered too (iomt-fhir drops
      // it): after the mapping is fixed, replaying the file brings it in.
      std::string event_json = json::ToJson(event.value);
      return DeadLetter(&batch, &e, *result.error, &event_json);
    }
    batch.measurement_count += static_cast<std::int64_t>(result.measurements.size());
    for (const Measurement& m : result.measurements) {
      if (options_.on_measurement) options_.on_measurement(m, input.location);
      OwnedMeasurement owned = OwnedMeasurement::From(m);
      owned.source = InputLocation{};
      owned.source.line = static_cast<std::int64_t>(index) + 1;
      batch.measurements.push_back(std::move(owned));
    }
    return Status::Ok();
  }

  SealedBatch Seal() {
    SealedBatch sealed = std::move(filling_);
    filling_ = SealedBatch(new EventBatch);
    if (!sealed->measurements.empty()) {
      sealed->groups = group::GroupBatch(std::move(sealed->measurements));
      sealed->measurements = {};
    }
    return sealed;
  }

  // Writing.

  Status Write(SealedBatch batch) {
    held_ = std::move(batch);
    return Retry();
  }

  Status Retry() {
    if (!held_) return Status::Ok();
    if (unavailable_) {
      // The run gave up on an earlier batch for an outage: this one is not
      // tried (each batch would wait as long); replay the file when it is back.
      for (PendingEvent& e : held_->events)
        NotAttempted(held_.get(), &e);
      held_->groups.clear();
      held_->measurement_count = 0;
      return Commit();
    }
    std::vector<group::MeasurementGroup>& groups = held_->groups;
    if (!groups.empty()) {
      // The counts of an attempt that meets an outage are taken back: the
      // retry counts the groups again (what the first attempt wrote then
      // shows as unchanged).
      const PipelineStats before = *summary_;
      converter_->ResetUnavailable();
      std::vector<const group::MeasurementGroup*> all;
      all.reserve(groups.size());
      for (const group::MeasurementGroup& g : groups)
        all.push_back(&g);
      std::vector<std::optional<ErrorRecord>> failures = converter_->ConvertMany(all, Now());
      if (converter_->unavailable()) {
        RestoreConverterCounts(before);
        last_failures_ = std::move(failures);
        // The batch is held: nothing of it is dead-lettered or counted, and
        // Retry tries it again (or the caller gives up on it).
        for (const std::optional<ErrorRecord>& f : last_failures_) {
          if (f && f->name == ErrorName::kFhirService) {
            return Status(StatusCode::kUnavailable, f->message).WithError(ErrorName::kFhirService);
          }
        }
        return Status(StatusCode::kUnavailable, "the FHIR service could not be reached")
            .WithError(ErrorName::kFhirService);
      }
      DeadLetterFailedGroups(failures);
    }
    return Commit();
  }

  // The held batch is not retried any more: its groups that failed are
  // dead-lettered with their errors, and the rest of the input will be "not
  // attempted" (iomt run, once its patience ran out).
  Status GiveUp() {
    unavailable_ = true;
    if (!held_) return Status::Ok();
    if (!held_->groups.empty()) DeadLetterFailedGroups(last_failures_);
    last_failures_.clear();
    return Commit();
  }

  Status Flush() {
    if (held_) return Retry();
    return Write(Seal());
  }

 private:
  std::int64_t Now() const { return options_.now_ticks ? *options_.now_ticks : NowTicks(); }

  // Every event that gave a failed group a measurement is not fully carried
  // through: each is dead-lettered (once), with the group's error.
  void DeadLetterFailedGroups(const std::vector<std::optional<ErrorRecord>>& failures) {
    EventBatch& batch = *held_;
    for (std::size_t g = 0; g < batch.groups.size() && g < failures.size(); ++g) {
      if (!failures[g]) continue;
      CountError(*failures[g]);
      for (const OwnedMeasurement& m : batch.groups[g].data) {
        const auto index = static_cast<std::size_t>(m.source.line - 1);
        if (m.source.line <= 0 || index >= batch.events.size()) continue;
        PendDeadLetter(&batch, &batch.events[index], *failures[g]);
      }
    }
    batch.groups.clear();
  }

  // The batch is done: its dead letters are written, then the commit makes
  // writes and dead letters durable together; then it is counted.
  Status Commit() {
    EventBatch& batch = *held_;
    for (const std::string& record : batch.dead)
      IOMT_RETURN_IF_ERROR(dead_letters_->Write(record));
    if (options_.commit) IOMT_RETURN_IF_ERROR(options_.commit());
    summary_->events += static_cast<std::int64_t>(batch.events.size());
    summary_->measurements += batch.measurement_count;
    summary_->dead_lettered += batch.dead_count;
    for (const ErrorRecord& record : batch.errors)
      CountError(record);
    // The converter counted groups and Observations into the same stats.
    summary_->patients_created = resolver_.patients_created();
    summary_->devices_created = resolver_.devices_created();
    summary_->unavailable = unavailable_;
    held_.reset();
    if (options_.on_batch) options_.on_batch(*summary_);
    return Status::Ok();
  }

  void RestoreConverterCounts(const PipelineStats& before) {
    summary_->groups = before.groups;
    summary_->failed_groups = before.failed_groups;
    summary_->created = before.created;
    summary_->updated = before.updated;
    summary_->unchanged = before.unchanged;
  }

  // The event as the mapping sees it, for the record: the envelope, or the
  // text itself when it never became one.
  std::string EventJson(const PendingEvent& e) const {
    json::Document doc(json::ParseOptions{64, ingest::LineReader::kDefaultMaxLine});
    if (!doc.Parse(e.text).ok()) {
      std::string quoted;
      json::AppendQuoted(&quoted, e.text);
      return quoted;
    }
    json::Arena arena;
    json::Value value;
    if (!EventValue(doc.root(), e.ingestion, &arena, &value).ok()) return json::ToJson(doc.root());
    return json::ToJson(value);
  }

  // What the mapping sees for parsed text: a dead-letter record's event, or
  // the text through the envelope mode.
  Status EventValue(const json::Value& root, std::int64_t ingestion, json::Arena* arena, json::Value* out) const {
    json::Value replayed;
    if (IsDeadLetter(root) && root.Find("event", &replayed)) {
      if (!replayed.is_object() && !replayed.is_array()) {
        return InvalidArgument("The dead-letter record's event is not a JSON document, so it cannot be replayed.");
      }
      *out = replayed;
      return Status::Ok();
    }
    return ingest::MakeEventValue(root, options_.envelope, ingestion, arena, out);
  }

  void CountError(const ErrorRecord& record) {
    ++summary_->errors[std::string(Describe(record.name).name)];
    if (options_.on_error) options_.on_error(record);
  }

  // The dead-letter record of an event (once per event), written with the
  // batch (Commit): a batch held for an outage writes none.
  void PendDeadLetter(EventBatch* batch, PendingEvent* e, ErrorRecord record,
                      const std::string* event_json = nullptr) const {
    if (e->dead) return;
    e->dead = true;
    ++batch->dead_count;
    record.input = e->location;
    std::string json;
    AppendErrorRecordJson(&json, record);
    json.pop_back();  // the closing brace: the event goes in
    json.append(",\"event\":");
    json.append(event_json != nullptr ? *event_json : EventJson(*e));
    json.push_back('}');
    batch->dead.push_back(std::move(json));
  }

  // An event that failed on its own: its error is counted and it is
  // dead-lettered.
  Status DeadLetter(EventBatch* batch, PendingEvent* e, ErrorRecord record,
                    const std::string* event_json = nullptr) const {
    if (e->dead) return Status::Ok();
    record.input = e->location;
    batch->errors.push_back(record);  // counted with the batch (Commit)
    PendDeadLetter(batch, e, std::move(record), event_json);
    return Status::Ok();
  }

  Status NotSupported(EventBatch* batch, PendingEvent* e, std::string message) const {
    ErrorRecord record;
    record.time_ticks = Now();
    record.name = ErrorName::kNotSupported;
    record.message = std::move(message);
    return DeadLetter(batch, e, std::move(record));
  }

  // After the FHIR service was found unreachable, the rest of the input is
  // dead-lettered without being tried: replay the file when it is back.
  Status NotAttempted(EventBatch* batch, PendingEvent* e) const {
    ErrorRecord record;
    record.time_ticks = Now();
    record.name = ErrorName::kFhirService;
    record.message = "Not attempted: the FHIR service could not be reached earlier in this run.";
    return DeadLetter(batch, e, std::move(record));
  }

  normalize::Normalizer normalizer_;
  GroupConverter* converter_;
  const identity::IdentityResolver& resolver_;
  DeadLetters* dead_letters_;
  const PipelineOptions& options_;
  PipelineStats* summary_;
  // Taking in.
  json::Document doc_;
  json::Arena arena_;
  SealedBatch filling_{new EventBatch};
  // Writing.
  SealedBatch held_;                                       // the batch being written, kept while it is held
  std::vector<std::optional<ErrorRecord>> last_failures_;  // of the held batch's last attempt
  bool unavailable_ = false;                               // gave up on a batch: later ones not attempted
};

EventProcessor::EventProcessor(const normalize::DeviceMapping& mapping, GroupConverter* converter,
                               const identity::IdentityResolver& resolver, DeadLetters* dead_letters,
                               const PipelineOptions& options, PipelineStats* stats)
    : impl_(std::make_unique<Impl>(mapping, converter, resolver, dead_letters, options, stats)) {}
EventProcessor::~EventProcessor() = default;
Status EventProcessor::Accept(const EventInput& input) { return impl_->Accept(input); }
std::size_t EventProcessor::pending() const { return impl_->pending(); }
SealedBatch EventProcessor::Seal() { return impl_->Seal(); }
Status EventProcessor::Write(SealedBatch batch) { return impl_->Write(std::move(batch)); }
Status EventProcessor::Retry() { return impl_->Retry(); }
Status EventProcessor::GiveUp() { return impl_->GiveUp(); }
Status EventProcessor::Flush() { return impl_->Flush(); }

}  // namespace iomt::pipeline
