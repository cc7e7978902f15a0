#include "ingest/line_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/datetime.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "ingest/envelope.h"
#include "test_util.h"

namespace iomt::ingest {
namespace {

struct Got {
  std::string text;
  std::int64_t number;
  bool too_long;
};

// Feeds `input` through a pipe, in small writes, and reads it back.
std::vector<Got> ReadAll(const std::string& input, std::size_t max_line = LineReader::kDefaultMaxLine) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  std::thread writer([&] {
    for (std::size_t i = 0; i < input.size(); i += 7000) {
      std::size_t n = std::min<std::size_t>(7000, input.size() - i);
      EXPECT_EQ(::write(fds[1], input.data() + i, n), static_cast<ssize_t>(n));
    }
    ::close(fds[1]);
  });
  LineReader reader(fds[0], max_line);
  std::vector<Got> out;
  LineReader::Line line;
  json::Document doc;
  while (reader.Next(&line)) {
    // Lines are parsed in place, the padding after them being readable (the
    // sanitizer build checks the reads).
    if (!line.text.empty() && line.text.front() == '{') {
      EXPECT_TRUE(doc.ParsePadded(line.text.data(), line.text.size()).ok()) << line.text;
    }
    out.push_back({std::string(line.text), line.number, line.too_long});
  }
  EXPECT_TRUE(reader.status().ok());
  writer.join();
  ::close(fds[0]);
  return out;
}

TEST(LineReader, SplitsLinesAndStripsCarriageReturns) {
  auto lines = ReadAll("a\r\n\nb\nc");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text, "a");
  EXPECT_EQ(lines[1].text, "");
  EXPECT_EQ(lines[2].text, "b");
  EXPECT_EQ(lines[3].text, "c");  // the last line needs no newline
  EXPECT_EQ(lines[3].number, 4);
}

TEST(LineReader, SkipsLinesOverTheLimitWithoutHoldingThem) {
  std::string big(3'000'000, 'x');
  auto lines = ReadAll("first\n" + big + "\nlast\n" + big, 1 << 20);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text, "first");
  EXPECT_TRUE(lines[1].too_long);
  EXPECT_EQ(lines[1].number, 2);
  EXPECT_EQ(lines[2].text, "last");
  EXPECT_TRUE(lines[3].too_long);
}

TEST(LineReader, HandlesManyLinesAcrossChunks) {
  std::string input;
  for (int i = 0; i < 200000; ++i)
    input += "{\"i\":" + std::to_string(i) + "}\n";
  auto lines = ReadAll(input);
  ASSERT_EQ(lines.size(), 200000u);
  EXPECT_EQ(lines[123456].text, "{\"i\":123456}");
  EXPECT_EQ(lines[123456].number, 123457);
}

TEST(Envelope, ModesDecideWhatTheMappingSees) {
  json::Arena arena;
  json::Value out;
  json::Value envelope =
      testing::ParseOrDie(R"({"Body": {"a": 1}, "SystemProperties": {"x-opt-enqueued-time": "2020-01-01T00:00:00Z"}})");
  json::Value bare = testing::ParseOrDie(R"({"a": 1})");
  ASSERT_TRUE(MakeEventValue(envelope, EnvelopeMode::kAuto, 0, &arena, &out).ok());
  EXPECT_TRUE(out.SameNode(envelope));
  ASSERT_TRUE(MakeEventValue(bare, EnvelopeMode::kAuto, 0, &arena, &out).ok());
  EXPECT_TRUE(out.Has("Body") && out.Has("Properties") && out.Has("SystemProperties"));
  json::Value system;
  ASSERT_TRUE(out.Find("SystemProperties", &system));
  json::Value enqueued;
  ASSERT_TRUE(system.Find("x-opt-enqueued-time", &enqueued));
  EXPECT_TRUE(enqueued.is_date());
  ASSERT_TRUE(MakeEventValue(envelope, EnvelopeMode::kWrap, 0, &arena, &out).ok());
  EXPECT_FALSE(out.SameNode(envelope));
  EXPECT_FALSE(MakeEventValue(bare, EnvelopeMode::kEvent, 0, &arena, &out).ok());
  ASSERT_TRUE(MakeEventValue(bare, EnvelopeMode::kNone, 0, &arena, &out).ok());
  EXPECT_TRUE(out.SameNode(bare));
  EXPECT_EQ(EnqueuedTime(envelope), datetime::ToTicks({2020, 1, 1}));
  EXPECT_FALSE(ParseEnvelopeMode("sometimes").ok());
}

// The Properties of the envelope BuildEventText builds for a message with
// these transport properties, as compact JSON.
std::string PropertiesOf(const std::vector<std::pair<std::string, std::string>>& properties,
                         std::string* system = nullptr,
                         const std::vector<std::pair<std::string, std::string>>& system_properties = {}) {
  json::Document scratch;
  TransportInfo info{properties, system_properties, datetime::ToTicks({2020, 1, 1})};
  json::Value envelope = testing::ParseOrDie(BuildEventText(R"({"hr": 78})", info, &scratch));
  json::Value out;
  EXPECT_TRUE(IsEnvelope(envelope));
  if (system != nullptr && envelope.Find("SystemProperties", &out)) *system = json::ToJson(out);
  return envelope.Find("Properties", &out) ? json::ToJson(out) : "(none)";
}

TEST(Envelope, TransportPropertiesGivenOnceAreStrings) {
  EXPECT_EQ(PropertiesOf({}), "{}");
  EXPECT_EQ(PropertiesOf({{"site", "north"}}), R"({"site":"north"})");
  EXPECT_EQ(PropertiesOf({{"site", "north"}, {"ward", "3A"}}), R"({"site":"north","ward":"3A"})");
  // Names differ by case: two members, as the transports gave them.
  EXPECT_EQ(PropertiesOf({{"Site", "a"}, {"site", "b"}}), R"({"Site":"a","site":"b"})");
}

TEST(Envelope, ARepeatedTransportPropertyKeepsAllItsValuesInOrder) {
  // MQTT v5 user properties (and HTTP and Kafka headers) may repeat a name.
  EXPECT_EQ(PropertiesOf({{"ward", "3A"}, {"ward", "3B"}}), R"({"ward":["3A","3B"]})");
  // The member stays at the name's first place; the others keep theirs.
  EXPECT_EQ(PropertiesOf({{"k", "1"}, {"site", "north"}, {"k", "2"}, {"z", ""}, {"k", "3"}}),
            R"({"k":["1","2","3"],"site":"north","z":""})");
  EXPECT_EQ(PropertiesOf({{"b", "1"}, {"a", "x"}, {"b", "2"}, {"a", "y"}}), R"({"b":["1","2"],"a":["x","y"]})");
  // Equal values are kept too: each was sent.
  EXPECT_EQ(PropertiesOf({{"tag", "x"}, {"tag", "x"}}), R"({"tag":["x","x"]})");
  // Values are escaped as strings in the array as well.
  EXPECT_EQ(PropertiesOf({{"q", "say \"hi\""}, {"q", "a\\b"}}), R"({"q":["say \"hi\"","a\\b"]})");
}

TEST(Envelope, ManyRepeatedPropertiesStayInOrder) {
  std::vector<std::pair<std::string, std::string>> properties;
  std::string expected_k = "[", expected_j = "[";
  for (int i = 0; i < 2000; ++i) {
    const std::string v = std::to_string(i);
    properties.emplace_back(i % 2 == 0 ? "k" : "j", v);
    std::string& expected = i % 2 == 0 ? expected_k : expected_j;
    expected.append(expected.size() > 1 ? "," : "").append("\"" + v + "\"");
  }
  EXPECT_EQ(PropertiesOf(properties), R"({"k":)" + expected_k + R"(],"j":)" + expected_j + "]}");
}

TEST(Envelope, RepeatedSystemPropertiesKeepAllTheirValuesToo) {
  std::string system;
  PropertiesOf({}, &system, {{"x-opt-partition-key", "a"}, {"x-opt-offset", "7"}, {"x-opt-partition-key", "b"}});
  json::Value v = testing::ParseOrDie(system);
  json::Value key, offset;
  ASSERT_TRUE(v.Find("x-opt-partition-key", &key) && v.Find("x-opt-offset", &offset)) << system;
  EXPECT_EQ(json::ToJson(key), R"(["a","b"])");
  EXPECT_EQ(json::ToJson(offset), R"("7")");
  EXPECT_TRUE(v.Has("x-opt-enqueued-time"));
}

TEST(Envelope, BuildEventTextTakesEnvelopesAndNonJsonAsTheyAre) {
  json::Document scratch;
  TransportInfo info{{{"site", "north"}, {"site", "south"}}, {}, 0};
  const std::string envelope = R"({"Body": {"a": 1}, "Properties": {"site": "east"}})";
  EXPECT_EQ(BuildEventText(envelope, info, &scratch), envelope);
  EXPECT_EQ(BuildEventText("not json", info, &scratch), "not json");
  // A wrapped message is one line, trimmed.
  EXPECT_EQ(BuildEventText(" {\"a\": 1}\n", info, &scratch).find('\n'), std::string::npos);
}

}  // namespace
}  // namespace iomt::ingest
