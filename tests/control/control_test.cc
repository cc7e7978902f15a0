// The provisioning API's parts that need no server: ARM paths and ids, and
// the durable registry (tests/control/provisioning_test.sh runs the API).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "control/arm_body.h"
#include "control/registry.h"
#include "control/resource_id.h"

namespace iomt::control {
namespace {

constexpr const char* kRg = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.HealthcareApis";

TEST(ResourcePathTest, ParsesEachTypeAndCollection) {
  auto p = ParseResourcePath(std::string(kRg) + "/workspaces/ws1/iotconnectors/conn1/fhirdestinations/dest1");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->type, ResourceType::kFhirDestination);
  EXPECT_FALSE(p->collection);
  EXPECT_EQ(p->Name(), "dest1");
  EXPECT_EQ(p->ParentId(), std::string(kRg) + "/workspaces/ws1/iotconnectors/conn1");
  EXPECT_EQ(p->Id(), std::string(kRg) + "/workspaces/ws1/iotconnectors/conn1/fhirdestinations/dest1");

  p = ParseResourcePath(std::string(kRg) + "/workspaces/ws1/fhirservices");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->collection);
  EXPECT_EQ(p->type, ResourceType::kFhirService);
  EXPECT_EQ(p->Id(), std::string(kRg) + "/workspaces/ws1/fhirservices");
  EXPECT_EQ(p->ParentId(), std::string(kRg) + "/workspaces/ws1");

  p = ParseResourcePath(std::string(kRg) + "/workspaces/ws1/iotconnectors");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Id(), std::string(kRg) + "/workspaces/ws1/iotconnectors");

  p = ParseResourcePath("/SUBSCRIPTIONS/s1/resourcegroups/rg/PROVIDERS/microsoft.healthcareapis/Workspaces/ws1");
  ASSERT_TRUE(p.ok()) << "type segments compare without case";
  EXPECT_EQ(p->type, ResourceType::kWorkspace);

  p = ParseResourcePath("/subscriptions/s1/providers/Microsoft.HealthcareApis/workspaces");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->collection);
  EXPECT_TRUE(p->resource_group.empty());
}

TEST(ResourcePathTest, RefusesWhatItDoesNotServe) {
  auto p = ParseResourcePath("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().detail(), "InvalidResourceNamespace");
  p = ParseResourcePath(std::string(kRg) + "/services/x");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().detail(), "InvalidResourceType");
  p = ParseResourcePath(std::string(kRg) + "/workspaces/ws1/fhirservices/f1/fhirdestinations/d");
  EXPECT_FALSE(p.ok()) << "FHIR services have no destinations";
  p = ParseResourcePath(std::string(kRg) + "/workspaces/ws1/iotconnectors/c1/fhirdestinations/d/more");
  EXPECT_FALSE(p.ok());
  p = ParseResourcePath(std::string(kRg) + "/workspaces//iotconnectors");
  EXPECT_FALSE(p.ok()) << "an empty name";
}

TEST(ResourceNameTest, FollowsArmsRule) {
  EXPECT_TRUE(ValidResourceName("abc"));
  EXPECT_TRUE(ValidResourceName("a-1-b"));
  EXPECT_TRUE(ValidResourceName(std::string(24, 'a')));
  EXPECT_FALSE(ValidResourceName("ab"));
  EXPECT_FALSE(ValidResourceName(std::string(25, 'a')));
  EXPECT_FALSE(ValidResourceName("-ab"));
  EXPECT_FALSE(ValidResourceName("ab-"));
  EXPECT_FALSE(ValidResourceName("Abc"));
  EXPECT_FALSE(ValidResourceName("a_b"));
}

TEST(FhirServiceIdTest, TakesBothFormsAzuresGuideGives) {
  auto ref = ParseFhirServiceId(std::string(kRg) + "/services/fhir1");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->name, "fhir1");
  EXPECT_TRUE(ref->workspace.empty());
  ref = ParseFhirServiceId(std::string(kRg) + "/workspaces/ws1/fhirservices/fhir1/");
  ASSERT_TRUE(ref) << "a trailing slash";
  EXPECT_EQ(ref->workspace, "ws1");
  EXPECT_FALSE(ParseFhirServiceId(std::string(kRg) + "/workspaces/ws1/iotconnectors/c1"));
  EXPECT_FALSE(ParseFhirServiceId("subscriptions/s1/resourceGroups/rg/providers/Microsoft.HealthcareApis/services/f"));
  EXPECT_FALSE(ParseFhirServiceId(std::string(kRg) + "/services/"));
  EXPECT_FALSE(ParseFhirServiceId(""));
}

TEST(ArmBodyTest, KeepsTheMappingAsSentAndDropsReadOnlyMembers) {
  const std::string mapping = "{\n  \"templateType\": \"CollectionContent\",\n  \"template\": []\n}";
  const std::string body = R"({"location":"eastus","properties":{"provisioningState":"Failed",)"
                           R"("ingestionEndpointConfiguration":{"eventHubName":"h","fullyQualifiedEventHubNamespace":)"
                           R"("myhub1.servicebus.windows.net"},"deviceMapping":{"content":)" +
                           mapping + "}}}";
  auto read = ReadBody(ResourceType::kIotConnector, body, nullptr);
  ASSERT_TRUE(std::holds_alternative<Draft>(read));
  const Draft& d = std::get<Draft>(read);
  EXPECT_EQ(d.connector.device_mapping, mapping);
  EXPECT_EQ(d.connector.consumer_group, "$Default");
  EXPECT_EQ(d.record.properties.find("provisioningState"), std::string::npos);
  EXPECT_EQ(ReadConnectorProps(d.record.properties).device_mapping, mapping) << "stored as sent";
}

TEST(ArmBodyTest, SecretsAreKeptApartAndKeptOnUpdate) {
  auto read =
      ReadBody(ResourceType::kFhirService,
               R"({"location":"eastus","properties":{"url":"http://x/fhir","credentials":{"tokenUrl":"http://t",)"
               R"("clientId":"c","clientSecret":"hush"}}})",
               nullptr);
  ASSERT_TRUE(std::holds_alternative<Draft>(read));
  ResourceRecord first = std::get<Draft>(read).record;
  EXPECT_EQ(first.properties.find("hush"), std::string::npos);
  EXPECT_EQ(first.Secret("clientSecret"), "hush");
  read = ReadBody(ResourceType::kFhirService,
                  R"({"location":"eastus","properties":{"url":"http://x/fhir","credentials":{"tokenUrl":"http://t",)"
                  R"("clientId":"c"}}})",
                  &first);
  ASSERT_TRUE(std::holds_alternative<Draft>(read));
  EXPECT_EQ(std::get<Draft>(read).record.Secret("clientSecret"), "hush");
}

TEST(ArmBodyTest, WrongTypesAreNamed) {
  auto read =
      ReadBody(ResourceType::kIotConnector,
               R"({"location":"eastus","properties":{"ingestionEndpointConfiguration":{"eventHubName":7}}})", nullptr);
  ASSERT_TRUE(std::holds_alternative<ApiError>(read));
  EXPECT_EQ(std::get<ApiError>(read).message,
            "The property 'properties.ingestionEndpointConfiguration.eventHubName' must be a string.");
  read = ReadBody(ResourceType::kWorkspace, "[1]", nullptr);
  ASSERT_TRUE(std::holds_alternative<ApiError>(read));
  EXPECT_EQ(std::get<ApiError>(read).code, "InvalidRequestContent");
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/iomt-registry-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/provisioning.json";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
  std::string path_;
};

TEST_F(RegistryTest, SurvivesReopeningWithSecretsAndRawMembers) {
  {
    auto r = Registry::Open(path_);
    ASSERT_TRUE(r.ok());
    ResourceRecord w;
    w.id = std::string(kRg) + "/workspaces/Ws1";
    w.name = "ws1";
    w.location = "eastus";
    w.tags = R"({"a": "b"})";
    ASSERT_TRUE((*r)->Put(w).ok());
    ResourceRecord f;
    f.id = std::string(kRg) + "/workspaces/Ws1/fhirservices/f1";
    f.type = ResourceType::kFhirService;
    f.name = "f1";
    f.properties = "{\"url\":\"http://x\"}";
    f.secrets = {{"bearerToken", "t\"ok\n"}};
    ASSERT_TRUE((*r)->Put(f).ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto r = Registry::Open(path_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ResourceRecord* w = (*r)->Find(std::string(kRg) + "/workspaces/ws1");
  ASSERT_NE(w, nullptr) << "ids compare without case";
  EXPECT_EQ(w->tags, R"({"a": "b"})");
  const ResourceRecord* f = (*r)->Find(std::string(kRg) + "/workspaces/ws1/fhirservices/F1");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->Secret("bearerToken"), "t\"ok\n");
  EXPECT_EQ(f->parent_key(), w->key());
  EXPECT_EQ((*r)->Children(w->id, ResourceType::kFhirService).size(), 1u);
  EXPECT_EQ((*r)->Children(std::string("/subscriptions/s1/resourceGroups/rg"), ResourceType::kWorkspace).size(), 1u);
  ASSERT_TRUE((*r)->Erase({f->id}).ok());
  EXPECT_EQ((*r)->Find(std::string(kRg) + "/workspaces/ws1/fhirservices/f1"), nullptr);
}

TEST_F(RegistryTest, ADamagedFileIsNamedAtOpen) {
  std::ofstream(path_) << "{\"version\":1,\"resources\":[{\"id\":";
  auto r = Registry::Open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path_), std::string::npos);
  EXPECT_NE(r.status().message().find("backup"), std::string::npos);
}

TEST_F(RegistryTest, AFailedSaveChangesNothing) {
  auto r = Registry::Open(dir_ + "/missing-dir/provisioning.json");
  ASSERT_TRUE(r.ok());
  ResourceRecord w;
  w.id = std::string(kRg) + "/workspaces/ws1";
  EXPECT_FALSE((*r)->Put(w).ok());
  EXPECT_EQ((*r)->Find(w.id), nullptr);
}

}  // namespace
}  // namespace iomt::control
