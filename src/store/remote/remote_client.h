// The FhirClient of any FHIR R4 server over HTTP: Azure's FHIR service,
// HAPI, Medplum. docs/adr/0009-remote-fhir-client.md explains the choices.
//
// What it promises:
// - Connect checks the server before anything is written: GET metadata must
//   answer a CapabilityStatement, and an authenticated request must pass.
//   Failures carry Status::detail() FHIRServiceErrorConfigurationError (the
//   URL: kInvalidArgument when malformed, kUnavailable when it does not
//   resolve, is refused, 404 or not FHIR) or
//   FHIRServiceErrorAuthorizationError (kUnavailable).
// - Connections are reused and bounded (RemoteOptions::max_connections).
// - 429, 500, 502, 503, 504, timeouts and lost connections are retried with
//   exponential backoff and full jitter, honouring Retry-After, at most
//   max_attempts times; then kUnavailable + FHIRServiceError. Each request
//   sent again is counted by its RetryReason (stats()). Every write
//   is a PUT to a known id, so a retry whose first attempt did land writes
//   the same content again; with If-Match it gets 412, i.e. kConflict, and
//   the ObservationWriter re-reads and merges again (which changes nothing).
// - Other failures: 409/412 -> kConflict; 401/403 (after one token refresh)
//   -> kUnavailable + FHIRServiceErrorAuthorizationError; the rest (400,
//   422, ...) -> kInvalidArgument + FHIRServiceError with the HTTP status
//   and the OperationOutcome's text, so that only that group fails.
// - PutMany sends batch Bundles when the server supports them, else one PUT
//   per resource, concurrently. SearchByIdentifiers sends one search per
//   chunk of identifiers that keeps the URL short.
//
// Thread-safe: every method may be called from several threads at once.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "store/fhir_client.h"
#include "store/remote/remote_options.h"

namespace iomt::store {

namespace http {
class Pool;
struct Outcome;
}  // namespace http

// Why the client sent a request again: the `reason` label of the service's
// iomt_retries_total (docs/metrics.md), so that an operator can tell a
// throttling FHIR service from a failing or unreachable one.
enum class RetryReason : std::uint8_t {
  kThrottled,     // "http_429": the server answered 429 Too Many Requests
  kServerError,   // "http_5xx": it answered 500, 502, 503 or 504
  kTimeout,       // "timeout": no answer within the connect or request timeout
  kConnection,    // "connection": refused, reset, closed or cut short
  kTokenRefresh,  // "token_refresh": 401/403 with OAuth2; sent again with a new token
};
inline constexpr std::array<RetryReason, 5> kRetryReasons = {RetryReason::kThrottled, RetryReason::kServerError,
                                                             RetryReason::kTimeout, RetryReason::kConnection,
                                                             RetryReason::kTokenRefresh};
// The label value, e.g. "http_429".
std::string_view ToString(RetryReason reason);

// Counters for tests, benchmarks, the run summary and the service's metrics.
struct RemoteStats {
  std::int64_t requests = 0;  // HTTP requests to the FHIR server, retries included
  // Requests to the FHIR server sent again (a retry, the rest of a batch
  // Bundle, the request after a token refresh); the sum of `retried`. The
  // token endpoint's own retries are in token_requests only.
  std::int64_t retries = 0;
  std::array<std::int64_t, kRetryReasons.size()> retried{};  // by RetryReason
  std::int64_t retry_after = 0;                              // waits that a Retry-After header set
  std::int64_t token_requests = 0;                           // requests to the OAuth2 token endpoint
  std::int64_t transport_errors = 0;
  std::map<long, std::int64_t> by_status;  // answers by HTTP status

  [[nodiscard]] std::int64_t retried_for(RetryReason reason) const { return retried[static_cast<std::size_t>(reason)]; }
};

class RemoteFhirClient : public FhirClient {
 public:
  static Result<std::unique_ptr<RemoteFhirClient>> Connect(RemoteOptions options);
  ~RemoteFhirClient() override;

  Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                   std::string_view value, std::size_t limit) override;
  Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) override;
  Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                       std::optional<std::string_view> if_match) override;
  Result<std::vector<Result<Resource>>> PutMany(std::vector<PutRequest> requests) override;
  Result<std::vector<Resource>> SearchByIdentifiers(std::string_view type, std::string_view system,
                                                    const std::vector<std::string>& values) override;

  [[nodiscard]] RemoteStats stats() const;
  // Whether the server's CapabilityStatement offers batch (and PutMany uses it).
  [[nodiscard]] bool uses_batch() const { return use_batch_; }
  [[nodiscard]] const std::string& base_url() const { return options_.base_url; }

 private:
  explicit RemoteFhirClient(RemoteOptions options);

  struct HttpAnswer {
    long status = 0;
    std::string body;
    std::string etag;
  };
  // One request with retries, auth and token refresh. `what` names it in
  // messages ("PUT Patient/x"). Fails only when no usable answer came:
  // kUnavailable after the attempts, or an authorization failure.
  Result<HttpAnswer> Send(std::string_view method, const std::string& url, std::string_view body,
                          const std::vector<std::string>& headers, std::string_view what);
  Status CheckMetadata();
  // The bearer token to send: the static one, or a cached OAuth2 token,
  // renewed when it is about to expire or when it is `stale` (refused).
  Result<std::string> Token(const std::string* stale);
  Result<std::vector<Result<Resource>>> PutBatch(std::vector<PutRequest>& requests);
  // A search and its next pages. With `form`, the first page is a POST of
  // it to `url` (Type/_search).
  Result<std::vector<Resource>> Search(std::string_view type, std::string url, std::size_t limit,
                                       const std::string* form = nullptr);
  Result<std::vector<Resource>> SearchChunks(std::string_view type, std::string_view system,
                                             const std::vector<std::string>& values, bool post);
  std::chrono::milliseconds Backoff(int attempt);
  // An answer (or its absence) to a request; `retry` when the request was
  // sent again, and why.
  void Count(const http::Outcome& outcome, std::optional<RetryReason> retry = std::nullopt);
  // A request sent again without going through Count (the rest of a batch).
  void CountRetry(RetryReason reason);

  RemoteOptions options_;
  std::unique_ptr<http::Pool> pool_;
  bool use_batch_ = false;
  std::atomic<bool> post_search_{true};

  Mutex token_mu_;  // held across a token request: one refresh at a time
  std::string token_ IOMT_GUARDED_BY(token_mu_);
  std::chrono::steady_clock::time_point token_expires_ IOMT_GUARDED_BY(token_mu_);

  mutable Mutex stats_mu_ IOMT_ACQUIRED_AFTER(token_mu_);
  RemoteStats stats_ IOMT_GUARDED_BY(stats_mu_);
};

}  // namespace iomt::store
