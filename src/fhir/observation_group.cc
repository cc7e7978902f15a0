#include "fhir/observation_group.h"

#include <algorithm>
#include <unordered_map>

#include "common/datetime.h"

namespace iomt::fhir {
namespace {

std::int64_t FloorTo(std::int64_t ticks, std::int64_t unit) {
  std::int64_t q = ticks / unit;
  if (ticks % unit != 0 && ticks < 0) --q;
  return q * unit;
}

bool IsBlank(const std::optional<std::string>& s) {
  if (!s) return true;
  return std::all_of(s->begin(), s->end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

// Adds every property value of `m` to `g`.
void Add(ObservationGroup* g, const OwnedMeasurement& m) {
  for (const OwnedMeasurement::Property& p : m.properties) {
    auto it = std::find_if(g->properties.begin(), g->properties.end(),
                           [&](const ObservationGroup::Series& s) { return s.name == p.name; });
    if (it == g->properties.end()) {
      g->properties.push_back({p.name, {}});
      it = g->properties.end() - 1;
    }
    it->values.push_back({m.occurrence_ticks, p.value});
  }
}

// iomt-fhir keeps each property's values in a set ordered by time alone:
// values arrive in measurement order, and of equal times the first stays.
void Finish(ObservationGroup* g) {
  for (ObservationGroup::Series& s : g->properties) {
    std::stable_sort(s.values.begin(), s.values.end(),
                     [](const TimeValue& a, const TimeValue& b) { return a.ticks < b.ticks; });
    s.values.erase(std::unique(s.values.begin(), s.values.end(),
                               [](const TimeValue& a, const TimeValue& b) { return a.ticks == b.ticks; }),
                   s.values.end());
  }
}

}  // namespace

const std::vector<TimeValue>* ObservationGroup::Values(std::string_view name) const {
  for (const Series& s : properties) {
    if (s.name == name) return &s.values;
  }
  return nullptr;
}

std::string TimeIdSegment(std::int64_t start, std::int64_t end) {
  std::string out;
  out.reserve(32);
  datetime::AppendCompactUtc(&out, start);
  out.push_back('.');
  datetime::AppendCompactUtc(&out, end);
  return out;
}

Result<std::vector<ObservationGroup>> BuildObservationGroups(const group::MeasurementGroup& group,
                                                             PeriodInterval period) {
  std::vector<ObservationGroup> out;
  if (period == PeriodInterval::kCorrelationId) {
    if (IsBlank(group.correlation_id)) {
      return Status(StatusCode::kInvalidArgument,
                    "The FHIR template for type [" + group.type +
                        "] groups by correlation id (periodInterval -1), and the measurement has no CorrelationId.")
          .WithError(ErrorName::kCorrelationIdNotDefined);
    }
    if (group.data.empty()) return out;
    ObservationGroup g;
    g.start = g.end = group.data.front().occurrence_ticks;
    for (const OwnedMeasurement& m : group.data) {
      g.start = std::min(g.start, m.occurrence_ticks);
      g.end = std::max(g.end, m.occurrence_ticks);
      Add(&g, m);
    }
    g.id_segment = *group.correlation_id;
    Finish(&g);
    out.push_back(std::move(g));
    return out;
  }
  std::int64_t unit = 0;
  switch (period) {
    case PeriodInterval::kSingle: unit = 0; break;
    case PeriodInterval::kHourly: unit = datetime::kTicksPerHour; break;
    case PeriodInterval::kDaily: unit = datetime::kTicksPerDay; break;
    default:
      return Status(StatusCode::kInvalidArgument,
                    "ObservationPeriodInterval " + std::to_string(static_cast<int>(period)) + " is not supported.")
          .WithError(ErrorName::kFhirDataMapping);
  }
  // Groups in order of first appearance, keyed by their start.
  std::unordered_map<std::int64_t, std::size_t> by_start;
  for (const OwnedMeasurement& m : group.data) {
    std::int64_t start = unit == 0 ? m.occurrence_ticks : FloorTo(m.occurrence_ticks, unit);
    auto [it, inserted] = by_start.try_emplace(start, out.size());
    if (inserted) {
      ObservationGroup g;
      g.start = start;
      g.end = unit == 0 ? start : start + unit - 1;
      g.id_segment = TimeIdSegment(g.start, g.end);
      out.push_back(std::move(g));
    }
    Add(&out[it->second], m);
  }
  for (ObservationGroup& g : out)
    Finish(&g);
  return out;
}

}  // namespace iomt::fhir
