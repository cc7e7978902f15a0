// The event envelope: what Azure's IoT connector hands a device mapping is not
// the bare message but {"Body": message, "Properties": {...},
// "SystemProperties": {...}} (docs/formats.md). File and stream
// inputs choose how a line becomes that value with --envelope.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/json/value.h"
#include "common/status.h"

namespace iomt::ingest {

enum class EnvelopeMode : std::uint8_t {
  kAuto,   // a line that is an envelope is taken as it is; any other is wrapped
  kEvent,  // every line must be an envelope
  kWrap,   // every line is a Body
  kNone,   // the mapping sees the line itself (as iomt-fhir's unit tests do)
};

Result<EnvelopeMode> ParseEnvelopeMode(std::string_view name);

// True for an object with a "Body" member and no members other than Body,
// Properties and SystemProperties.
bool IsEnvelope(const json::Value& v);

// What the mapping sees for the parsed line `line`. Wrapping adds
// SystemProperties.x-opt-enqueued-time = the ingestion time (a date, as the
// Event Hubs SDK gives it). A NotSupportedException-class problem (a Body
// that is not an object or array, an --envelope event line that is not an
// envelope) is returned as a kInvalidArgument Status with a clear message.
Status MakeEventValue(const json::Value& line, EnvelopeMode mode, std::int64_t ingestion_ticks, json::Arena* arena,
                      json::Value* out);

// What a transport told about a message (HTTP headers, Kafka headers and
// timestamp, MQTT topic and user properties): servers build the envelope
// from it (formats.md). A name given once becomes a string member; a name
// given more than once (a repeated header or user property) one member with
// the array of its values, in their order.
struct TransportInfo {
  std::vector<std::pair<std::string, std::string>> properties;         // -> Properties
  std::vector<std::pair<std::string, std::string>> system_properties;  // -> SystemProperties
  std::int64_t enqueued_ticks = 0;                                     // -> SystemProperties.x-opt-enqueued-time
};

// The event text for a message a server received, as `--envelope auto`
// would see it: a message that is an envelope is taken as it is; any other
// JSON message becomes the Body of an envelope built from `info`; text that
// is not JSON is returned unchanged (processing dead-letters it as
// NotSupported, with the text). `scratch` is only parsed into.
std::string BuildEventText(std::string_view message, const TransportInfo& info, json::Document* scratch);

// An event as a source received it, ready for the pipeline: its text (an
// envelope, or text that is not JSON, which processing dead-letters), where
// it came from, and when it was received (the broker's time for Kafka).
struct ReceivedEvent {
  std::string text;
  InputLocation location;
  std::int64_t ingestion_ticks = 0;
};

// The enqueued time an envelope carries (SystemProperties x-opt-enqueued-time
// or iothub-enqueuedtime), which is the event's ingestion time.
std::optional<std::int64_t> EnqueuedTime(const json::Value& envelope);

}  // namespace iomt::ingest
