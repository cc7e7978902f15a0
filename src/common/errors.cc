#include "common/errors.h"

#include <array>

#include "common/datetime.h"
#include "common/json/writer.h"

namespace iomt {

namespace {

using enum ErrorType;
using enum ErrorSeverity;
using enum ErrorStage;

// In ErrorName order. The first nine rows are those Azure documents for its
// connector, labels as printed there; the rest extend the scheme (docs/errors.md). Causes and fixes follow
// Azure's troubleshooting guide where it has them.
constexpr std::array<ErrorInfo, 23> kCatalogue = {{
    {"MultipleResourceFoundException", kFHIRResourceError, kError, kFHIRConversion,
     "Several resources have the identifier, so the connector cannot tell which one is meant.",
     "Remove the duplicates so that one resource has the identifier."},
    {"TemplateNotFoundException", kDeviceTemplateError, kCritical, kNormalization,
     "The connector has no device mapping.", "Configure and save a conforming device mapping."},
    {"TemplateNotFoundException", kFHIRTemplateError, kCritical, kFHIRConversion,
     "The FHIR destination mapping has no template for the measurement's type, or the connector has no FHIR "
     "destination mapping.",
     "Add a FHIR template whose typeName is the device template's typeName (the case matters)."},
    {"CorrelationIdNotDefinedException", kDeviceMessageError, kError, kNormalization,
     "The FHIR template groups by correlation id (periodInterval -1), and the measurement has none.",
     "Add a correlationIdExpression to the device template, or group by another period."},
    {"PatientDeviceMismatchException", kFHIRResourceError, kError, kFHIRConversion,
     "The Device is linked to another Patient than the one the message names.",
     "Correct Device.patient, or the patient id the message carries."},
    {"PatientNotFoundException", kFHIRConversionError, kError, kFHIRConversion,
     "A Patient resource hasn't been created in the FHIR service (resolution type: Lookup).",
     "Create the Patient resource that Device.patient refers to."},
    {"DeviceNotFoundException", kDeviceMessageError, kError, kNormalization,
     "A Device resource hasn't been created in the FHIR service (resolution type: Lookup).",
     "Create a Device resource in {destination} with the identifier {identifier} (the device id in the message), "
     "or use the Create resolution type."},
    {"PatientIdentityNotDefinedException", kDeviceTemplateError, kCritical, kNormalization,
     "The message has no patient id, and Create resolution needs one to create the Patient.",
     "Add a patientIdExpression to the device template (one that matches a token of the message), or create the "
     "Device and its Patient and use the Lookup resolution type."},
    {"DeviceIdentityNotDefinedException", kDeviceTemplateError, kCritical, kNormalization,
     "The device id expression finds no device id (or an empty one) in the message.",
     "Make the deviceIdExpression match a token that every message of this type has."},
    {"NotSupportedException", kDeviceMessageError, kError, kNormalization,
     "The device message is not in a supported format: not JSON, too deep or too large.",
     "Send each message as one JSON document (NDJSON: one a line), within the size limit."},
    {"IncompatibleDataException", kDeviceMessageError, kError, kNormalization,
     "A required value (the timestamp, a correlation id, a value marked required) is missing, empty, or cannot be "
     "converted.",
     "Verify that the expressions of the device mapping match the tokens of the device message."},
    {"TemplateExpressionException", kDeviceTemplateError, kError, kNormalization,
     "An expression of the device mapping failed on this message (a single-value expression matched several "
     "tokens, or a function got a value of the wrong type).",
     "Correct the expression the message names, and try it with `iomt eval` on the message."},
    {"UnmatchedDeviceMessage", kDeviceMessageError, kWarning, kNormalization,
     "The device message doesn't contain an expected expression defined in the device mapping: no template "
     "matched it.",
     "Verify that the typeMatchExpressions of the device mapping match tokens of the device message."},
    {"EncounterNotFoundException", kFHIRResourceError, kError, kFHIRConversion,
     "No Encounter resource has the encounter id of the message.",
     "Create an Encounter whose identifier is the message's encounter id."},
    {"EncounterIdentityNotDefinedException", kFHIRResourceError, kError, kFHIRConversion,
     "LookupWithEncounter resolution needs an encounter id, and the message has none.",
     "Add an encounterIdExpression to the device template, or use the Lookup resolution type."},
    {"InvalidQuantityFhirValueException", kFHIRConversionError, kError, kFHIRConversion,
     "A Quantity value is not a decimal number, or the group holds more than one reading for it.",
     "Make the value expression select one number, or use a SampledData value for a series."},
    {"FhirDataMappingException", kFHIRConversionError, kError, kFHIRConversion,
     "The group could not be turned into an Observation with the FHIR template (its message says why).",
     "Correct the FHIR template the message names."},
    {"InvalidTemplateException", kDeviceTemplateError, kCritical, kSetup,
     "The device mapping does not pass validation.", "Correct the errors listed, each at its line and column."},
    {"InvalidTemplateException", kFHIRTemplateError, kCritical, kSetup,
     "The FHIR destination mapping does not pass validation.",
     "Correct the errors listed, each at its line and column."},
    {"FHIRServiceErrorAuthorizationError", kFHIRServerError, kCritical, kFHIRConversion,
     "The FHIR service refused the credentials (401 or 403), or no token could be obtained.",
     "Check the token or the OAuth2 client and its scope, and the client's role on the FHIR service."},
    {"FHIRServiceErrorConfigurationError", kFHIRServerError, kCritical, kSetup,
     "The FHIR service URL is invalid, does not resolve, or has no FHIR endpoint.",
     "Check the FHIR service URL (its base, without /metadata)."},
    {"FHIRServiceError", kFHIRServerError, kError, kFHIRConversion, "The FHIR service failed.",
     "Check the URL, the credentials and that the service is up."},
    {"EventSourceError", kGeneralError, kCritical, kSetup,
     "The event source (broker, topic, consumer group, credentials, or the connector's own queue) cannot be used.",
     "Check the event source's address, topic and credentials, and the disk of the connector's queue."},
}};

// Causes of one name that differ by the failure's reason.
struct ReasonAdvice {
  ErrorName name;
  std::string_view reason;
  ErrorAdvice advice;
};
constexpr std::array<ReasonAdvice, 2> kReasons = {{
    {ErrorName::kPatientNotFound,
     kReasonDevicePatientUnset,
     {"The Device.patient reference isn't set (resolution type: Lookup).",
      "Set Device.patient of the Device with identifier {identifier} to a reference to its Patient "
      "(Patient/{id})."}},
    {ErrorName::kPatientNotFound,
     kReasonDevicePatientInvalid,
     {"The Device.patient reference is invalid (resolution type: Lookup).",
      "Make Device.patient a relative reference to a Patient resource: Patient/{id}."}},
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

ErrorAdvice AdviceFor(ErrorName name, std::string_view reason) {
  for (const ReasonAdvice& r : kReasons) {
    if (r.name == name && !reason.empty() && r.reason == reason) return r.advice;
  }
  const ErrorInfo& info = Describe(name);
  return {info.cause, info.fix};
}

std::string FillAdvice(std::string_view text, std::string_view identifier, std::string_view destination) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 12, "{identifier}") == 0) {
      out.append(identifier);
      i += 12;
    } else if (text.compare(i, 13, "{destination}") == 0) {
      out.append(destination.empty() ? std::string_view("the FHIR service") : destination);
      i += 13;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
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
  out->append(ToString(StageOf(record)));
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
