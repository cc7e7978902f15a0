// Loads and validates a FHIR destination mapping the way iomt-fhir's
// CollectionFhirTemplateFactory and CodeValueFhirTemplateFactory do
// (Newtonsoft deserialization with MissingMemberHandling.Error, except inside
// `value`, which a polymorphic converter reads with default settings), and
// collects every error with its position instead of stopping at the first.
#include <cctype>
#include <string>
#include <unordered_set>

#include "common/decimal.h"
#include "common/json/strict_reader.h"
#include "common/json/writer.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation.h"

namespace iomt::fhir {
namespace {

using json::Field;
using json::Kind;
using json::SourceMember;
using json::SourceNode;
using json::SourcePos;

// Newtonsoft lists a derived class's properties before its base class's
// (FhirTemplate: TypeName, PeriodInterval), which decides the order of
// "not found" errors.
constexpr Field kCodeValueFhirFields[] = {
    {"Category"}, {"Codes", true}, {"Value"}, {"Components"}, {"TypeName", true}, {"PeriodInterval"},
};
enum { kCategory, kCodes, kValue, kComponents, kTypeName, kPeriodInterval };

constexpr Field kFhirCodeFields[] = {{"Code"}, {"System"}, {"Display"}};
constexpr Field kCodeableConceptFields[] = {{"Text"}, {"Codes", true}};
constexpr Field kComponentFields[] = {{"Codes", true}, {"Value"}};

constexpr std::string_view kPeriodIntervalType = "Microsoft.Health.Fhir.Ingest.Template.ObservationPeriodInterval";

bool IsKnownPeriod(long long v) { return v == -1 || v == 0 || v == 60 || v == 1440; }

std::string Folded(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

class Loader {
 public:
  explicit Loader(FhirLoadResult* result) : result_(result), reader_(&result->errors) {}

  void LoadCollection(std::string_view text) {
    const SourceNode* root = reader_.ParseContainer(text, &doc_);
    if (root == nullptr) return;
    const std::vector<SourceNode>* entries = reader_.CollectionEntries(*root, "CollectionFhirTemplate");
    if (entries == nullptr) return;
    for (const SourceNode& entry : *entries)
      LoadEntry(entry, /*single=*/false);
  }

  void LoadSingle(std::string_view text) {
    const SourceNode* root = reader_.ParseContainer(text, &doc_);
    if (root != nullptr) LoadEntry(*root, /*single=*/true);
  }

 private:
  void Error(std::string message, SourcePos pos) { reader_.Error(std::move(message), pos); }
  void Warning(std::string message, SourcePos pos) { result_->warnings.push_back({std::move(message), pos}); }

  void LoadEntry(const SourceNode& entry, bool single) {
    json::StrictReader::Container container;
    if (!reader_.ReadContainer(entry, &container)) return;
    const std::string& type_name = container.type_name;
    const SourcePos type_pos = container.type_pos;
    const SourceMember* body = container.body;
    if (!json::MatchTemplateName(type_name, "CodeValueFhirTemplate")) {
      // CodeValueFhir is the only FHIR template type. In a collection the
      // factory chain finds no factory for the name; a template loaded on its
      // own gets the factory's own message.
      Error(single ? "Expected TemplateType value CodeValueFhirTemplate, actual " + type_name + "."
                   : "No match found for template type " + type_name + ".",
            type_pos);
      return;
    }
    if (body == nullptr || body->value.kind != Kind::kObject) {
      Error("Expected an object for the template property value for template type CodeValueFhirTemplate.",
            body == nullptr ? type_pos : body->value.pos);
      return;
    }
    std::size_t errors_before = result_->errors.size();
    FhirTemplate t;
    t.pos = body->value.pos;
    std::vector<const SourceMember*> read = reader_.Read(body->value, "CodeValueFhirTemplate", kCodeValueFhirFields);
    reader_.String(read[kTypeName], &t.type_name);
    ReadPeriod(read[kPeriodInterval], &t);
    ReadCodeableConcepts(read[kCategory], &t.category);
    ReadCodes(read[kCodes], /*strict=*/true, &t.codes);
    if (read[kValue] != nullptr) t.value = ReadValue(read[kValue]->value);
    ReadComponents(read[kComponents], &t);
    if (result_->errors.size() > errors_before) return;  // iomt-fhir registers only templates that load

    SourcePos name_pos = read[kTypeName] != nullptr ? read[kTypeName]->value.pos : t.pos;
    if (IsBlank(t.type_name)) {
      Error("Empty type name is not allowed: '" + t.type_name + "'", name_pos);
      return;
    }
    if (!names_.insert(Folded(t.type_name)).second) {
      Error("Duplicate template defined for type name: '" + t.type_name + "'", name_pos);
      return;
    }
    WarnAboutRuntimeFailures(t);
    PrepareFragments(&t);
    result_->mapping.templates.push_back(std::move(t));
  }

  // Numbers or names; Newtonsoft accepts any integer for an enum, and
  // iomt-fhir fails at transform time on the ones it does not know, so those
  // load with a warning and fail every group of their type.
  void ReadPeriod(const SourceMember* m, FhirTemplate* t) {
    if (m == nullptr) return;
    const SourceNode& v = m->value;
    long long value = 0;
    switch (v.kind) {
      case Kind::kInt: value = v.integer; break;
      case Kind::kDouble:
        if (v.number != static_cast<double>(static_cast<long long>(v.number)) || v.number < -32768 ||
            v.number > 32767) {
          Error("Error converting value " + v.text + " to type '" + std::string(kPeriodIntervalType) + "'.", v.pos);
          return;
        }
        value = static_cast<long long>(v.number);
        break;
      case Kind::kString: {
        static constexpr std::pair<std::string_view, int> kNames[] = {
            {"CorrelationId", -1}, {"Single", 0}, {"Hourly", 60}, {"Daily", 1440}};
        bool found = false;
        for (const auto& [name, number] : kNames) {
          if (json::EqualsIgnoreCase(v.text, name)) {
            value = number;
            found = true;
          }
        }
        if (!found) {
          std::string digits = v.text;
          bool numeric = !digits.empty();
          for (std::size_t i = 0; i < digits.size(); ++i) {
            if (!std::isdigit(static_cast<unsigned char>(digits[i])) && !(i == 0 && digits[i] == '-')) numeric = false;
          }
          if (!numeric || digits.size() > 6) {
            Error("Error converting value \"" + v.text + "\" to type '" + std::string(kPeriodIntervalType) + "'.",
                  v.pos);
            return;
          }
          value = std::stoll(digits);
        }
        break;
      }
      case Kind::kNull:
        Error("Error converting value {null} to type '" + std::string(kPeriodIntervalType) + "'.", v.pos);
        return;
      default: Error("Unexpected token " + std::string(json::TokenName(v)) + " when parsing enum.", v.pos); return;
    }
    if (value < -32768 || value > 32767) {
      Error("Error converting value " + std::to_string(value) + " to type '" + std::string(kPeriodIntervalType) + "'.",
            v.pos);
      return;
    }
    t->period = static_cast<PeriodInterval>(value);
    if (!IsKnownPeriod(value)) {
      Warning("ObservationPeriodInterval " + std::to_string(value) +
                  " is not supported: every measurement of this type will fail with FhirDataMappingException. Use 0 "
                  "(Single), 60 (Hourly), 1440 (Daily) or -1 (CorrelationId).",
              v.pos);
    }
  }

  // A list member; reports a non-array as Newtonsoft does.
  const std::vector<SourceNode>* List(const SourceMember* m, std::string_view item_class) {
    if (m == nullptr || m->value.kind == Kind::kNull) return nullptr;
    if (m->value.kind != Kind::kArray) {
      Error("Cannot deserialize the current JSON " + std::string(m->value.kind == Kind::kObject ? "object" : "value") +
                " into type 'IList<" + std::string(item_class) +
                ">' because the type requires a JSON array (e.g. [1,2,3]) to deserialize correctly.",
            m->value.pos);
      return nullptr;
    }
    return &m->value.items;
  }

  bool IsObjectItem(const SourceNode& item, std::string_view item_class) {
    if (item.kind == Kind::kObject) return true;
    Error("Error converting value to type '" + std::string(item_class) + "': an item must be a JSON object.", item.pos);
    return false;
  }

  // `strict`: unknown members are errors (everywhere but inside `value`).
  void ReadCodes(const SourceMember* m, bool strict, std::vector<Coding>* out) {
    const std::vector<SourceNode>* items = List(m, "FhirCode");
    if (items == nullptr) return;
    for (const SourceNode& item : *items) {
      if (!IsObjectItem(item, "FhirCode")) continue;
      Coding c;
      if (strict) {
        std::vector<const SourceMember*> read = reader_.Read(item, "FhirCode", kFhirCodeFields);
        reader_.String(read[0], &c.code);
        reader_.String(read[1], &c.system);
        reader_.String(read[2], &c.display);
      } else {
        reader_.String(json::FindMember(item, "code"), &c.code);
        reader_.String(json::FindMember(item, "system"), &c.system);
        reader_.String(json::FindMember(item, "display"), &c.display);
      }
      out->push_back(std::move(c));
    }
  }

  void ReadCodeableConcepts(const SourceMember* m, std::vector<CodeableConceptTemplate>* out) {
    const std::vector<SourceNode>* items = List(m, "FhirCodeableConcept");
    if (items == nullptr) return;
    for (const SourceNode& item : *items) {
      if (!IsObjectItem(item, "FhirCodeableConcept")) continue;
      std::vector<const SourceMember*> read = reader_.Read(item, "FhirCodeableConcept", kCodeableConceptFields);
      CodeableConceptTemplate c;
      reader_.String(read[0], &c.text);
      ReadCodes(read[1], /*strict=*/true, &c.codes);
      out->push_back(std::move(c));
    }
  }

  void ReadComponents(const SourceMember* m, FhirTemplate* t) {
    const std::vector<SourceNode>* items = List(m, "CodeValueMapping");
    if (items == nullptr) return;
    for (const SourceNode& item : *items) {
      if (!IsObjectItem(item, "CodeValueMapping")) continue;
      std::vector<const SourceMember*> read = reader_.Read(item, "CodeValueMapping", kComponentFields);
      ComponentTemplate c;
      ReadCodes(read[0], /*strict=*/true, &c.codes);
      if (read[1] != nullptr) c.value = ReadValue(read[1]->value);
      t->components.push_back(std::move(c));
    }
  }

  // `value`: iomt-fhir's AbstractJsonConverter picks the class from
  // `ValueType` (or `valueType`: those two spellings only), ignoring case in
  // the type name, then deserializes with default settings: unknown members
  // are ignored and member names match ignoring case.
  std::optional<ValueTemplate> ReadValue(const SourceNode& v) {
    if (v.kind == Kind::kNull) return std::nullopt;
    if (v.kind != Kind::kObject) {
      Error("Error reading value: Unexpected token " + std::string(json::TokenName(v)) +
                ". A value is an object with a valueType.",
            v.pos);
      return std::nullopt;
    }
    const SourceMember* type = v.Find("ValueType");
    if (type == nullptr) type = v.Find("valueType");
    if (type == nullptr) {
      Error("Property ValueType is missing.", v.pos);
      return std::nullopt;
    }
    std::string type_name = json::ScalarText(type->value);
    static constexpr std::pair<std::string_view, ValueKind> kKinds[] = {
        {"SampledData", ValueKind::kSampledData},
        {"Quantity", ValueKind::kQuantity},
        {"String", ValueKind::kString},
        {"CodeableConcept", ValueKind::kCodeableConcept},
    };
    ValueTemplate out;
    out.pos = v.pos;
    bool known = false;
    for (const auto& [name, kind] : kKinds) {
      if (!type_name.empty() && json::EqualsIgnoreCase(type_name, name)) {
        out.kind = kind;
        known = true;
      }
    }
    if (!known) {
      // NotImplementedException(typeName): the message is the name itself.
      Error(type_name.empty() ? "The method or operation is not implemented." : type_name, type->value.pos);
      return std::nullopt;
    }
    std::size_t errors_before = result_->errors.size();
    reader_.String(json::FindMember(v, "valueName"), &out.value_name);
    switch (out.kind) {
      case ValueKind::kSampledData:
        ReadPeriodMs(json::FindMember(v, "defaultPeriod"), &out);
        reader_.String(json::FindMember(v, "unit"), &out.unit);
        break;
      case ValueKind::kQuantity:
        reader_.String(json::FindMember(v, "unit"), &out.unit);
        reader_.String(json::FindMember(v, "system"), &out.system);
        reader_.String(json::FindMember(v, "code"), &out.code);
        break;
      case ValueKind::kCodeableConcept:
        reader_.String(json::FindMember(v, "text"), &out.concept_.text);
        ReadCodes(json::FindMember(v, "codes"), /*strict=*/false, &out.concept_.codes);
        break;
      case ValueKind::kString: break;
    }
    if (result_->errors.size() > errors_before) return std::nullopt;
    return out;
  }

  void ReadPeriodMs(const SourceMember* m, ValueTemplate* out) {
    if (m == nullptr || m->value.kind == Kind::kNull) return;
    const SourceNode& v = m->value;
    std::string text;
    bool ok = false;
    if (v.kind == Kind::kInt || v.kind == Kind::kDouble) {
      ok = decimal::FromJsonNumber(v.text, &text);
      if (!ok) {
        Error("Value was either too large or too small for a Decimal.", v.pos);
        return;
      }
    } else if (v.kind == Kind::kString) {
      ok = decimal::ParseNumber(v.text, &text);
      if (!ok) {
        Error("Could not convert string to decimal: " + v.text + ".", v.pos);
        return;
      }
    } else {
      Error("Error reading decimal. Unexpected token: " + std::string(json::TokenName(v)) + ".", v.pos);
      return;
    }
    long long ticks = 0;
    if (!decimal::ToScaledInt(text, 4, &ticks) || ticks <= 0) {
      // iomt-fhir would loop forever building the stream; iomt refuses.
      Error(
          "The defaultPeriod of a SampledData value must be a number of milliseconds greater than 0 (at least "
          "0.0001), got " +
              text + ".",
          v.pos);
      return;
    }
    out->default_period = std::move(text);
    out->period_ticks = ticks;
  }

  void WarnAboutValue(const FhirTemplate& t, const ValueTemplate& v) {
    if (v.value_name.empty()) {
      Warning("The value of Fhir Template [" + t.type_name +
                  "] has no valueName: it never reads a measurement value, so it is never set.",
              v.pos);
    }
    if (v.kind == ValueKind::kSampledData && v.default_period.empty()) {
      Warning("The SampledData value [" + v.value_name + "] of Fhir Template [" + t.type_name +
                  "] has no defaultPeriod: every measurement of this type will fail with FhirDataMappingException.",
              v.pos);
    }
  }

  void WarnAboutRuntimeFailures(const FhirTemplate& t) {
    if (t.value) WarnAboutValue(t, *t.value);
    for (const ComponentTemplate& c : t.components) {
      if (c.value) WarnAboutValue(t, *c.value);
    }
  }

  FhirLoadResult* result_;
  json::StrictReader reader_;
  json::SourceDocument doc_;
  std::unordered_set<std::string> names_;  // type names, folded: lookup ignores case
};

}  // namespace

std::string_view ToString(PeriodInterval p) {
  switch (p) {
    case PeriodInterval::kCorrelationId: return "CorrelationId";
    case PeriodInterval::kSingle: return "Single";
    case PeriodInterval::kHourly: return "Hourly";
    case PeriodInterval::kDaily: return "Daily";
  }
  return "Unknown";
}

std::string_view ToString(ValueKind k) {
  switch (k) {
    case ValueKind::kSampledData: return "SampledData";
    case ValueKind::kQuantity: return "Quantity";
    case ValueKind::kString: return "String";
    case ValueKind::kCodeableConcept: return "CodeableConcept";
  }
  return "Unknown";
}

const FhirTemplate* FhirMapping::Find(std::string_view type_name) const {
  auto it = by_folded_name_.find(Folded(type_name));
  return it == by_folded_name_.end() ? nullptr : &templates[it->second];
}

void FhirMapping::Index() {
  by_folded_name_.clear();
  for (std::size_t i = 0; i < templates.size(); ++i)
    by_folded_name_.emplace(Folded(templates[i].type_name), i);
}

FhirLoadResult LoadFhirMapping(std::string_view text) {
  FhirLoadResult result;
  Loader(&result).LoadCollection(text);
  result.mapping.Index();
  return result;
}

FhirLoadResult LoadCodeValueFhirTemplate(std::string_view text) {
  FhirLoadResult result;
  Loader(&result).LoadSingle(text);
  result.mapping.Index();
  return result;
}

namespace {

void Member(std::string* out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (out->back() != '{') out->push_back(',');
  json::AppendQuoted(out, key);
  out->push_back(':');
  json::AppendQuoted(out, value);
}

void DescribeCodes(std::string* out, std::string_view key, const std::vector<Coding>& codes) {
  if (out->back() != '{') out->push_back(',');
  json::AppendQuoted(out, key);
  out->append(":[");
  for (std::size_t i = 0; i < codes.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->push_back('{');
    Member(out, "code", codes[i].code);
    Member(out, "system", codes[i].system);
    Member(out, "display", codes[i].display);
    out->push_back('}');
  }
  out->push_back(']');
}

void DescribeValue(std::string* out, const ValueTemplate& v) {
  out->append(",\"value\":{");
  Member(out, "valueType", ToString(v.kind));
  Member(out, "valueName", v.value_name);
  if (!v.default_period.empty()) out->append(",\"defaultPeriod\":").append(v.default_period);
  Member(out, "unit", v.unit);
  Member(out, "system", v.system);
  Member(out, "code", v.code);
  Member(out, "text", v.concept_.text);
  if (v.kind == ValueKind::kCodeableConcept) DescribeCodes(out, "codes", v.concept_.codes);
  out->push_back('}');
}

}  // namespace

std::string DescribeJson(const FhirTemplate& t) {
  std::string out = "{";
  Member(&out, "typeName", t.type_name);
  out.append(",\"periodInterval\":").append(std::to_string(static_cast<int>(t.period)));
  DescribeCodes(&out, "codes", t.codes);
  if (!t.category.empty()) {
    out.append(",\"category\":[");
    for (std::size_t i = 0; i < t.category.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.push_back('{');
      Member(&out, "text", t.category[i].text);
      DescribeCodes(&out, "codes", t.category[i].codes);
      out.push_back('}');
    }
    out.push_back(']');
  }
  if (t.value) DescribeValue(&out, *t.value);
  if (!t.components.empty()) {
    out.append(",\"components\":[");
    for (std::size_t i = 0; i < t.components.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.push_back('{');
      DescribeCodes(&out, "codes", t.components[i].codes);
      if (t.components[i].value) DescribeValue(&out, *t.components[i].value);
      out.push_back('}');
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

std::vector<std::string_view> ValueNames(const FhirTemplate& t) {
  std::vector<std::string_view> names;
  if (!t.components.empty()) {
    for (const ComponentTemplate& c : t.components) {
      if (c.value) names.push_back(c.value->value_name);
    }
  } else if (t.value) {
    names.push_back(t.value->value_name);
  }
  return names;
}

}  // namespace iomt::fhir
