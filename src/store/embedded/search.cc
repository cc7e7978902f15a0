// FHIR search on the embedded store: a query string becomes one SQL
// statement over the index tables (never a scan of the JSON), with the
// parameters' values bound, so statements are cached by their shape.
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/url.h"
#include "store/embedded/filter.h"
#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

using embedded::Hash64;
using embedded::HasSummaryElements;
using embedded::ResultShape;
using embedded::ShapeResource;
using embedded::SplitReference;
using embedded::Summary;
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
    "_count, _offset, _cursor, _sort, _summary, _total, _elements, _include, _revinclude";
constexpr std::array<std::string_view, 17> kKnown = {
    "_id",     "identifier", "patient", "subject",  "device", "code",      "date",     "_lastUpdated", "_count",
    "_offset", "_cursor",    "_sort",   "_summary", "_total", "_elements", "_include", "_revinclude"};

// The references `_include` and `_revinclude` follow: those iomt writes.
// `element` holds the Reference; `target` is the type it must refer to
// ("" any); `param` is the search parameter that finds the referring
// resources.
struct IncludeRule {
  std::string_view source;
  std::string_view param;
  std::string_view element;
  std::string_view target;
};
constexpr std::array<IncludeRule, 6> kIncludeRules = {{
    {"Observation", "subject", "subject", ""},
    {"Observation", "patient", "subject", "Patient"},
    {"Observation", "device", "device", "Device"},
    {"Device", "patient", "patient", "Patient"},
    {"Encounter", "subject", "subject", ""},
    {"Encounter", "patient", "subject", "Patient"},
}};
constexpr std::string_view kIncludes =
    "Observation:subject, Observation:patient, Observation:device, Device:patient, Encounter:subject, "
    "Encounter:patient";

// "Observation:subject" or "Observation:subject:Patient".
struct IncludeRef {
  std::string source;
  std::string param;
  std::string target;
};

std::optional<IncludeRef> ParseInclude(std::string_view value) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = value.find(':', start);
    parts.emplace_back(value.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) return std::nullopt;
  IncludeRef ref{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  return ref;
}

const IncludeRule* FindInclude(const IncludeRef& ref) {
  for (const IncludeRule& rule : kIncludeRules) {
    if (rule.source != ref.source || rule.param != ref.param) continue;
    if (!ref.target.empty() && !rule.target.empty() && ref.target != rule.target) return nullptr;
    return &rule;
  }
  return nullptr;
}

Status ParseSummary(std::string_view type, std::string_view value, Summary* out) {
  if (value == "true") {
    if (!HasSummaryElements(type)) {
      return InvalidArgument(
          "_summary=true: this server knows the summary elements of Observation, Patient, "
          "Device and Encounter, not of " +
          std::string(type) + " (use _elements).");
    }
    *out = Summary::kTrue;
  } else if (value == "false") {
    *out = Summary::kFalse;
  } else if (value == "text") {
    *out = Summary::kText;
  } else if (value == "data") {
    *out = Summary::kData;
  } else if (value == "count") {
    *out = Summary::kCount;
  } else {
    return InvalidArgument("_summary: '" + std::string(value) + "' is none of true, false, text, data, count.");
  }
  return Status::Ok();
}

// An element name for _elements: letters and digits, starting with a letter.
bool IsElementName(std::string_view s) {
  if (s.empty() || std::isalpha(static_cast<unsigned char>(s.front())) == 0) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

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
  // Whether the next token condition probes each candidate (EXISTS, a point
  // lookup per candidate) instead of listing its resources (IN, which reads
  // every row of the token: a third of the store for a common code).
  bool probe = false;
  // The condition that a resource is among `selects` (SELECT rid ... UNION
  // ...), in the form `probe` asks for.
  [[nodiscard]] std::string Among(const std::string& selects) const {
    if (!probe) return "r.rid IN (" + selects + ")";
    std::string out = "EXISTS (";
    for (std::size_t at = 0;;) {
      const std::size_t next = selects.find(" UNION ", at);
      out.append(selects, at, next == std::string::npos ? std::string::npos : next - at).append(" AND rid=r.rid");
      if (next == std::string::npos) break;
      out.append(" UNION ");
      at = next + 7;
    }
    return out + ")";
  }
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
    And(Among(selects));
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
    And(Among(sel) + " AND r.id IN (" + ids + ")");
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
    And(Among(selects));
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

Result<SearchPage> EmbeddedStore::Impl::Search(std::string_view type, std::string_view query, SearchOptions search) {
  if (!IsValidType(type)) return Invalid("Not a resource type: '" + std::string(type) + "'.");
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  QueryBuilder q;
  q.tid = tid;
  SearchPage page;
  page.count = options.default_count;
  std::vector<std::string> kept;
  std::string sort;
  std::string cursor;
  ResultShape shape;
  std::vector<std::string> includes, revincludes;
  std::vector<std::unique_ptr<embedded::Filter>> filters;
  // What the search cannot do: a failure, or with lenient handling a
  // warning in the answer and the parameter ignored.
  auto refuse = [&](std::string message) -> Status {
    if (!search.lenient) return Invalid(std::move(message));
    page.warnings.push_back(std::move(message) + " It was ignored.");
    return Status::Ok();
  };

  // A selective token (an id, an identifier, a patient, a device: a few
  // hundred resources at most) drives the search: the first one lists its
  // resources, every other token condition probes them.
  constexpr std::array<std::string_view, 5> kSelective = {"_id", "identifier", "patient", "subject", "device"};
  auto is_selective = [&](std::string_view name) {
    return std::find(kSelective.begin(), kSelective.end(), name) != kSelective.end();
  };
  bool selective = false;
  for (const url::QueryPiece& piece : url::SplitQuery(query))
    selective = selective || (is_selective(url::PercentDecode(piece.name)) && !piece.value.empty());
  bool driven = false;
  // Names and values are percent-decoded; '+' stays '+' (a zone offset in a
  // date is more likely than a form-encoded space).
  for (const url::QueryPiece& piece : url::SplitQuery(query)) {
    std::string name = url::PercentDecode(piece.name);
    std::string value = url::PercentDecode(piece.value);
    std::string modifier;
    if (std::size_t colon = name.find(':'); colon != std::string::npos) {
      modifier = name.substr(colon + 1);
      name.resize(colon);
    }
    const bool known = std::find(kKnown.begin(), kKnown.end(), name) != kKnown.end();
    if (!modifier.empty() || !known) {
      // Evaluated on the candidates' JSON (filter.h), if it is one of those.
      IOMT_ASSIGN_OR_RETURN(std::optional<std::unique_ptr<embedded::Filter>> filter,
                            value.empty() ? std::optional<std::unique_ptr<embedded::Filter>>()
                                          : embedded::MakeFilter(type, name, modifier, value));
      if (filter) {
        filters.push_back(std::move(*filter));
        kept.emplace_back(piece.text);
        continue;
      }
      if (value.empty() && (embedded::IsFilterParam(type, name) || (known && modifier == "missing"))) continue;
    }
    if (!modifier.empty()) {
      std::string message = "The modifier ':";
      message.append(modifier).append("' of search parameter '").append(name).append("' is not supported.");
      IOMT_RETURN_IF_ERROR(refuse(std::move(message)));
      continue;
    }
    if (!known) {
      std::string message = "Unknown search parameter '";
      message.append(name).append("' for resource type ").append(type).append(" (supported: ");
      message.append(kSupported);
      for (const auto& [filter_name, filter_type] : embedded::FilterParams(type))
        message.append(", ").append(filter_name);
      message.append(").");
      IOMT_RETURN_IF_ERROR(refuse(std::move(message)));
      continue;
    }
    // FHIR: a parameter with an empty value is ignored.
    if (value.empty()) continue;
    if (name == "_count") {
      IOMT_ASSIGN_OR_RETURN(page.count, ParseCount(name, value));
      page.count = std::min(page.count, options.max_count);
      continue;
    }
    if (name == "_cursor") {
      cursor = value;
      continue;
    }
    if (name == "_offset") {
      IOMT_ASSIGN_OR_RETURN(page.offset, ParseCount(name, value));
      // With a cursor the offset only numbers the page (for the previous and
      // last links): keyset paging goes as deep as it likes.
      if (page.offset > options.max_offset && url::QueryValue(query, "_cursor").empty()) {
        return OutOfRange("_offset " + std::to_string(page.offset) + " is deeper than this server pages (" +
                          std::to_string(options.max_offset) + "): narrow the search (e.g. by date or _lastUpdated)");
      }
      continue;
    }
    if (name == "_include" || name == "_revinclude") {
      // Checked (and, if lenient, dropped) before the search runs.
      std::optional<IncludeRef> ref = ParseInclude(value);
      const bool reverse = name == "_revinclude";
      std::string why;
      if (!ref) {
        why = "not of the form Type:parameter[:TargetType]";
      } else if (FindInclude(*ref) == nullptr) {
        why = "not one this server follows (" + std::string(kIncludes) + ")";
      } else if (!reverse && ref->source != type) {
        why = "it starts from " + ref->source + ", not from the searched type " + std::string(type);
      }
      if (!why.empty()) {
        std::string message = name;
        message.append(" '").append(value).append("': ").append(why).append(".");
        IOMT_RETURN_IF_ERROR(refuse(std::move(message)));
        continue;
      }
      (reverse ? revincludes : includes).push_back(value);
      kept.emplace_back(piece.text);
      continue;
    }
    kept.emplace_back(piece.text);
    if (name == "_sort") {
      sort = value;
    } else if (name == "_summary") {
      IOMT_RETURN_IF_ERROR(ParseSummary(type, value, &shape.summary));
    } else if (name == "_total") {
      if (value != "none" && value != "estimate" && value != "accurate")
        return Invalid("_total: '" + value + "' is none of none, estimate, accurate.");
      page.total_known = value != "none";
    } else if (name == "_elements") {
      for (std::string& e : SplitEscaped(value, ',')) {
        if (!IsElementName(e)) return Invalid("_elements: '" + e + "' is not an element name.");
        shape.elements.push_back(std::move(e));
      }
    } else {
      std::vector<std::string> values = SplitEscaped(value, ',');
      q.probe = selective && (driven || !is_selective(name));
      driven = driven || (selective && is_selective(name));
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
        // "+" keeps SQLite off the date index when a selective token
        // (a patient, a device, an identifier, an id) is asked for too: the
        // index bounds only one end of the range, so for "after T" it would
        // walk every resource before T (seconds over a million), where the
        // token's rows are a few hundred.
        if (selective) {
          IOMT_RETURN_IF_ERROR(q.Date(name, "+r.dlo", "+r.dhi", values));
        } else {
          IOMT_RETURN_IF_ERROR(q.Date(name, "r.dlo", "r.dhi", values));
        }
      } else if (name == "_lastUpdated") {
        IOMT_RETURN_IF_ERROR(q.Date(name, "r.updated", "r.updated", values));
      }
    }
  }
  if (shape.summary != Summary::kFalse && shape.summary != Summary::kCount && !shape.elements.empty())
    return Invalid("_summary and _elements both say what to leave out: use one of them.");
  page.count_only = shape.summary == Summary::kCount;
  if (page.count_only) page.total_known = true;
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
  if (search.count) page.count = *search.count;
  for (std::size_t i = 0; i < kept.size(); ++i)
    page.query.append(i == 0 ? "" : "&").append(kept[i]);
  // Keyset paging: a search whose order is one key (and rid, which breaks
  // ties) continues after the cursor's (key, rid). The key of a resource:
  // its rid alone (no _sort), dlo (date; NULL for none, first ascending),
  // updated, or id.
  std::vector<std::string> sort_keys;
  for (const std::string& key : SplitEscaped(sort, ','))
    if (!key.empty()) sort_keys.push_back(key);
  const bool keyset = sort_keys.size() <= 1 && filters.empty();
  page.keyset = keyset;
  std::string key_column = "NULL";
  bool key_desc = false;
  if (!sort_keys.empty()) {
    key_desc = sort_keys[0][0] == '-';
    const std::string_view k = std::string_view{sort_keys[0]}.substr(key_desc ? 1 : 0);
    key_column = k == "date" ? "r.dlo" : k == "_id" ? "r.id" : "r.updated";
  }
  // Every key's column after the first, for positions (SplitStore merges by
  // all of them), and which keys are text (an id; the others are numbers).
  std::string more_columns;
  std::vector<bool> text_key;
  for (std::size_t i = 0; i < sort_keys.size(); ++i) {
    const std::string_view k = std::string_view{sort_keys[i]}.substr(sort_keys[i][0] == '-' ? 1 : 0);
    text_key.push_back(k == "_id");
    if (i > 0) more_columns.append(k == "date" ? ", r.dlo" : k == "_id" ? ", r.id" : ", r.updated");
  }
  std::string after_cursor;  // the condition, with its binds
  std::vector<Bound> cursor_binds;
  if (!cursor.empty()) {
    if (!keyset) {
      return Invalid(
          "_cursor pages a search sorted by one key at most, without parameters evaluated on JSON; this one pages "
          "by _offset.");
    }
    // "rid" or "rid~key"; the key "~" alone is NULL (a date-sorted
    // resource without a date).
    const std::size_t tilde = cursor.find('~');
    std::int64_t rid = 0;
    auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + std::min(tilde, cursor.size()), rid);
    if (ec != std::errc() || end != cursor.data() + std::min(tilde, cursor.size()) ||
        (tilde == std::string::npos) != sort_keys.empty()) {
      return Invalid("_cursor '" + cursor + "' is not one this search gave (take the next link as it is).");
    }
    if (sort_keys.empty()) {
      after_cursor = "r.rid>?";
      cursor_binds.emplace_back(rid);
    } else {
      const std::string key = cursor.substr(tilde + 1);
      const bool null_key = key.empty() && key_column == "r.dlo";
      Bound key_bound(std::int64_t{0});
      if (key_column == "r.id") {
        if (!IsValidId(key))
          return Invalid("_cursor '" + cursor + "' is not one this search gave (take the next link as it is).");
        key_bound = Bound(key);
      } else if (!null_key) {
        std::int64_t n = 0;
        auto [kend, kec] = std::from_chars(key.data(), key.data() + key.size(), n);
        if (kec != std::errc() || kend != key.data() + key.size())
          return Invalid("_cursor '" + cursor + "' is not one this search gave (take the next link as it is).");
        key_bound = Bound(n);
      }
      const std::string col = (selective ? "+" : "") + key_column;
      if (null_key) {
        // NULLs come first ascending, last descending.
        after_cursor = "((" + col + " IS NULL AND r.rid>?)" + (key_desc ? ")" : " OR " + col + " IS NOT NULL)");
        cursor_binds.emplace_back(rid);
      } else {
        after_cursor = "(" + col + (key_desc ? "<?" : ">?") + " OR (" + col + "=? AND r.rid>?)" +
                       (key_desc && key_column == "r.dlo" ? " OR " + col + " IS NULL)" : ")");
        cursor_binds.push_back(key_bound);
        cursor_binds.push_back(key_bound);
        cursor_binds.emplace_back(rid);
      }
    }
    page.cursor = cursor;
  }
  if (tid == 0) return page;  // no resource of this type was ever written

  // With a selective token, the type's index is no better than the date's
  // (both would walk the type): the token's rows drive the search.
  const std::string where = std::string("FROM resources r WHERE ") + (selective ? "+r.tid=" : "r.tid=") +
                            std::to_string(tid) + " AND r.deleted=0" + q.where;
  ReadScope read(this);  // the count, the page and its includes see one state of the store
  auto last_offset = [&] {
    if (page.count == 0 || page.total == 0) return;
    const std::size_t last = (static_cast<std::size_t>(page.total) - 1) / page.count * page.count;
    if (last <= options.max_offset) page.last_offset = last;
  };
  // A row's place in the search's order, columns 3 and 4 being its rid and
  // the sort's key (5, ... its other keys): "rid" or "rid~key", what a
  // cursor after it says ("rid~key~key..." with several keys, which no
  // cursor takes). An empty key is NULL; no key holds a '~'.
  auto position_of = [&](const sqlite::Stmt& s) {
    std::string position = std::to_string(s.Int(3));
    for (std::size_t i = 0; i < sort_keys.size(); ++i) {
      const int col = 4 + static_cast<int>(i);
      position.push_back('~');
      if (!s.IsNull(col)) position.append(text_key[i] ? std::string(s.Text(col)) : std::to_string(s.Int(col)));
    }
    return position;
  };
  // Only indexed parameters: SQL counts and pages.
  auto plain = [&]() -> Status {
    if (page.total_known) {
      IOMT_ASSIGN_OR_RETURN(sqlite::Stmt * s, CachedStatement("SELECT count(*) " + where));
      IOMT_RETURN_IF_ERROR(Bind(s, q.binds));
      Result<bool> step = s->Step();
      if (step.ok() && *step) page.total = s->Int(0);
      s->Reset();
      if (!step.ok()) return step.status();
      last_offset();
      if (page.count_only || page.count == 0 ||
          (cursor.empty() && page.offset >= static_cast<std::size_t>(page.total))) {
        return Status::Ok();
      }
    } else if (page.count == 0) {
      return Status::Ok();
    }
    // One row more than the page says whether there is a next (the total
    // may have changed since a cursor was given).
    const std::size_t limit = page.count + 1;
    std::vector<Bound> binds = q.binds;
    binds.insert(binds.end(), cursor_binds.begin(), cursor_binds.end());
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt * s,
                          CachedStatement("SELECT r.id, r.version, r.json, r.rid, " + key_column + more_columns + " " +
                                          where + (after_cursor.empty() ? "" : " AND " + after_cursor) + " ORDER BY " +
                                          q.order + " LIMIT ? OFFSET ?"));
    IOMT_RETURN_IF_ERROR(Bind(s, binds));
    s->Bind(static_cast<int>(binds.size()) + 1, static_cast<std::int64_t>(limit));
    s->Bind(static_cast<int>(binds.size()) + 2, static_cast<std::int64_t>(cursor.empty() ? page.offset : 0));
    std::string last_key;  // the cursor after the last resource kept
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool has_row, s->NextRow());
      if (!has_row) break;
      if (page.resources.size() == page.count) {
        page.next_offset = page.offset + page.count;
        if (keyset) page.next_cursor = std::move(last_key);
        break;
      }
      Result<std::string_view> text = StoredJson(*s, 2);
      if (!text.ok()) {
        s->Reset();
        return text.status();
      }
      page.resources.push_back(Resource{std::string(s->Text(0)), std::to_string(s->Int(1)), std::string(*text)});
      last_key = position_of(*s);
      if (search.positions) page.positions.push_back(last_key);
    }
    s->Reset();
    return Status::Ok();
  };
  // Unindexed parameters too: SQL gives the candidates in order, each is
  // evaluated on its JSON, and the page (and the total) counted here.
  auto filtered = [&]() -> Status {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt * s, CachedStatement("SELECT r.id, r.version, r.json, r.rid, " + key_column +
                                                            more_columns + " " + where + " ORDER BY " + q.order));
    IOMT_RETURN_IF_ERROR(Bind(s, q.binds));
    json::Document parsed;
    std::size_t read_rows = 0, matched = 0;
    Status st;
    while (true) {
      Result<bool> has_row = s->NextRow();
      if (!has_row.ok()) {
        st = has_row.status();
        break;
      }
      if (!*has_row) break;
      if (++read_rows > options.max_filter_rows) {
        st = OutOfRange("The search reads more than " + std::to_string(options.max_filter_rows) +
                        " resources to evaluate its parameters that have no index: narrow it with patient, "
                        "subject, code, date, identifier or _lastUpdated");
        break;
      }
      Result<std::string_view> text = StoredJson(*s, 2);
      if (!text.ok()) {
        st = text.status();
        break;
      }
      if (!parsed.Parse(*text).ok()) continue;
      const bool match =
          std::all_of(filters.begin(), filters.end(), [&](const auto& f) { return f->Matches(parsed.root()); });
      if (!match) continue;
      ++matched;
      if (page.count_only || matched <= page.offset) continue;
      if (page.resources.size() < page.count) {
        page.resources.push_back(Resource{std::string(s->Text(0)), std::to_string(s->Int(1)), std::string(*text)});
        if (search.positions) page.positions.push_back(position_of(*s));
      } else if (!page.total_known) {
        page.next_offset = page.offset + page.count;  // one more match: there is a next page
        break;
      }
    }
    s->Reset();
    IOMT_RETURN_IF_ERROR(st);
    if (page.total_known) {
      page.total = static_cast<std::int64_t>(matched);
      last_offset();
      if (!page.count_only && page.offset + page.resources.size() < matched)
        page.next_offset = page.offset + page.resources.size();
    }
    return Status::Ok();
  };
  IOMT_RETURN_IF_ERROR(filters.empty() ? plain() : filtered());
  if (search.whole_matches) {
    // The caller merges pages first, then includes and shapes.
    page.includes = std::move(includes);
    page.revincludes = std::move(revincludes);
    if (!shape.whole()) {
      page.shape = [type = std::string(type), shape](std::string_view json) {
        return ShapeResource(type, json, shape);
      };
    }
    return page;
  }
  // The includes follow the references as stored, before the matches are
  // cut down.
  IOMT_RETURN_IF_ERROR(Include(type, includes, /*reverse=*/false, &page));
  IOMT_RETURN_IF_ERROR(Include(type, revincludes, /*reverse=*/true, &page));
  if (!shape.whole()) {
    for (Resource& r : page.resources)
      r.json = ShapeResource(type, r.json, shape);
  }
  return page;
}

Status EmbeddedStore::Impl::Include(std::string_view type, const std::vector<std::string>& includes, bool reverse,
                                    SearchPage* page) {
  return IncludeInto(
      type, includes, reverse, options.max_count,
      [this](std::string_view t, std::string_view id) { return ReadCurrent(t, id); },
      [this](std::string_view t, const std::string& q) { return Search(t, q); }, page);
}

Status IncludeInto(std::string_view type, const std::vector<std::string>& includes, bool reverse, std::size_t cap,
                   const std::function<Result<Resource>(std::string_view type, std::string_view id)>& read_current,
                   const std::function<Result<SearchPage>(std::string_view type, const std::string& query)>& search,
                   SearchPage* page) {
  if (includes.empty() || page->resources.empty()) return Status::Ok();
  // Each resource once in the answer: the matches, then what was included.
  std::set<std::string> seen;
  for (const Resource& r : page->resources)
    seen.insert(std::string(type) + "/" + r.id);
  bool cut = false;
  auto add = [&](std::string_view t, Resource r) {
    if (page->included.size() >= cap) {
      cut = true;
      return;
    }
    if (seen.insert(std::string(t) + "/" + r.id).second) page->included.emplace_back(std::string(t), std::move(r));
  };
  json::Document parsed;
  for (const std::string& value : includes) {
    const IncludeRef ref = *ParseInclude(value);
    const IncludeRule& rule = *FindInclude(ref);
    const std::string_view target = ref.target.empty() ? rule.target : std::string_view{ref.target};
    if (!reverse) {
      // The references of each match, each resource read once.
      for (const Resource& r : page->resources) {
        json::Value element, reference;
        if (!parsed.Parse(r.json).ok() || !parsed.root().Find(rule.element, &element) || !element.is_object() ||
            !element.Find("reference", &reference) || !reference.is_string()) {
          continue;
        }
        std::string_view ref_type, ref_id;
        if (!SplitReference(reference.string_value(), &ref_type, &ref_id) || ref_type.empty()) continue;
        if (!target.empty() && ref_type != target) continue;
        if (!IsValidType(ref_type) || !IsValidId(ref_id)) continue;
        if (seen.contains(std::string(ref_type) + "/" + std::string(ref_id))) continue;
        Result<Resource> read = read_current(ref_type, ref_id);
        if (read.ok()) {
          add(ref_type, std::move(read).value());
        } else if (read.status().code() != StatusCode::kNotFound) {
          return read.status();
        }
      }
      continue;
    }
    // The resources of the rule's type that refer to the matches: searched
    // a slice of matches at a time (a reference search is a UNION per value,
    // and SQLite takes at most 500 terms in one statement).
    if (!target.empty() && target != type) continue;
    constexpr std::size_t kSlice = 50;
    for (std::size_t at = 0; at < page->resources.size() && !cut; at += kSlice) {
      std::string q(rule.param);
      q.push_back('=');
      for (std::size_t k = at; k < std::min(page->resources.size(), at + kSlice); ++k)
        q.append(k > at ? "," : "").append(type).append("/").append(page->resources[k].id);
      q.append("&_total=none&_count=").append(std::to_string(cap));
      IOMT_ASSIGN_OR_RETURN(SearchPage referring, search(ref.source, q));
      if (referring.next_offset) cut = true;
      for (Resource& r : referring.resources)
        add(ref.source, std::move(r));
    }
  }
  if (cut) {
    page->warnings.push_back((reverse ? "_revinclude" : "_include") + std::string(" brought more than ") +
                             std::to_string(cap) +
                             " resources; the rest were left out (narrow the search or use smaller pages).");
  }
  return Status::Ok();
}

std::string RenderSearchBundle(std::string_view type, const SearchPage& page, std::string_view base_url) {
  auto link = [&](std::string_view relation, std::size_t offset, bool first, std::string_view cursor = {}) {
    std::string url(base_url);
    url.push_back('/');
    url.append(type).push_back('?');
    if (!page.query.empty()) url.append(page.query).push_back('&');
    url.append("_count=").append(std::to_string(page.count));
    // A cursor is digits, '~' and an id's characters: nothing to escape.
    if (!cursor.empty()) url.append("&_cursor=").append(cursor);
    url.append("&_offset=").append(std::to_string(offset));
    std::string out(first ? "" : ",");
    out.append(R"({"relation":")").append(relation).append(R"(","url":)");
    json::AppendQuoted(&out, url);
    out.push_back('}');
    return out;
  };
  std::string out = R"({"resourceType":"Bundle","type":"searchset",)";
  if (page.total_known) out.append(R"("total":)").append(std::to_string(page.total)).push_back(',');
  out.append(R"("link":[)").append(link("self", page.offset, true, page.cursor));
  // `next` by keyset when the search can (a write meanwhile shifts nothing:
  // the page continues after the last resource of this one), else by
  // offset; the others by offset: cheap to give both ways (the page after
  // the last is empty, never an error), and a resource written meanwhile
  // may shift them.
  if (!page.count_only && page.count > 0) {
    if (page.offset > 0) {
      out.append(link("first", 0, false));
      out.append(link("previous", page.offset > page.count ? page.offset - page.count : 0, false));
    }
    if (page.next_offset) out.append(link("next", *page.next_offset, false, page.next_cursor));
    if (page.last_offset && *page.last_offset != page.offset) out.append(link("last", *page.last_offset, false));
  }
  out.append("],\"entry\":[");
  bool first = true;
  auto entry = [&](std::string_view t, const Resource& r, std::string_view mode) {
    std::string full_url(base_url);
    full_url.push_back('/');
    full_url.append(t).push_back('/');
    full_url.append(r.id);
    out.append(first ? "" : ",").append(R"({"fullUrl":)");
    first = false;
    json::AppendQuoted(&out, full_url);
    out.append(R"(,"resource":)").append(r.json).append(R"(,"search":{"mode":")").append(mode).append(R"("}})");
  };
  for (const Resource& r : page.resources)
    entry(type, r, "match");
  for (const auto& [t, r] : page.included)
    entry(t, r, "include");
  if (!page.warnings.empty()) {
    out.append(first ? "" : ",").append(R"({"resource":{"resourceType":"OperationOutcome","issue":[)");
    for (std::size_t i = 0; i < page.warnings.size(); ++i) {
      out.append(i == 0 ? "" : ",").append(R"({"severity":"warning","code":"not-supported","diagnostics":)");
      json::AppendQuoted(&out, page.warnings[i]);
      out.push_back('}');
    }
    out.append(R"(]},"search":{"mode":"outcome"}})");
  }
  out.append("]}");
  return out;
}

}  // namespace iomt::store
