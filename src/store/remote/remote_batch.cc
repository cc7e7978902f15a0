// The remote FHIR client's PutMany: batch Bundles of PUTs when the server
// offers batch (each entry answered on its own, retried on its own), else
// one PUT per resource, concurrently.
#include <algorithm>
#include <charconv>
#include <thread>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/mutex.h"
#include "store/remote/remote_client.h"
#include "store/remote/remote_internal.h"

namespace iomt::store {

using remote_internal::AnsweredResource;
using remote_internal::BodyText;
using remote_internal::kWriteHeaders;
using remote_internal::OutcomeText;
using remote_internal::ParallelFor;
using remote_internal::ResourceFromAnswer;
using remote_internal::Retryable;
using remote_internal::ServiceError;
using remote_internal::StatusText;
using remote_internal::StringMember;
using remote_internal::VersionFromEtag;

Result<std::vector<Result<Resource>>> RemoteFhirClient::PutMany(std::vector<PutRequest> requests) {
  std::vector<Result<Resource>> out(requests.size(), Status(StatusCode::kInternal, "not written"));
  if (requests.empty()) return out;
  const auto workers = static_cast<std::size_t>(std::max(1, options_.max_connections));
  Mutex mu;
  Status failed;
  if (!use_batch_) {
    ParallelFor(requests.size(), workers, [&](std::size_t i) {
      PutRequest& r = requests[i];
      out[i] = Put(r.type, r.id, std::move(r.json), r.IfMatch());
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
    bool throttled = false;  // an entry answered 429 (else 5xx) and is sent again
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
        const PutRequest& r = requests[pending[k]];
        out[pending[k]] = Put(r.type, r.id, r.json, r.IfMatch());
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
          out[i] = AnsweredResource(resource, json::ToJson(resource), etag, r.id);
        } else {
          out[i] = Resource{r.id, VersionFromEtag(etag), {}};  // the sent JSON is added below
        }
      } else if (Retryable(status)) {
        again.push_back(i);
        throttled = throttled || status == 429;
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
    if (!pending.empty() && attempt < options_.max_attempts) {
      // The Bundle of the entries left is a request sent again: throttled
      // when any of them was (what an operator acts on), else a server error.
      CountRetry(throttled ? RetryReason::kThrottled : RetryReason::kServerError);
      std::this_thread::sleep_for(Backoff(attempt));
    }
  }
  for (std::size_t i : pending) {
    out[i] = ServiceError(StatusCode::kUnavailable,
                          Cat({"PUT ", requests[i].type, "/", requests[i].id, " (in a batch) failed after ",
                               std::to_string(options_.max_attempts), " attempts; the last: ", last}));
  }
  return out;
}

}  // namespace iomt::store
