// `batch` and `transaction` Bundles on the embedded store. A transaction
// runs inside one savepoint: the first failing entry undoes all of them. A
// batch gives each entry its own savepoint. Both are committed (durably)
// before the response is returned.
#include <algorithm>
#include <string>
#include <vector>

#include "common/json/writer.h"
#include "store/embedded/store_impl.h"
#include "store/rest_outcome.h"

namespace iomt::store {
namespace {

struct Op {
  std::size_t index = 0;
  std::string method;
  std::string url;  // as given, for messages
  std::string type;
  std::string id;
  std::string version;  // from Type/id/_history/v
  std::string query;
  bool is_search = false;
  std::string if_match;
  std::string if_none_exist;
  std::string full_url;
  std::string resource;  // the entry's resource text, with urn:uuid references rewritten
  bool exists = false;   // a conditional create that matched: `id` is the match
};

struct Response {
  int status = 200;
  std::string location;
  std::string etag;
  std::string last_modified;
  std::string resource;  // GET: the resource or searchset
  std::string outcome;   // batch: why an entry failed
};

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
  }
}

std::string StringOf(const json::Value& v, std::string_view key) {
  json::Value m;
  return v.Find(key, &m) && m.is_string() ? std::string(m.string_value()) : std::string();
}

Status ParseUrl(std::string_view base_url, Op* op) {
  std::string_view url = op->url;
  if (!base_url.empty() && url.substr(0, base_url.size()) == base_url) url.remove_prefix(base_url.size());
  while (!url.empty() && url.front() == '/')
    url.remove_prefix(1);
  std::size_t q = url.find('?');
  if (q != std::string_view::npos) {
    op->query = std::string(url.substr(q + 1));
    op->is_search = true;
    url = url.substr(0, q);
  }
  std::vector<std::string_view> parts;
  while (!url.empty()) {
    std::size_t slash = url.find('/');
    parts.push_back(url.substr(0, slash));
    url = slash == std::string_view::npos ? std::string_view() : url.substr(slash + 1);
  }
  const bool ok = (parts.size() == 1) || (parts.size() == 2 && !op->is_search) ||
                  (parts.size() == 4 && parts[2] == "_history" && !op->is_search);
  if (!ok || !IsValidType(parts[0])) return InvalidArgument("Not a request URL this store serves: '" + op->url + "'.");
  op->type = std::string(parts[0]);
  if (parts.size() >= 2) op->id = std::string(parts[1]);
  if (parts.size() == 4) op->version = std::string(parts[3]);
  if (parts.size() == 1 && op->method == "GET") op->is_search = true;
  return Status::Ok();
}

void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  for (std::size_t at = s->find(from); at != std::string::npos; at = s->find(from, at + to.size()))
    s->replace(at, from.size(), to);
}

}  // namespace

Result<std::string> EmbeddedStore::Impl::ProcessBundle(std::string_view bundle_json, std::string_view base_url) {
  json::Document bdoc;
  if (Status st = bdoc.Parse(bundle_json); !st.ok())
    return InvalidArgument("The Bundle is not valid JSON: " + st.message());
  json::Value root = bdoc.root();
  if (!root.is_object() || StringOf(root, "resourceType") != "Bundle") return InvalidArgument("Not a Bundle.");
  const std::string type = StringOf(root, "type");
  const bool transaction = type == "transaction";
  if (!transaction && type != "batch")
    return InvalidArgument("A Bundle of type '" + type + "' cannot be processed (batch or transaction).");
  json::Value entries;
  std::vector<std::string_view> raw;
  if (root.Find("entry", &entries)) {
    if (!entries.is_array()) return InvalidArgument("Bundle.entry is not an array.");
    raw = embedded::RawElements(embedded::RawMember(bundle_json, "entry"));
    if (raw.size() != entries.size()) return InvalidArgument("Bundle.entry could not be read.");
    if (raw.size() > options.max_bundle_entries) {
      return OutOfRange("The Bundle has " + std::to_string(raw.size()) + " entries; this server takes at most " +
                        std::to_string(options.max_bundle_entries) + " in one batch or transaction.");
    }
  }

  std::vector<Op> ops;
  std::vector<Response> responses(raw.size());
  std::vector<Status> failures(raw.size());
  std::size_t k = 0;
  for (json::Value e : entries.elements()) {
    Op op;
    op.index = k;
    json::Value request;
    if (!e.Find("request", &request) || !request.is_object()) {
      failures[k] = InvalidArgument("Bundle entry " + std::to_string(k) + " has no request.");
    } else {
      op.method = StringOf(request, "method");
      op.url = StringOf(request, "url");
      op.if_match = StringOf(request, "ifMatch");
      op.if_none_exist = StringOf(request, "ifNoneExist");
      op.full_url = StringOf(e, "fullUrl");
      op.resource = std::string(embedded::RawMember(raw[k], "resource"));
      if (op.method != "GET" && op.method != "POST" && op.method != "PUT" && op.method != "DELETE") {
        failures[k] = InvalidArgument("Bundle entry " + std::to_string(k) + ": the method '" + op.method +
                                      "' is not supported (GET, POST, PUT, DELETE).");
      } else {
        failures[k] = ParseUrl(base_url, &op);
        if (failures[k].ok() && (op.method == "PUT" || op.method == "DELETE") && op.id.empty())
          failures[k] = InvalidArgument("Bundle entry " + std::to_string(k) + ": " + op.method + " needs Type/id.");
        if (failures[k].ok() && (op.method == "POST" || op.method == "PUT") && op.resource.empty())
          failures[k] = InvalidArgument("Bundle entry " + std::to_string(k) + " has no resource.");
      }
    }
    ops.push_back(std::move(op));
    ++k;
  }
  auto fail_transaction = [&](std::size_t i, const Status& st) {
    std::string message = "The transaction failed at entry ";
    message.append(std::to_string(i));
    if (!ops[i].method.empty()) message.append(" (").append(ops[i].method).append(" ").append(ops[i].url).append(")");
    message.append(": ").append(st.message());
    return Status(st.code(), std::move(message)).WithDetail(st.detail());
  };
  if (transaction) {
    for (std::size_t i = 0; i < ops.size(); ++i)
      if (!failures[i].ok()) return fail_transaction(i, failures[i]);
  }

  IOMT_RETURN_IF_ERROR(Begin());
  if (transaction) IOMT_RETURN_IF_ERROR(Savepoint("tx"));
  // In a transaction, POSTed resources get their ids first, and references
  // to their urn:uuid fullUrls are rewritten to them.
  if (transaction) {
    std::vector<std::pair<std::string, std::string>> rewrites;
    for (Op& op : ops) {
      if (op.method != "POST") continue;
      if (!op.if_none_exist.empty()) {
        Result<SearchPage> page = Search(op.type, op.if_none_exist);
        if (page.ok() && page->total == 1 && !page->resources.empty()) {
          op.exists = true;
          op.id = page->resources.front().id;
        }
      }
      if (op.id.empty()) op.id = NewId(op.type);
      if (op.full_url.rfind("urn:uuid:", 0) == 0) rewrites.emplace_back(op.full_url, op.type + "/" + op.id);
    }
    for (Op& op : ops)
      for (const auto& [from, to] : rewrites)
        ReplaceAll(&op.resource, "\"" + from + "\"", "\"" + to + "\"");
  }

  auto run = [&](Op& op, Response* resp) -> Status {
    if (op.method == "GET") {
      if (op.is_search) {
        IOMT_ASSIGN_OR_RETURN(SearchPage page, Search(op.type, op.query));
        resp->resource = RenderSearchBundle(op.type, page, base_url);
      } else {
        IOMT_ASSIGN_OR_RETURN(Resource r,
                              op.version.empty() ? ReadCurrent(op.type, op.id) : VRead(op.type, op.id, op.version));
        resp->etag = "W/\"" + r.version_id + "\"";
        resp->resource = std::move(r.json);
      }
      return Status::Ok();
    }
    if (op.method == "DELETE") {
      IOMT_ASSIGN_OR_RETURN(bool deleted, Remove(op.type, op.id));
      resp->status = deleted ? 204 : 200;
      return Status::Ok();
    }
    WriteResult w;
    if (op.method == "POST") {
      if (op.exists) {
        IOMT_ASSIGN_OR_RETURN(w.resource, ReadCurrent(op.type, op.id));
      } else if (!op.id.empty()) {
        IOMT_ASSIGN_OR_RETURN(w, Write(op.type, op.id, op.resource, std::nullopt, /*new_id=*/true));
      } else {
        std::optional<std::string_view> cond;
        if (!op.if_none_exist.empty()) cond = op.if_none_exist;
        IOMT_ASSIGN_OR_RETURN(w, Create(op.type, op.resource, cond));
      }
    } else {
      std::optional<std::string_view> if_match;
      if (!op.if_match.empty()) if_match = op.if_match;
      IOMT_ASSIGN_OR_RETURN(w, Write(op.type, op.id, op.resource, if_match, false));
    }
    resp->status = w.created ? 201 : 200;
    resp->location = op.type + "/" + w.resource.id + "/_history/" + w.resource.version_id;
    resp->etag = "W/\"" + w.resource.version_id + "\"";
    resp->last_modified = w.last_updated;
    return Status::Ok();
  };

  // FHIR's order for a transaction: DELETE, POST, PUT, GET; a batch runs in
  // the order given.
  std::vector<std::size_t> order(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i)
    order[i] = i;
  if (transaction) {
    auto rank = [&](std::size_t i) {
      const std::string& m = ops[i].method;
      return m == "DELETE" ? 0 : m == "POST" ? 1 : m == "PUT" ? 2 : 3;
    };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rank(a) < rank(b); });
  }
  for (std::size_t i : order) {
    if (!transaction) {
      if (!failures[i].ok()) continue;
      IOMT_RETURN_IF_ERROR(Savepoint("e"));
      failures[i] = run(ops[i], &responses[i]);
      if (failures[i].ok()) {
        IOMT_RETURN_IF_ERROR(Release("e"));
      } else {
        RollbackTo("e");
      }
      continue;
    }
    Status st = run(ops[i], &responses[i]);
    if (!st.ok()) {
      RollbackTo("tx");
      return fail_transaction(i, st);
    }
  }
  if (transaction) IOMT_RETURN_IF_ERROR(Release("tx"));
  IOMT_RETURN_IF_ERROR(Commit());

  std::string out = R"({"resourceType":"Bundle","type":")";
  out.append(transaction ? "transaction-response" : "batch-response").append(R"(","entry":[)");
  // `,"key":"value"`, left out when the value is empty.
  auto optional_member = [&out](std::string_view key, const std::string& value) {
    if (value.empty()) return;
    out.append(",\"").append(key).append("\":");
    json::AppendQuoted(&out, value);
  };
  for (std::size_t i = 0; i < responses.size(); ++i) {
    Response& r = responses[i];
    if (!failures[i].ok()) {
      r.status = HttpStatus(failures[i]);
      r.outcome = OperationOutcome(failures[i]);
    }
    out.append(i == 0 ? "{" : ",{");
    if (!r.resource.empty()) out.append(R"("resource":)").append(r.resource).push_back(',');
    out.append(R"("response":{"status":)");
    json::AppendQuoted(&out, std::to_string(r.status) + " " + Reason(r.status));
    optional_member("location", r.location);
    optional_member("etag", r.etag);
    optional_member("lastModified", r.last_modified);
    if (!r.outcome.empty()) out.append(R"(,"outcome":)").append(r.outcome);
    out.append("}}");
  }
  out.append("]}");
  return out;
}

}  // namespace iomt::store
