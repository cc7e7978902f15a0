#include "common/json/strict_reader.h"

#include <algorithm>
#include <cctype>

namespace iomt {

std::string MappingError::ToIomtFhirString() const {
  if (pos.line == 0) return message;
  return "Line Number: " + std::to_string(pos.line) + ", Position: " + std::to_string(pos.column) + ". " + message;
}

namespace json {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool MatchTemplateName(std::string_view type, std::string_view expected) {
  if (EqualsIgnoreCase(type, expected)) return true;
  return expected.size() == type.size() + 8 && EqualsIgnoreCase(expected.substr(0, type.size()), type) &&
         EqualsIgnoreCase(expected.substr(type.size()), "Template");
}

const SourceMember* FindMember(const SourceNode& object, std::string_view name) {
  const SourceMember* found = nullptr;
  for (const SourceMember& m : object.members) {
    if (m.key == name) found = &m;
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

std::string ScalarText(const SourceNode& node) {
  switch (node.kind) {
    case Kind::kString:
    case Kind::kInt:
    case Kind::kDouble: return node.text;
    case Kind::kBool: return node.boolean ? "True" : "False";
    default: return "";
  }
}

std::vector<const SourceMember*> StrictReader::Read(const SourceNode& object, std::string_view class_name,
                                                    std::span<const Field> fields) {
  std::vector<const SourceMember*> read(fields.size(), nullptr);
  std::vector<bool> seen_null(fields.size(), false);
  for (const SourceMember& m : object.members) {
    std::size_t index = fields.size();
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (m.key == fields[i].name) {
        index = i;
        break;
      }
      if (index == fields.size() && EqualsIgnoreCase(m.key, fields[i].name)) index = i;
    }
    if (index == fields.size()) {
      Error("Could not find member '" + m.key + "' on object of type '" + std::string(class_name) + "'.", m.key_pos);
      continue;
    }
    const Field& field = fields[index];
    if (field.ignored) continue;
    if (m.value.kind == Kind::kNull && field.required) {
      Error("Required property '" + std::string(field.name) + "' expects a value but got null.", m.value.pos);
      seen_null[index] = true;
      continue;
    }
    read[index] = &m;
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].required && read[i] == nullptr && !seen_null[i]) {
      Error("Required property '" + std::string(fields[i].name) + "' not found in JSON.", object.pos);
    }
  }
  return read;
}

const SourceNode* StrictReader::ParseContainer(std::string_view text, SourceDocument* doc) {
  auto parsed = ParseSource(text);
  if (!parsed.ok()) {
    Error(parsed.status().message(), PositionOf(text, parsed.status().position()));
    return nullptr;
  }
  *doc = std::move(*parsed);
  const SourceNode& root = doc->root;
  if (root.kind != Kind::kObject) {
    Error("Cannot deserialize the current JSON " + std::string(root.kind == Kind::kArray ? "array" : "value") +
              " into type 'TemplateContainer' because the type requires a JSON object (e.g. {\"name\":\"value\"}) "
              "to deserialize correctly.",
          root.pos);
    return nullptr;
  }
  return &root;
}

const std::vector<SourceNode>* StrictReader::CollectionEntries(const SourceNode& root,
                                                               std::string_view collection_type) {
  const SourceMember* type = FindMember(root, "templateType");
  const SourceMember* templates = FindMember(root, "template");
  std::string type_name = type == nullptr ? "Not Found" : ScalarText(type->value);
  if (type == nullptr || !MatchTemplateName(type_name, collection_type)) {
    Error("Expected TemplateType value " + std::string(collection_type) + ", actual " + type_name + ".",
          type == nullptr ? root.pos : type->value.pos);
    return nullptr;
  }
  if (templates == nullptr || templates->value.kind != Kind::kArray) {
    Error("Expected an array for the template property value for template type " + std::string(collection_type) + ".",
          templates == nullptr ? root.pos : templates->value.pos);
    return nullptr;
  }
  return &templates->value.items;
}

bool StrictReader::ReadContainer(const SourceNode& entry, Container* out) {
  if (entry.kind != Kind::kObject) {
    Error("Error converting value to type 'TemplateContainer': a template entry must be a JSON object.", entry.pos);
    return false;
  }
  const SourceMember* type = FindMember(entry, "templateType");
  out->type_name = type == nullptr ? "" : ScalarText(type->value);
  out->type_pos = type == nullptr ? entry.pos : type->value.pos;
  out->body = FindMember(entry, "template");
  return true;
}

bool StrictReader::String(const SourceMember* m, std::string* out) {
  if (m == nullptr || m->value.kind == Kind::kNull) return false;
  const SourceNode& v = m->value;
  switch (v.kind) {
    case Kind::kString:
    case Kind::kBool:
    case Kind::kInt:
    case Kind::kDouble: *out = ScalarText(v); return true;
    default: Error("Error reading string. Unexpected token: " + std::string(TokenName(v)) + ".", v.pos); return false;
  }
}

bool StrictReader::Bool(const SourceMember* m, bool* out) {
  if (m == nullptr) return false;
  const SourceNode& v = m->value;
  switch (v.kind) {
    case Kind::kBool: *out = v.boolean; return true;
    case Kind::kString: {
      std::string s = v.text;
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.pop_back();
      if (EqualsIgnoreCase(s, "true") || EqualsIgnoreCase(s, "false")) {
        *out = EqualsIgnoreCase(s, "true");
        return true;
      }
      Error("Could not convert string to boolean: " + v.text + ".", v.pos);
      return false;
    }
    case Kind::kInt:
    case Kind::kDouble: *out = v.number != 0; return true;
    case Kind::kNull: Error("Error converting value {null} to type 'System.Boolean'.", v.pos); return false;
    default: Error("Error reading boolean. Unexpected token: " + std::string(TokenName(v)) + ".", v.pos); return false;
  }
}

}  // namespace json
}  // namespace iomt
