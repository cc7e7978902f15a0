// FHIR search on the embedded store: a query string becomes one SQL
// statement over the index tables (never a scan of the JSON), with the
// parameters' values bound, so statements are cached by their shape.
#include <charconv>
#include <string>
#include <vector>

#include "common/json/writer.h"
#include "common/url.h"
#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

using embedded::Hash64;
using embedded::TokenParam;
// A bound parameter: a number or a text (a struct rather than a variant:
// GCC 12 warns falsely on moving a variant holding a string).
struct Bound {
  Bound(std::int64_t n) : number(n) {}                         // NOLINT(google-explicit-constructor)
  Bound(std::string t) : is_text(true), text(std::move(t)) {}  // NOLINT(google-explicit-constructor)
  bool is_text = false;
  std::int64_t number = 0;
  std::string text;
};

constexpr std::string_view kSupported =
    "_id, identifier, patient, subject, device, code, date, _lastUpdated, "
    "_count, _offset, _sort";

// Splits on `sep` not escaped with '\'; escapes are removed.
std::vector<std::string> SplitEscaped(std::string_view s, char sep, std::size_t max_parts = 0) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out.back().push_back(s[++i]);
    } else if (s[i] == sep && (max_parts == 0 || out.size() < max_parts)) {
      out.emplace_back();
    } else {
      out.back().push_back(s[i]);
    }
  }
  return out;
}

Status Invalid(std::string message) { return InvalidArgument(std::move(message)); }

struct QueryBuilder {
  std::int64_t tid = 0;
  std::string where;
  std::vector<Bound> binds;
  std::string order;

  void And(const std::string& cond) { where.append(" AND ").append(cond); }
  std::string Param(Bound b) {
    binds.push_back(std::move(b));
    return "?";
  }
  // The rids of one token over both token tables (tok and tok_delta).
  std::string TokenSelect(TokenParam param, const std::int64_t* vh, const std::int64_t* sh) {
    std::string sel;
    for (const char* table : {"tok", "tok_delta"}) {
      sel.append(sel.empty() ? "SELECT rid FROM " : " UNION ALL SELECT rid FROM ").append(table);
      sel.append(" WHERE p=").append(Param(TokenKey(tid, param)));
      if (vh != nullptr) sel.append(" AND vh=").append(Param(*vh));
      if (sh != nullptr) sel.append(" AND sh=").append(Param(*sh));
    }
    return sel;
  }

  // `param=v1,v2,...`: one SELECT per token table and form of value (value,
  // system|value, system|), each with all its values in one IN list, so that
  // the number of compound terms stays fixed (SQLite allows 500), however
  // many identifiers a client asks for at once.
  Status Token(std::string_view name, TokenParam param, const std::vector<std::string>& values) {
    std::vector<std::int64_t> value_only;
    std::vector<std::pair<std::int64_t, std::int64_t>> pairs;  // (vh, sh)
    std::vector<std::int64_t> system_only;
    for (const std::string& v : values) {
      std::vector<std::string> parts = SplitEscaped(v, '|', 2);
      if (parts.size() == 2) {
        if (parts[1].empty() && parts[0].empty()) return Invalid("Search parameter '" + std::string(name) + "': '|'.");
        if (parts[1].empty()) {
          system_only.push_back(Hash64(parts[0]));
        } else {
          pairs.emplace_back(Hash64(parts[1]), Hash64(parts[0]));
        }
      } else {
        value_only.push_back(Hash64(parts[0]));
      }
    }
    std::string selects;
    // Parameters are bound in the order they appear in the text: the table's
    // `p` first, then the condition's values.
    auto select = [&](const char* table) {
      selects.append(selects.empty() ? "SELECT rid FROM " : " UNION ALL SELECT rid FROM ").append(table);
      selects.append(" WHERE p=").append(Param(TokenKey(tid, param))).append(" AND ");
    };
    auto list = [&](const std::vector<std::int64_t>& hashes) {
      selects.push_back('(');
      for (std::size_t i = 0; i < hashes.size(); ++i)
        selects.append(i > 0 ? "," : "").append(Param(hashes[i]));
      selects.push_back(')');
    };
    for (const char* table : {"tok", "tok_delta"}) {
      if (!value_only.empty()) {
        select(table);
        selects.append("vh IN ");
        list(value_only);
      }
      if (!system_only.empty()) {
        select(table);
        selects.append("sh IN ");
        list(system_only);
      }
      if (!pairs.empty()) {
        select(table);
        selects.append("(vh, sh) IN (VALUES ");
        for (std::size_t i = 0; i < pairs.size(); ++i) {
          selects.append(i > 0 ? ",(" : "(").append(Param(pairs[i].first)).append(",");
          selects.append(Param(pairs[i].second)).append(")");
        }
        selects.push_back(')');
      }
    }
    And("r.rid IN (" + selects + ")");
    return Status::Ok();
  }

  // `_id=a,b`: through the resources' key rows (the key is a hash: the id
  // itself is compared too).
  void Ids(const std::vector<std::string>& values) {
    // Params are bound in the order they are added, which is their order in
    // the text.
    std::string sel;
    for (const char* table : {"tok", "tok_delta"}) {
      sel.append(sel.empty() ? "SELECT rid FROM " : " UNION ALL SELECT rid FROM ").append(table);
      sel.append(" WHERE p=").append(Param(TokenKey(tid, TokenParam::kKey))).append(" AND vh IN (");
      for (std::size_t i = 0; i < values.size(); ++i)
        sel.append(i > 0 ? "," : "").append(Param(ResourceKey(tid, values[i])));
      sel.push_back(')');
    }
    std::string ids;
    for (std::size_t i = 0; i < values.size(); ++i)
      ids.append(i > 0 ? "," : "").append(Param(values[i]));
    And("r.rid IN (" + sel + ") AND r.id IN (" + ids + ")");
  }

  Status Reference(TokenParam param, const std::vector<std::string>& values) {
    std::string selects;
    for (const std::string& v : values) {
      std::string_view type, id;
      if (!embedded::SplitReference(v, &type, &id)) return Invalid("Not a reference: '" + v + "'.");
      const std::int64_t vh = Hash64(id);
      const std::int64_t sh = Hash64(type);
      std::string sel = TokenSelect(param, &vh, type.empty() ? nullptr : &sh);
      // `patient` also finds resources whose subject is that Patient (an
      // Observation's patient search parameter is its subject).
      if (param == TokenParam::kPatient && (type.empty() || type == "Patient")) {
        const std::int64_t patient = Hash64("Patient");
        sel.append(" UNION ").append(TokenSelect(TokenParam::kSubject, &vh, &patient));
      }
      selects.append(selects.empty() ? "" : " UNION ").append(sel);
    }
    And("r.rid IN (" + selects + ")");
    return Status::Ok();
  }

  Status Date(std::string_view name, const char* lo_col, const char* hi_col, const std::vector<std::string>& values) {
    std::string any;
    for (const std::string& v : values) {
      std::string_view text = v;
      std::string_view prefix = "eq";
      if (text.size() >= 2 && text[0] >= 'a' && text[0] <= 'z') {
        prefix = text.substr(0, 2);
        text.remove_prefix(2);
      }
      std::int64_t lo = 0, hi = 0;
      if (!embedded::ParseDateRange(text, &lo, &hi))
        return Invalid("Search parameter '" + std::string(name) + "': not a date: '" + std::string(text) + "'.");
      std::string cond;
      const std::string lo_s(lo_col), hi_s(hi_col);
      if (prefix == "eq" || prefix == "ne") {
        cond = prefix == "ne" ? "NOT (" : "(";
        cond.append(lo_s).append(">=").append(Param(lo));
        cond.append(" AND ").append(hi_s).append("<=").append(Param(hi)).append(")");
      } else if (prefix == "ge") {
        cond = hi_s + ">=" + Param(lo);
      } else if (prefix == "gt") {
        cond = hi_s + ">" + Param(hi);
      } else if (prefix == "le") {
        cond = lo_s + "<=" + Param(hi);
      } else if (prefix == "lt") {
        cond = lo_s + "<" + Param(lo);
      } else {
        return Invalid("Search parameter '" + std::string(name) + "': the prefix '" + std::string(prefix) +
                       "' is not supported (eq, ne, gt, lt, ge, le).");
      }
      any.append(any.empty() ? "" : " OR ").append(cond);
    }
    And(std::string(lo_col) + " IS NOT NULL AND (" + any + ")");
    return Status::Ok();
  }
};

Result<std::size_t> ParseCount(std::string_view name, std::string_view v) {
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size())
    return Invalid("Search parameter '" + std::string(name) + "': not a number: '" + std::string(v) + "'.");
  return n;
}

Status Bind(sqlite::Stmt* s, const std::vector<Bound>& binds) {
  int i = 1;
  for (const Bound& b : binds) {
    if (b.is_text) {
      s->Bind(i++, b.text);
    } else {
      s->Bind(i++, b.number);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<SearchPage> EmbeddedStore::Impl::Search(std::string_view type, std::string_view query) {
  if (!IsValidType(type)) return Invalid("Not a resource type: '" + std::string(type) + "'.");
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  QueryBuilder q;
  q.tid = tid;
  SearchPage page;
  page.count = options.default_count;
  std::vector<std::string> kept;
  std::string sort;

  // Names and values are percent-decoded; '+' stays '+' (a zone offset in a
  // date is more likely than a form-encoded space).
  for (const url::QueryPiece& piece : url::SplitQuery(query)) {
    std::string name = url::PercentDecode(piece.name);
    std::string value = url::PercentDecode(piece.value);
    if (std::size_t colon = name.find(':'); colon != std::string::npos) {
      return Invalid("The modifier ':" + name.substr(colon + 1) + "' of search parameter '" + name.substr(0, colon) +
                     "' is not supported.");
    }
    const bool known = name == "_id" || name == "identifier" || name == "patient" || name == "subject" ||
                       name == "device" || name == "code" || name == "date" || name == "_lastUpdated" ||
                       name == "_count" || name == "_offset" || name == "_sort";
    if (!known) {
      std::string message = "Unknown search parameter '";
      message.append(name).append("' for resource type ").append(type).append(" (supported: ");
      message.append(kSupported).append(").");
      return Invalid(std::move(message));
    }
    // FHIR: a parameter with an empty value is ignored.
    if (value.empty()) continue;
    if (name == "_count") {
      IOMT_ASSIGN_OR_RETURN(page.count, ParseCount(name, value));
      page.count = std::min(page.count, options.max_count);
      continue;
    }
    if (name == "_offset") {
      IOMT_ASSIGN_OR_RETURN(page.offset, ParseCount(name, value));
      if (page.offset > options.max_offset) {
        return OutOfRange("_offset " + std::to_string(page.offset) + " is deeper than this server pages (" +
                          std::to_string(options.max_offset) + "): narrow the search (e.g. by date or _lastUpdated)");
      }
      continue;
    }
    kept.emplace_back(piece.text);
    if (name == "_sort") {
      sort = value;
      continue;
    }
    std::vector<std::string> values = SplitEscaped(value, ',');
    if (name == "_id") {
      q.Ids(values);
    } else if (name == "identifier") {
      IOMT_RETURN_IF_ERROR(q.Token(name, TokenParam::kIdentifier, values));
    } else if (name == "code") {
      IOMT_RETURN_IF_ERROR(q.Token(name, TokenParam::kCode, values));
    } else if (name == "patient") {
      IOMT_RETURN_IF_ERROR(q.Reference(TokenParam::kPatient, values));
    } else if (name == "subject") {
      IOMT_RETURN_IF_ERROR(q.Reference(TokenParam::kSubject, values));
    } else if (name == "device") {
      IOMT_RETURN_IF_ERROR(q.Reference(TokenParam::kDevice, values));
    } else if (name == "date") {
      IOMT_RETURN_IF_ERROR(q.Date(name, "r.dlo", "r.dhi", values));
    } else if (name == "_lastUpdated") {
      IOMT_RETURN_IF_ERROR(q.Date(name, "r.updated", "r.updated", values));
    }
  }
  for (const std::string& key : SplitEscaped(sort, ',')) {
    if (key.empty()) continue;
    const bool desc = key[0] == '-';
    std::string_view k{key};
    k.remove_prefix(desc ? 1 : 0);
    const char* column = nullptr;
    if (k == "date") column = "r.dlo";
    if (k == "_id") column = "r.id";
    if (k == "_lastUpdated") column = "r.updated";
    if (column == nullptr) return Invalid("Unknown sort parameter '" + std::string(k) + "' (date, _id, _lastUpdated).");
    q.order.append(column).append(desc ? " DESC, " : ", ");
  }
  q.order.append("r.rid");
  for (std::size_t i = 0; i < kept.size(); ++i)
    page.query.append(i == 0 ? "" : "&").append(kept[i]);
  if (tid == 0) return page;  // no resource of this type was ever written

  const std::string where = "FROM resources r WHERE r.tid=" + std::to_string(tid) + " AND r.deleted=0" + q.where;
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt * s, CachedStatement("SELECT count(*) " + where));
    IOMT_RETURN_IF_ERROR(Bind(s, q.binds));
    Result<bool> step = s->Step();
    if (step.ok() && *step) page.total = s->Int(0);
    s->Reset();
    if (!step.ok()) return step.status();
  }
  if (page.count == 0 || page.offset >= static_cast<std::size_t>(page.total)) return page;
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt * s, CachedStatement("SELECT r.id, r.version, r.json " + where + " ORDER BY " +
                                                          q.order + " LIMIT ? OFFSET ?"));
  IOMT_RETURN_IF_ERROR(Bind(s, q.binds));
  s->Bind(static_cast<int>(q.binds.size()) + 1, static_cast<std::int64_t>(page.count));
  s->Bind(static_cast<int>(q.binds.size()) + 2, static_cast<std::int64_t>(page.offset));
  while (true) {
    IOMT_ASSIGN_OR_RETURN(bool has_row, s->NextRow());
    if (!has_row) break;
    Result<std::string_view> text = StoredJson(*s, 2);
    if (!text.ok()) {
      s->Reset();
      return text.status();
    }
    page.resources.push_back(Resource{std::string(s->Text(0)), std::to_string(s->Int(1)), std::string(*text)});
  }
  s->Reset();
  if (page.offset + page.resources.size() < static_cast<std::size_t>(page.total))
    page.next_offset = page.offset + page.resources.size();
  return page;
}

std::string RenderSearchBundle(std::string_view type, const SearchPage& page, std::string_view base_url) {
  auto link = [&](std::size_t offset) {
    std::string url(base_url);
    url.push_back('/');
    url.append(type).push_back('?');
    if (!page.query.empty()) url.append(page.query).push_back('&');
    url.append("_count=").append(std::to_string(page.count)).append("&_offset=").append(std::to_string(offset));
    return url;
  };
  std::string out = R"({"resourceType":"Bundle","type":"searchset","total":)";
  out.append(std::to_string(page.total)).append(R"(,"link":[{"relation":"self","url":)");
  json::AppendQuoted(&out, link(page.offset));
  out.push_back('}');
  if (page.next_offset) {
    out.append(R"(,{"relation":"next","url":)");
    json::AppendQuoted(&out, link(*page.next_offset));
    out.push_back('}');
  }
  out.append("],\"entry\":[");
  for (std::size_t i = 0; i < page.resources.size(); ++i) {
    const Resource& r = page.resources[i];
    std::string full_url(base_url);
    full_url.push_back('/');
    full_url.append(type).push_back('/');
    full_url.append(r.id);
    out.append(i == 0 ? "" : ",").append(R"({"fullUrl":)");
    json::AppendQuoted(&out, full_url);
    out.append(R"(,"resource":)").append(r.json).append(R"(,"search":{"mode":"match"}})");
  }
  out.append("]}");
  return out;
}

}  // namespace iomt::store
