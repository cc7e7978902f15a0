// KafkaSource against librdkafka's mock cluster (real TCP on 127.0.0.1),
// started in-process by each test; the last tests run the test tools as
// processes. Waits are for conditions, with generous deadlines, never for
// fixed times. IOMT_KAFKA_TEST_LOG=1 prints librdkafka's log lines, and
// IOMT_KAFKA_TEST_DEBUG=cgrp,... sets librdkafka's `debug` property.
#include "ingest/kafka/kafka_source.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "produce_one.h"
#include "tls_util.h"

namespace iomt::ingest {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = std::chrono::seconds(30);

// A message as produced: where it goes and what it carries.
struct Outgoing {
  std::string payload;
  std::string key;
  std::int32_t partition = RD_KAFKA_PARTITION_UA;
  std::vector<std::pair<std::string, std::string>> headers;
  std::int64_t timestamp_ms = 0;  // 0: the producer's clock
};

// The mock cluster, in this process: its brokers listen on 127.0.0.1.
class MockCluster {
 public:
  explicit MockCluster(int brokers = 1) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // Its client has no bootstrap.servers and says so; that is expected.
    rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
    std::array<char, 512> errstr{};
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      ADD_FAILURE() << errstr.data();
      return;
    }
    cluster_ = rd_kafka_mock_cluster_new(rk_, brokers);
    EXPECT_NE(cluster_, nullptr);
  }
  ~MockCluster() {
    if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void CreateTopic(const std::string& name, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void SetTopicError(const std::string& name, rd_kafka_resp_err_t err) {
    rd_kafka_mock_topic_set_error(cluster_, name.c_str(), err);
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

void CountDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
  auto* counts = static_cast<std::pair<int, int>*>(opaque);
  (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? counts->first : counts->second)++;
}

// Produces `messages` to `topic` and waits until all are acknowledged.
void Produce(const std::string& bootstrap, const std::string& topic, const std::vector<Outgoing>& messages) {
  std::pair<int, int> counts{0, 0};  // delivered, failed
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> errstr{};
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr.data(), errstr.size()),
            RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_opaque(conf, &counts);
  rd_kafka_conf_set_dr_msg_cb(conf, &CountDelivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
  ASSERT_NE(rk, nullptr) << errstr.data();
  for (const Outgoing& m : messages) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(m.headers.size());
    for (const auto& [name, value] : m.headers) {
      // "null" stands for a header without a value.
      rd_kafka_header_add(headers, name.c_str(), -1, value == "null" ? nullptr : value.data(),
                          value == "null" ? 0 : static_cast<ssize_t>(value.size()));
    }
    iomt::testing::KafkaMessageOut out;
    out.topic = topic.c_str();
    out.partition = m.partition;
    out.value = m.payload;
    out.key = m.key;
    out.headers = headers;
    out.timestamp_ms = m.timestamp_ms;
    rd_kafka_resp_err_t err = iomt::testing::ProduceOne(rk, out);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(headers);
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  }
  const auto deadline = Clock::now() + kDeadline;
  while (counts.first + counts.second < static_cast<int>(messages.size()) && Clock::now() < deadline) {
    rd_kafka_flush(rk, 100);
  }
  rd_kafka_destroy(rk);
  ASSERT_EQ(counts.first, static_cast<int>(messages.size())) << counts.second << " failed";
}

// `per_partition` messages on each of `partitions` partitions, payload
// "<tag>-<partition>-<i>".
std::vector<Outgoing> Spread(const std::string& tag, int partitions, int per_partition) {
  std::vector<Outgoing> out;
  for (int i = 0; i < per_partition; ++i) {
    for (int p = 0; p < partitions; ++p) {
      Outgoing m;
      m.payload = tag + "-" + std::to_string(p) + "-" + std::to_string(i);
      m.partition = p;
      out.push_back(std::move(m));
    }
  }
  return out;
}

std::vector<std::string> PayloadsOf(const std::vector<Outgoing>& messages) {
  std::vector<std::string> payloads;
  payloads.reserve(messages.size());
  for (const auto& m : messages)
    payloads.push_back(m.payload);
  return payloads;
}

KafkaOptions Options(const std::string& bootstrap, const std::string& topic, const std::string& group) {
  KafkaOptions options;
  options.brokers = bootstrap;
  options.topic = topic;
  options.group = group;
  // A dead member is noticed within seconds, not the default 45. Not less:
  // librdkafka 2.0.2's mock holds a new group's first JoinGroup for 3 s and
  // expires members by session.timeout.ms meanwhile (a member with 2 s is
  // dropped before the group forms, and the join never completes).
  options.config = {{"session.timeout.ms", "4000"}, {"heartbeat.interval.ms", "300"}};
  if (const char* debug = std::getenv("IOMT_KAFKA_TEST_DEBUG")) options.config.emplace_back("debug", debug);
  if (std::getenv("IOMT_KAFKA_TEST_LOG") != nullptr) {
    options.log = [](int level, std::string_view facility, std::string_view message) {
      std::fprintf(stderr, "rdkafka %d %.*s: %.*s\n", level, static_cast<int>(facility.size()), facility.data(),
                   static_cast<int>(message.size()), message.data());
    };
  }
  return options;
}

std::unique_ptr<KafkaSource> OpenOrDie(const KafkaOptions& options) {
  auto source = KafkaSource::Open(options);
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  return source.ok() ? std::move(source).value() : nullptr;
}

// What one source has been given.
struct Seen {
  std::vector<KafkaMessage> messages;
  std::multiset<std::string> payloads;
};

// Polls every source in turn (each Poll waits up to 100 ms, then commits
// when `commit`) until `done` holds or the deadline passes; returns `done`.
bool PollUntil(const std::vector<KafkaSource*>& sources, std::vector<Seen>* seen, bool commit,
               const std::function<bool()>& done) {
  const auto deadline = Clock::now() + kDeadline;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    for (std::size_t i = 0; i < sources.size(); ++i) {
      auto batch = sources[i]->Poll(100, milliseconds(100));
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok()) return false;
      for (auto& m : *batch) {
        (*seen)[i].payloads.insert(m.payload);
        (*seen)[i].messages.push_back(std::move(m));
      }
      if (commit) {
        // A commit that meets a rebalance fails, as it should (the messages
        // come again), and polling goes on.
        Status status = sources[i]->Commit();
        EXPECT_TRUE(status.ok() || status.detail() == "rebalance") << status.ToString();
      }
    }
  }
  return true;
}

std::vector<std::int32_t> All(int partitions) {
  std::vector<std::int32_t> all(static_cast<std::size_t>(partitions));
  for (int p = 0; p < partitions; ++p)
    all[static_cast<std::size_t>(p)] = p;
  return all;
}

// Two sources in one group until each holds two of the topic's 4 partitions.
bool SplitInTwo(KafkaSource* a, KafkaSource* b, std::vector<Seen>* seen, bool commit = true) {
  return PollUntil({a, b}, seen, commit, [&] {
    auto pa = a->Assignment();
    auto pb = b->Assignment();
    std::vector<std::int32_t> both = pa;
    both.insert(both.end(), pb.begin(), pb.end());
    std::sort(both.begin(), both.end());
    return pa.size() == 2 && pb.size() == 2 && both == All(4);
  });
}

TEST(KafkaSource, MessagesCarryPayloadKeyHeadersTimestampPartitionAndOffsetAtMostMaxAPoll) {
  MockCluster cluster;
  cluster.CreateTopic("devices", 2);
  Outgoing first;
  first.payload = R"({"deviceId":"dev-1","heartRate":78})";
  first.key = "dev-1";
  first.partition = 1;
  first.headers = {
      {"iothub-creation-time-utc", "2024-05-01T10:00:00Z"}, {"no-value", "null"}, {"dup", "1"}, {"dup", "2"}};
  first.timestamp_ms = 1700000000123;
  Outgoing second;
  second.payload = "second";
  second.partition = 1;
  second.timestamp_ms = 1700000000456;
  Produce(cluster.bootstrap(), "devices", {first, second});

  auto source = OpenOrDie(Options(cluster.bootstrap(), "devices", "fields"));
  ASSERT_NE(source, nullptr);
  std::vector<Seen> seen(1);
  ASSERT_TRUE(PollUntil({source.get()}, &seen, false, [&] { return seen[0].messages.size() >= 2; }));
  ASSERT_EQ(seen[0].messages.size(), 2u);
  const KafkaMessage& m = seen[0].messages[0];
  EXPECT_EQ(m.payload, first.payload);
  EXPECT_EQ(m.key, "dev-1");
  using Headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(
      m.headers,
      (Headers{{"iothub-creation-time-utc", "2024-05-01T10:00:00Z"}, {"no-value", ""}, {"dup", "1"}, {"dup", "2"}}));
  EXPECT_EQ(m.timestamp_ms, 1700000000123);
  EXPECT_EQ(m.partition, 1);
  EXPECT_EQ(m.offset, 0);
  const KafkaMessage& n = seen[0].messages[1];
  EXPECT_EQ(n.payload, "second");
  EXPECT_EQ(n.key, "");
  EXPECT_TRUE(n.headers.empty());
  EXPECT_EQ(n.timestamp_ms, 1700000000456);
  EXPECT_EQ(n.offset, 1);
  EXPECT_EQ(source->Assignment(), All(2));

  // Poll returns at most `max`, the rest next time, in order, none twice.
  const auto more = Spread("m", 1, 10);
  Produce(cluster.bootstrap(), "devices", more);
  std::vector<std::string> payloads;
  const auto deadline = Clock::now() + kDeadline;
  while (payloads.size() < more.size() && Clock::now() < deadline) {
    auto batch = source->Poll(3, milliseconds(200));
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    EXPECT_LE(batch->size(), 3u);
    for (const auto& message : *batch)
      payloads.push_back(message.payload);
  }
  EXPECT_EQ(payloads, PayloadsOf(more));
}

// Without a commit a new consumer in the group gets the messages again;
// after one, it starts after them.
TEST(KafkaSource, TheCommittedOffsetsDecideWhereTheNextConsumerInTheGroupStarts) {
  MockCluster cluster;
  cluster.CreateTopic("devices", 1);
  const auto old_messages = Spread("old", 1, 5);
  Produce(cluster.bootstrap(), "devices", old_messages);
  const std::vector<std::string> expected = PayloadsOf(old_messages);
  auto read = [&](std::size_t count, bool commit) {
    auto source = OpenOrDie(Options(cluster.bootstrap(), "devices", "commits"));
    std::vector<Seen> seen(1);
    EXPECT_TRUE(source && PollUntil({source.get()}, &seen, false, [&] { return seen[0].messages.size() >= count; }));
    if (commit) {
      Status status = source->Commit();
      EXPECT_TRUE(status.ok()) << status.ToString();
      EXPECT_TRUE(source->Commit().ok());  // nothing new: no request, still OK
    }
    std::vector<std::string> payloads;
    for (const auto& m : seen[0].messages)
      payloads.push_back(m.payload);
    return payloads;  // the source leaves the group
  };
  EXPECT_EQ(read(5, false), expected);
  EXPECT_EQ(read(5, true), expected);  // again: nothing was committed
  Produce(cluster.bootstrap(), "devices", Spread("new", 1, 2));
  // One partition keeps order: a redelivered old message would come first.
  EXPECT_EQ(read(2, false), (std::vector<std::string>{"new-0-0", "new-0-1"}));
}

TEST(KafkaSource, TwoSourcesInOneGroupSplitThePartitionsAndSeeEveryMessageOnce) {
  MockCluster cluster;
  cluster.CreateTopic("devices", 4);
  auto a = OpenOrDie(Options(cluster.bootstrap(), "devices", "split"));
  auto b = OpenOrDie(Options(cluster.bootstrap(), "devices", "split"));
  ASSERT_TRUE(a && b);
  std::vector<Seen> seen(2);
  ASSERT_TRUE(SplitInTwo(a.get(), b.get(), &seen)) << a->last_error() << " / " << b->last_error();

  const auto messages = Spread("m", 4, 10);
  Produce(cluster.bootstrap(), "devices", messages);
  ASSERT_TRUE(PollUntil({a.get(), b.get()}, &seen, true,
                        [&] { return seen[0].messages.size() + seen[1].messages.size() >= messages.size(); }));
  std::multiset<std::string> both = seen[0].payloads;
  both.insert(seen[1].payloads.begin(), seen[1].payloads.end());
  std::multiset<std::string> expected;
  for (const auto& m : messages)
    expected.insert(m.payload);
  EXPECT_EQ(both, expected);
  // Each saw only its own partitions.
  for (int i = 0; i < 2; ++i) {
    auto assigned = (i == 0 ? a : b)->Assignment();
    for (const auto& m : seen[static_cast<std::size_t>(i)].messages) {
      EXPECT_NE(std::find(assigned.begin(), assigned.end(), m.partition), assigned.end()) << m.payload;
    }
  }
}

TEST(KafkaSource, WhenOneSourceClosesTheOtherTakesAllPartitionsAndNothingIsLost) {
  MockCluster cluster;
  cluster.CreateTopic("devices", 4);
  auto a = OpenOrDie(Options(cluster.bootstrap(), "devices", "close"));
  auto b = OpenOrDie(Options(cluster.bootstrap(), "devices", "close"));
  ASSERT_TRUE(a && b);
  std::vector<Seen> seen(2);
  ASSERT_TRUE(SplitInTwo(a.get(), b.get(), &seen));
  const auto before = Spread("before", 4, 10);
  Produce(cluster.bootstrap(), "devices", before);
  ASSERT_TRUE(PollUntil({a.get(), b.get()}, &seen, true,
                        [&] { return seen[0].messages.size() + seen[1].messages.size() >= before.size(); }));

  a->Close();
  a->Close();  // idempotent
  EXPECT_EQ(a->Commit().code(), StatusCode::kUnavailable);
  EXPECT_EQ(a->Poll(1, milliseconds(0)).status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(a->Assignment().empty());

  const auto after = Spread("after", 4, 10);
  Produce(cluster.bootstrap(), "devices", after);
  std::vector<Seen> rest(1);
  ASSERT_TRUE(PollUntil({b.get()}, &rest, true, [&] {
    return b->Assignment() == All(4) && rest[0].messages.size() >= after.size();
  })) << b->last_error();
  // Both committed everything before the close, so each message came once.
  std::multiset<std::string> expected;
  for (const auto& m : after)
    expected.insert(m.payload);
  EXPECT_EQ(rest[0].payloads, expected);
}

TEST(KafkaSource, PositionsOfRevokedPartitionsAreNeverCommitted) {
  MockCluster cluster;
  cluster.CreateTopic("devices", 4);
  const auto messages = Spread("m", 4, 5);
  Produce(cluster.bootstrap(), "devices", messages);
  auto a = OpenOrDie(Options(cluster.bootstrap(), "devices", "revoked"));
  ASSERT_NE(a, nullptr);
  std::vector<Seen> seen(2);
  ASSERT_TRUE(PollUntil({a.get()}, &seen, false, [&] { return seen[0].messages.size() >= messages.size(); }));
  // A has returned all 20 but committed none; B joins and takes two partitions.
  auto b = OpenOrDie(Options(cluster.bootstrap(), "devices", "revoked"));
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(SplitInTwo(a.get(), b.get(), &seen, /*commit=*/false));
  const auto lost = b->Assignment();
  ASSERT_EQ(lost.size(), 2u);
  // A commits what it read since the rebalance gave it its two partitions
  // back (from offset 0), and nothing for the two it lost.
  Status status = a->Commit();
  EXPECT_TRUE(status.ok()) << status.ToString();
  a->Close();
  b->Close();
  // A third member reads the group's committed offsets: the partitions A
  // lost start at 0, as nobody committed them.
  auto c = OpenOrDie(Options(cluster.bootstrap(), "devices", "revoked"));
  std::vector<Seen> after(1);
  std::map<std::int32_t, std::int64_t> first_offset;
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(PollUntil({c.get()}, &after, false, [&] {
    for (const auto& m : after[0].messages)
      first_offset.emplace(m.partition, m.offset);
    return std::all_of(lost.begin(), lost.end(), [&](std::int32_t p) { return first_offset.count(p) > 0; });
  }));
  for (std::int32_t p : lost)
    EXPECT_EQ(first_offset[p], 0) << "partition " << p;
}

// A child process with its stdin and stdout on pipes; killed with the test.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int in[2];
    int out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe";
      return;
    }
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Child() {
    CloseStdin();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) close(stdout_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void Write(const std::string& text) const {
    ASSERT_EQ(write(stdin_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void CloseStdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  // The next line on stdout, waiting up to `wait`; false at EOF or timeout.
  bool ReadLine(std::string* line, milliseconds wait) {
    const auto deadline = Clock::now() + wait;
    while (true) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        *line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return true;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left < 0) return false;
      pollfd p = {stdout_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      std::array<char, 4096> chunk{};
      ssize_t n = read(stdout_, chunk.data(), chunk.size());
      if (n <= 0) return false;
      buffer_.append(chunk.data(), static_cast<std::size_t>(n));
    }
  }
  // Waits for the exit; the exit status, or -1 if killed.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void Kill() {
    kill(pid_, SIGKILL);
    Wait();
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string buffer_;
};

TEST(KafkaSource, WhenAMemberIsKilledTheOtherTakesItsPartitionsAfterTheSessionTimeout) {
  MockCluster cluster;
  cluster.CreateTopic("devices", 4);
  auto a = OpenOrDie(Options(cluster.bootstrap(), "devices", "killed"));
  ASSERT_NE(a, nullptr);
  std::vector<Seen> seen(1);
  ASSERT_TRUE(PollUntil({a.get()}, &seen, true, [&] { return a->Assignment() == All(4); }));

  Child b({IOMT_KAFKA_CONSUME, "--brokers", cluster.bootstrap(), "--topic", "devices", "--group", "killed", "--set",
           "session.timeout.ms=4000", "--set", "heartbeat.interval.ms=300"});
  std::string b_assigned;
  std::set<std::string> b_messages;
  long b_committed = 0;
  auto read_b = [&] {
    std::string line;
    while (b.ReadLine(&line, milliseconds(0))) {
      if (line.rfind("assigned ", 0) == 0) b_assigned = line.substr(9);
      if (line.rfind("message ", 0) == 0) b_messages.insert(line);
      if (line.rfind("committed ", 0) == 0) b_committed = std::atol(line.c_str() + 10);
    }
  };
  ASSERT_TRUE(PollUntil({a.get()}, &seen, true, [&] {
    read_b();
    return a->Assignment().size() == 2 && b_assigned.size() == 3;  // "p,q"
  })) << a->last_error();

  const auto before = Spread("before", 4, 10);
  Produce(cluster.bootstrap(), "devices", before);
  ASSERT_TRUE(PollUntil({a.get()}, &seen, true, [&] {
    read_b();
    return seen[0].messages.size() + b_messages.size() >= before.size() &&
           b_committed == static_cast<long>(b_messages.size());
  }));
  EXPECT_EQ(seen[0].messages.size(), before.size() / 2);
  b.Kill();  // no LeaveGroup: the group notices after session.timeout.ms

  const auto after = Spread("after", 4, 10);
  Produce(cluster.bootstrap(), "devices", after);
  std::vector<Seen> rest(1);
  ASSERT_TRUE(PollUntil({a.get()}, &rest, true, [&] {
    if (a->Assignment() != All(4)) return false;
    return std::all_of(after.begin(), after.end(),
                       [&](const Outgoing& m) { return rest[0].payloads.count(m.payload); });
  })) << a->last_error();
  // B committed what it had: none of its "before" messages comes again.
  for (const auto& m : rest[0].messages)
    EXPECT_EQ(m.payload.rfind("after-", 0), 0u) << m.payload;
}

TEST(KafkaSource, CheckReachableIsOkForTheMockAndUnavailableOtherwise) {
  MockCluster cluster;
  cluster.CreateTopic("devices", 2);
  auto source = OpenOrDie(Options(cluster.bootstrap(), "devices", "ready"));
  ASSERT_NE(source, nullptr);
  Status status = source->CheckReachable(milliseconds(10000));
  EXPECT_TRUE(status.ok()) << status.ToString();

  // The mock creates any topic a metadata request names, so a missing
  // topic is played by one whose metadata says it does not exist.
  cluster.SetTopicError("gone", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  auto missing = OpenOrDie(Options(cluster.bootstrap(), "gone", "ready"));
  ASSERT_NE(missing, nullptr);
  status = missing->CheckReachable(milliseconds(10000));
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_NE(status.message().find("gone"), std::string::npos) << status.ToString();

  // A port that was free a moment ago: nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  auto closed = OpenOrDie(Options("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), "devices", "ready"));
  ASSERT_NE(closed, nullptr);
  status = closed->CheckReachable(milliseconds(1000));
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  // Polling a cluster that is not there is no error: librdkafka retries.
  auto batch = closed->Poll(10, milliseconds(200));
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_TRUE(batch->empty());
}

TEST(KafkaSource, ABadPropertyIsInvalidArgumentNamingIt) {
  KafkaOptions options = Options("127.0.0.1:9", "devices", "bad");
  options.config.emplace_back("no.such.property", "1");
  auto source = KafkaSource::Open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(source.status().message().find("no.such.property"), std::string::npos) << source.status().ToString();

  options = Options("127.0.0.1:9", "devices", "bad");
  options.config.emplace_back("session.timeout.ms", "soon");
  source = KafkaSource::Open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(source.status().message().find("session.timeout.ms"), std::string::npos) << source.status().ToString();

  options = Options("127.0.0.1:9", "devices", "bad");
  options.config.emplace_back("enable.auto.commit", "true");
  source = KafkaSource::Open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(source.status().message().find("enable.auto.commit"), std::string::npos) << source.status().ToString();

  options = Options("127.0.0.1:9", "", "bad");
  EXPECT_EQ(KafkaSource::Open(options).status().code(), StatusCode::kInvalidArgument);
  options = Options("127.0.0.1:9", "devices", "");
  EXPECT_EQ(KafkaSource::Open(options).status().code(), StatusCode::kInvalidArgument);
}

// ---- security --------------------------------------------------------------
// librdkafka's mock cluster has no SASL (no SaslHandshake or SaslAuthenticate
// handler, so its ApiVersions do not offer them) and no TLS listener (its
// brokers accept plain TCP). What can be tested against it: that SASL and
// SSL properties reach the client, that their failures say why, and that
// the SASL password appears in no error and no log line. For TLS, stunnel
// in front of the mock serves the bootstrap connection; the brokers the
// cluster then advertises are its plain ports, so no message flows over TLS.

// Polls until last_error() contains `part` (or the deadline passes).
bool PollUntilError(KafkaSource* source, const std::string& part) {
  const auto deadline = Clock::now() + kDeadline;
  while (source->last_error().find(part) == std::string::npos) {
    if (Clock::now() > deadline) return false;
    auto batch = source->Poll(10, milliseconds(100));
    if (!batch.ok()) return false;
  }
  return true;
}

TEST(KafkaSecurity, SaslAgainstTheMockFailsSayingWhyAndNeverShowsThePassword) {
  MockCluster cluster;
  cluster.CreateTopic("devices", 1);
  KafkaOptions options = Options(cluster.bootstrap(), "devices", "sasl");
  const std::string password = "kafka-sasl-password-4711";
  options.config.insert(options.config.end(), {{"security.protocol", "SASL_PLAINTEXT"},
                                               {"sasl.mechanism", "PLAIN"},
                                               {"sasl.username", "$ConnectionString"},
                                               {"sasl.password", password}});
  auto lines = std::make_shared<std::vector<std::string>>();
  options.log = [lines](int, std::string_view facility, std::string_view message) {
    lines->push_back(std::string(facility) + ": " + std::string(message));
  };
  auto source = OpenOrDie(options);
  ASSERT_NE(source, nullptr);
  // librdkafka's own words: the broker offers no SASL handshake.
  ASSERT_TRUE(PollUntilError(source.get(), "SASL")) << source->last_error();
  Status reachable = source->CheckReachable(milliseconds(2000));
  EXPECT_EQ(reachable.code(), StatusCode::kUnavailable) << reachable.ToString();
  for (const std::string& text : {source->last_error(), reachable.ToString()})
    EXPECT_EQ(text.find(password), std::string::npos) << text;
  for (const std::string& line : *lines)
    EXPECT_EQ(line.find(password), std::string::npos) << line;
}

class KafkaTls : public ::testing::Test {
 protected:
  void SetUp() override {
    Status made = pki_.Make();
    ASSERT_TRUE(made.ok()) << made.ToString();
    cluster_.CreateTopic("devices", 1);
    tunnel_ = std::make_unique<iomt::testing::Stunnel>(
        iomt::testing::StunnelOptions{.connect = cluster_.bootstrap(), .pki = &pki_});
    Status started = tunnel_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
  }

  // The bootstrap through stunnel, by the name its certificate has.
  KafkaOptions TlsOptions(const std::string& ca) {
    KafkaOptions options = Options("localhost:" + std::to_string(tunnel_->port()), "devices", "tls");
    options.config.insert(options.config.end(), {{"security.protocol", "SSL"},
                                                 {"broker.address.family", "v4"},
                                                 {"ssl.ca.location", ca},
                                                 {"ssl.certificate.location", pki_.client_cert()},
                                                 {"ssl.key.location", pki_.client_key()}});
    return options;
  }

  iomt::testing::TestPki pki_;
  MockCluster cluster_;
  std::unique_ptr<iomt::testing::Stunnel> tunnel_;
};

TEST_F(KafkaTls, TheBootstrapConnectionVerifiesTheBrokerWithTheGivenCa) {
  auto source = OpenOrDie(TlsOptions(pki_.ca_cert()));
  ASSERT_NE(source, nullptr);
  // A metadata request over TLS, with a client certificate stunnel checked.
  Status reachable = source->CheckReachable(milliseconds(10000));
  EXPECT_TRUE(reachable.ok()) << reachable.ToString() << "\n" << tunnel_->log();
  EXPECT_NE(tunnel_->log().find("Certificate accepted"), std::string::npos) << tunnel_->log();
}

TEST_F(KafkaTls, ABrokerCertificateOfAnotherCaIsNotTrusted) {
  auto source = OpenOrDie(TlsOptions(pki_.other_ca_cert()));
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(PollUntilError(source.get(), "certificate verify failed")) << source->last_error();
  EXPECT_EQ(source->CheckReachable(milliseconds(2000)).code(), StatusCode::kUnavailable);
}

TEST(KafkaTools, TheMockClusterAndProduceToolsFeedAKafkaSource) {
  Child cluster({IOMT_KAFKA_MOCK_CLUSTER, "--brokers", "2", "--topic", "devices:3", "--topic", "other:1"});
  std::string line;
  ASSERT_TRUE(cluster.ReadLine(&line, milliseconds(kDeadline)));
  ASSERT_EQ(line.rfind("bootstrap ", 0), 0u) << line;
  const std::string bootstrap = line.substr(10);

  Child produce({IOMT_KAFKA_PRODUCE, "--brokers", bootstrap, "--topic", "devices", "--key-member", "deviceId",
                 "--header", "source=tools", "--header", "x=a=b"});
  std::string input;
  for (int i = 0; i < 10; ++i) {
    for (const char* device : {"dev-a", "dev-b", "dev-c"}) {
      input += R"({"deviceId":")" + std::string(device) + R"(","seq":)" + std::to_string(i) + "}\n";
    }
  }
  input += "  \n";        // blank: skipped
  input += "not json\n";  // sent, without a key
  input += R"({"deviceId":42})"
           "\r\n";  // a number key, CRLF
  produce.Write(input);
  produce.CloseStdin();
  ASSERT_TRUE(produce.ReadLine(&line, milliseconds(kDeadline)));
  EXPECT_EQ(line, "produced 32");
  EXPECT_EQ(produce.Wait(), 0);

  auto source = OpenOrDie(Options(bootstrap, "devices", "tools"));
  ASSERT_NE(source, nullptr);
  std::vector<Seen> seen(1);
  ASSERT_TRUE(PollUntil({source.get()}, &seen, true, [&] { return seen[0].messages.size() >= 32; }));
  EXPECT_EQ(seen[0].messages.size(), 32u);
  std::map<std::string, std::set<std::int32_t>> partitions_of_key;
  for (const auto& m : seen[0].messages) {
    using Headers = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(m.headers, (Headers{{"source", "tools"}, {"x", "a=b"}}));
    partitions_of_key[m.key].insert(m.partition);
    if (m.payload == "not json") {
      EXPECT_EQ(m.key, "");
    } else if (m.payload == R"({"deviceId":42})") {
      EXPECT_EQ(m.key, "42");
    } else if (m.payload.find("dev-a") != std::string::npos) {
      EXPECT_EQ(m.key, "dev-a");
    }
  }
  for (const auto& [key, partitions] : partitions_of_key)
    EXPECT_EQ(partitions.size(), 1u) << key;

  cluster.CloseStdin();  // EOF on stdin stops it
  EXPECT_EQ(cluster.Wait(), 0);
}

}  // namespace
}  // namespace iomt::ingest
