// A normalized measurement: what a device mapping makes of a device message,
// and what grouping and FHIR conversion consume (iomt-fhir's Measurement).
//
// The struct holds views: strings point into whatever produced the
// measurement (the Normalizer's per-event arena), so a consumer that keeps a
// measurement beyond that must copy it (OwnedMeasurement).
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_buffer.h"
#include "common/errors.h"
#include "common/json/value.h"
#include "common/status.h"

namespace iomt {

struct MeasurementProperty {
  std::string_view name;
  std::string_view value;
  // Optional: `name` already written as a JSON string (with its quotes), so
  // that writers need not escape it again; producers with constant names
  // (a mapping's value names) fill it.
  std::string_view quoted_name;
};

struct Measurement {
  std::string_view type;
  std::string_view quoted_type;       // optional: `type` as a JSON string (see MeasurementProperty::quoted_name)
  std::int64_t occurrence_ticks = 0;  // UTC, datetime ticks
  std::optional<std::int64_t> ingestion_ticks;  // when the event was received
  std::optional<std::string_view> device_id;    // std::nullopt is JSON null
  std::optional<std::string_view> patient_id;
  std::optional<std::string_view> encounter_id;
  std::optional<std::string_view> correlation_id;
  std::span<const MeasurementProperty> properties;
};

// The wire format of iomt-fhir's normalized Event Hub (formats.md): members
// in this order, absent values as null, times ISO 8601 UTC. No newline.
void AppendMeasurementJson(std::string* out, const Measurement& m);

// The same, for streams: remembers the last timestamps it formatted, which
// the measurements of one event share. Not thread-safe.
class MeasurementWriter {
 public:
  void Append(ByteBuffer* out, const Measurement& m);
  void Append(std::string* out, const Measurement& m);

 private:
  struct CachedTime {
    std::int64_t ticks = INT64_MIN;
    std::string text;
  };
  // Formats the times (cached) and returns the most bytes `m` can take.
  std::size_t Prepare(const Measurement& m);
  char* Write(char* p, const Measurement& m) const;
  CachedTime occurrence_;
  CachedTime ingestion_;
};

// A measurement that owns its strings: what grouping keeps across a batch,
// and what `iomt transform` reads back from the wire format.
struct OwnedMeasurement {
  struct Property {
    std::string name;
    std::string value;
  };
  std::string type;
  std::int64_t occurrence_ticks = 0;
  std::optional<std::int64_t> ingestion_ticks;
  std::optional<std::string> device_id;
  std::optional<std::string> patient_id;
  std::optional<std::string> encounter_id;
  std::optional<std::string> correlation_id;
  std::vector<Property> properties;
  // Where the event it came from was read (for error records and dead letters).
  InputLocation source;

  static OwnedMeasurement From(const Measurement& m);
};

// Reads a measurement in the wire format (formats.md). Member names match
// ignoring case, as Json.NET reads them (so the mapping debugger's camelCase
// works too); times are any ISO 8601 instant (no zone: UTC). `Type` and
// `OccurrenceTimeUtc` are required; property values are strings, and numbers
// and booleans are taken as their text. A property whose value is null is
// left out (it carries no reading).
Status ReadMeasurementJson(const json::Value& v, OwnedMeasurement* out);

}  // namespace iomt
