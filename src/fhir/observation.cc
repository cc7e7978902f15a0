#include "fhir/observation.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "common/datetime.h"
#include "common/decimal.h"
#include "common/json/writer.h"
#include "common/sha256.h"
#include "fhir/sampled_data.h"

namespace iomt::fhir {
namespace {

constexpr ErrorName kInvalidQuantity = ErrorName::kInvalidQuantityFhirValue;
constexpr ErrorName kDataMapping = ErrorName::kFhirDataMapping;

Status Failure(ErrorName name, std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message)).WithError(name);
}

// ---- Writing JSON text --------------------------------------------------

// Appends `"key":"value"` (with a leading comma unless first) when `value`
// is not empty: FHIR has no empty strings.
void StringMember(std::string* out, bool* first, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (!*first) out->push_back(',');
  *first = false;
  json::AppendQuoted(out, key);
  out->push_back(':');
  json::AppendQuoted(out, value);
}

void Key(std::string* out, bool* first, std::string_view key) {
  if (!*first) out->push_back(',');
  *first = false;
  out->push_back('"');
  out->append(key);  // keys are constants without characters to escape
  out->append("\":");
}

// A Coding in R4 order (system, code, display).
void AppendCoding(std::string* out, std::string_view system, std::string_view code, std::string_view display) {
  out->push_back('{');
  bool first = true;
  StringMember(out, &first, "system", system);
  StringMember(out, &first, "code", code);
  StringMember(out, &first, "display", display);
  out->push_back('}');
}

// A CodeableConcept: the template's codings (empty ones left out), then
// iomt-fhir's own coding {ServiceSystem, name, name} when `name` is given,
// then the text. Returns false (and writes nothing) when it would be empty.
bool AppendConcept(std::string* out, const std::vector<Coding>& codes, std::string_view name, std::string_view text) {
  bool any_coding =
      !name.empty() || std::any_of(codes.begin(), codes.end(), [](const Coding& c) { return !c.empty(); });
  if (!any_coding && text.empty()) return false;
  out->push_back('{');
  bool first = true;
  if (any_coding) {
    Key(out, &first, "coding");
    out->push_back('[');
    bool first_coding = true;
    for (const Coding& c : codes) {
      if (c.empty()) continue;
      if (!first_coding) out->push_back(',');
      first_coding = false;
      AppendCoding(out, c.system, c.code, c.display);
    }
    if (!name.empty()) {
      if (!first_coding) out->push_back(',');
      AppendCoding(out, kServiceSystem, name, name);
    }
    out->push_back(']');
  }
  StringMember(out, &first, "text", text);
  out->push_back('}');
  return true;
}

// `[{...},...]` of the template's categories; empty when none would be written.
std::string CategoryArray(const FhirTemplate& t) {
  std::string categories = "[";
  for (const CodeableConceptTemplate& c : t.category) {
    std::size_t before = categories.size();
    if (categories.size() > 1) categories.push_back(',');
    if (!AppendConcept(&categories, c.codes, {}, c.text)) categories.resize(before);
  }
  if (categories.size() == 1) return {};
  categories.push_back(']');
  return categories;
}

void AppendReference(std::string* out, bool* first, std::string_view key, std::string_view type, std::string_view id) {
  Key(out, first, key);
  out->append("{\"reference\":");
  std::string reference(type);
  reference.push_back('/');
  reference.append(id);
  json::AppendQuoted(out, reference);
  out->push_back('}');
}

void AppendPeriod(std::string* out, std::int64_t start, std::int64_t end) {
  out->append("{\"start\":\"");
  datetime::AppendRoundTrip(out, start);
  out->append("\",\"end\":\"");
  datetime::AppendRoundTrip(out, end);
  out->append("\"}");
}

// ---- Values ----------------------------------------------------------------

std::string_view ValueKey(ValueKind kind) {
  switch (kind) {
    case ValueKind::kSampledData: return "valueSampledData";
    case ValueKind::kQuantity: return "valueQuantity";
    case ValueKind::kString: return "valueString";
    case ValueKind::kCodeableConcept: return "valueCodeableConcept";
  }
  return "value";
}

// The fixed part of a value (see ValueTemplate::fragment).
std::string ValueFragment(const ValueTemplate& v) {
  std::string out;
  bool first = false;
  switch (v.kind) {
    case ValueKind::kQuantity:
      StringMember(&out, &first, "unit", v.unit);
      StringMember(&out, &first, "system", v.system);
      StringMember(&out, &first, "code", v.code);
      out.push_back('}');
      break;
    case ValueKind::kSampledData:
      out.append("{\"origin\":{\"value\":0");
      StringMember(&out, &first, "unit", v.unit);
      out.append("},\"period\":").append(v.default_period).append(",\"dimensions\":1,\"data\":");
      break;
    case ValueKind::kCodeableConcept: AppendConcept(&out, v.concept_.codes, {}, v.concept_.text); break;
    case ValueKind::kString: break;
  }
  return out;
}

// A stream longer than this is refused: it would take more memory than a
// FHIR server accepts in a resource (4,000,000 slots is 4 hours at 250 Hz).
// Only a far outlier timestamp, or a correlation id spanning days at a short
// period, gets there.
constexpr std::int64_t kMaxSlots = 4'000'000;

Status CheckSlots(const ValueTemplate& v, std::int64_t start, std::int64_t end) {
  if (end < start || (end - start) / v.period_ticks < kMaxSlots) return Status::Ok();
  std::string message = "The SampledData stream of [";
  message.append(v.value_name).append("] from ").append(datetime::FormatIso(start));
  message.append(" to ").append(datetime::FormatIso(end)).append(" every ").append(v.default_period);
  message.append(" ms would have more than ").append(std::to_string(kMaxSlots)).append(" slots.");
  return Failure(kDataMapping, std::move(message));
}

Status NeedsPeriod(const ValueTemplate& v) {
  if (!v.default_period.empty()) return Status::Ok();
  return Failure(kDataMapping, "The SampledData value [" + v.value_name +
                                   "] has no defaultPeriod, so its readings cannot be placed in a stream.");
}

// Appends `data` as the body of a JSON string (with its quotes). Readings
// are copied verbatim into streams, as iomt-fhir copies them; almost always
// nothing needs escaping, which is checked first.
void AppendQuotedStream(std::string* out, std::string_view data) {
  bool plain = std::none_of(data.begin(), data.end(),
                            [](char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20; });
  if (!plain) {
    json::AppendQuoted(out, data);
    return;
  }
  out->push_back('"');
  out->append(data);
  out->push_back('"');
}

// Appends `"value[x]":{...}` for `values` (non-empty), within [start, end];
// nothing when the value would be empty.
Status AppendValue(std::string* out, bool* first, const ValueTemplate& v, const std::vector<TimeValue>& values,
                   std::int64_t start, std::int64_t end) {
  std::string computed;
  auto fragment = [&]() -> const std::string& {
    if (v.prepared) return v.fragment;
    computed = ValueFragment(v);
    return computed;
  };
  switch (v.kind) {
    case ValueKind::kQuantity: {
      if (values.size() != 1) {
        return Failure(kInvalidQuantity, "Expected 1 value. Received " + std::to_string(values.size()) + ".");
      }
      thread_local std::string number;
      if (!decimal::ParseNumber(values[0].value, &number)) {
        return Failure(kInvalidQuantity, "Error encountered processing value: " + std::string(values[0].value) + ".");
      }
      Key(out, first, "valueQuantity");
      out->append("{\"value\":").append(number).append(fragment());
      return Status::Ok();
    }
    case ValueKind::kString:
      if (values.size() != 1) {
        return Failure(kDataMapping, "Expected 1 value for the String value [" + v.value_name + "]. Received " +
                                         std::to_string(values.size()) + ".");
      }
      // An empty reading is no value: FHIR has no empty strings.
      if (values[0].value.empty()) return Status::Ok();
      Key(out, first, "valueString");
      json::AppendQuoted(out, values[0].value);
      return Status::Ok();
    case ValueKind::kCodeableConcept: {
      // The reading itself is not used: that there is one is what counts.
      const std::string& concept_json = fragment();
      if (concept_json.empty()) return Status::Ok();
      Key(out, first, "valueCodeableConcept");
      out->append(concept_json);
      return Status::Ok();
    }
    case ValueKind::kSampledData: {
      IOMT_RETURN_IF_ERROR(NeedsPeriod(v));
      IOMT_RETURN_IF_ERROR(CheckSlots(v, start, end));
      Key(out, first, "valueSampledData");
      out->append(fragment());
      thread_local std::string data;
      data.clear();
      BuildSampledData(values, start, end, v.period_ticks, &data);
      AppendQuotedStream(out, data);
      out->push_back('}');
      return Status::Ok();
    }
  }
  return Status::Ok();
}

// The values of `v` in `group`, or nullptr when the group has none (then
// the value, or the component, is not written; not an error).
const std::vector<TimeValue>* ValuesFor(const ValueTemplate& v, const ObservationGroup& group) {
  const std::vector<TimeValue>* values = group.Values(v.value_name);
  return values == nullptr || values->empty() ? nullptr : values;
}

void AppendComponentCode(std::string* out, const ComponentTemplate& c) {
  if (c.value->prepared) {
    out->append(c.code_fragment);
  } else {
    AppendConcept(out, c.codes, c.value->value_name, c.value->value_name);
  }
}

// Appends one component for `c`; nothing when the group has no data for it.
Status AppendComponent(std::string* out, bool* first, const ComponentTemplate& c, const ObservationGroup& group) {
  if (!c.value) return Status::Ok();
  const std::vector<TimeValue>* values = ValuesFor(*c.value, group);
  if (values == nullptr) return Status::Ok();
  std::string component = "{";
  bool inner_first = true;
  Key(&component, &inner_first, "code");
  AppendComponentCode(&component, c);
  IOMT_RETURN_IF_ERROR(AppendValue(&component, &inner_first, *c.value, *values, group.start, group.end));
  component.push_back('}');
  if (!*first) out->push_back(',');
  *first = false;
  out->append(component);
  return Status::Ok();
}

// ---- Merging -----------------------------------------------------------------

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

// A value built by AppendValue, as a Node member (key, value); none when the
// value would be empty.
Result<std::optional<json::Node::Member>> BuildValueNode(const ValueTemplate& v, const std::vector<TimeValue>& values,
                                                         std::int64_t start, std::int64_t end) {
  std::string text = "{";
  bool first = true;
  IOMT_RETURN_IF_ERROR(AppendValue(&text, &first, v, values, start, end));
  text.push_back('}');
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
    const char* p = old.data() + pos;
    const char* end = old.data() + old.size();
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

// The Observation; without `refs` (a preview) no id, identifier or references.
Status AppendObservation(std::string* out_json, const FhirTemplate& t, const ObservationGroup& group,
                         std::string_view type, const ObservationRefs* refs, std::string_view id,
                         std::string_view identifier_value, std::int64_t issued_ticks) {
  std::string& out = *out_json;
  out.reserve(768);
  out.append(R"({"resourceType":"Observation")");
  if (refs != nullptr) {
    out.append(R"(,"id":")").append(id);
    out.append(R"(","identifier":[{"system":")").append(kServiceSystem).append("\",\"value\":");
    json::AppendQuoted(&out, identifier_value);
    out.append("}]");
  }
  out.append(R"(,"status":"final")");
  bool first = false;
  const std::string category = t.prepared ? std::string() : CategoryArray(t);
  const std::string& categories = t.prepared ? t.category_fragment : category;
  if (!categories.empty()) {
    Key(&out, &first, "category");
    out.append(categories);
  }
  Key(&out, &first, "code");
  if (t.prepared && type == t.type_name) {
    out.append(t.code_fragment);
  } else {
    AppendConcept(&out, t.codes, type, type);
  }
  if (refs != nullptr) {
    AppendReference(&out, &first, "subject", "Patient", refs->patient_id);
    if (refs->encounter_id) AppendReference(&out, &first, "encounter", "Encounter", *refs->encounter_id);
  }
  Key(&out, &first, "effectivePeriod");
  AppendPeriod(&out, group.start, group.end);
  Key(&out, &first, "issued");
  out.push_back('"');
  datetime::AppendRoundTrip(&out, issued_ticks);
  out.push_back('"');
  if (t.value) {
    if (const std::vector<TimeValue>* values = ValuesFor(*t.value, group)) {
      IOMT_RETURN_IF_ERROR(AppendValue(&out, &first, *t.value, *values, group.start, group.end));
    }
  }
  if (refs != nullptr) AppendReference(&out, &first, "device", "Device", refs->device_id);
  if (!t.components.empty()) {
    std::string components;
    bool first_component = true;
    for (const ComponentTemplate& c : t.components) {
      IOMT_RETURN_IF_ERROR(AppendComponent(&components, &first_component, c, group));
    }
    if (!components.empty()) {
      Key(&out, &first, "component");
      out.push_back('[');
      out.append(components);
      out.push_back(']');
    }
  }
  out.push_back('}');
  return Status::Ok();
}

}  // namespace

void PrepareFragments(FhirTemplate* t) {
  t->category_fragment = CategoryArray(*t);
  t->code_fragment.clear();
  AppendConcept(&t->code_fragment, t->codes, t->type_name, t->type_name);
  auto prepare = [](ValueTemplate* v) {
    v->fragment = ValueFragment(*v);
    v->prepared = true;
  };
  if (t->value) prepare(&*t->value);
  for (ComponentTemplate& c : t->components) {
    if (!c.value) continue;
    c.code_fragment.clear();
    AppendConcept(&c.code_fragment, c.codes, c.value->value_name, c.value->value_name);
    prepare(&*c.value);
  }
  t->prepared = true;
}

std::string ObservationIdentifierValue(const ObservationRefs& refs, std::string_view type,
                                       std::string_view id_segment) {
  std::string value;
  value.reserve(refs.patient_id.size() + refs.device_id.size() + type.size() + id_segment.size() + 3);
  value.append(refs.patient_id).push_back('.');
  value.append(refs.device_id).push_back('.');
  value.append(type).push_back('.');
  value.append(id_segment);
  return value;
}

std::string ResourceIdForIdentifier(std::string_view system, std::string_view value) {
  std::string input;
  input.reserve(system.size() + value.size() + 1);
  input.append(system).push_back('_');
  input.append(value);
  return Sha256Hex(input);
}

Result<NewObservation> CreateObservation(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                                         const ObservationRefs& refs, std::int64_t issued_ticks) {
  std::string value = ObservationIdentifierValue(refs, type, group.id_segment);
  std::string id = ResourceIdForIdentifier(kServiceSystem, value);
  return CreateObservation(t, group, type, refs, issued_ticks, std::move(value), std::move(id));
}

Result<NewObservation> CreateObservation(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                                         const ObservationRefs& refs, std::int64_t issued_ticks,
                                         std::string identifier_value, std::string id) {
  NewObservation obs;
  obs.identifier_value = std::move(identifier_value);
  obs.id = std::move(id);
  IOMT_RETURN_IF_ERROR(AppendObservation(&obs.json, t, group, type, &refs, obs.id, obs.identifier_value, issued_ticks));
  return obs;
}

Result<std::string> CreateObservationPreview(const FhirTemplate& t, const ObservationGroup& group,
                                             std::string_view type, std::int64_t issued_ticks) {
  std::string json;
  IOMT_RETURN_IF_ERROR(AppendObservation(&json, t, group, type, nullptr, {}, {}, issued_ticks));
  return json;
}

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

Result<std::string> ValueJson(const ValueTemplate& v, const std::vector<TimeValue>& values, std::int64_t start,
                              std::int64_t end) {
  std::string text = "{";
  bool first = true;
  IOMT_RETURN_IF_ERROR(AppendValue(&text, &first, v, values, start, end));
  text.push_back('}');
  return text;
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
