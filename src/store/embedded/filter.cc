#include "store/embedded/filter.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "common/url.h"
#include "store/embedded/resource_text.h"

namespace iomt::store::embedded {
namespace {

enum class Kind { kToken, kReference, kQuantity, kString, kCodeQuantity, kDate };

// Where a parameter's values are: `path` from the resource (arrays along
// the way are walked through); for kCodeQuantity, `path` leads to the
// element holding both (the resource itself when empty) and `token` and
// `quantity` are the two parts within it. `indexed`: SQL evaluates the
// parameter; only `:missing` comes here.
struct Param {
  std::string_view type;
  std::string_view name;
  Kind kind;
  std::vector<std::string_view> path;
  std::string_view token;
  std::string_view quantity;
  bool indexed = false;
};

const std::vector<Param>& Params() {
  static const std::vector<Param> kParams = {
      {"Observation", "status", Kind::kToken, {"status"}},
      {"Observation", "category", Kind::kToken, {"category"}},
      {"Observation", "encounter", Kind::kReference, {"encounter"}},
      {"Observation", "value-quantity", Kind::kQuantity, {"valueQuantity"}},
      {"Observation", "component-code", Kind::kToken, {"component", "code"}},
      {"Observation", "component-value-quantity", Kind::kQuantity, {"component", "valueQuantity"}},
      {"Observation", "code-value-quantity", Kind::kCodeQuantity, {}, "code", "valueQuantity"},
      {"Observation", "component-code-value-quantity", Kind::kCodeQuantity, {"component"}, "code", "valueQuantity"},
      {"Observation", "identifier", Kind::kToken, {"identifier"}, {}, {}, true},
      {"Observation", "code", Kind::kToken, {"code"}, {}, {}, true},
      {"Observation", "subject", Kind::kReference, {"subject"}, {}, {}, true},
      {"Observation", "patient", Kind::kReference, {"subject"}, {}, {}, true},
      {"Observation", "device", Kind::kReference, {"device"}, {}, {}, true},
      {"Observation", "date", Kind::kDate, {"effective[x]"}, {}, {}, true},
      {"Patient", "name", Kind::kString, {"name"}},
      {"Patient", "family", Kind::kString, {"name", "family"}},
      {"Patient", "given", Kind::kString, {"name", "given"}},
      {"Patient", "gender", Kind::kToken, {"gender"}},
      {"Patient", "identifier", Kind::kToken, {"identifier"}, {}, {}, true},
      {"Device", "device-name", Kind::kString, {"deviceName", "name"}},
      {"Device", "manufacturer", Kind::kString, {"manufacturer"}},
      {"Device", "model", Kind::kString, {"modelNumber"}},
      {"Device", "status", Kind::kToken, {"status"}},
      {"Device", "identifier", Kind::kToken, {"identifier"}, {}, {}, true},
      {"Device", "patient", Kind::kReference, {"patient"}, {}, {}, true},
      {"Encounter", "status", Kind::kToken, {"status"}},
      {"Encounter", "identifier", Kind::kToken, {"identifier"}, {}, {}, true},
      {"Encounter", "subject", Kind::kReference, {"subject"}, {}, {}, true},
      {"Encounter", "patient", Kind::kReference, {"subject"}, {}, {}, true},
  };
  return kParams;
}

const Param* FindParam(std::string_view type, std::string_view name) {
  for (const Param& p : Params())
    if (p.type == type && p.name == name) return &p;
  return nullptr;
}

// Appends to `out` what `step` names in `v` (arrays walked through). A
// choice "name[x]" is every member "nameType".
void Step(const json::Value& v, std::string_view step, std::vector<json::Value>* out) {
  if (v.is_array()) {
    for (json::Value e : v.elements())
      Step(e, step, out);
    return;
  }
  if (!v.is_object()) return;
  auto add = [&](const json::Value& found) {
    if (found.is_array()) {
      for (json::Value e : found.elements())
        out->push_back(e);
    } else {
      out->push_back(found);
    }
  };
  if (step.ends_with("[x]")) {
    step.remove_suffix(3);
    for (const json::Member m : v.members()) {
      if (m.key.size() > step.size() && m.key.starts_with(step) &&
          std::isupper(static_cast<unsigned char>(m.key[step.size()])) != 0)
        add(m.value);
    }
    return;
  }
  json::Value found;
  if (v.Find(step, &found)) add(found);
}

std::vector<json::Value> Walk(const json::Value& root, const std::vector<std::string_view>& path) {
  std::vector<json::Value> at{root};
  for (std::string_view step : path) {
    std::vector<json::Value> next;
    for (const json::Value& v : at)
      Step(v, step, &next);
    at = std::move(next);
  }
  return at;
}

std::string_view StringOf(const json::Value& v, std::string_view key) {
  json::Value m;
  return v.is_object() && v.Find(key, &m) && m.is_string() ? m.string_value() : std::string_view();
}

// Splits on the first '|' not escaped with '\'.
std::pair<std::string, std::optional<std::string>> SplitBar(std::string_view s) {
  std::string first;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      first.push_back(s[++i]);
    } else if (s[i] == '|') {
      return {first, std::string(s.substr(i + 1))};
    } else {
      first.push_back(s[i]);
    }
  }
  return {first, std::nullopt};
}

// The values of `param=a,b` (',' not escaped).
std::vector<std::string> Alternatives(std::string_view value) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size() && value[i + 1] == ',') {
      out.back().push_back(',');
      ++i;
    } else if (value[i] == ',') {
      out.emplace_back();
    } else {
      out.back().push_back(value[i]);
    }
  }
  return out;
}

// A token: "code", "system|code", "|code" (no system), "system|".
struct TokenValue {
  std::optional<std::string> system;  // absent: any system
  std::string code;                   // empty with a system: any code of it
};

TokenValue ParseToken(std::string_view s) {
  auto [first, rest] = SplitBar(s);
  if (!rest) return {std::nullopt, first};
  return {first, *rest};
}

// Whether a coded element (a code string, Coding, CodeableConcept or
// Identifier) matches.
bool TokenMatches(const json::Value& v, const TokenValue& t) {
  if (v.is_string()) return t.code.empty() ? t.system.has_value() : v.string_value() == t.code;
  if (!v.is_object()) return false;
  json::Value codings;
  if (v.Find("coding", &codings)) {
    if (!codings.is_array()) return false;
    return std::any_of(codings.elements().begin(), codings.elements().end(),
                       [&](const json::Value& c) { return TokenMatches(c, t); });
  }
  const std::string_view code = v.Has("code") ? StringOf(v, "code") : StringOf(v, "value");
  const std::string_view system = StringOf(v, "system");
  if (t.system) {
    if (t.system->empty()) {
      if (v.Has("system")) return false;
    } else if (system != *t.system) {
      return false;
    }
  }
  return t.code.empty() || code == t.code;  // "system|": any code of the system
}

// A quantity: "[prefix]number[|system|code]".
struct QuantityValue {
  std::string prefix = "eq";
  double value = 0;
  double lo = 0, hi = 0;  // the value's implicit range (its significant digits)
  std::optional<std::string> system;
  std::optional<std::string> code;
};

Result<QuantityValue> ParseQuantity(std::string_view name, std::string_view s) {
  QuantityValue q;
  auto [number, units] = SplitBar(s);
  std::string_view n = number;
  if (n.size() >= 2 && std::isalpha(static_cast<unsigned char>(n[0])) != 0) {
    q.prefix = std::string(n.substr(0, 2));
    n.remove_prefix(2);
  }
  static const std::vector<std::string_view> kPrefixes = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"};
  if (std::find(kPrefixes.begin(), kPrefixes.end(), q.prefix) == kPrefixes.end()) {
    return InvalidArgument("Search parameter '" + std::string(name) + "': the prefix '" + q.prefix +
                           "' is not one of eq, ne, gt, lt, ge, le, sa, eb, ap.");
  }
  auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), q.value);
  if (n.empty() || ec != std::errc() || end != n.data() + n.size() || !std::isfinite(q.value)) {
    return InvalidArgument("Search parameter '" + std::string(name) + "': not a number: '" + std::string(n) + "'.");
  }
  // 5.4 stands for [5.35, 5.45): half a unit of its last digit either way.
  const std::size_t dot = n.find('.');
  const std::size_t exp = n.find_first_of("eE");
  const std::size_t mantissa_end = exp == std::string_view::npos ? n.size() : exp;
  int decimals = dot == std::string_view::npos || dot > mantissa_end ? 0 : static_cast<int>(mantissa_end - dot - 1);
  int exponent = 0;
  if (exp != std::string_view::npos) std::from_chars(n.data() + exp + 1, n.data() + n.size(), exponent);
  const double half = 0.5 * std::pow(10.0, exponent - decimals);
  q.lo = q.value - half;
  q.hi = q.value + half;
  if (units) {
    auto [system, code] = SplitBar(*units);
    if (!code) {
      return InvalidArgument("Search parameter '" + std::string(name) +
                             "': units are given as number|system|code (or number||code).");
    }
    if (!system.empty()) q.system = system;
    if (!code->empty()) q.code = *code;
  }
  return q;
}

bool QuantityMatches(const json::Value& v, const QuantityValue& q) {
  json::Value number;
  if (!v.is_object() || !v.Find("value", &number) || !number.is_number()) return false;
  if (q.system && StringOf(v, "system") != *q.system) return false;
  if (q.code) {
    // Without a system the code may be the quantity's code or its unit.
    const bool code = StringOf(v, "code") == *q.code;
    if (!code && (q.system || StringOf(v, "unit") != *q.code)) return false;
  }
  const double x = number.AsDouble();
  if (q.prefix == "eq") return x >= q.lo && x < q.hi;
  if (q.prefix == "ne") return x < q.lo || x >= q.hi;
  if (q.prefix == "gt" || q.prefix == "sa") return x > q.value;
  if (q.prefix == "lt" || q.prefix == "eb") return x < q.value;
  if (q.prefix == "ge") return x >= q.value;
  if (q.prefix == "le") return x <= q.value;
  // ap: within 10 % of the value.
  const double margin = std::fabs(q.value) * 0.1;
  return x >= q.value - margin && x <= q.value + margin;
}

bool ReferenceMatches(const json::Value& v, std::string_view wanted) {
  std::string_view have_type, have_id, want_type, want_id;
  if (!SplitReference(StringOf(v, "reference"), &have_type, &have_id)) return false;
  if (!SplitReference(wanted, &want_type, &want_id)) return false;
  return have_id == want_id && (want_type.empty() || have_type == want_type);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The strings a string parameter compares: the element, or a HumanName's
// parts.
void Strings(const json::Value& v, std::vector<std::string_view>* out) {
  if (v.is_string()) {
    out->push_back(v.string_value());
    return;
  }
  if (!v.is_object()) return;
  for (std::string_view part : {"text", "family", "given", "prefix", "suffix"}) {
    json::Value m;
    if (!v.Find(part, &m)) continue;
    if (m.is_string()) out->push_back(m.string_value());
    if (m.is_array()) {
      for (json::Value e : m.elements())
        if (e.is_string()) out->push_back(e.string_value());
    }
  }
}

class ParamFilter final : public Filter {
 public:
  ParamFilter(const Param& param, std::string modifier, std::vector<std::string> values)
      : param_(param), modifier_(std::move(modifier)), values_(std::move(values)) {}

  Status Prepare() {
    for (const std::string& v : values_) {
      if (param_.kind == Kind::kToken) tokens_.push_back(ParseToken(v));
      if (param_.kind == Kind::kQuantity) {
        IOMT_ASSIGN_OR_RETURN(QuantityValue q, ParseQuantity(param_.name, v));
        quantities_.push_back(std::move(q));
      }
      if (param_.kind == Kind::kCodeQuantity) {
        const std::size_t dollar = v.find('$');
        if (dollar == std::string::npos) {
          return InvalidArgument("Search parameter '" + std::string(param_.name) +
                                 "': a composite value is code$quantity (e.g. http://loinc.org|8867-4$gt120).");
        }
        tokens_.push_back(ParseToken(v.substr(0, dollar)));
        IOMT_ASSIGN_OR_RETURN(QuantityValue q, ParseQuantity(param_.name, v.substr(dollar + 1)));
        quantities_.push_back(std::move(q));
      }
      if (param_.kind == Kind::kString) lowered_.push_back(Lower(v));
    }
    return Status::Ok();
  }

  [[nodiscard]] bool Matches(const json::Value& resource) const override {
    if (modifier_ == "missing") {
      const bool missing = Walk(resource, MissingPath()).empty();
      return missing == (values_.front() == "true");
    }
    const bool any = AnyValueMatches(resource);
    return modifier_ == "not" ? !any : any;
  }

 private:
  // :missing asks whether the element is there at all.
  [[nodiscard]] std::vector<std::string_view> MissingPath() const {
    std::vector<std::string_view> path = param_.path;
    if (param_.kind == Kind::kCodeQuantity) path.push_back(param_.quantity);
    return path;
  }

  [[nodiscard]] bool AnyValueMatches(const json::Value& resource) const {
    if (param_.kind == Kind::kCodeQuantity) {
      // The code and the quantity of the same element (the Observation, or
      // one component).
      for (const json::Value& holder : Walk(resource, param_.path)) {
        std::vector<json::Value> codes, quantities;
        Step(holder, param_.token, &codes);
        Step(holder, param_.quantity, &quantities);
        for (std::size_t i = 0; i < tokens_.size(); ++i) {
          const bool code = std::any_of(codes.begin(), codes.end(),
                                        [&](const json::Value& c) { return TokenMatches(c, tokens_[i]); });
          if (code && std::any_of(quantities.begin(), quantities.end(),
                                  [&](const json::Value& q) { return QuantityMatches(q, quantities_[i]); })) {
            return true;
          }
        }
      }
      return false;
    }
    for (const json::Value& v : Walk(resource, param_.path)) {
      switch (param_.kind) {
        case Kind::kToken:
          for (const TokenValue& t : tokens_)
            if (TokenMatches(v, t)) return true;
          break;
        case Kind::kQuantity:
          for (const QuantityValue& q : quantities_)
            if (QuantityMatches(v, q)) return true;
          break;
        case Kind::kReference:
          for (const std::string& r : values_)
            if (ReferenceMatches(v, r)) return true;
          break;
        case Kind::kString: {
          std::vector<std::string_view> strings;
          Strings(v, &strings);
          for (std::string_view s : strings) {
            for (std::size_t i = 0; i < values_.size(); ++i) {
              if (modifier_ == "exact" ? s == values_[i] : StringMatches(s, lowered_[i])) return true;
            }
          }
          break;
        }
        case Kind::kCodeQuantity:
        case Kind::kDate: break;
      }
    }
    return false;
  }

  // FHIR's default string match: case-insensitive, from the start;
  // :contains anywhere. (Accents are compared as written.)
  [[nodiscard]] bool StringMatches(std::string_view s, const std::string& lowered) const {
    const std::string have = Lower(s);
    return modifier_ == "contains" ? have.find(lowered) != std::string::npos : have.starts_with(lowered);
  }

  const Param& param_;
  std::string modifier_;
  std::vector<std::string> values_;
  std::vector<TokenValue> tokens_;
  std::vector<QuantityValue> quantities_;
  std::vector<std::string> lowered_;
};

std::string_view TypeName(Kind kind) {
  switch (kind) {
    case Kind::kToken: return "token";
    case Kind::kReference: return "reference";
    case Kind::kQuantity: return "quantity";
    case Kind::kString: return "string";
    case Kind::kCodeQuantity: return "composite";
    case Kind::kDate: return "date";
  }
  return "";
}

// The filter of `param` (indexed or not) with `modifier` and `value`.
Result<std::unique_ptr<Filter>> MakeParamFilter(const Param& p, std::string_view name, std::string_view modifier,
                                                std::string_view value) {
  const Param* param = &p;
  const std::string where = "Search parameter '" + std::string(name) + ":" + std::string(modifier) + "'";
  if (modifier == "missing") {
    if (value != "true" && value != "false")
      return InvalidArgument(where + ": true or false, not '" + std::string(value) + "'.");
  } else if (!modifier.empty()) {
    const bool fits = (modifier == "not" && param->kind == Kind::kToken) ||
                      ((modifier == "exact" || modifier == "contains") && param->kind == Kind::kString);
    if (!fits) {
      return InvalidArgument(where + ": the modifier is not supported on a " + std::string(TypeName(param->kind)) +
                             " parameter (:missing; :not on tokens; :exact and :contains on strings).");
    }
  }
  auto filter = std::make_unique<ParamFilter>(
      *param, std::string(modifier),
      modifier == "missing" ? std::vector<std::string>{std::string(value)} : Alternatives(value));
  IOMT_RETURN_IF_ERROR(filter->Prepare());
  return std::unique_ptr<Filter>(std::move(filter));
}

}  // namespace

Result<std::optional<std::unique_ptr<Filter>>> MakeFilter(std::string_view type, std::string_view name,
                                                          std::string_view modifier, std::string_view value) {
  const Param* param = FindParam(type, name);
  if (param == nullptr || (param->indexed && modifier != "missing")) return std::optional<std::unique_ptr<Filter>>();
  IOMT_ASSIGN_OR_RETURN(std::unique_ptr<Filter> filter, MakeParamFilter(*param, name, modifier, value));
  return std::optional<std::unique_ptr<Filter>>(std::move(filter));
}

namespace {

// `_id`: the resource's id is one of the values.
class IdFilter final : public Filter {
 public:
  explicit IdFilter(std::vector<std::string> ids) : ids_(std::move(ids)) {}
  [[nodiscard]] bool Matches(const json::Value& resource) const override {
    const std::string_view id = StringOf(resource, "id");
    return std::find(ids_.begin(), ids_.end(), id) != ids_.end();
  }

 private:
  std::vector<std::string> ids_;
};

// A date condition (`date`: Observation.effective[x]; `_lastUpdated`:
// meta.lastUpdated), with the store's SQL semantics (search.cc): the
// resource's time is a range [lo, hi] and each prefix compares it with the
// value's range.
class DateFilter final : public Filter {
 public:
  struct Condition {
    std::string prefix;
    std::int64_t lo = 0, hi = 0;
  };
  DateFilter(bool last_updated, std::vector<Condition> any) : last_updated_(last_updated), any_(std::move(any)) {}

  [[nodiscard]] bool Matches(const json::Value& resource) const override {
    std::int64_t lo = 0, hi = 0;
    if (last_updated_) {
      json::Value meta;
      if (!resource.Find("meta", &meta) || !ParseDateRange(StringOf(meta, "lastUpdated"), &lo, &hi)) return false;
    } else {
      IndexRows rows;
      ExtractIndex(resource, &rows);
      if (!rows.date_lo) return false;
      lo = *rows.date_lo;
      hi = *rows.date_hi;
    }
    return std::any_of(any_.begin(), any_.end(), [&](const Condition& c) {
      if (c.prefix == "eq") return lo >= c.lo && hi <= c.hi;
      if (c.prefix == "ne") return !(lo >= c.lo && hi <= c.hi);
      if (c.prefix == "ge") return hi >= c.lo;
      if (c.prefix == "gt") return hi > c.hi;
      if (c.prefix == "le") return lo <= c.hi;
      return lo < c.lo;  // lt
    });
  }

 private:
  bool last_updated_;
  std::vector<Condition> any_;
};

Result<std::unique_ptr<Filter>> MakeDateFilter(std::string_view name, std::string_view value) {
  std::vector<DateFilter::Condition> any;
  for (const std::string& v : Alternatives(value)) {
    std::string_view text = v;
    DateFilter::Condition c{"eq"};
    if (text.size() >= 2 && text[0] >= 'a' && text[0] <= 'z') {
      c.prefix = std::string(text.substr(0, 2));
      text.remove_prefix(2);
    }
    static const std::vector<std::string_view> kPrefixes = {"eq", "ne", "gt", "lt", "ge", "le"};
    if (std::find(kPrefixes.begin(), kPrefixes.end(), c.prefix) == kPrefixes.end()) {
      return InvalidArgument("Search parameter '" + std::string(name) + "': the prefix '" + c.prefix +
                             "' is not supported (eq, ne, gt, lt, ge, le).");
    }
    if (!ParseDateRange(text, &c.lo, &c.hi))
      return InvalidArgument("Search parameter '" + std::string(name) + "': not a date: '" + std::string(text) + "'.");
    any.push_back(std::move(c));
  }
  return std::unique_ptr<Filter>(std::make_unique<DateFilter>(name == "_lastUpdated", std::move(any)));
}

// Every condition holds.
class AllFilter final : public Filter {
 public:
  explicit AllFilter(std::vector<std::unique_ptr<Filter>> all) : all_(std::move(all)) {}
  [[nodiscard]] bool Matches(const json::Value& resource) const override {
    return std::all_of(all_.begin(), all_.end(), [&](const auto& f) { return f->Matches(resource); });
  }

 private:
  std::vector<std::unique_ptr<Filter>> all_;
};

}  // namespace

Result<std::unique_ptr<Filter>> MakeCriteria(std::string_view type, std::string_view query) {
  std::vector<std::unique_ptr<Filter>> all;
  for (const url::QueryPiece& piece : url::SplitQuery(query)) {
    std::string name = url::PercentDecode(piece.name);
    std::string value = url::PercentDecode(piece.value);
    if (value.empty()) continue;  // FHIR: a parameter with an empty value is ignored
    std::string modifier;
    if (std::size_t colon = name.find(':'); colon != std::string::npos) {
      modifier = name.substr(colon + 1);
      name.resize(colon);
    }
    if (name == "_id" || name == "_lastUpdated") {
      if (!modifier.empty()) {
        std::string message = "Search parameter '";
        message.append(name).append(":").append(modifier).append("': no modifier is supported here.");
        return InvalidArgument(std::move(message));
      }
      if (name == "_id") {
        all.push_back(std::make_unique<IdFilter>(Alternatives(value)));
      } else {
        IOMT_ASSIGN_OR_RETURN(std::unique_ptr<Filter> f, MakeDateFilter(name, value));
        all.push_back(std::move(f));
      }
      continue;
    }
    const Param* param = FindParam(type, name);
    if (param == nullptr) {
      std::string message = "'";
      message.append(name).append("' is not a search parameter of ").append(type);
      message.append(name.starts_with("_") ? " that criteria may use (they say which resources, not how to answer)."
                                           : ".");
      return InvalidArgument(std::move(message));
    }
    if (param->kind == Kind::kDate && modifier != "missing") {
      if (!modifier.empty()) {
        std::string message = "Search parameter '";
        message.append(name).append(":").append(modifier).append("' is not supported.");
        return InvalidArgument(std::move(message));
      }
      IOMT_ASSIGN_OR_RETURN(std::unique_ptr<Filter> f, MakeDateFilter(name, value));
      all.push_back(std::move(f));
      continue;
    }
    // A reference parameter named for its target takes a bare id as one of
    // that type (patient=p1 is Patient/p1), as the store's search does.
    if (param->kind == Kind::kReference && modifier.empty() && (name == "patient" || name == "device")) {
      std::string typed;
      for (const std::string& v : Alternatives(value)) {
        if (!typed.empty()) typed.push_back(',');
        if (v.find('/') == std::string::npos) typed.append(name == "patient" ? "Patient/" : "Device/");
        typed.append(v);
      }
      value = std::move(typed);
    }
    IOMT_ASSIGN_OR_RETURN(std::unique_ptr<Filter> f, MakeParamFilter(*param, name, modifier, value));
    all.push_back(std::move(f));
  }
  return std::unique_ptr<Filter>(std::make_unique<AllFilter>(std::move(all)));
}

bool IsFilterParam(std::string_view type, std::string_view name) {
  const Param* p = FindParam(type, name);
  return p != nullptr && !p->indexed;
}

std::vector<std::pair<std::string_view, std::string_view>> FilterParams(std::string_view type) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  for (const Param& p : Params())
    if (p.type == type && !p.indexed) out.emplace_back(p.name, TypeName(p.kind));
  return out;
}

}  // namespace iomt::store::embedded
