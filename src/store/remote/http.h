// A small HTTP client over libcurl for the remote FHIR client: a fixed pool
// of easy handles, each keeping its connection alive between requests.
//
// Why a pool of easy handles: a handle that is reused keeps its connection
// (keep-alive), and the number of handles bounds the number of connections
// to the server, whatever the number of threads. iomt-fhir opened a client
// per request and ran servers out of connections (microsoft/iomt-fhir#225).
// A thread that finds every handle busy waits for one.
//
// Thread-safe. The library never prints; failures are Statuses.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace iomt::store::http {

struct Request {
  std::string_view method;  // GET, PUT, POST
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;
};

struct Response {
  long status = 0;
  std::string body;
  // Header values the FHIR client reads (empty when absent).
  std::string etag;
  std::string retry_after;
  std::string content_type;
};

// Why a request got no HTTP answer.
enum class TransportError : unsigned char {
  kNone,
  kRetryable,   // timeout, refused, reset, cut short: worth another attempt
  kResolve,     // the host name does not resolve
  kBadUrl,      // malformed URL or unsupported scheme
  kTlsVerify,   // the server's certificate is not trusted (or the CA/certificate files are unusable)
  kTlsRefused,  // the server ended the TLS handshake: it refused (or wanted) our client certificate
  kOther,       // anything else a retry will not help
};

struct Outcome {
  TransportError error = TransportError::kNone;
  std::string error_text;  // curl's message when error != kNone
  Response response;
};

struct PoolOptions {
  int max_connections = 8;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  std::string user_agent = "iomt";
  // PEM files (store::RemoteOptions): empty for the system's CAs and no
  // client certificate.
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
};

class Pool {
 public:
  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Sends the request and waits for the whole answer. Any HTTP status is a
  // Response; only a missing answer is a TransportError.
  Outcome Perform(const Request& request);

  [[nodiscard]] const PoolOptions& options() const { return options_; }

 private:
  void* Acquire();
  void Release(void* handle);

  PoolOptions options_;
  Mutex mu_;
  CondVar available_;
  std::vector<void*> idle_ IOMT_GUARDED_BY(mu_);  // CURL* handles not in use
  std::vector<void*> all_ IOMT_GUARDED_BY(mu_);
};

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string PercentEncode(std::string_view s);
// Escapes a FHIR search parameter value: `\`, `,`, `|` and `$` get a
// backslash (FHIR R4 3.1.1.4.12), so that they are not read as separators.
std::string EscapeSearchValue(std::string_view s);
// The seconds to wait that a Retry-After header asks for (delta-seconds or
// an HTTP date, RFC 9110 10.2.3), from `now`; -1 when absent or unreadable.
double RetryAfterSeconds(std::string_view value, std::chrono::system_clock::time_point now);

}  // namespace iomt::store::http
