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
  ++stats_.failed_groups;
  ++stats_.errors[std::string(Describe(record.name).name)];
  return record;
}

std::optional<ErrorRecord> GroupConverter::Convert(const group::MeasurementGroup& group, std::int64_t now_ticks) {
  ++stats_.groups;
  stats_.measurements += static_cast<std::int64_t>(group.data.size());
  // The template and the observation groups come first, so a group whose
  // template or grouping fails creates no Patient or Device. (Values are
  // checked when the Observation is built, after identity, as in iomt-fhir.)
  const fhir::FhirTemplate* t = mapping_.Find(group.type);
  if (t == nullptr) {
    return Failure(group,
                   Status(StatusCode::kNotFound, "No Fhir Template exists with the type name [" + group.type +
                                                     "]. Ensure that all Fhir Template type names match Device "
                                                     "Mapping type names (including casing)")
                       .WithDetail("TemplateNotFoundException"),
                   now_ticks);
  }
  auto observation_groups = fhir::BuildObservationGroups(group, t->period);
  if (!observation_groups.ok()) return Failure(group, observation_groups.status(), now_ticks);
  if (!group.device_id || group.device_id->empty()) {
    return Failure(group,
                   Status(StatusCode::kInvalidArgument, "The measurement has no DeviceId.")
                       .WithDetail("DeviceIdentityNotDefinedException"),
                   now_ticks);
  }
  auto identity = resolver_->Resolve(*group.device_id, group.patient_id, group.encounter_id);
  if (!identity.ok()) return Failure(group, identity.status(), now_ticks);
  fhir::ObservationRefs refs{identity->patient_id, identity->device_id, identity->encounter_id};
  for (const fhir::ObservationGroup& og : *observation_groups) {
    auto saved = writer_->Save(*t, og, group.type, refs, now_ticks);
    if (!saved.ok()) return Failure(group, saved.status(), now_ticks);
    switch (saved->outcome) {
      case fhir::SaveOutcome::kCreated: ++stats_.created; break;
      case fhir::SaveOutcome::kUpdated: ++stats_.updated; break;
      case fhir::SaveOutcome::kUnchanged: ++stats_.unchanged; break;
    }
  }
  return std::nullopt;
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
