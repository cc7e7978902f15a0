// The Normalizer turns one event into measurements with a device mapping, as
// Azure's IoT connector does: every template in order, every match of its
// type expression, then device id, timestamp, correlation id, patient id,
// encounter id and values, converted the way Json.NET converts them.
//
// An event either yields all its measurements or none and one error record
// (iomt-fhir may emit the measurements of the templates before the failing
// one; iomt dead-letters the event whole, so that replaying it after the
// mapping is fixed gives the complete set).
//
// Not thread-safe (it reuses buffers); use one Normalizer per thread. The
// DeviceMapping must outlive it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/event.h"
#include "common/json/arena.h"
#include "common/measurement.h"
#include "normalize/device_mapping.h"
#include "normalize/type_match_index.h"

namespace iomt::normalize {

// What normalizing one event produced. Views into the Normalizer's buffers:
// valid until its next Normalize call.
struct NormalizeResult {
  std::vector<Measurement> measurements;
  // Set when the event failed (no measurements then), or matched no template
  // (kUnmatchedDeviceMessage, a warning).
  std::optional<ErrorRecord> error;
};

class Normalizer {
 public:
  explicit Normalizer(const DeviceMapping& mapping);

  // Normalizes `event`. `now_ticks` stamps the error record.
  const NormalizeResult& Normalize(const Event& event, std::int64_t now_ticks);

  // Why each template produced nothing for the last event, one line per
  // template ("heartrate: typeMatchExpression $..[?(@heartrate)] matched
  // nothing"), for `iomt validate --sample`.
  [[nodiscard]] std::vector<std::string> ExplainNoMatch(const Event& event);

 private:
  struct Failure;
  bool NormalizeTemplate(std::size_t index, const ContentTemplate& t, const json::Value& input, const Event& event,
                         Failure* failure);
  bool BuildMeasurement(const ContentTemplate& t, const json::Value& scope, const Event& event, Failure* failure);
  bool BuildValues(const ContentTemplate& t, const json::Value& scope, Measurement m, Failure* failure);

  // The token an expression selects, once per event and scope (templates
  // share device id and timestamp expressions).
  Status Select(const TemplateExpression& e, const json::Value& scope, std::optional<json::Value>* out);
  bool CachedTimestamp(const json::Value& token, std::optional<std::int64_t>* out, std::string* error);

  // The device id, time and ids of the last measurement, by the expressions
  // that gave them and the match they were read from.
  using IdentityKey = std::array<std::uint32_t, 6>;
  struct Identity {
    std::uint64_t epoch = 0;
    IdentityKey key{};
    json::Value scope;
    Measurement measurement;
  };
  Identity identity_;

  struct Memo {
    std::uint64_t epoch = 0;
    json::Value scope;
    std::optional<json::Value> token;
  };

  const DeviceMapping& mapping_;
  TypeMatchIndex index_;
  std::vector<Memo> memo_;
  std::uint64_t epoch_ = 0;
  json::Value time_token_;  // the last timestamp token converted, and its value
  std::optional<std::int64_t> time_value_;
  std::uint64_t time_epoch_ = 0;
  json::Arena arena_;
  std::vector<json::Value> matches_;
  std::vector<MeasurementProperty> properties_;
  std::vector<std::pair<std::size_t, std::size_t>> property_ranges_;  // per measurement: [begin, end) in properties_
  NormalizeResult result_;
};

}  // namespace iomt::normalize
