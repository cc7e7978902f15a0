// Merging an observation group into the Observation that exists in the
// FHIR server: the category replaced, single values kept or replaced by the
// latest reading, SampledData streams merged slot by slot (spliced in place
// when the slot grid does not move), components matched by their iomt
// coding, the effective period widened; then R4's member order.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include "common/datetime.h"
#include "fhir/observation.h"
#include "fhir/observation_internal.h"
#include "fhir/sampled_data.h"

namespace iomt::fhir {

namespace {

std::string_view ValueKey(ValueKind kind) {
  switch (kind) {
    case ValueKind::kSampledData: return "valueSampledData";
    case ValueKind::kQuantity: return "valueQuantity";
    case ValueKind::kString: return "valueString";
    case ValueKind::kCodeableConcept: return "valueCodeableConcept";
  }
  return "value";
}

constexpr std::array<std::string_view, 11> kValueKeys = {
    "valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean",  "valueInteger", "valueRange",
    "valueRatio",    "valueSampledData",     "valueTime",   "valueDateTime", "valuePeriod"};

// The value[x] member of an Observation or component, or nullptr.
json::Node::Member* FindValueMember(json::Node* node) {
  for (json::Node::Member& m : node->members()) {
    if (std::find(kValueKeys.begin(), kValueKeys.end(), m.first) != kValueKeys.end()) return &m;
  }
  return nullptr;
}

// A value built by ValueJson, as a Node member (key, value); none when the
// value would be empty.
Result<std::optional<json::Node::Member>> BuildValueNode(const ValueTemplate& v, const std::vector<TimeValue>& values,
                                                         std::int64_t start, std::int64_t end) {
  IOMT_ASSIGN_OR_RETURN(std::string text, ValueJson(v, values, start, end));
  IOMT_ASSIGN_OR_RETURN(json::Node node, json::ParseNode(text));
  if (node.members().empty()) return std::optional<json::Node::Member>();
  return std::optional<json::Node::Member>(std::move(node.members().front()));
}

struct Span {
  std::int64_t start;
  std::int64_t end;
};

// The slots [0, count) of a stream whose slot 0 starts at `start`: the old
// tokens, with each slot that has new readings taking the last of them (a
// new reading wins over the old token of its slot, which sits at the slot's
// start). `readings` are sorted and all within the slots. This is the merge
// of SampledDataToTimeValues, MergeTimeValues and BuildSampledData when the
// slot grid does not move, in one pass that copies runs of untouched slots.
void SpliceSampledData(std::string_view old, std::int64_t start, std::int64_t period,
                       const std::vector<TimeValue>& readings, std::int64_t count, std::string* out) {
  out->reserve(old.size() + readings.size() * 4 + 16);
  constexpr std::size_t kEnd = std::string_view::npos;
  std::size_t pos = 0;  // the start of old token `slot`; kEnd past the last
  std::int64_t slot = 0;
  bool first = true;
  auto separate = [&] {
    if (!first) out->push_back(' ');
    first = false;
  };
  // Moves `pos` past `n` old tokens. Tokens are short, so whole words of
  // 8 bytes are skipped while they hold fewer spaces than are left to pass
  // (one memchr call per token costs several times more).
  auto skip = [&](std::int64_t n) {
    const char* end = old.data() + old.size();
    // Past the last token `p` is the end (data() + npos would overflow).
    const char* p = pos == kEnd ? end : old.data() + pos;
    while (n > 8 && pos != kEnd && end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      std::uint64_t x = word ^ 0x2020202020202020ULL;  // a zero byte where there is a space
      std::uint64_t high = ~(((x & 0x7F7F7F7F7F7F7F7FULL) + 0x7F7F7F7F7F7F7F7FULL) | x | 0x7F7F7F7F7F7F7F7FULL);
      // One bit a space at the top of its byte: the multiply sums them (no
      // popcount instruction needed on a baseline x86-64 build).
      auto spaces = static_cast<std::int64_t>(((high >> 7) * 0x0101010101010101ULL) >> 56);
      if (spaces >= n) break;
      n -= spaces;
      slot += spaces;
      p += 8;
      pos = static_cast<std::size_t>(p - old.data());
    }
    while (n > 0 && pos != kEnd) {
      while (p != end && *p != ' ')
        ++p;
      if (p == end) {
        pos = kEnd;
      } else {
        ++p;
        pos = static_cast<std::size_t>(p - old.data());
      }
      --n;
      ++slot;
    }
    slot += n;  // tokens past the end of the old stream
  };
  // Copies old tokens [slot, until) in one piece, then E where the old
  // stream has ended.
  auto copy_until = [&](std::int64_t until) {
    if (slot >= until) return;
    std::size_t from = pos;
    std::int64_t first_slot = slot;
    skip(until - slot);
    std::int64_t copied = until - first_slot;
    if (from != kEnd) {
      separate();
      std::size_t to = pos == kEnd ? old.size() : pos - 1;
      out->append(old.substr(from, to - from));
      // How many tokens that was: all, or those up to the old stream's end.
      if (pos == kEnd) {
        copied = 1 + std::count(old.begin() + static_cast<std::ptrdiff_t>(from), old.end(), ' ');
      }
    } else {
      copied = 0;
    }
    for (std::int64_t k = first_slot + copied; k < until; ++k) {
      separate();
      out->push_back('E');
    }
  };
  std::size_t i = 0;
  while (i < readings.size()) {
    std::int64_t target = (readings[i].ticks - start) / period;
    std::string_view value = readings[i].value;
    while (++i < readings.size() && (readings[i].ticks - start) / period == target)
      value = readings[i].value;
    if (target >= count) break;
    copy_until(target);
    separate();
    out->append(value);
    skip(1);
  }
  copy_until(count);
}

// Merges the values of `v` into `holder` (an Observation or a component);
// sets *changed when the holder changed. `obs` is the existing
// Observation's effective period.
Status MergeValue(json::Node* holder, const ValueTemplate& v, const std::vector<TimeValue>& values,
                  const ObservationGroup& group, Span obs, bool* changed) {
  json::Node::Member* existing = FindValueMember(holder);
  std::string_view key = ValueKey(v.kind);
  if (existing != nullptr && existing->first != key) {
    return Failure(kDataMapping, "The existing Observation has a " + existing->first +
                                     ", and the FHIR template maps [" + v.value_name + "] to a " +
                                     std::string(ToString(v.kind)) +
                                     " value: iomt does not change the type of a value.");
  }
  if (existing == nullptr || v.kind != ValueKind::kSampledData) {
    // A single value (Quantity, String, CodeableConcept) is the latest
    // reading's. When the Observation already covers a later reading than
    // this group's, its value stays: iomt-fhir lets the group processed last
    // win, which makes the result depend on arrival order and makes running
    // the same input twice flip values back and forth (two readings of one
    // device within a second share an Observation id).
    if (existing != nullptr && group.end < obs.end) return Status::Ok();
    IOMT_ASSIGN_OR_RETURN(auto built, BuildValueNode(v, values, group.start, group.end));
    if (!built) return Status::Ok();
    if (existing == nullptr || !json::Equals(existing->second, built->second)) {
      holder->Set(built->first, std::move(built->second));
      *changed = true;
    }
    return Status::Ok();
  }
  IOMT_RETURN_IF_ERROR(NeedsPeriod(v));
  json::Node& sampled = existing->second;
  if (const json::Node* dimensions = sampled.Find("dimensions");
      dimensions != nullptr && !(dimensions->is_number() && dimensions->text() == "1")) {
    return Failure(kDataMapping, "The existing Observation's SampledData has " +
                                     (dimensions->is_number() ? dimensions->text() : std::string("unknown")) +
                                     " dimensions; iomt merges SampledData of 1 dimension only.");
  }
  const std::int64_t start = std::min(group.start, obs.start);
  const std::int64_t end = std::max(group.end, obs.end);
  IOMT_RETURN_IF_ERROR(CheckSlots(v, start, end));
  json::Node* data_node = sampled.Find("data");
  std::string_view old_data = data_node != nullptr && data_node->is_string() ? data_node->text() : std::string_view();
  std::string data;
  if (start == obs.start) {
    // The slots stay where they were: splice the new readings in.
    SpliceSampledData(old_data, start, v.period_ticks, values, (end - start) / v.period_ticks + 1, &data);
  } else {
    // The stream grows at its front: decode, merge and rebuild (iomt-fhir's
    // algorithm, which the splice reproduces for the common case).
    std::vector<TimeValue> decoded;
    SampledDataToTimeValues(old_data, obs.start, v.period_ticks, &decoded);
    std::vector<TimeValue> merged;
    MergeTimeValues(decoded, values, &merged);
    data.reserve(old_data.size() + values.size() * 4 + 16);
    BuildSampledData(merged, start, end, v.period_ticks, &data);
  }
  if (data_node != nullptr && data_node->is_string() && data_node->text() == data) return Status::Ok();
  sampled.Set("data", json::Node::String(std::move(data)));
  *changed = true;
  return Status::Ok();
}

// Whether the component has a coding {ServiceSystem, name}.
bool ComponentIs(const json::Node& component, std::string_view name) {
  const json::Node* code = component.Find("code");
  const json::Node* coding = code == nullptr ? nullptr : code->Find("coding");
  if (coding == nullptr || !coding->is_array()) return false;
  for (const json::Node& c : coding->items()) {
    const json::Node* system = c.Find("system");
    const json::Node* value = c.Find("code");
    if (system != nullptr && value != nullptr && system->text() == kServiceSystem && value->text() == name) return true;
  }
  return false;
}

Result<Span> ExistingEffective(const json::Node& observation, const ObservationGroup& group) {
  auto parse = [](const json::Node* n, std::int64_t fallback) {
    std::int64_t ticks = fallback;
    if (n != nullptr && n->is_string() && datetime::ParseDateTime(n->text(), &ticks)) return ticks;
    return fallback;
  };
  if (const json::Node* period = observation.Find("effectivePeriod")) {
    std::int64_t start = parse(period->Find("start"), group.start);
    return Span{start, parse(period->Find("end"), std::max(start, group.end))};
  }
  if (const json::Node* at = observation.Find("effectiveDateTime")) {
    std::int64_t t = parse(at, group.start);
    return Span{t, t};
  }
  for (std::string_view other : {"effectiveInstant", "effectiveTiming"}) {
    if (observation.Find(other) != nullptr) {
      return Failure(kDataMapping,
                     "The existing Observation has an " + std::string(other) + "; iomt merges into effectivePeriod.");
    }
  }
  return Span{group.start, group.end};
}

}  // namespace

Result<MergedObservation> MergeObservation(const FhirTemplate& t, const ObservationGroup& group, json::Node existing) {
  json::Node& obs = existing;
  IOMT_ASSIGN_OR_RETURN(Span span, ExistingEffective(obs, group));
  bool changed = false;

  // The category is the template's, or none.
  const std::string categories = t.prepared ? t.category_fragment : CategoryArray(t);
  if (categories.empty()) {
    changed |= obs.Erase("category");
  } else {
    IOMT_ASSIGN_OR_RETURN(json::Node parsed, json::ParseNode(categories));
    const json::Node* old = obs.Find("category");
    if (old == nullptr || !json::Equals(*old, parsed)) {
      obs.Set("category", std::move(parsed));
      changed = true;
    }
  }

  if (t.value) {
    if (const std::vector<TimeValue>* values = ValuesFor(*t.value, group)) {
      IOMT_RETURN_IF_ERROR(MergeValue(&obs, *t.value, *values, group, span, &changed));
    }
  }

  for (const ComponentTemplate& c : t.components) {
    if (!c.value) continue;
    const std::vector<TimeValue>* values = ValuesFor(*c.value, group);
    if (values == nullptr) continue;
    json::Node* list = obs.Find("component");
    json::Node* target = nullptr;
    if (list != nullptr && list->is_array()) {
      for (json::Node& component : list->items()) {
        if (ComponentIs(component, c.value->value_name)) {
          target = &component;
          break;
        }
      }
    }
    if (target != nullptr) {
      IOMT_RETURN_IF_ERROR(MergeValue(target, *c.value, *values, group, span, &changed));
      continue;
    }
    std::string text;
    bool first = true;
    IOMT_RETURN_IF_ERROR(AppendComponent(&text, &first, c, group));
    if (text.empty()) continue;
    IOMT_ASSIGN_OR_RETURN(json::Node component, json::ParseNode(text));
    if (list == nullptr || !list->is_array()) list = &obs.Set("component", json::Node::Array());
    list->items().push_back(std::move(component));
    changed = true;
  }

  // The effective period covers the old and the new readings.
  std::string start = datetime::FormatRoundTrip(std::min(span.start, group.start));
  std::string end = datetime::FormatRoundTrip(std::max(span.end, group.end));
  changed |= obs.Erase("effectiveDateTime");
  json::Node* period = obs.Find("effectivePeriod");
  const json::Node* old_start = period != nullptr ? period->Find("start") : nullptr;
  const json::Node* old_end = period != nullptr ? period->Find("end") : nullptr;
  bool same_period = period != nullptr && period->members().size() == 2 && old_start != nullptr &&
                     old_start->is_string() && old_start->text() == start && old_end != nullptr &&
                     old_end->is_string() && old_end->text() == end;
  if (!same_period) {
    obs.Set("effectivePeriod", json::Node::Object({{"start", json::Node::String(std::move(start))},
                                                   {"end", json::Node::String(std::move(end))}}));
    changed = true;
  }

  MergedObservation result;
  result.changed = changed;
  if (changed) obs.Set("status", json::Node::String("amended"));
  SortObservationMembers(&obs);
  result.json = obs.ToJson();
  return result;
}

void SortObservationMembers(json::Node* observation) {
  static constexpr std::string_view kOrder[] = {"resourceType",
                                                "id",
                                                "meta",
                                                "implicitRules",
                                                "language",
                                                "text",
                                                "contained",
                                                "extension",
                                                "modifierExtension",
                                                "identifier",
                                                "basedOn",
                                                "partOf",
                                                "status",
                                                "category",
                                                "code",
                                                "subject",
                                                "focus",
                                                "encounter",
                                                "effectiveDateTime",
                                                "effectivePeriod",
                                                "effectiveTiming",
                                                "effectiveInstant",
                                                "issued",
                                                "performer",
                                                "valueQuantity",
                                                "valueCodeableConcept",
                                                "valueString",
                                                "valueBoolean",
                                                "valueInteger",
                                                "valueRange",
                                                "valueRatio",
                                                "valueSampledData",
                                                "valueTime",
                                                "valueDateTime",
                                                "valuePeriod",
                                                "dataAbsentReason",
                                                "interpretation",
                                                "note",
                                                "bodySite",
                                                "method",
                                                "specimen",
                                                "device",
                                                "referenceRange",
                                                "hasMember",
                                                "derivedFrom",
                                                "component"};
  auto rank = [](const std::string& key) {
    auto it = std::find(std::begin(kOrder), std::end(kOrder), key);
    return static_cast<std::size_t>(it - std::begin(kOrder));
  };
  std::stable_sort(
      observation->members().begin(), observation->members().end(),
      [&](const json::Node::Member& a, const json::Node::Member& b) { return rank(a.first) < rank(b.first); });
}

}  // namespace iomt::fhir
