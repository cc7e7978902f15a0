// Every normalization case transcribed from iomt-fhir's unit tests
// (conformance/iomt-fhir/derived/normalization_cases.json), run as data: the
// template (inline, or a file of the fixtures), the input token passed to the
// mapping as it is (no envelope, as the unit tests do), and the expected
// measurements or error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/datetime.h"
#include "common/json/writer.h"
#include "normalize/device_mapping.h"
#include "normalize/normalizer.h"
#include "test_util.h"

namespace iomt::normalize {
namespace {

using json::Value;

const char* kRoot = "conformance/iomt-fhir/";

std::string Str(const Value& v) { return v.is_string() ? std::string(v.string_value()) : std::string(); }

std::optional<std::string> OptStr(const Value& obj, std::string_view key) {
  Value v;
  if (!obj.Find(key, &v) || v.is_null()) return std::nullopt;
  return Str(v);
}

// The error names a case's expected .NET exception may be reported as.
bool NameMatches(std::string_view expected_exception, ErrorName got, const std::string& message) {
  if (expected_exception == "IncompatibleDataException") {
    // errors.md names a missing device id DeviceIdentityNotDefinedException.
    if (got == ErrorName::kDeviceIdentityNotDefined) return message.find("[DeviceIdExpression]") != std::string::npos;
    return got == ErrorName::kIncompatibleData;
  }
  if (expected_exception == "TemplateExpressionException") return got == ErrorName::kTemplateExpression;
  return false;
}

// Runs one case; returns "" when it passes, else what differs.
std::string RunCase(const Value& c) {
  std::string mapping_text;
  Value v;
  if (c.Find("templateFile", &v)) {
    mapping_text = testing::ReadFile(testing::SourcePath(kRoot + Str(v)));
  } else if (c.Find("templateInline", &v)) {
    mapping_text = json::ToJson(v);
  } else if (c.Find("template", &v)) {
    mapping_text = R"({"templateType":"CollectionContent","template":[)" + json::ToJson(v) + "]}";
  } else {
    return "case has no template";
  }
  Value programmatic;
  bool lenient = c.Find("programmaticTemplate", &programmatic) && programmatic.bool_value();
  // The mixed-validity case evaluates the usable part of an invalid mapping.
  lenient = lenient || Str(c.ElementAt(0)).empty();
  LoadOptions options;
  options.keep_incomplete_templates = lenient;
  std::string id;
  if (c.Find("id", &v)) id = Str(v);
  if (id == "collection.mixed_validity.usable_part") options.keep_incomplete_templates = false;
  LoadResult loaded = LoadDeviceMapping(mapping_text, options);
  if (!loaded.ok() && !lenient && id != "collection.mixed_validity.usable_part") {
    return "mapping did not load: " + loaded.errors.front().ToIomtFhirString();
  }

  Value input;
  if (!c.Find("input", &input)) return "case has no input";
  Value file;
  if (input.is_object() && input.Find("$file", &file)) {
    input = testing::ParseOrDie(testing::ReadFile(testing::SourcePath(kRoot + Str(file))));
  } else {
    // Re-parse so that strings are message strings (dates read as Json.NET reads them).
    input = testing::ParseOrDie(json::ToJson(input));
  }
  Event event;
  event.value = input;
  Normalizer normalizer(loaded.mapping);
  const NormalizeResult& result = normalizer.Normalize(event, 0);

  Value expect;
  (void)c.Find("expect", &expect);
  Value error;
  if (expect.Find("error", &error)) {
    if (!result.error) return "expected an error, got " + std::to_string(result.measurements.size()) + " measurements";
    std::string exception = *OptStr(error, "exception");
    const std::string& msg = result.error->message;
    if (!NameMatches(exception, result.error->name, msg)) {
      return "expected " + exception + ", got " + std::string(Describe(result.error->name).name) + ": " + msg;
    }
    if (auto eq = OptStr(error, "messageEquals"); eq && msg != *eq) return "message '" + msg + "' != '" + *eq + "'";
    if (auto sw = OptStr(error, "messageStartsWith"); sw && msg.rfind(*sw, 0) != 0) {
      return "message '" + msg + "' does not start with '" + *sw + "'";
    }
    if (auto ct = OptStr(error, "messageContains"); ct && msg.find(*ct) == std::string::npos) {
      return "message '" + msg + "' does not contain '" + *ct + "'";
    }
    return "";
  }
  Value expected;
  (void)expect.Find("measurements", &expected);
  if (result.error && result.error->name != ErrorName::kUnmatchedDeviceMessage) {
    return "unexpected error " + std::string(Describe(result.error->name).name) + ": " + result.error->message;
  }
  if (expected.size() != result.measurements.size()) {
    return "expected " + std::to_string(expected.size()) + " measurements, got " +
           std::to_string(result.measurements.size());
  }
  std::size_t i = 0;
  for (Value e : expected.elements()) {
    const Measurement& m = result.measurements[i++];
    std::string where = "measurement " + std::to_string(i) + ": ";
    if (OptStr(e, "Type") != std::string(m.type)) return where + "Type " + std::string(m.type);
    std::int64_t want = 0;
    if (!datetime::ParseDateTime(*OptStr(e, "OccurrenceTimeUtc"), &want) || want != m.occurrence_ticks) {
      return where + "OccurrenceTimeUtc " + datetime::FormatIso(m.occurrence_ticks) +
             " != " + *OptStr(e, "OccurrenceTimeUtc");
    }
    auto same = [](const std::optional<std::string>& a, const std::optional<std::string_view>& b) {
      return a.has_value() == b.has_value() && (!a || *a == *b);
    };
    if (!same(OptStr(e, "DeviceId"), m.device_id)) return where + "DeviceId";
    if (!same(OptStr(e, "PatientId"), m.patient_id)) return where + "PatientId";
    if (!same(OptStr(e, "EncounterId"), m.encounter_id)) return where + "EncounterId";
    if (!same(OptStr(e, "CorrelationId"), m.correlation_id)) return where + "CorrelationId";
    Value props;
    (void)e.Find("Properties", &props);
    if (props.size() != m.properties.size()) {
      return where + std::to_string(m.properties.size()) + " properties, expected " + std::to_string(props.size());
    }
    std::size_t k = 0;
    for (Value p : props.elements()) {
      const MeasurementProperty& got = m.properties[k++];
      if (OptStr(p, "Name") != std::string(got.name) || OptStr(p, "Value") != std::string(got.value)) {
        return where + "property " + std::string(got.name) + "=" + std::string(got.value) + ", expected " +
               *OptStr(p, "Name") + "=" + *OptStr(p, "Value");
      }
    }
  }
  return "";
}

TEST(NormalizationConformance, EveryIomtFhirCasePasses) {
  Value doc = testing::ParseOrDie(
      testing::ReadFile(testing::SourcePath("conformance/iomt-fhir/derived/normalization_cases.json")));
  Value cases;
  ASSERT_TRUE(doc.Find("cases", &cases));
  int total = 0, passed = 0;
  std::string report;
  for (Value c : cases.elements()) {
    ++total;
    std::string failure = RunCase(c);
    if (failure.empty()) {
      ++passed;
    } else {
      report += "  " + *OptStr(c, "id") + ": " + failure + "\n";
    }
  }
  EXPECT_EQ(total, 91);
  EXPECT_EQ(passed, total) << "failing cases:\n" << report;
}

}  // namespace
}  // namespace iomt::normalize
