// The remote FHIR client's shared helpers (remote_internal.h): its
// Statuses, reading a server's answers, URL pieces.
#include "store/remote/remote_internal.h"

#include "common/json/document.h"
#include "common/json/node.h"

namespace iomt::store::remote_internal {

Status ServiceError(StatusCode code, std::string message) {
  return Status(code, std::move(message)).WithError(ErrorName::kFhirService);
}

bool Retryable(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::string_view Origin(std::string_view url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::size_t end = url.find_first_of("/?#", scheme + 3);
  return url.substr(0, end);
}

std::string_view PathOf(std::string_view url) {
  std::string_view origin = Origin(url);
  return origin.empty() ? url : url.substr(origin.size());
}

std::string VersionFromEtag(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

std::string StringMember(const json::Value& v, std::string_view key) {
  json::Value m;
  return v.Find(key, &m) && m.is_string() ? std::string(m.string_value()) : std::string();
}

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

Status HttpFailure(std::string_view what, long status, std::string_view body) {
  std::string message = Cat({what, ": "});
  message.append(StatusText(status, body));
  if (status == 409 || status == 412) return Conflict(std::move(message));
  return ServiceError(StatusCode::kInvalidArgument, std::move(message));
}

Resource AnsweredResource(const json::Value& resource, std::string json, std::string_view etag, std::string_view id) {
  Resource r;
  r.id = StringMember(resource, "id");
  if (r.id.empty()) r.id = std::string(id);
  json::Value meta;
  if (resource.Find("meta", &meta)) r.version_id = StringMember(meta, "versionId");
  if (r.version_id.empty()) r.version_id = VersionFromEtag(etag);
  r.json = std::move(json);
  return r;
}

Result<Resource> ResourceFromAnswer(std::string_view body, std::string_view etag, std::string_view id,
                                    std::string_view sent) {
  thread_local json::Document doc;
  if (!body.empty() && doc.Parse(body).ok() && doc.root().is_object()) {
    json::Value root = doc.root();
    if (!StringMember(root, "resourceType").empty()) return AnsweredResource(root, std::string(body), etag, id);
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

}  // namespace iomt::store::remote_internal
