#include "identity/resolver.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <unordered_set>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/mutex.h"
#include "common/sha256.h"

namespace iomt::identity {
namespace {

// `reason` tells apart the causes of one error name (the advice differs).
Status Failure(ErrorName name, std::string message, std::string_view reason = {}) {
  return Status(StatusCode::kNotFound, std::move(message)).WithError(name).WithDetail(std::string(reason));
}

// iomt-fhir's message for a resource it could not find, with what was looked for.
std::string NotFound(std::string_view type, std::string_view detail) {
  return "Fhir resource of type " + std::string(type) + " not found. " + std::string(detail);
}

bool IsBlank(const std::optional<std::string>& s) {
  return !s || std::all_of(s->begin(), s->end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x) == (y >= 'A' && y <= 'Z' ? y - 'A' + 'a' : y);
         });
}

// The `patient.reference` of a Device, or "" when it has none.
std::string PatientReference(const store::Resource& device) {
  json::Document doc;
  if (!doc.Parse(device.json).ok()) return {};
  json::Value patient, reference;
  if (doc.root().Find("patient", &patient) && patient.Find("reference", &reference) && reference.is_string()) {
    return std::string(reference.string_value());
  }
  return {};
}

std::string IdentifierJson(std::string_view system, std::string_view value) {
  std::string out = "[{";
  if (!system.empty()) {
    out.append("\"system\":");
    json::AppendQuoted(&out, system);
    out.push_back(',');
  }
  out.append("\"value\":");
  json::AppendQuoted(&out, value);
  out.append("}]");
  return out;
}

std::string DeviceJson(std::string_view id, std::string_view system, std::string_view device_id,
                       std::string_view patient_id) {
  std::string out = R"({"resourceType":"Device","id":)";
  json::AppendQuoted(&out, id);
  out.append(",\"identifier\":").append(IdentifierJson(system, device_id));
  out.append(",\"patient\":{\"reference\":");
  json::AppendQuoted(&out, "Patient/" + std::string(patient_id));
  out.append("}}");
  return out;
}

// The Device with its `patient` set (the rest kept).
Result<std::string> WithPatient(const store::Resource& device, std::string_view patient_id) {
  json::Document doc;
  IOMT_RETURN_IF_ERROR(doc.Parse(device.json));
  std::string out = "{";
  bool first = true;
  for (auto [key, value] : doc.root().members()) {
    if (key == "patient") continue;
    if (!first) out.push_back(',');
    first = false;
    json::AppendQuoted(&out, key);
    out.push_back(':');
    json::AppendJson(&out, value);
  }
  if (!first) out.push_back(',');
  out.append("\"patient\":{\"reference\":");
  json::AppendQuoted(&out, "Patient/" + std::string(patient_id));
  out.append("}}");
  return out;
}

}  // namespace

Result<Mode> ParseMode(std::string_view name) {
  struct Name {
    std::string_view name;
    Mode mode;
  };
  static constexpr Name kNames[] = {
      {"Lookup", Mode::kLookup},
      {"LookupWithEncounter", Mode::kLookupWithEncounter},
      {"Create", Mode::kCreate},
      {"R4DeviceAndPatientLookupIdentityService", Mode::kLookup},
      {"R4DeviceAndPatientWithEncounterLookupIdentityService", Mode::kLookupWithEncounter},
      {"R4DeviceAndPatientCreateIdentityService", Mode::kCreate},
  };
  for (const Name& n : kNames) {
    if (EqualsIgnoreCase(name, n.name)) return n.mode;
  }
  return InvalidArgument("unknown identity resolution '" + std::string(name) +
                         "': use Create, Lookup or LookupWithEncounter");
}

std::string_view ToString(Mode mode) {
  switch (mode) {
    case Mode::kLookup: return "Lookup";
    case Mode::kLookupWithEncounter: return "LookupWithEncounter";
    case Mode::kCreate: return "Create";
  }
  return "Create";
}

std::optional<std::string> PatientIdFromReference(std::string_view reference) {
  constexpr std::string_view kPrefix = "Patient/";
  if (reference.size() <= kPrefix.size() || !EqualsIgnoreCase(reference.substr(0, kPrefix.size()), kPrefix)) {
    return std::nullopt;
  }
  std::string_view id = reference.substr(kPrefix.size());
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-' || c == '~' || c == '#';
    if (!ok) return std::nullopt;
  }
  return std::string(id);
}

IdentityResolver::IdentityResolver(store::FhirClient* client, ResolverOptions options)
    : client_(client), options_(std::move(options)) {}

std::int64_t IdentityResolver::Now() const {
  if (options_.clock) return options_.clock();
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count() / 100;
}

Result<std::optional<store::Resource>> IdentityResolver::FindOne(std::string_view type, std::string_view system,
                                                                 std::string_view value) {
  std::vector<store::Resource> found;
  bool known = false;
  {
    // What the batch's prefetch found (Devices in the device system,
    // Patients in any system: the searches Resolve makes).
    MutexLock lock(prefetch_mu_);
    const bool device = type == "Device" && system == options_.device_system;
    const bool patient = type == "Patient" && system.empty();
    if (device || patient) {
      auto& map = device ? prefetched_.devices : prefetched_.patients;
      auto it = map.find(std::string(value));
      if (it != map.end()) {
        found = it->second;
        known = true;
      }
    }
  }
  if (!known) {
    IOMT_ASSIGN_OR_RETURN(found, client_->SearchByIdentifier(type, system, value, 2));
  }
  if (found.empty()) return std::optional<store::Resource>();
  if (found.size() > 1) {
    std::string message = "Multiple resources " + std::to_string(found.size()) + " of type " + std::string(type) +
                          " found, expected one. Resource metadata: ";
    for (std::size_t i = 0; i < found.size(); ++i) {
      if (i > 0) message += ", ";
      message += "[Resource Id:" + found[i].id + "; VersionId:" + found[i].version_id + "]";
    }
    message += ". Identifier: " + std::string(value) + ".";
    return Status(StatusCode::kInvalidArgument, message).WithError(ErrorName::kMultipleResourceFound);
  }
  return std::optional<store::Resource>(std::move(found.front()));
}

void IdentityResolver::Forget(std::string_view type, std::string_view value) {
  MutexLock lock(prefetch_mu_);
  (type == "Device" ? prefetched_.devices : prefetched_.patients).erase(std::string(value));
}

Result<std::optional<store::Resource>> IdentityResolver::ReadPatient(const std::string& id) {
  {
    MutexLock lock(prefetch_mu_);
    auto it = prefetched_.patients_by_id.find(id);
    if (it != prefetched_.patients_by_id.end()) return std::optional<store::Resource>(it->second);
  }
  return client_->Read("Patient", id);
}

namespace {

// The (system, value) pairs of a resource's identifiers.
std::vector<std::pair<std::string, std::string>> Identifiers(const store::Resource& r) {
  std::vector<std::pair<std::string, std::string>> out;
  json::Document doc;
  if (!doc.Parse(r.json).ok()) return out;
  json::Value list;
  if (!doc.root().Find("identifier", &list) || !list.is_array()) return out;
  for (json::Value item : list.elements()) {
    json::Value system, value;
    if (!item.Find("value", &value) || !value.is_string()) continue;
    out.emplace_back(item.Find("system", &system) && system.is_string() ? std::string(system.string_value()) : "",
                     std::string(value.string_value()));
  }
  return out;
}

// Files each found resource under the wanted values it has (with `system`
// when one is given); every wanted value gets an entry, empty when nothing
// has it.
void FileByIdentifier(const std::vector<store::Resource>& found, std::string_view system,
                      const std::vector<std::string>& wanted,
                      std::unordered_map<std::string, std::vector<store::Resource>>* out) {
  for (const std::string& v : wanted)
    (*out)[v];
  for (const store::Resource& r : found) {
    for (const auto& [s, v] : Identifiers(r)) {
      if (!system.empty() && s != system) continue;
      auto it = out->find(v);
      if (it == out->end()) continue;
      bool dup =
          std::any_of(it->second.begin(), it->second.end(), [&](const store::Resource& x) { return x.id == r.id; });
      if (!dup) it->second.push_back(r);
    }
  }
}

}  // namespace

std::string IdentityResolver::CacheKey(std::string_view device_id, const std::optional<std::string>& patient_id,
                                       const std::optional<std::string>& encounter_id) {
  std::string key(device_id);
  key.push_back('\0');
  if (patient_id) key.append(*patient_id);
  key.push_back('\0');
  if (encounter_id) key.append(*encounter_id);
  return key;
}

bool IdentityResolver::CachedFresh(const std::string& key, std::int64_t now) {
  MutexLock lock(cache_mu_);
  auto it = cache_.find(key);
  return it != cache_.end() && it->second.expires > now;
}

void IdentityResolver::Prefetch(const std::vector<Key>& keys) {
  const std::int64_t now = Now();
  std::vector<std::string> devices;
  std::vector<std::string> patients;
  std::vector<const Key*> open;
  {
    std::unordered_map<std::string, bool> seen_device;
    std::unordered_map<std::string, bool> seen_patient;
    for (const Key& k : keys) {
      if (k.device_id.empty() || CachedFresh(CacheKey(k.device_id, k.patient_id, k.encounter_id), now)) continue;
      open.push_back(&k);
      if (seen_device.emplace(k.device_id, true).second) devices.push_back(k.device_id);
      if (!IsBlank(k.patient_id) && seen_patient.emplace(*k.patient_id, true).second) patients.push_back(*k.patient_id);
    }
  }
  Prefetched fetched;
  if (!devices.empty()) {
    auto found = client_->SearchByIdentifiers("Device", options_.device_system, devices);
    if (found.ok()) FileByIdentifier(*found, options_.device_system, devices, &fetched.devices);
  }
  if (!patients.empty() && options_.mode == Mode::kCreate) {
    auto found = client_->SearchByIdentifiers("Patient", "", patients);
    if (found.ok()) FileByIdentifier(*found, "", patients, &fetched.patients);
  }
  for (const auto& [value, list] : fetched.patients) {
    for (const store::Resource& r : list)
      fetched.patients_by_id.emplace(r.id, r);
  }

  // Create mode: the Patients and Devices that do not exist yet, in one
  // round trip (what Create would write, with the same ids). Only for
  // devices found nowhere; a found Device is linked or checked by Resolve.
  if (options_.mode == Mode::kCreate) {
    std::vector<store::PutRequest> puts;
    std::vector<std::pair<bool, std::string>> what;  // (is patient, identifier value)
    std::unordered_map<std::string, std::string> new_patient_id;
    std::unordered_set<std::string> creating;
    for (const Key* k : open) {
      auto d = fetched.devices.find(k->device_id);
      if (d == fetched.devices.end() || !d->second.empty() || IsBlank(k->patient_id)) continue;
      // A device is created once, for the first key that names it.
      if (!creating.insert(k->device_id).second) continue;
      auto p = fetched.patients.find(*k->patient_id);
      if (p == fetched.patients.end() || p->second.size() > 1) continue;  // not fetched, or ambiguous
      std::string patient_id;
      if (!p->second.empty()) {
        patient_id = p->second.front().id;
      } else if (auto it = new_patient_id.find(*k->patient_id); it != new_patient_id.end()) {
        patient_id = it->second;
      } else {
        patient_id = Sha256Hex("_" + *k->patient_id);
        new_patient_id.emplace(*k->patient_id, patient_id);
        std::string json = R"({"resourceType":"Patient","id":)";
        json::AppendQuoted(&json, patient_id);
        json.append(",\"identifier\":").append(IdentifierJson("", *k->patient_id)).push_back('}');
        puts.push_back({"Patient", patient_id, std::move(json), std::nullopt});
        what.emplace_back(true, *k->patient_id);
      }
      std::string device_id = Sha256Hex(options_.device_system + "_" + k->device_id);
      puts.push_back(
          {"Device", device_id, DeviceJson(device_id, options_.device_system, k->device_id, patient_id), std::nullopt});
      what.emplace_back(false, k->device_id);
    }
    if (!puts.empty()) {
      auto written = client_->PutMany(std::move(puts));
      if (written.ok()) {
        for (std::size_t i = 0; i < written->size() && i < what.size(); ++i) {
          const auto& [is_patient, value] = what[i];
          auto& map = is_patient ? fetched.patients : fetched.devices;
          if (!(*written)[i].ok()) {
            map.erase(value);  // Resolve asks the server itself
            continue;
          }
          const store::Resource& r = *(*written)[i];
          map[value] = {r};
          if (is_patient) {
            fetched.patients_by_id[r.id] = r;
            ++patients_created_;
          } else {
            ++devices_created_;
          }
        }
      } else {
        // Nothing is known about what was written: forget the absences.
        for (const auto& [is_patient, value] : what)
          (is_patient ? fetched.patients : fetched.devices).erase(value);
      }
    }
  }
  MutexLock lock(prefetch_mu_);
  prefetched_ = std::move(fetched);
}

Result<Identity> IdentityResolver::Lookup(std::string_view device_id, const std::optional<std::string>& encounter_id) {
  IOMT_ASSIGN_OR_RETURN(std::optional<store::Resource> device, FindOne("Device", options_.device_system, device_id));
  if (!device) {
    return Failure(ErrorName::kDeviceNotFound,
                   NotFound("Device", "No Device has the identifier " +
                                          (options_.device_system.empty() ? "" : options_.device_system + "|") +
                                          std::string(device_id) + "."));
  }
  std::string reference = PatientReference(*device);
  std::optional<std::string> patient_id = PatientIdFromReference(reference);
  if (!patient_id) {
    return Failure(ErrorName::kPatientNotFound,
                   NotFound("Patient", reference.empty() ? "Device/" + device->id + " has no patient reference."
                                                         : "Device/" + device->id + " refers to '" + reference +
                                                               "', which is not a reference of the form Patient/{id}."),
                   reference.empty() ? kReasonDevicePatientUnset : kReasonDevicePatientInvalid);
  }
  IOMT_ASSIGN_OR_RETURN(std::optional<store::Resource> patient, ReadPatient(*patient_id));
  if (!patient) {
    return Failure(ErrorName::kPatientNotFound, NotFound("Patient", "Device/" + device->id + " refers to Patient/" +
                                                                        *patient_id + ", which does not exist."));
  }
  Identity identity{*patient_id, device->id, std::nullopt};
  if (!IsBlank(encounter_id)) {
    IOMT_ASSIGN_OR_RETURN(std::optional<store::Resource> encounter, FindOne("Encounter", "", *encounter_id));
    if (!encounter) {
      return Failure(ErrorName::kEncounterNotFound,
                     NotFound("Encounter", "No Encounter has the identifier " + *encounter_id + "."));
    }
    identity.encounter_id = encounter->id;
  }
  return identity;
}

Result<Identity> IdentityResolver::Create(std::string_view device_id, const std::string& patient_id) {
  std::size_t stripe = std::hash<std::string>{}(patient_id) % create_locks_.size();
  MutexLock lock(create_locks_[stripe]);

  // The Patient: found by its identifier value in any system, or created
  // with iomt-fhir's deterministic id.
  IOMT_ASSIGN_OR_RETURN(std::optional<store::Resource> patient, FindOne("Patient", "", patient_id));
  if (!patient) {
    std::string id = Sha256Hex("_" + patient_id);
    std::string json = R"({"resourceType":"Patient","id":)";
    json::AppendQuoted(&json, id);
    json.append(",\"identifier\":").append(IdentifierJson("", patient_id)).push_back('}');
    IOMT_ASSIGN_OR_RETURN(store::Resource created, client_->Put("Patient", id, std::move(json), std::nullopt));
    Forget("Patient", patient_id);
    ++patients_created_;
    patient = std::move(created);
  }

  IOMT_ASSIGN_OR_RETURN(std::optional<store::Resource> device, FindOne("Device", options_.device_system, device_id));
  if (!device) {
    std::string id = Sha256Hex(options_.device_system + "_" + std::string(device_id));
    IOMT_ASSIGN_OR_RETURN(
        store::Resource created,
        client_->Put("Device", id, DeviceJson(id, options_.device_system, device_id, patient->id), std::nullopt));
    Forget("Device", device_id);
    ++devices_created_;
    return Identity{patient->id, created.id, std::nullopt};
  }
  std::string reference = PatientReference(*device);
  if (reference.empty()) {
    IOMT_ASSIGN_OR_RETURN(std::string linked, WithPatient(*device, patient->id));
    IOMT_RETURN_IF_ERROR(client_->Put("Device", device->id, std::move(linked), device->version_id).status());
    Forget("Device", device_id);
    return Identity{patient->id, device->id, std::nullopt};
  }
  std::optional<std::string> linked = PatientIdFromReference(reference);
  if (!linked || *linked != patient->id) {
    return Failure(ErrorName::kPatientDeviceMismatch, "Device/" + device->id + " is linked to '" + reference +
                                                          "', and the message names patient " + patient_id +
                                                          " (Patient/" + patient->id + ").");
  }
  return Identity{patient->id, device->id, std::nullopt};
}

Result<Identity> IdentityResolver::Resolve(std::string_view device_id, const std::optional<std::string>& patient_id,
                                           const std::optional<std::string>& encounter_id) {
  const std::string key = CacheKey(device_id, patient_id, encounter_id);
  const std::int64_t now = Now();
  {
    MutexLock lock(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires > now) {
      ++cache_hits_;
      return it->second.identity;
    }
  }

  Result<Identity> resolved = Status(StatusCode::kInternal, "unreachable");
  if (options_.mode == Mode::kLookupWithEncounter && IsBlank(encounter_id)) {
    return Failure(ErrorName::kEncounterIdentityNotDefined,
                   NotFound("Encounter", "LookupWithEncounter needs an encounter id, and the measurement has none."));
  }
  resolved = Lookup(device_id, encounter_id);
  if (options_.mode == Mode::kCreate) {
    if (resolved.ok()) {
      // Azure's rule: the Device's Patient must be the one the message names.
      if (!IsBlank(patient_id)) {
        IOMT_ASSIGN_OR_RETURN(std::optional<store::Resource> named, FindOne("Patient", "", *patient_id));
        if (!named || named->id != resolved->patient_id) {
          return Failure(ErrorName::kPatientDeviceMismatch,
                         "Device/" + resolved->device_id + " is linked to Patient/" + resolved->patient_id +
                             ", and the message names patient " + *patient_id +
                             (named ? " (Patient/" + named->id + ")." : ", which has no Patient yet."));
        }
      }
    } else if (resolved.status().error() == ErrorName::kDeviceNotFound ||
               resolved.status().error() == ErrorName::kPatientNotFound) {
      if (IsBlank(patient_id)) {
        return Failure(ErrorName::kPatientIdentityNotDefined,
                       NotFound("Patient",
                                "Create mode needs a patient id to create the Patient, and the measurement "
                                "of device " +
                                    std::string(device_id) + " has none."));
      }
      // As in iomt-fhir, the encounter is not resolved on the create path.
      resolved = Create(device_id, *patient_id);
    }
  }
  if (!resolved.ok()) return resolved;

  MutexLock lock(cache_mu_);
  if (cache_.size() >= options_.cache_entries) {
    std::erase_if(cache_, [&](const auto& entry) { return entry.second.expires <= now; });
    if (cache_.size() >= options_.cache_entries) cache_.clear();
  }
  cache_[key] = CacheEntry{*resolved, now + options_.cache_ttl_ticks};
  return resolved;
}

}  // namespace iomt::identity
