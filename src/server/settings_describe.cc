// Describing the settings of settings.h: the Markdown table of
// docs/configuration.md (`iomt serve --settings-table`) and the JSON schema
// of a connector, both from the tables of settings.cc.
#include <vector>

#include "common/json/writer.h"
#include "common/strings.h"
#include "server/settings.h"

namespace iomt::server {

namespace {

using enum SettingType;
using enum Requirement;

std::string_view TypeName(SettingType type) {
  switch (type) {
    case kString: return "string";
    case kSecret: return "secret";
    case kPath: return "path";
    case kInteger: return "integer";
    case kEnum: return "enum";
    case kStringList: return "list";
    case kStringMap: return "map";
  }
  return "string";
}

// Markdown: `|` would end a cell.
std::string Cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string Code(std::string_view text) { return text.empty() ? "" : Cat({"`", text, "`"}); }

template <typename Config>
void AppendRow(const SettingSpec<Config>& spec, std::string* out) {
  std::string type(TypeName(spec.type));
  if (spec.type == kInteger) {
    type = Cat({"integer, ", std::to_string(spec.min), " to ", std::to_string(spec.max)});
  } else if (spec.type == kEnum) {
    std::vector<std::string> quoted;
    for (std::string_view c : spec.choices)
      quoted.push_back(Code(c));
    std::vector<std::string_view> views(quoted.begin(), quoted.end());
    type = JoinList(views, " or ");
  } else if (spec.type == kStringList) {
    type = "list of strings";
  } else if (spec.type == kStringMap) {
    type = "map of NAME: string, number or boolean";
  }
  std::string flag = Code(spec.flag);
  if (spec.type == kStringMap && !spec.flag.empty()) flag = Cat({"`", spec.flag, " NAME=VALUE` (repeatable)"});
  std::string default_text;
  switch (spec.requirement) {
    case kRequired: default_text = "required"; break;
    case kRequiredInGroup:
      default_text = Cat({"required in ", Code(spec.group())});
      if (!spec.flag_default.empty()) default_text.append(Cat({" (flag: ", Code(spec.flag_default), ")"}));
      break;
    case kOptional: default_text = Code(DefaultText(spec)); break;
  }
  out->append(Cat({"| ", Code(spec.key), " | ", flag, " | ", Cell(type), " | ", Cell(default_text), " | ",
                   Cell(spec.doc), " |\n"}));
}

constexpr std::string_view kTableHead = "| key | flag | type | default | description |\n|---|---|---|---|---|\n";

// A pretty-printing JSON writer (two spaces), enough for the schema.
class JsonOut {
 public:
  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(std::string_view key) {
    Separate();
    json::AppendQuoted(&out_, key);
    out_.append(": ");
    after_key_ = true;
  }
  void String(std::string_view s) {
    BeforeValue();
    json::AppendQuoted(&out_, s);
  }
  void Int(std::int64_t i) {
    BeforeValue();
    out_.append(std::to_string(i));
  }
  void Bool(bool b) {
    BeforeValue();
    out_.append(b ? "true" : "false");
  }
  std::string Take() {
    out_.push_back('\n');
    return std::move(out_);
  }

 private:
  void Open(char c) {
    BeforeValue();
    out_.push_back(c);
    empty_.push_back(true);
  }
  void Close(char c) {
    const bool empty = empty_.back();
    empty_.pop_back();
    if (!empty) NewLine();
    out_.push_back(c);
  }
  // A value right after its key stays on the key's line; others (array
  // items) start a line of their own.
  void BeforeValue() {
    if (after_key_) {
      after_key_ = false;
    } else {
      Separate();
    }
  }
  void Separate() {
    if (empty_.empty()) return;
    if (!empty_.back()) out_.push_back(',');
    empty_.back() = false;
    NewLine();
  }
  void NewLine() {
    out_.push_back('\n');
    out_.append(2 * empty_.size(), ' ');
  }

  std::string out_;
  std::vector<bool> empty_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

void AppendJsonValue(const SettingValue& value, JsonOut* out) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    out->String(*s);
  } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
    out->Int(*i);
  } else if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    out->BeginArray();
    for (const std::string& item : *list)
      out->String(item);
    out->EndArray();
  } else if (const auto* map = std::get_if<StringPairs>(&value)) {
    out->BeginObject();
    for (const auto& [k, v] : *map) {
      out->Key(k);
      out->String(v);
    }
    out->EndObject();
  }
}

void SettingSchema(const SettingSpec<ConnectorConfig>& spec, JsonOut* out) {
  out->BeginObject();
  switch (spec.type) {
    case kString:
    case kSecret:
    case kPath:
    case kEnum:
      out->Key("type");
      out->String("string");
      break;
    case kInteger:
      out->Key("type");
      out->String("integer");
      break;
    case kStringList:
      out->Key("type");
      out->String("array");
      out->Key("items");
      out->BeginObject();
      out->Key("type");
      out->String("string");
      out->Key("minLength");
      out->Int(1);
      out->EndObject();
      break;
    case kStringMap:
      out->Key("type");
      out->String("object");
      out->Key("additionalProperties");
      out->BeginObject();
      out->Key("type");
      out->BeginArray();
      for (std::string_view t : {"string", "number", "boolean"})
        out->String(t);
      out->EndArray();
      out->EndObject();
      break;
  }
  out->Key("description");
  out->String(spec.doc);
  if (spec.type == kEnum) {
    out->Key("enum");
    out->BeginArray();
    for (std::string_view c : spec.choices)
      out->String(c);
    out->EndArray();
  }
  if (spec.type == kInteger) {
    out->Key("minimum");
    out->Int(spec.min);
    out->Key("maximum");
    out->Int(spec.max);
  }
  if (spec.requirement == kOptional && spec.type != kSecret) {
    // An empty string or list means "absent"; only real defaults are shown.
    const SettingValue value = DefaultValue(spec);
    if (spec.type == kInteger || !SettingText(value).empty()) {
      out->Key("default");
      AppendJsonValue(value, out);
    }
  }
  if (spec.type == kSecret) {
    out->Key("writeOnly");  // a console shows it as a password, and never reads it back
    out->Bool(true);
  }
  out->Key("x-iomt-key");
  out->String(spec.key);
  out->Key("x-iomt-type");
  out->String(TypeName(spec.type));
  if (!spec.flag.empty()) {
    out->Key("x-iomt-flag");
    out->String(spec.flag);
  }
  if (!spec.flag_default.empty()) {
    out->Key("x-iomt-flag-default");
    out->String(spec.flag_default);
  }
  out->EndObject();
}

// The object at `group` ("" for the connector itself).
void ObjectSchema(std::string_view group, JsonOut* out) {
  out->BeginObject();
  if (group.empty()) {
    out->Key("$schema");
    out->String("https://json-schema.org/draft/2020-12/schema");
    out->Key("title");
    out->String("iomt serve connector");
    out->Key("description");
    out->String(
        "a connector of `iomt serve`: an element of the configuration file's `connectors` (docs/configuration.md)");
  } else {
    for (const SettingGroup<ConnectorConfig>& g : ConnectorGroups()) {
      if (g.key != group) continue;
      out->Key("description");
      out->String(g.doc);
    }
    out->Key("x-iomt-key");
    out->String(group);
  }
  out->Key("type");
  out->String("object");
  std::vector<std::string_view> required;
  out->Key("properties");
  out->BeginObject();
  for (const SettingMember<ConnectorConfig>& m : MembersOf(ConnectorSettings(), group)) {
    out->Key(m.name);
    if (m.setting == nullptr) {
      ObjectSchema(m.group, out);
      continue;
    }
    SettingSchema(*m.setting, out);
    if (m.setting->requirement != kOptional) required.push_back(m.name);
  }
  out->EndObject();
  if (!required.empty()) {
    out->Key("required");
    out->BeginArray();
    for (std::string_view r : required)
      out->String(r);
    out->EndArray();
  }
  out->Key("additionalProperties");
  out->Bool(false);
  out->EndObject();
}

}  // namespace

std::string SettingsMarkdownTable() {
  std::string out = "The top level of the file:\n\n";
  out.append(kTableHead);
  for (const SettingSpec<ServeConfig>& spec : ServeSettings())
    AppendRow(spec, &out);
  out.append(
      "| `connectors` |  | list of connectors |  | the connectors, below (`--connector NAME` defines one from "
      "the flags) |\n");
  out.append(
      "| `eventHubNamespaces` |  | list of namespaces |  | the Kafka clusters of the event hub namespaces that "
      "provisioned IoT connectors name, below |\n");
  out.append(
      "\nA connector (an element of `connectors`; its groups are objects, e.g. `\"flush\": {\"windowMs\": 5}`):\n\n");
  out.append(kTableHead);
  std::vector<std::string_view> described;
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    // A group's row comes before its first setting (and a group's group before it).
    for (const SettingGroup<ConnectorConfig>& g : ConnectorGroups()) {
      const bool contains =
          spec.key.size() > g.key.size() && spec.key.substr(0, g.key.size()) == g.key && spec.key[g.key.size()] == '.';
      bool seen = false;
      for (std::string_view d : described)
        seen = seen || d == g.key;
      if (!contains || seen) continue;
      described.push_back(g.key);
      out.append(Cat({"| ", Code(g.key), " |  | object |  | ", Cell(g.doc), " |\n"}));
    }
    AppendRow(spec, &out);
  }
  out.append(
      "\nAn event hub namespace (an element of `eventHubNamespaces`; the provisioning API, docs/provisioning.md):\n\n");
  out.append(kTableHead);
  for (const SettingSpec<EventHubNamespaceConfig>& spec : EventHubSettings())
    AppendRow(spec, &out);
  return out;
}

std::string SettingsJsonSchema() {
  JsonOut out;
  ObjectSchema("", &out);
  return out.Take();
}

}  // namespace iomt::server
