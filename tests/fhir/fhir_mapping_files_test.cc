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
using testing::Bool;
using testing::Str;

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
    testing::ExpectMappingErrors(r.errors, f);
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
