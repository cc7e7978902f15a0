// Subscriptions against ingestion (issue 19: "Subscriptions must never slow
// ingestion or lose an accepted message"; notifications "within a second").
//
// Throughput: COUNT Observations (heart rates of 1,000 patients, 5 codes)
// written as ingestion writes them (PutMany batches of BATCH, each
// committed durably) into a fresh store per case, same data, same run:
//   baseline        no Subscriptions object at all
//   idle            Subscriptions running, none stored
//   alarm           a rest-hook without payload on "code=X&value-quantity=gt140"
//                   (a few % of writes) and a websocket on "code=X" (20 %)
//   all, payload    a rest-hook with payload on every Observation: a PUT
//                   per resource, more than one endpoint can take; the
//                   bounded queue drops and counts the excess
// Each case gives Observations/s and its ratio to the baseline.
//
// Latency: 200 times, one batch of 100 Observations (one of them
// matching) is written; from PutMany's return (the write is durable) to the
// rest-hook's POST arriving at a local HTTP server, and to the websocket's
// "ping" arriving at Boost.Beast's client: p50, p99, max.
//
//   subscription_bench [--count N] [--batch N]
// Boost.Asio 1.74's awaitable.hpp uses std::exchange without <utility>.
#include <utility>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "server/http/fhir_api.h"
#include "server/http/http_server.h"
#include "server/http/subscriptions.h"
#include "store/embedded/embedded_store.h"

namespace {

using namespace iomt;  // NOLINT(google-build-using-namespace): a benchmark file
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const char* const kCodes[] = {"8867-4", "9279-1", "2708-6", "8480-6", "8310-5"};

std::string Observation(int i) {
  const int value = 50 + (i * 37) % 100;
  std::string id = "o";
  id.append(std::to_string(i));
  std::string json = R"({"resourceType":"Observation","id":")";
  json.append(id).append(R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":")");
  json.append(kCodes[i % 5]).append(R"("}]},"subject":{"reference":"Patient/p)");
  json.append(std::to_string(i % 1000)).append(R"("},"device":{"reference":"Device/d)");
  json.append(std::to_string(i % 1000)).append(R"("},"effectiveDateTime":"2024-05-01T10:00:00Z",)");
  json.append(R"("valueQuantity":{"value":)").append(std::to_string(value));
  json.append(R"(,"unit":"count/min","system":"http://unitsofmeasure.org","code":"/min"}})");
  return json;
}

// A local HTTP server taking rest-hook notifications: when each arrived.
class Receiver {
 public:
  Receiver() {
    auto server = server::HttpServer::Start({.port = 0}, [this](const server::HttpRequest&) {
      {
        MutexLock lock(mu_);
        times_.push_back(Clock::now());
      }
      server::HttpResponse r;
      r.body = "{}";
      return r;
    });
    if (server.ok()) server_ = std::move(*server);
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/hook"; }
  std::vector<Clock::time_point> times() {
    MutexLock lock(mu_);
    return times_;
  }

 private:
  Mutex mu_;
  std::vector<Clock::time_point> times_ IOMT_GUARDED_BY(mu_);
  std::unique_ptr<server::HttpServer> server_;
};

struct Case {
  std::unique_ptr<store::EmbeddedStore> store;
  std::unique_ptr<server::Subscriptions> subscriptions;
  std::unique_ptr<server::HttpServer> fhir;
  std::string dir;
};

Case Open(const std::string& dir, bool subscriptions) {
  Case c;
  c.dir = dir;
  fs::remove_all(dir);
  auto st = store::EmbeddedStore::Open(dir, {.commit_interval_ms = 20});
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.status().ToString().c_str());
    std::exit(1);
  }
  c.store = std::move(*st);
  if (subscriptions) {
    auto s = server::Subscriptions::Start(c.store.get());
    if (!s.ok()) std::exit(1);
    c.subscriptions = std::move(*s);
    auto fhir = server::HttpServer::Start({.port = 0}, [&c](const server::HttpRequest& r) {
      return server::HandleFhirRequest(*c.store, r, "http://127.0.0.1/fhir", nullptr, c.subscriptions.get());
    });
    if (!fhir.ok()) std::exit(1);
    c.fhir = std::move(*fhir);
  }
  return c;
}

// Stores an active Subscription; its id.
std::string Subscribe(Case& c, const std::string& criteria, const std::string& channel) {
  const std::string json = R"({"resourceType":"Subscription","status":"requested","reason":"bench","criteria":")" +
                           criteria + R"(","channel":)" + channel + "}";
  if (!c.subscriptions->Check(json).ok()) std::exit(1);
  auto w = c.store->Create("Subscription", json, std::nullopt);
  if (!w.ok() || !c.store->Flush().ok()) std::exit(1);
  for (int i = 0; i < 500; ++i) {
    auto r = c.store->ReadCurrent("Subscription", w->resource.id);
    if (r.ok() && r->json.find(R"("status":"active")") != std::string::npos) return w->resource.id;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::fprintf(stderr, "the Subscription did not become active\n");
  std::exit(1);
}

double Write(store::EmbeddedStore& st, const std::vector<std::string>& all, std::size_t batch) {
  const auto start = Clock::now();
  for (std::size_t i = 0; i < all.size(); i += batch) {
    std::vector<store::PutRequest> puts;
    for (std::size_t j = i; j < std::min(all.size(), i + batch); ++j)
      puts.push_back({"Observation", std::string("o").append(std::to_string(j)), all[j], std::nullopt});
    if (!st.PutMany(std::move(puts)).ok()) std::exit(1);
  }
  return static_cast<double>(all.size()) / std::chrono::duration<double>(Clock::now() - start).count();
}

// A websocket client bound to `id`: when each ping arrived.
class Listener {
 public:
  Listener(int port, const std::string& id) : socket_(io_) {
    socket_.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    socket_.handshake("127.0.0.1", "/fhir/websocket");
    socket_.write(boost::asio::buffer(std::string("bind ").append(id)));
    boost::beast::flat_buffer buffer;
    socket_.read(buffer);  // bound
    thread_ = std::thread([this] {
      for (;;) {
        boost::beast::flat_buffer b;
        boost::beast::error_code ec;
        socket_.read(b, ec);
        if (ec) return;
        MutexLock lock(mu_);
        times_.push_back(Clock::now());
      }
    });
  }
  ~Listener() {
    boost::beast::error_code ec;
    socket_.next_layer().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    thread_.join();
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  std::vector<Clock::time_point> times() {
    MutexLock lock(mu_);
    return times_;
  }

 private:
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> socket_;
  Mutex mu_;
  std::vector<Clock::time_point> times_ IOMT_GUARDED_BY(mu_);
  std::thread thread_;
};

void PrintLatency(const char* name, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
  std::printf("%-34s %6zu %9.2f %9.2f %9.2f\n", name, ms.size(), at(0.5), at(0.99), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 300'000, batch = 1'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--count") == 0) count = std::strtoul(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--batch") == 0) batch = std::strtoul(argv[i + 1], nullptr, 10);
  }
  const std::string root =
      (fs::temp_directory_path() / ("iomt-subscription-bench-" + std::to_string(getpid()))).string();
  std::vector<std::string> all;
  all.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    all.push_back(Observation(static_cast<int>(i)));

  std::printf("%zu Observations in batches of %zu, durable commits\n", count, batch);
  // The baseline before and after the cases (their mean is the ratios'
  // denominator), after a warm-up run that is not counted: the first run
  // pays for the page cache and the file system's allocation.
  auto run_baseline = [&] {
    Case c = Open(root + "/baseline", false);
    return Write(*c.store, all, batch);
  };
  (void)run_baseline();
  const double before = run_baseline();
  struct Row {
    const char* name;
    double rate;
    server::Subscriptions::Counts counts;
  };
  std::vector<Row> rows;
  Receiver receiver;
  for (int k = 0; k < 3; ++k) {
    Case c = Open(root + "/case" + std::to_string(k), true);
    const char* name = "idle (none stored)";
    if (k == 1) {
      name = "alarm (rest-hook + websocket)";
      Subscribe(c, "Observation?code=8867-4&value-quantity=gt140",
                R"({"type":"rest-hook","endpoint":")" + receiver.url() + "\"}");
      Subscribe(c, "Observation?code=8867-4", R"({"type":"websocket"})");
    } else if (k == 2) {
      name = "all, payload (PUT each)";
      Subscribe(c, "Observation",
                R"({"type":"rest-hook","endpoint":")" + receiver.url() + R"(","payload":"application/fhir+json"})");
    }
    const double rate = Write(*c.store, all, batch);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    rows.push_back({name, rate, c.subscriptions->counts()});
    c.fhir->Stop();
  }
  const double after = run_baseline();
  const double baseline = (before + after) / 2;
  std::printf("%-34s %12s %8s %10s %10s\n", "case", "Obs/s", "ratio", "notified", "dropped");
  std::printf("%-34s %12.0f %8s %10s %10s\n", "baseline (no Subscriptions), before", before, "", "-", "-");
  std::printf("%-34s %12.0f %8s %10s %10s\n", "baseline, after", after, "", "-", "-");
  for (const Row& r : rows) {
    std::printf("%-34s %12.0f %8.3f %10lld %10lld\n", r.name, r.rate, r.rate / baseline,
                static_cast<long long>(r.counts.notified), static_cast<long long>(r.counts.dropped));
  }

  // Latency: one matching write per round, from durable to notified.
  Case c = Open(root + "/latency", true);
  Receiver hook;
  Subscribe(c, "Observation?code=8867-4&value-quantity=gt140",
            R"({"type":"rest-hook","endpoint":")" + hook.url() + "\"}");
  const std::string ws = Subscribe(c, "Observation?code=8867-4&value-quantity=gt140", R"({"type":"websocket"})");
  Listener listener(c.fhir->port(), ws);
  std::vector<double> hook_ms, ws_ms;
  for (int round = 0; round < 200; ++round) {
    // One heart rate of 180 among 99 respiratory rates.
    std::vector<store::PutRequest> puts;
    for (int j = 0; j < 100; ++j) {
      std::string id = "r";
      id.append(std::to_string(round)).append("-").append(std::to_string(j));
      std::string json = R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":)"
                         R"("http://loinc.org","code":")";
      json.append(j == 50 ? "8867-4" : "9279-1").append(R"("}]},"subject":{"reference":"Patient/p1"},)");
      json.append(R"("valueQuantity":{"value":)").append(j == 50 ? "180" : "16").append("}}");
      puts.push_back({"Observation", std::move(id), std::move(json), std::nullopt});
    }
    const std::size_t hooks_before = hook.times().size(), pings_before = listener.times().size();
    if (!c.store->PutMany(std::move(puts)).ok()) return 1;
    const auto durable = Clock::now();
    for (int w = 0; w < 2000 && (hook.times().size() == hooks_before || listener.times().size() == pings_before); ++w)
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    if (hook.times().size() > hooks_before)
      hook_ms.push_back(std::chrono::duration<double, std::milli>(hook.times()[hooks_before] - durable).count());
    if (listener.times().size() > pings_before)
      ws_ms.push_back(std::chrono::duration<double, std::milli>(listener.times()[pings_before] - durable).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::printf("\nfrom a durable write to its notification (ms)\n%-34s %6s %9s %9s %9s\n", "channel", "n", "p50", "p99",
              "max");
  PrintLatency("rest-hook (POST, no payload)", hook_ms);
  PrintLatency("websocket (ping)", ws_ms);
  c.fhir->Stop();
  fs::remove_all(root);
  return 0;
}
