// Reading mapping documents the way Newtonsoft.Json deserializes them with
// MissingMemberHandling.Error: property names matched exactly, then ignoring
// case; unknown members, nulls for required members and missing required
// members are errors; strings and booleans convert as Newtonsoft converts
// them. Every problem is collected with its position (never first-fail),
// with Newtonsoft's message text, which is what users of Azure's IoT
// connector see and search for.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/source.h"

namespace iomt {

// A problem of a mapping or configuration document.
struct MappingError {
  std::string message;  // Newtonsoft's / iomt-fhir's text
  json::SourcePos pos;  // line 0 when the error has no position
  // iomt-fhir's rendering: "Line Number: 13, Position: 40. <message>".
  [[nodiscard]] std::string ToIomtFhirString() const;
};

namespace json {

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// iomt-fhir's TemplateContainer.MatchTemplateName: `type` matches `expected`
// when it equals it, or it plus "Template" does, ignoring case.
bool MatchTemplateName(std::string_view type, std::string_view expected);

// The member `name` of an object as Newtonsoft finds it: exact match first
// (the last one, as deserializing overwrites), then ignoring case.
const SourceMember* FindMember(const SourceNode& object, std::string_view name);

// "StartObject", "String", ... (Newtonsoft's JsonToken names), for messages.
std::string_view TokenName(const SourceNode& node);

// The line and column of a byte offset of `text` (for syntax errors).
SourcePos PositionOf(std::string_view text, long offset);

// A scalar as Newtonsoft reads it into a string property ("True" for true);
// empty for objects, arrays and null.
std::string ScalarText(const SourceNode& node);

// A member of a C# class that a mapping document deserializes into.
struct Field {
  std::string_view name;  // the C# property name (PascalCase), as messages print it
  bool required = false;
  bool ignored = false;  // [JsonIgnore]: accepted and dropped
};

class StrictReader {
 public:
  explicit StrictReader(std::vector<MappingError>* errors) : errors_(errors) {}

  // The member for each field (nullptr when absent, ignored, or null and
  // required), reporting unknown members (in document order), required
  // members set to null, then missing required members (in field order).
  std::vector<const SourceMember*> Read(const SourceNode& object, std::string_view class_name,
                                        std::span<const Field> fields);

  // A string member; numbers and booleans convert as Newtonsoft converts them
  // ("True"); objects and arrays are errors. False when absent or null.
  bool String(const SourceMember* m, std::string* out);
  // A boolean member: true/false, "true"/"false" in any case, numbers (non-zero).
  bool Bool(const SourceMember* m, bool* out);

  // iomt-fhir's TemplateContainer documents: `{"templateType": ..., "template": ...}`.
  //
  // Parses `text` into *doc and returns its root when it is a JSON object
  // (else reports the syntax error or Newtonsoft's message, and returns null).
  const SourceNode* ParseContainer(std::string_view text, SourceDocument* doc);
  // The entries of a collection container whose templateType must match
  // `collection_type` (e.g. "CollectionContentTemplate"); null (reported)
  // when it does not, or when `template` is not an array.
  const std::vector<SourceNode>* CollectionEntries(const SourceNode& root, std::string_view collection_type);
  struct Container {
    std::string type_name;               // "" when absent
    SourcePos type_pos;                  // the templateType value, or the entry
    const SourceMember* body = nullptr;  // `template`, or null
  };
  // One entry of a collection: false (reported) when it is not an object.
  bool ReadContainer(const SourceNode& entry, Container* out);

  void Error(std::string message, SourcePos pos) { errors_->push_back({std::move(message), pos}); }
  [[nodiscard]] std::size_t error_count() const { return errors_->size(); }

 private:
  std::vector<MappingError>* errors_;
};

}  // namespace json
}  // namespace iomt
