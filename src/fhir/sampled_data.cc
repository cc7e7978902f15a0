#include "fhir/sampled_data.h"

#include <algorithm>

namespace iomt::fhir {

namespace {

// Appends `count` empty slots, the first of which is slot `index` (slot 0
// has no space before it). An hour of one-second slots is 3,600 tokens, most
// of them "E": appended by the run, not a character at a time.
void AppendEmptySlots(std::int64_t index, std::int64_t count, std::string* out) {
  static const std::string kRun = [] {
    std::string run;
    for (int i = 0; i < 1024; ++i)
      run.append(" E");
    return run;
  }();
  if (count <= 0) return;
  if (index == 0) {
    out->push_back('E');
    --count;
  }
  const auto per_run = static_cast<std::int64_t>(kRun.size() / 2);
  while (count > 0) {
    const std::int64_t n = std::min(count, per_run);
    out->append(kRun.data(), static_cast<std::size_t>(n) * 2);
    count -= n;
  }
}

}  // namespace

void BuildSampledData(std::span<const TimeValue> values, std::int64_t start, std::int64_t end, std::int64_t period,
                      std::string* out) {
  if (period <= 0 || end < start) return;
  const std::int64_t slots = (end - start) / period + 1;
  out->reserve(out->size() + static_cast<std::size_t>(slots) * 2 + values.size() * 8);
  std::size_t next = 0;
  std::int64_t index = 0;  // the slot to write next
  while (index < slots) {
    // A value earlier than this slot is never consumed and holds back the
    // ones after it (iomt-fhir's loop): the rest is empty, as is the rest
    // when no value is left.
    const std::int64_t slot = start + index * period;
    if (next == values.size() || values[next].ticks < slot) break;
    const std::int64_t target = (values[next].ticks - start) / period;
    if (target >= slots) break;  // past `end`: dropped
    AppendEmptySlots(index, target - index, out);
    index = target;
    // The slot takes the last of its values.
    const std::int64_t slot_start = start + index * period;
    std::string_view value;
    while (next < values.size() && values[next].ticks >= slot_start && values[next].ticks - slot_start < period)
      value = values[next++].value;
    if (index > 0) out->push_back(' ');
    out->append(value);
    ++index;
  }
  AppendEmptySlots(index, slots - index, out);
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
