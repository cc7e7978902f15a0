// Loads and validates a device mapping the way iomt-fhir's template factories
// do (Newtonsoft deserialization with MissingMemberHandling.Error, one
// factory per template type), collecting every error with its position
// instead of stopping at the first.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <string>

#include "common/json/writer.h"
#include "normalize/device_mapping.h"

namespace iomt::normalize {
namespace {

using json::Kind;
using json::SourceMember;
using json::SourceNode;
using json::SourcePos;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// TemplateContainer.MatchTemplateName: T matches N when T == N or T +
// "Template" == N, ignoring case.
bool MatchTemplateName(std::string_view type, std::string_view expected) {
  if (EqualsIgnoreCase(type, expected)) return true;
  return expected.size() == type.size() + 8 && EqualsIgnoreCase(expected.substr(0, type.size()), type) &&
         EqualsIgnoreCase(expected.substr(type.size()), "Template");
}

// Newtonsoft matches property names exactly first, then ignoring case.
const SourceMember* FindMember(const SourceNode& object, std::string_view name) {
  const SourceMember* found = nullptr;
  for (const SourceMember& m : object.members) {
    if (m.key == name) found = &m;  // the last one wins, as when deserializing
  }
  if (found != nullptr) return found;
  for (const SourceMember& m : object.members) {
    if (EqualsIgnoreCase(m.key, name)) found = &m;
  }
  return found;
}

std::string_view TokenName(const SourceNode& node) {
  switch (node.kind) {
    case Kind::kObject: return "StartObject";
    case Kind::kArray: return "StartArray";
    case Kind::kString: return "String";
    case Kind::kBool: return "Boolean";
    case Kind::kNull: return "Null";
    case Kind::kDouble: return "Float";
    default: return "Integer";
  }
}

// How a member of a template class is read.
enum class FieldType : std::uint8_t { kString, kBool, kExpression, kLanguage, kValues, kIgnored };

struct FieldSpec {
  std::string_view name;  // the C# property name (PascalCase), as messages print it
  FieldType type;
  bool required = false;
};

struct ClassSpec {
  std::string_view class_name;  // as Newtonsoft prints it in "on object of type '...'"
  std::vector<FieldSpec> fields;
};

const ClassSpec& JsonPathContentSpec() {
  static const ClassSpec kSpec{"JsonPathContentTemplate",
                               {{"TypeName", FieldType::kString, true},
                                {"TypeMatchExpression", FieldType::kString, true},
                                {"DeviceIdExpression", FieldType::kString, true},
                                {"PatientIdExpression", FieldType::kString},
                                {"EncounterIdExpression", FieldType::kString},
                                {"TimestampExpression", FieldType::kString, true},
                                {"CorrelationIdExpression", FieldType::kString},
                                {"Values", FieldType::kValues}}};
  return kSpec;
}

// IoT Hub and IoT Central templates fix the device id and timestamp
// expressions; values given for them are ignored ([JsonIgnore] upstream).
ClassSpec FixedIdentitySpec(std::string_view class_name) {
  return {class_name,
          {{"TypeName", FieldType::kString, true},
           {"TypeMatchExpression", FieldType::kString, true},
           {"DeviceIdExpression", FieldType::kIgnored},
           {"PatientIdExpression", FieldType::kString},
           {"EncounterIdExpression", FieldType::kString},
           {"TimestampExpression", FieldType::kIgnored},
           {"CorrelationIdExpression", FieldType::kString},
           {"Values", FieldType::kValues}}};
}

const ClassSpec& CalculatedContentSpec() {
  static const ClassSpec kSpec{"CalculatedFunctionContentTemplate",
                               {{"TypeName", FieldType::kString, true},
                                {"DefaultExpressionLanguage", FieldType::kLanguage},
                                {"TypeMatchExpression", FieldType::kExpression, true},
                                {"DeviceIdExpression", FieldType::kExpression, true},
                                {"PatientIdExpression", FieldType::kExpression},
                                {"EncounterIdExpression", FieldType::kExpression},
                                {"TimestampExpression", FieldType::kExpression, true},
                                {"CorrelationIdExpression", FieldType::kExpression},
                                {"Values", FieldType::kValues}}};
  return kSpec;
}

const ClassSpec& JsonPathValueSpec() {
  static const ClassSpec kSpec{"JsonPathValueExpression",
                               {{"ValueName", FieldType::kString, true},
                                {"ValueExpression", FieldType::kString, true},
                                {"Required", FieldType::kBool}}};
  return kSpec;
}

const ClassSpec& CalculatedValueSpec() {
  static const ClassSpec kSpec{"CalculatedFunctionValueExpression",
                               {{"ValueName", FieldType::kString, true},
                                {"ValueExpression", FieldType::kExpression, true},
                                {"Required", FieldType::kBool}}};
  return kSpec;
}

const ClassSpec& ExpressionObjectSpec() {
  static const ClassSpec kSpec{"TemplateExpression",
                               {{"Value", FieldType::kString, true}, {"Language", FieldType::kLanguage}}};
  return kSpec;
}

// The members of one object of a class, read as Newtonsoft would.
struct ReadObject {
  std::vector<const SourceMember*> fields;  // by FieldSpec index; nullptr when absent
};

// The line and column (in characters) of a byte offset, for syntax errors.
SourcePos PositionOf(std::string_view text, long offset) {
  if (offset < 0) return {};
  std::size_t end = std::min(static_cast<std::size_t>(offset), text.size());
  SourcePos pos{1, 1};
  std::size_t start = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  for (std::size_t i = start; i < end; ++i) {
    if (text[i] == '\n') {
      ++pos.line;
      pos.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++pos.column;
    }
  }
  return pos;
}

class Loader {
 public:
  Loader(std::vector<MappingError>* errors, const LoadOptions& options) : errors_(errors), options_(options) {}

  void Load(std::string_view text, DeviceMapping* mapping) {
    auto doc = json::ParseSource(text);
    if (!doc.ok()) {
      Error(doc.status().message(), PositionOf(text, doc.status().position()));
      return;
    }
    const SourceNode& root = doc->root;
    if (root.kind != Kind::kObject) {
      Error("Cannot deserialize the current JSON " + std::string(root.kind == Kind::kArray ? "array" : "value") +
                " into type 'TemplateContainer' because the type requires a JSON object (e.g. {\"name\":\"value\"}) "
                "to deserialize correctly.",
            root.pos);
      return;
    }
    const SourceMember* type = FindMember(root, "templateType");
    const SourceMember* templates = FindMember(root, "template");
    std::string type_name = type == nullptr ? "Not Found" : ScalarText(type->value);
    if (type == nullptr || !MatchTemplateName(type_name, "CollectionContentTemplate")) {
      Error("Expected TemplateType value CollectionContentTemplate, actual " + type_name + ".",
            type == nullptr ? root.pos : type->value.pos);
      return;
    }
    if (templates == nullptr || templates->value.kind != Kind::kArray) {
      Error("Expected an array for the template property value for template type CollectionContentTemplate.",
            templates == nullptr ? root.pos : templates->value.pos);
      return;
    }
    for (const SourceNode& entry : templates->value.items) {
      LoadEntry(entry, mapping);
    }
  }

 private:
  void Error(std::string message, SourcePos pos) { errors_->push_back({std::move(message), pos}); }

  // A scalar as Newtonsoft reads it into a string property.
  static std::string ScalarText(const SourceNode& node) {
    switch (node.kind) {
      case Kind::kString: return node.text;
      case Kind::kBool: return node.boolean ? "True" : "False";
      case Kind::kInt:
      case Kind::kDouble: return node.text;
      default: return "";
    }
  }

  void LoadEntry(const SourceNode& entry, DeviceMapping* mapping) {
    if (entry.kind != Kind::kObject) {
      Error("Error converting value to type 'TemplateContainer': a template entry must be a JSON object.", entry.pos);
      return;
    }
    const SourceMember* type = FindMember(entry, "templateType");
    const SourceMember* body = FindMember(entry, "template");
    std::string type_name = type == nullptr ? "" : ScalarText(type->value);
    SourcePos type_pos = type == nullptr ? entry.pos : type->value.pos;

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
                       ? MatchTemplateName(type_name, f.target)
                       : EqualsIgnoreCase(type_name, f.target);
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
    bool incomplete = false;
    switch (factory->kind) {
      case TemplateKind::kJsonPathContent: ReadLegacy(body->value, JsonPathContentSpec(), &t, &incomplete); break;
      case TemplateKind::kIotJsonPathContent: {
        static const ClassSpec kSpec = FixedIdentitySpec("IotJsonPathContentTemplate");
        ReadLegacy(body->value, kSpec, &t, &incomplete);
        t.device_id.emplace("$.SystemProperties.iothub-connection-device-id", Language::kJsonPath, t.pos);
        t.timestamp.emplace("$.Properties.iothub-creation-time-utc", Language::kJsonPath, t.pos);
        t.alternate_timestamp.emplace("$.SystemProperties.iothub-enqueuedtime", Language::kJsonPath, t.pos);
        break;
      }
      case TemplateKind::kIotCentralJsonPathContent: {
        static const ClassSpec kSpec = FixedIdentitySpec("IotCentralJsonPathContentTemplate");
        ReadLegacy(body->value, kSpec, &t, &incomplete);
        t.device_id.emplace("$.deviceId", Language::kJsonPath, t.pos);
        t.timestamp.emplace("$.enqueuedTime", Language::kJsonPath, t.pos);
        break;
      }
      case TemplateKind::kCalculatedContent: ReadCalculated(body->value, &t, &incomplete); break;
    }
    CompileAll(&t);
    bool failed = errors_->size() > errors_before;
    if (!failed || (options_.keep_incomplete_templates && !t.type_name.empty())) {
      mapping->templates.push_back(std::move(t));
    }
    (void)incomplete;
  }

  // Reads `object` as an instance of `spec`, reporting unknown members (in
  // document order), conversion errors, then missing required members (in
  // class order), as Newtonsoft does.
  ReadObject Read(const SourceNode& object, const ClassSpec& spec, bool* incomplete) {
    ReadObject read;
    read.fields.assign(spec.fields.size(), nullptr);
    for (const SourceMember& m : object.members) {
      std::size_t index = spec.fields.size();
      for (std::size_t i = 0; i < spec.fields.size(); ++i) {
        if (m.key == spec.fields[i].name || EqualsIgnoreCase(m.key, spec.fields[i].name)) {
          index = i;
          if (m.key == spec.fields[i].name) break;
        }
      }
      if (index == spec.fields.size()) {
        Error("Could not find member '" + m.key + "' on object of type '" + std::string(spec.class_name) + "'.",
              m.key_pos);
        continue;
      }
      const FieldSpec& field = spec.fields[index];
      if (field.type == FieldType::kIgnored) continue;
      if (m.value.kind == Kind::kNull && field.required) {
        Error("Required property '" + std::string(field.name) + "' expects a value but got null.", m.value.pos);
        *incomplete = true;
        continue;
      }
      read.fields[index] = &m;
    }
    for (std::size_t i = 0; i < spec.fields.size(); ++i) {
      const FieldSpec& field = spec.fields[i];
      if (!field.required || read.fields[i] != nullptr) continue;
      bool seen_null = std::any_of(object.members.begin(), object.members.end(), [&](const SourceMember& m) {
        return EqualsIgnoreCase(m.key, field.name) && m.value.kind == Kind::kNull;
      });
      if (seen_null) continue;
      Error("Required property '" + std::string(field.name) + "' not found in JSON.", object.pos);
      *incomplete = true;
    }
    return read;
  }

  // A string member; numbers and booleans convert as Newtonsoft converts them.
  bool ReadString(const SourceMember* m, std::string* out) {
    if (m == nullptr || m->value.kind == Kind::kNull) return false;
    if (m->value.kind == Kind::kObject || m->value.kind == Kind::kArray) {
      Error("Error reading string. Unexpected token: " + std::string(TokenName(m->value)) + ".", m->value.pos);
      return false;
    }
    *out = ScalarText(m->value);
    return true;
  }

  bool ReadBool(const SourceMember* m, bool* out) {
    if (m == nullptr) return false;
    const SourceNode& v = m->value;
    switch (v.kind) {
      case Kind::kBool: *out = v.boolean; return true;
      case Kind::kString: {
        std::string s = v.text;
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
          s.pop_back();
        if (EqualsIgnoreCase(s, "true")) {
          *out = true;
          return true;
        }
        if (EqualsIgnoreCase(s, "false")) {
          *out = false;
          return true;
        }
        Error("Could not convert string to boolean: " + v.text + ".", v.pos);
        return false;
      }
      case Kind::kInt:
      case Kind::kDouble: *out = v.number != 0; return true;
      case Kind::kNull: Error("Error converting value {null} to type 'System.Boolean'.", v.pos); return false;
      default:
        Error("Error reading boolean. Unexpected token: " + std::string(TokenName(v)) + ".", v.pos);
        return false;
    }
  }

  bool ReadLanguage(const SourceMember* m, Language* out) {
    if (m == nullptr || m->value.kind == Kind::kNull) return false;
    const SourceNode& v = m->value;
    if (v.kind == Kind::kString && (EqualsIgnoreCase(v.text, "JsonPath") || v.text == "0")) {
      *out = Language::kJsonPath;
      return true;
    }
    if (v.kind == Kind::kString && (EqualsIgnoreCase(v.text, "JmesPath") || v.text == "1")) {
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
    if (!ReadString(m, &text)) return std::nullopt;
    return TemplateExpression(std::move(text), Language::kJsonPath, m->value.pos);
  }

  // An expression of CalculatedContent: a string, or {"value", "language"}.
  std::optional<TemplateExpression> ReadExpression(const SourceMember* m, Language default_language) {
    if (m == nullptr || m->value.kind == Kind::kNull) return std::nullopt;
    const SourceNode& v = m->value;
    if (v.kind == Kind::kObject) {
      bool incomplete = false;
      ReadObject read = Read(v, ExpressionObjectSpec(), &incomplete);
      std::string text;
      if (!ReadString(read.fields[0], &text)) return std::nullopt;
      Language language = default_language;
      ReadLanguage(read.fields[1], &language);
      return TemplateExpression(std::move(text), language, read.fields[0]->value.pos);
    }
    if (v.kind == Kind::kArray) {
      Error(
          "Error reading expression. Unexpected token: StartArray. An expression is a string or an object "
          "{\"value\": ..., \"language\": ...}.",
          v.pos);
      return std::nullopt;
    }
    return TemplateExpression(ScalarText(v), default_language, v.pos);
  }

  void ReadLegacy(const SourceNode& object, const ClassSpec& spec, ContentTemplate* t, bool* incomplete) {
    ReadObject read = Read(object, spec, incomplete);
    auto field = [&](std::string_view name) -> const SourceMember* {
      for (std::size_t i = 0; i < spec.fields.size(); ++i) {
        if (spec.fields[i].name == name) return read.fields[i];
      }
      return nullptr;
    };
    ReadString(field("TypeName"), &t->type_name);
    t->type_match = ReadLegacyExpression(field("TypeMatchExpression"));
    t->device_id = ReadLegacyExpression(field("DeviceIdExpression"));
    t->timestamp = ReadLegacyExpression(field("TimestampExpression"));
    t->patient_id = ReadLegacyExpression(field("PatientIdExpression"));
    t->encounter_id = ReadLegacyExpression(field("EncounterIdExpression"));
    t->correlation_id = ReadLegacyExpression(field("CorrelationIdExpression"));
    ReadValues(field("Values"), JsonPathValueSpec(), Language::kJsonPath, t);
  }

  void ReadCalculated(const SourceNode& object, ContentTemplate* t, bool* incomplete) {
    const ClassSpec& spec = CalculatedContentSpec();
    ReadObject read = Read(object, spec, incomplete);
    auto field = [&](std::string_view name) -> const SourceMember* {
      for (std::size_t i = 0; i < spec.fields.size(); ++i) {
        if (spec.fields[i].name == name) return read.fields[i];
      }
      return nullptr;
    };
    Language language = Language::kJsonPath;
    ReadLanguage(field("DefaultExpressionLanguage"), &language);
    ReadString(field("TypeName"), &t->type_name);
    t->type_match = ReadExpression(field("TypeMatchExpression"), language);
    t->device_id = ReadExpression(field("DeviceIdExpression"), language);
    t->timestamp = ReadExpression(field("TimestampExpression"), language);
    t->patient_id = ReadExpression(field("PatientIdExpression"), language);
    t->encounter_id = ReadExpression(field("EncounterIdExpression"), language);
    t->correlation_id = ReadExpression(field("CorrelationIdExpression"), language);
    ReadValues(field("Values"), CalculatedValueSpec(), language, t);
  }

  void ReadValues(const SourceMember* m, const ClassSpec& spec, Language language, ContentTemplate* t) {
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
      bool incomplete = false;
      ReadObject read = Read(item, spec, &incomplete);
      ValueTemplate v;
      v.pos = item.pos;
      ReadString(read.fields[0], &v.name);
      v.expression = spec.fields[1].type == FieldType::kExpression ? ReadExpression(read.fields[1], language)
                                                                   : ReadLegacyExpression(read.fields[1]);
      ReadBool(read.fields[2], &v.required);
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
