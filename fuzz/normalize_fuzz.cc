// Fuzzes normalization of arbitrary messages with a mapping that uses every
// template type (JSONPath, IoT Hub, IoT Central, CalculatedContent with
// JMESPath): a message must give measurements or an error record.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/event.h"
#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/measurement.h"
#include "ingest/envelope.h"
#include "normalize/normalizer.h"

namespace {

const char* kMapping = R"j({"templateType": "CollectionContent", "template": [
  {"templateType": "JsonPathContent", "template": {"typeName": "hr", "typeMatchExpression": "$..[?(@heartrate)]",
    "deviceIdExpression": "$.deviceid", "patientIdExpression": "$.patientid", "timestampExpression": "$.time",
    "values": [{"valueName": "hr", "valueExpression": "$.heartrate", "required": true}]}},
  {"templateType": "JsonPathContent", "template": {"typeName": "bp", "typeMatchExpression": "$..[?(@systolic && @diastolic || @bp)]",
    "deviceIdExpression": "$.deviceid", "timestampExpression": "$.time", "correlationIdExpression": "$.session",
    "values": [{"valueName": "s", "valueExpression": "$.systolic"}, {"valueName": "d", "valueExpression": "$.diastolic"}]}},
  {"templateType": "IotJsonPathContent", "template": {"typeName": "iot", "typeMatchExpression": "$..[?(@Body.hr)]",
    "patientIdExpression": "$.Body.patient", "values": [{"valueName": "hr", "valueExpression": "$.Body.hr"}]}},
  {"templateType": "IotCentralJsonPathContent", "template": {"typeName": "central", "typeMatchExpression": "$..[?(@telemetry)]",
    "values": [{"valueName": "x", "valueExpression": "$.telemetry.x"}]}},
  {"templateType": "CalculatedContent", "template": {"typeName": "calc", "defaultExpressionLanguage": "JmesPath",
    "typeMatchExpression": "Body.readings[?v]", "deviceIdExpression": "Body.device",
    "timestampExpression": "fromUnixTimestampMs(matchedToken.ms)",
    "values": [{"valueName": "v", "valueExpression": "multiply(matchedToken.v, `2`)"},
               {"valueName": "j", "valueExpression": {"value": "$.matchedToken.v", "language": "JsonPath"}}]}}
]})j";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const iomt::normalize::DeviceMapping mapping = iomt::normalize::LoadDeviceMapping(kMapping).mapping;
  static iomt::normalize::Normalizer normalizer(mapping);
  static iomt::json::Document doc;
  iomt::json::Arena arena;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!doc.Parse(text).ok()) return 0;
  iomt::Event event;
  for (auto mode : {iomt::ingest::EnvelopeMode::kAuto, iomt::ingest::EnvelopeMode::kNone}) {
    if (!iomt::ingest::MakeEventValue(doc.root(), mode, 0, &arena, &event.value).ok()) continue;
    const iomt::normalize::NormalizeResult& r = normalizer.Normalize(event, 0);
    std::string out;
    for (const iomt::Measurement& m : r.measurements)
      iomt::AppendMeasurementJson(&out, m);
    if (r.error) iomt::AppendErrorRecordJson(&out, *r.error);
  }
  return 0;
}
