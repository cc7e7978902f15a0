// Identity resolution (docs/fhir-mappings.md, "Patients and Devices"), with
// the rules of Azure's documentation.
#include "identity/resolver.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "common/sha256.h"
#include "store/memory/memory_client.h"
#include "test_util.h"

namespace iomt::identity {
namespace {

using store::MemoryFhirClient;

void PutPatient(MemoryFhirClient* c, const std::string& id, const std::string& identifier) {
  ASSERT_TRUE(
      c->Put("Patient", id,
             R"({"resourceType":"Patient","id":")" + id + R"(","identifier":[{"value":")" + identifier + R"("}]})",
             std::nullopt)
          .ok());
}

void PutDevice(MemoryFhirClient* c, const std::string& id, const std::string& identifier,
               const std::string& patient_ref, const std::string& system = "") {
  std::string json = R"({"resourceType":"Device","id":")" + id + R"(","identifier":[{)" +
                     (system.empty() ? "" : R"("system":")" + system + R"(",)") + R"("value":")" + identifier +
                     R"("}])";
  if (!patient_ref.empty()) json += R"(,"patient":{"reference":")" + patient_ref + R"("})";
  json += "}";
  ASSERT_TRUE(c->Put("Device", id, json, std::nullopt).ok());
}

ResolverOptions Options(Mode mode) {
  ResolverOptions o;
  o.mode = mode;
  return o;
}

const std::optional<std::string> kNone;

TEST(PatientReference, IomtFhirsRule) {
  json::Value misc =
      testing::ParseOrDie(testing::ReadFile(testing::SourcePath("conformance/iomt-fhir/derived/misc_vectors.json")));
  json::Value section, list;
  ASSERT_TRUE(misc.Find("patientReferenceParsing", &section) && section.Find("cases", &list));
  for (json::Value c : list.elements()) {
    json::Value reference, expect;
    ASSERT_TRUE(c.Find("reference", &reference) && c.Find("expect", &expect));
    std::optional<std::string> got = PatientIdFromReference(reference.string_value());
    if (expect.is_null()) {
      EXPECT_FALSE(got.has_value()) << reference.string_value();
    } else {
      EXPECT_EQ(got, std::string(expect.string_value()));
    }
  }
  EXPECT_EQ(PatientIdFromReference("patient/abc-1.2~#_"), "abc-1.2~#_");
  EXPECT_FALSE(PatientIdFromReference("https://fhir.example/Patient/1").has_value());
  EXPECT_FALSE(PatientIdFromReference("Device/1").has_value());
  EXPECT_FALSE(PatientIdFromReference("Patient/").has_value());
}

TEST(Resolver, ModesByNameAndLegacyClassName) {
  EXPECT_EQ(*ParseMode("create"), Mode::kCreate);
  EXPECT_EQ(*ParseMode("LOOKUP"), Mode::kLookup);
  EXPECT_EQ(*ParseMode("LookupWithEncounter"), Mode::kLookupWithEncounter);
  EXPECT_EQ(*ParseMode("R4DeviceAndPatientCreateIdentityService"), Mode::kCreate);
  EXPECT_FALSE(ParseMode("Guess").ok());
}

TEST(Resolver, LookupFindsDeviceAndItsPatient) {
  MemoryFhirClient c;
  PutPatient(&c, "p-1", "patient-1");
  PutDevice(&c, "d-1", "device-1", "Patient/p-1");
  IdentityResolver r(&c, Options(Mode::kLookup));
  auto id = r.Resolve("device-1", std::string("someone-else"), kNone);  // the message's patient is ignored
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->patient_id, "p-1");
  EXPECT_EQ(id->device_id, "d-1");
  EXPECT_FALSE(id->encounter_id.has_value());
}

TEST(Resolver, LookupFailures) {
  MemoryFhirClient c;
  PutPatient(&c, "p-1", "patient-1");
  PutDevice(&c, "d-none", "no-patient", "");
  PutDevice(&c, "d-abs", "absolute", "https://server/fhir/Patient/p-1");
  PutDevice(&c, "d-gone", "gone", "Patient/p-deleted");
  PutDevice(&c, "d-1", "device-1", "Patient/p-1");
  IdentityResolver r(&c, Options(Mode::kLookup));
  EXPECT_EQ(r.Resolve("unknown", kNone, kNone).status().error_name(), "DeviceNotFoundException");
  EXPECT_EQ(r.Resolve("no-patient", kNone, kNone).status().error_name(), "PatientNotFoundException");
  EXPECT_EQ(r.Resolve("absolute", kNone, kNone).status().error_name(), "PatientNotFoundException");
  // The seed: the linked Patient must exist.
  auto gone = r.Resolve("gone", kNone, kNone);
  EXPECT_EQ(gone.status().error_name(), "PatientNotFoundException");
  EXPECT_NE(gone.status().message().find("Fhir resource of type Patient not found."), std::string::npos);
  EXPECT_EQ(r.Resolve("device-1", kNone, std::string("enc-9")).status().error_name(), "EncounterNotFoundException");
  PutDevice(&c, "d-2", "device-1", "Patient/p-1");
  EXPECT_EQ(r.Resolve("device-1", std::string("x"), kNone).status().error_name(), "MultipleResourceFoundException");
}

TEST(Resolver, Encounters) {
  MemoryFhirClient c;
  PutPatient(&c, "p-1", "patient-1");
  PutDevice(&c, "d-1", "device-1", "Patient/p-1");
  ASSERT_TRUE(c.Put("Encounter", "e-1", R"({"resourceType":"Encounter","id":"e-1","identifier":[{"value":"visit-7"}]})",
                    std::nullopt)
                  .ok());
  IdentityResolver lookup(&c, Options(Mode::kLookup));
  auto id = lookup.Resolve("device-1", kNone, std::string("visit-7"));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->encounter_id, "e-1");
  IdentityResolver with_encounter(&c, Options(Mode::kLookupWithEncounter));
  EXPECT_EQ(with_encounter.Resolve("device-1", kNone, kNone).status().error_name(),
            "EncounterIdentityNotDefinedException");
  EXPECT_EQ(with_encounter.Resolve("device-1", kNone, std::string("  ")).status().error_name(),
            "EncounterIdentityNotDefinedException");
  EXPECT_TRUE(with_encounter.Resolve("device-1", kNone, std::string("visit-7")).ok());
}

TEST(Resolver, CreateMakesPatientAndDeviceWithIomtFhirsIds) {
  MemoryFhirClient c;
  IdentityResolver r(&c, Options(Mode::kCreate));
  auto id = r.Resolve("device1", std::string("patient1"), kNone);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  // misc_vectors.json: sha256("_patient1") and sha256("_device1").
  EXPECT_EQ(id->patient_id, "cd3ee1fc63936b0083c968fe962a726d383ab6ee83af53d4f50507ccd646b68a");
  EXPECT_EQ(id->device_id, "e55c4dadeb1050efd66966053edc1a9f921022858367eff94c3fc7660ed1f1ef");
  EXPECT_EQ(r.patients_created(), 1);
  EXPECT_EQ(r.devices_created(), 1);
  auto patient = c.Read("Patient", id->patient_id);
  ASSERT_TRUE(patient.ok() && patient->has_value());
  EXPECT_EQ((*patient)->json,
            R"({"resourceType":"Patient","id":"cd3ee1fc63936b0083c968fe962a726d383ab6ee83af53d4f50507ccd646b68a",)"
            R"("identifier":[{"value":"patient1"}]})");
  auto device = c.Read("Device", id->device_id);
  ASSERT_TRUE(device.ok() && device->has_value());
  EXPECT_NE((*device)->json.find(R"("patient":{"reference":"Patient/cd3ee1fc)"), std::string::npos);
  // A second resolution finds them: nothing more is created.
  IdentityResolver again(&c, Options(Mode::kCreate));
  auto second = again.Resolve("device1", std::string("patient1"), kNone);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->device_id, id->device_id);
  EXPECT_EQ(again.patients_created() + again.devices_created(), 0);
}

TEST(Resolver, CreateUsesTheDeviceSystem) {
  MemoryFhirClient c;
  ResolverOptions o = Options(Mode::kCreate);
  o.device_system = "mySystem";
  IdentityResolver r(&c, o);
  auto id = r.Resolve("deviceId", std::string("p"), kNone);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->device_id, "fd6eb28968a94406c73e4c3b6f05a142f71e3a1a27f3cf9435019cae48069afa");  // misc_vectors.json
  EXPECT_EQ(c.SearchByIdentifier("Device", "mySystem", "deviceId", 2)->size(), 1u);
}

TEST(Resolver, CreateNeedsAPatientId) {
  MemoryFhirClient c;
  IdentityResolver r(&c, Options(Mode::kCreate));
  EXPECT_EQ(r.Resolve("d", kNone, kNone).status().error_name(), "PatientIdentityNotDefinedException");
  EXPECT_EQ(r.Resolve("d", std::string(" "), kNone).status().error_name(), "PatientIdentityNotDefinedException");
  EXPECT_EQ(c.size(), 0u);
}

TEST(Resolver, CreateRefusesADeviceOfAnotherPatient) {
  // Azure's rule (iomt-fhir writes the data to the linked Patient).
  MemoryFhirClient c;
  IdentityResolver r(&c, Options(Mode::kCreate));
  ASSERT_TRUE(r.Resolve("watch", std::string("alice"), kNone).ok());
  auto bob = r.Resolve("watch", std::string("bob"), kNone);
  EXPECT_EQ(bob.status().error_name(), "PatientDeviceMismatchException");
  EXPECT_NE(bob.status().message().find("bob"), std::string::npos);
  // Also when bob's Patient exists already.
  ASSERT_TRUE(r.Resolve("phone", std::string("bob"), kNone).ok());
  EXPECT_EQ(r.Resolve("watch", std::string("bob"), kNone).status().error_name(), "PatientDeviceMismatchException");
  // And when the device's link points at a Patient that is not there, and is
  // not the one the message names.
  PutDevice(&c, "orphan", "orphan-device", "Patient/missing");
  EXPECT_EQ(r.Resolve("orphan-device", std::string("alice"), kNone).status().error_name(),
            "PatientDeviceMismatchException");
}

TEST(Resolver, CreateLinksADeviceWithoutPatient) {
  MemoryFhirClient c;
  PutDevice(&c, "d-1", "bare", "");
  IdentityResolver r(&c, Options(Mode::kCreate));
  auto id = r.Resolve("bare", std::string("carol"), kNone);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->device_id, "d-1");
  auto device = c.Read("Device", "d-1");
  EXPECT_EQ((*device)->version_id, "2");
  EXPECT_NE((*device)->json.find("\"Patient/" + id->patient_id + "\""), std::string::npos);
  EXPECT_EQ(r.devices_created(), 0);
}

TEST(Resolver, CreateIsRaceFree) {
  // iomt-fhir #188: two devices of a new patient at once make one Patient.
  for (int round = 0; round < 20; ++round) {
    MemoryFhirClient c;
    IdentityResolver r(&c, Options(Mode::kCreate));
    std::vector<std::thread> threads;
    std::vector<Result<Identity>> results(8, Status(StatusCode::kInternal, "not run"));
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back(
          [&, i] { results[i] = r.Resolve("device-" + std::to_string(i), std::string("new"), kNone); });
    }
    for (std::thread& t : threads)
      t.join();
    for (const auto& res : results)
      ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(c.SearchByIdentifier("Patient", "", "new", 10)->size(), 1u);
    EXPECT_EQ(r.patients_created(), 1);
    EXPECT_EQ(r.devices_created(), 8);
  }
}

TEST(Resolver, CacheKeyIncludesThePatient) {
  MemoryFhirClient c;
  std::int64_t now = 0;
  ResolverOptions o = Options(Mode::kCreate);
  o.clock = [&] { return now; };
  o.cache_ttl_ticks = 100;
  IdentityResolver r(&c, o);
  ASSERT_TRUE(r.Resolve("watch", std::string("alice"), kNone).ok());
  ASSERT_TRUE(r.Resolve("watch", std::string("alice"), kNone).ok());
  EXPECT_EQ(r.cache_hits(), 1);
  // A message that names another patient for the device is not answered
  // from the cache.
  EXPECT_EQ(r.Resolve("watch", std::string("bob"), kNone).status().error_name(), "PatientDeviceMismatchException");
  // Entries expire: a device deleted on the server is noticed.
  IdentityResolver lookup(&c, [&] {
    ResolverOptions l = o;
    l.mode = Mode::kLookup;
    return l;
  }());
  ASSERT_TRUE(lookup.Resolve("watch", kNone, kNone).ok());
  std::string device_id = Sha256Hex("_watch");
  ASSERT_TRUE(
      c.Put("Device", device_id, R"({"resourceType":"Device","id":")" + device_id + R"("})", std::nullopt).ok());
  EXPECT_TRUE(lookup.Resolve("watch", kNone, kNone).ok());  // cached
  now += 101;
  EXPECT_EQ(lookup.Resolve("watch", kNone, kNone).status().error_name(), "DeviceNotFoundException");
}

}  // namespace
}  // namespace iomt::identity

namespace iomt::identity {
namespace {

// Counts the round trips a resolver makes.
class CountingClient : public store::FhirClient {
 public:
  Result<std::vector<store::Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                          std::string_view value, std::size_t limit) override {
    ++calls;
    return below.SearchByIdentifier(type, system, value, limit);
  }
  Result<std::optional<store::Resource>> Read(std::string_view type, std::string_view id) override {
    ++calls;
    return below.Read(type, id);
  }
  Result<store::Resource> Put(std::string_view type, std::string_view id, std::string json,
                              std::optional<std::string_view> if_match) override {
    ++calls;
    return below.Put(type, id, std::move(json), if_match);
  }
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    ++calls;
    std::vector<Result<store::Resource>> out;
    for (store::PutRequest& r : requests)
      out.push_back(below.Put(r.type, r.id, std::move(r.json), std::nullopt));
    return out;
  }
  Result<std::vector<store::Resource>> SearchByIdentifiers(std::string_view type, std::string_view system,
                                                           const std::vector<std::string>& values) override {
    ++calls;
    return below.FhirClient::SearchByIdentifiers(type, system, values);
  }
  MemoryFhirClient below;
  int calls = 0;
};

TEST(Resolver, PrefetchResolvesABatchInAFewRoundTrips) {
  CountingClient c;
  // Known: a device of an existing patient; a device without a patient.
  PutPatient(&c.below, "pat-a", "alice");
  PutDevice(&c.below, "dev-a", "watch-a", "Patient/pat-a");
  PutDevice(&c.below, "dev-bare", "bare", "");
  IdentityResolver r(&c, Options(Mode::kCreate));
  std::vector<IdentityResolver::Key> keys;
  for (int i = 0; i < 50; ++i) {
    // 50 new devices of 25 new patients (two each).
    keys.push_back({"new-" + std::to_string(i), "patient-" + std::to_string(i / 2), std::nullopt});
  }
  keys.push_back({"watch-a", std::string("alice"), std::nullopt});
  keys.push_back({"bare", std::string("carol"), std::nullopt});
  keys.push_back({"watch-a", std::string("bob"), std::nullopt});  // a mismatch
  keys.push_back({"no-patient", std::nullopt, std::nullopt});     // cannot be created
  c.calls = 0;
  r.Prefetch(keys);
  EXPECT_EQ(c.calls, 3);  // devices, patients, one PutMany
  EXPECT_EQ(r.patients_created(), 25);
  EXPECT_EQ(r.devices_created(), 50);
  c.calls = 0;
  for (int i = 0; i < 50; ++i) {
    auto id = r.Resolve(keys[i].device_id, keys[i].patient_id, std::nullopt);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    // The ids Create gives.
    EXPECT_EQ(id->device_id, Sha256Hex("_new-" + std::to_string(i)));
    EXPECT_EQ(id->patient_id, Sha256Hex("_patient-" + std::to_string(i / 2)));
  }
  EXPECT_EQ(c.calls, 0);  // all from the prefetch
  auto alice = r.Resolve("watch-a", std::string("alice"), kNone);
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->patient_id, "pat-a");
  // The rest follows Resolve's rules as without a prefetch.
  auto carol = r.Resolve("bare", std::string("carol"), kNone);
  ASSERT_TRUE(carol.ok()) << carol.status().ToString();
  EXPECT_EQ(c.below.Read("Device", "dev-bare")->value().version_id, "2");
  EXPECT_EQ(r.Resolve("watch-a", std::string("bob"), kNone).status().error_name(), "PatientDeviceMismatchException");
  EXPECT_EQ(r.Resolve("no-patient", kNone, kNone).status().error_name(), "PatientIdentityNotDefinedException");
  EXPECT_EQ(r.patients_created(), 26);  // + carol (bob is refused before anything is created)
  EXPECT_EQ(r.devices_created(), 50);
  // Nothing is created twice: a fresh resolver over the same store creates nothing.
  IdentityResolver again(&c, Options(Mode::kCreate));
  again.Prefetch(keys);
  for (std::size_t i = 0; i + 2 < keys.size(); ++i)
    (void)again.Resolve(keys[i].device_id, keys[i].patient_id, keys[i].encounter_id);
  EXPECT_EQ(again.patients_created() + again.devices_created(), 0);
}

TEST(Resolver, PrefetchInLookupModeCreatesNothing) {
  CountingClient c;
  PutPatient(&c.below, "pat-a", "alice");
  PutDevice(&c.below, "dev-a", "watch-a", "Patient/pat-a");
  IdentityResolver r(&c, Options(Mode::kLookup));
  r.Prefetch({{"watch-a", std::nullopt, std::nullopt}, {"unknown", std::string("x"), std::nullopt}});
  EXPECT_EQ(r.Resolve("unknown", std::string("x"), kNone).status().error_name(), "DeviceNotFoundException");
  auto a = r.Resolve("watch-a", kNone, kNone);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->patient_id, "pat-a");
  EXPECT_EQ(c.below.size(), 2u);
}

}  // namespace
}  // namespace iomt::identity
