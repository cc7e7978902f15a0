#include "group/measurement_group.h"

#include <functional>
#include <string_view>
#include <unordered_map>

namespace iomt::group {
namespace {

std::string_view Field(const std::optional<std::string>& v) {
  if (!v) return {};
  return *v;
}

struct KeyView {
  std::string_view device, type, patient, encounter, correlation;
  bool operator==(const KeyView&) const = default;
};

KeyView KeyOf(const OwnedMeasurement& m) {
  return {Field(m.device_id), m.type, Field(m.patient_id), Field(m.encounter_id), Field(m.correlation_id)};
}

struct KeyHash {
  std::size_t operator()(const KeyView& k) const {
    std::hash<std::string_view> h;
    std::size_t seed = h(k.device);
    for (std::string_view part : {k.type, k.patient, k.encounter, k.correlation}) {
      seed ^= h(part) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
    }
    return seed;
  }
};

bool LaterIngestion(const OwnedMeasurement& a, const OwnedMeasurement& b) {
  if (!a.ingestion_ticks) return false;
  if (!b.ingestion_ticks) return true;
  return *a.ingestion_ticks > *b.ingestion_ticks;
}

}  // namespace

std::vector<MeasurementGroup> GroupBatch(std::vector<OwnedMeasurement> batch) {
  std::vector<MeasurementGroup> groups;
  // Keys view the measurements of `batch`, which stay in place until the
  // groups are filled below.
  std::unordered_map<KeyView, std::size_t, KeyHash> index;
  std::vector<std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto [it, inserted] = index.try_emplace(KeyOf(batch[i]), groups.size());
    if (inserted) {
      groups.emplace_back();
      members.emplace_back();
    }
    members[it->second].push_back(i);
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    MeasurementGroup& group = groups[g];
    const OwnedMeasurement& first = batch[members[g].front()];
    group.type = first.type;
    group.device_id = first.device_id;
    group.patient_id = first.patient_id;
    group.encounter_id = first.encounter_id;
    group.correlation_id = first.correlation_id;
    // Duplicate suppression: the slot of the first measurement at a time
    // receives the latest-ingested one.
    std::unordered_map<std::int64_t, std::size_t> slot_of_time;
    std::vector<std::size_t> chosen;
    chosen.reserve(members[g].size());
    for (std::size_t i : members[g]) {
      auto [it, inserted] = slot_of_time.try_emplace(batch[i].occurrence_ticks, chosen.size());
      if (inserted) {
        chosen.push_back(i);
      } else if (LaterIngestion(batch[i], batch[chosen[it->second]])) {
        chosen[it->second] = i;
      }
    }
    group.data.reserve(chosen.size());
    for (std::size_t i : chosen)
      group.data.push_back(std::move(batch[i]));
  }
  return groups;
}

}  // namespace iomt::group
