// Loads and validates a device mapping the way iomt-fhir's template factories
// do (Newtonsoft deserialization with MissingMemberHandling.Error, one
// factory per template type), collecting every error with its position
// instead of stopping at the first.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <string>

#include "common/json/strict_reader.h"
#include "common/json/writer.h"
#include "normalize/device_mapping.h"

namespace iomt::normalize {
namespace {

using json::Field;
using json::Kind;
using json::SourceMember;
using json::SourceNode;
using json::SourcePos;

// The members of a template class, in C# declaration order (which decides the
// order of "not found" errors).
struct ClassSpec {
  std::string_view class_name;  // as Newtonsoft prints it in "on object of type '...'"
  std::vector<Field> fields;
  // The index of a field by its C# name.
  [[nodiscard]] std::size_t Index(std::string_view name) const {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == name) return i;
    }
    return fields.size();
  }
};

const ClassSpec& JsonPathContentSpec() {
  static const ClassSpec kSpec{"JsonPathContentTemplate",
                               {{"TypeName", true},
                                {"TypeMatchExpression", true},
                                {"DeviceIdExpression", true},
                                {"PatientIdExpression"},
                                {"EncounterIdExpression"},
                                {"TimestampExpression", true},
                                {"CorrelationIdExpression"},
                                {"Values"}}};
  return kSpec;
}

// IoT Hub and IoT Central templates fix the device id and timestamp
// expressions; values given for them are ignored ([JsonIgnore] upstream).
ClassSpec FixedIdentitySpec(std::string_view class_name) {
  return {class_name,
          {{"TypeName", true},
           {"TypeMatchExpression", true},
           {"DeviceIdExpression", false, true},
           {"PatientIdExpression"},
           {"EncounterIdExpression"},
           {"TimestampExpression", false, true},
           {"CorrelationIdExpression"},
           {"Values"}}};
}

const ClassSpec& CalculatedContentSpec() {
  static const ClassSpec kSpec{"CalculatedFunctionContentTemplate",
                               {{"TypeName", true},
                                {"DefaultExpressionLanguage"},
                                {"TypeMatchExpression", true},
                                {"DeviceIdExpression", true},
                                {"PatientIdExpression"},
                                {"EncounterIdExpression"},
                                {"TimestampExpression", true},
                                {"CorrelationIdExpression"},
                                {"Values"}}};
  return kSpec;
}

// Both value classes have these three members in this order.
const ClassSpec& JsonPathValueSpec() {
  static const ClassSpec kSpec{"JsonPathValueExpression",
                               {{"ValueName", true}, {"ValueExpression", true}, {"Required"}}};
  return kSpec;
}

const ClassSpec& CalculatedValueSpec() {
  static const ClassSpec kSpec{"CalculatedFunctionValueExpression",
                               {{"ValueName", true}, {"ValueExpression", true}, {"Required"}}};
  return kSpec;
}

const ClassSpec& ExpressionObjectSpec() {
  static const ClassSpec kSpec{"TemplateExpression", {{"Value", true}, {"Language"}}};
  return kSpec;
}

class Loader {
 public:
  Loader(std::vector<MappingError>* errors, const LoadOptions& options)
      : errors_(errors), reader_(errors), options_(options) {}

  void Load(std::string_view text, DeviceMapping* mapping) {
    json::SourceDocument doc;
    const SourceNode* root = reader_.ParseContainer(text, &doc);
    if (root == nullptr) return;
    const std::vector<SourceNode>* entries = reader_.CollectionEntries(*root, "CollectionContentTemplate");
    if (entries == nullptr) return;
    for (const SourceNode& entry : *entries) {
      LoadEntry(entry, mapping);
    }
  }

 private:
  void Error(std::string message, SourcePos pos) { reader_.Error(std::move(message), pos); }

  void LoadEntry(const SourceNode& entry, DeviceMapping* mapping) {
    json::StrictReader::Container container;
    if (!reader_.ReadContainer(entry, &container)) return;
    const std::string& type_name = container.type_name;
    const SourcePos type_pos = container.type_pos;
    const SourceMember* body = container.body;

    // The factories, in iomt-fhir's order; the first that accepts the name wins.
    struct Factory {
      std::string_view target;  // the factory's name for the type
      TemplateKind kind;
    };
    static constexpr Factory kFactories[] = {
        {"JsonPathContentTemplate", TemplateKind::kJsonPathContent},
        {"IotJsonPathContentTemplate", TemplateKind::kIotJsonPathContent},
        // These two do not accept the "Template" suffix.
        {"IotCentralJsonPathContent", TemplateKind::kIotCentralJsonPathContent},
        {"CalculatedContent", TemplateKind::kCalculatedContent},
    };
    const Factory* factory = nullptr;
    for (const Factory& f : kFactories) {
      bool match = f.kind == TemplateKind::kJsonPathContent || f.kind == TemplateKind::kIotJsonPathContent
                       ? json::MatchTemplateName(type_name, f.target)
                       : json::EqualsIgnoreCase(type_name, f.target);
      if (match) {
        factory = &f;
        break;
      }
    }
    if (factory == nullptr) {
      Error("No match found for template type " + type_name + ".", type_pos);
      return;
    }
    if (body == nullptr || body->value.kind != Kind::kObject) {
      Error(
          "Expected an object for the template property value for template type " + std::string(factory->target) + ".",
          body == nullptr ? type_pos : body->value.pos);
      return;
    }
    ContentTemplate t;
    t.kind = factory->kind;
    t.pos = body->value.pos;
    std::size_t errors_before = errors_->size();
    switch (factory->kind) {
      case TemplateKind::kJsonPathContent: ReadLegacy(body->value, JsonPathContentSpec(), &t); break;
      case TemplateKind::kIotJsonPathContent: {
        static const ClassSpec kSpec = FixedIdentitySpec("IotJsonPathContentTemplate");
        ReadLegacy(body->value, kSpec, &t);
        t.device_id.emplace("$.SystemProperties.iothub-connection-device-id", Language::kJsonPath, t.pos);
        t.timestamp.emplace("$.Properties.iothub-creation-time-utc", Language::kJsonPath, t.pos);
        t.alternate_timestamp.emplace("$.SystemProperties.iothub-enqueuedtime", Language::kJsonPath, t.pos);
        break;
      }
      case TemplateKind::kIotCentralJsonPathContent: {
        static const ClassSpec kSpec = FixedIdentitySpec("IotCentralJsonPathContentTemplate");
        ReadLegacy(body->value, kSpec, &t);
        t.device_id.emplace("$.deviceId", Language::kJsonPath, t.pos);
        t.timestamp.emplace("$.enqueuedTime", Language::kJsonPath, t.pos);
        break;
      }
      case TemplateKind::kCalculatedContent: ReadCalculated(body->value, &t); break;
    }
    CompileAll(&t);
    bool failed = errors_->size() > errors_before;
    if (!failed || (options_.keep_incomplete_templates && !t.type_name.empty())) {
      mapping->templates.push_back(std::move(t));
    }
  }

  std::vector<const SourceMember*> Read(const SourceNode& object, const ClassSpec& spec) {
    return reader_.Read(object, spec.class_name, spec.fields);
  }

  bool ReadLanguage(const SourceMember* m, Language* out) {
    if (m == nullptr || m->value.kind == Kind::kNull) return false;
    const SourceNode& v = m->value;
    if (v.kind == Kind::kString && (json::EqualsIgnoreCase(v.text, "JsonPath") || v.text == "0")) {
      *out = Language::kJsonPath;
      return true;
    }
    if (v.kind == Kind::kString && (json::EqualsIgnoreCase(v.text, "JmesPath") || v.text == "1")) {
      *out = Language::kJmesPath;
      return true;
    }
    if (v.kind == Kind::kInt && (v.integer == 0 || v.integer == 1)) {
      *out = v.integer == 0 ? Language::kJsonPath : Language::kJmesPath;
      return true;
    }
    Error("Error converting value " + (v.kind == Kind::kString ? "\"" + v.text + "\"" : v.text) +
              " to type 'TemplateExpressionLanguage'. Expected JsonPath or JmesPath.",
          v.pos);
    return false;
  }

  // An expression of a JsonPath-family template: a string.
  std::optional<TemplateExpression> ReadLegacyExpression(const SourceMember* m) {
    std::string text;
    if (!reader_.String(m, &text)) return std::nullopt;
    return TemplateExpression(std::move(text), Language::kJsonPath, m->value.pos);
  }

  // An expression of CalculatedContent: a string, or {"value", "language"}.
  std::optional<TemplateExpression> ReadExpression(const SourceMember* m, Language default_language) {
    if (m == nullptr || m->value.kind == Kind::kNull) return std::nullopt;
    const SourceNode& v = m->value;
    if (v.kind == Kind::kObject) {
      std::vector<const SourceMember*> read = Read(v, ExpressionObjectSpec());
      std::string text;
      if (!reader_.String(read[0], &text)) return std::nullopt;
      Language language = default_language;
      ReadLanguage(read[1], &language);
      return TemplateExpression(std::move(text), language, read[0]->value.pos);
    }
    if (v.kind == Kind::kArray) {
      Error(
          "Error reading expression. Unexpected token: StartArray. An expression is a string or an object "
          "{\"value\": ..., \"language\": ...}.",
          v.pos);
      return std::nullopt;
    }
    return TemplateExpression(json::ScalarText(v), default_language, v.pos);
  }

  void ReadLegacy(const SourceNode& object, const ClassSpec& spec, ContentTemplate* t) {
    std::vector<const SourceMember*> read = Read(object, spec);
    auto field = [&](std::string_view name) { return read[spec.Index(name)]; };
    reader_.String(field("TypeName"), &t->type_name);
    t->type_match = ReadLegacyExpression(field("TypeMatchExpression"));
    t->device_id = ReadLegacyExpression(field("DeviceIdExpression"));
    t->timestamp = ReadLegacyExpression(field("TimestampExpression"));
    t->patient_id = ReadLegacyExpression(field("PatientIdExpression"));
    t->encounter_id = ReadLegacyExpression(field("EncounterIdExpression"));
    t->correlation_id = ReadLegacyExpression(field("CorrelationIdExpression"));
    ReadValues(field("Values"), false, Language::kJsonPath, t);
  }

  void ReadCalculated(const SourceNode& object, ContentTemplate* t) {
    const ClassSpec& spec = CalculatedContentSpec();
    std::vector<const SourceMember*> read = Read(object, spec);
    auto field = [&](std::string_view name) { return read[spec.Index(name)]; };
    Language language = Language::kJsonPath;
    ReadLanguage(field("DefaultExpressionLanguage"), &language);
    reader_.String(field("TypeName"), &t->type_name);
    t->type_match = ReadExpression(field("TypeMatchExpression"), language);
    t->device_id = ReadExpression(field("DeviceIdExpression"), language);
    t->timestamp = ReadExpression(field("TimestampExpression"), language);
    t->patient_id = ReadExpression(field("PatientIdExpression"), language);
    t->encounter_id = ReadExpression(field("EncounterIdExpression"), language);
    t->correlation_id = ReadExpression(field("CorrelationIdExpression"), language);
    ReadValues(field("Values"), true, language, t);
  }

  void ReadValues(const SourceMember* m, bool calculated, Language language, ContentTemplate* t) {
    const ClassSpec& spec = calculated ? CalculatedValueSpec() : JsonPathValueSpec();
    // Absent, null or empty: a template for an event that carries no value.
    if (m == nullptr || m->value.kind == Kind::kNull) return;
    if (m->value.kind != Kind::kArray) {
      Error("Cannot deserialize the current JSON " + std::string(m->value.kind == Kind::kObject ? "object" : "value") +
                " into type 'IList<" + std::string(spec.class_name) +
                ">' because the type requires a JSON array (e.g. [1,2,3]) to deserialize correctly.",
            m->value.pos);
      return;
    }
    for (const SourceNode& item : m->value.items) {
      if (item.kind != Kind::kObject) {
        Error("Error converting value to type '" + std::string(spec.class_name) + "': a value must be a JSON object.",
              item.pos);
        continue;
      }
      std::vector<const SourceMember*> read = Read(item, spec);
      ValueTemplate v;
      v.pos = item.pos;
      reader_.String(read[0], &v.name);
      v.expression = calculated ? ReadExpression(read[1], language) : ReadLegacyExpression(read[1]);
      reader_.Bool(read[2], &v.required);
      t->values.push_back(std::move(v));
    }
  }

  void CompileOne(std::optional<TemplateExpression>& e, std::string_view field, bool required) {
    if (!e) return;
    if (e->blank()) {
      // iomt-fhir accepts a blank expression and fails every message on it;
      // iomt says so when the mapping is loaded.
      if (required && !options_.keep_incomplete_templates) {
        Error("An expression must be set for [" + std::string(field) + "]", e->pos());
      }
      return;
    }
    if (Status st = e->Compile(); !st.ok()) Error(st.message(), e->pos());
  }

  void CompileAll(ContentTemplate* t) {
    CompileOne(t->type_match, "TypeMatchExpression", true);
    CompileOne(t->device_id, "DeviceIdExpression", true);
    CompileOne(t->timestamp, "TimestampExpression", true);
    CompileOne(t->alternate_timestamp, "TimestampExpression", false);
    CompileOne(t->patient_id, "PatientIdExpression", false);
    CompileOne(t->encounter_id, "EncounterIdExpression", false);
    CompileOne(t->correlation_id, "CorrelationIdExpression", false);
    for (ValueTemplate& v : t->values)
      CompileOne(v.expression, v.name, true);
  }

  std::vector<MappingError>* errors_;
  json::StrictReader reader_;
  const LoadOptions& options_;
};

// Numbers the expressions so that identical ones (the fixed device id and
// timestamp expressions of IoT templates, a shared deviceIdExpression) share
// an id: the Normalizer evaluates each only once per event and scope.
void NumberExpressions(DeviceMapping* mapping) {
  for (ContentTemplate& t : mapping->templates) {
    t.quoted_type_name.clear();
    json::AppendQuoted(&t.quoted_type_name, t.type_name);
    for (ValueTemplate& v : t.values) {
      v.quoted_name.clear();
      json::AppendQuoted(&v.quoted_name, v.name);
    }
  }
  std::map<std::pair<Language, std::string>, std::uint32_t> ids;
  auto number = [&](std::optional<TemplateExpression>& e) {
    if (!e) return;
    auto [it, inserted] = ids.try_emplace({e->language(), e->text()}, static_cast<std::uint32_t>(ids.size()));
    e->set_id(it->second);
  };
  for (ContentTemplate& t : mapping->templates) {
    number(t.type_match);
    number(t.device_id);
    number(t.timestamp);
    number(t.alternate_timestamp);
    number(t.patient_id);
    number(t.encounter_id);
    number(t.correlation_id);
    for (ValueTemplate& v : t.values)
      number(v.expression);
  }
  mapping->expression_count = static_cast<std::uint32_t>(ids.size());
}

}  // namespace

LoadResult LoadDeviceMapping(std::string_view text, const LoadOptions& options) {
  LoadResult result;
  Loader loader(&result.errors, options);
  loader.Load(text, &result.mapping);
  NumberExpressions(&result.mapping);
  return result;
}

}  // namespace iomt::normalize
