#include "common/json/patch.h"

#include <initializer_list>
#include <optional>
#include <vector>

#include "common/json/document.h"
#include "common/json/source.h"

namespace iomt::json {
namespace {

Node FromSource(const SourceNode& n) {
  switch (n.kind) {
    case Kind::kNull: return {};
    case Kind::kBool: return Node::Bool(n.boolean);
    case Kind::kString: return Node::String(n.text);
    case Kind::kArray: {
      std::vector<Node> items;
      items.reserve(n.items.size());
      for (const SourceNode& e : n.items)
        items.push_back(FromSource(e));
      return Node::Array(std::move(items));
    }
    case Kind::kObject: {
      std::vector<Node::Member> members;
      members.reserve(n.members.size());
      for (const SourceMember& m : n.members)
        members.emplace_back(m.key, FromSource(m.value));
      return Node::Object(std::move(members));
    }
    default: return Node::Number(n.text);  // the lexeme as written
  }
}

using Pointer = std::vector<std::string>;

// RFC 6901: "" is the whole document; "/a/b~1c/0" is a, b/c, 0.
std::optional<Pointer> ParsePointer(std::string_view text) {
  Pointer out;
  if (text.empty()) return out;
  if (text[0] != '/') return std::nullopt;
  for (std::size_t i = 0; i < text.size();) {
    ++i;  // '/'
    std::string token;
    while (i < text.size() && text[i] != '/') {
      if (text[i] == '~') {
        if (i + 1 >= text.size() || (text[i + 1] != '0' && text[i + 1] != '1')) return std::nullopt;
        token.push_back(text[i + 1] == '0' ? '~' : '/');
        i += 2;
      } else {
        token.push_back(text[i++]);
      }
    }
    out.push_back(std::move(token));
  }
  return out;
}

// An array index: "0" or digits without a leading zero, below `limit`
// (inclusive when `may_end`, for an add at the end); "-" is the end when
// `may_end`.
std::optional<std::size_t> Index(const std::string& token, std::size_t size, bool may_end) {
  if (token == "-") return may_end ? std::optional<std::size_t>(size) : std::nullopt;
  if (token.empty() || token.size() > 9 || (token.size() > 1 && token[0] == '0')) return std::nullopt;
  std::size_t n = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  if (n > size || (n == size && !may_end)) return std::nullopt;
  return n;
}

// The node at `pointer`, or nullptr.
Node* Resolve(Node* root, const Pointer& pointer, std::size_t depth) {
  Node* at = root;
  for (std::size_t i = 0; i < depth && at != nullptr; ++i) {
    if (at->is_object()) {
      at = at->Find(pointer[i]);
    } else if (at->is_array()) {
      std::optional<std::size_t> k = Index(pointer[i], at->items().size(), false);
      at = k ? &at->items()[*k] : nullptr;
    } else {
      at = nullptr;
    }
  }
  return at;
}

Node* Resolve(Node* root, const Pointer& pointer) { return Resolve(root, pointer, pointer.size()); }

bool Add(Node* root, const Pointer& path, Node value) {
  if (path.empty()) {
    *root = std::move(value);
    return true;
  }
  Node* parent = Resolve(root, path, path.size() - 1);
  if (parent == nullptr) return false;
  if (parent->is_object()) {
    parent->Set(path.back(), std::move(value));
    return true;
  }
  if (!parent->is_array()) return false;
  std::optional<std::size_t> k = Index(path.back(), parent->items().size(), true);
  if (!k) return false;
  parent->items().insert(parent->items().begin() + static_cast<std::ptrdiff_t>(*k), std::move(value));
  return true;
}

bool Remove(Node* root, const Pointer& path) {
  if (path.empty()) return false;
  Node* parent = Resolve(root, path, path.size() - 1);
  if (parent == nullptr) return false;
  if (parent->is_object()) return parent->Erase(path.back());
  if (!parent->is_array()) return false;
  std::optional<std::size_t> k = Index(path.back(), parent->items().size(), false);
  if (!k) return false;
  parent->items().erase(parent->items().begin() + static_cast<std::ptrdiff_t>(*k));
  return true;
}

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts)
    out.append(p);
  return out;
}

Status NotAPatch(std::string_view why) { return InvalidArgument(Cat({"Not a JSON Patch document: ", why})); }

}  // namespace

Result<Node> ParseNodeExact(std::string_view text) {
  // Checked by the strict parser first (ParseSource reads as Json.NET
  // does, which allows more than JSON).
  Document strict;
  IOMT_RETURN_IF_ERROR(strict.Parse(text));
  IOMT_ASSIGN_OR_RETURN(SourceDocument source, ParseSource(text));
  return FromSource(source.root);
}

Status ApplyJsonPatch(std::string_view patch, Node* doc) {
  Result<Node> parsed = ParseNodeExact(patch);
  if (!parsed.ok()) return NotAPatch(parsed.status().message());
  if (!parsed->is_array()) return NotAPatch("it is not an array of operations.");
  Node work = *doc;
  std::size_t index = 0;
  for (Node& op : parsed->items()) {
    const std::string where = "operation " + std::to_string(index++);
    const Node* name = op.is_object() ? op.Find("op") : nullptr;
    const Node* path_text = op.is_object() ? op.Find("path") : nullptr;
    if (name == nullptr || !name->is_string() || path_text == nullptr || !path_text->is_string()) {
      return NotAPatch(where + " needs \"op\" and \"path\" strings.");
    }
    const std::string& kind = name->text();
    std::optional<Pointer> path = ParsePointer(path_text->text());
    if (!path) return NotAPatch(Cat({where, ": \"", path_text->text(), "\" is not a JSON Pointer."}));
    const bool takes_value = kind == "add" || kind == "replace" || kind == "test";
    const bool takes_from = kind == "move" || kind == "copy";
    if (!takes_value && !takes_from && kind != "remove") {
      return NotAPatch(Cat({where, ": unknown op \"", kind, "\" (add, remove, replace, move, copy, test)."}));
    }
    Node* value = op.Find("value");
    if (takes_value && value == nullptr) return NotAPatch(Cat({where, " (", kind, ") needs a \"value\"."}));
    std::optional<Pointer> from;
    std::string from_text;
    if (takes_from) {
      const Node* f = op.Find("from");
      if (f == nullptr || !f->is_string() || !(from = ParsePointer(f->text()))) {
        return NotAPatch(Cat({where, " (", kind, ") needs a \"from\" JSON Pointer."}));
      }
      from_text = f->text();
    }
    auto fail = [&](std::string_view why) {
      return InvalidArgument(Cat({"The patch's ", where, " (", kind, " at \"", path_text->text(), "\") ", why}))
          .WithDetail("unprocessable");
    };
    if (kind == "add") {
      if (!Add(&work, *path, std::move(*value))) return fail("has no place to add at.");
    } else if (kind == "remove") {
      if (!Remove(&work, *path)) return fail("finds nothing to remove.");
    } else if (kind == "replace") {
      Node* target = Resolve(&work, *path);
      if (target == nullptr) return fail("finds nothing to replace.");
      *target = std::move(*value);
    } else if (kind == "test") {
      Node* target = Resolve(&work, *path);
      if (target == nullptr || !Equals(*target, *value)) return fail("failed: the value there is not the one given.");
    } else {
      Node* source = Resolve(&work, *from);
      if (source == nullptr) return fail(Cat({"finds nothing at \"", from_text, "\"."}));
      Node copy = *source;
      if (kind == "move") {
        // A value cannot move into itself.
        if (path->size() > from->size() && std::equal(from->begin(), from->end(), path->begin())) {
          return fail("would move a value into itself.");
        }
        (void)Remove(&work, *from);
      }
      if (!Add(&work, *path, std::move(copy))) return fail("has no place to add at.");
    }
  }
  *doc = std::move(work);
  return Status::Ok();
}

}  // namespace iomt::json
