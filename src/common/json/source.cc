#include "common/json/source.h"

#include "common/utf8.h"

#include <charconv>
#include <cmath>

namespace iomt::json {

const SourceMember* SourceNode::Find(std::string_view key) const {
  for (const SourceMember& m : members) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

namespace {

// Json.NET's JsonPosition: a name that needs quoting is written ['name'].
void AppendPathName(std::string* path, std::string_view name) {
  bool plain = !name.empty();
  for (char c : name) {
    if (c == '.' || c == ' ' || c == '[' || c == ']' || c == '(' || c == ')' || c == '\'' || c == '"' || c == '\t' ||
        c == '\n' || c == '\r' || c == '\f' || c == '\b' || c == '\\' || c == '\x0b' || c == '\0') {
      plain = false;
      break;
    }
  }
  if (plain) {
    if (!path->empty()) path->push_back('.');
    path->append(name);
  } else {
    path->append("['");
    for (char c : name) {
      if (c == '\'' || c == '\\') path->push_back('\\');
      path->push_back(c);
    }
    path->append("']");
  }
}

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

  Status Parse(SourceNode* root) {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") Advance(3);
    SkipSpace();
    if (AtEnd()) return Error("Unexpected end when reading JSON.");
    IOMT_RETURN_IF_ERROR(ParseValue(root, 0));
    SkipSpace();
    if (!AtEnd()) {
      return Error(std::string("Additional text encountered after finished reading JSON content: ") + Char() + ".");
    }
    return Status::Ok();
  }

 private:
  [[nodiscard]] bool AtEnd() const { return i_ >= s_.size(); }
  [[nodiscard]] char Peek() const { return s_[i_]; }
  // The offending character as Json.NET prints it (a whole UTF-8 sequence).
  [[nodiscard]] std::string Char() const {
    if (AtEnd()) return "";
    std::size_t n = 1;
    auto c = static_cast<unsigned char>(s_[i_]);
    if (c >= 0xF0)
      n = 4;
    else if (c >= 0xE0)
      n = 3;
    else if (c >= 0xC0)
      n = 2;
    return std::string(s_.substr(i_, n));
  }

  void Advance(std::size_t n = 1) {
    for (std::size_t k = 0; k < n && i_ < s_.size(); ++k) {
      char c = s_[i_++];
      if (c == '\n' || (c == '\r' && (i_ >= s_.size() || s_[i_] != '\n'))) {
        ++line_;
        column_ = 0;
      } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
        ++column_;  // count characters, not UTF-8 continuation bytes
      }
    }
  }
  // Position of the character just consumed.
  [[nodiscard]] SourcePos Here() const { return {line_, column_}; }
  // Position of the next character (for errors pointing at it).
  [[nodiscard]] SourcePos Next() const { return {line_, column_ + 1}; }

  Status Error(const std::string& message) const { return ErrorAt(message, Next()); }
  Status ErrorAt(const std::string& message, SourcePos at) const {
    return SyntaxError(message + " Path '" + path_ + "', line " + std::to_string(at.line) + ", position " +
                       std::to_string(at.column) + ".")
        .WithPosition(static_cast<long>(i_));
  }

  void SkipSpace() {
    while (!AtEnd()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        Advance();
      } else if (c == '/' && i_ + 1 < s_.size() && (s_[i_ + 1] == '/' || s_[i_ + 1] == '*')) {
        // Json.NET tolerates comments in mapping files; so does iomt.
        if (s_[i_ + 1] == '/') {
          while (!AtEnd() && Peek() != '\n')
            Advance();
        } else {
          Advance(2);
          while (!AtEnd() && !(Peek() == '*' && i_ + 1 < s_.size() && s_[i_ + 1] == '/'))
            Advance();
          Advance(2);
        }
      } else {
        break;
      }
    }
  }

  Status ParseValue(SourceNode* node, int depth) {
    node->path = path_;
    node->begin = Next();
    node->raw_begin = i_;
    Status status = ParseToken(node, depth);
    node->raw_end = i_;
    return status;
  }

  Status ParseToken(SourceNode* node, int depth) {
    char c = Peek();
    switch (c) {
      case '{': return ParseObject(node, depth + 1);
      case '[': return ParseArray(node, depth + 1);
      case '"':
      case '\'': {
        node->kind = Kind::kString;
        IOMT_RETURN_IF_ERROR(ParseString(&node->text));
        node->pos = Here();
        return Status::Ok();
      }
      case 't':
      case 'f':
      case 'n': {
        std::string_view word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        if (s_.substr(i_, word.size()) != word) {
          return Error(std::string("Unexpected character encountered while parsing value: ") + Char() + ".");
        }
        Advance(word.size());
        node->kind = c == 'n' ? Kind::kNull : Kind::kBool;
        node->boolean = c == 't';
        node->pos = Here();
        return Status::Ok();
      }
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(node);
        return Error(std::string("Unexpected character encountered while parsing value: ") + Char() + ".");
    }
  }

  Status ParseNumber(SourceNode* node) {
    std::size_t start = i_;
    while (!AtEnd()) {
      char c = Peek();
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        Advance();
      } else {
        break;
      }
    }
    std::string_view lexeme = s_.substr(start, i_ - start);
    node->text = std::string(lexeme);
    node->pos = Here();
    const char* b = lexeme.data();
    const char* e = b + lexeme.size();
    if (lexeme.find_first_of(".eE") == std::string_view::npos) {
      auto res = std::from_chars(b, e, node->integer);
      if (res.ec == std::errc() && res.ptr == e) {
        node->kind = Kind::kInt;
        node->number = static_cast<double>(node->integer);
        return Status::Ok();
      }
    }
    auto res = std::from_chars(b, e, node->number);
    if (res.ptr != e || (res.ec != std::errc() && res.ec != std::errc::result_out_of_range)) {
      return ErrorAt("Input string '" + node->text + "' is not a valid number.", node->pos);
    }
    node->kind = Kind::kDouble;
    return Status::Ok();
  }

  Status ReadHex4(std::uint32_t* out) {
    if (i_ + 4 > s_.size()) return Error("Unexpected end while parsing Unicode escape sequence.");
    std::uint32_t v = 0;
    auto res = std::from_chars(s_.data() + i_, s_.data() + i_ + 4, v, 16);
    if (res.ptr != s_.data() + i_ + 4) return Error("Invalid Unicode escape sequence.");
    Advance(4);
    *out = v;
    return Status::Ok();
  }

  // A quoted string (Json.NET also reads single quotes).
  Status ParseString(std::string* out) {
    char quote = Peek();
    Advance();
    while (true) {
      if (AtEnd()) return Error(std::string("Unterminated string. Expected delimiter: ") + quote + ".");
      char c = Peek();
      if (c == quote) {
        Advance();
        return Status::Ok();
      }
      if (c == '\\') {
        Advance();
        if (AtEnd()) return Error(std::string("Unterminated string. Expected delimiter: ") + quote + ".");
        char e = Peek();
        Advance();
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\'': out->push_back('\''); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            std::uint32_t cp = 0;
            IOMT_RETURN_IF_ERROR(ReadHex4(&cp));
            if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(i_, 2) == "\\u") {
              std::size_t save = i_;
              int save_line = line_, save_col = column_;
              Advance(2);
              std::uint32_t low = 0;
              IOMT_RETURN_IF_ERROR(ReadHex4(&low));
              if (low >= 0xDC00 && low < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
              } else {
                i_ = save;
                line_ = save_line;
                column_ = save_col;
              }
            }
            utf8::Append(out, cp);
            break;
          }
          default: return Error(std::string("Bad JSON escape sequence: \\") + e + ".");
        }
        continue;
      }
      out->push_back(c);
      Advance();
    }
  }

  Status ParseObject(SourceNode* node, int depth) {
    if (depth > max_depth_) {
      return Error("The reader's MaxDepth of " + std::to_string(max_depth_) + " has been exceeded.");
    }
    node->kind = Kind::kObject;
    Advance();  // '{'
    node->pos = Here();
    std::size_t path_len = path_.size();
    SkipSpace();
    if (!AtEnd() && Peek() == '}') {
      Advance();
      return Status::Ok();
    }
    while (true) {
      SkipSpace();
      if (AtEnd()) return Error("Unexpected end when reading JSON.");
      if (Peek() != '"' && Peek() != '\'') {
        return Error(std::string("Invalid property identifier character: ") + Char() + ".");
      }
      SourceMember member;
      IOMT_RETURN_IF_ERROR(ParseString(&member.key));
      path_.resize(path_len);
      AppendPathName(&path_, member.key);
      SkipSpace();
      if (AtEnd()) return Error("Unexpected end when reading JSON.");
      if (Peek() != ':') {
        return Error(std::string("Invalid character after parsing property name. Expected ':' but got: ") + Char() +
                     ".");
      }
      Advance();
      member.key_pos = Here();
      SkipSpace();
      if (AtEnd()) return Error("Unexpected end when reading JSON.");
      IOMT_RETURN_IF_ERROR(ParseValue(&member.value, depth));
      node->members.push_back(std::move(member));
      SkipSpace();
      if (AtEnd()) return Error("Unexpected end when reading JSON.");
      if (Peek() == ',') {
        Advance();
        continue;
      }
      if (Peek() == '}') {
        Advance();
        path_.resize(path_len);
        return Status::Ok();
      }
      return Error(std::string("After parsing a value an unexpected character was encountered: ") + Char() + ".");
    }
  }

  Status ParseArray(SourceNode* node, int depth) {
    if (depth > max_depth_) {
      return Error("The reader's MaxDepth of " + std::to_string(max_depth_) + " has been exceeded.");
    }
    node->kind = Kind::kArray;
    Advance();  // '['
    node->pos = Here();
    std::size_t path_len = path_.size();
    SkipSpace();
    if (!AtEnd() && Peek() == ']') {
      Advance();
      return Status::Ok();
    }
    for (std::size_t index = 0;; ++index) {
      SkipSpace();
      if (AtEnd()) return Error("Unexpected end when reading JSON.");
      path_.resize(path_len);
      // Json.NET's path names an element only once its value starts.
      char c = Peek();
      if (c != '{' && c != '[' && c != '"' && c != '\'' && c != 't' && c != 'f' && c != 'n' && c != '-' &&
          !(c >= '0' && c <= '9')) {
        return Error(std::string("Unexpected character encountered while parsing value: ") + Char() + ".");
      }
      path_.push_back('[');
      path_.append(std::to_string(index));
      path_.push_back(']');
      node->items.emplace_back();
      IOMT_RETURN_IF_ERROR(ParseValue(&node->items.back(), depth));
      SkipSpace();
      if (AtEnd()) return Error("Unexpected end when reading JSON.");
      if (Peek() == ',') {
        Advance();
        continue;
      }
      if (Peek() == ']') {
        Advance();
        path_.resize(path_len);
        return Status::Ok();
      }
      return Error(std::string("After parsing a value an unexpected character was encountered: ") + Char() + ".");
    }
  }

  std::string_view s_;
  int max_depth_;
  std::size_t i_ = 0;
  int line_ = 1;
  int column_ = 0;  // characters consumed on the current line
  std::string path_;
};

}  // namespace

Result<SourceDocument> ParseSource(std::string_view text, int max_depth) {
  SourceDocument doc;
  Parser parser(text, max_depth);
  if (Status st = parser.Parse(&doc.root); !st.ok()) return st;
  return doc;
}

Value ToValue(const SourceNode& node, Arena* arena) {
  switch (node.kind) {
    case Kind::kNull: return Value::Null();
    case Kind::kBool: return Value::Bool(node.boolean);
    case Kind::kInt: return Value::Int(node.integer);
    case Kind::kDouble: return Value::Double(node.number);
    case Kind::kString: return arena->MakeString(node.text);
    case Kind::kArray: {
      std::vector<Value> items;
      items.reserve(node.items.size());
      for (const SourceNode& item : node.items)
        items.push_back(ToValue(item, arena));
      return arena->MakeArray(items);
    }
    case Kind::kObject: {
      std::vector<Member> members;
      members.reserve(node.members.size());
      for (const SourceMember& m : node.members)
        members.push_back({arena->CopyString(m.key), ToValue(m.value, arena)});
      return arena->MakeObject(members);
    }
    default: return Value::Null();
  }
}

}  // namespace iomt::json
