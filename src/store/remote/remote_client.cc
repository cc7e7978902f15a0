// The remote FHIR client's core: connecting (the start-up checks of the
// server and the credentials), OAuth2 tokens, every request's retries with
// backoff, and the single-resource Read and Put. PutMany and batch Bundles
// are in remote_batch.cc, searches in remote_search.cc.
#include "store/remote/remote_client.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "common/json/document.h"
#include "common/mutex.h"
#include "store/remote/http.h"
#include "store/remote/remote_internal.h"

namespace iomt::store {

using remote_internal::HttpFailure;
using remote_internal::kJsonHeaders;
using remote_internal::kWriteHeaders;
using remote_internal::Origin;
using remote_internal::ResourceFromAnswer;
using remote_internal::Retryable;
using remote_internal::ServiceError;
using remote_internal::StatusText;
using remote_internal::StringMember;

namespace {

Status AuthorizationError(std::string message) {
  return Status(StatusCode::kUnavailable, std::move(message)).WithError(ErrorName::kFhirServiceAuthorization);
}
Status ConfigurationError(std::string message, StatusCode code = StatusCode::kUnavailable) {
  return Status(code, std::move(message)).WithError(ErrorName::kFhirServiceConfiguration);
}

std::string TrimTrailingSlashes(std::string url) {
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  return url;
}

// Why a request that got no answer is sent again. http::Outcome only tells
// the failures worth a retry from the others; curl's message says which of
// them were timeouts ("Operation timed out after ...", "Connection timed out
// after ...", "Timeout was reached"), which operators want apart from
// connections refused or cut (a slow server rather than an unreachable one).
RetryReason TransportRetryReason(const http::Outcome& outcome) {
  const std::string_view text = outcome.error_text;
  const bool timeout = text.find("timed out") != std::string_view::npos ||
                       text.find("Timeout") != std::string_view::npos || text.find("timeout") != std::string_view::npos;
  return timeout ? RetryReason::kTimeout : RetryReason::kConnection;
}

// A TLS failure of a request to `url`, with curl's reason and what to check:
// an untrusted server is a configuration problem, a refused client
// certificate an authorization one.
Status TlsError(const http::Outcome& outcome, std::string_view what, std::string_view url) {
  constexpr std::string_view kRefused =
      "): it wants a client certificate it trusts; check the client certificate and key given for it "
      "(fhir.clientCert, fhir.clientKey; --fhir-client-cert)";
  constexpr std::string_view kUntrusted =
      "): check that the server's certificate is for this host name and is signed by a trusted CA (a private "
      "CA's: fhir.caFile, --fhir-ca), and the certificate files";
  if (outcome.error == http::TransportError::kTlsRefused) {
    return AuthorizationError(Cat(
        {what, ": the server at \"", Origin(url), "\" refused the TLS connection (", outcome.error_text, kRefused}));
  }
  return ConfigurationError(Cat({what, ": TLS with \"", Origin(url), "\" failed (", outcome.error_text, kUntrusted}));
}

bool IsTls(const http::Outcome& outcome) {
  return outcome.error == http::TransportError::kTlsVerify || outcome.error == http::TransportError::kTlsRefused;
}

// A TLS file that is named must be readable, so that a typo is caught at
// start-up with its name rather than as a handshake failure.
Status CheckReadable(const std::string& path, std::string_view what) {
  if (path.empty()) return Status::Ok();
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
    return Status::Ok();
  }
  return ConfigurationError(Cat({"The ", what, " \"", path, "\" cannot be read: ", std::strerror(errno)}),
                            StatusCode::kInvalidArgument);
}

}  // namespace

std::string_view ToString(RetryReason reason) {
  switch (reason) {
    case RetryReason::kThrottled: return "http_429";
    case RetryReason::kServerError: return "http_5xx";
    case RetryReason::kTimeout: return "timeout";
    case RetryReason::kConnection: return "connection";
    case RetryReason::kTokenRefresh: return "token_refresh";
  }
  return "connection";
}

RemoteFhirClient::RemoteFhirClient(RemoteOptions options) : options_(std::move(options)) {
  http::PoolOptions pool;
  pool.max_connections = options_.max_connections;
  pool.connect_timeout = options_.connect_timeout;
  pool.request_timeout = options_.request_timeout;
  pool.ca_file = options_.ca_file;
  pool.client_cert_file = options_.client_cert_file;
  pool.client_key_file = options_.client_key_file;
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
  IOMT_RETURN_IF_ERROR(CheckReadable(options.ca_file, "CA file"));
  IOMT_RETURN_IF_ERROR(CheckReadable(options.client_cert_file, "client certificate file"));
  IOMT_RETURN_IF_ERROR(CheckReadable(options.client_key_file, "client key file"));
  if (!options.client_key_file.empty() && options.client_cert_file.empty()) {
    return ConfigurationError("A client key needs its client certificate: give both (or neither)",
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
  if (IsTls(first)) return TlsError(first, "GET metadata", url);
  if (first.error != http::TransportError::kNone) {
    // A server that wants a client certificate and got none may close the
    // connection before curl reads its alert (TLS 1.3 judges the client
    // after the handshake): then all we see is a reset. Say so.
    const bool https = options_.base_url.rfind("https://", 0) == 0;
    const std::string hint = https && options_.client_cert_file.empty()
                                 ? "; if the server requires a client certificate, give one with "
                                   "--fhir-client-cert and --fhir-client-key (fhir.clientCert, fhir.clientKey)"
                                 : "";
    return ConfigurationError(
        Cat({"Could not reach the FHIR service at \"", options_.base_url, "\" (", first.error_text,
             "): check the URL and its port, that the server runs and that no firewall or proxy is in the way", hint}));
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
    if (IsTls(o)) return TlsError(o, "The OAuth2 token request", options_.oauth.token_url);
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

void RemoteFhirClient::Count(const http::Outcome& outcome, std::optional<RetryReason> retry) {
  MutexLock lock(stats_mu_);
  ++stats_.requests;
  if (retry) {
    ++stats_.retries;
    ++stats_.retried[static_cast<std::size_t>(*retry)];
  }
  if (outcome.error != http::TransportError::kNone) {
    ++stats_.transport_errors;
  } else {
    ++stats_.by_status[outcome.response.status];
  }
}

void RemoteFhirClient::CountRetry(RetryReason reason) {
  MutexLock lock(stats_mu_);
  ++stats_.retries;
  ++stats_.retried[static_cast<std::size_t>(reason)];
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
  std::optional<RetryReason> again;  // why this attempt sends the request again
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    std::vector<std::string> all = headers;
    std::string token;
    if (oauth || !options_.bearer_token.empty()) {
      IOMT_ASSIGN_OR_RETURN(token, Token(nullptr));
      all.push_back("Authorization: Bearer " + token);
    }
    http::Outcome o = pool_->Perform({method, url, all, body});
    Count(o, again);
    std::chrono::milliseconds wait = Backoff(attempt);
    if (o.error != http::TransportError::kNone) {
      if (IsTls(o)) return TlsError(o, what, url);
      if (o.error == http::TransportError::kBadUrl || o.error == http::TransportError::kOther) {
        return ServiceError(StatusCode::kUnavailable, Cat({what, " failed: ", o.error_text}));
      }
      last = o.error_text;
      again = TransportRetryReason(o);
    } else {
      const long status = o.response.status;
      if (status == 401 || status == 403) {
        if (oauth && !refreshed) {
          // The token may have been revoked or expired early: one new one.
          // The request is sent again at once, not as one of the attempts.
          refreshed = true;
          IOMT_RETURN_IF_ERROR(Token(&token).status());
          again = RetryReason::kTokenRefresh;
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
      again = status == 429 ? RetryReason::kThrottled : RetryReason::kServerError;
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

}  // namespace iomt::store
