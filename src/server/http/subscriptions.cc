#include "server/http/subscriptions.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/mutex.h"
#include "common/url.h"
#include "server/http/fhir_api.h"
#include "store/embedded/filter.h"
#include "store/embedded/resource_text.h"
#include "store/remote/http.h"

namespace iomt::server {
namespace {

std::string_view StringOf(const json::Value& v, std::string_view key) {
  json::Value member;
  if (!v.is_object() || !v.Find(key, &member) || !member.is_string()) return {};
  return member.string_value();
}

// What a Subscription asks, checked.
struct Plan {
  std::string type;      // of the criteria
  std::string criteria;  // the query after '?'
  std::unique_ptr<store::embedded::Filter> filter;
  std::string channel;  // "rest-hook" or "websocket"
  std::string endpoint;
  bool payload = false;
  std::vector<std::string> headers;  // "Name: value"
  std::string status;
  std::int64_t end_ms = 0;  // 0: no end
  // Texts a matching resource's JSON must hold when it has no escapes
  // (Needles): most writes are told apart without parsing them.
  std::vector<std::string> needles;
};

// For each criteria parameter that one value must match (a token's code, a
// reference's id), the text a matching resource holds in its JSON as
// written: `"8867-4"` for code=http://loinc.org|8867-4, `p1"` for
// patient=Patient/p1. Only plain values (letters, digits, '.', '-', '_'):
// they have no escaped form but \u escapes, and the caller skips the
// check for a JSON with any backslash. Parameters with modifiers, OR lists
// and other kinds give none.
std::vector<std::string> Needles(std::string_view criteria) {
  static const std::set<std::string, std::less<>> kTokens = {"code",   "identifier", "status",        "category",
                                                             "gender", "_id",        "component-code"};
  static const std::set<std::string, std::less<>> kReferences = {"patient", "subject", "device", "encounter"};
  std::vector<std::string> out;
  for (const url::QueryPiece& piece : url::SplitQuery(criteria)) {
    const std::string name = url::PercentDecode(piece.name);
    const std::string value = url::PercentDecode(piece.value);
    const bool token = kTokens.count(name) != 0;
    if ((!token && kReferences.count(name) == 0) || value.empty() || value.find(',') != std::string::npos) continue;
    const std::size_t cut = value.find_last_of(token ? '|' : '/');
    const std::string part = cut == std::string::npos ? value : value.substr(cut + 1);
    const bool plain = !part.empty() && std::all_of(part.begin(), part.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '.' || ch == '-' || ch == '_';
    });
    if (!plain) continue;
    out.push_back(token ? "\"" + part + "\"" : part + "\"");
  }
  return out;
}

Result<Plan> MakePlan(const json::Value& root, const std::vector<std::string>& allowed_endpoints) {
  if (StringOf(root, "resourceType") != "Subscription") return InvalidArgument("Not a Subscription.");
  Plan plan;
  plan.status = std::string(StringOf(root, "status"));
  const std::string_view criteria = StringOf(root, "criteria");
  if (criteria.empty()) return InvalidArgument("Subscription.criteria is required (e.g. Observation?code=8867-4).");
  const std::size_t q = criteria.find('?');
  plan.type = std::string(criteria.substr(0, q));
  plan.criteria = q == std::string_view::npos ? "" : std::string(criteria.substr(q + 1));
  if (plan.type.empty() || std::isupper(static_cast<unsigned char>(plan.type.front())) == 0 ||
      plan.type.find('/') != std::string::npos) {
    return InvalidArgument("Subscription.criteria '" + std::string(criteria) +
                           "' does not start with a resource type (Type?search).");
  }
  Result<std::unique_ptr<store::embedded::Filter>> filter = store::embedded::MakeCriteria(plan.type, plan.criteria);
  if (!filter.ok()) return InvalidArgument("Subscription.criteria: " + filter.status().message());
  plan.filter = std::move(filter).value();
  plan.needles = Needles(plan.criteria);
  json::Value channel;
  if (!root.Find("channel", &channel) || !channel.is_object())
    return InvalidArgument("Subscription.channel is required.");
  plan.channel = std::string(StringOf(channel, "type"));
  if (plan.channel != "rest-hook" && plan.channel != "websocket") {
    return InvalidArgument("Subscription.channel.type '" + plan.channel +
                           "' is not served here (rest-hook, websocket).");
  }
  plan.endpoint = std::string(StringOf(channel, "endpoint"));
  if (plan.channel == "rest-hook" && !plan.endpoint.starts_with("http://") && !plan.endpoint.starts_with("https://")) {
    return InvalidArgument("A rest-hook Subscription needs channel.endpoint, an http:// or https:// URL.");
  }
  if (plan.channel == "rest-hook" && !allowed_endpoints.empty() &&
      std::none_of(allowed_endpoints.begin(), allowed_endpoints.end(),
                   [&](const std::string& prefix) { return plan.endpoint.starts_with(prefix); })) {
    return InvalidArgument(
        "Subscription.channel.endpoint is not among the endpoints this server notifies "
        "(its subscriptions.restHookEndpoints).");
  }
  const std::string_view payload = StringOf(channel, "payload");
  if (!payload.empty() && payload != "application/fhir+json" && payload != "application/json") {
    return InvalidArgument("Subscription.channel.payload '" + std::string(payload) +
                           "': this server sends JSON only (application/fhir+json), or no payload.");
  }
  plan.payload = !payload.empty();
  json::Value headers;
  if (channel.Find("header", &headers)) {
    if (!headers.is_array()) return InvalidArgument("Subscription.channel.header is a list of strings.");
    for (const json::Value& h : headers.elements()) {
      if (!h.is_string() || h.string_value().find(':') == std::string_view::npos ||
          h.string_value().find_first_of("\r\n") != std::string_view::npos) {
        return InvalidArgument("Subscription.channel.header: each is one line, 'Name: value'.");
      }
      plan.headers.emplace_back(h.string_value());
    }
  }
  const std::string_view end = StringOf(root, "end");
  if (!end.empty()) {
    std::int64_t lo = 0, hi = 0;
    if (!store::embedded::ParseDateRange(end, &lo, &hi)) return InvalidArgument("Subscription.end is not an instant.");
    plan.end_ms = hi;
  }
  return plan;
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class Subscriptions::Impl {
 public:
  Impl(store::EmbeddedStore* store, SubscriptionOptions options) : store_(store), options_(std::move(options)) {}
  ~Impl() { Stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Start() {
    // Watching first, then reading what is stored: a Subscription written
    // in between is seen twice, which is harmless (Register is idempotent,
    // and a version older than the one registered is ignored).
    Watch();
    for (std::size_t offset = 0;; offset += 500) {
      Result<store::SearchPage> page =
          store_->Search("Subscription", "_count=500&_total=none&_offset=" + std::to_string(offset));
      IOMT_RETURN_IF_ERROR(page.status());
      // Registered here, before Start returns, so that no write the caller
      // makes after it goes unmatched.
      for (const store::Resource& r : page->resources)
        Register({"Subscription", r.id, std::stoll(r.version_id), false, r.json});
      if (!page->next_offset) break;
    }
    Watch();
    thread_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }

  void Stop() {
    {
      MutexLock lock(queue_mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    store_->WatchChanges({}, {});
    queue_cv_.NotifyAll();
    if (thread_.joinable()) thread_.join();
    std::map<std::string, Sub> subs;  // their rest-hook threads stop, outside the lock
    MutexLock lock(mu_);
    subs.swap(subs_);
    lock.Unlock();
  }

  std::optional<HttpResponse> Handle(const HttpRequest& request, const std::vector<std::string>& parts) {
    if (parts.size() == 1 && parts[0] == "websocket") {
      if (request.method != "GET") return FhirOutcome(405, "not-supported", "The WebSocket endpoint takes GET.");
      if (!request.websocket_upgrade) {
        HttpResponse r = FhirOutcome(426, "not-supported",
                                     "This is the WebSocket of Subscriptions: connect with a WebSocket client, then "
                                     "send 'bind {id}'.");
        r.headers.emplace_back("Upgrade", "websocket");
        return r;
      }
      HttpResponse r;
      r.websocket = socket_handler_;
      return r;
    }
    const bool writes_subscription =
        !parts.empty() && parts[0] == "Subscription" &&
        ((request.method == "POST" && parts.size() == 1) || (request.method == "PUT" && parts.size() <= 2));
    if (!writes_subscription) return std::nullopt;
    if (Status st = Check(request.body); !st.ok()) return FhirOutcome(400, "not-supported", st.message());
    return std::nullopt;
  }

  Status Check(std::string_view subscription_json) const {
    json::Document doc;
    if (Status st = doc.Parse(subscription_json); !st.ok()) return InvalidArgument("Not valid JSON: " + st.message());
    return MakePlan(doc.root(), options_.allowed_endpoints).status();
  }

  Counts counts() {
    Counts c;
    {
      MutexLock lock(mu_);
      c.active = static_cast<std::int64_t>(subs_.size());
    }
    c.notified = notified_.load();
    c.failed = failed_.load();
    c.dropped = dropped_.load();
    return c;
  }

 private:
  // A rest-hook's deliveries, sent by a thread of its own.
  struct Delivery {
    std::string method;  // POST (no body) or PUT (the resource)
    std::string url;
    std::string body;
  };
  class Hook {
   public:
    Hook(Impl* owner, std::string id, std::shared_ptr<const Plan> plan)
        : owner_(owner), id_(std::move(id)), plan_(std::move(plan)), pool_(PoolOptions(owner->options_)) {
      thread_ = std::thread([this] { Run(); });
    }
    ~Hook() {
      {
        MutexLock lock(mu_);
        stop_ = true;
      }
      cv_.NotifyAll();
      thread_.join();
    }
    Hook(const Hook&) = delete;
    Hook& operator=(const Hook&) = delete;
    void Push(Delivery d) {
      {
        MutexLock lock(mu_);
        if (queue_.size() >= owner_->options_.max_queued_deliveries) {
          ++owner_->dropped_;
          return;
        }
        // One body-less POST says all a second one would.
        if (d.method == "POST" && !queue_.empty() && queue_.back().method == "POST") return;
        queue_.push_back(std::move(d));
      }
      cv_.NotifyOne();
    }

   private:
    static store::http::PoolOptions PoolOptions(const SubscriptionOptions& o) {
      store::http::PoolOptions p;
      p.max_connections = 1;
      p.connect_timeout = std::chrono::milliseconds(o.rest_hook_timeout_ms);
      p.request_timeout = std::chrono::milliseconds(o.rest_hook_timeout_ms);
      p.user_agent = "iomt-subscription";
      return p;
    }
    void Run() {
      for (;;) {
        Delivery d;
        {
          MutexLock lock(mu_);
          while (!stop_ && queue_.empty())
            cv_.Wait(lock);
          if (stop_) return;
          d = std::move(queue_.front());
          queue_.pop_front();
        }
        std::string why;
        for (int attempt = 1; attempt <= owner_->options_.rest_hook_attempts; ++attempt) {
          store::http::Request request;
          request.method = d.method;
          request.url = d.url;
          request.headers = plan_->headers;
          if (!d.body.empty()) request.headers.emplace_back("Content-Type: application/fhir+json");
          request.body = d.body;
          store::http::Outcome out = pool_.Perform(request);
          if (out.error == store::http::TransportError::kNone && out.response.status >= 200 &&
              out.response.status < 300) {
            ++owner_->notified_;
            why.clear();
            break;
          }
          ++owner_->failed_;
          why = out.error != store::http::TransportError::kNone
                    ? "the endpoint did not answer (" + out.error_text + ")"
                    : "the endpoint answered HTTP " + std::to_string(out.response.status);
          if (attempt == owner_->options_.rest_hook_attempts) break;
          // 0.5 s, 1 s, 2 s ... between attempts; Stop() cuts it short.
          const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500 << (attempt - 1));
          MutexLock lock(mu_);
          while (!stop_ && std::chrono::steady_clock::now() < until)
            cv_.WaitUntil(lock, until);
          if (stop_) return;
        }
        if (!why.empty()) {
          owner_->SetStatus(
              id_, "error",
              "Notification failed " + std::to_string(owner_->options_.rest_hook_attempts) + " times: " + why + ".");
          return;  // the Subscription is off until a client sets it active again
        }
      }
    }

    Impl* owner_;
    std::string id_;
    std::shared_ptr<const Plan> plan_;
    store::http::Pool pool_;
    Mutex mu_;
    CondVar cv_;
    std::deque<Delivery> queue_ IOMT_GUARDED_BY(mu_);
    bool stop_ IOMT_GUARDED_BY(mu_) = false;
    std::thread thread_;
  };

  struct Sub {
    std::shared_ptr<const Plan> plan;
    std::unique_ptr<Hook> hook;                     // rest-hook
    std::vector<std::weak_ptr<WebSocket>> sockets;  // websocket: those bound to it
  };

  // Watches the Subscription type and the types of the criteria served.
  void Watch() {
    std::set<std::string> types = {"Subscription"};
    {
      MutexLock lock(mu_);
      for (const auto& [id, sub] : subs_)
        types.insert(sub.plan->type);
    }
    if (types == watched_) return;
    watched_ = types;
    store_->WatchChanges(std::vector<std::string>(types.begin(), types.end()),
                         [this](std::vector<store::StoreChange>&& changes) { Enqueue(std::move(changes)); });
  }

  // On the committing thread, under the store's lock: hand over, never wait.
  void Enqueue(std::vector<store::StoreChange>&& changes) {
    std::size_t bytes = 0;
    for (const store::StoreChange& c : changes)
      bytes += c.json.size() + c.id.size() + 64;
    {
      MutexLock lock(queue_mu_);
      if (stopping_) return;
      if (queued_bytes_ + bytes > options_.max_queued_bytes) {
        // The resources' notifications are dropped; the Subscriptions'
        // own writes are kept (few, small), or what is served would no
        // longer be what is stored.
        const auto kept = std::partition(changes.begin(), changes.end(),
                                         [](const store::StoreChange& c) { return c.type == "Subscription"; });
        dropped_ += static_cast<std::int64_t>(changes.end() - kept);
        changes.erase(kept, changes.end());
        if (changes.empty()) return;
        bytes = 0;
      }
      queued_bytes_ += bytes;
      queue_.emplace_back(std::move(changes), bytes);
    }
    queue_cv_.NotifyOne();
  }

  void Loop() {
    for (;;) {
      std::deque<std::pair<std::vector<store::StoreChange>, std::size_t>> batches;
      {
        MutexLock lock(queue_mu_);
        while (!stopping_ && queue_.empty())
          queue_cv_.Wait(lock);
        if (stopping_) return;
        batches.swap(queue_);
        for (const auto& b : batches)
          queued_bytes_ -= b.second;
      }
      for (auto& [changes, bytes] : batches)
        Process(changes);
    }
  }

  void Process(std::vector<store::StoreChange>& changes) {
    // Per subscription id: the newest matching version of each resource.
    std::map<std::string, std::map<std::string, const store::StoreChange*>> matched;
    json::Document doc;
    for (const store::StoreChange& c : changes) {
      if (c.type == "Subscription") {
        Register(c);
        continue;
      }
      if (c.deleted) continue;  // R4: no notification for a deletion
      {
        MutexLock lock(mu_);
        bool parsed = false;
        const std::int64_t now = NowMs();
        const bool literal = c.json.find('\\') == std::string::npos;
        for (const auto& [id, sub] : subs_) {
          const Plan& plan = *sub.plan;
          if (plan.type != c.type || (plan.end_ms != 0 && now > plan.end_ms)) continue;
          if (literal && std::any_of(plan.needles.begin(), plan.needles.end(), [&](const std::string& needle) {
                return c.json.find(needle) == std::string::npos;
              })) {
            continue;
          }
          if (!parsed) {
            if (!doc.Parse(c.json).ok()) break;
            parsed = true;
          }
          if (plan.filter->Matches(doc.root())) matched[id][c.type + "/" + c.id] = &c;
        }
      }
    }
    if (matched.empty()) return;
    MutexLock lock(mu_);
    for (const auto& [id, resources] : matched) {
      auto it = subs_.find(id);
      if (it == subs_.end()) continue;
      Sub& sub = it->second;
      if (sub.hook) {
        if (!sub.plan->payload) {
          sub.hook->Push({"POST", sub.plan->endpoint, ""});
          continue;
        }
        std::string base = sub.plan->endpoint;
        while (!base.empty() && base.back() == '/')
          base.pop_back();
        for (const auto& [key, change] : resources)
          sub.hook->Push({"PUT", std::string(base).append("/").append(key), change->json});
        continue;
      }
      const std::string ping = "ping " + id;
      std::erase_if(sub.sockets, [&](const std::weak_ptr<WebSocket>& w) {
        std::shared_ptr<WebSocket> socket = w.lock();
        if (socket == nullptr) return true;
        if (socket->Send(ping)) {
          ++notified_;
        } else {
          ++dropped_;
        }
        return false;
      });
    }
  }

  // A Subscription written (or read at start): served, changed, or not
  // served any more. True when the set of served ones changed.
  bool Register(const store::StoreChange& c) {
    {
      MutexLock lock(mu_);
      std::int64_t& seen = seen_versions_[c.id];
      if (c.version <= seen) return false;  // already served as it is, or since changed
      seen = c.version;
    }
    if (c.deleted) return Forget(c.id);
    json::Document doc;
    if (!doc.Parse(c.json).ok()) return Forget(c.id);
    Result<Plan> plan = MakePlan(doc.root(), options_.allowed_endpoints);
    const std::string status = std::string(StringOf(doc.root(), "status"));
    if (status != "requested" && status != "active") return Forget(c.id);
    if (!plan.ok()) {
      // Stored by a way that skipped the check (a PATCH, a bundle).
      SetStatus(c.id, "error", plan.status().message());
      return Forget(c.id);
    }
    auto shared = std::make_shared<const Plan>(std::move(plan).value());
    std::unique_ptr<Hook> old_hook;  // joined outside the lock
    {
      MutexLock lock(mu_);
      Sub& sub = subs_[c.id];
      std::vector<std::weak_ptr<WebSocket>> sockets = std::move(sub.sockets);
      old_hook = std::move(sub.hook);
      sub = Sub{};
      sub.plan = shared;
      if (shared->channel == "rest-hook") {
        sub.hook = std::make_unique<Hook>(this, c.id, shared);
      } else {
        sub.sockets = std::move(sockets);
      }
    }
    // The criteria's type is watched before the client can see "active"
    // (and write what it expects to hear about).
    Watch();
    if (status == "requested") SetStatus(c.id, "active", "");
    return true;
  }

  bool Forget(const std::string& id) {
    std::unique_ptr<Hook> hook;  // joined outside the lock
    {
      MutexLock lock(mu_);
      auto it = subs_.find(id);
      if (it == subs_.end()) return false;
      hook = std::move(it->second.hook);
      subs_.erase(it);
    }
    Watch();
    return true;
  }

  // Sets the stored Subscription's status (and error, or removes it), as a
  // new version; the write comes back through the watch.
  void SetStatus(const std::string& id, std::string_view status, std::string_view error) {
    std::string patch = R"([{"op":"add","path":"/status","value":)";
    json::AppendQuoted(&patch, status);
    patch.append("}");
    if (!error.empty()) {
      patch.append(R"(,{"op":"add","path":"/error","value":)");
      json::AppendQuoted(&patch, error);
      patch.append("}");
    }
    patch.append("]");
    if (store_->Patch("Subscription", id, patch, std::nullopt).ok()) (void)store_->Flush();
  }

  // The WebSocket endpoint: "bind {id}" -> "bound {id}", or "error {id}".
  std::shared_ptr<WebSocketHandler> MakeSocketHandler() {
    auto h = std::make_shared<WebSocketHandler>();
    h->on_message = [this](const std::shared_ptr<WebSocket>& socket, std::string_view text) {
      if (!text.starts_with("bind ")) {
        (void)socket->Send("error unknown command (bind {id})");
        return;
      }
      std::string id(text.substr(5));
      if (id.starts_with("Subscription/")) id.erase(0, 13);
      MutexLock lock(mu_);
      auto it = subs_.find(id);
      if (it == subs_.end() || it->second.plan->channel != "websocket") {
        (void)socket->Send("error " + id + " is not an active websocket Subscription");
        return;
      }
      it->second.sockets.push_back(socket);
      (void)socket->Send("bound " + id);
    };
    return h;
  }

  store::EmbeddedStore* store_;
  SubscriptionOptions options_;
  std::shared_ptr<WebSocketHandler> socket_handler_ = MakeSocketHandler();
  std::set<std::string> watched_;  // the hub thread's (and Start's, before it)

  Mutex mu_;
  std::map<std::string, Sub> subs_ IOMT_GUARDED_BY(mu_);
  // The newest version of each Subscription registered (deleted ones too:
  // ids are not reused below it).
  std::map<std::string, std::int64_t> seen_versions_ IOMT_GUARDED_BY(mu_);

  Mutex queue_mu_;
  CondVar queue_cv_;
  std::deque<std::pair<std::vector<store::StoreChange>, std::size_t>> queue_ IOMT_GUARDED_BY(queue_mu_);
  std::size_t queued_bytes_ IOMT_GUARDED_BY(queue_mu_) = 0;
  bool stopping_ IOMT_GUARDED_BY(queue_mu_) = false;
  std::thread thread_;

  std::atomic<std::int64_t> notified_{0}, failed_{0}, dropped_{0};
};

Result<std::unique_ptr<Subscriptions>> Subscriptions::Start(store::EmbeddedStore* store, SubscriptionOptions options) {
  auto impl = std::make_unique<Impl>(store, std::move(options));
  IOMT_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<Subscriptions>(new Subscriptions(std::move(impl)));
}

Subscriptions::Subscriptions(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Subscriptions::~Subscriptions() { Stop(); }
void Subscriptions::Stop() { impl_->Stop(); }

Status Subscriptions::Check(std::string_view subscription_json) { return impl_->Check(subscription_json); }

std::optional<HttpResponse> Subscriptions::Handle(const HttpRequest& request, const std::vector<std::string>& parts) {
  return impl_->Handle(request, parts);
}

Subscriptions::Counts Subscriptions::counts() { return impl_->counts(); }

}  // namespace iomt::server
