#include "pipeline/transform.h"

#include "common/json/document.h"
#include "fhir/observation_group.h"
#include "pipeline/normalize_stream.h"

namespace iomt::pipeline {

GroupConverter::GroupConverter(const fhir::FhirMapping& mapping, identity::IdentityResolver* resolver,
                               fhir::ObservationWriter* writer)
    : mapping_(mapping), resolver_(resolver), writer_(writer) {}

ErrorRecord GroupConverter::Failure(const group::MeasurementGroup& group, const Status& status,
                                    std::int64_t now_ticks) {
  ErrorRecord record;
  record.time_ticks = now_ticks;
  std::optional<ErrorName> name = FindErrorName(status.detail());
  if (!name) {
    // A failure of the FHIR server (or anything unnamed): FHIRServiceError.
    name = ErrorName::kFhirService;
  }
  record.name = *name;
  record.message = status.message();
  record.template_name = group.type;
  record.device_id = group.device_id;
  if (!group.data.empty()) record.input = group.data.front().source;
  if (status.code() == StatusCode::kUnavailable) unavailable_ = true;
  ++stats_.failed_groups;
  ++stats_.errors[std::string(Describe(record.name).name)];
  return record;
}

std::optional<ErrorRecord> GroupConverter::Convert(const group::MeasurementGroup& group, std::int64_t now_ticks) {
  std::vector<const group::MeasurementGroup*> one{&group};
  return std::move(ConvertMany(one, now_ticks).front());
}

std::vector<std::optional<ErrorRecord>> GroupConverter::ConvertMany(
    const std::vector<const group::MeasurementGroup*>& groups, std::int64_t now_ticks) {
  std::vector<std::optional<ErrorRecord>> out(groups.size());
  struct Prepared {
    const fhir::FhirTemplate* t = nullptr;
    std::vector<fhir::ObservationGroup> observation_groups;
    fhir::ObservationRefs refs;
  };
  std::vector<Prepared> prepared(groups.size());
  std::vector<fhir::ObservationWriter::SaveRequest> requests;
  std::vector<std::size_t> group_of;  // the group of each request
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const group::MeasurementGroup& group = *groups[g];
    ++stats_.groups;
    stats_.measurements += static_cast<std::int64_t>(group.data.size());
    // The template and the observation groups come first, so a group whose
    // template or grouping fails creates no Patient or Device. (Values are
    // checked when the Observation is built, after identity, as in iomt-fhir.)
    const fhir::FhirTemplate* t = mapping_.Find(group.type);
    if (t == nullptr) {
      out[g] = Failure(group,
                       Status(StatusCode::kNotFound, "No Fhir Template exists with the type name [" + group.type +
                                                         "]. Ensure that all Fhir Template type names match Device "
                                                         "Mapping type names (including casing)")
                           .WithDetail("TemplateNotFoundException"),
                       now_ticks);
      continue;
    }
    auto observation_groups = fhir::BuildObservationGroups(group, t->period);
    if (!observation_groups.ok()) {
      out[g] = Failure(group, observation_groups.status(), now_ticks);
      continue;
    }
    if (!group.device_id || group.device_id->empty()) {
      out[g] = Failure(group,
                       Status(StatusCode::kInvalidArgument, "The measurement has no DeviceId.")
                           .WithDetail("DeviceIdentityNotDefinedException"),
                       now_ticks);
      continue;
    }
    Prepared& p = prepared[g];
    p.t = t;
    p.observation_groups = std::move(*observation_groups);
  }
  // The identities of the groups that got this far, fetched (and in Create
  // mode created) together, then resolved one by one.
  std::vector<identity::IdentityResolver::Key> keys;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (prepared[g].t == nullptr) continue;
    keys.push_back({*groups[g]->device_id, groups[g]->patient_id, groups[g]->encounter_id});
  }
  resolver_->Prefetch(keys);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    Prepared& p = prepared[g];
    if (p.t == nullptr) continue;
    const group::MeasurementGroup& group = *groups[g];
    auto identity = resolver_->Resolve(*group.device_id, group.patient_id, group.encounter_id);
    if (!identity.ok()) {
      out[g] = Failure(group, identity.status(), now_ticks);
      p.t = nullptr;
      continue;
    }
    p.refs = {identity->patient_id, identity->device_id, identity->encounter_id};
  }
  // The requests point into `prepared`, which no longer grows.
  for (std::size_t g = 0; g < groups.size(); ++g) {
    Prepared& p = prepared[g];
    if (p.t == nullptr) continue;
    for (const fhir::ObservationGroup& og : p.observation_groups) {
      requests.push_back({p.t, &og, groups[g]->type, &p.refs});
      group_of.push_back(g);
    }
  }
  std::vector<Result<fhir::SaveResult>> saved = writer_->SaveMany(requests, now_ticks);
  for (std::size_t k = 0; k < saved.size(); ++k) {
    std::size_t g = group_of[k];
    if (!saved[k].ok()) {
      // The first failure of a group names it; the group's other
      // Observations may be written (a replay merges into them unchanged).
      if (!out[g]) out[g] = Failure(*groups[g], saved[k].status(), now_ticks);
      continue;
    }
    switch (saved[k]->outcome) {
      case fhir::SaveOutcome::kCreated: ++stats_.created; break;
      case fhir::SaveOutcome::kUpdated: ++stats_.updated; break;
      case fhir::SaveOutcome::kUnchanged: ++stats_.unchanged; break;
    }
  }
  return out;
}

namespace {

Status WriteRecord(std::FILE* errors, const ErrorRecord& record) {
  std::string line;
  AppendErrorRecordJson(&line, record);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), errors) != line.size()) return IoError("cannot write error records");
  return Status::Ok();
}

Status ConvertBatch(std::vector<OwnedMeasurement>* batch, GroupConverter* converter, std::FILE* errors,
                    std::int64_t now) {
  std::vector<group::MeasurementGroup> groups = group::GroupBatch(std::move(*batch));
  batch->clear();
  for (const group::MeasurementGroup& g : groups) {
    if (std::optional<ErrorRecord> failure = converter->Convert(g, now))
      IOMT_RETURN_IF_ERROR(WriteRecord(errors, *failure));
  }
  return Status::Ok();
}

}  // namespace

Status TransformStream(ingest::LineReader* reader, GroupConverter* converter, std::FILE* errors,
                       const TransformStreamOptions& options, std::int64_t* bad_lines) {
  json::Document doc;
  std::vector<OwnedMeasurement> batch;
  ingest::LineReader::Line line;
  auto now = [&] { return options.now_ticks ? *options.now_ticks : NowTicks(); };
  while (reader->Next(&line)) {
    if (!line.too_long && line.text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ErrorRecord record;
    record.time_ticks = now();
    record.input.line = line.number;
    Status st;
    if (line.too_long) {
      st = OutOfRange("The line is longer than the 1 MiB a measurement may take.");
    } else {
      st = doc.ParsePadded(line.text.data(), line.text.size());
    }
    OwnedMeasurement m;
    if (st.ok()) st = ReadMeasurementJson(doc.root(), &m);
    if (!st.ok()) {
      record.name = ErrorName::kIncompatibleData;
      record.message = "Line " + std::to_string(line.number) + " is not a measurement: " + st.message();
      IOMT_RETURN_IF_ERROR(WriteRecord(errors, record));
      ++*bad_lines;
      continue;
    }
    m.source.line = line.number;
    batch.push_back(std::move(m));
    if (batch.size() >= options.batch_size) IOMT_RETURN_IF_ERROR(ConvertBatch(&batch, converter, errors, now()));
  }
  IOMT_RETURN_IF_ERROR(reader->status());
  return ConvertBatch(&batch, converter, errors, now());
}

}  // namespace iomt::pipeline
