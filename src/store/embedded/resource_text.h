// What the embedded store reads from and writes into a resource's JSON: the
// index values extracted at write time (identifier, code and reference
// tokens, the Observation's effective time as a range) and the stamped text
// that is stored (`id`, `meta.versionId`, `meta.lastUpdated` set, every
// other member kept byte for byte). Pure functions, no SQLite.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/value.h"
#include "common/status.h"

namespace iomt::store::embedded {

// A stable 64-bit hash (FNV-1a with a final mix): index keys are persisted,
// so this must never change for a given store format.
std::int64_t Hash64(std::string_view s);

// The part of a store split in `parts` files that holds type/id
// (docs/adr/0029): the high bits of Hash64("type/id"), since its low bits
// also pick the store's own key rows. Persisted in effect (each resource
// lives in its part): never change it for a given store format.
std::size_t PartOfResource(std::string_view type, std::string_view id, std::size_t parts);

// Search parameters backed by the token table. The number is part of the
// stored key (with the type's number): never renumber. kKey is not taken from
// the JSON: it is the resource's own "type/id" (value hash ResourceKey, system
// 0), one row per resource written at its creation and never removed, by
// which a resource is found (docs/adr/0008).
enum class TokenParam : std::uint8_t { kKey = 0, kIdentifier = 1, kSubject = 2, kPatient = 3, kDevice = 4, kCode = 5 };

// One token of a resource: `value` is the identifier value, the code, or the
// referenced id; `system` the identifier system, the code system, or the
// referenced type (hash of "" when there is none).
struct TokenRow {
  TokenParam param;
  std::int64_t value_hash;
  std::int64_t system_hash;
  friend bool operator==(const TokenRow&, const TokenRow&) = default;
};

struct IndexRows {
  std::vector<TokenRow> tokens;
  // Observation.effective[x] as an inclusive range of UTC milliseconds.
  std::optional<std::int64_t> date_lo;
  std::optional<std::int64_t> date_hi;
};

// The index rows of a parsed resource.
void ExtractIndex(const json::Value& root, IndexRows* out);

// A FHIR date, dateTime or instant ("2023", "2023-10", "2023-10-09",
// "2023-10-09T19:00", "2023-10-09T19:00:00.1234567+02:00") as the inclusive
// range of UTC milliseconds it covers. A time without a zone is UTC.
bool ParseDateRange(std::string_view s, std::int64_t* lo, std::int64_t* hi);

// "2023-10-09T19:00:00.000Z".
std::string FormatInstant(std::int64_t unix_ms);

// "Patient/x", "http://base/Patient/x", "Patient/x/_history/2" give type
// "Patient" and id "x"; "x" gives an empty type. False for an empty id.
bool SplitReference(std::string_view reference, std::string_view* type, std::string_view* id);

// Writes to `out` the text to store: `json` (a parsed, valid JSON object)
// with its "id" set to `id` and its "meta" holding `version` and
// `last_updated` (other meta members kept), members in their order ("id"
// and "meta" are added after "resourceType" when absent).
void StampResource(std::string_view json, std::string_view id, std::int64_t version, std::string_view last_updated,
                   std::string* out);

}  // namespace iomt::store::embedded

namespace iomt::store::embedded {

// The text of member `key` of the JSON object `object` (valid JSON), as
// written; empty when absent. Lets bundles hand each entry's resource on
// without re-serializing it (decimals keep their lexemes: 1.50 stays 1.50).
std::string_view RawMember(std::string_view object, std::string_view key);
struct MemberText {
  std::string_view key;    // as written, without quotes
  std::string_view value;  // the value's text
};
// The members of the JSON object `object` (valid JSON), in order.
std::vector<MemberText> Members(std::string_view object);

// How much of each matching resource a search answers with: FHIR's
// `_summary` and `_elements`.
enum class Summary : std::uint8_t { kFalse, kTrue, kText, kData, kCount };
struct ResultShape {
  Summary summary = Summary::kFalse;
  std::vector<std::string> elements;  // `_elements`; empty when not asked for
  // Nothing is left out (kCount answers with no resources at all).
  [[nodiscard]] bool whole() const {
    return (summary == Summary::kFalse || summary == Summary::kCount) && elements.empty();
  }
};
// Whether `_summary=true` knows the summary elements of `type` (those of
// the resources iomt writes: Observation, Patient, Device, Encounter).
bool HasSummaryElements(std::string_view type);
// `json`, a stored resource of `type`, cut down to `shape`: its
// resourceType, id and meta always stay, so do the elements FHIR makes
// mandatory for the type; its meta gets the SUBSETTED tag. Members keep
// their order and their text as written. `json` itself when `shape` is whole.
std::string ShapeResource(std::string_view type, std::string_view json, const ResultShape& shape);

// The texts of the elements of the JSON array `array` (valid JSON).
std::vector<std::string_view> RawElements(std::string_view array);

}  // namespace iomt::store::embedded
