#include "server/http/fhir_api.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/datetime.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/url.h"
#include "server/http/bulk_export.h"
#include "server/http/subscriptions.h"
#include "store/embedded/filter.h"
#include "store/rest_outcome.h"

namespace iomt::server {
namespace {

constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

HttpResponse FhirOutcome(int status, std::string_view issue_code, std::string_view diagnostics) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::string(kFhirJson);
  r.body = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":)";
  json::AppendQuoted(&r.body, issue_code);
  r.body.append(R"(,"diagnostics":)");
  json::AppendQuoted(&r.body, diagnostics);
  r.body.append("}]}");
  return r;
}

namespace {

HttpResponse Outcome(int status, std::string_view issue_code, std::string_view diagnostics) {
  return FhirOutcome(status, issue_code, diagnostics);
}

HttpResponse StoreError(const Status& status) {
  HttpResponse r;
  r.status = store::HttpStatus(status);
  r.content_type = std::string(kFhirJson);
  r.body = store::OperationOutcome(status);
  return r;
}

HttpResponse NotAllowed(std::string_view allow, std::string_view method, std::string_view what) {
  std::string message = "The method ";
  message.append(method).append(" is not supported on ").append(what).append(" (allowed: ").append(allow) += ").";
  HttpResponse r = Outcome(405, "not-supported", message);
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::string(kFhirJson);
  r.body = std::move(body);
  return r;
}

// The media type of a Content-Type or Accept entry: lower case, without
// parameters.
std::string MediaType(std::string_view value) { return Lower(Trim(value.substr(0, value.find(';')))); }

bool IsJsonMediaType(std::string_view media) {
  return media == "application/fhir+json" || media == "application/json" || media == "application/json+fhir";
}

// 406 when the client wants something other than JSON (_format or Accept).
std::optional<HttpResponse> CheckAccept(const HttpRequest& request, std::string_view format) {
  if (!format.empty()) {
    std::string f = MediaType(format);
    if (f != "json" && !IsJsonMediaType(f)) {
      return Outcome(406, "not-supported", "Only JSON is supported (_format=json), not '" + std::string(format) + "'.");
    }
    return std::nullopt;
  }
  auto accept = request.Header("accept");
  if (!accept || Trim(*accept).empty()) return std::nullopt;
  std::string_view list = *accept;
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string media = MediaType(list.substr(0, comma));
    if (IsJsonMediaType(media) || media == "*/*" || media == "application/*" || media == "json") return std::nullopt;
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return Outcome(406, "not-supported",
                 "Only JSON is supported (application/fhir+json), not '" + std::string(*accept) + "'.");
}

// 415 when a body is sent as something other than JSON.
std::optional<HttpResponse> CheckJsonBody(const HttpRequest& request) {
  auto type = request.Header("content-type");
  if (type && !Trim(*type).empty() && !IsJsonMediaType(MediaType(*type))) {
    return Outcome(415, "not-supported",
                   "The body must be application/fhir+json (or application/json), not '" + std::string(*type) + "'.");
  }
  if (request.body.empty()) return Outcome(400, "invalid", "The request has no body.");
  return std::nullopt;
}

bool WantsMinimal(const HttpRequest& request) {
  auto prefer = request.Header("prefer");
  return prefer && prefer->find("return=minimal") != std::string_view::npos;
}

// `query` without the parameters that are about the answer's format
// (_format, _pretty), which the store's search does not know; `format`
// receives _format's decoded value.
std::string SearchQuery(std::string_view query, std::string* format) {
  std::string out;
  for (const url::QueryPiece& piece : url::SplitQuery(query)) {
    if (piece.name == "_format") {
      *format = url::PercentDecode(piece.value);
      continue;
    }
    if (piece.name == "_pretty") continue;
    if (!out.empty()) out.push_back('&');
    out.append(piece.text);
  }
  return out;
}

// meta.lastUpdated of a stored resource ("2024-05-01T12:34:56.789Z").
std::string LastUpdated(std::string_view json) {
  thread_local json::Document doc;
  json::Value meta, updated;
  if (!doc.Parse(json).ok() || !doc.root().is_object() || !doc.root().Find("meta", &meta) ||
      !meta.Find("lastUpdated", &updated) || !updated.is_string()) {
    return "";
  }
  return std::string(updated.string_value());
}

// An HTTP date (RFC 9110) from a FHIR instant in UTC; empty when it is not one.
std::string HttpDateOf(std::string_view instant) {
  std::tm tm{};
  std::string text(instant);
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6) {
    return "";
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t t = timegm(&tm);
  // The store writes UTC ("Z"); an offset is applied all the same.
  if (std::size_t sign = text.find_first_of("+-", 19); sign != std::string::npos && text.size() >= sign + 6) {
    int hours = 0, minutes = 0;
    if (std::sscanf(text.c_str() + sign + 1, "%2d:%2d", &hours, &minutes) == 2) {
      const std::time_t offset = static_cast<std::time_t>(hours) * 3600 + static_cast<std::time_t>(minutes) * 60;
      t += text[sign] == '+' ? -offset : offset;
    }
  }
  return HttpDate(t);
}

std::string ETag(std::string_view version) { return "W/\"" + std::string(version) + "\""; }

// A resource as the answer: its JSON (unless `minimal`), ETag, Last-Modified.
HttpResponse ResourceAnswer(int status, const store::Resource& resource, std::string_view last_updated, bool minimal) {
  HttpResponse r = Json(status, minimal ? std::string() : resource.json);
  r.headers.emplace_back("ETag", ETag(resource.version_id));
  std::string updated = last_updated.empty() ? LastUpdated(resource.json) : std::string(last_updated);
  if (std::string date = HttpDateOf(updated); !date.empty()) r.headers.emplace_back("Last-Modified", std::move(date));
  return r;
}

std::string VersionUrl(std::string_view base_url, std::string_view type, const store::Resource& resource) {
  std::string url(base_url);
  url.append("/").append(type).append("/").append(resource.id).append("/_history/").append(resource.version_id);
  return url;
}

bool IsResourceType(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() < 'A' || s.front() > 'Z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
}

// The UTC date ("2024-05-01") of the CapabilityStatement.
std::string Today() { return datetime::FormatIso(NowTicks()).substr(0, 10); }

// The CapabilityStatement: the interactions and search parameters of the
// embedded store (store/embedded/search.cc). Other resource types are
// stored and searched the same way; these are the ones iomt writes.
// With `subscriptions`: the Subscription type (rest-hook and websocket) and
// the WebSocket's URL (FHIR R4's capabilitystatement-websocket extension).
std::string CapabilityStatement(std::string_view base_url, bool subscriptions) {
  struct TypeParams {
    std::string_view type;
    std::vector<std::pair<std::string_view, std::string_view>> params;  // name, type
    std::vector<std::string_view> includes;                             // _include from this type
    std::vector<std::string_view> revincludes;                          // _revinclude of resources referring to it
  };
  static const std::vector<std::pair<std::string_view, std::string_view>> kCommon = {
      {"_id", "token"}, {"identifier", "token"}, {"_lastUpdated", "date"}};
  static const std::vector<TypeParams> kTypes = {
      {"Patient",
       {},
       {},
       {"Observation:subject", "Observation:patient", "Device:patient", "Encounter:subject", "Encounter:patient"}},
      {"Device", {{"patient", "reference"}}, {"Device:patient"}, {"Observation:device"}},
      {"Observation",
       {{"patient", "reference"},
        {"subject", "reference"},
        {"device", "reference"},
        {"code", "token"},
        {"date", "date"}},
       {"Observation:subject", "Observation:patient", "Observation:device"},
       {}},
      {"Encounter",
       {{"patient", "reference"}, {"subject", "reference"}},
       {"Encounter:subject", "Encounter:patient"},
       {}},
  };
  auto strings = [](std::string* out, const std::vector<std::string_view>& list) {
    out->push_back('[');
    for (std::size_t i = 0; i < list.size(); ++i)
      out->append(i == 0 ? "\"" : ",\"").append(list[i]).push_back('"');
    out->push_back(']');
  };
  std::string out = R"({"resourceType":"CapabilityStatement","status":"active","date":")";
  out.append(Today()).append(R"(","publisher":"iomt","kind":"instance","software":{"name":"iomt"},)");
  out.append(R"("implementation":{"description":"iomt embedded FHIR store","url":)");
  json::AppendQuoted(&out, base_url);
  out.append(R"(},"fhirVersion":"4.0.1","format":["application/fhir+json","json"],"rest":[{"mode":"server",)");
  if (subscriptions) {
    std::string socket = base_url.starts_with("https://") ? "wss://" : "ws://";
    socket.append(base_url.substr(base_url.find("://") + 3)).append("/websocket");
    out.append(R"("extension":[{"url":"http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket",)");
    out.append(R"("valueUri":)");
    json::AppendQuoted(&out, socket);
    out.append("}],");
  }
  out.append(R"("resource":[)");
  for (std::size_t i = 0; i < kTypes.size(); ++i) {
    const TypeParams& t = kTypes[i];
    out.append(i == 0 ? "" : ",").append(R"({"type":")").append(t.type).append(R"(",)");
    out.append(R"("interaction":[{"code":"read"},{"code":"vread"},{"code":"update"},{"code":"patch"},)");
    out.append(R"({"code":"delete"},{"code":"history-instance"},{"code":"history-type"},{"code":"create"},)");
    out.append(R"({"code":"search-type"}],)");
    out.append(R"("versioning":"versioned","readHistory":true,"updateCreate":true,"conditionalCreate":true,)");
    out.append(R"("conditionalRead":"not-match","conditionalUpdate":true,"conditionalDelete":"single",)");
    out.append(R"("searchParam":[)");
    bool first = true;
    // Those evaluated on the JSON of what the indexed ones select too.
    const auto unindexed = store::embedded::FilterParams(t.type);
    for (const auto* list : {&kCommon, &t.params, &unindexed}) {
      for (const auto& [name, param_type] : *list) {
        out.append(first ? "" : ",").append(R"({"name":")").append(name).append(R"(","type":")");
        out.append(param_type).append(R"("})");
        first = false;
      }
    }
    out.append("]");
    if (!t.includes.empty()) {
      out.append(R"(,"searchInclude":)");
      strings(&out, t.includes);
    }
    if (!t.revincludes.empty()) {
      out.append(R"(,"searchRevInclude":)");
      strings(&out, t.revincludes);
    }
    out.push_back('}');
  }
  if (subscriptions) {
    out.append(R"(,{"type":"Subscription","interaction":[{"code":"read"},{"code":"vread"},{"code":"update"},)");
    out.append(R"({"code":"delete"},{"code":"create"},{"code":"search-type"}],"versioning":"versioned",)");
    out.append(R"("documentation":"criteria on Observation, Patient, Device, Encounter with their search )");
    out.append(R"(parameters; channel rest-hook (with or without payload) or websocket"})");
  }
  out.append(R"(],"interaction":[{"code":"batch"},{"code":"transaction"},{"code":"history-system"}]}]})");
  return out;
}

// A history Bundle. `type` and `id` are those of every entry for an
// instance's history; otherwise each entry carries its own. `links` are
// (relation, url); `total` is given for an instance's whole history only.
std::string HistoryBundle(std::string_view base_url, std::string_view type, std::string_view id,
                          const std::vector<store::HistoryEntry>& entries,
                          const std::vector<std::pair<std::string, std::string>>& links,
                          std::optional<std::size_t> total) {
  std::string out = R"({"resourceType":"Bundle","type":"history",)";
  if (total) out.append(R"("total":)").append(std::to_string(*total)).push_back(',');
  out.append(R"("link":[)");
  for (std::size_t i = 0; i < links.size(); ++i) {
    out.append(i == 0 ? "" : ",").append(R"({"relation":")").append(links[i].first).append(R"(","url":)");
    json::AppendQuoted(&out, links[i].second);
    out.push_back('}');
  }
  out.append(R"(],"entry":[)");
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const store::HistoryEntry& e = entries[i];
    const std::string_view t = e.type.empty() ? type : std::string_view{e.type};
    const std::string_view r = e.id.empty() ? id : std::string_view{e.id};
    std::string relative(t);
    relative.append("/").append(r);
    out.append(i == 0 ? "" : ",").append(R"({"fullUrl":)");
    json::AppendQuoted(&out, std::string(base_url) + "/" + relative);
    if (!e.deleted) out.append(R"(,"resource":)").append(e.json);
    out.append(R"(,"request":{"method":")").append(e.deleted ? "DELETE" : "PUT").append(R"(","url":)");
    json::AppendQuoted(&out, relative);
    out.append(R"(},"response":{"status":")");
    out.append(e.deleted ? "204" : (e.version_id == "1" ? "201" : "200")).append(R"(","etag":)");
    json::AppendQuoted(&out, ETag(e.version_id));
    if (!e.last_updated.empty()) {
      out.append(R"(,"lastModified":)");
      json::AppendQuoted(&out, e.last_updated);
    }
    out.append("}}");
  }
  out.append("]}");
  return out;
}

// GET /fhir/_history and /fhir/{type}/_history: a page of versions, newest
// first, with links by offset.
HttpResponse TypeHistory(store::EmbeddedStore& store, std::string_view type, std::string_view query,
                         std::string_view base_url) {
  Result<store::HistoryPage> page = store.TypeHistory(type, query);
  if (!page.ok()) return StoreError(page.status());
  auto link = [&](std::size_t offset) {
    std::string url(base_url);
    if (!type.empty()) url.append("/").append(type);
    url.append("/_history?");
    if (!page->query.empty()) url.append(page->query).push_back('&');
    url.append("_count=").append(std::to_string(page->count)).append("&_offset=").append(std::to_string(offset));
    return url;
  };
  std::vector<std::pair<std::string, std::string>> links = {{"self", link(page->offset)}};
  if (page->offset > 0 && page->count > 0) {
    links.emplace_back("first", link(0));
    links.emplace_back("previous", link(page->offset > page->count ? page->offset - page->count : 0));
  }
  if (page->next_offset) links.emplace_back("next", link(*page->next_offset));
  return Json(200, HistoryBundle(base_url, "", "", page->entries, links, std::nullopt));
}

// Makes the writes acknowledged so far durable before the answer says so
// (single writes otherwise wait for the store's committer).
std::optional<HttpResponse> Commit(store::EmbeddedStore& store) {
  if (Status st = store.Flush(); !st.ok()) return StoreError(st);
  return std::nullopt;
}

// Prefer: handling=lenient (FHIR): parameters the server does not know are
// ignored, and the Bundle says which; strict (failing on them) otherwise.
bool WantsLenient(const HttpRequest& request) {
  auto prefer = request.Header("prefer");
  return prefer && prefer->find("handling=lenient") != std::string_view::npos;
}

HttpResponse Search(store::EmbeddedStore& store, const HttpRequest& request, std::string_view type,
                    std::string_view query, std::string_view base_url) {
  store::SearchOptions options;
  options.lenient = WantsLenient(request);
  Result<std::string> bundle = store.SearchBundle(type, query, base_url, options);
  if (!bundle.ok()) return StoreError(bundle.status());
  return Json(200, std::move(bundle).value());
}

HttpResponse Create(store::EmbeddedStore& store, const HttpRequest& request, std::string_view type,
                    std::string_view base_url) {
  if (auto bad = CheckJsonBody(request)) return *bad;
  std::optional<std::string_view> if_none_exist = request.Header("if-none-exist");
  if (if_none_exist) {
    // The header may carry a full URL ("Patient?identifier=..."): the query.
    std::string_view q = Trim(*if_none_exist);
    if (std::size_t at = q.find('?'); at != std::string_view::npos) q = q.substr(at + 1);
    if_none_exist = q;
  }
  Result<store::WriteResult> written = store.Create(type, request.body, if_none_exist);
  if (!written.ok()) return StoreError(written.status());
  if (!written->created) return ResourceAnswer(200, written->resource, "", WantsMinimal(request));
  if (auto failed = Commit(store)) return *failed;
  HttpResponse r = ResourceAnswer(201, written->resource, written->last_updated, WantsMinimal(request));
  r.headers.emplace_back("Location", VersionUrl(base_url, type, written->resource));
  return r;
}

HttpResponse Update(store::EmbeddedStore& store, const HttpRequest& request, std::string_view type, std::string_view id,
                    std::string_view base_url) {
  if (auto bad = CheckJsonBody(request)) return *bad;
  std::optional<std::string_view> if_match = request.Header("if-match");
  if (if_match) if_match = Trim(*if_match);
  Result<store::WriteResult> written = store::WriteResult();
  if (auto if_none_match = request.Header("if-none-match")) {
    // On a write only "*" means something: create, never replace.
    if (Trim(*if_none_match) != "*") return Outcome(400, "invalid", "A PUT takes If-None-Match: * only.");
    if (if_match) return Outcome(400, "invalid", "A PUT takes If-Match or If-None-Match, not both.");
    written = store.CreateAt(type, id, request.body);
  } else {
    written = store.Update(type, id, request.body, if_match);
  }
  if (!written.ok()) return StoreError(written.status());
  if (auto failed = Commit(store)) return *failed;
  HttpResponse r =
      ResourceAnswer(written->created ? 201 : 200, written->resource, written->last_updated, WantsMinimal(request));
  if (written->created) r.headers.emplace_back("Location", VersionUrl(base_url, type, written->resource));
  return r;
}

// PUT type?condition (conditional update).
HttpResponse UpdateWhere(store::EmbeddedStore& store, const HttpRequest& request, std::string_view type,
                         std::string_view condition, std::string_view base_url) {
  if (auto bad = CheckJsonBody(request)) return *bad;
  Result<store::WriteResult> written = store.UpdateWhere(type, condition, request.body);
  if (!written.ok()) return StoreError(written.status());
  if (auto failed = Commit(store)) return *failed;
  HttpResponse r =
      ResourceAnswer(written->created ? 201 : 200, written->resource, written->last_updated, WantsMinimal(request));
  r.headers.emplace_back("Location", VersionUrl(base_url, type, written->resource));
  return r;
}

// PATCH type/id or type?condition with a JSON Patch document.
HttpResponse Patch(store::EmbeddedStore& store, const HttpRequest& request, std::string_view type, std::string_view id,
                   std::string_view condition) {
  auto content_type = request.Header("content-type");
  if (!content_type || MediaType(*content_type) != "application/json-patch+json") {
    return Outcome(415, "not-supported",
                   "PATCH takes a JSON Patch document (Content-Type: application/json-patch+json); FHIRPath "
                   "Patch is not supported.");
  }
  if (request.body.empty()) return Outcome(400, "invalid", "The request has no body.");
  std::optional<std::string_view> if_match = request.Header("if-match");
  if (if_match) if_match = Trim(*if_match);
  Result<store::WriteResult> written =
      id.empty() ? store.PatchWhere(type, condition, request.body) : store.Patch(type, id, request.body, if_match);
  if (!written.ok()) return StoreError(written.status());
  if (auto failed = Commit(store)) return *failed;
  return ResourceAnswer(200, written->resource, written->last_updated, WantsMinimal(request));
}

// GET type/id: 304 when If-None-Match names the current version.
HttpResponse Read(store::EmbeddedStore& store, const HttpRequest& request, std::string_view type, std::string_view id) {
  Result<store::Resource> current = store.ReadCurrent(type, id);
  if (!current.ok()) return StoreError(current.status());
  if (auto if_none_match = request.Header("if-none-match")) {
    const std::string etag = ETag(current->version_id);
    std::string_view list = *if_none_match;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      std::string_view tag = Trim(list.substr(0, comma));
      // Weak comparison: W/"3" and "3" name the same version.
      if (tag.starts_with("W/")) tag.remove_prefix(2);
      if (tag == "*" || tag == std::string_view{etag}.substr(2)) {
        HttpResponse r;
        r.status = 304;
        r.content_type.clear();
        r.headers.emplace_back("ETag", etag);
        return r;
      }
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
  }
  return ResourceAnswer(200, *current, "", false);
}

// DELETE type/id, or type?condition (conditional delete) when `id` is empty.
HttpResponse Delete(store::EmbeddedStore& store, const HttpRequest& request, std::string_view type, std::string_view id,
                    std::string_view condition) {
  if (request.Header("if-match")) {
    // The store's Delete has no version check, and one made here would race
    // with writers.
    return Outcome(400, "not-supported", "If-Match is not supported on DELETE.");
  }
  Result<bool> deleted = id.empty() ? store.DeleteWhere(type, condition) : store.Delete(type, id);
  if (!deleted.ok()) return StoreError(deleted.status());
  if (*deleted) {
    if (auto failed = Commit(store)) return *failed;
  }
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

HttpResponse Route(store::EmbeddedStore& store, const HttpRequest& request, std::string_view base_url,
                   const std::vector<std::string>& parts, std::string_view query, bool subscriptions) {
  const std::string& method = request.method;
  const bool get = method == "GET";
  if (parts.empty()) {
    if (method != "POST") return NotAllowed("POST", method, "the FHIR base (batch and transaction Bundles)");
    if (auto bad = CheckJsonBody(request)) return *bad;
    Result<std::string> answer = store.ProcessBundle(request.body, base_url);
    if (!answer.ok()) return StoreError(answer.status());
    return Json(200, std::move(answer).value());
  }
  if (parts[0] == "_history" && parts.size() == 1) {
    if (!get) return NotAllowed("GET", method, "_history");
    return TypeHistory(store, "", query, base_url);
  }
  if (parts[0] == "metadata" && parts.size() == 1) {
    if (!get) return NotAllowed("GET", method, "metadata");
    return Json(200, CapabilityStatement(base_url, subscriptions));
  }
  const std::string& type = parts[0];
  if (!IsResourceType(type)) return Outcome(404, "not-supported", "Not a resource type: '" + type + "'.");
  if (parts.size() == 1) {
    if (get) return Search(store, request, type, query, base_url);
    if (method == "POST") return Create(store, request, type, base_url);
    // Conditional interactions: the query is the condition.
    if (!query.empty()) {
      if (method == "PUT") return UpdateWhere(store, request, type, query, base_url);
      if (method == "DELETE") return Delete(store, request, type, "", query);
      if (method == "PATCH") return Patch(store, request, type, "", query);
    }
    return NotAllowed("GET, POST", method, type + " (PUT, DELETE and PATCH take a condition: " + type + "?search)");
  }
  if (parts[1] == "_search" && parts.size() == 2) {
    if (method != "POST" && !get) return NotAllowed("GET, POST", method, type + "/_search");
    std::string combined(query);
    if (method == "POST") {
      auto content_type = request.Header("content-type");
      if (!request.body.empty() && (!content_type || MediaType(*content_type) != "application/x-www-form-urlencoded")) {
        return Outcome(415, "not-supported", "A search by POST takes an application/x-www-form-urlencoded body.");
      }
      // In a form body '+' is a space; the store's search reads '+' as is.
      std::string form;
      form.reserve(request.body.size());
      for (char c : request.body)
        form.append(c == '+' ? "%20" : std::string_view(&c, 1));
      std::string format;
      form = SearchQuery(form, &format);
      if (!combined.empty() && !form.empty()) combined.push_back('&');
      combined.append(form);
    }
    return Search(store, request, type, combined, base_url);
  }
  if (parts[1] == "_history" && parts.size() == 2) {
    if (!get) return NotAllowed("GET", method, type + "/_history");
    return TypeHistory(store, type, query, base_url);
  }
  if (parts[1].starts_with("_") || parts[1].starts_with("$")) {
    return Outcome(404, "not-supported", "Not supported here: '" + type + "/" + parts[1] + "'.");
  }
  const std::string& id = parts[1];
  if (parts.size() == 2) {
    if (get) return Read(store, request, type, id);
    if (method == "PUT") return Update(store, request, type, id, base_url);
    if (method == "DELETE") return Delete(store, request, type, id, "");
    if (method == "PATCH") return Patch(store, request, type, id, "");
    return NotAllowed("GET, PUT, DELETE, PATCH", method, type + "/" + id);
  }
  if (parts[2] == "_history" && parts.size() <= 4) {
    if (!get) return NotAllowed("GET", method, type + "/" + id + "/_history");
    if (parts.size() == 3) {
      Result<std::vector<store::HistoryEntry>> history = store.History(type, id);
      if (!history.ok()) return StoreError(history.status());
      std::string self(base_url);
      self.append("/").append(type).append("/").append(id).append("/_history");
      return Json(200, HistoryBundle(base_url, type, id, *history, {{"self", self}}, history->size()));
    }
    Result<store::Resource> version = store.VRead(type, id, parts[3]);
    if (!version.ok()) return StoreError(version.status());
    return ResourceAnswer(200, *version, "", false);
  }
  return Outcome(404, "not-found", "No FHIR endpoint at '" + request.path + "'.");
}

}  // namespace

HttpResponse HandleFhirRequest(store::EmbeddedStore& store, const HttpRequest& request, std::string_view base_url,
                               BulkExports* exports, Subscriptions* subscriptions) {
  std::string_view path = request.path;
  if (!path.starts_with("/fhir") || (path.size() > 5 && path[5] != '/')) {
    return Outcome(404, "not-found", "Not a FHIR path: '" + request.path + "'.");
  }
  path.remove_prefix(5);
  std::vector<std::string> parts;
  while (!path.empty()) {
    path.remove_prefix(1);  // '/'
    std::size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
    // "/fhir/" and "/fhir/Patient/" are the same as without the slash.
    if (part.empty() && path.empty()) break;
    parts.push_back(url::PercentDecode(part));
  }
  std::string format;
  std::string query = SearchQuery(request.query, &format);
  if (auto refused = CheckAccept(request, format)) return *refused;
  if (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  if (exports != nullptr) {
    if (std::optional<HttpResponse> answer = exports->Handle(request, parts, query, base_url)) return *answer;
  }
  if (subscriptions != nullptr) {
    if (std::optional<HttpResponse> answer = subscriptions->Handle(request, parts)) return *answer;
  }
  return Route(store, request, base_url, parts, query, subscriptions != nullptr);
}

}  // namespace iomt::server
