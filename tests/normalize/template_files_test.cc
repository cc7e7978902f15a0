// iomt-fhir's device-mapping fixtures and samples load with the validity,
// errors and line numbers its unit tests assert
// (conformance/cases/device-mapping-files.json).
#include <gtest/gtest.h>

#include <string>

#include "normalize/device_mapping.h"
#include "test_util.h"

namespace iomt::normalize {
namespace {

using json::Value;
using testing::Bool;
using testing::Str;

TEST(DeviceMappingFiles, LoadAsIomtFhirsTestsExpect) {
  Value cases =
      testing::ParseOrDie(testing::ReadFile(testing::SourcePath("conformance/cases/device-mapping-files.json")));
  Value files;
  ASSERT_TRUE(cases.Find("files", &files));
  int checked = 0;
  for (Value f : files.elements()) {
    ++checked;
    std::string path = Str(f, "path");
    SCOPED_TRACE(path);
    std::string text = testing::ReadFile(testing::SourcePath("conformance/iomt-fhir/" + path));
    if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
    if (Bool(f, "wrap")) text = R"({"templateType": "CollectionContent", "template": [)" + text + "]}";
    LoadResult r = LoadDeviceMapping(text);
    EXPECT_EQ(r.ok(), Bool(f, "valid"));
    if (f.Has("errors")) testing::ExpectMappingErrors(r.errors, f);
    Value types, count;
    if (f.Find("types", &types)) {
      ASSERT_EQ(r.mapping.templates.size(), types.size());
      std::size_t i = 0;
      for (Value t : types.elements())
        EXPECT_EQ(r.mapping.templates[i++].type_name, t.string_value());
    }
    if (f.Find("count", &count)) {
      EXPECT_EQ(r.mapping.templates.size(), static_cast<std::size_t>(count.int_value()));
    }
  }
  EXPECT_EQ(checked, 39);
}

}  // namespace
}  // namespace iomt::normalize
