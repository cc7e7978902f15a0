// Creating Observations from observation groups: the JSON text written
// directly, in R4's element order, from the template's prepared fragments,
// and the values (Quantity, String, CodeableConcept, SampledData) as
// iomt-fhir's value processors make them. Merging groups into existing
// Observations is in observation_merge.cc.
#include "fhir/observation.h"

#include <algorithm>
#include <cstdint>

#include "common/datetime.h"
#include "common/decimal.h"
#include "common/json/writer.h"
#include "common/sha256.h"
#include "fhir/observation_internal.h"
#include "fhir/sampled_data.h"

namespace iomt::fhir {

namespace {

constexpr ErrorName kInvalidQuantity = ErrorName::kInvalidQuantityFhirValue;

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

void AppendReference(std::string* out, bool* first, std::string_view key, std::string_view type, std::string_view id) {
  Key(out, first, key);
  out->append("{\"reference\":");
  // "Type/id" without a temporary string (a malloc per reference, two per
  // Observation, showed in profiles): the id is quoted and escaped, then the
  // type, a constant with nothing to escape, goes in after the quote.
  const std::size_t quote = out->size();
  json::AppendQuoted(out, id);
  out->insert(quote + 1, type);
  out->insert(quote + 1 + type.size(), 1, '/');
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

// A character that a JSON string cannot hold as it is.
bool NeedsEscape(char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20; }

// Appends `data` as the body of a JSON string (with its quotes). Readings
// are copied verbatim into streams, as iomt-fhir copies them; almost always
// nothing needs escaping, which is checked first.
void AppendQuotedStream(std::string* out, std::string_view data) {
  bool plain = std::none_of(data.begin(), data.end(), NeedsEscape);
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
      // The stream is "E", spaces and the values: when no value needs
      // escaping, it is built in place, not copied and scanned (an hour of
      // one-second slots is 7 KB).
      const bool plain = std::all_of(values.begin(), values.end(), [](const TimeValue& tv) {
        return std::none_of(tv.value.begin(), tv.value.end(), NeedsEscape);
      });
      if (plain) {
        out->push_back('"');
        BuildSampledData(values, start, end, v.period_ticks, out);
        out->push_back('"');
      } else {
        thread_local std::string data;
        data.clear();
        BuildSampledData(values, start, end, v.period_ticks, &data);
        AppendQuotedStream(out, data);
      }
      out->push_back('}');
      return Status::Ok();
    }
  }
  return Status::Ok();
}

void AppendComponentCode(std::string* out, const ComponentTemplate& c) {
  if (c.value->prepared) {
    out->append(c.code_fragment);
  } else {
    AppendConcept(out, c.codes, c.value->value_name, c.value->value_name);
  }
}

// The Observation; without `refs` (a preview) no id, identifier or references.
Status AppendObservation(std::string* out_json, const FhirTemplate& t, const ObservationGroup& group,
                         std::string_view type, const ObservationRefs* refs, std::string_view id,
                         std::string_view identifier_value, std::int64_t issued_ticks) {
  std::string& out = *out_json;
  // Room for the whole text at once: growing it by doubling cost a
  // large-bin malloc per Observation, the biggest single item of the
  // in-memory pipeline's profile (docs/adr/0021).
  std::size_t estimate =
      768 + t.category_fragment.size() + t.code_fragment.size() + 2 * id.size() + identifier_value.size();
  if (refs != nullptr) estimate += refs->patient_id.size() + refs->device_id.size() + 64;
  for (const ObservationGroup::Series& series : group.properties)
    estimate += 16 * series.values.size();
  // A SampledData stream: two bytes a slot ("E " where there is no value);
  // an hourly stream of seconds is 7 KB, which doubling from the estimate
  // above allocated twice over.
  auto stream_bytes = [&group](const ValueTemplate& v) -> std::size_t {
    if (v.kind != ValueKind::kSampledData || v.period_ticks <= 0 || group.end < group.start) return 0;
    const std::int64_t slots = (group.end - group.start) / v.period_ticks + 1;
    return slots <= 4'000'000 ? static_cast<std::size_t>(2 * slots) : 0;  // longer is refused (kMaxSlots)
  };
  if (t.value) estimate += stream_bytes(*t.value);
  for (const ComponentTemplate& c : t.components)
    estimate += stream_bytes(*c.value);
  out.reserve(out.size() + estimate);
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

// ---- Shared with observation_merge.cc (observation_internal.h) -------------

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

const std::vector<TimeValue>* ValuesFor(const ValueTemplate& v, const ObservationGroup& group) {
  const std::vector<TimeValue>* values = group.Values(v.value_name);
  return values == nullptr || values->empty() ? nullptr : values;
}

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

Result<std::string> ValueJson(const ValueTemplate& v, const std::vector<TimeValue>& values, std::int64_t start,
                              std::int64_t end) {
  std::string text = "{";
  bool first = true;
  IOMT_RETURN_IF_ERROR(AppendValue(&text, &first, v, values, start, end));
  text.push_back('}');
  return text;
}

}  // namespace iomt::fhir
