// The normalizer on events as the pipeline gives them (envelopes), with the
// behaviours iomt-fhir's users rely on and the error records iomt adds.
#include "normalize/normalizer.h"

#include <gtest/gtest.h>

#include <string>

#include "common/datetime.h"
#include "common/json/arena.h"
#include "common/measurement.h"
#include "ingest/envelope.h"
#include "test_util.h"

namespace iomt::normalize {
namespace {

using json::Value;

DeviceMapping Load(const std::string& templates) {
  LoadResult r = LoadDeviceMapping(R"({"templateType": "CollectionContent", "template": [)" + templates + "]}");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.errors.front().message);
  return std::move(r.mapping);
}

// Normalizes one line (wrapped as the pipeline does in --envelope auto) and
// renders the measurements as their JSON lines, or "error Name: message".
std::string NormalizeLine(const DeviceMapping& mapping, const std::string& line) {
  static json::Arena arena;
  Event event;
  event.ingestion_ticks = datetime::ToTicks({2020, 1, 1});
  event.location.line = 7;
  Status st = ingest::MakeEventValue(testing::ParseOrDie(line), ingest::EnvelopeMode::kAuto, event.ingestion_ticks,
                                     &arena, &event.value);
  if (!st.ok()) return "envelope error: " + st.message();
  Normalizer normalizer(mapping);
  const NormalizeResult& r = normalizer.Normalize(event, 0);
  std::string out;
  for (const Measurement& m : r.measurements) {
    AppendMeasurementJson(&out, m);
    out += "\n";
  }
  if (r.error) out += "error " + std::string(Describe(r.error->name).name) + ": " + r.error->message;
  return out;
}

const char* kWearable = R"({"templateType": "JsonPathContent", "template": {
    "typeName": "heartrate", "typeMatchExpression": "$..[?(@heartrate)]", "deviceIdExpression": "$.deviceid",
    "patientIdExpression": "$.patientid", "timestampExpression": "$.measurementdatetime",
    "values": [{"valueName": "hr", "valueExpression": "$.heartrate", "required": true}]}})";

TEST(Normalizer, WrapsBareMessagesInTheEnvelopeMappingsExpect) {
  DeviceMapping mapping = Load(kWearable);
  EXPECT_EQ(
      NormalizeLine(
          mapping,
          R"({"heartrate": 65, "deviceid": "d1", "patientid": "p1", "measurementdatetime": "2023-10-09T19:18:23+00:00"})"),
      R"({"Type":"heartrate","OccurrenceTimeUtc":"2023-10-09T19:18:23Z","IngestionTimeUtc":"2020-01-01T00:00:00Z",)"
      R"("DeviceId":"d1","PatientId":"p1","EncounterId":null,"CorrelationId":null,"Properties":[{"Name":"hr","Value":"65"}]})"
      "\n");
}

TEST(Normalizer, ConvertsValuesAsJsonNetDoes) {
  DeviceMapping mapping = Load(R"({"templateType": "JsonPathContent", "template": {
    "typeName": "t", "typeMatchExpression": "$..[?(@d)]", "deviceIdExpression": "$.d", "timestampExpression": "$.t",
    "values": [{"valueName": "float", "valueExpression": "$.f"}, {"valueName": "int", "valueExpression": "$.i"},
               {"valueName": "bool", "valueExpression": "$.b"}, {"valueName": "date", "valueExpression": "$.t"},
               {"valueName": "tiny", "valueExpression": "$.tiny"}, {"valueName": "empty", "valueExpression": "$.e"},
               {"valueName": "object", "valueExpression": "$.o"}, {"valueName": "null", "valueExpression": "$.n"}]}})");
  std::string out = NormalizeLine(mapping, R"({"d": 42, "t": "2019-02-01T22:46:01.875Z", "f": 70.0, "i": 70, "b": true,
                                    "tiny": 0.00001, "e": "", "o": {"x": 1}, "n": null})");
  // Numbers as .NET prints them, True, dates as MM/dd/yyyy HH:mm:ss, "" kept,
  // objects and nulls dropped; the device id 42 becomes "42".
  EXPECT_NE(out.find(R"("DeviceId":"42")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("Properties":[{"Name":"float","Value":"70"},{"Name":"int","Value":"70"},)"
                     R"({"Name":"bool","Value":"True"},{"Name":"date","Value":"02/01/2019 22:46:01"},)"
                     R"({"Name":"tiny","Value":"1E-05"},{"Name":"empty","Value":""}])"),
            std::string::npos)
      << out;
}

TEST(Normalizer, IotHubTimestampFallsBackToTheEnqueuedTime) {
  DeviceMapping mapping = Load(R"({"templateType": "IotJsonPathContent", "template": {
    "typeName": "hr", "typeMatchExpression": "$..[?(@Body.hr)]",
    "values": [{"valueName": "hr", "valueExpression": "$.Body.hr", "required": true}]}})");
  auto envelope = [](const std::string& creation) {
    return R"({"Body": {"hr": 60}, "Properties": {)" + creation +
           R"(}, "SystemProperties": {"iothub-connection-device-id": "dev", "iothub-enqueuedtime": "2019-02-01T22:46:01.875Z"}})";
  };
  const char* kEnqueued = R"("OccurrenceTimeUtc":"2019-02-01T22:46:01.875Z")";
  EXPECT_NE(NormalizeLine(mapping, envelope(R"("iothub-creation-time-utc": "2019-01-30T22:45:02Z")"))
                .find("2019-01-30T22:45:02Z"),
            std::string::npos);
  EXPECT_NE(NormalizeLine(mapping, envelope("")).find(kEnqueued), std::string::npos);  // absent
  EXPECT_NE(NormalizeLine(mapping, envelope(R"("iothub-creation-time-utc": null)")).find(kEnqueued),
            std::string::npos);  // null
  EXPECT_NE(NormalizeLine(mapping, envelope(R"("iothub-creation-time-utc": " ")")).find(kEnqueued),
            std::string::npos);  // blank
  EXPECT_NE(NormalizeLine(mapping, envelope(R"("iothub-creation-time-utc": "soon")")).find(kEnqueued),
            std::string::npos);  // bad
}

TEST(Normalizer, AFailingEventYieldsNoMeasurementsAndOneRecord) {
  // The first template matches; the second fails: nothing of the event is
  // emitted (iomt-fhir would emit the first measurement), so that replaying
  // the dead-lettered event after the fix gives the complete set.
  DeviceMapping mapping = Load(std::string(kWearable) + R"(, {"templateType": "JsonPathContent", "template": {
    "typeName": "steps", "typeMatchExpression": "$..[?(@heartrate)]", "deviceIdExpression": "$.deviceid",
    "timestampExpression": "$.measurementdatetime",
    "values": [{"valueName": "steps", "valueExpression": "$.steps", "required": true}]}})");
  EXPECT_EQ(
      NormalizeLine(mapping, R"({"heartrate": 65, "deviceid": "d1", "measurementdatetime": "2023-10-09T19:18:23Z"})"),
      "error IncompatibleDataException: Unable to extract required value for [steps] using $.steps");
}

TEST(Normalizer, NamesErrorsAsTheCatalogueDoes) {
  DeviceMapping mapping = Load(kWearable);
  EXPECT_EQ(NormalizeLine(mapping, R"({"heartrate": 65, "measurementdatetime": "2023-10-09T19:18:23Z"})"),
            "error DeviceIdentityNotDefinedException: Unable to extract required value for [DeviceIdExpression] using "
            "$.deviceid");
  EXPECT_EQ(
      NormalizeLine(mapping, R"({"heartrate": 65, "deviceid": "", "measurementdatetime": "2023-10-09T19:18:23Z"})"),
      "error DeviceIdentityNotDefinedException: Unable to extract required value for [DeviceIdExpression]: A "
      "null or empty value was supplied for the required field [DeviceIdExpression]");
  EXPECT_EQ(NormalizeLine(mapping, R"({"heartrate": 65, "deviceid": "d", "measurementdatetime": 1626799080})"),
            "error IncompatibleDataException: Unable to extract required value for [TimestampExpression]: Encounted "
            "an error while extracting value for [TimestampExpression] using expression $.measurementdatetime: "
            "Invalid cast from 'Int64' to 'DateTime'.");
  EXPECT_EQ(NormalizeLine(
                mapping, R"({"heartrate": 65, "deviceid": ["a", "b"], "measurementdatetime": "2023-10-09T19:18:23Z"})"),
            "error DeviceIdentityNotDefinedException: Unable to extract required value for [DeviceIdExpression]: "
            "Encounted an error while extracting value for [DeviceIdExpression] using expression $.deviceid: Cannot "
            "cast JArray to String.");
  EXPECT_EQ(NormalizeLine(mapping, R"({"other": 1})"),
            "error UnmatchedDeviceMessage: No template of the device mapping matched the message.");
  DeviceMapping several = Load(R"({"templateType": "JsonPathContent", "template": {
    "typeName": "hr", "typeMatchExpression": "$..[?(@hr)]", "deviceIdExpression": "$..d", "timestampExpression": "$.t"}})");
  EXPECT_EQ(NormalizeLine(several, R"({"hr": 1, "d": "a", "x": {"d": "b"}, "t": "2023-10-09T19:18:23Z"})"),
            "error TemplateExpressionException: Unable to retrieve JsonToken using expression $..d: Path returned "
            "multiple tokens.");
}

TEST(Normalizer, EveryMatchInDocumentOrderAndEveryTemplateInMappingOrder) {
  DeviceMapping mapping = Load(R"j({"templateType": "CalculatedContent", "template": {
      "typeName": "hr", "typeMatchExpression": "$..[?(@hr)]", "deviceIdExpression": "$.Body.device",
      "timestampExpression": "$.matchedToken.t", "values": [{"valueName": "hr", "valueExpression": "$.matchedToken.hr"}]}},
    {"templateType": "CalculatedContent", "template": {
      "typeName": "first", "defaultExpressionLanguage": "JmesPath", "typeMatchExpression": "Body.readings[0]",
      "deviceIdExpression": "Body.device", "timestampExpression": "fromUnixTimestamp(matchedToken.s)"}})j");
  std::string out = NormalizeLine(mapping, R"({"Body": {"device": "d", "readings": [
      {"hr": 60, "t": "2023-10-09T19:00:00Z", "s": 0}, {"hr": 61, "t": "2023-10-09T19:01:00Z"}], "matchedToken": "x"}})");
  EXPECT_EQ(
      out,
      R"({"Type":"hr","OccurrenceTimeUtc":"2023-10-09T19:00:00Z","IngestionTimeUtc":"2020-01-01T00:00:00Z","DeviceId":"d","PatientId":null,"EncounterId":null,"CorrelationId":null,"Properties":[{"Name":"hr","Value":"60"}]})"
      "\n"
      R"({"Type":"hr","OccurrenceTimeUtc":"2023-10-09T19:01:00Z","IngestionTimeUtc":"2020-01-01T00:00:00Z","DeviceId":"d","PatientId":null,"EncounterId":null,"CorrelationId":null,"Properties":[{"Name":"hr","Value":"61"}]})"
      "\n"
      R"({"Type":"first","OccurrenceTimeUtc":"1970-01-01T00:00:00Z","IngestionTimeUtc":"2020-01-01T00:00:00Z","DeviceId":"d","PatientId":null,"EncounterId":null,"CorrelationId":null,"Properties":[]})"
      "\n");
}

TEST(Normalizer, RefusesEventsThatAreNotObjects) {
  DeviceMapping mapping = Load(kWearable);
  EXPECT_EQ(NormalizeLine(mapping, R"({"Body": "text"})"),
            "envelope error: The event Body must be a JSON object or array; got string.");
  EXPECT_EQ(NormalizeLine(mapping, "42"),
            "envelope error: The event Body must be a JSON object or array; got integer.");
  Event event;
  event.value = testing::ParseOrDie("[1, 2]");
  Normalizer normalizer(mapping);
  const NormalizeResult& r = normalizer.Normalize(event, 0);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->name, ErrorName::kNotSupported);
}

TEST(Normalizer, SkipsTemplatesThatCannotMatchWithoutChangingResults) {
  // 100 templates, one of which matches: the same result as with that one.
  std::string many;
  for (int i = 0; i < 100; ++i) {
    if (i > 0) many += ",";
    many += R"({"templateType": "IotJsonPathContent", "template": {"typeName": "v)" + std::to_string(i) +
            R"(", "typeMatchExpression": "$..[?(@Body.v)" + std::to_string(i) +
            R"()]", "values": [{"valueName": "x", "valueExpression": "$.Body.v)" + std::to_string(i) + R"("}]}})";
  }
  DeviceMapping mapping = Load(many);
  std::string out = NormalizeLine(
      mapping, R"({"Body": {"v42": 1, "v7": 2}, "Properties": {"iothub-creation-time-utc": "2023-10-09T19:00:00Z"},
                                    "SystemProperties": {"iothub-connection-device-id": "d"}})");
  EXPECT_NE(out.find(R"("Type":"v7")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("Type":"v42")"), std::string::npos) << out;
  EXPECT_LT(out.find(R"("Type":"v7")"), out.find(R"("Type":"v42")"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
}

}  // namespace
}  // namespace iomt::normalize

namespace iomt::normalize {
namespace {

TEST(Normalizer, ManyFloatValuesInOneEventKeepTheirOwnText) {
  // Float texts are cached between events; values of one event must not
  // share (or overwrite) each other's text.
  std::string values, message = R"({"d": "dev", "t": "2023-10-09T19:00:00Z")";
  for (int i = 0; i < 300; ++i) {
    if (i > 0) values += ",";
    values += R"({"valueName": "v)" + std::to_string(i) + R"(", "valueExpression": "$.v)" + std::to_string(i) + R"("})";
    message += ", \"v" + std::to_string(i) + "\": " + std::to_string(i) + ".25";
  }
  message += "}";
  DeviceMapping mapping = Load(R"({"templateType": "JsonPathContent", "template": {"typeName": "t",
      "typeMatchExpression": "$..[?(@d)]", "deviceIdExpression": "$.d", "timestampExpression": "$.t", "values": [)" +
                               values + "]}}");
  std::string out = NormalizeLine(mapping, message);
  for (int i = 0; i < 300; ++i) {
    std::string want = R"({"Name":"v)" + std::to_string(i) + R"(","Value":")" + std::to_string(i) + R"(.25"})";
    ASSERT_NE(out.find(want), std::string::npos) << want;
  }
}

}  // namespace
}  // namespace iomt::normalize
