// What the remote FHIR client's files share: the Statuses it fails with,
// reading a FHIR server's answers (OperationOutcome texts, stored resources),
// URL pieces, and running requests on several threads. remote_client.cc has
// the connection, authorization and retry core; remote_batch.cc PutMany and
// batch Bundles; remote_search.cc the searches. Not part of the client's
// interface (remote_client.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/json/value.h"
#include "common/status.h"
#include "common/strings.h"
#include "store/fhir_client.h"

namespace iomt::store::remote_internal {

// A failure of the FHIR service (ErrorName::kFhirService).
Status ServiceError(StatusCode code, std::string message);

// 429, 500, 502, 503 and 504: worth another attempt.
bool Retryable(long status);

// scheme://host[:port] of a URL, for keeping requests (and the token) on the
// configured server.
std::string_view Origin(std::string_view url);

// The path and query of a URL, for messages.
std::string_view PathOf(std::string_view url);

// W/"3" -> 3
std::string VersionFromEtag(std::string_view etag);

// The string member `key` of an object; "" when absent or not a string.
std::string StringMember(const json::Value& v, std::string_view key);

// The texts of an OperationOutcome's issues.
std::string OutcomeText(const json::Value& outcome);

// The texts of the OperationOutcome in `body`, or the start of a body that
// is not one.
std::string BodyText(std::string_view body);

// "HTTP 404 (text of the body)".
std::string StatusText(long status, std::string_view body);

// A failed answer to a request that is not retried: 409/412 lose a race,
// anything else fails this request only.
Status HttpFailure(std::string_view what, long status, std::string_view body);

// A resource a server answered with (`json`, its text): its id, else `id`
// (the one written), and its meta.versionId, else the ETag's version.
Resource AnsweredResource(const json::Value& resource, std::string json, std::string_view etag, std::string_view id);

// A stored resource from a server's answer: the returned resource, or (when
// the server answered Prefer: return=minimal) the sent one with the new meta.
Result<Resource> ResourceFromAnswer(std::string_view body, std::string_view etag, std::string_view id,
                                    std::string_view sent);

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

inline const std::vector<std::string> kJsonHeaders = {"Accept: application/fhir+json"};
inline const std::vector<std::string> kWriteHeaders = {"Accept: application/fhir+json",
                                                       "Content-Type: application/fhir+json; charset=utf-8",
                                                       "Prefer: return=representation"};

}  // namespace iomt::store::remote_internal
