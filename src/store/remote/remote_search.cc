// The remote FHIR client's searches: by identifier, with paging (`next`
// links, kept on the configured server), and by many identifiers at once in
// chunks that keep each URL short (or POSTed to _search when the server
// takes that).
#include <algorithm>
#include <limits>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "store/remote/http.h"
#include "store/remote/remote_client.h"
#include "store/remote/remote_internal.h"

namespace iomt::store {

using remote_internal::AnsweredResource;
using remote_internal::HttpFailure;
using remote_internal::kJsonHeaders;
using remote_internal::Origin;
using remote_internal::ParallelFor;
using remote_internal::PathOf;
using remote_internal::ServiceError;
using remote_internal::StringMember;

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
        json::Value search, resource;
        // Resources that _include or an OperationOutcome added are not matches.
        if (entry.Find("search", &search) && !StringMember(search, "mode").empty() &&
            StringMember(search, "mode") != "match") {
          continue;
        }
        if (!entry.Find("resource", &resource) || StringMember(resource, "resourceType") != type) continue;
        // No ETag and no id to fall back on: what the entry says.
        out.push_back(AnsweredResource(resource, json::ToJson(resource), {}, {}));
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
