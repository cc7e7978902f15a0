// A small mutable JSON tree, for the few places that edit a document rather
// than read it: merging new readings into an Observation that is already in
// the FHIR server, and keeping resources in memory. Everything on the data
// path that only reads uses json::Value (no copies); this one owns its text.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json/value.h"
#include "common/status.h"

namespace iomt::json {

class Node {
 public:
  using Member = std::pair<std::string, Node>;

  Node() = default;  // null
  static Node Bool(bool b);
  static Node Number(std::string lexeme);  // a valid JSON number
  static Node String(std::string s);
  static Node Array(std::vector<Node> items = {});
  static Node Object(std::vector<Member> members = {});
  // A deep copy of `v` (numbers keep their value, not their lexeme: 1.50 -> 1.5).
  static Node From(const Value& v);

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] bool is_null() const { return kind_ == Kind::kNull; }
  [[nodiscard]] bool is_string() const { return kind_ == Kind::kString; }
  [[nodiscard]] bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kDouble; }
  [[nodiscard]] bool is_array() const { return kind_ == Kind::kArray; }
  [[nodiscard]] bool is_object() const { return kind_ == Kind::kObject; }
  [[nodiscard]] bool bool_value() const { return bool_; }
  // A string's text, or a number's lexeme.
  [[nodiscard]] const std::string& text() const { return text_; }
  std::string& mutable_text() { return text_; }

  [[nodiscard]] const std::vector<Node>& items() const { return items_; }
  std::vector<Node>& items() { return items_; }
  [[nodiscard]] const std::vector<Member>& members() const { return members_; }
  std::vector<Member>& members() { return members_; }

  // The member `key` of an object, or nullptr.
  [[nodiscard]] const Node* Find(std::string_view key) const;
  Node* Find(std::string_view key);
  // Replaces the member `key`, or appends it.
  Node& Set(std::string_view key, Node value);
  // Removes the member `key`; false when there was none.
  bool Erase(std::string_view key);

  void AppendTo(std::string* out) const;
  [[nodiscard]] std::string ToJson() const;

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  std::string text_;
  std::vector<Node> items_;
  std::vector<Member> members_;
};

// Parses JSON text into a Node.
Result<Node> ParseNode(std::string_view text);

// Structural equality: object members in any order, numbers by value
// (22.40 == 22.4), strings by bytes.
bool Equals(const Node& a, const Node& b);

}  // namespace iomt::json
