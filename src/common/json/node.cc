#include "common/json/node.h"

#include <algorithm>
#include <cstdlib>

#include "common/json/document.h"
#include "common/json/writer.h"

namespace iomt::json {

Node Node::Bool(bool b) {
  Node n;
  n.kind_ = Kind::kBool;
  n.bool_ = b;
  return n;
}

Node Node::Number(std::string lexeme) {
  Node n;
  bool integer = lexeme.find_first_of(".eE") == std::string::npos;
  n.kind_ = integer ? Kind::kInt : Kind::kDouble;
  n.text_ = std::move(lexeme);
  return n;
}

Node Node::String(std::string s) {
  Node n;
  n.kind_ = Kind::kString;
  n.text_ = std::move(s);
  return n;
}

Node Node::Array(std::vector<Node> items) {
  Node n;
  n.kind_ = Kind::kArray;
  n.items_ = std::move(items);
  return n;
}

Node Node::Object(std::vector<Member> members) {
  Node n;
  n.kind_ = Kind::kObject;
  n.members_ = std::move(members);
  return n;
}

Node Node::From(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull: return {};
    case Kind::kBool: return Bool(v.bool_value());
    case Kind::kString: return String(std::string(v.string_value()));
    case Kind::kArray: {
      std::vector<Node> items;
      items.reserve(v.size());
      for (Value e : v.elements())
        items.push_back(From(e));
      return Array(std::move(items));
    }
    case Kind::kObject: {
      std::vector<Member> members;
      members.reserve(v.size());
      for (auto [key, value] : v.members())
        members.emplace_back(std::string(key), From(value));
      return Object(std::move(members));
    }
    default: return Number(json::ToJson(v));
  }
}

const Node* Node::Find(std::string_view key) const {
  for (const Member& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Node* Node::Find(std::string_view key) {
  for (Member& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Node& Node::Set(std::string_view key, Node value) {
  if (Node* existing = Find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  members_.emplace_back(std::string(key), std::move(value));
  return members_.back().second;
}

bool Node::Erase(std::string_view key) {
  auto it = std::find_if(members_.begin(), members_.end(), [&](const Member& m) { return m.first == key; });
  if (it == members_.end()) return false;
  members_.erase(it);
  return true;
}

void Node::AppendTo(std::string* out) const {
  switch (kind_) {
    case Kind::kNull: out->append("null"); return;
    case Kind::kBool: out->append(bool_ ? "true" : "false"); return;
    case Kind::kString: AppendQuoted(out, text_); return;
    case Kind::kArray:
      out->push_back('[');
      for (std::size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) out->push_back(',');
        items_[i].AppendTo(out);
      }
      out->push_back(']');
      return;
    case Kind::kObject:
      out->push_back('{');
      for (std::size_t i = 0; i < members_.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendQuoted(out, members_[i].first);
        out->push_back(':');
        members_[i].second.AppendTo(out);
      }
      out->push_back('}');
      return;
    default: out->append(text_); return;
  }
}

std::string Node::ToJson() const {
  std::string out;
  AppendTo(&out);
  return out;
}

Result<Node> ParseNode(std::string_view text) {
  // simdjson's buffers are kept from one parse to the next.
  thread_local Document doc;
  IOMT_RETURN_IF_ERROR(doc.Parse(text));
  return Node::From(doc.root());
}

bool Equals(const Node& a, const Node& b) {
  if (a.is_number() && b.is_number()) {
    return a.text() == b.text() || std::strtod(a.text().c_str(), nullptr) == std::strtod(b.text().c_str(), nullptr);
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kNull: return true;
    case Kind::kBool: return a.bool_value() == b.bool_value();
    case Kind::kString: return a.text() == b.text();
    case Kind::kArray:
      if (a.items().size() != b.items().size()) return false;
      for (std::size_t i = 0; i < a.items().size(); ++i) {
        if (!Equals(a.items()[i], b.items()[i])) return false;
      }
      return true;
    case Kind::kObject:
      if (a.members().size() != b.members().size()) return false;
      for (const Node::Member& m : a.members()) {
        const Node* other = b.Find(m.first);
        if (other == nullptr || !Equals(m.second, *other)) return false;
      }
      return true;
    default: return false;
  }
}

}  // namespace iomt::json
