// Subscriptions (subscriptions.h) over a real store and real HTTP: a
// Subscription POSTed to the FHIR API becomes active and is notified of
// the writes that match — to a receiving HTTP server (rest-hook, with and
// without payload) and to Boost.Beast's WebSocket client (bind, bound,
// ping) —; served again after a restart; refused, or set to "error", when
// it cannot be served; what a full delivery queue does.
#include "server/http/subscriptions.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/json/document.h"
#include "common/mutex.h"
#include "server/http/fhir_api.h"
#include "test_client.h"

namespace iomt::server {
namespace {

namespace fs = std::filesystem;
using testing::Client;
using testing::Reply;

std::string Member(const std::string& json, std::string_view key) {
  json::Document doc;
  json::Value v;
  if (!doc.Parse(json).ok() || !doc.root().Find(key, &v) || !v.is_string()) return "";
  return std::string(v.string_value());
}

// Waits up to 10 s for `done`.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// An HTTP server that records what it receives (a rest-hook's endpoint),
// answering `status`.
class Receiver {
 public:
  struct Received {
    std::string method, target, body, header;
  };
  explicit Receiver(int status = 200) : status_(status) {
    HttpServerOptions options;
    options.port = 0;
    auto server = HttpServer::Start(options, [this](const HttpRequest& r) {
      MutexLock lock(mu_);
      got_.push_back({r.method, r.target, r.body, std::string(r.Header("x-secret").value_or(""))});
      HttpResponse out;
      out.status = status_;
      out.body = "{}";
      return out;
    });
    EXPECT_TRUE(server.ok());
    if (server.ok()) server_ = std::move(*server);
  }
  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::vector<Received> got() {
    MutexLock lock(mu_);
    return got_;
  }

 private:
  int status_;
  Mutex mu_;
  std::vector<Received> got_ IOMT_GUARDED_BY(mu_);
  std::unique_ptr<HttpServer> server_;
};

// A store served under /fhir with Subscriptions, as `iomt serve` wires them.
class Served {
 public:
  explicit Served(SubscriptionOptions options = {}) : options_(std::move(options)) {
    static std::atomic<int> n{0};
    dir_ = (fs::temp_directory_path() /
            ("iomt-subscriptions-test-" + std::to_string(getpid()) + "-" + std::to_string(n.fetch_add(1))))
               .string();
    fs::remove_all(dir_);
    auto store = store::EmbeddedStore::Open(dir_, {.commit_interval_ms = 20});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return;
    store_ = std::move(*store);
    Restart();
    HttpServerOptions http;
    http.port = 0;
    auto server = HttpServer::Start(http, [this](const HttpRequest& r) {
      return HandleFhirRequest(*store_, r, "http://127.0.0.1/fhir", nullptr, subscriptions_.get());
    });
    EXPECT_TRUE(server.ok());
    if (server.ok()) server_ = std::move(*server);
  }
  ~Served() {
    if (server_) server_->Stop();
    subscriptions_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Served(const Served&) = delete;
  Served& operator=(const Served&) = delete;

  // Subscriptions started again on the same store (a restart of the service).
  void Restart() {
    subscriptions_.reset();
    auto subscriptions = Subscriptions::Start(store_.get(), options_);
    EXPECT_TRUE(subscriptions.ok()) << subscriptions.status().ToString();
    if (subscriptions.ok()) subscriptions_ = std::move(*subscriptions);
  }

  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/fhir" + path;
  }
  [[nodiscard]] int port() const { return server_->port(); }
  store::EmbeddedStore& store() { return *store_; }
  Subscriptions& subscriptions() { return *subscriptions_; }

  // POSTs a Subscription; its id ("" when refused: `*reply` says why).
  std::string Subscribe(const std::string& criteria, const std::string& channel, Reply* reply = nullptr) {
    Reply r = Client().Send({"POST",
                             url("/Subscription"),
                             R"({"resourceType":"Subscription","status":"requested","reason":"test","criteria":")" +
                                 criteria + R"(","channel":)" + channel + "}",
                             {"Content-Type: application/fhir+json"}});
    if (reply != nullptr) *reply = r;
    return r.status == 201 ? Member(r.body, "id") : "";
  }
  std::string Status(const std::string& id) {
    auto r = store_->ReadCurrent("Subscription", id);
    return r.ok() ? Member(r->json, "status") : "";
  }
  std::string Error(const std::string& id) {
    auto r = store_->ReadCurrent("Subscription", id);
    return r.ok() ? Member(r->json, "error") : "";
  }
  bool Active(const std::string& id) {
    return Eventually([&] { return Status(id) == "active"; });
  }

 private:
  SubscriptionOptions options_;
  std::string dir_;
  std::unique_ptr<store::EmbeddedStore> store_;
  std::unique_ptr<Subscriptions> subscriptions_;
  std::unique_ptr<HttpServer> server_;
};

std::string Observation(const std::string& id, const std::string& patient, const std::string& code, double value) {
  return R"({"resourceType":"Observation","id":")" + id +
         R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" + code +
         R"("}]},"subject":{"reference":"Patient/)" + patient +
         R"("},"effectiveDateTime":"2024-05-01T10:00:00Z","valueQuantity":{"value":)" + std::to_string(value) + "}}";
}

// A batch of Observations, as ingestion writes them.
void Write(store::EmbeddedStore& store, const std::vector<std::string>& observations) {
  std::vector<store::PutRequest> puts;
  for (const std::string& o : observations)
    puts.push_back({"Observation", Member(o, "id"), o, std::nullopt});
  auto written = store.PutMany(std::move(puts));
  ASSERT_TRUE(written.ok()) << written.status().ToString();
}

TEST(Subscriptions, RestHookNotifiesWhatMatchesWithAndWithoutPayload) {
  Served served;
  Receiver receiver;
  const std::string bare = served.Subscribe(
      "Observation?code=8867-4&value-quantity=gt120",
      R"({"type":"rest-hook","endpoint":")" + receiver.url("/bare") + R"(","header":["X-Secret: s"]})");
  const std::string full =
      served.Subscribe("Observation?patient=p1", R"({"type":"rest-hook","endpoint":")" + receiver.url("/full") +
                                                     R"(","payload":"application/fhir+json"})");
  ASSERT_FALSE(bare.empty());
  ASSERT_FALSE(full.empty());
  ASSERT_TRUE(served.Active(bare));
  ASSERT_TRUE(served.Active(full));

  Write(served.store(), {Observation("a", "p2", "8867-4", 90), Observation("b", "p1", "9279-1", 18),
                         Observation("c", "p2", "8867-4", 130)});
  ASSERT_TRUE(Eventually([&] { return receiver.got().size() >= 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing more comes
  const auto got = receiver.got();
  ASSERT_EQ(got.size(), 2u);
  const auto& post = got[0].method == "POST" ? got[0] : got[1];
  const auto& put = got[0].method == "PUT" ? got[0] : got[1];
  EXPECT_EQ(post.target, "/bare");
  EXPECT_EQ(post.body, "");
  EXPECT_EQ(post.header, "s");
  EXPECT_EQ(put.target, "/full/Observation/b");
  EXPECT_EQ(Member(put.body, "id"), "b");
  EXPECT_NE(put.body.find(R"("versionId":"1")"), std::string::npos) << put.body;

  // Updated: notified again (the new version); deleted: not (FHIR R4).
  Write(served.store(), {Observation("b", "p1", "9279-1", 19)});
  ASSERT_TRUE(Eventually([&] { return receiver.got().size() == 3; }));
  EXPECT_NE(receiver.got()[2].body.find(R"("versionId":"2")"), std::string::npos);
  ASSERT_TRUE(served.store().Delete("Observation", "b").ok());
  ASSERT_TRUE(served.store().Flush().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(receiver.got().size(), 3u);
  EXPECT_EQ(served.subscriptions().counts().active, 2);
  EXPECT_TRUE(Eventually([&] { return served.subscriptions().counts().notified == 3; }));
}

TEST(Subscriptions, ServedAgainAfterARestartAndNotAfterBeingSwitchedOff) {
  Served served;
  Receiver receiver;
  const std::string id =
      served.Subscribe("Observation?code=8867-4", R"({"type":"rest-hook","endpoint":")" + receiver.url("/h") + "\"}");
  ASSERT_TRUE(served.Active(id));
  served.Restart();
  Write(served.store(), {Observation("a", "p1", "8867-4", 70)});
  ASSERT_TRUE(Eventually([&] { return receiver.got().size() == 1; }));

  auto current = served.store().ReadCurrent("Subscription", id);
  ASSERT_TRUE(current.ok());
  std::string off = current->json;
  off.replace(off.find(R"("status":"active")"), 17, R"("status":"off")");
  ASSERT_EQ(
      Client().Send({"PUT", served.url("/Subscription/" + id), off, {"Content-Type: application/fhir+json"}}).status,
      200);
  ASSERT_TRUE(Eventually([&] { return served.subscriptions().counts().active == 0; }));
  Write(served.store(), {Observation("b", "p1", "8867-4", 71)});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(receiver.got().size(), 1u);
  EXPECT_EQ(served.Status(id), "off");
}

TEST(Subscriptions, AFailingEndpointSetsStatusError) {
  Served served({.rest_hook_timeout_ms = 2'000, .rest_hook_attempts = 2});
  Receiver failing(503);
  const std::string id =
      served.Subscribe("Observation?code=8867-4", R"({"type":"rest-hook","endpoint":")" + failing.url("/h") + "\"}");
  ASSERT_TRUE(served.Active(id));
  Write(served.store(), {Observation("a", "p1", "8867-4", 70)});
  ASSERT_TRUE(Eventually([&] { return served.Status(id) == "error"; }));
  EXPECT_EQ(failing.got().size(), 2u);
  EXPECT_NE(served.Error(id).find("HTTP 503"), std::string::npos) << served.Error(id);
  EXPECT_EQ(served.subscriptions().counts().failed, 2);
  // Its status comes back through the store's watch: no longer served.
  EXPECT_TRUE(Eventually([&] { return served.subscriptions().counts().active == 0; }));
}

TEST(Subscriptions, RefusedWhenTheyCannotBeServed) {
  Served served({.allowed_endpoints = {"https://apps.example.org/"}});
  Reply reply;
  for (const auto& [criteria, channel, why] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"Observation?_count=3", R"({"type":"websocket"})", "_count"},
           {"Observation?code:above=1", R"({"type":"websocket"})", "above"},
           {"observation?code=1", R"({"type":"websocket"})", "resource type"},
           {"Observation?date=2024-13-99", R"({"type":"websocket"})", "not a date"},
           {"Observation?code=1", R"({"type":"message"})", "rest-hook, websocket"},
           {"Observation?code=1", R"({"type":"rest-hook","endpoint":"https://elsewhere/"})", "restHookEndpoints"},
           {"Observation?code=1", R"({"type":"rest-hook","endpoint":"https://apps.example.org/","payload":"xml"})",
            "JSON"},
       }) {
    EXPECT_EQ(served.Subscribe(criteria, channel, &reply), "") << criteria;
    EXPECT_EQ(reply.status, 400) << reply.body;
    EXPECT_EQ(Member(reply.body, "resourceType"), "OperationOutcome");
    EXPECT_NE(reply.body.find(why), std::string::npos) << reply.body;
  }
  // Written another way (a batch Bundle), it is stored, then set to error.
  const std::string bundle =
      R"({"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"PUT","url":"Subscription/s1"},
      "resource":{"resourceType":"Subscription","id":"s1","status":"requested","reason":"x",
      "criteria":"Observation?colour=red","channel":{"type":"websocket"}}}]})";
  ASSERT_EQ(Client().Send({"POST", served.url(""), bundle, {"Content-Type: application/fhir+json"}}).status, 200);
  ASSERT_TRUE(Eventually([&] { return served.Status("s1") == "error"; }));
  EXPECT_NE(served.Error("s1").find("colour"), std::string::npos) << served.Error("s1");
}

TEST(Subscriptions, WebSocketBindBoundPing) {
  Served served;
  const std::string id = served.Subscribe("Observation?code=8867-4", R"({"type":"websocket"})");
  ASSERT_TRUE(served.Active(id));
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  asio::io_context io;
  beast::websocket::stream<asio::ip::tcp::socket> socket(io);
  socket.next_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(served.port())});
  socket.handshake("127.0.0.1", "/fhir/websocket");
  // A ping that never comes fails the test rather than hanging it: after
  // 10 s the socket is shut down under the read.
  auto read = [&] {
    auto message = std::async(std::launch::async, [&] {
      beast::flat_buffer buffer;
      beast::error_code ec;
      socket.read(buffer, ec);
      return ec ? "read failed: " + ec.message() : beast::buffers_to_string(buffer.data());
    });
    if (message.wait_for(std::chrono::seconds(10)) == std::future_status::timeout)
      ::shutdown(socket.next_layer().native_handle(), SHUT_RDWR);
    return message.get();
  };
  socket.write(asio::buffer(std::string("bind nope")));
  EXPECT_EQ(read().substr(0, 10), "error nope");
  socket.write(asio::buffer(std::string("bind Subscription/").append(id)));
  EXPECT_EQ(read(), "bound " + id);
  // 100 matching writes in one commit: one ping (they are grouped).
  std::vector<std::string> batch;
  for (int i = 0; i < 100; ++i)
    batch.push_back(Observation(std::string("o").append(std::to_string(i)), "p1", "8867-4", 60 + i));
  Write(served.store(), batch);
  EXPECT_EQ(read(), "ping " + id);
  Write(served.store(), {Observation("x", "p1", "9279-1", 1)});  // no match
  Write(served.store(), {Observation("y", "p1", "8867-4", 1)});
  EXPECT_EQ(read(), "ping " + id);
  // The code written with an escape (the text "8867-4" is not in the JSON)
  // still matches.
  Write(served.store(), {Observation("z", "p1", "\\u0038867-4", 1)});
  EXPECT_EQ(read(), "ping " + id);
  EXPECT_EQ(served.subscriptions().counts().notified, 3);
  socket.close(beast::websocket::close_code::normal);
}

}  // namespace
}  // namespace iomt::server
