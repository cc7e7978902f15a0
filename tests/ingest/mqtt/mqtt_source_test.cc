// MqttSource against a real mosquitto broker (one per test, on a free port),
// and the event a message becomes (MqttEvent). Waits are for conditions,
// with generous deadlines; nothing asserts time.
#include "ingest/mqtt/mqtt_source.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "ingest/mqtt/mqtt_envelope.h"
#include "mosquitto_broker.h"
#include "tls_util.h"

namespace iomt::ingest {
namespace {

using testing::MosquittoBroker;
using testing::PublishMessages;
using testing::TestMessage;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = std::chrono::seconds(30);

bool WaitUntil(const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + kDeadline;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Keeps what the handler got; tests wait on it.
class Collector {
 public:
  MqttHandler Handler() {
    return [this](MqttMessage&& m) {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back(std::move(m));
      changed_.notify_all();
      return Status::Ok();
    };
  }
  // Waits until a message with this payload has arrived.
  bool WaitFor(const std::string& payload) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, kDeadline, [&] {
      for (const MqttMessage& m : messages_)
        if (m.payload == payload) return true;
      return false;
    });
  }
  bool WaitForCount(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, kDeadline, [&] { return messages_.size() >= n; });
  }
  std::vector<MqttMessage> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  std::vector<std::string> payloads() {
    std::vector<std::string> out;
    for (const MqttMessage& m : messages())
      out.push_back(m.payload);
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<MqttMessage> messages_;
};

std::unique_ptr<MqttSource> StartOrDie(const MqttOptions& options, MqttHandler handler) {
  auto source = MqttSource::Start(options, std::move(handler));
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  return source.ok() ? std::move(source).value() : nullptr;
}

// The Properties of the event a message becomes (MqttEvent), as compact JSON.
std::string EventProperties(MqttMessage&& message) {
  json::Document scratch;
  ReceivedEvent event = MqttEvent(std::move(message), &scratch);
  json::Document doc;
  json::Value properties;
  if (!doc.Parse(event.text).ok() || !doc.root().Find("Properties", &properties))
    return "(no Properties) " + event.text;
  return json::ToJson(properties);
}

MqttOptions Options(const MosquittoBroker& broker, std::string topic) {
  MqttOptions options;
  options.url = broker.url();
  options.topic = std::move(topic);
  return options;
}

TEST(MqttSource, DeliversTopicPayloadUserPropertiesAndQos) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  Collector got;
  auto source = StartOrDie(Options(broker, "devices/d1/telemetry"), got.Handler());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();

  const auto before_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  TestMessage m{"devices/d1/telemetry", R"({"heartRate":78})", {{"deviceId", "d1"}, {"k", "a"}, {"k", "b"}}};
  ASSERT_TRUE(PublishMessages(broker.port(), {m}).ok());
  ASSERT_TRUE(got.WaitForCount(1));

  MqttMessage out = got.messages()[0];
  EXPECT_EQ(out.topic, "devices/d1/telemetry");
  EXPECT_EQ(out.payload, R"({"heartRate":78})");
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(out.user_properties, (Pairs{{"deviceId", "d1"}, {"k", "a"}, {"k", "b"}}));
  EXPECT_EQ(out.qos, 1);
  EXPECT_FALSE(out.retained);
  EXPECT_GE(out.receipt_ms, before_ms);
  EXPECT_EQ(source->received(), 1);
  // As an event: the repeated name keeps both values.
  EXPECT_EQ(EventProperties(std::move(out)), R"({"deviceId":"d1","k":["a","b"],"mqtt-topic":"devices/d1/telemetry"})");
  source->Stop();
  EXPECT_FALSE(source->connected());
}

TEST(MqttEvent, RepeatedUserPropertiesBecomeArraysAndTheTopicStaysOneString) {
  MqttMessage m;
  m.topic = "devices/d7/telemetry";
  m.payload = R"({"hr": 80})";
  m.user_properties = {{"site", "north"}, {"ward", "3A"}, {"mqtt-topic", "spoofed"}, {"ward", "3B"}};
  m.receipt_ms = 1'700'000'000'000;
  EXPECT_EQ(EventProperties(std::move(m)),
            R"({"site":"north","ward":["3A","3B"],"mqtt-topic":"devices/d7/telemetry"})");
}

TEST(MqttSource, QosIsTheLowerOfTheSubscriptionsAndThePublishers) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  Collector at_most_once;
  MqttOptions options = Options(broker, "t");
  options.qos = 0;
  auto source = StartOrDie(options, at_most_once.Handler());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
  ASSERT_TRUE(PublishMessages(broker.port(), {{"t", "x", {}, 1}}).ok());
  ASSERT_TRUE(at_most_once.WaitForCount(1));
  EXPECT_EQ(at_most_once.messages()[0].qos, 0);

  // QoS 2 publications reach a QoS 1 subscription at QoS 1.
  Collector at_least_once;
  options.qos = 1;
  auto qos1 = StartOrDie(options, at_least_once.Handler());
  ASSERT_NE(qos1, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return qos1->connected(); })) << qos1->last_error();
  ASSERT_TRUE(PublishMessages(broker.port(), {{"t", "y", {}, 2}}).ok());
  ASSERT_TRUE(at_least_once.WaitForCount(1));
  EXPECT_EQ(at_least_once.messages()[0].qos, 1);
}

TEST(MqttSource, WildcardFiltersMatchOnlyTheirTopics) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  Collector plus, hash;
  auto plus_source = StartOrDie(Options(broker, "devices/+/telemetry"), plus.Handler());
  auto hash_source = StartOrDie(Options(broker, "site/#"), hash.Handler());
  ASSERT_NE(plus_source, nullptr);
  ASSERT_NE(hash_source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return plus_source->connected() && hash_source->connected(); }));

  // The broker keeps a subscriber's messages in publishing order, so once the
  // last ones ("end") are in, anything else that matched is in too.
  ASSERT_TRUE(PublishMessages(broker.port(), {{"devices/a/telemetry", "plus-1"},
                                              {"devices/a/b/telemetry", "no-1"},
                                              {"devices/telemetry", "no-2"},
                                              {"devices/b/telemetry/x", "no-3"},
                                              {"site", "hash-1"},
                                              {"site/x", "hash-2"},
                                              {"site/x/y/z", "hash-3"},
                                              {"other/site/x", "no-4"},
                                              {"Site/x", "no-5"},
                                              {"devices/z/telemetry", "end"},
                                              {"site/end", "end"}})
                  .ok());
  ASSERT_TRUE(plus.WaitFor("end"));
  ASSERT_TRUE(hash.WaitFor("end"));
  EXPECT_EQ(plus.payloads(), (std::vector<std::string>{"plus-1", "end"}));
  EXPECT_EQ(hash.payloads(), (std::vector<std::string>{"hash-1", "hash-2", "hash-3", "end"}));
  EXPECT_EQ(hash.messages()[1].topic, "site/x");
}

TEST(MqttSource, ConnectsOnceTheBrokerStarts) {
  MosquittoBroker broker;  // its port is chosen, nothing listens yet
  Collector got;
  auto source = StartOrDie(Options(broker, "t"), got.Handler());
  ASSERT_NE(source, nullptr);
  EXPECT_FALSE(source->connected());
  ASSERT_TRUE(WaitUntil([&] { return !source->last_error().empty(); }));
  EXPECT_NE(source->last_error().find("cannot connect"), std::string::npos) << source->last_error();
  EXPECT_FALSE(source->connected());

  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
  ASSERT_TRUE(PublishMessages(broker.port(), {{"t", "hello"}}).ok());
  EXPECT_TRUE(got.WaitFor("hello"));
}

TEST(MqttSource, ReconnectsAfterTheBrokerIsKilledAndRestarted) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  Collector got;
  auto source = StartOrDie(Options(broker, "t/#"), got.Handler());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
  ASSERT_TRUE(PublishMessages(broker.port(), {{"t/1", "before"}}).ok());
  ASSERT_TRUE(got.WaitFor("before"));

  broker.Kill();
  ASSERT_TRUE(WaitUntil([&] { return !source->connected(); }));
  // Without persistence the new broker knows no session: the source must
  // subscribe again by itself.
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
  ASSERT_TRUE(PublishMessages(broker.port(), {{"t/2", "after"}}).ok());
  ASSERT_TRUE(got.WaitFor("after"));
  EXPECT_EQ(got.payloads(), (std::vector<std::string>{"before", "after"}));
}

TEST(MqttSource, APersistentSessionGetsWhatWasPublishedWhileAway) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  MqttOptions options = Options(broker, "t/+");
  options.client_id = "iomt-test-persistent";
  options.clean_start = false;
  Collector first;
  auto source = StartOrDie(options, first.Handler());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
  source.reset();  // Stop: a clean DISCONNECT; the session stays at the broker

  std::vector<TestMessage> away;
  away.reserve(5);
  for (int i = 0; i < 5; ++i)
    away.push_back({"t/" + std::to_string(i), "away-" + std::to_string(i)});
  ASSERT_TRUE(PublishMessages(broker.port(), away).ok());

  Collector second;
  source = StartOrDie(options, second.Handler());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(second.WaitForCount(5)) << source->last_error();
  EXPECT_EQ(second.payloads(), (std::vector<std::string>{"away-0", "away-1", "away-2", "away-3", "away-4"}));
  EXPECT_TRUE(first.messages().empty());
}

TEST(MqttSource, AGeneratedClientIdsSessionEndsAtStop) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  Collector got;
  auto source = StartOrDie(Options(broker, "t"), got.Handler());
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(source->client_id().starts_with("iomt-")) << source->client_id();
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
  source.reset();
  // With its session gone, nobody is subscribed: the broker says so (0x10,
  // "no matching subscribers", which PublishMessages counts as success) and
  // keeps nothing. What is checked here is only that Stop went cleanly.
  EXPECT_TRUE(PublishMessages(broker.port(), {{"t", "nobody"}}).ok());
  EXPECT_TRUE(got.messages().empty());
}

TEST(MqttSource, ABlockedHandlerLosesNothing) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  Collector got;
  MqttHandler collect = got.Handler();
  // The handler blocks like a full queue does: on the first message, until
  // the test opens the gate.
  auto source = StartOrDie(Options(broker, "t"), [&](MqttMessage&& m) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return open; });
    return collect(std::move(m));
  });
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();

  std::vector<TestMessage> burst;
  burst.reserve(500);
  for (int i = 0; i < 500; ++i)
    burst.push_back({"t", std::to_string(i)});
  // The broker acknowledges the publisher whatever the subscriber does.
  ASSERT_TRUE(PublishMessages(broker.port(), burst).ok());
  ASSERT_TRUE(WaitUntil([&] { return source->received() >= 1; }));
  EXPECT_EQ(source->received(), 1);  // the network thread is held in the handler
  {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
  }
  cv.notify_all();
  ASSERT_TRUE(got.WaitForCount(500)) << got.messages().size();
  std::vector<std::string> expected;
  expected.reserve(500);
  for (int i = 0; i < 500; ++i)
    expected.push_back(std::to_string(i));
  EXPECT_EQ(got.payloads(), expected);
}

TEST(MqttSource, AMessageTheHandlerRefusesIsDeliveredAgain) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  MqttOptions options = Options(broker, "t");
  options.client_id = "iomt-test-refuse";
  std::mutex mu;
  std::vector<std::string> calls;
  auto source = StartOrDie(options, [&](MqttMessage&& m) {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(m.payload);
    // The first delivery is refused, as a stopping queue would.
    if (calls.size() == 1) return Unavailable("queue is stopping");
    return Status::Ok();
  });
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
  ASSERT_TRUE(PublishMessages(broker.port(), {{"t", "m1"}, {"t", "m2"}}).ok());
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return calls.size() >= 3 && calls.back() == "m2";
  })) << source->last_error();
  std::lock_guard<std::mutex> lock(mu);
  // m1 again on the next connection of the session; m2, which came after the
  // refusal, was neither handed over nor acknowledged before it.
  EXPECT_EQ(calls, (std::vector<std::string>{"m1", "m1", "m2"}));
  EXPECT_NE(source->last_error().find("queue is stopping"), std::string::npos) << source->last_error();
}

// The process dies inside the handler (before the message is safe): the
// broker must not have had the acknowledgement, so the session's next
// connection gets the message again.
TEST(MqttSource, AMessageWhoseHandlerCrashedIsDeliveredAgain) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  MqttOptions options = Options(broker, "t");
  options.client_id = "iomt-test-crash";
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    auto source = MqttSource::Start(options, [](MqttMessage&&) -> Status { _exit(3); });
    if (!source.ok()) _exit(1);
    while (!(*source)->connected())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (write(ready[1], "c", 1) != 1) _exit(1);
    std::this_thread::sleep_for(std::chrono::seconds(60));
    _exit(2);
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);  // the child is connected and subscribed
  close(ready[0]);
  ASSERT_TRUE(PublishMessages(broker.port(), {{"t", "m1"}}).ok());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 3);  // it died in the handler

  Collector got;
  auto source = StartOrDie(options, got.Handler());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(got.WaitFor("m1")) << source->last_error();
}

TEST(MqttSource, TenThousandMessagesInABurstArriveExactlyOnce) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.log();
  std::mutex mu;
  std::map<std::string, int> counts;
  auto source = StartOrDie(Options(broker, "burst/+"), [&](MqttMessage&& m) {
    std::lock_guard<std::mutex> lock(mu);
    ++counts[m.payload];
    return Status::Ok();
  });
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
  constexpr int kCount = 10'000;
  std::vector<TestMessage> burst;
  burst.reserve(kCount + 1);
  for (int i = 0; i < kCount; ++i)
    burst.push_back({"burst/" + std::to_string(i % 7), std::to_string(i)});
  burst.push_back({"burst/x", "end"});  // in order after all the others
  ASSERT_TRUE(PublishMessages(broker.port(), burst).ok());
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return counts.contains("end");
  })) << source->last_error();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(counts.size(), static_cast<std::size_t>(kCount + 1));
  int not_once = 0;
  for (const auto& [payload, n] : counts)
    not_once += n != 1 ? 1 : 0;
  EXPECT_EQ(not_once, 0);
  EXPECT_EQ(source->received(), kCount + 1);
}

TEST(MqttSource, RefusesBadOptions) {
  auto handler = [](MqttMessage&&) { return Status::Ok(); };
  auto code = [&](const MqttOptions& o) { return MqttSource::Start(o, handler).status().code(); };
  MqttOptions good;
  good.url = "mqtt://127.0.0.1:1";
  good.topic = "t/#";
  for (const char* url :
       {"http://127.0.0.1", "127.0.0.1:1883", "mqtt://", "mqtt://:1883", "mqtt://h:0", "mqtt://h:65536", "mqtt://h:x",
        "mqtt://h:", "mqtt://h/path", "mqtt://u:p@h", "mqtt://[::1", "mqtt://[::1]x"}) {
    MqttOptions o = good;
    o.url = url;
    EXPECT_EQ(code(o), StatusCode::kInvalidArgument) << url;
  }
  for (const char* topic : {"", "a/#/b", "a+", "a/b#"}) {
    MqttOptions o = good;
    o.topic = topic;
    EXPECT_EQ(code(o), StatusCode::kInvalidArgument) << topic;
  }
  MqttOptions o = good;
  for (int qos : {-1, 2, 3}) {
    o.qos = qos;
    EXPECT_EQ(code(o), StatusCode::kInvalidArgument) << qos;
  }
  o = good;
  o.keepalive_seconds = 2;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  EXPECT_EQ(MqttSource::Start(good, nullptr).status().code(), StatusCode::kInvalidArgument);

  // These are good (nothing listens there: Start returns, unconnected).
  for (const char* url : {"mqtt://127.0.0.1:1", "mqtt://[::1]:1/", "mqtts://127.0.0.1:1"}) {
    MqttOptions ok = good;
    ok.url = url;
    auto source = MqttSource::Start(ok, handler);
    ASSERT_TRUE(source.ok()) << url << ": " << source.status().ToString();
    EXPECT_FALSE((*source)->connected());
  }
}

// ---- TLS --------------------------------------------------------------------
// A broker whose listener requires TLS 1.2+, a client certificate signed by
// the test's CA, and a user name and password (password_file); the test's
// publisher uses the broker's plain listener.

class MqttTls : public ::testing::Test {
 protected:
  void SetUp() override {
    Status made = pki_.Make();
    ASSERT_TRUE(made.ok()) << made.ToString();
    testing::BrokerOptions options;
    options.tls = testing::BrokerTls{.cafile = pki_.ca_cert(),
                                     .certfile = pki_.server_cert(),
                                     .keyfile = pki_.server_key(),
                                     .users = {{"device-gateway", "right-password"}}};
    broker_ = std::make_unique<MosquittoBroker>(options);
    ASSERT_TRUE(broker_->Start().ok()) << broker_->log();
  }

  MqttOptions Trusted() {
    MqttOptions o = Options(*broker_, "devices/+/telemetry");
    o.ca_file = pki_.ca_cert();
    o.client_cert_file = pki_.client_cert();
    o.client_key_file = pki_.client_key();
    o.username = "device-gateway";
    o.password = "right-password";
    return o;
  }

  // Starts a source that must not get in: waits for its error, which must
  // contain `reason` and never the password.
  std::string RefusedError(const MqttOptions& o, const std::string& reason) {
    Collector got;
    auto source = StartOrDie(o, got.Handler());
    if (source == nullptr) return {};
    EXPECT_TRUE(WaitUntil([&] { return source->last_error().find(reason) != std::string::npos; }))
        << "last error: " << source->last_error() << "\nbroker: " << broker_->log();
    EXPECT_FALSE(source->connected());
    std::string error = source->last_error();
    EXPECT_EQ(error.find(o.password.empty() ? "\x01" : o.password), std::string::npos) << error;
    source->Stop();
    return error;
  }

  iomt::testing::TestPki pki_;
  std::unique_ptr<MosquittoBroker> broker_;
};

TEST_F(MqttTls, MessagesArriveWithAClientCertificateAndAPassword) {
  EXPECT_TRUE(broker_->url().starts_with("mqtts://"));
  Collector got;
  auto source = StartOrDie(Trusted(), got.Handler());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error() << "\n" << broker_->log();
  ASSERT_TRUE(PublishMessages(broker_->publish_port(), {{"devices/d1/telemetry", R"({"heartRate":61})"}}).ok());
  ASSERT_TRUE(got.WaitFor(R"({"heartRate":61})"));
  source->Stop();
}

TEST_F(MqttTls, SslUrlsAreTlsToo) {
  MqttOptions o = Trusted();
  o.url = "ssl://127.0.0.1:" + std::to_string(broker_->port());
  Collector got;
  auto source = StartOrDie(o, got.Handler());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return source->connected(); })) << source->last_error();
}

TEST_F(MqttTls, AWrongPasswordIsRefused) {
  MqttOptions o = Trusted();
  o.password = "wrong-password";
  // mosquitto 2.0 answers 0x87 Not authorized (0x86 is the other way to say it).
  std::string error = RefusedError(o, "refused the connection");
  EXPECT_NE(error.find("check the user name and password"), std::string::npos) << error;
}

TEST_F(MqttTls, AMissingClientCertificateIsRefused) {
  MqttOptions o = Trusted();
  o.client_cert_file.clear();
  o.client_key_file.clear();
  // The broker's alert, as OpenSSL tells it (TLS 1.3: after the handshake).
  RefusedError(o, "alert");
}

TEST_F(MqttTls, ABrokerSignedByAnUnknownCaIsNotTrusted) {
  MqttOptions o = Trusted();
  o.ca_file = pki_.other_ca_cert();
  RefusedError(o, "certificate verify failed");
}

TEST(MqttSource, RefusesTlsFilesItCannotUse) {
  auto handler = [](MqttMessage&&) { return Status::Ok(); };
  MqttOptions o;
  o.url = "mqtt://127.0.0.1:1";  // not TLS
  o.topic = "t/#";
  o.ca_file = "/etc/hostname";
  EXPECT_EQ(MqttSource::Start(o, handler).status().code(), StatusCode::kInvalidArgument);
  o.url = "mqtts://127.0.0.1:1";
  o.ca_file = "/nonexistent/ca.pem";
  auto missing = MqttSource::Start(o, handler);
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("/nonexistent/ca.pem"), std::string::npos);
  o.ca_file.clear();
  o.client_key_file = "/etc/hostname";  // a key without its certificate
  EXPECT_EQ(MqttSource::Start(o, handler).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iomt::ingest
