// The error catalogue (docs/errors.md) and the error record that every
// failure touching data produces (docs/formats.md, "Error record").
//
// Names, types, severities and stages are those of Azure's IoT connector, so
// that metrics, logs and dead letters read the same as there. Each entry also
// says what usually causes it and how to fix it: `iomt validate --store`, the
// service's status and the mapping tools all give these same texts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iomt {

enum class ErrorStage : std::uint8_t { kSetup, kNormalization, kGrouping, kFHIRConversion, kUnknown };
enum class ErrorSeverity : std::uint8_t { kWarning, kError, kCritical };
enum class ErrorType : std::uint8_t {
  kDeviceTemplateError,
  kDeviceMessageError,
  kFHIRTemplateError,
  kFHIRConversionError,
  kFHIRResourceError,
  kFHIRServerError,
  kGeneralError,
};

// One entry of the catalogue. Where errors.md gives a name two labels (device
// or FHIR mapping), there are two entries.
enum class ErrorName : std::uint8_t {
  kMultipleResourceFound,
  kDeviceTemplateNotFound,  // TemplateNotFoundException, device mapping
  kFhirTemplateNotFound,    // TemplateNotFoundException, FHIR mapping
  kCorrelationIdNotDefined,
  kPatientDeviceMismatch,
  kPatientNotFound,
  kDeviceNotFound,
  kPatientIdentityNotDefined,
  kDeviceIdentityNotDefined,
  kNotSupported,
  kIncompatibleData,
  kTemplateExpression,
  kUnmatchedDeviceMessage,
  kEncounterNotFound,
  kEncounterIdentityNotDefined,
  kInvalidQuantityFhirValue,
  kFhirDataMapping,
  kInvalidDeviceTemplate,  // InvalidTemplateException, device mapping
  kInvalidFhirTemplate,    // InvalidTemplateException, FHIR mapping
  kFhirServiceAuthorization,
  kFhirServiceConfiguration,
  kFhirService,
  kEventSource,
};

struct ErrorInfo {
  std::string_view name;  // the errorName written in records, e.g. "IncompatibleDataException"
  ErrorType type;
  ErrorSeverity severity;
  ErrorStage stage;
  // What usually causes it, and what to do. `{identifier}` (the device's
  // identifier, with its system) and `{destination}` (the FHIR service) are
  // filled in by FillAdvice where they are known.
  std::string_view cause;
  std::string_view fix;
};

const ErrorInfo& Describe(ErrorName name);
// The entry whose errorName is `name`, for text that names it (a dead-letter
// record read back). The two names that appear twice resolve to their
// FHIR-mapping entry when `fhir` is true, else to the device-mapping one.
std::optional<ErrorName> FindErrorName(std::string_view name, bool fhir = true);

// Some names have more than one cause, told apart by the reason a failure
// carries (Status::detail()): PatientNotFoundException from a Device whose
// `patient` is unset, or not a reference to a Patient.
inline constexpr std::string_view kReasonDevicePatientUnset = "DevicePatientUnset";
inline constexpr std::string_view kReasonDevicePatientInvalid = "DevicePatientInvalid";

struct ErrorAdvice {
  std::string_view cause;
  std::string_view fix;
};
// The cause and fix of `name`, for `reason` when it has its own.
ErrorAdvice AdviceFor(ErrorName name, std::string_view reason = {});
// `text` with {identifier} and {destination} replaced.
std::string FillAdvice(std::string_view text, std::string_view identifier, std::string_view destination);
std::string_view ToString(ErrorStage stage);
std::string_view ToString(ErrorSeverity severity);
std::string_view ToString(ErrorType type);

// Where the failing event came from: a line of a file, a Kafka partition and
// offset, or an HTTP request.
struct InputLocation {
  std::int64_t line = 0;  // 1-based; 0 when not from a file
  std::string partition;  // Kafka/Event Hubs
  std::int64_t offset = -1;
  std::string request_id;  // HTTP
  [[nodiscard]] bool known() const { return line > 0 || offset >= 0 || !request_id.empty(); }
};

struct ErrorRecord {
  std::int64_t time_ticks = 0;  // when the error happened (datetime ticks)
  ErrorName name = ErrorName::kNotSupported;
  // Where it happened, when not the catalogue's stage for the name: an
  // outage of the FHIR service is reported once for the connector, at
  // Setup, rather than as a conversion error of each event.
  std::optional<ErrorStage> stage;
  std::string message;
  std::optional<std::string> template_name;
  std::optional<std::string> device_id;
  InputLocation input;
};

// The stage of a record: its own, or its name's.
inline ErrorStage StageOf(const ErrorRecord& record) { return record.stage.value_or(Describe(record.name).stage); }

// The record as one line of JSON (docs/formats.md), without a trailing newline.
void AppendErrorRecordJson(std::string* out, const ErrorRecord& record);

}  // namespace iomt
