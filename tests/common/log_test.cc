// The service's log (common/log.h): the JSON a log shipper reads, the text
// a person reads, levels, the journal's priorities, and the rate limit of
// repeated events.
#include "common/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <string>
#include <thread>
#include <vector>

#include "common/json/document.h"

namespace iomt::log {
namespace {

// Captures what the log writes, through a pipe, and puts the defaults back.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::pipe2(fds_.data(), O_NONBLOCK), 0); }
  void TearDown() override {
    Configure(Options{}, false);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void Use(Level level, Format format, bool journal = false) {
    Options options;
    options.level = level;
    options.format = format;
    options.fd = fds_[1];
    options.journal_priority = journal;
    Configure(options, false);
  }
  std::string Written() {
    std::string out;
    std::array<char, 4096> buf{};
    ssize_t n = 0;
    while ((n = ::read(fds_[0], buf.data(), buf.size())) > 0)
      out.append(buf.data(), static_cast<std::size_t>(n));
    return out;
  }

  std::array<int, 2> fds_{};
};

TEST_F(LogTest, JsonLinesCarryTheFieldsEscaped) {
  Use(Level::kInfo, Format::kJson);
  std::string offset;
  Warn("event not carried through", {{kConnector, "ward"},
                                     {kStage, "Normalization"},
                                     {kError, "IncompatibleDataException"},
                                     {kRequestId, "r\"1\n"},
                                     Number("offset", 42, &offset)});
  const std::string out = Written();
  ASSERT_EQ(out.back(), '\n');
  ASSERT_EQ(out.find('\n'), out.size() - 1) << "one line: " << out;
  auto doc = json::ParseDocument(out);
  ASSERT_TRUE(doc.ok()) << out;
  const json::Value root = (*doc)->root();
  json::Value v;
  ASSERT_TRUE(root.Find("level", &v));
  EXPECT_EQ(v.string_value(), "warn");
  ASSERT_TRUE(root.Find("message", &v));
  EXPECT_EQ(v.string_value(), "event not carried through");
  ASSERT_TRUE(root.Find("connector", &v));
  EXPECT_EQ(v.string_value(), "ward");
  ASSERT_TRUE(root.Find("error", &v));
  EXPECT_EQ(v.string_value(), "IncompatibleDataException");
  ASSERT_TRUE(root.Find("request_id", &v));
  EXPECT_EQ(v.string_value(), "r\"1\n");
  ASSERT_TRUE(root.Find("offset", &v));
  ASSERT_TRUE(v.is_integer()) << "a number field is a JSON number";
  EXPECT_EQ(v.int_value(), 42);
  EXPECT_TRUE(root.Has("time"));
  EXPECT_EQ(out.substr(0, 9), "{\"time\":\"");
}

TEST_F(LogTest, TextLinesQuoteOnlyWhatWouldSplit) {
  Use(Level::kInfo, Format::kText);
  Info("mappings reloaded\nagain", {{kConnector, "ward"}, {"reason", "a b=c"}, {"empty", ""}});
  const std::string out = Written();
  // "2026-12-07T12:00:00.123Z info ..." : the time, then the level.
  const std::size_t space = out.find(' ');
  ASSERT_NE(space, std::string::npos);
  EXPECT_EQ(out[space - 1], 'Z') << out;
  EXPECT_EQ(out.substr(space), " info mappings reloaded again connector=ward reason=\"a b=c\" empty=\"\"\n");
}

TEST_F(LogTest, LevelsBelowTheSettingAreNotWritten) {
  Use(Level::kWarn, Format::kText);
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  Debug("d");
  Info("i");
  Warn("w");
  Error("e");
  const std::string out = Written();
  EXPECT_EQ(out.find(" debug "), std::string::npos);
  EXPECT_EQ(out.find(" info "), std::string::npos);
  EXPECT_NE(out.find(" warn w\n"), std::string::npos);
  EXPECT_NE(out.find(" error e\n"), std::string::npos);
}

TEST_F(LogTest, UnderTheJournalTextLinesCarryTheSyslogPriorityAndNoTime) {
  Use(Level::kDebug, Format::kText, true);
  Debug("d");
  Info("i");
  Warn("w");
  Error("e");
  EXPECT_EQ(Written(), "<7>debug d\n<6>info i\n<4>warn w\n<3>error e\n");
  // JSON lines are one object each: no prefix, whatever the journal.
  Use(Level::kDebug, Format::kJson, true);
  Info("i");
  EXPECT_EQ(Written().substr(0, 2), "{\"");
}

TEST_F(LogTest, TheJournalIsFoundByItsStreamIdentity) {
  // systemd sets JOURNAL_STREAM to the device and inode of the stream it
  // gave the service; a pipe of our own is not it until the variable says so.
  struct stat st {};
  ASSERT_EQ(::fstat(fds_[1], &st), 0);
  Options options;
  options.fd = fds_[1];
  ::unsetenv("JOURNAL_STREAM");
  Configure(options, true);
  Info("i");
  EXPECT_NE(Written().substr(0, 3), "<6>");
  const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
  Configure(options, true);
  Info("i");
  EXPECT_EQ(Written(), "<6>info i\n");
  ::unsetenv("JOURNAL_STREAM");
}

TEST_F(LogTest, LinesOfSeveralThreadsNeverInterleave) {
  Use(Level::kInfo, Format::kJson);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      const std::string connector(200, static_cast<char>('a' + t));
      for (int i = 0; i < 25; ++i)
        Info("x", {{kConnector, connector}});
    });
  }
  for (std::thread& t : threads)
    t.join();
  const std::string out = Written();
  std::size_t lines = 0;
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t end = out.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_TRUE(json::ParseDocument(std::string_view(out).substr(start, end - start)).ok());
    ++lines;
    start = end + 1;
  }
  EXPECT_EQ(lines, 100U);
}

TEST(LogOptions, NamesParse) {
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("warning"), Level::kWarn);
  EXPECT_FALSE(ParseLevel("verbose").ok());
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_FALSE(ParseFormat("xml").ok());
  EXPECT_EQ(LevelName(Level::kError), "error");
}

TEST(LogText, UrlQueriesAreLeftOut) {
  EXPECT_EQ(WithoutQueries("GET /fhir/Device?identifier=dev-1&_count=2 failed after 5 attempts"),
            "GET /fhir/Device?... failed after 5 attempts");
  EXPECT_EQ(WithoutQueries("(https://h/fhir/Patient?identifier=p|1) and \"/x?a=1\""),
            "(https://h/fhir/Patient?...) and \"/x?...\"");
  EXPECT_EQ(WithoutQueries("is it? yes ?"), "is it? yes ?");
  EXPECT_EQ(WithoutQueries("no url here"), "no url here");
}

TEST(LogRateLimit, LetsTheBurstThroughThenCountsWhatItHoldsBack) {
  RateLimit limit(/*per_second=*/0.001, /*burst=*/3);
  std::int64_t suppressed = -1;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limit.Allow(&suppressed));
    EXPECT_EQ(suppressed, 0);
  }
  for (int i = 0; i < 5; ++i)
    EXPECT_FALSE(limit.Allow(&suppressed));
}

TEST(LogRateLimit, TheNextLineLetThroughCountsTheHeldBack) {
  RateLimit limit(/*per_second=*/20, /*burst=*/1);
  std::int64_t suppressed = -1;
  ASSERT_TRUE(limit.Allow(&suppressed));
  int held = 0;
  while (!limit.Allow(&suppressed))
    ++held;
  EXPECT_GT(held, 0);
  EXPECT_EQ(suppressed, held);
}

}  // namespace
}  // namespace iomt::log
