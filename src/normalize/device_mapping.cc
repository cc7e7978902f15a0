#include "normalize/device_mapping.h"

#include <algorithm>

namespace iomt::normalize {

std::string_view ToString(TemplateKind kind) {
  switch (kind) {
    case TemplateKind::kJsonPathContent: return "JsonPathContent";
    case TemplateKind::kIotJsonPathContent: return "IotJsonPathContent";
    case TemplateKind::kIotCentralJsonPathContent: return "IotCentralJsonPathContent";
    case TemplateKind::kCalculatedContent: return "CalculatedContent";
  }
  return "JsonPathContent";
}

TemplateExpression::TemplateExpression(std::string text, Language language, json::SourcePos pos)
    : text_(std::move(text)), language_(language), pos_(pos) {
  blank_ = std::all_of(text_.begin(), text_.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  });
}
TemplateExpression::TemplateExpression(TemplateExpression&&) noexcept = default;
TemplateExpression& TemplateExpression::operator=(TemplateExpression&&) noexcept = default;
TemplateExpression::~TemplateExpression() = default;

Status TemplateExpression::Compile() {
  if (blank()) return Status::Ok();  // reported by the caller, or at evaluation
  if (language_ == Language::kJmesPath) {
    auto compiled = jmespath::Expression::Compile(text_);
    if (!compiled.ok()) {
      return SyntaxError("The following JmesPath expression could not be parsed: " + text_ +
                         ". Cause: " + compiled.status().message())
          .WithPosition(compiled.status().position());
    }
    jmespath_ = std::move(compiled).value();
    return Status::Ok();
  }
  auto path = jsonpath::Path::Parse(text_);
  if (!path.ok()) {
    // iomt-fhir would only fail at the first message; iomt says so at load.
    return SyntaxError("The following JsonPath expression could not be parsed: " + text_ +
                       ". Cause: " + path.status().message())
        .WithPosition(path.status().position());
  }
  jsonpath_ = std::make_unique<jsonpath::Path>(std::move(path).value());
  return Status::Ok();
}

namespace {

Result<json::Value> EvaluateJmesPath(const jmespath::Expression& e, const std::string& text, const json::Value& input,
                                     json::Arena* arena) {
  auto result = e.Evaluate(input, arena);
  if (!result.ok()) {
    return EvaluationError("Unable to evaluate expression " + text + ": " + result.status().message())
        .WithError(ErrorName::kTemplateExpression);
  }
  return result;
}

}  // namespace

Status TemplateExpression::SelectTokens(const json::Value& input, json::Arena* arena,
                                        std::vector<json::Value>* out) const {
  if (jsonpath_) {
    Status st = jsonpath_->SelectTokens(input, out);
    if (!st.ok()) {
      return EvaluationError("Unable to retrieve JsonTokens using expression " + text_ + ": " + st.message())
          .WithError(ErrorName::kTemplateExpression);
    }
    return Status::Ok();
  }
  if (jmespath_) {
    auto result = EvaluateJmesPath(*jmespath_, text_, input, arena);
    if (!result.ok()) return result.status();
    if (jmespath_->IsProjection() && result->is_array()) {
      for (json::Value e : result->elements())
        out->push_back(e);
    } else if (!result->is_null()) {
      out->push_back(*result);
    }
    return Status::Ok();
  }
  return Status::Ok();  // blank: nothing matches (the caller reports it)
}

Status TemplateExpression::SelectToken(const json::Value& input, json::Arena* arena,
                                       std::optional<json::Value>* out) const {
  out->reset();
  if (jsonpath_) {
    Status st = jsonpath_->FindToken(input, out);
    if (!st.ok()) {
      return EvaluationError("Unable to retrieve JsonToken using expression " + text_ + ": " + st.message())
          .WithError(ErrorName::kTemplateExpression);
    }
    return Status::Ok();
  }
  if (jmespath_) {
    auto result = EvaluateJmesPath(*jmespath_, text_, input, arena);
    if (!result.ok()) return result.status();
    if (jmespath_->IsProjection() && result->is_array() && result->size() > 1) {
      // The literal '$' before the expression is iomt-fhir's.
      return EvaluationError("Multiple tokens were returned using expression $" + text_)
          .WithError(ErrorName::kTemplateExpression);
    }
    if (!result->is_null()) *out = *result;
  }
  return Status::Ok();
}

}  // namespace iomt::normalize
