#include "fhir/observation.h"

#include <algorithm>
#include <array>

#include "common/datetime.h"
#include "common/decimal.h"
#include "common/json/writer.h"
#include "common/sha256.h"
#include "fhir/sampled_data.h"

namespace iomt::fhir {
namespace {

constexpr std::string_view kInvalidQuantity = "InvalidQuantityFhirValueException";
constexpr std::string_view kDataMapping = "FhirDataMappingException";

Status Failure(std::string_view name, std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message)).WithDetail(std::string(name));
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
  json::AppendQuoted(out, key);
  out->push_back(':');
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
  out->append(datetime::FormatRoundTrip(start));
  out->append("\",\"end\":\"");
  out->append(datetime::FormatRoundTrip(end));
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

Status NeedsPeriod(const ValueTemplate& v) {
  if (!v.default_period.empty()) return Status::Ok();
  return Failure(kDataMapping, "The SampledData value [" + v.value_name +
                                   "] has no defaultPeriod, so its readings cannot be placed in a stream.");
}

// Appends `"value[x]":{...}` for `values` (non-empty), within [start, end].
// Returns false in *written when the value would be empty.
Status AppendValue(std::string* out, bool* first, const ValueTemplate& v, const std::vector<TimeValue>& values,
                   std::int64_t start, std::int64_t end) {
  switch (v.kind) {
    case ValueKind::kQuantity: {
      if (values.size() != 1) {
        return Failure(kInvalidQuantity, "Expected 1 value. Received " + std::to_string(values.size()) + ".");
      }
      std::string number;
      if (!decimal::ParseNumber(values[0].value, &number)) {
        return Failure(kInvalidQuantity, "Error encountered processing value: " + std::string(values[0].value) + ".");
      }
      Key(out, first, "valueQuantity");
      out->append("{\"value\":").append(number);
      bool inner_first = false;
      StringMember(out, &inner_first, "unit", v.unit);
      StringMember(out, &inner_first, "system", v.system);
      StringMember(out, &inner_first, "code", v.code);
      out->push_back('}');
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
      std::string concept_json;
      if (!AppendConcept(&concept_json, v.concept_.codes, {}, v.concept_.text)) return Status::Ok();
      Key(out, first, "valueCodeableConcept");
      out->append(concept_json);
      return Status::Ok();
    }
    case ValueKind::kSampledData: {
      IOMT_RETURN_IF_ERROR(NeedsPeriod(v));
      Key(out, first, "valueSampledData");
      out->append("{\"origin\":{\"value\":0");
      if (!v.unit.empty()) {
        out->append(",\"unit\":");
        json::AppendQuoted(out, v.unit);
      }
      out->append("},\"period\":").append(v.default_period).append(",\"dimensions\":1,\"data\":\"");
      std::string data;
      data.reserve(values.size() * 4 + 64);
      BuildSampledData(values, start, end, v.period_ticks, &data);
      // Readings are copied verbatim, as iomt-fhir copies them; quote them
      // as JSON needs.
      std::size_t at = out->size();
      json::AppendQuoted(out, data);
      out->erase(at, 1);  // the opening quote is already there
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

// Appends one component for `c`; nothing when the group has no data for it.
Status AppendComponent(std::string* out, bool* first, const ComponentTemplate& c, const ObservationGroup& group) {
  if (!c.value) return Status::Ok();
  const std::vector<TimeValue>* values = ValuesFor(*c.value, group);
  if (values == nullptr) return Status::Ok();
  std::string component = "{";
  bool inner_first = true;
  Key(&component, &inner_first, "code");
  AppendConcept(&component, c.codes, c.value->value_name, c.value->value_name);
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

// Merges the values of `v` into `holder` (an Observation or a component).
// `obs` is the existing Observation's effective period.
Status MergeValue(json::Node* holder, const ValueTemplate& v, const std::vector<TimeValue>& values,
                  const ObservationGroup& group, Span obs) {
  json::Node::Member* existing = FindValueMember(holder);
  std::string_view key = ValueKey(v.kind);
  if (existing != nullptr && existing->first != key) {
    return Failure(kDataMapping, "The existing Observation has a " + existing->first +
                                     ", and the FHIR template maps [" + v.value_name + "] to a " +
                                     std::string(ToString(v.kind)) +
                                     " value: iomt does not change the type of a value.");
  }
  if (existing == nullptr || v.kind != ValueKind::kSampledData) {
    IOMT_ASSIGN_OR_RETURN(auto built, BuildValueNode(v, values, group.start, group.end));
    if (built) holder->Set(built->first, std::move(built->second));
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
  std::string old_data;
  if (const json::Node* data = sampled.Find("data"); data != nullptr && data->is_string()) old_data = data->text();
  std::vector<TimeValue> decoded;
  SampledDataToTimeValues(old_data, obs.start, v.period_ticks, &decoded);
  std::vector<TimeValue> merged;
  MergeTimeValues(decoded, values, &merged);
  std::string data;
  data.reserve(old_data.size() + values.size() * 4 + 16);
  BuildSampledData(merged, std::min(group.start, obs.start), std::max(group.end, obs.end), v.period_ticks, &data);
  sampled.Set("data", json::Node::String(std::move(data)));
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

Result<json::Node> ParsePiece(const std::string& text) { return json::ParseNode(text); }

}  // namespace

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

namespace {

// The Observation; without `refs` (a preview) no id, identifier or references.
Status AppendObservation(std::string* out_json, const FhirTemplate& t, const ObservationGroup& group,
                         std::string_view type, const ObservationRefs* refs, std::string_view id,
                         std::string_view identifier_value, std::int64_t issued_ticks) {
  std::string& out = *out_json;
  out.reserve(512);
  out.append(R"({"resourceType":"Observation")");
  if (refs != nullptr) {
    out.append(R"(,"id":")").append(id);
    out.append(R"(","identifier":[{"system":)");
    json::AppendQuoted(&out, kServiceSystem);
    out.append(",\"value\":");
    json::AppendQuoted(&out, identifier_value);
    out.append("}]");
  }
  out.append(R"(,"status":"final")");
  bool first = false;
  std::string categories;
  for (const CodeableConceptTemplate& c : t.category) {
    std::size_t before = categories.size();
    if (!categories.empty()) categories.push_back(',');
    if (!AppendConcept(&categories, c.codes, {}, c.text)) categories.resize(before);
  }
  if (!categories.empty()) {
    Key(&out, &first, "category");
    out.push_back('[');
    out.append(categories);
    out.push_back(']');
  }
  Key(&out, &first, "code");
  AppendConcept(&out, t.codes, type, type);
  if (refs != nullptr) {
    AppendReference(&out, &first, "subject", "Patient", refs->patient_id);
    if (refs->encounter_id) AppendReference(&out, &first, "encounter", "Encounter", *refs->encounter_id);
  }
  Key(&out, &first, "effectivePeriod");
  AppendPeriod(&out, group.start, group.end);
  Key(&out, &first, "issued");
  json::AppendQuoted(&out, datetime::FormatRoundTrip(issued_ticks));
  if (t.value) {
    if (const std::vector<TimeValue>* values = ValuesFor(*t.value, group)) {
      IOMT_RETURN_IF_ERROR(AppendValue(&out, &first, *t.value, *values, group.start, group.end));
    }
  }
  if (refs != nullptr) AppendReference(&out, &first, "device", "Device", refs->device_id);
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
  out.push_back('}');
  return Status::Ok();
}

}  // namespace

Result<NewObservation> CreateObservation(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                                         const ObservationRefs& refs, std::int64_t issued_ticks) {
  NewObservation obs;
  obs.identifier_value = ObservationIdentifierValue(refs, type, group.id_segment);
  obs.id = ResourceIdForIdentifier(kServiceSystem, obs.identifier_value);
  IOMT_RETURN_IF_ERROR(AppendObservation(&obs.json, t, group, type, &refs, obs.id, obs.identifier_value, issued_ticks));
  return obs;
}

Result<std::string> CreateObservationPreview(const FhirTemplate& t, const ObservationGroup& group,
                                             std::string_view type, std::int64_t issued_ticks) {
  std::string json;
  IOMT_RETURN_IF_ERROR(AppendObservation(&json, t, group, type, nullptr, {}, {}, issued_ticks));
  return json;
}

Result<MergedObservation> MergeObservation(const FhirTemplate& t, const ObservationGroup& group,
                                           const json::Node& existing) {
  json::Node obs = existing;
  IOMT_ASSIGN_OR_RETURN(Span span, ExistingEffective(existing, group));

  // The category is the template's, or none.
  std::string categories;
  for (const CodeableConceptTemplate& c : t.category) {
    std::size_t before = categories.size();
    if (!categories.empty()) categories.push_back(',');
    if (!AppendConcept(&categories, c.codes, {}, c.text)) categories.resize(before);
  }
  if (categories.empty()) {
    obs.Erase("category");
  } else {
    IOMT_ASSIGN_OR_RETURN(json::Node parsed, ParsePiece("[" + categories + "]"));
    obs.Set("category", std::move(parsed));
  }

  if (t.value) {
    if (const std::vector<TimeValue>* values = ValuesFor(*t.value, group)) {
      IOMT_RETURN_IF_ERROR(MergeValue(&obs, *t.value, *values, group, span));
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
      IOMT_RETURN_IF_ERROR(MergeValue(target, *c.value, *values, group, span));
      continue;
    }
    std::string text;
    bool first = true;
    IOMT_RETURN_IF_ERROR(AppendComponent(&text, &first, c, group));
    if (text.empty()) continue;
    IOMT_ASSIGN_OR_RETURN(json::Node component, ParsePiece(text));
    if (list == nullptr || !list->is_array()) list = &obs.Set("component", json::Node::Array());
    list->items().push_back(std::move(component));
  }

  // The effective period covers the old and the new readings.
  std::string period;
  AppendPeriod(&period, std::min(span.start, group.start), std::max(span.end, group.end));
  IOMT_ASSIGN_OR_RETURN(json::Node period_node, ParsePiece(period));
  obs.Erase("effectiveDateTime");
  obs.Set("effectivePeriod", std::move(period_node));

  MergedObservation result;
  result.changed = !json::Equals(obs, existing);
  if (result.changed) obs.Set("status", json::Node::String("amended"));
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
