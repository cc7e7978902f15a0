#include "store/remote/remote_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <random>
#include <thread>

#include "common/json/document.h"
#include "common/json/node.h"
#include "common/json/writer.h"
#include "common/mutex.h"
#include "store/remote/http.h"

namespace iomt::store {

namespace {

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts)
    out.append(p);
  return out;
}

Status ServiceError(StatusCode code, std::string message) {
  return Status(code, std::move(message)).WithError(ErrorName::kFhirService);
}
Status AuthorizationError(std::string message) {
  return Status(StatusCode::kUnavailable, std::move(message)).WithError(ErrorName::kFhirServiceAuthorization);
}
Status ConfigurationError(std::string message, StatusCode code = StatusCode::kUnavailable) {
  return Status(code, std::move(message)).WithError(ErrorName::kFhirServiceConfiguration);
}

bool Retryable(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

// scheme://host[:port] of a URL, for keeping requests (and the token) on the
// configured server.
std::string_view Origin(std::string_view url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::size_t end = url.find_first_of("/?#", scheme + 3);
  return url.substr(0, end);
}

// The path and query of a URL, for messages.
std::string_view PathOf(std::string_view url) {
  std::string_view origin = Origin(url);
  return origin.empty() ? url : url.substr(origin.size());
}

// W/"3" -> 3
std::string VersionFromEtag(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

std::string StringMember(const json::Value& v, std::string_view key) {
  json::Value m;
  return v.Find(key, &m) && m.is_string() ? std::string(m.string_value()) : std::string();
}

// The texts of an OperationOutcome's issues, or the start of a body that is
// not one.
std::string OutcomeText(const json::Value& outcome) {
  std::string text;
  json::Value issues;
  if (!outcome.Find("issue", &issues) || !issues.is_array()) return text;
  for (json::Value issue : issues.elements()) {
    std::string part = StringMember(issue, "diagnostics");
    json::Value details;
    if (part.empty() && issue.Find("details", &details)) part = StringMember(details, "text");
    if (part.empty()) part = StringMember(issue, "code");
    if (part.empty()) continue;
    if (!text.empty()) text.append("; ");
    text.append(part);
  }
  return text;
}

std::string BodyText(std::string_view body) {
  thread_local json::Document doc;
  if (doc.Parse(body).ok() && doc.root().is_object()) {
    std::string text = OutcomeText(doc.root());
    if (!text.empty()) return text;
  }
  std::string out(body.substr(0, 200));
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

std::string StatusText(long status, std::string_view body) {
  std::string out = "HTTP ";
  out.append(std::to_string(status));
  std::string text = BodyText(body);
  if (!text.empty()) out.append(" (").append(text).append(")");
  return out;
}

// A failed answer to a request that is not retried: 409/412 lose a race,
// anything else fails this request only.
Status HttpFailure(std::string_view what, long status, std::string_view body) {
  std::string message = Cat({what, ": "});
  message.append(StatusText(status, body));
  if (status == 409 || status == 412) return Conflict(std::move(message));
  return ServiceError(StatusCode::kInvalidArgument, std::move(message));
}

// A stored resource from a server's answer: the returned resource, or (when
// the server answered Prefer: return=minimal) the sent one with the new meta.
Result<Resource> ResourceFromAnswer(std::string_view body, std::string_view etag, std::string_view id,
                                    std::string_view sent) {
  thread_local json::Document doc;
  if (!body.empty() && doc.Parse(body).ok() && doc.root().is_object()) {
    json::Value root = doc.root();
    if (!StringMember(root, "resourceType").empty()) {
      Resource r;
      r.id = StringMember(root, "id");
      if (r.id.empty()) r.id = std::string(id);
      json::Value meta;
      if (root.Find("meta", &meta)) r.version_id = StringMember(meta, "versionId");
      if (r.version_id.empty()) r.version_id = VersionFromEtag(etag);
      r.json = std::string(body);
      return r;
    }
  }
  Resource r{std::string(id), VersionFromEtag(etag), std::string(sent)};
  IOMT_ASSIGN_OR_RETURN(json::Node node, json::ParseNode(sent));
  if (node.is_object() && !r.version_id.empty()) {
    json::Node* meta = node.Find("meta");
    if (meta == nullptr || !meta->is_object()) meta = &node.Set("meta", json::Node::Object());
    meta->Set("versionId", json::Node::String(r.version_id));
    r.json = node.ToJson();
  }
  return r;
}

// Runs fn(0..n-1) on up to `workers` threads (inline for one).
template <typename F>
void ParallelFor(std::size_t n, std::size_t workers, F&& fn) {
  workers = std::min(workers, n);
  if (workers <= 1) {
    for (std::size_t i = 0; i < n; ++i)
      fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++)
        fn(i);
    });
  }
  for (std::thread& t : threads)
    t.join();
}

std::string TrimTrailingSlashes(std::string url) {
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  return url;
}

const std::vector<std::string> kJsonHeaders = {"Accept: application/fhir+json"};
const std::vector<std::string> kWriteHeaders = {"Accept: application/fhir+json",
                                                "Content-Type: application/fhir+json; charset=utf-8",
                                                "Prefer: return=representation"};

}  // namespace

RemoteFhirClient::RemoteFhirClient(RemoteOptions options) : options_(std::move(options)) {
  http::PoolOptions pool;
  pool.max_connections = options_.max_connections;
  pool.connect_timeout = options_.connect_timeout;
  pool.request_timeout = options_.request_timeout;
  pool_ = std::make_unique<http::Pool>(std::move(pool));
  post_search_ = options_.post_search;
}

RemoteFhirClient::~RemoteFhirClient() = default;

Result<std::unique_ptr<RemoteFhirClient>> RemoteFhirClient::Connect(RemoteOptions options) {
  options.base_url = TrimTrailingSlashes(std::move(options.base_url));
  std::string_view origin = Origin(options.base_url);
  if (options.base_url.empty() ||
      !(options.base_url.starts_with("http://") || options.base_url.starts_with("https://")) ||
      origin.size() <= options.base_url.find("://") + 3) {
    return ConfigurationError(Cat({"The FHIR service URL \"", options.base_url,
                                   "\" is not valid: give the service base as an http:// or https:// URL, e.g. "
                                   "https://myworkspace-myfhir.fhir.azurehealthcareapis.com"}),
                              StatusCode::kInvalidArgument);
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  if (options.batch_size == 0) options.batch_size = 1;
  std::unique_ptr<RemoteFhirClient> client(new RemoteFhirClient(std::move(options)));
  IOMT_RETURN_IF_ERROR(client->CheckMetadata());
  return client;
}

Status RemoteFhirClient::CheckMetadata() {
  const std::string url = options_.base_url + "/metadata";
  http::Outcome first = pool_->Perform({"GET", url, kJsonHeaders, {}});
  Count(first);
  if (first.error == http::TransportError::kBadUrl) {
    return ConfigurationError(Cat({"The FHIR service URL \"", options_.base_url, "\" is not valid (", first.error_text,
                                   "): give the service base as an http:// or https:// URL"}),
                              StatusCode::kInvalidArgument);
  }
  if (first.error == http::TransportError::kResolve) {
    return ConfigurationError(Cat({"The FHIR service host of \"", options_.base_url, "\" does not resolve (",
                                   first.error_text, "): check the host name in the FHIR service URL"}));
  }
  if (first.error != http::TransportError::kNone) {
    return ConfigurationError(
        Cat({"Could not reach the FHIR service at \"", options_.base_url, "\" (", first.error_text,
             "): check the URL and its port, that the server runs and that no firewall or proxy is in the way"}));
  }
  HttpAnswer answer{first.response.status, std::move(first.response.body), std::move(first.response.etag)};
  const bool credentials = !options_.bearer_token.empty() || !options_.oauth.token_url.empty();
  if (Retryable(answer.status) || ((answer.status == 401 || answer.status == 403) && credentials)) {
    // Busy or starting: the usual retries. Refused: metadata is public on
    // most servers (Azure's too), not on all; again with the credentials.
    IOMT_ASSIGN_OR_RETURN(answer, Send("GET", url, {}, kJsonHeaders, "GET metadata"));
  }
  if (answer.status == 401 || answer.status == 403) {
    return AuthorizationError(Cat({"The FHIR service at \"", options_.base_url, "\" refused GET metadata (",
                                   StatusText(answer.status, answer.body),
                                   "): check the token or the OAuth2 client and that it has access to this service"}));
  }
  if (answer.status == 404) {
    return ConfigurationError(Cat({"No FHIR endpoint at \"", options_.base_url,
                                   "\": GET metadata answered 404. Check the FHIR service URL: it is the base "
                                   "under which /metadata and /Patient are (e.g. .../fhir/R4 for some servers)"}));
  }
  thread_local json::Document doc;
  bool parsed = answer.status == 200 && doc.Parse(answer.body).ok() && doc.root().is_object();
  if (!parsed || StringMember(doc.root(), "resourceType") != "CapabilityStatement") {
    std::string message = Cat({"\"", options_.base_url,
                               "\" does not look like a FHIR service: GET metadata did not answer a "
                               "CapabilityStatement ("});
    message.append(parsed ? Cat({"a ", StringMember(doc.root(), "resourceType")}) : StatusText(answer.status, {}))
        .append("). Check the FHIR service URL");
    return ConfigurationError(std::move(message));
  }
  std::string version = StringMember(doc.root(), "fhirVersion");
  if (!version.empty() && !version.starts_with("4.0")) {
    return ConfigurationError(Cat({"The FHIR service at \"", options_.base_url, "\" speaks FHIR ", version,
                                   "; iomt writes FHIR R4 (4.0.x). Check the FHIR service URL"}));
  }
  bool batch = false;
  json::Value rest;
  if (doc.root().Find("rest", &rest) && rest.is_array()) {
    for (json::Value r : rest.elements()) {
      json::Value interactions;
      if (!r.Find("interaction", &interactions) || !interactions.is_array()) continue;
      for (json::Value i : interactions.elements())
        if (StringMember(i, "code") == "batch") batch = true;
    }
  }
  use_batch_ =
      options_.batch == RemoteOptions::Batch::kAlways || (options_.batch == RemoteOptions::Batch::kAuto && batch);

  // metadata is public on most servers (Azure's too): a search tells
  // whether the credentials work before any data is sent.
  if (!options_.oauth.token_url.empty()) IOMT_RETURN_IF_ERROR(Token(nullptr).status());
  IOMT_ASSIGN_OR_RETURN(HttpAnswer probe, Send("GET", options_.base_url + "/Patient?_count=1", {}, kJsonHeaders,
                                               "GET Patient?_count=1 (the start-up check)"));
  (void)probe;  // any answer but 401/403 (which Send reports) will do
  return Status::Ok();
}

Result<std::string> RemoteFhirClient::Token(const std::string* stale) {
  if (options_.oauth.token_url.empty()) return options_.bearer_token;
  MutexLock lock(token_mu_);
  auto now = std::chrono::steady_clock::now();
  bool refresh = token_.empty() || now >= token_expires_ || (stale != nullptr && *stale == token_);
  if (!refresh) return token_;

  std::string form = "grant_type=client_credentials&client_id=";
  form.append(http::PercentEncode(options_.oauth.client_id))
      .append("&client_secret=")
      .append(http::PercentEncode(options_.oauth.client_secret));
  if (!options_.oauth.scope.empty()) form.append("&scope=").append(http::PercentEncode(options_.oauth.scope));
  const std::vector<std::string> headers = {"Accept: application/json",
                                            "Content-Type: application/x-www-form-urlencoded"};
  std::string last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    http::Outcome o = pool_->Perform({"POST", options_.oauth.token_url, headers, form});
    {
      MutexLock stats_lock(stats_mu_);
      ++stats_.token_requests;
    }
    if (o.error == http::TransportError::kNone && o.response.status == 200) {
      thread_local json::Document doc;
      json::Value v;
      if (!doc.Parse(o.response.body).ok() || !doc.root().Find("access_token", &v) || !v.is_string()) {
        return AuthorizationError(Cat({"The OAuth2 token endpoint \"", options_.oauth.token_url,
                                       "\" answered without an access_token: check the token URL"}));
      }
      token_ = std::string(v.string_value());
      double expires_in = 3600;
      json::Value e;
      if (doc.root().Find("expires_in", &e)) {
        if (e.is_number()) expires_in = e.AsDouble();
        if (e.is_string()) expires_in = std::strtod(std::string(e.string_value()).c_str(), nullptr);
      }
      // Renewed a little before it expires, so no request carries a token
      // that expires on the way: a tenth of its life, at most a minute.
      double margin = std::min(60.0, expires_in / 10);
      token_expires_ = now + std::chrono::milliseconds(static_cast<std::int64_t>((expires_in - margin) * 1000));
      return token_;
    }
    bool retry = o.error == http::TransportError::kRetryable ||
                 (o.error == http::TransportError::kNone && Retryable(o.response.status));
    last = o.error != http::TransportError::kNone ? o.error_text : StatusText(o.response.status, {});
    if (o.error == http::TransportError::kNone && !retry) {
      thread_local json::Document doc;
      std::string error, description;
      if (doc.Parse(o.response.body).ok()) {
        error = StringMember(doc.root(), "error");
        description = StringMember(doc.root(), "error_description");
      }
      if (!error.empty()) last.append(" ").append(error);
      if (!description.empty()) last.append(": ").append(description);
      break;
    }
    if (!retry) break;
    if (attempt < options_.max_attempts) std::this_thread::sleep_for(Backoff(attempt));
  }
  token_.clear();
  return AuthorizationError(Cat({"Could not obtain an OAuth2 token from \"", options_.oauth.token_url, "\" (", last,
                                 "): check the token URL, the client id, the client secret and the scope"}));
}

std::chrono::milliseconds RemoteFhirClient::Backoff(int attempt) {
  // Full jitter (a uniform wait up to the exponential bound): clients that
  // failed together do not come back together.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::int64_t cap = options_.initial_backoff.count();
  for (int i = 1; i < attempt && cap < options_.max_backoff.count(); ++i)
    cap *= 2;
  cap = std::min<std::int64_t>(cap, options_.max_backoff.count());
  if (cap <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, cap)(rng));
}

void RemoteFhirClient::Count(const http::Outcome& outcome) {
  MutexLock lock(stats_mu_);
  ++stats_.requests;
  if (outcome.error != http::TransportError::kNone) {
    ++stats_.transport_errors;
  } else {
    ++stats_.by_status[outcome.response.status];
  }
}

RemoteStats RemoteFhirClient::stats() const {
  MutexLock lock(stats_mu_);
  return stats_;
}

Result<RemoteFhirClient::HttpAnswer> RemoteFhirClient::Send(std::string_view method, const std::string& url,
                                                            std::string_view body,
                                                            const std::vector<std::string>& headers,
                                                            std::string_view what) {
  const bool oauth = !options_.oauth.token_url.empty();
  bool refreshed = false;
  std::string last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    std::vector<std::string> all = headers;
    std::string token;
    if (oauth || !options_.bearer_token.empty()) {
      IOMT_ASSIGN_OR_RETURN(token, Token(nullptr));
      all.push_back("Authorization: Bearer " + token);
    }
    http::Outcome o = pool_->Perform({method, url, all, body});
    Count(o);
    if (attempt > 1) {
      MutexLock lock(stats_mu_);
      ++stats_.retries;
    }
    std::chrono::milliseconds wait = Backoff(attempt);
    if (o.error != http::TransportError::kNone) {
      if (o.error == http::TransportError::kBadUrl || o.error == http::TransportError::kOther) {
        return ServiceError(StatusCode::kUnavailable, Cat({what, " failed: ", o.error_text}));
      }
      last = o.error_text;
    } else {
      const long status = o.response.status;
      if (status == 401 || status == 403) {
        if (oauth && !refreshed) {
          // The token may have been revoked or expired early: one new one.
          refreshed = true;
          IOMT_RETURN_IF_ERROR(Token(&token).status());
          --attempt;
          continue;
        }
        return AuthorizationError(
            Cat({what, ": the FHIR service answered ", StatusText(status, o.response.body),
                 oauth ? ". Check that the OAuth2 client has a role on the FHIR service (e.g. FHIR Data Contributor) "
                         "and that the scope names this service"
                       : ". Check the bearer token: that it is set, has not expired and grants access to this "
                         "FHIR service"}));
      }
      if (!Retryable(status)) return HttpAnswer{status, std::move(o.response.body), std::move(o.response.etag)};
      last = StatusText(status, o.response.body);
      double after = http::RetryAfterSeconds(o.response.retry_after, std::chrono::system_clock::now());
      if (after >= 0) {
        wait = std::min(options_.max_retry_after, std::chrono::milliseconds(std::llround(after * 1000)));
        MutexLock lock(stats_mu_);
        ++stats_.retry_after;
      }
    }
    if (attempt < options_.max_attempts) std::this_thread::sleep_for(wait);
  }
  std::string message = Cat({what, " failed after ", std::to_string(options_.max_attempts), " attempts; the last: "});
  message.append(last);
  return ServiceError(StatusCode::kUnavailable, std::move(message));
}

Result<std::optional<Resource>> RemoteFhirClient::Read(std::string_view type, std::string_view id) {
  std::string url = Cat({options_.base_url, "/", type, "/", http::PercentEncode(id)});
  std::string what = Cat({"GET ", type, "/", id});
  IOMT_ASSIGN_OR_RETURN(HttpAnswer a, Send("GET", url, {}, kJsonHeaders, what));
  if (a.status == 404 || a.status == 410) return std::optional<Resource>();
  if (a.status != 200) return HttpFailure(what, a.status, a.body);
  IOMT_ASSIGN_OR_RETURN(Resource r, ResourceFromAnswer(a.body, a.etag, id, {}));
  return std::optional<Resource>(std::move(r));
}

Result<Resource> RemoteFhirClient::Put(std::string_view type, std::string_view id, std::string json,
                                       std::optional<std::string_view> if_match) {
  std::string url = Cat({options_.base_url, "/", type, "/", http::PercentEncode(id)});
  std::string what = Cat({"PUT ", type, "/", id});
  std::vector<std::string> headers = kWriteHeaders;
  if (if_match) headers.push_back(Cat({"If-Match: W/\"", *if_match, "\""}));
  IOMT_ASSIGN_OR_RETURN(HttpAnswer a, Send("PUT", url, json, headers, what));
  if (a.status != 200 && a.status != 201) return HttpFailure(what, a.status, a.body);
  return ResourceFromAnswer(a.body, a.etag, id, json);
}

Result<std::vector<Result<Resource>>> RemoteFhirClient::PutMany(std::vector<PutRequest> requests) {
  std::vector<Result<Resource>> out(requests.size(), Status(StatusCode::kInternal, "not written"));
  if (requests.empty()) return out;
  const auto workers = static_cast<std::size_t>(std::max(1, options_.max_connections));
  Mutex mu;
  Status failed;
  if (!use_batch_) {
    ParallelFor(requests.size(), workers, [&](std::size_t i) {
      PutRequest& r = requests[i];
      std::optional<std::string_view> if_match;
      if (r.if_match) if_match = *r.if_match;
      out[i] = Put(r.type, r.id, std::move(r.json), if_match);
    });
  } else {
    const std::size_t size = options_.batch_size;
    const std::size_t chunks = (requests.size() + size - 1) / size;
    ParallelFor(chunks, workers, [&](std::size_t c) {
      std::size_t begin = c * size, end = std::min(requests.size(), begin + size);
      std::vector<PutRequest> chunk(std::make_move_iterator(requests.begin() + static_cast<std::ptrdiff_t>(begin)),
                                    std::make_move_iterator(requests.begin() + static_cast<std::ptrdiff_t>(end)));
      auto written = PutBatch(chunk);
      if (!written.ok()) {
        MutexLock lock(mu);
        if (failed.ok()) failed = written.status();
        return;
      }
      for (std::size_t k = 0; k < written->size(); ++k)
        out[begin + k] = std::move((*written)[k]);
    });
  }
  if (!failed.ok()) return failed;
  // An unreachable server fails the round trip as a whole (the contract).
  for (const Result<Resource>& r : out)
    if (!r.ok() && r.status().code() == StatusCode::kUnavailable) return r.status();
  return out;
}

Result<std::vector<Result<Resource>>> RemoteFhirClient::PutBatch(std::vector<PutRequest>& requests) {
  std::vector<Result<Resource>> out(requests.size(), Status(StatusCode::kInternal, "not written"));
  std::vector<std::size_t> pending(requests.size());
  for (std::size_t i = 0; i < pending.size(); ++i)
    pending[i] = i;
  std::string last;
  for (int attempt = 1; attempt <= options_.max_attempts && !pending.empty(); ++attempt) {
    std::string bundle = R"({"resourceType":"Bundle","type":"batch","entry":[)";
    for (std::size_t k = 0; k < pending.size(); ++k) {
      const PutRequest& r = requests[pending[k]];
      if (k > 0) bundle.push_back(',');
      bundle.append(R"({"resource":)").append(r.json).append(R"(,"request":{"method":"PUT","url":)");
      json::AppendQuoted(&bundle, Cat({r.type, "/", r.id}));
      if (r.if_match) {
        bundle.append(R"(,"ifMatch":)");
        json::AppendQuoted(&bundle, Cat({"W/\"", *r.if_match, "\""}));
      }
      bundle.append("}}");
    }
    bundle.append("]}");
    std::string what = Cat({"POST batch of ", std::to_string(pending.size()), " PUTs"});
    IOMT_ASSIGN_OR_RETURN(HttpAnswer a, Send("POST", options_.base_url, bundle, kWriteHeaders, what));
    if (a.status != 200) {
      // The server refused the Bundle as a whole (too large, one entry it
      // could not read, no batch after all): each write on its own, so that
      // only the bad ones fail.
      ParallelFor(pending.size(), static_cast<std::size_t>(std::max(1, options_.max_connections)), [&](std::size_t k) {
        PutRequest& r = requests[pending[k]];
        std::optional<std::string_view> if_match;
        if (r.if_match) if_match = *r.if_match;
        out[pending[k]] = Put(r.type, r.id, r.json, if_match);
      });
      return out;
    }
    thread_local json::Document doc;
    json::Value entries;
    if (!doc.Parse(a.body).ok() || !doc.root().Find("entry", &entries) || !entries.is_array() ||
        entries.size() != pending.size()) {
      return ServiceError(StatusCode::kUnavailable,
                          Cat({what, ": the batch-response does not answer each entry (", BodyText(a.body), ")"}));
    }
    std::vector<std::size_t> again;
    std::size_t k = 0;
    for (json::Value entry : entries.elements()) {
      const std::size_t i = pending[k++];
      const PutRequest& r = requests[i];
      json::Value response, resource;
      long status = 0;
      std::string etag;
      if (entry.Find("response", &response)) {
        std::string s = StringMember(response, "status");
        std::from_chars(s.data(), s.data() + s.size(), status);
        etag = StringMember(response, "etag");
      }
      std::string entry_what = Cat({"PUT ", r.type, "/", r.id, " (in a batch)"});
      if (status == 200 || status == 201) {
        if (entry.Find("resource", &resource) && resource.is_object()) {
          Resource saved;
          saved.id = StringMember(resource, "id");
          if (saved.id.empty()) saved.id = r.id;
          json::Value meta;
          if (resource.Find("meta", &meta)) saved.version_id = StringMember(meta, "versionId");
          if (saved.version_id.empty()) saved.version_id = VersionFromEtag(etag);
          saved.json = json::ToJson(resource);
          out[i] = std::move(saved);
        } else {
          out[i] = Resource{r.id, VersionFromEtag(etag), {}};  // the sent JSON is added below
        }
      } else if (Retryable(status)) {
        again.push_back(i);
        json::Value outcome;
        last = StatusText(status, {});
        if (response.Find("outcome", &outcome)) last.append(" (").append(OutcomeText(outcome)).append(")");
      } else {
        json::Value outcome;
        std::string text = StatusText(status, {});
        if (response.Find("outcome", &outcome)) {
          std::string detail = OutcomeText(outcome);
          if (!detail.empty()) text.append(" (").append(detail).append(")");
        }
        std::string message = Cat({entry_what, ": ", text});
        out[i] = status == 409 || status == 412 ? Conflict(std::move(message))
                                                : ServiceError(StatusCode::kInvalidArgument, std::move(message));
      }
    }
    // Entries answered without their resource (Prefer: return=minimal):
    // the sent JSON with the new version (parsed after the loop, which
    // still pointed into `doc`).
    for (std::size_t i : pending) {
      if (out[i].ok() && out[i]->json.empty()) {
        IOMT_ASSIGN_OR_RETURN(Resource saved, ResourceFromAnswer({}, Cat({"W/\"", out[i]->version_id, "\""}),
                                                                 requests[i].id, requests[i].json));
        out[i] = std::move(saved);
      }
    }
    pending = std::move(again);
    if (!pending.empty() && attempt < options_.max_attempts) std::this_thread::sleep_for(Backoff(attempt));
  }
  for (std::size_t i : pending) {
    out[i] = ServiceError(StatusCode::kUnavailable,
                          Cat({"PUT ", requests[i].type, "/", requests[i].id, " (in a batch) failed after ",
                               std::to_string(options_.max_attempts), " attempts; the last: ", last}));
  }
  return out;
}

Result<std::vector<Resource>> RemoteFhirClient::Search(std::string_view type, std::string url, std::size_t limit,
                                                       const std::string* form) {
  static const std::vector<std::string> kFormHeaders = {"Accept: application/fhir+json",
                                                        "Content-Type: application/x-www-form-urlencoded"};
  std::vector<Resource> out;
  const std::string origin(Origin(options_.base_url));
  constexpr int kMaxPages = 10'000;
  for (int page = 0; page < kMaxPages && out.size() < limit; ++page) {
    const bool post = page == 0 && form != nullptr;
    std::string what = Cat({post ? "POST " : "GET ", PathOf(url)});
    if (what.size() > 200) {
      what.resize(200);
      what.append("...");
    }
    IOMT_ASSIGN_OR_RETURN(
        HttpAnswer a, post ? Send("POST", url, *form, kFormHeaders, what) : Send("GET", url, {}, kJsonHeaders, what));
    if (a.status != 200) {
      Status failed = HttpFailure(what, a.status, a.body);
      // Tells SearchByIdentifiers to fall back to GETs.
      if (post && (a.status == 400 || a.status == 404 || a.status == 405 || a.status == 415 || a.status == 501)) {
        failed = Status(StatusCode::kNotFound, failed.message()).WithDetail("PostSearchRefused");
      }
      return failed;
    }
    thread_local json::Document doc;
    if (!doc.Parse(a.body).ok() || StringMember(doc.root(), "resourceType") != "Bundle") {
      return ServiceError(StatusCode::kInvalidArgument, Cat({what, ": the answer is not a Bundle"}));
    }
    json::Value entries;
    if (doc.root().Find("entry", &entries) && entries.is_array()) {
      for (json::Value entry : entries.elements()) {
        json::Value search, resource, meta;
        // Resources that _include or an OperationOutcome added are not matches.
        if (entry.Find("search", &search) && !StringMember(search, "mode").empty() &&
            StringMember(search, "mode") != "match") {
          continue;
        }
        if (!entry.Find("resource", &resource) || StringMember(resource, "resourceType") != type) continue;
        Resource r;
        r.id = StringMember(resource, "id");
        if (resource.Find("meta", &meta)) r.version_id = StringMember(meta, "versionId");
        r.json = json::ToJson(resource);
        out.push_back(std::move(r));
        if (out.size() >= limit) break;
      }
    }
    std::string next;
    json::Value links;
    if (doc.root().Find("link", &links) && links.is_array()) {
      for (json::Value link : links.elements())
        if (StringMember(link, "relation") == "next") next = StringMember(link, "url");
    }
    if (next.empty() || out.size() >= limit) break;
    if (next.starts_with("/")) next.insert(0, origin);  // a relative link
    // The token goes only to the configured server.
    if (Origin(next) != origin) {
      return ServiceError(
          StatusCode::kInvalidArgument,
          Cat({what, ": the next page is on another server (", Origin(next), "); iomt sends its credentials only to ",
               origin, ". Check the FHIR server's base URL setting (behind a proxy: X-Forwarded-Host)"}));
    }
    url = std::move(next);
  }
  return out;
}

Result<std::vector<Resource>> RemoteFhirClient::SearchByIdentifier(std::string_view type, std::string_view system,
                                                                   std::string_view value, std::size_t limit) {
  if (limit == 0) return std::vector<Resource>();
  std::string url = Cat({options_.base_url, "/", type, "?identifier="});
  if (!system.empty()) url.append(http::PercentEncode(http::EscapeSearchValue(system))).append("%7C");
  url.append(http::PercentEncode(http::EscapeSearchValue(value)))
      .append("&_count=")
      .append(std::to_string(std::min<std::size_t>(limit, 1000)));
  return Search(type, std::move(url), limit);
}

Result<std::vector<Resource>> RemoteFhirClient::SearchByIdentifiers(std::string_view type, std::string_view system,
                                                                    const std::vector<std::string>& values) {
  if (post_search_.load()) {
    auto found = SearchChunks(type, system, values, true);
    if (found.ok() || found.status().detail() != "PostSearchRefused") return found;
    post_search_ = false;  // this server takes GETs only
  }
  return SearchChunks(type, system, values, false);
}

Result<std::vector<Resource>> RemoteFhirClient::SearchChunks(std::string_view type, std::string_view system,
                                                             const std::vector<std::string>& values, bool post) {
  // One search per chunk of values: for GET, a URL under max_url_bytes
  // (servers and proxies refuse longer ones, commonly at 8 KB); for POST,
  // up to 500 values. A list that fits one URL is always a GET.
  struct Chunk {
    std::string tokens;
    std::size_t count = 0;
  };
  std::vector<Chunk> chunks;
  const std::string prefix = Cat({options_.base_url, "/", type, "?identifier="});
  const std::string system_part =
      system.empty() ? std::string() : http::PercentEncode(http::EscapeSearchValue(system)) + "%7C";
  constexpr std::size_t kCountPart = 12;  // "&_count=1000"
  constexpr std::size_t kMaxPerChunk = 500;
  std::size_t total = prefix.size() + kCountPart;
  for (const std::string& value : values)
    total += system_part.size() + http::PercentEncode(http::EscapeSearchValue(value)).size() + 1;
  post = post && total > options_.max_url_bytes;
  for (const std::string& value : values) {
    std::string token = system_part + http::PercentEncode(http::EscapeSearchValue(value));
    if (chunks.empty() || chunks.back().count >= kMaxPerChunk ||
        (!post &&
         prefix.size() + chunks.back().tokens.size() + 1 + token.size() + kCountPart > options_.max_url_bytes)) {
      chunks.emplace_back();
    }
    Chunk& c = chunks.back();
    if (c.count > 0) c.tokens.push_back(',');
    c.tokens.append(token);
    ++c.count;
  }
  std::vector<Result<std::vector<Resource>>> found(chunks.size(), std::vector<Resource>());
  ParallelFor(chunks.size(), static_cast<std::size_t>(std::max(1, options_.max_connections)), [&](std::size_t c) {
    // Room for a few matches per value; `next` links fetch the rest.
    std::string count = std::to_string(std::min<std::size_t>(1000, std::max<std::size_t>(10, chunks[c].count * 2)));
    if (post) {
      std::string form = Cat({"identifier=", chunks[c].tokens, "&_count=", count});
      found[c] =
          Search(type, Cat({options_.base_url, "/", type, "/_search"}), std::numeric_limits<std::size_t>::max(), &form);
    } else {
      found[c] =
          Search(type, Cat({prefix, chunks[c].tokens, "&_count=", count}), std::numeric_limits<std::size_t>::max());
    }
  });
  std::vector<Resource> out;
  for (auto& f : found) {
    if (!f.ok()) return f.status();
    for (Resource& r : *f)
      out.push_back(std::move(r));
  }
  return out;
}

}  // namespace iomt::store
