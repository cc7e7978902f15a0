// Identity resolution: which Patient, Device (and Encounter) in the FHIR
// server a group of measurements belongs to, as iomt-fhir resolves them
// (its R4DeviceAndPatient*IdentityService classes; docs/fhir-mappings.md,
// "Patients and Devices"), with two corrections Azure's documentation asks for:
//
// - Create mode compares the Patient the message names with the Patient the
//   Device is linked to, and fails with PatientDeviceMismatchException when
//   they differ (iomt-fhir writes the data to the linked Patient).
// - Lookup checks that the linked Patient exists.
//
// Create mode is race-free: concurrent groups of one new patient create one
// Patient (iomt-fhir #188). Resolved identities are cached by device,
// patient and encounter id, so a device that moves to another patient is
// resolved again.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "store/fhir_client.h"

namespace iomt::identity {

enum class Mode : std::uint8_t { kLookup, kLookupWithEncounter, kCreate };

// "Lookup", "LookupWithEncounter", "Create" in any case, or iomt-fhir's class
// names (R4DeviceAndPatientLookupIdentityService, ...).
Result<Mode> ParseMode(std::string_view name);
std::string_view ToString(Mode mode);

// The logical ids of the resources, for the Observation's references.
struct Identity {
  std::string patient_id;
  std::string device_id;
  std::optional<std::string> encounter_id;
};

// The id in a `Patient/{id}` reference (iomt-fhir's rule: "Patient/" in any
// case, then [A-Za-z0-9_.-~#]+); nullopt for anything else (absolute URLs,
// queries, other types).
std::optional<std::string> PatientIdFromReference(std::string_view reference);

struct ResolverOptions {
  Mode mode = Mode::kCreate;
  // The identifier system of devices (iomt-fhir's
  // ResourceIdentity:DefaultDeviceIdentifierSystem); empty: none.
  std::string device_system;
  // How long a resolved identity is reused without asking the server again.
  std::int64_t cache_ttl_ticks = 10LL * 60 * 10'000'000;
  std::size_t cache_entries = 100'000;
  // The clock (datetime ticks), for tests; default: the system clock.
  std::function<std::int64_t()> clock;
};

class IdentityResolver {
 public:
  IdentityResolver(store::FhirClient* client, ResolverOptions options);

  // Resolves the identity of a group. Failures carry the catalogue name in
  // Status::detail() (DeviceNotFoundException, PatientNotFoundException,
  // EncounterNotFoundException, PatientIdentityNotDefinedException,
  // EncounterIdentityNotDefinedException, PatientDeviceMismatchException,
  // MultipleResourceFoundException) or come from the FhirClient (kUnavailable).
  // Thread-safe.
  Result<Identity> Resolve(std::string_view device_id, const std::optional<std::string>& patient_id,
                           const std::optional<std::string>& encounter_id);

  // The identities of many groups at once, ahead of their Resolve calls,
  // with few round trips: one identifier search for all the Devices the
  // cache does not know, one for their Patients, and in Create mode one
  // PutMany creating the missing Patients and Devices. Resolve then finds
  // what it needs here instead of asking the server one device at a time
  // (with a remote server, five requests for each new device). Decisions stay
  // Resolve's: it applies the same rules to what was fetched. Valid until the
  // next Prefetch; failures leave Resolve to ask the server itself.
  struct Key {
    std::string device_id;
    std::optional<std::string> patient_id;
    std::optional<std::string> encounter_id;
  };
  void Prefetch(const std::vector<Key>& keys);

  [[nodiscard]] std::int64_t patients_created() const { return patients_created_.load(); }
  [[nodiscard]] std::int64_t devices_created() const { return devices_created_.load(); }
  [[nodiscard]] std::int64_t cache_hits() const { return cache_hits_.load(); }

 private:
  Result<Identity> Lookup(std::string_view device_id, const std::optional<std::string>& encounter_id);
  Result<Identity> Create(std::string_view device_id, const std::string& patient_id);
  Result<std::optional<store::Resource>> FindOne(std::string_view type, std::string_view system,
                                                 std::string_view value);
  Result<std::optional<store::Resource>> ReadPatient(const std::string& id);
  // After a write of its own, what the prefetch found for that value is out
  // of date: later lookups ask the server.
  void Forget(std::string_view type, std::string_view value);
  bool CachedFresh(const std::string& key, std::int64_t now);
  static std::string CacheKey(std::string_view device_id, const std::optional<std::string>& patient_id,
                              const std::optional<std::string>& encounter_id);
  std::int64_t Now() const;

  store::FhirClient* client_;
  ResolverOptions options_;
  std::atomic<std::int64_t> patients_created_{0};
  std::atomic<std::int64_t> devices_created_{0};
  std::atomic<std::int64_t> cache_hits_{0};

  struct CacheEntry {
    Identity identity;
    std::int64_t expires = 0;
  };
  // What the last Prefetch found, by identifier value: every resource that
  // has it (empty: none has). Patients also by id.
  struct Prefetched {
    std::unordered_map<std::string, std::vector<store::Resource>> devices;
    std::unordered_map<std::string, std::vector<store::Resource>> patients;
    std::unordered_map<std::string, store::Resource> patients_by_id;
  };
  Mutex prefetch_mu_;
  Prefetched prefetched_ IOMT_GUARDED_BY(prefetch_mu_);

  Mutex cache_mu_;
  std::unordered_map<std::string, CacheEntry> cache_ IOMT_GUARDED_BY(cache_mu_);
  // Creating a patient's resources happens under the lock of its stripe, so
  // two groups of one new patient never both create it.
  std::array<Mutex, 64> create_locks_;
};

}  // namespace iomt::identity
