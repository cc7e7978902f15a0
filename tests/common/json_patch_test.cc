// JSON Patch (RFC 6902) on json::Node: each operation, pointers with
// escapes and array ends, all-or-nothing failures, and decimals that keep
// their lexemes.
#include "common/json/patch.h"

#include <gtest/gtest.h>

namespace iomt::json {
namespace {

// `doc` patched, as compact JSON; or "error <code> <detail>: message".
std::string Patched(const std::string& doc, const std::string& patch) {
  Result<Node> node = ParseNodeExact(doc);
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  if (!node.ok()) return "";
  const std::string before = node->ToJson();
  Status st = ApplyJsonPatch(patch, &*node);
  if (!st.ok()) {
    // All or nothing: a failed patch leaves the document as it was.
    EXPECT_EQ(node->ToJson(), before);
    return std::string("error ") + (st.detail().empty() ? "invalid" : std::string(st.detail())) + ": " + st.message();
  }
  return node->ToJson();
}

TEST(JsonPatch, AddsAtObjectMembersArrayPlacesAndTheEnd) {
  EXPECT_EQ(Patched(R"({"a":1})", R"([{"op":"add","path":"/b","value":{"c":[1]}}])"), R"({"a":1,"b":{"c":[1]}})");
  EXPECT_EQ(Patched(R"({"a":1})", R"([{"op":"add","path":"/a","value":2}])"), R"({"a":2})");  // replaces
  EXPECT_EQ(Patched(R"({"x":[1,3]})", R"([{"op":"add","path":"/x/1","value":2}])"), R"({"x":[1,2,3]})");
  EXPECT_EQ(Patched(R"({"x":[1]})", R"([{"op":"add","path":"/x/-","value":2},{"op":"add","path":"/x/2","value":3}])"),
            R"({"x":[1,2,3]})");
  EXPECT_EQ(Patched(R"({"a":1})", R"([{"op":"add","path":"","value":[true]}])"), "[true]");
  EXPECT_EQ(Patched(R"({})", R"([{"op":"add","path":"/a~1b~0c","value":null}])"), R"({"a/b~c":null})");
  EXPECT_EQ(Patched(R"({"":{"":0}})", R"([{"op":"add","path":"//","value":1}])"), R"({"":{"":1}})");
}

TEST(JsonPatch, RemovesReplacesMovesCopiesAndTests) {
  EXPECT_EQ(Patched(R"({"a":1,"b":2})", R"([{"op":"remove","path":"/a"}])"), R"({"b":2})");
  EXPECT_EQ(Patched(R"({"x":[1,2,3]})", R"([{"op":"remove","path":"/x/0"}])"), R"({"x":[2,3]})");
  EXPECT_EQ(Patched(R"({"a":{"b":1}})", R"([{"op":"replace","path":"/a/b","value":"two"}])"), R"({"a":{"b":"two"}})");
  EXPECT_EQ(Patched(R"({"a":{"b":1},"c":[]})", R"([{"op":"move","from":"/a/b","path":"/c/0"}])"),
            R"({"a":{},"c":[1]})");
  EXPECT_EQ(Patched(R"({"x":[1,2,3]})", R"([{"op":"move","from":"/x/0","path":"/x/-"}])"), R"({"x":[2,3,1]})");
  EXPECT_EQ(Patched(R"({"a":{"b":[1]}})", R"([{"op":"copy","from":"/a","path":"/c"}])"),
            R"({"a":{"b":[1]},"c":{"b":[1]}})");
  // Tests compare structure: members in any order, numbers by value.
  EXPECT_EQ(Patched(R"({"a":{"x":1.0,"y":[2]}})",
                    R"([{"op":"test","path":"/a","value":{"y":[2],"x":1}},{"op":"remove","path":"/a/y"}])"),
            R"({"a":{"x":1.0}})");
}

TEST(JsonPatch, DecimalsKeepTheirLexemes) {
  EXPECT_EQ(Patched(R"({"value":71.50,"n":[1.0e2]})", R"([{"op":"add","path":"/low","value":60.00}])"),
            R"({"value":71.50,"n":[1.0e2],"low":60.00})");
}

TEST(JsonPatch, AnOperationThatCannotApplyIsUnprocessableAndChangesNothing) {
  const std::string doc = R"({"a":{"b":1},"x":[1,2]})";
  for (const char* patch : {
           R"([{"op":"add","path":"/c","value":1},{"op":"remove","path":"/nothing"}])",
           R"([{"op":"replace","path":"/a/c","value":1}])",
           R"([{"op":"add","path":"/q/r","value":1}])",
           R"([{"op":"add","path":"/x/3","value":1}])",
           R"([{"op":"add","path":"/x/01","value":1}])",
           R"([{"op":"remove","path":"/x/-"}])",
           R"([{"op":"test","path":"/a/b","value":"1"}])",
           R"([{"op":"move","from":"/a","path":"/a/b/c"}])",
           R"([{"op":"copy","from":"/none","path":"/c"}])",
           R"([{"op":"remove","path":""}])",
       }) {
    std::string got = Patched(doc, patch);
    EXPECT_TRUE(got.starts_with("error unprocessable: The patch's operation ")) << patch << " -> " << got;
  }
  EXPECT_NE(Patched(doc, R"([{"op":"add","path":"/c","value":1},{"op":"remove","path":"/nothing"}])")
                .find("operation 1 (remove at \"/nothing\")"),
            std::string::npos);
}

TEST(JsonPatch, WhatIsNotAPatchIsInvalid) {
  const std::string doc = R"({"a":1})";
  for (const char* patch : {
           R"({"op":"add","path":"/b","value":1})",
           R"([{"op":"add","path":"/b"}])",
           R"([{"op":"jump","path":"/b"}])",
           R"([{"path":"/b"}])",
           R"([{"op":"add","path":"b","value":1}])",
           R"([{"op":"add","path":"/a~2","value":1}])",
           R"([{"op":"move","path":"/b"}])",
           R"([{'op':'remove','path':'/a'}])",
           "not json",
       }) {
    std::string got = Patched(doc, patch);
    EXPECT_TRUE(got.starts_with("error invalid: Not a JSON Patch document: ")) << patch << " -> " << got;
  }
}

}  // namespace
}  // namespace iomt::json
