// The device mapping (devicecontent.json, a CollectionContent of templates)
// as Azure's IoT connector defines it, compiled: every expression is parsed
// once here and evaluated many times by the Normalizer.
//
// LoadDeviceMapping validates the whole document and reports every problem
// with its line and column, using iomt-fhir's message texts
// (docs/errors.md, "Mapping validation"). A DeviceMapping is immutable once
// loaded and may be shared by threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/arena.h"
#include "common/json/source.h"
#include "common/json/strict_reader.h"
#include "common/json/value.h"
#include "common/status.h"
#include "expr/jmespath/jmespath.h"
#include "expr/jsonpath/jsonpath.h"

namespace iomt::normalize {

enum class TemplateKind : std::uint8_t {
  kJsonPathContent,
  kIotJsonPathContent,
  kIotCentralJsonPathContent,
  kCalculatedContent,
};
std::string_view ToString(TemplateKind kind);  // the templateType name, e.g. "IotJsonPathContent"

enum class Language : std::uint8_t { kJsonPath, kJmesPath };

// One compiled expression of a template.
class TemplateExpression {
 public:
  TemplateExpression(std::string text, Language language, json::SourcePos pos);
  TemplateExpression(TemplateExpression&&) noexcept;
  TemplateExpression& operator=(TemplateExpression&&) noexcept;
  ~TemplateExpression();

  // Parses the expression; an expression that does not parse is a mapping
  // error (the message is the one iomt-fhir gives for JMESPath).
  Status Compile();

  [[nodiscard]] const std::string& text() const { return text_; }
  [[nodiscard]] Language language() const { return language_; }
  [[nodiscard]] const json::SourcePos& pos() const { return pos_; }
  // Empty or white space: a template built this way fails at evaluation with
  // "An expression must be set for [...]".
  [[nodiscard]] bool blank() const { return blank_; }
  // Dense number shared by every expression of the mapping with the same text
  // and language (the Normalizer evaluates each once per event and scope).
  [[nodiscard]] std::uint32_t id() const { return id_; }
  void set_id(std::uint32_t id) { id_ = id; }

  // All matches (a type match): JSONPath's SelectTokens; for JMESPath each
  // element of a projection, or the result when it is not null.
  Status SelectTokens(const json::Value& input, json::Arena* arena, std::vector<json::Value>* out) const;
  // The single match (a value): nullopt when nothing matches (JMESPath: when
  // the result is null); an error when a JSONPath matches several tokens or
  // a JMESPath projection has several elements (iomt-fhir's
  // TemplateExpressionException).
  Status SelectToken(const json::Value& input, json::Arena* arena, std::optional<json::Value>* out) const;

  [[nodiscard]] const jsonpath::Path* jsonpath() const { return jsonpath_.get(); }

 private:
  std::string text_;
  Language language_;
  json::SourcePos pos_;
  bool blank_ = false;
  std::uint32_t id_ = 0;
  std::unique_ptr<jsonpath::Path> jsonpath_;
  std::unique_ptr<const jmespath::Expression> jmespath_;
};

struct ValueTemplate {
  std::string name;
  std::string quoted_name;  // `name` as a JSON string, for writers
  std::optional<TemplateExpression> expression;
  bool required = false;
  json::SourcePos pos;
};

struct ContentTemplate {
  TemplateKind kind = TemplateKind::kJsonPathContent;
  std::string type_name;
  std::string quoted_type_name;  // `type_name` as a JSON string, for writers
  std::optional<TemplateExpression> type_match;
  std::optional<TemplateExpression> device_id;
  std::optional<TemplateExpression> timestamp;
  // IotJsonPathContent reads the timestamp from here when the first one fails.
  std::optional<TemplateExpression> alternate_timestamp;
  std::optional<TemplateExpression> patient_id;
  std::optional<TemplateExpression> encounter_id;
  std::optional<TemplateExpression> correlation_id;
  std::vector<ValueTemplate> values;
  json::SourcePos pos;  // the template object
};

struct DeviceMapping {
  std::vector<ContentTemplate> templates;
  std::uint32_t expression_count = 0;  // distinct expression ids
};

using MappingError = iomt::MappingError;

struct LoadOptions {
  // Keep templates whose required members are missing or null (their
  // expressions then fail at evaluation, as templates built in code do in
  // iomt-fhir's tests). The errors are still reported.
  bool keep_incomplete_templates = false;
};

struct LoadResult {
  DeviceMapping mapping;             // the templates that loaded
  std::vector<MappingError> errors;  // every problem, in document order
  [[nodiscard]] bool ok() const { return errors.empty(); }
};

// Loads a device mapping from its JSON text (a UTF-8 byte-order mark is
// accepted). Never fails outright: problems are in LoadResult::errors.
LoadResult LoadDeviceMapping(std::string_view text, const LoadOptions& options = {});

}  // namespace iomt::normalize
