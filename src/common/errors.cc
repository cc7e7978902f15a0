#include "common/errors.h"

#include <array>

#include "common/datetime.h"
#include "common/json/writer.h"

namespace iomt {

namespace {

using enum ErrorType;
using enum ErrorSeverity;
using enum ErrorStage;

// In ErrorName order. The first nine rows are the seed's, labels as printed
// there; the rest extend the scheme (errors.md).
constexpr std::array<ErrorInfo, 23> kCatalogue = {{
    {"MultipleResourceFoundException", kFHIRResourceError, kError, kFHIRConversion},
    {"TemplateNotFoundException", kDeviceTemplateError, kCritical, kNormalization},
    {"TemplateNotFoundException", kFHIRTemplateError, kCritical, kFHIRConversion},
    {"CorrelationIdNotDefinedException", kDeviceMessageError, kError, kNormalization},
    {"PatientDeviceMismatchException", kFHIRResourceError, kError, kFHIRConversion},
    {"PatientNotFoundException", kFHIRConversionError, kError, kFHIRConversion},
    {"DeviceNotFoundException", kDeviceMessageError, kError, kNormalization},
    {"PatientIdentityNotDefinedException", kDeviceTemplateError, kCritical, kNormalization},
    {"DeviceIdentityNotDefinedException", kDeviceTemplateError, kCritical, kNormalization},
    {"NotSupportedException", kDeviceMessageError, kError, kNormalization},
    {"IncompatibleDataException", kDeviceMessageError, kError, kNormalization},
    {"TemplateExpressionException", kDeviceTemplateError, kError, kNormalization},
    {"UnmatchedDeviceMessage", kDeviceMessageError, kWarning, kNormalization},
    {"EncounterNotFoundException", kFHIRResourceError, kError, kFHIRConversion},
    {"EncounterIdentityNotDefinedException", kFHIRResourceError, kError, kFHIRConversion},
    {"InvalidQuantityFhirValueException", kFHIRConversionError, kError, kFHIRConversion},
    {"FhirDataMappingException", kFHIRConversionError, kError, kFHIRConversion},
    {"InvalidTemplateException", kDeviceTemplateError, kCritical, kSetup},
    {"InvalidTemplateException", kFHIRTemplateError, kCritical, kSetup},
    {"FHIRServiceErrorAuthorizationError", kFHIRServerError, kCritical, kFHIRConversion},
    {"FHIRServiceErrorConfigurationError", kFHIRServerError, kCritical, kSetup},
    {"FHIRServiceError", kFHIRServerError, kError, kFHIRConversion},
    {"EventSourceError", kGeneralError, kCritical, kSetup},
}};

}  // namespace

const ErrorInfo& Describe(ErrorName name) { return kCatalogue[static_cast<std::size_t>(name)]; }

std::optional<ErrorName> FindErrorName(std::string_view name, bool fhir) {
  std::optional<ErrorName> found;
  for (std::size_t i = 0; i < kCatalogue.size(); ++i) {
    if (kCatalogue[i].name != name) continue;
    bool fhir_entry = kCatalogue[i].type == kFHIRTemplateError;
    bool device_entry = kCatalogue[i].type == kDeviceTemplateError &&
                        (name == "TemplateNotFoundException" || name == "InvalidTemplateException");
    if ((fhir && device_entry) || (!fhir && fhir_entry)) continue;
    found = static_cast<ErrorName>(i);
    break;
  }
  return found;
}

std::string_view ToString(ErrorStage stage) {
  switch (stage) {
    case kSetup: return "Setup";
    case kNormalization: return "Normalization";
    case kGrouping: return "Grouping";
    case kFHIRConversion: return "FHIRConversion";
    case kUnknown: return "Unknown";
  }
  return "Unknown";
}

std::string_view ToString(ErrorSeverity severity) {
  switch (severity) {
    case kWarning: return "Warning";
    case kError: return "Error";
    case kCritical: return "Critical";
  }
  return "Error";
}

std::string_view ToString(ErrorType type) {
  switch (type) {
    case kDeviceTemplateError: return "DeviceTemplateError";
    case kDeviceMessageError: return "DeviceMessageError";
    case kFHIRTemplateError: return "FHIRTemplateError";
    case kFHIRConversionError: return "FHIRConversionError";
    case kFHIRResourceError: return "FHIRResourceError";
    case kFHIRServerError: return "FHIRServerError";
    case kGeneralError: return "GeneralError";
  }
  return "GeneralError";
}

void AppendErrorRecordJson(std::string* out, const ErrorRecord& record) {
  const ErrorInfo& info = Describe(record.name);
  out->append("{\"time\":\"");
  datetime::AppendIso(out, record.time_ticks);
  out->append("\",\"stage\":\"");
  out->append(ToString(info.stage));
  out->append("\",\"severity\":\"");
  out->append(ToString(info.severity));
  out->append("\",\"errorType\":\"");
  out->append(ToString(info.type));
  out->append("\",\"errorName\":\"");
  out->append(info.name);
  out->append("\",\"message\":");
  json::AppendQuoted(out, record.message);
  if (record.template_name) {
    out->append(",\"template\":");
    json::AppendQuoted(out, *record.template_name);
  }
  if (record.device_id) {
    out->append(",\"deviceId\":");
    json::AppendQuoted(out, *record.device_id);
  }
  if (record.input.known()) {
    out->append(",\"input\":{");
    bool first = true;
    auto sep = [&] {
      if (!first) out->push_back(',');
      first = false;
    };
    if (record.input.line > 0) {
      sep();
      out->append("\"line\":").append(std::to_string(record.input.line));
    }
    if (!record.input.partition.empty()) {
      sep();
      out->append("\"partition\":");
      json::AppendQuoted(out, record.input.partition);
    }
    if (record.input.offset >= 0) {
      sep();
      out->append("\"offset\":").append(std::to_string(record.input.offset));
    }
    if (!record.input.request_id.empty()) {
      sep();
      out->append("\"requestId\":");
      json::AppendQuoted(out, record.input.request_id);
    }
    out->push_back('}');
  }
  out->push_back('}');
}

}  // namespace iomt
