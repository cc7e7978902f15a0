// Evaluates compiled JSONPath the way Json.NET's filters do.
//
// Json.NET chains lazy enumerators, one per step; iomt pushes each token
// depth-first through the remaining steps instead. The order of results and
// the point at which an error is raised are the same, and nothing is
// allocated on the way (except to hold the right side of a comparison with
// a path on both sides).
#include "expr/jsonpath/jsonpath.h"

#include <cstdint>
#include <string>
#include <utility>

#include "expr/jsonpath/ast.h"
#include "expr/jsonpath/compare.h"
#include "expr/jsonpath/parser.h"

namespace iomt::jsonpath {
namespace {

using json::Member;
using json::Value;

// A token as Json.NET enumerates them. Besides values there are JProperty
// tokens (a member of an object, seen by [?()] on objects and by ..[?()]);
// they carry the member's name and value.
struct Token {
  Value value;
  std::string_view name;
  bool is_property = false;
  bool is_literal = false;  // a literal of a filter: its strings are never dates
};

// Chained recursive steps multiply their results (`$..*..*..*` on a deep
// document visits a number of tokens that grows with the power of the
// number of steps), as they do in Json.NET. A mapping must not be able to
// stall the service that way, so one evaluation may visit at most this many
// tokens.
constexpr std::uint64_t kMaxWork = std::uint64_t{1} << 24;

class Evaluator {
 public:
  explicit Evaluator(const Value& root) : root_(root) {}

  // Pushes every result of steps[i..] applied to `t` into `sink` (which
  // returns false to stop). Returns false when stopped or failed.
  template <typename Sink>
  bool Run(const std::vector<Step>& steps, std::size_t i, const Token& t, Sink& sink) {
    if (++work_ > kMaxWork) return WorkExceeded();
    if (i == steps.size()) return sink(t);
    const Step& step = steps[i];
    auto next = [&](const Token& u) { return Run(steps, i + 1, u, sink); };
    switch (step.type) {
      case StepType::kRoot: return next(Token{root_});
      case StepType::kField: {
        if (t.is_property || !t.value.is_object()) return true;
        if (step.name) {
          Value v;
          return t.value.Find(*step.name, &v) ? next(Token{v}) : true;
        }
        for (const Member& m : t.value.members()) {
          if (!next(Token{m.value})) return false;
        }
        return true;
      }
      case StepType::kFields: {
        if (t.is_property || !t.value.is_object()) return true;
        for (const std::string& name : step.names) {
          Value v;
          if (t.value.Find(name, &v) && !next(Token{v})) return false;
        }
        return true;
      }
      case StepType::kScan: {
        // ..* yields the node itself first; ..name only the named members.
        if (!step.name && !next(t)) return false;
        auto visit = [&](const Token& d) {
          if (d.is_property) return (step.name && d.name == *step.name) ? next(Token{d.value}) : true;
          return step.name ? true : next(d);
        };
        return Descend(t, visit);
      }
      case StepType::kScans: {
        auto visit = [&](const Token& d) {
          if (!d.is_property) return true;
          for (const std::string& name : step.names) {
            if (d.name == name && !next(Token{d.value})) return false;
          }
          return true;
        };
        return Descend(t, visit);
      }
      case StepType::kIndex: {
        if (t.is_property || !t.value.is_array()) return true;
        if (!step.index) {
          for (Value e : t.value.elements()) {
            if (!next(Token{e})) return false;
          }
          return true;
        }
        return Index(t.value, *step.index, next);
      }
      case StepType::kIndexes: {
        if (t.is_property || !t.value.is_array()) return true;
        for (std::int32_t index : step.indexes) {
          if (!Index(t.value, index, next)) return false;
        }
        return true;
      }
      case StepType::kSlice: {
        if (t.is_property || !t.value.is_array()) return true;
        return Slice(t.value, step, next);
      }
      case StepType::kQuery: {
        const QueryExpr& q = *step.query;
        // The children of a JProperty is its value; of an object, its JProperties.
        if (t.is_property) return Test(q, Token{t.value}, next);
        if (t.value.is_object()) {
          if (q.never_matches_property || q.only_objects) return true;
          for (const Member& m : t.value.members()) {
            if (!Test(q, Token{m.value, m.key, true}, next)) return false;
          }
          return true;
        }
        for (Value e : t.value.elements()) {
          if (q.only_objects && !e.is_object()) continue;
          if (!Test(q, Token{e}, next)) return false;
        }
        return true;
      }
      case StepType::kQueryScan: {
        // DescendantsAndSelf: the starting node is tested too.
        const QueryExpr& q = *step.query;
        if (q.only_objects) {
          // Only objects can match: walk the containers, in document order.
          auto visit = [&](const Value& object) { return Test(q, Token{object}, next); };
          return WalkObjects(t.value, visit);
        }
        if (!Test(q, t, next)) return false;
        auto visit = [&](const Token& d) { return Test(q, d, next); };
        return Descend(t, visit);
      }
    }
    return true;
  }

  [[nodiscard]] bool failed() const { return !status_.ok(); }
  Status TakeStatus() { return std::move(status_); }

 private:
  // Pre-order over the descendants of `t` (not `t` itself), with a
  // JProperty token before each object member's value, as Json.NET's
  // Descendants() enumerates them.
  template <typename F>
  bool Descend(const Token& t, F& f) {
    if (++work_ > kMaxWork) return WorkExceeded();
    if (t.is_property) {
      Token c{t.value};
      return f(c) && Descend(c, f);
    }
    if (t.value.is_object()) {
      for (const Member& m : t.value.members()) {
        Token p{m.value, m.key, true};
        if (!f(p) || !Descend(p, f)) return false;
      }
    } else if (t.value.is_array()) {
      for (Value e : t.value.elements()) {
        Token c{e};
        if (!f(c) || !Descend(c, f)) return false;
      }
    }
    return true;
  }

  // Pre-order over `v` and the objects within it (JProperty tokens, scalars
  // and arrays themselves are skipped: they are never passed to `f`).
  template <typename F>
  bool WalkObjects(const Value& v, F& f) {
    if (++work_ > kMaxWork) return WorkExceeded();
    if (v.is_object() && !f(v)) return false;
    return v.ForEachContainerChild([&](const Value& c) { return WalkObjects(c, f); });
  }

  template <typename Next>
  bool Index(const Value& array, std::int32_t index, Next& next) {
    if (index < 0) {
      // JArray's indexer throws for a negative index.
      return Fail(
          EvaluationError("Index was out of range. Must be non-negative and less than the size of the collection.")
              .WithDetail("ArgumentOutOfRangeException"));
    }
    if (static_cast<std::size_t>(index) >= array.size()) return true;
    return next(Token{array.ElementAt(static_cast<std::size_t>(index))});
  }

  // ArraySliceFilter, with its clamping rules.
  template <typename Next>
  bool Slice(const Value& array, const Step& step, Next& next) {
    const auto count = static_cast<std::int64_t>(array.size());
    const std::int64_t step_by = step.step.value_or(1);
    std::int64_t start = step.start ? *step.start : (step_by > 0 ? 0 : count - 1);
    std::int64_t stop = step.end ? *step.end : (step_by > 0 ? count : -1);
    if (step.start && *step.start < 0) start = count + start;
    if (step.end && *step.end < 0) stop = count + stop;
    if (step_by > 0) {
      start = std::max<std::int64_t>(start, 0);
      start = std::min(start, count);
    } else {
      start = std::min(start, count - 1);
    }
    stop = std::max<std::int64_t>(stop, -1);
    stop = std::min(stop, count);
    auto valid = [&](std::int64_t i) { return step_by > 0 ? i < stop : i > stop; };
    if (!valid(start)) return true;
    // Document arrays have no random access: take the elements once.
    std::vector<Value> elements(array.elements().begin(), array.elements().end());
    for (std::int64_t i = start; valid(i); i += step_by) {
      if (!next(Token{elements[static_cast<std::size_t>(i)]})) return false;
    }
    return true;
  }

  template <typename Next>
  bool Test(const QueryExpr& q, const Token& t, Next& next) {
    if (t.is_property && q.never_matches_property) return true;
    bool match = IsMatch(q, t);
    if (failed()) return false;
    return match ? next(t) : true;
  }

  // Calls f for each token an operand yields on `t`.
  template <typename F>
  bool Results(const Operand& operand, const Token& t, F& f) {
    if (!operand.is_path) return f(Token{operand.literal, {}, false, true});
    return Run(operand.path, 0, t, f);
  }

  bool IsMatch(const QueryExpr& q, const Token& t) {
    switch (q.kind) {
      case QueryExpr::Kind::kAnd:
        for (const auto& c : q.children) {
          if (!IsMatch(*c, t) || failed()) return false;
        }
        return true;
      case QueryExpr::Kind::kOr:
        for (const auto& c : q.children) {
          bool m = IsMatch(*c, t);
          if (failed()) return false;
          if (m) return true;
        }
        return false;
      case QueryExpr::Kind::kCompare: break;
    }
    if (!q.exists_path.empty()) {
      // `@a.b.c` alone: member lookups, no enumeration.
      if (t.is_property) return false;
      Value v = t.value;
      for (const std::string* name : q.exists_path) {
        if (!v.Find(*name, &v)) return false;
      }
      return true;
    }
    bool matched = false;
    if (q.op == QueryOp::kExists) {
      auto any = [&](const Token&) {
        matched = true;
        return false;
      };
      Results(q.left, t, any);
      return matched;
    }
    if (!q.right.is_path) {
      const Token right{q.right.literal, {}, false, true};
      auto compare_literal = [&](const Token& left) {
        if (MatchTokens(q, left, right)) {
          matched = true;
          return false;
        }
        return !failed();
      };
      Results(q.left, t, compare_literal);
      return matched && !failed();
    }
    // The right side is read once, and only when the left side has a token.
    std::vector<Token> rights;
    bool rights_read = false;
    auto compare_left = [&](const Token& left) {
      if (!rights_read) {
        rights_read = true;
        auto collect = [&](const Token& r) {
          rights.push_back(r);
          return true;
        };
        if (!Results(q.right, t, collect)) return false;
      }
      for (const Token& right : rights) {
        if (MatchTokens(q, left, right)) {
          matched = true;
          return false;
        }
        if (failed()) return false;
      }
      return true;
    };
    Results(q.left, t, compare_left);
    return matched && !failed();
  }

  bool MatchTokens(const QueryExpr& q, const Token& left, const Token& right) {
    JScalar a, b;
    bool scalars = !left.is_property && !right.is_property && ToScalar(left.value, left.is_literal, &a) &&
                   ToScalar(right.value, right.is_literal, &b);
    if (!scalars) {
      // Only primitives can be compared; "not equal" is then always true.
      return q.op == QueryOp::kNotEquals;
    }
    Result<bool> r = false;
    switch (q.op) {
      case QueryOp::kRegex: r = RegexMatches(a, b, right.is_literal ? q.regex.get() : nullptr); break;
      case QueryOp::kEquals: r = EqualsWithStringCoercion(a, b); break;
      case QueryOp::kStrictEquals: r = EqualsStrict(a, b); break;
      case QueryOp::kNotEquals:
        r = EqualsWithStringCoercion(a, b);
        if (r.ok()) r = !*r;
        break;
      case QueryOp::kStrictNotEquals:
        r = EqualsStrict(a, b);
        if (r.ok()) r = !*r;
        break;
      case QueryOp::kGreater:
      case QueryOp::kGreaterOrEqual:
      case QueryOp::kLess:
      case QueryOp::kLessOrEqual: {
        Result<int> c = Compare(a, b);
        if (!c.ok()) {
          r = c.status();
          break;
        }
        int v = *c;
        r = q.op == QueryOp::kGreater          ? v > 0
            : q.op == QueryOp::kGreaterOrEqual ? v >= 0
            : q.op == QueryOp::kLess           ? v < 0
                                               : v <= 0;
        break;
      }
      case QueryOp::kExists: r = true; break;
    }
    if (!r.ok()) return Fail(r.status());
    return *r;
  }

  bool Fail(Status status) {
    if (status_.ok()) status_ = std::move(status);
    return false;
  }

  bool WorkExceeded() {
    return Fail(OutOfRange("The path visits more than " + std::to_string(kMaxWork) +
                           " tokens on this document; simplify it (chained '..' steps multiply their results).")
                    .WithDetail("WorkLimitExceeded"));
  }

  Value root_;
  Status status_;
  std::uint64_t work_ = 0;
};

Status PropertyResult() {
  return EvaluationError("The path selects an object property (name and value), not a value.")
      .WithDetail("JsonException");
}

}  // namespace

Path::Path(std::unique_ptr<Compiled> compiled) : compiled_(std::move(compiled)) {}
Path::~Path() = default;
Path::Path(Path&&) noexcept = default;
Path& Path::operator=(Path&&) noexcept = default;

Result<Path> Path::Parse(std::string_view text) {
  auto compiled = std::make_unique<Compiled>();
  if (Status st = ParseInto(text, compiled.get()); !st.ok()) return st;
  return Path(std::move(compiled));
}

const std::string& Path::text() const { return compiled_->text; }

namespace {

// Names of which one must occur in the document for `q` to be true on some
// object; empty when there are none (see Path::RequiredMemberNames).
std::vector<std::string> RequiredNames(const QueryExpr& q) {
  switch (q.kind) {
    case QueryExpr::Kind::kAnd:
      // Every child must hold: any child's names will do; take the fewest.
      {
        std::vector<std::string> best;
        for (const auto& c : q.children) {
          std::vector<std::string> names = RequiredNames(*c);
          if (!names.empty() && (best.empty() || names.size() < best.size())) best = std::move(names);
        }
        return best;
      }
    case QueryExpr::Kind::kOr: {
      // One child must hold: the union, if every child has names.
      std::vector<std::string> all;
      for (const auto& c : q.children) {
        std::vector<std::string> names = RequiredNames(*c);
        if (names.empty()) return {};
        all.insert(all.end(), names.begin(), names.end());
      }
      return all;
    }
    case QueryExpr::Kind::kCompare: {
      // A left path of names (@a.b.c) yields nothing unless each name is a
      // member somewhere; the last is the most telling.
      const Operand& left = q.left;
      if (!left.is_path || left.path.empty()) return {};
      const Step& first = left.path.front();
      if (first.type == StepType::kFields) return first.names;
      if (first.type != StepType::kField || !first.name) return {};
      const std::string* last = &*first.name;
      for (const Step& s : left.path) {
        if (s.type != StepType::kField || !s.name) break;
        last = &*s.name;
      }
      return {*last};
    }
  }
  return {};
}

}  // namespace

const std::vector<const std::string*>* Path::ExistsScanChain() const {
  return compiled_->scan_exists != nullptr ? &compiled_->scan_exists->exists_path : nullptr;
}

std::vector<std::string> Path::RequiredMemberNames() const {
  const std::vector<Step>& steps = compiled_->steps;
  if (steps.size() != 1 || steps[0].type != StepType::kQueryScan || !steps[0].query->only_objects) return {};
  return RequiredNames(*steps[0].query);
}

namespace {

// `$..[?(@a.b)]`: every object (the start included, document order) where
// the member chain exists. The same result as the general evaluator, with
// nothing but lookups (how device mappings find their messages).
bool ScanExists(const json::Value& v, const std::vector<const std::string*>& chain, std::vector<json::Value>* out,
                std::uint64_t* work) {
  if (++*work > kMaxWork) return false;
  if (v.is_object()) {
    json::Value x = v;
    bool found = true;
    for (const std::string* name : chain) {
      if (!x.Find(*name, &x)) {
        found = false;
        break;
      }
    }
    if (found) out->push_back(v);
  }
  return v.ForEachContainerChild([&](const json::Value& c) { return ScanExists(c, chain, out, work); });
}

}  // namespace

namespace {

// Runs the general evaluator, handing each result value to `fn`; property
// tokens (see Token) cannot be results.
template <typename Fn>
Status RunToValues(const std::vector<Step>& steps, const json::Value& root, Fn&& fn) {
  Evaluator ev(root);
  bool property = false;
  auto sink = [&](const Token& t) {
    if (t.is_property) {
      property = true;
      return false;
    }
    return fn(t.value);
  };
  ev.Run(steps, 0, Token{root}, sink);
  if (ev.failed()) return ev.TakeStatus();
  if (property) return PropertyResult();
  return Status::Ok();
}

}  // namespace

Status Path::SelectTokens(const json::Value& root, std::vector<json::Value>* out) const {
  if (compiled_->scan_exists != nullptr) {
    std::uint64_t work = 0;
    if (!ScanExists(root, compiled_->scan_exists->exists_path, out, &work)) {
      return OutOfRange("The path visits more than " + std::to_string(kMaxWork) + " tokens on this document.")
          .WithDetail("WorkLimitExceeded");
    }
    return Status::Ok();
  }
  return RunToValues(compiled_->steps, root, [&](const json::Value& v) {
    out->push_back(v);
    return true;
  });
}

Status Path::ForEachToken(const json::Value& root, const std::function<bool(const json::Value&)>& fn) const {
  return RunToValues(compiled_->steps, root, fn);
}

Result<json::Value> Path::SelectToken(const json::Value& root) const {
  auto found = FindToken(root);
  if (!found.ok()) return found.status();
  return found->value_or(json::Value());
}

Result<std::optional<json::Value>> Path::FindToken(const json::Value& root) const {
  std::optional<json::Value> out;
  if (Status st = FindToken(root, &out); !st.ok()) return st;
  return out;
}

Status Path::FindToken(const json::Value& root, std::optional<json::Value>* out) const {
  out->reset();
  if (compiled_->is_member_chain) {
    // A chain of names yields at most one token: lookups are enough.
    json::Value v = root;
    for (const std::string* name : compiled_->member_chain) {
      if (!v.Find(*name, &v)) return Status::Ok();
    }
    *out = v;
    return Status::Ok();
  }
  Evaluator ev(root);
  json::Value found;
  int count = 0;
  bool property = false;
  auto sink = [&](const Token& t) {
    if (t.is_property) {
      property = true;
      return false;
    }
    found = t.value;
    return ++count < 2;
  };
  ev.Run(compiled_->steps, 0, Token{root}, sink);
  if (ev.failed()) return ev.TakeStatus();
  if (property) return PropertyResult();
  if (count > 1) return EvaluationError("Path returned multiple tokens.").WithDetail("JsonException");
  if (count == 1) *out = found;
  return Status::Ok();
}

Result<bool> Path::Matches(const json::Value& root) const {
  Evaluator ev(root);
  bool any = false;
  auto sink = [&](const Token&) {
    any = true;
    return false;
  };
  ev.Run(compiled_->steps, 0, Token{root}, sink);
  if (ev.failed()) return ev.TakeStatus();
  return any;
}

}  // namespace iomt::jsonpath
