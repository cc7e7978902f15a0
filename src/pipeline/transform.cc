#include "pipeline/transform.h"

#include "fhir/observation_group.h"

namespace iomt::pipeline {

GroupConverter::GroupConverter(const fhir::FhirMapping& mapping, identity::IdentityResolver* resolver,
                               fhir::ObservationWriter* writer, PipelineStats* stats)
    : mapping_(mapping), resolver_(resolver), writer_(writer), stats_(stats) {}

ErrorRecord GroupConverter::Failure(const group::MeasurementGroup& group, const Status& status,
                                    std::int64_t now_ticks) {
  ErrorRecord record;
  record.time_ticks = now_ticks;
  // A failure of the FHIR server (or anything unnamed): FHIRServiceError.
  record.name = status.error().value_or(ErrorName::kFhirService);
  record.message = status.message();
  record.template_name = group.type;
  record.device_id = group.device_id;
  if (!group.data.empty()) record.input = group.data.front().source;
  if (status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kIoError) unavailable_ = true;
  // The caller counts the error (by name) with the events it fails.
  ++stats_->failed_groups;
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
    ++stats_->groups;
    // The template and the observation groups come first, so a group whose
    // template or grouping fails creates no Patient or Device. (Values are
    // checked when the Observation is built, after identity, as in iomt-fhir.)
    const fhir::FhirTemplate* t = mapping_.Find(group.type);
    if (t == nullptr) {
      out[g] = Failure(group,
                       Status(StatusCode::kNotFound, "No Fhir Template exists with the type name [" + group.type +
                                                         "]. Ensure that all Fhir Template type names match Device "
                                                         "Mapping type names (including casing)")
                           .WithError(ErrorName::kFhirTemplateNotFound),
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
                           .WithError(ErrorName::kDeviceIdentityNotDefined),
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
    if (unavailable_) {
      // The service is away (one group's lookup already ran out of
      // retries): the others are not tried, each would wait as long.
      out[g] = Failure(group,
                       Status(StatusCode::kUnavailable, "Not attempted: the FHIR service could not be reached.")
                           .WithError(ErrorName::kFhirService),
                       now_ticks);
      p.t = nullptr;
      continue;
    }
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
    if (unavailable_) {
      // A group resolved before the service went away: not written now.
      out[g] = Failure(*groups[g],
                       Status(StatusCode::kUnavailable, "Not attempted: the FHIR service could not be reached.")
                           .WithError(ErrorName::kFhirService),
                       now_ticks);
      continue;
    }
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
      case fhir::SaveOutcome::kCreated: ++stats_->created; break;
      case fhir::SaveOutcome::kUpdated: ++stats_->updated; break;
      case fhir::SaveOutcome::kUnchanged: ++stats_->unchanged; break;
    }
  }
  return out;
}

}  // namespace iomt::pipeline
