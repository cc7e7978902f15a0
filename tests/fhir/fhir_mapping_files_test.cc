// iomt-fhir's FHIR-mapping fixtures and samples load with the validity,
// errors, line numbers and contents its unit tests assert
// (conformance/cases/fhir-mapping-files.json).
#include <gtest/gtest.h>

#include <string>

#include "fhir/fhir_mapping.h"
#include "test_util.h"

namespace iomt::fhir {
namespace {

using json::Value;

std::string Str(const Value& obj, std::string_view key) {
  Value v;
  return obj.Find(key, &v) && v.is_string() ? std::string(v.string_value()) : std::string();
}
bool Bool(const Value& obj, std::string_view key) {
  Value v;
  return obj.Find(key, &v) && v.is_bool() && v.bool_value();
}

TEST(FhirMappingFiles, LoadAsIomtFhirsTestsExpect) {
  Value cases =
      testing::ParseOrDie(testing::ReadFile(testing::SourcePath("conformance/cases/fhir-mapping-files.json")));
  Value files;
  ASSERT_TRUE(cases.Find("files", &files));
  int checked = 0;
  for (Value f : files.elements()) {
    ++checked;
    std::string path = Str(f, "path");
    SCOPED_TRACE(path);
    std::string text = testing::ReadFile(testing::SourcePath("conformance/iomt-fhir/" + path));
    FhirLoadResult r = Bool(f, "single") ? LoadCodeValueFhirTemplate(text) : LoadFhirMapping(text);
    EXPECT_EQ(r.ok(), Bool(f, "valid"));
    Value errors;
    if (f.Find("errors", &errors)) {
      std::size_t i = 0;
      for (Value e : errors.elements()) {
        ASSERT_LT(i, r.errors.size()) << "missing error: " << Str(e, "contains");
        EXPECT_NE(r.errors[i].message.find(Str(e, "contains")), std::string::npos)
            << r.errors[i].message << "\n  does not contain\n"
            << Str(e, "contains");
        Value line;
        if (e.Find("line", &line)) {
          EXPECT_EQ(r.errors[i].pos.line, line.int_value()) << r.errors[i].message;
        }
        ++i;
      }
      if (Bool(f, "exact")) {
        EXPECT_EQ(r.errors.size(), i);
        for (std::size_t j = i; j < r.errors.size(); ++j)
          ADD_FAILURE() << "unexpected: " << r.errors[j].message;
      }
    } else {
      for (const MappingError& e : r.errors)
        ADD_FAILURE() << "unexpected: " << e.ToIomtFhirString();
    }
    Value types, count, templates;
    if (f.Find("types", &types)) {
      ASSERT_EQ(r.mapping.templates.size(), types.size());
      std::size_t i = 0;
      for (Value t : types.elements())
        EXPECT_EQ(r.mapping.templates[i++].type_name, t.string_value());
    }
    if (f.Find("count", &count)) {
      EXPECT_EQ(r.mapping.templates.size(), static_cast<std::size_t>(count.int_value()));
    }
    if (f.Find("templates", &templates)) {
      ASSERT_GE(r.mapping.templates.size(), templates.size());
      std::size_t i = 0;
      for (Value expected : templates.elements()) {
        std::string described = DescribeJson(r.mapping.templates[i++]);
        std::string where;
        EXPECT_TRUE(testing::JsonContains(testing::ParseOrDie(described), expected, &where))
            << "template " << i - 1 << where << "\n"
            << described;
      }
    }
  }
  EXPECT_EQ(checked, 27);
}

}  // namespace
}  // namespace iomt::fhir
