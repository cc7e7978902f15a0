// Parses JSONPath text the way Json.NET's JPath class does, character by
// character, so that the same paths are accepted, rejected and understood.
// Where Json.NET throws a JsonException the Status detail says so; where it
// fails with another .NET exception (FormatException from Convert.ToInt32,
// IndexOutOfRangeException at the end of the text) the detail names that.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "common/utf8.h"
#include "expr/jsonpath/ast.h"
#include "expr/jsonpath/parser.h"

namespace iomt::jsonpath {
namespace {

constexpr std::size_t kMaxLength = std::size_t{64} * 1024;
constexpr int kMaxNesting = 32;  // filters within filters
constexpr std::size_t kMaxSteps = 1024;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view TrimEnd(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.back()))
    s.remove_suffix(1);
  return s;
}

// Convert.ToInt32(string, InvariantCulture): optional surrounding white
// space and sign, decimal digits, within int32.
Status ToInt32(std::string_view text, std::size_t position, std::int32_t* out) {
  std::string_view s = text;
  while (!s.empty() && IsAsciiSpace(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back()))
    s.remove_suffix(1);
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), IsDigit)) {
    return SyntaxError("Input string was not in a correct format.")
        .WithDetail("FormatException")
        .WithPosition(static_cast<long>(position));
  }
  std::int64_t v = 0;
  for (char c : s) {
    v = v * 10 + (c - '0');
    if (v > 2147483648LL) {
      return SyntaxError("Value was either too large or too small for an Int32.")
          .WithDetail("OverflowException")
          .WithPosition(static_cast<long>(position));
    }
  }
  if (negative) v = -v;
  if (v > INT32_MAX || v < INT32_MIN) {
    return SyntaxError("Value was either too large or too small for an Int32.")
        .WithDetail("OverflowException")
        .WithPosition(static_cast<long>(position));
  }
  *out = static_cast<std::int32_t>(v);
  return Status::Ok();
}

class Parser {
 public:
  Parser(std::string_view text, Path::Compiled* out) : s_(text), out_(out) {}

  Status ParseMain() {
    if (s_.size() > kMaxLength) {
      return SyntaxError("Path is longer than " + std::to_string(kMaxLength) + " characters.")
          .WithDetail("JsonException");
    }
    std::size_t part_start = i_;
    EatWhitespace();
    if (i_ == s_.size()) return Status::Ok();
    if (s_[i_] == '$') {
      if (s_.size() == 1) return Status::Ok();
      // Only "$." and "$[" start at the root; otherwise "$" begins a name.
      if (i_ + 1 >= s_.size()) return IndexError("Path ended after '$'.");
      char c = s_[i_ + 1];
      if (c == '.' || c == '[') {
        ++i_;
        part_start = i_;
      }
    }
    bool at_end = false;
    IOMT_RETURN_IF_ERROR(ParsePath(&out_->steps, part_start, /*query=*/false, &at_end));
    if (!at_end) {
      std::size_t last = i_;
      EatWhitespace();
      if (i_ < s_.size()) return JsonError(std::string("Unexpected character while parsing path: ") + s_[last], last);
    }
    return Status::Ok();
  }

 private:
  Status JsonError(std::string message, std::size_t position) const {
    return SyntaxError(std::move(message)).WithDetail("JsonException").WithPosition(static_cast<long>(position));
  }
  Status JsonError(std::string message) const { return JsonError(std::move(message), i_); }
  // Json.NET reads past the end of the text here and fails with
  // IndexOutOfRangeException; report it as the open construct it is.
  Status IndexError(std::string message) const {
    return SyntaxError(std::move(message))
        .WithDetail("IndexOutOfRangeException")
        .WithPosition(static_cast<long>(s_.size()));
  }

  void EatWhitespace() {
    while (i_ < s_.size() && s_[i_] == ' ')
      ++i_;
  }
  Status EnsureLength(const char* message) const {
    if (i_ >= s_.size()) return JsonError(message);
    return Status::Ok();
  }
  bool Match(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  Status AddStep(std::vector<Step>* steps, Step step) const {
    if (steps->size() >= kMaxSteps) return JsonError("Path has too many parts.");
    steps->push_back(std::move(step));
    return Status::Ok();
  }

  static Step NameStep(std::string_view member, bool scan) {
    Step step;
    step.type = scan ? StepType::kScan : StepType::kField;
    if (member != "*") step.name = std::string(member);
    return step;
  }

  // Json.NET's ParsePath: reads dotted names and indexers until the end, a
  // closing bracket, a space, or (in a query) an operator.
  Status ParsePath(std::vector<Step>* steps, std::size_t part_start, bool query, bool* at_end) {
    bool scan = false;
    bool following_indexer = false;
    bool following_dot = false;
    bool ended = false;
    while (i_ < s_.size() && !ended) {
      char c = s_[i_];
      switch (c) {
        case '[':
        case '(': {
          if (i_ > part_start) {
            IOMT_RETURN_IF_ERROR(AddStep(steps, NameStep(s_.substr(part_start, i_ - part_start), scan)));
            scan = false;
          }
          Step step;
          IOMT_RETURN_IF_ERROR(ParseIndexer(c, scan, &step));
          IOMT_RETURN_IF_ERROR(AddStep(steps, std::move(step)));
          scan = false;
          ++i_;
          part_start = i_;
          following_indexer = true;
          following_dot = false;
          break;
        }
        case ']':
        case ')':
        case ' ': ended = true; break;
        case '.': {
          if (i_ > part_start) {
            IOMT_RETURN_IF_ERROR(AddStep(steps, NameStep(s_.substr(part_start, i_ - part_start), scan)));
            scan = false;
          }
          if (i_ + 1 < s_.size() && s_[i_ + 1] == '.') {
            scan = true;
            ++i_;
          }
          ++i_;
          part_start = i_;
          following_indexer = false;
          following_dot = true;
          break;
        }
        default:
          if (query && (c == '=' || c == '<' || c == '!' || c == '>' || c == '|' || c == '&')) {
            ended = true;
          } else {
            if (following_indexer) return JsonError(std::string("Unexpected character following indexer: ") + c);
            ++i_;
          }
          break;
      }
    }
    *at_end = i_ == s_.size();
    if (i_ > part_start) {
      IOMT_RETURN_IF_ERROR(AddStep(steps, NameStep(TrimEnd(s_.substr(part_start, i_ - part_start)), scan)));
    } else if (following_dot && (*at_end || query)) {
      return JsonError("Unexpected end while parsing path.");
    }
    return Status::Ok();
  }

  Status ParseIndexer(char open, bool scan, Step* out) {
    ++i_;
    char close = open == '[' ? ']' : ')';
    IOMT_RETURN_IF_ERROR(EnsureLength("Path ended with open indexer."));
    EatWhitespace();
    if (i_ >= s_.size()) return IndexError("Path ended with open indexer.");
    if (s_[i_] == '\'') return ParseQuotedField(close, scan, out);
    if (s_[i_] == '?') return ParseQuery(close, scan, out);
    return ParseArrayIndexer(close, out);
  }

  Status ParseArrayIndexer(char close, Step* out) {
    std::size_t start = i_;
    std::optional<std::size_t> end;
    std::vector<std::int32_t> indexes;
    bool have_indexes = false;
    int colons = 0;
    std::optional<std::int32_t> slice_start, slice_end, slice_step;
    auto read_int = [&](std::size_t length, std::int32_t* v) { return ToInt32(s_.substr(start, length), start, v); };
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == ' ') {
        end = i_;
        EatWhitespace();
        continue;
      }
      if (c == close) {
        std::size_t length = end.value_or(i_) - start;
        if (have_indexes) {
          if (length == 0) return JsonError("Array index expected.");
          std::int32_t v;
          IOMT_RETURN_IF_ERROR(read_int(length, &v));
          indexes.push_back(v);
          out->type = StepType::kIndexes;
          out->indexes = std::move(indexes);
          return Status::Ok();
        }
        if (colons > 0) {
          if (length > 0) {
            std::int32_t v;
            IOMT_RETURN_IF_ERROR(read_int(length, &v));
            if (colons == 1) {
              slice_end = v;
            } else {
              slice_step = v;
            }
          }
          // Json.NET throws this when the slice runs; no match can happen
          // without running it, so it is as good as a parse error.
          if (slice_step == 0) return JsonError("Step cannot be zero.");
          out->type = StepType::kSlice;
          out->start = slice_start;
          out->end = slice_end;
          out->step = slice_step;
          return Status::Ok();
        }
        if (length == 0) return JsonError("Array index expected.");
        std::int32_t v;
        IOMT_RETURN_IF_ERROR(read_int(length, &v));
        out->type = StepType::kIndex;
        out->index = v;
        return Status::Ok();
      }
      if (c == ',') {
        std::size_t length = end.value_or(i_) - start;
        if (length == 0) return JsonError("Array index expected.");
        std::int32_t v;
        IOMT_RETURN_IF_ERROR(read_int(length, &v));
        indexes.push_back(v);
        have_indexes = true;
        ++i_;
        EatWhitespace();
        start = i_;
        end.reset();
      } else if (c == '*') {
        ++i_;
        IOMT_RETURN_IF_ERROR(EnsureLength("Path ended with open indexer."));
        EatWhitespace();
        if (i_ >= s_.size()) return IndexError("Path ended with open indexer.");
        if (s_[i_] != close) return JsonError(std::string("Unexpected character while parsing path indexer: ") + c);
        out->type = StepType::kIndex;  // no index: [*]
        return Status::Ok();
      } else if (c == ':') {
        std::size_t length = end.value_or(i_) - start;
        if (length > 0) {
          std::int32_t v;
          IOMT_RETURN_IF_ERROR(read_int(length, &v));
          if (colons == 0) {
            slice_start = v;
          } else if (colons == 1) {
            slice_end = v;
          } else {
            slice_step = v;
          }
        }
        ++colons;
        ++i_;
        EatWhitespace();
        start = i_;
        end.reset();
      } else if (!IsDigit(c) && c != '-') {
        return JsonError(std::string("Unexpected character while parsing path indexer: ") + c);
      } else {
        if (end) return JsonError(std::string("Unexpected character while parsing path indexer: ") + c);
        ++i_;
      }
    }
    return JsonError("Path ended with open indexer.");
  }

  // A single-quoted string; the opening quote is at i_ (Json.NET does not
  // check that it is a quote).
  Status ReadQuotedString(std::string* out) {
    ++i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\' && i_ + 1 < s_.size()) {
        ++i_;
        c = s_[i_];
        switch (c) {
          case 'b': out->push_back('\b'); break;
          case 't': out->push_back('\t'); break;
          case 'n': out->push_back('\n'); break;
          case 'f': out->push_back('\f'); break;
          case 'r': out->push_back('\r'); break;
          case '\\':
          case '"':
          case '\'':
          case '/': out->push_back(c); break;
          case 'u':
          case 'U': {
            if (i_ + 4 >= s_.size()) return JsonError("Path ended with an open string.");
            unsigned code = 0;
            auto res = std::from_chars(s_.data() + i_ + 1, s_.data() + i_ + 5, code, 16);
            if (res.ptr != s_.data() + i_ + 5) return JsonError(std::string("Invalid Unicode escape in path: \\") + c);
            utf8::Append(out, code);
            i_ += 4;
            break;
          }
          default: return JsonError(std::string("Unknown escape character: \\") + c);
        }
        ++i_;
      } else if (c == '\'') {
        ++i_;
        return Status::Ok();
      } else {
        out->push_back(c);
        ++i_;
      }
    }
    return JsonError("Path ended with an open string.");
  }

  Status ParseQuotedField(char close, bool scan, Step* out) {
    std::vector<std::string> fields;
    bool multiple = false;
    while (i_ < s_.size()) {
      std::string field;
      IOMT_RETURN_IF_ERROR(ReadQuotedString(&field));
      EatWhitespace();
      IOMT_RETURN_IF_ERROR(EnsureLength("Path ended with open indexer."));
      if (s_[i_] == close) {
        if (multiple) {
          fields.push_back(std::move(field));
          out->type = scan ? StepType::kScans : StepType::kFields;
          out->names = std::move(fields);
        } else {
          out->type = scan ? StepType::kScan : StepType::kField;
          out->name = std::move(field);  // even "*" is a name here
        }
        return Status::Ok();
      }
      if (s_[i_] == ',') {
        ++i_;
        EatWhitespace();
        multiple = true;
        fields.push_back(std::move(field));
      } else {
        return JsonError(std::string("Unexpected character while parsing path indexer: ") + s_[i_]);
      }
    }
    return JsonError("Path ended with open indexer.");
  }

  Status ParseQuery(char close, bool scan, Step* out) {
    ++i_;
    IOMT_RETURN_IF_ERROR(EnsureLength("Path ended with open indexer."));
    if (s_[i_] != '(') return JsonError(std::string("Unexpected character while parsing path indexer: ") + s_[i_]);
    ++i_;
    if (++depth_ > kMaxNesting) return JsonError("Path has filters nested too deeply.");
    std::unique_ptr<QueryExpr> expr;
    IOMT_RETURN_IF_ERROR(ParseExpression(&expr));
    --depth_;
    ++i_;
    IOMT_RETURN_IF_ERROR(EnsureLength("Path ended with open indexer."));
    EatWhitespace();
    if (i_ >= s_.size()) return IndexError("Path ended with open indexer.");
    if (s_[i_] != close) return JsonError(std::string("Unexpected character while parsing path indexer: ") + s_[i_]);
    out->type = scan ? StepType::kQueryScan : StepType::kQuery;
    out->query = std::move(expr);
    return Status::Ok();
  }

  // a && b || c groups as a && (b || c): each operator that differs from
  // the current group's opens a new group inside it (Json.NET's rule).
  Status ParseExpression(std::unique_ptr<QueryExpr>* out) {
    std::unique_ptr<QueryExpr> root;
    QueryExpr* parent = nullptr;
    while (i_ < s_.size()) {
      auto cmp = std::make_unique<QueryExpr>();
      cmp->kind = QueryExpr::Kind::kCompare;
      IOMT_RETURN_IF_ERROR(ParseSide(&cmp->left));
      char c = s_[i_];
      if (c == ')' || c == '|' || c == '&') {
        cmp->op = QueryOp::kExists;
      } else {
        IOMT_RETURN_IF_ERROR(ParseOperator(&cmp->op));
        IOMT_RETURN_IF_ERROR(ParseSide(&cmp->right));
        IOMT_RETURN_IF_ERROR(CompileRegex(cmp.get()));
      }
      c = s_[i_];
      if (c == ')') {
        if (parent != nullptr) {
          parent->children.push_back(std::move(cmp));
          *out = std::move(root);
        } else {
          *out = std::move(cmp);
        }
        return Status::Ok();
      }
      for (auto [ch, kind] : {std::pair{'&', QueryExpr::Kind::kAnd}, std::pair{'|', QueryExpr::Kind::kOr}}) {
        if (c != ch) continue;
        if (!Match(ch == '&' ? "&&" : "||")) return UnexpectedQueryCharacter();
        if (parent == nullptr || parent->kind != kind) {
          auto group = std::make_unique<QueryExpr>();
          group->kind = kind;
          QueryExpr* raw = group.get();
          if (parent != nullptr) {
            parent->children.push_back(std::move(group));
          } else {
            root = std::move(group);
          }
          parent = raw;
        }
        parent->children.push_back(std::move(cmp));
        break;
      }
      // Neither ')' nor an operator: Json.NET drops this comparison and reads
      // on (so "@.a == 1 @.b" means "@.b"); so does iomt.
    }
    return JsonError("Path ended with open query.");
  }

  Status UnexpectedQueryCharacter() const {
    if (i_ >= s_.size()) return JsonError("Path ended with open query.");
    return JsonError(std::string("Unexpected character while parsing path query: ") + s_[i_]);
  }

  Status ParseSide(Operand* out) {
    EatWhitespace();
    if (i_ >= s_.size()) return IndexError("Path ended with open query.");
    bool parsed = false;
    IOMT_RETURN_IF_ERROR(TryParseExpression(out, &parsed));
    if (parsed) {
      EatWhitespace();
      return EnsureLength("Path ended with open query.");
    }
    IOMT_RETURN_IF_ERROR(TryParseValue(out, &parsed));
    if (parsed) {
      EatWhitespace();
      return EnsureLength("Path ended with open query.");
    }
    return UnexpectedQueryCharacter();
  }

  Status TryParseExpression(Operand* out, bool* parsed) {
    char c = s_[i_];
    if (c != '$' && c != '@') return Status::Ok();
    out->is_path = true;
    if (c == '$') {
      Step root;
      root.type = StepType::kRoot;
      out->path.push_back(std::move(root));
    }
    ++i_;
    bool at_end = false;
    IOMT_RETURN_IF_ERROR(ParsePath(&out->path, i_, /*query=*/true, &at_end));
    if (at_end) return JsonError("Path ended with open query.");
    *parsed = true;
    return Status::Ok();
  }

  Status TryParseValue(Operand* out, bool* parsed) {
    char c = s_[i_];
    if (c == '\'') {
      std::string text;
      IOMT_RETURN_IF_ERROR(ReadQuotedString(&text));
      out->literal = json::Value::String(Keep(std::move(text)));
      *parsed = true;
      return Status::Ok();
    }
    if (IsDigit(c) || c == '-') {
      // A number runs to the next space or ')'; anything else in between
      // (even "&&") makes it unreadable, as in Json.NET.
      std::size_t begin = i_;
      ++i_;
      while (i_ < s_.size()) {
        char d = s_[i_];
        if (d == ' ' || d == ')') {
          std::string_view number = s_.substr(begin, i_ - begin);
          *parsed = ParseNumber(number, &out->literal);
          return Status::Ok();
        }
        ++i_;
      }
      return Status::Ok();
    }
    if (c == 't' && Match("true")) {
      out->literal = json::Value::Bool(true);
      *parsed = true;
    } else if (c == 'f' && Match("false")) {
      out->literal = json::Value::Bool(false);
      *parsed = true;
    } else if (c == 'n' && Match("null")) {
      out->literal = json::Value::Null();
      *parsed = true;
    } else if (c == '/') {
      std::string regex;
      IOMT_RETURN_IF_ERROR(ReadRegexString(&regex));
      out->literal = json::Value::String(Keep(std::move(regex)));
      *parsed = true;
    }
    return Status::Ok();
  }

  // long.TryParse (NumberStyles.Integer) or, with '.', 'e' or 'E',
  // double.TryParse (NumberStyles.Float | AllowThousands).
  static bool ParseNumber(std::string_view text, json::Value* out) {
    if (text.find_first_of(".eE") != std::string_view::npos) {
      std::string cleaned;
      for (char ch : text) {
        if (ch != ',') cleaned.push_back(ch);  // thousands separators are allowed
      }
      const char* b = cleaned.data();
      const char* e = b + cleaned.size();
      if (b != e && *b == '+') ++b;
      double d = 0;
      auto res = std::from_chars(b, e, d);
      if (res.ec == std::errc::result_out_of_range) {
        d = std::strtod(cleaned.c_str(), nullptr);  // .NET gives +/-Infinity or 0
      } else if (res.ec != std::errc() || res.ptr != e) {
        return false;
      }
      *out = json::Value::Double(d);
      return true;
    }
    std::int64_t v = 0;
    auto res = std::from_chars(text.data(), text.data() + text.size(), v);
    if (res.ec != std::errc() || res.ptr != text.data() + text.size()) return false;
    *out = json::Value::Int(v);
    return true;
  }

  // "/pattern/flags", kept whole as Json.NET keeps it.
  Status ReadRegexString(std::string* out) {
    std::size_t begin = i_;
    ++i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\' && i_ + 1 < s_.size()) {
        i_ += 2;
      } else if (c == '/') {
        ++i_;
        while (i_ < s_.size() && ((s_[i_] >= 'a' && s_[i_] <= 'z') || (s_[i_] >= 'A' && s_[i_] <= 'Z')))
          ++i_;
        *out = std::string(s_.substr(begin, i_ - begin));
        return Status::Ok();
      } else {
        ++i_;
      }
    }
    return JsonError("Path ended with an open regex.");
  }

  Status ParseOperator(QueryOp* op) {
    if (i_ + 1 >= s_.size()) return JsonError("Path ended with open query.");
    if (Match("===")) {
      *op = QueryOp::kStrictEquals;
    } else if (Match("==")) {
      *op = QueryOp::kEquals;
    } else if (Match("=~")) {
      *op = QueryOp::kRegex;
    } else if (Match("!==")) {
      *op = QueryOp::kStrictNotEquals;
    } else if (Match("!=") || Match("<>")) {
      *op = QueryOp::kNotEquals;
    } else if (Match("<=")) {
      *op = QueryOp::kLessOrEqual;
    } else if (Match("<")) {
      *op = QueryOp::kLess;
    } else if (Match(">=")) {
      *op = QueryOp::kGreaterOrEqual;
    } else if (Match(">")) {
      *op = QueryOp::kGreater;
    } else {
      return JsonError("Could not read query operator.");
    }
    return Status::Ok();
  }

  // Json.NET compiles the regex of `=~ /.../` each time it is evaluated; iomt
  // compiles it once here, on RE2 (linear time, so a mapping cannot hang the
  // service). A pattern RE2 cannot run is a syntax error of the path.
  Status CompileRegex(QueryExpr* cmp) {
    if (cmp->op != QueryOp::kRegex || cmp->right.is_path || !cmp->right.literal.is_string()) return Status::Ok();
    std::string_view text = cmp->right.literal.string_value();
    std::size_t slash = text.rfind('/');
    if (text.empty() || slash == 0 || slash == std::string_view::npos) {
      return JsonError("Regex in path must be written /pattern/flags.");
    }
    RE2::Options options;
    options.set_log_errors(false);
    std::string prefix;
    for (char flag : text.substr(slash + 1)) {
      switch (flag) {
        case 'i': options.set_case_sensitive(false); break;
        case 'm': prefix += "(?m)"; break;
        case 's': options.set_dot_nl(true); break;
        default: return JsonError(std::string("Regex flag '") + flag + "' is not supported (supported: i, m, s).");
      }
    }
    std::string pattern = prefix + std::string(text.substr(1, slash - 1));
    auto re = std::make_unique<RE2>(pattern, options);
    if (!re->ok()) return JsonError("Invalid regex " + std::string(text) + ": " + re->error());
    cmp->regex = std::move(re);
    return Status::Ok();
  }

  std::string_view Keep(std::string text) {
    out_->strings.push_back(std::move(text));
    return out_->strings.back();
  }

  std::string_view s_;
  Path::Compiled* out_;
  std::size_t i_ = 0;
  int depth_ = 0;
};

// Fills in what QueryExpr knows about where it can match, for the evaluator's
// shortcuts. A comparison whose left side is a path from @ that first selects
// a member yields nothing (hence false) on anything but an object; one that
// first selects by name or index yields nothing on a JProperty.
void Classify(QueryExpr* expr) {
  switch (expr->kind) {
    case QueryExpr::Kind::kAnd: {
      for (auto& c : expr->children) {
        Classify(c.get());
        expr->never_matches_property = expr->never_matches_property || c->never_matches_property;
        expr->only_objects = expr->only_objects || c->only_objects;
      }
      return;
    }
    case QueryExpr::Kind::kOr: {
      expr->never_matches_property = expr->only_objects = true;
      for (auto& c : expr->children) {
        Classify(c.get());
        expr->never_matches_property = expr->never_matches_property && c->never_matches_property;
        expr->only_objects = expr->only_objects && c->only_objects;
      }
      return;
    }
    case QueryExpr::Kind::kCompare: {
      const Operand& left = expr->left;
      if (!left.is_path || left.path.empty()) return;
      const Step& first = left.path.front();
      expr->never_matches_property = first.type == StepType::kField || first.type == StepType::kFields ||
                                     first.type == StepType::kIndex || first.type == StepType::kIndexes ||
                                     first.type == StepType::kSlice;
      expr->only_objects = first.type == StepType::kField || first.type == StepType::kFields;
      if (expr->op == QueryOp::kExists && std::all_of(left.path.begin(), left.path.end(), [](const Step& s) {
            return s.type == StepType::kField && s.name.has_value();
          })) {
        for (const Step& s : left.path)
          expr->exists_path.push_back(&*s.name);
      }
      return;
    }
  }
}

void Annotate(std::vector<Step>* steps) {
  for (Step& step : *steps) {
    if (!step.query) continue;
    Classify(step.query.get());
    std::vector<QueryExpr*> stack{step.query.get()};
    while (!stack.empty()) {
      QueryExpr* e = stack.back();
      stack.pop_back();
      for (auto& c : e->children)
        stack.push_back(c.get());
      Annotate(&e->left.path);
      Annotate(&e->right.path);
    }
  }
}

}  // namespace

Status ParseInto(std::string_view text, Path::Compiled* out) {
  out->text = std::string(text);
  Parser parser(out->text, out);
  IOMT_RETURN_IF_ERROR(parser.ParseMain());
  Annotate(&out->steps);
  out->is_member_chain = std::all_of(out->steps.begin(), out->steps.end(),
                                     [](const Step& s) { return s.type == StepType::kField && s.name.has_value(); });
  if (out->is_member_chain) {
    for (const Step& s : out->steps)
      out->member_chain.push_back(&*s.name);
  }
  if (out->steps.size() == 1 && out->steps[0].type == StepType::kQueryScan &&
      out->steps[0].query->kind == QueryExpr::Kind::kCompare && !out->steps[0].query->exists_path.empty()) {
    out->scan_exists = out->steps[0].query.get();
  }
  return Status::Ok();
}

}  // namespace iomt::jsonpath
