// A Pratt parser for JMESPath, and Expression::Compile.
//
// Binding powers follow the specification's precedence (the same table the
// reference implementation uses): pipe < or < and < comparators < flatten <
// star < filter < dot < not < '{' < '[' < '('. A projection ([*], [], [?],
// .*, slices) applies everything to its right whose binding power is at least
// kProjectionStop to each element.
//
// Left-associative chains (a.b.c, a | b | c, a || b || c) are built as one
// n-ary node rather than a left-deep tree, so a long chain is neither deep to
// evaluate nor refused; real nesting is bounded by kMaxNesting, both as parser
// recursion and as tree height.
#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/json/document.h"
#include "expr/jmespath/ast.h"
#include "expr/jmespath/interpreter.h"
#include "expr/jmespath/jmespath.h"
#include "expr/jmespath/lexer.h"

namespace iomt::jmespath {
namespace internal {
namespace {

constexpr int kProjectionStop = 10;

int BindingPower(TokenType t) {
  switch (t) {
    case TokenType::kPipe: return 1;
    case TokenType::kOr: return 2;
    case TokenType::kAnd: return 3;
    case TokenType::kEq:
    case TokenType::kNe:
    case TokenType::kLt:
    case TokenType::kLte:
    case TokenType::kGt:
    case TokenType::kGte: return 5;
    case TokenType::kFlatten: return 9;
    case TokenType::kStar: return 20;
    case TokenType::kFilter: return 21;
    case TokenType::kDot: return 40;
    case TokenType::kNot: return 45;
    case TokenType::kLbrace: return 50;
    case TokenType::kLbracket: return 55;
    case TokenType::kLparen: return 60;
    default: return 0;
  }
}

class Program final : public Expression {
 public:
  explicit Program(std::string text) : text_(std::move(text)) {}

  Result<json::Value> Evaluate(const json::Value& input, json::Arena* arena) const override {
    if (arena == nullptr) return InvalidArgument("JMESPath evaluation needs an arena");
    EvalContext ctx;
    ctx.arena = arena;
    json::Value out;
    if (!Eval(root_, input, &out, &ctx)) return std::move(ctx.status);
    return out;
  }

  [[nodiscard]] const std::string& text() const override { return text_; }

  // JmesPath.Net marks a result as a projection when the last step that
  // produced it projected: a projection node, or a chain (dots, pipes) whose
  // last link is one.
  [[nodiscard]] bool IsProjection() const override {
    const Node* n = root_;
    while (n != nullptr && n->type == NodeType::kChain && !n->children.empty())
      n = n->children.back();
    return n != nullptr && n->type == NodeType::kProjection;
  }

  std::string text_;
  std::deque<Node> nodes_;
  json::Arena strings_;                       // decoded identifiers and raw strings
  std::unique_ptr<json::Document> literals_;  // every `literal`, as one JSON array
  const Node* root_ = nullptr;
};

class Parser {
 public:
  Parser(Program* program, const std::vector<Token>& tokens) : program_(program), tokens_(tokens) {}

  Status Run() {
    Node* root = Expr(0);
    if (root != nullptr && !At(TokenType::kEof)) Fail(Peek(), "unexpected " + Describe(Peek()));
    if (!error_.ok()) return std::move(error_);
    IOMT_RETURN_IF_ERROR(ResolveLiterals());
    program_->root_ = root;
    return Status::Ok();
  }

 private:
  // --- tokens ---
  [[nodiscard]] const Token& Peek(std::size_t k = 0) const {
    std::size_t i = pos_ + k;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  [[nodiscard]] bool At(TokenType type) const { return Peek().type == type; }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }

  // --- errors: the first one wins; every caller returns at once ---
  std::nullptr_t Fail(const Token& at, std::string message, const char* detail = "syntax") {
    if (error_.ok()) error_ = SyntaxError(std::move(message)).WithDetail(detail).WithPosition(at.begin);
    return nullptr;
  }
  // Consumes a token of `type`, or fails with "expected <what> but found ...".
  bool Expect(TokenType type, const char* what) {
    if (At(type)) {
      Next();
      return true;
    }
    Fail(Peek(), std::string("expected ") + what + " but found " + Describe(Peek()));
    return false;
  }

  // --- nodes ---
  Node* New(NodeType type, std::uint32_t position) {
    Node& n = program_->nodes_.emplace_back();
    n.type = type;
    n.position = position;
    return &n;
  }
  // Sets the height of `n` from its children; fails past kMaxNesting.
  Node* Finish(Node* n) {
    int d = 0;
    for (const Node* c : {n->lhs, n->rhs, n->condition}) {
      if (c != nullptr) d = std::max<int>(d, c->depth);
    }
    for (const Node* c : n->children)
      d = std::max<int>(d, c->depth);
    return SetDepth(n, d + 1);
  }
  Node* SetDepth(Node* n, int depth) {
    if (depth > kMaxNesting) return TooDeep(n->position);
    n->depth = static_cast<std::uint16_t>(depth);
    return n;
  }
  std::nullptr_t TooDeep(std::uint32_t position) {
    Token at;
    at.begin = position;
    return Fail(at, "the expression nests too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
  }
  Node* Identity(std::uint32_t position) { return New(NodeType::kIdentity, position); }
  Node* Projection(ProjectionKind kind, Node* lhs, Node* rhs, Node* condition = nullptr) {
    if (lhs == nullptr || rhs == nullptr) return nullptr;
    Node* n = New(NodeType::kProjection, lhs->position);
    n->projection = kind;
    n->lhs = lhs;
    n->rhs = rhs;
    n->condition = condition;
    return Finish(n);
  }
  // left then right, each on the previous result (sub-expressions and pipes).
  Node* Chain(Node* left, Node* right) {
    if (left == nullptr || right == nullptr) return nullptr;
    Node* chain = left;
    if (left->type != NodeType::kChain) {
      chain = New(NodeType::kChain, left->position);
      chain->children.push_back(left);
      chain->depth = static_cast<std::uint16_t>(left->depth + 1);
    }
    int depth = chain->depth;
    if (right->type == NodeType::kChain) {
      chain->children.insert(chain->children.end(), right->children.begin(), right->children.end());
      depth = std::max<int>(depth, right->depth);
    } else {
      chain->children.push_back(right);
      depth = std::max<int>(depth, right->depth + 1);
    }
    return SetDepth(chain, depth);
  }
  // a || b || c (and &&) as one node: both operators are associative.
  Node* Junction(NodeType type, Node* left, Node* right) {
    if (left == nullptr || right == nullptr) return nullptr;
    Node* n = left;
    if (left->type != type) {
      n = New(type, left->position);
      n->children.push_back(left);
    }
    n->children.push_back(right);
    return Finish(n);
  }

  // --- grammar ---
  Node* Expr(int rbp) {
    if (nesting_ >= kMaxNesting) return TooDeep(Peek().begin);
    ++nesting_;
    Node* left = Nud();
    while (left != nullptr && rbp < BindingPower(Peek().type))
      left = Led(left);
    --nesting_;
    return left;
  }

  Node* Nud() {
    // `&expr` may only start a function argument.
    const bool expref_allowed = expref_allowed_;
    expref_allowed_ = false;
    const Token& t = Next();
    switch (t.type) {
      case TokenType::kLiteral: return Literal(t);
      case TokenType::kRawString: {
        Node* n = New(NodeType::kLiteral, t.begin);
        n->literal = json::Value::String(t.text);
        return n;
      }
      case TokenType::kUnquotedIdentifier: {
        Node* n = New(NodeType::kField, t.begin);
        n->name = t.text;
        return n;
      }
      case TokenType::kQuotedIdentifier: {
        if (At(TokenType::kLparen)) return Fail(t, "a function name cannot be quoted");
        Node* n = New(NodeType::kField, t.begin);
        n->name = t.text;
        return n;
      }
      case TokenType::kStar:
        return Projection(ProjectionKind::kObject, Identity(t.begin), ProjectionRhs(BindingPower(TokenType::kStar)));
      case TokenType::kFilter: return Filter(Identity(t.begin));
      case TokenType::kFlatten:
        return Projection(ProjectionKind::kFlatten, Identity(t.begin),
                          ProjectionRhs(BindingPower(TokenType::kFlatten)));
      case TokenType::kLbrace: return MultiHash(t);
      case TokenType::kLbracket: {
        if (At(TokenType::kNumber) || At(TokenType::kColon)) {
          Node* index = IndexOrSlice();
          if (index == nullptr || index->type == NodeType::kIndex) return index;
          return Projection(ProjectionKind::kList, index, ProjectionRhs(BindingPower(TokenType::kStar)));
        }
        if (At(TokenType::kStar) && Peek(1).type == TokenType::kRbracket) {
          Next();
          Next();
          return Projection(ProjectionKind::kList, Identity(t.begin), ProjectionRhs(BindingPower(TokenType::kStar)));
        }
        return MultiList(t);
      }
      case TokenType::kLparen: {
        Node* inner = Expr(0);
        if (inner == nullptr || !Expect(TokenType::kRparen, "')'")) return nullptr;
        return inner;
      }
      case TokenType::kCurrent: return Identity(t.begin);
      case TokenType::kExpref: {
        if (!expref_allowed) return Fail(t, "'&expression' is only allowed as a function argument");
        Node* n = New(NodeType::kExpRef, t.begin);
        n->lhs = Expr(0);
        return n->lhs == nullptr ? nullptr : Finish(n);
      }
      case TokenType::kNot: {
        Node* n = New(NodeType::kNot, t.begin);
        n->lhs = Expr(BindingPower(TokenType::kNot));
        return n->lhs == nullptr ? nullptr : Finish(n);
      }
      case TokenType::kEof: return Fail(t, "unexpected end of expression");
      default: return Fail(t, "unexpected " + Describe(t));
    }
  }

  Node* Led(Node* left) {
    const std::size_t at = pos_;
    const Token& t = Next();
    switch (t.type) {
      case TokenType::kDot:
        if (At(TokenType::kStar)) {
          Next();
          return Projection(ProjectionKind::kObject, left, ProjectionRhs(BindingPower(TokenType::kDot)));
        }
        return Chain(left, DotRhs(BindingPower(TokenType::kDot)));
      case TokenType::kPipe: return Chain(left, Expr(BindingPower(TokenType::kPipe)));
      case TokenType::kOr: return Junction(NodeType::kOr, left, Expr(BindingPower(TokenType::kOr)));
      case TokenType::kAnd: return Junction(NodeType::kAnd, left, Expr(BindingPower(TokenType::kAnd)));
      case TokenType::kEq: return Compare(CompareOp::kEq, left);
      case TokenType::kNe: return Compare(CompareOp::kNe, left);
      case TokenType::kLt: return Compare(CompareOp::kLt, left);
      case TokenType::kLte: return Compare(CompareOp::kLte, left);
      case TokenType::kGt: return Compare(CompareOp::kGt, left);
      case TokenType::kGte: return Compare(CompareOp::kGte, left);
      case TokenType::kLparen:
        // Only a bare name directly before '(' calls a function.
        if (left->type != NodeType::kField || at == 0 || tokens_[at - 1].type != TokenType::kUnquotedIdentifier) {
          return Fail(t, "unexpected '(' (only a function name can be called)");
        }
        return Function(tokens_[at - 1]);
      case TokenType::kFilter: return Filter(left);
      case TokenType::kFlatten:
        return Projection(ProjectionKind::kFlatten, left, ProjectionRhs(BindingPower(TokenType::kFlatten)));
      case TokenType::kLbracket: {
        if (At(TokenType::kNumber) || At(TokenType::kColon)) {
          Node* index = IndexOrSlice();
          if (index == nullptr || index->type == NodeType::kIndex) return Chain(left, index);
          return Projection(ProjectionKind::kList, Chain(left, index), ProjectionRhs(BindingPower(TokenType::kStar)));
        }
        if (!At(TokenType::kStar)) {
          return Fail(Peek(), "expected a number, ':' or '*' after '[' but found " + Describe(Peek()));
        }
        Next();
        if (!Expect(TokenType::kRbracket, "']'")) return nullptr;
        return Projection(ProjectionKind::kList, left, ProjectionRhs(BindingPower(TokenType::kStar)));
      }
      default: return Fail(t, "unexpected " + Describe(t));
    }
  }

  Node* Compare(CompareOp op, Node* left) {
    Node* right = Expr(BindingPower(TokenType::kEq));
    if (right == nullptr) return nullptr;
    Node* n = New(NodeType::kCompare, left->position);
    n->op = op;
    n->lhs = left;
    n->rhs = right;
    return Finish(n);
  }

  // What follows a projection: nothing (tokens that bind weaker end it), or
  // '.', '[' or '[?' continuing the expression applied to each element.
  Node* ProjectionRhs(int rbp) {
    const Token& t = Peek();
    if (BindingPower(t.type) < kProjectionStop) return Identity(t.begin);
    switch (t.type) {
      case TokenType::kLbracket:
      case TokenType::kFilter: return Expr(rbp);
      case TokenType::kDot: Next(); return DotRhs(rbp);
      default: return Fail(t, "unexpected " + Describe(t) + " after a projection (expected '.', '[' or '[?')");
    }
  }

  // After '.': an identifier, '*', a function call, '[...]' or '{...}'.
  Node* DotRhs(int rbp) {
    const Token& t = Peek();
    switch (t.type) {
      case TokenType::kUnquotedIdentifier:
      case TokenType::kQuotedIdentifier:
      case TokenType::kStar: return Expr(rbp);
      case TokenType::kLbracket: return MultiList(Next());
      case TokenType::kLbrace: return MultiHash(Next());
      default: return Fail(t, "expected an identifier, '*', '[' or '{' after '.' but found " + Describe(t));
    }
  }

  // After '[' when a number or ':' follows: [i] or [start:stop:step].
  Node* IndexOrSlice() {
    const Token& first = Peek();
    if (first.type == TokenType::kNumber && Peek(1).type == TokenType::kRbracket) {
      Node* n = New(NodeType::kIndex, first.begin);
      n->index = Next().number;
      Next();
      return n;
    }
    Node* n = New(NodeType::kSlice, first.begin);
    int part = 0;
    while (true) {
      if (At(TokenType::kNumber)) {
        n->slice[part] = Next().number;
        n->slice_given = static_cast<std::uint8_t>(n->slice_given | (1 << part));
      }
      if (At(TokenType::kRbracket)) {
        Next();
        return n;
      }
      if (At(TokenType::kColon) && part < 2) {
        Next();
        ++part;
        continue;
      }
      if (part == 0) {
        // "[1 ..." reads as an index gone wrong more often than as a slice.
        const char* expected = (n->slice_given & 1) ? "']'" : "a number, ':' or ']'";
        return Fail(Peek(), std::string("expected ") + expected + " but found " + Describe(Peek()));
      }
      const char* expected = part == 2 ? "']'" : "':' or ']'";
      if (!(n->slice_given & (1 << part))) expected = part == 2 ? "a number or ']'" : "a number, ':' or ']'";
      return Fail(Peek(), std::string("expected ") + expected + " in a slice but found " + Describe(Peek()));
    }
  }

  Node* Filter(Node* left) {
    Node* condition = Expr(0);
    if (condition == nullptr || !Expect(TokenType::kRbracket, "']'")) return nullptr;
    return Projection(ProjectionKind::kFilter, left, ProjectionRhs(BindingPower(TokenType::kFilter)), condition);
  }

  Node* MultiList(const Token& open) {
    Node* n = New(NodeType::kMultiList, open.begin);
    while (true) {
      Node* item = Expr(0);
      if (item == nullptr) return nullptr;
      n->children.push_back(item);
      if (At(TokenType::kComma)) {
        Next();
        continue;
      }
      if (!Expect(TokenType::kRbracket, "',' or ']'")) return nullptr;
      return Finish(n);
    }
  }

  Node* MultiHash(const Token& open) {
    Node* n = New(NodeType::kMultiHash, open.begin);
    while (true) {
      const Token& key = Peek();
      if (key.type != TokenType::kUnquotedIdentifier && key.type != TokenType::kQuotedIdentifier) {
        return Fail(key, "expected a key (an identifier) but found " + Describe(key));
      }
      Next();
      if (!Expect(TokenType::kColon, "':'")) return nullptr;
      Node* value = Expr(0);
      if (value == nullptr) return nullptr;
      // A repeated key keeps its first place and its last value, as a JSON
      // object built key by key would.
      bool replaced = false;
      for (std::size_t i = 0; i < n->keys.size(); ++i) {
        if (n->keys[i] == key.text) {
          n->children[i] = value;
          replaced = true;
        }
      }
      if (!replaced) {
        n->keys.push_back(key.text);
        n->children.push_back(value);
      }
      if (At(TokenType::kComma)) {
        Next();
        continue;
      }
      if (!Expect(TokenType::kRbrace, "',' or '}'")) return nullptr;
      return Finish(n);
    }
  }

  // name( args ): the '(' has been consumed.
  Node* Function(const Token& name) {
    Node* n = New(NodeType::kFunction, name.begin);
    n->name = name.text;
    if (At(TokenType::kRparen)) {
      Next();
    } else {
      while (true) {
        expref_allowed_ = true;
        Node* arg = Expr(0);
        if (arg == nullptr) return nullptr;
        n->children.push_back(arg);
        if (At(TokenType::kComma)) {
          Next();
          continue;
        }
        if (!Expect(TokenType::kRparen, "',' or ')'")) return nullptr;
        break;
      }
    }
    const FunctionInfo* info = LookupFunction(name.text);
    if (info == nullptr) return Fail(name, "unknown function " + std::string(name.text) + "()", "unknown-function");
    const auto argc = static_cast<int>(n->children.size());
    if (argc < info->min_args || (info->max_args >= 0 && argc > info->max_args)) {
      std::string expected = std::to_string(info->min_args);
      if (info->max_args < 0) expected = "at least " + expected;
      return Fail(name,
                  "function " + std::string(name.text) + "() takes " + expected + " argument" +
                      (info->min_args == 1 ? "" : "s") + " but " + std::to_string(argc) +
                      (argc == 1 ? " was" : " were") + " given",
                  "invalid-arity");
    }
    n->function = info->id;
    return Finish(n);
  }

  // `json`: checked now (so that the error points at it), and parsed for
  // keeps together with the others once the whole expression is read.
  Node* Literal(const Token& t) {
    if (scratch_ == nullptr) scratch_ = std::make_unique<json::Document>();
    if (Status st = scratch_->Parse(t.text); !st.ok()) {
      std::string message = st.message();
      if (message.starts_with("invalid JSON: ")) message.erase(0, 14);
      return Fail(t, "invalid JSON literal: " + message);
    }
    Node* n = New(NodeType::kLiteral, t.begin);
    literal_nodes_.push_back(n);
    literal_texts_.push_back(t.text);
    return n;
  }

  // One Document holds every literal of the expression as an array, so that
  // an expression with many literals keeps one parser's buffers, not many.
  Status ResolveLiterals() {
    if (literal_nodes_.empty()) return Status::Ok();
    std::string all = "[";
    for (std::size_t i = 0; i < literal_texts_.size(); ++i) {
      if (i > 0) all.push_back(',');
      all.append(literal_texts_[i]);
    }
    all.push_back(']');
    json::ParseOptions options;
    options.max_depth += 1;  // the enclosing array
    auto doc = std::make_unique<json::Document>(options);
    if (Status st = doc->Parse(all); !st.ok()) return Internal("JMESPath literals did not re-parse: " + st.message());
    std::size_t i = 0;
    for (json::Value v : doc->root().elements()) {
      if (i < literal_nodes_.size()) literal_nodes_[i]->literal = v;
      ++i;
    }
    if (i != literal_nodes_.size()) return Internal("JMESPath literals did not re-parse");
    program_->literals_ = std::move(doc);
    return Status::Ok();
  }

  Program* program_;
  const std::vector<Token>& tokens_;
  std::size_t pos_ = 0;
  int nesting_ = 0;
  bool expref_allowed_ = false;
  Status error_;
  std::unique_ptr<json::Document> scratch_;
  std::vector<Node*> literal_nodes_;
  std::vector<std::string_view> literal_texts_;
};

}  // namespace
}  // namespace internal

Result<std::unique_ptr<const Expression>> Expression::Compile(std::string_view text) {
  if (text.size() > internal::kMaxExpressionBytes) {
    return SyntaxError("the expression is " + std::to_string(text.size()) + " bytes long; the limit is " +
                       std::to_string(internal::kMaxExpressionBytes) + " bytes")
        .WithDetail("syntax");
  }
  auto program = std::make_unique<internal::Program>(std::string(text));
  std::vector<internal::Token> tokens;
  IOMT_RETURN_IF_ERROR(internal::Tokenize(program->text_, &program->strings_, &tokens));
  IOMT_RETURN_IF_ERROR(internal::Parser(program.get(), tokens).Run());
  return std::unique_ptr<const Expression>(std::move(program));
}

}  // namespace iomt::jmespath
