#include "fhir/sampled_data.h"

namespace iomt::fhir {

void BuildSampledData(std::span<const TimeValue> values, std::int64_t start, std::int64_t end, std::int64_t period,
                      std::string* out) {
  if (period <= 0 || end < start) return;
  std::size_t next = 0;
  bool first = true;
  for (std::int64_t slot = start; slot <= end; slot += period) {
    std::int64_t slot_end = slot + period;
    std::string_view value;
    bool found = false;
    while (next < values.size() && values[next].ticks >= slot && values[next].ticks < slot_end) {
      value = values[next].value;
      found = true;
      ++next;
    }
    if (!first) out->push_back(' ');
    first = false;
    if (found) {
      out->append(value);
    } else {
      out->push_back('E');
    }
    if (end - slot < period) break;  // the next slot would be past `end` (and must not overflow)
  }
}

void SampledDataToTimeValues(std::string_view stream, std::int64_t start, std::int64_t period,
                             std::vector<TimeValue>* out) {
  std::int64_t k = 0;
  std::size_t i = 0;
  while (i <= stream.size()) {
    std::size_t space = stream.find(' ', i);
    if (space == std::string_view::npos) space = stream.size();
    std::string_view token = stream.substr(i, space - i);
    // iomt-fhir splits on single spaces, so "a  b" has an empty token that
    // still takes a slot; it is kept as such.
    if (token != "E") out->push_back({start + k * period, token});
    ++k;
    i = space + 1;
  }
}

void MergeTimeValues(std::span<const TimeValue> existing, std::span<const TimeValue> newer,
                     std::vector<TimeValue>* out) {
  out->reserve(out->size() + existing.size() + newer.size());
  std::size_t i = 0, j = 0;
  while (i < existing.size() || j < newer.size()) {
    if (j == newer.size() || (i < existing.size() && existing[i].ticks < newer[j].ticks)) {
      out->push_back(existing[i++]);
    } else if (i == existing.size() || newer[j].ticks < existing[i].ticks) {
      out->push_back(newer[j++]);
    } else {
      out->push_back(newer[j++]);  // equal times: the new reading wins
      ++i;
    }
  }
}

}  // namespace iomt::fhir
