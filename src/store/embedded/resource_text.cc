#include "store/embedded/resource_text.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "common/json/writer.h"

namespace iomt::store::embedded {
namespace {

constexpr std::int64_t kMsPerDay = 86'400'000;

std::string_view StringMember(const json::Value& v, std::string_view key) {
  json::Value m;
  if (v.Find(key, &m) && m.is_string()) return m.string_value();
  return {};
}

void AddReference(const json::Value& root, std::string_view member, TokenParam param, IndexRows* out) {
  json::Value ref;
  if (!root.Find(member, &ref) || !ref.is_object()) return;
  std::string_view type, id;
  if (!SplitReference(StringMember(ref, "reference"), &type, &id)) return;
  out->tokens.push_back({param, Hash64(id), Hash64(type)});
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, std::size_t at, std::size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Skips one JSON value starting at `i` (the text is known to be valid JSON);
// returns the index just past it.
std::size_t SkipValue(std::string_view s, std::size_t i) {
  if (s[i] == '"') {
    // memchr to the next quote; a quote after an odd run of backslashes is
    // escaped.
    const char* data = s.data();
    for (++i;;) {
      const auto* q = static_cast<const char*>(std::memchr(data + i, '"', s.size() - i));
      if (q == nullptr) return s.size();
      std::size_t at = static_cast<std::size_t>(q - data);
      std::size_t backslashes = 0;
      while (at - backslashes > i && data[at - backslashes - 1] == '\\')
        ++backslashes;
      if (backslashes % 2 == 0) return at + 1;
      i = at + 1;
    }
  }
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c == '"') {
        i = SkipValue(s, i) - 1;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return i;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' && s[i] != '\t' &&
         s[i] != '\r')
    ++i;
  return i;
}

std::size_t SkipSpace(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
    ++i;
  return i;
}

}  // namespace

std::vector<MemberText> Members(std::string_view s) {
  std::vector<MemberText> out;
  std::size_t i = SkipSpace(s, 0);
  if (i >= s.size() || s[i] != '{') return out;
  ++i;
  while (true) {
    i = SkipSpace(s, i);
    if (i >= s.size() || s[i] != '"') break;
    std::size_t key_end = SkipValue(s, i);
    std::string_view key = s.substr(i + 1, key_end - i - 2);
    i = SkipSpace(s, key_end);
    i = SkipSpace(s, i + 1);  // past ':'
    std::size_t value_end = SkipValue(s, i);
    out.push_back({key, s.substr(i, value_end - i)});
    i = SkipSpace(s, value_end);
    if (i >= s.size() || s[i] != ',') break;
    ++i;
  }
  return out;
}

namespace {

void AppendMeta(std::string_view old_meta, std::int64_t version, std::string_view last_updated, std::string* out) {
  out->append(R"("meta":{"versionId":")").append(std::to_string(version)).append(R"(","lastUpdated":")");
  out->append(last_updated).append("\"");
  for (const MemberText& m : Members(old_meta)) {
    if (m.key == "versionId" || m.key == "lastUpdated") continue;
    out->append(",\"").append(m.key).append("\":").append(m.value);
  }
  out->push_back('}');
}

}  // namespace

std::int64_t Hash64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  // FNV's low bits mix poorly; the murmur3 finalizer spreads them.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return static_cast<std::int64_t>(h);
}

std::size_t PartOfResource(std::string_view type, std::string_view id, std::size_t parts) {
  if (parts <= 1) return 0;
  std::string key(type);
  key.push_back('/');
  key.append(id);
  return static_cast<std::size_t>(static_cast<std::uint64_t>(Hash64(key)) >> 33U) % parts;
}

bool SplitReference(std::string_view reference, std::string_view* type, std::string_view* id) {
  std::size_t hist = reference.find("/_history/");
  if (hist != std::string_view::npos) reference = reference.substr(0, hist);
  std::size_t slash = reference.rfind('/');
  if (slash == std::string_view::npos) {
    *type = {};
    *id = reference;
  } else {
    *id = reference.substr(slash + 1);
    std::string_view before = reference.substr(0, slash);
    std::size_t prev = before.rfind('/');
    *type = prev == std::string_view::npos ? before : before.substr(prev + 1);
  }
  return !id->empty();
}

void ExtractIndex(const json::Value& root, IndexRows* out) {
  out->tokens.clear();
  out->date_lo.reset();
  out->date_hi.reset();
  json::Value list;
  if (root.Find("identifier", &list) && list.is_array()) {
    for (json::Value i : list.elements()) {
      std::string_view value = StringMember(i, "value");
      if (value.empty()) continue;
      out->tokens.push_back({TokenParam::kIdentifier, Hash64(value), Hash64(StringMember(i, "system"))});
    }
  }
  json::Value code, codings;
  if (root.Find("code", &code) && code.Find("coding", &codings) && codings.is_array()) {
    for (json::Value c : codings.elements()) {
      std::string_view value = StringMember(c, "code");
      if (value.empty()) continue;
      out->tokens.push_back({TokenParam::kCode, Hash64(value), Hash64(StringMember(c, "system"))});
    }
  }
  AddReference(root, "subject", TokenParam::kSubject, out);
  AddReference(root, "patient", TokenParam::kPatient, out);
  AddReference(root, "device", TokenParam::kDevice, out);

  std::int64_t lo = 0, hi = 0, ignored = 0;
  json::Value period;
  if (std::string_view dt = StringMember(root, "effectiveDateTime"); !dt.empty()) {
    if (ParseDateRange(dt, &lo, &hi)) out->date_lo = lo, out->date_hi = hi;
  } else if (std::string_view inst = StringMember(root, "effectiveInstant"); !inst.empty()) {
    if (ParseDateRange(inst, &lo, &hi)) out->date_lo = lo, out->date_hi = hi;
  } else if (root.Find("effectivePeriod", &period) && period.is_object()) {
    // An open end is unbounded (FHIR: a missing end means ongoing).
    lo = std::numeric_limits<std::int64_t>::min();
    hi = std::numeric_limits<std::int64_t>::max();
    bool any = false;
    if (std::string_view start = StringMember(period, "start"); ParseDateRange(start, &lo, &ignored)) any = true;
    if (std::string_view end = StringMember(period, "end"); ParseDateRange(end, &ignored, &hi)) any = true;
    if (any) out->date_lo = lo, out->date_hi = hi;
  }
}

bool ParseDateRange(std::string_view s, std::int64_t* lo, std::int64_t* hi) {
  int year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  if (!Digits(s, 0, 4, &year)) return false;
  std::size_t i = 4;
  enum { kYear, kMonth, kDay, kMinute, kSecond, kFraction } precision = kYear;
  int fraction_ms = 0, fraction_digits = 0;
  if (i < s.size() && s[i] == '-') {
    if (!Digits(s, i + 1, 2, &month) || month < 1 || month > 12) return false;
    i += 3;
    precision = kMonth;
    if (i < s.size() && s[i] == '-') {
      if (!Digits(s, i + 1, 2, &day) || day < 1 || day > DaysInMonth(year, month)) return false;
      i += 3;
      precision = kDay;
      if (i < s.size() && s[i] == 'T') {
        if (!Digits(s, i + 1, 2, &hour) || s.size() <= i + 3 || s[i + 3] != ':' || !Digits(s, i + 4, 2, &minute) ||
            hour > 23 || minute > 59)
          return false;
        i += 6;
        precision = kMinute;
        if (i < s.size() && s[i] == ':') {
          if (!Digits(s, i + 1, 2, &second) || second > 60) return false;
          i += 3;
          precision = kSecond;
          if (i < s.size() && s[i] == '.') {
            ++i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
              if (fraction_digits < 3) fraction_ms = fraction_ms * 10 + (s[i] - '0');
              ++fraction_digits;
              ++i;
            }
            if (fraction_digits == 0) return false;
            for (int k = fraction_digits; k < 3; ++k)
              fraction_ms *= 10;
            precision = kFraction;
          }
        }
      }
    }
  }
  std::int64_t offset_ms = 0;
  if (i < s.size()) {
    if (precision < kMinute) return false;
    if (s[i] == 'Z') {
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      int oh = 0, om = 0;
      if (!Digits(s, i + 1, 2, &oh) || s.size() <= i + 3 || s[i + 3] != ':' || !Digits(s, i + 4, 2, &om)) return false;
      offset_ms = (static_cast<std::int64_t>(oh) * 60 + om) * 60'000 * (s[i] == '-' ? -1 : 1);
      i += 6;
    }
    if (i != s.size()) return false;
  }
  std::int64_t start = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kMsPerDay +
                       ((static_cast<std::int64_t>(hour) * 60 + minute) * 60 + second) * 1000 + fraction_ms - offset_ms;
  std::int64_t end = start;
  switch (precision) {
    case kYear: end = DaysFromCivil(year + 1, 1, 1) * kMsPerDay - 1; break;
    case kMonth:
      end = (month == 12 ? DaysFromCivil(year + 1, 1, 1) : DaysFromCivil(year, static_cast<unsigned>(month) + 1, 1)) *
                kMsPerDay -
            1;
      break;
    case kDay: end = start + kMsPerDay - 1; break;
    case kMinute: end = start + 60'000 - 1; break;
    case kSecond: end = start + 999; break;
    case kFraction: {
      // Fewer than 3 digits cover more than one millisecond ("…:00.5").
      std::int64_t unit = fraction_digits >= 3 ? 1 : (fraction_digits == 2 ? 10 : 100);
      end = start + unit - 1;
      break;
    }
  }
  *lo = start;
  *hi = end;
  return true;
}

std::string FormatInstant(std::int64_t unix_ms) {
  std::int64_t days = unix_ms / kMsPerDay;
  std::int64_t rem = unix_ms % kMsPerDay;
  if (rem < 0) rem += kMsPerDay, --days;
  // civil_from_days (Howard Hinnant).
  std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2 ? 1 : 0;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3'600'000), static_cast<long long>(rem / 60'000 % 60),
                static_cast<long long>(rem / 1000 % 60), static_cast<long long>(rem % 1000));
  return buf;
}

void StampResource(std::string_view json, std::string_view id, std::int64_t version, std::string_view last_updated,
                   std::string* out) {
  out->clear();
  out->reserve(json.size() + id.size() + 96);
  std::vector<MemberText> members = Members(json);
  bool has_id = false, has_meta = false;
  for (const MemberText& m : members) {
    has_id = has_id || m.key == "id";
    has_meta = has_meta || m.key == "meta";
  }
  out->push_back('{');
  bool first = true;
  auto sep = [&] {
    if (!first) out->push_back(',');
    first = false;
  };
  auto append_id = [&] {
    sep();
    out->append("\"id\":");
    json::AppendQuoted(out, id);
  };
  auto append_meta = [&](std::string_view old_meta) {
    sep();
    AppendMeta(old_meta, version, last_updated, out);
  };
  // FHIR's element order: resourceType, id, meta. A new id (and meta) goes
  // after resourceType, or first when there is none; a new meta after the id.
  bool placed = false;
  auto place_new = [&] {
    if (placed) return;
    placed = true;
    if (!has_id) append_id();
    if (!has_meta) append_meta({});
  };
  if (!has_id && (members.empty() || members.front().key != "resourceType")) place_new();
  for (const MemberText& m : members) {
    if (m.key == "id") {
      append_id();
    } else if (m.key == "meta") {
      append_meta(m.value);
    } else {
      sep();
      out->push_back('"');
      out->append(m.key).append("\":").append(m.value);
    }
    if ((m.key == "resourceType" && !has_id) || m.key == "id") place_new();
  }
  place_new();
  out->push_back('}');
}

std::string_view RawMember(std::string_view object, std::string_view key) {
  for (const MemberText& m : Members(object))
    if (m.key == key) return m.value;
  return {};
}

std::vector<std::string_view> RawElements(std::string_view array) {
  std::vector<std::string_view> out;
  std::size_t i = SkipSpace(array, 0);
  if (i >= array.size() || array[i] != '[') return out;
  ++i;
  while (true) {
    i = SkipSpace(array, i);
    if (i >= array.size() || array[i] == ']') break;
    std::size_t end = SkipValue(array, i);
    out.push_back(array.substr(i, end - i));
    i = SkipSpace(array, end);
    if (i >= array.size() || array[i] != ',') break;
    ++i;
  }
  return out;
}

namespace {

// The summary elements (isSummary in FHIR R4's StructureDefinitions) and the
// mandatory ones (min 1) of the types iomt writes. "name[x]" is a choice
// element: it stands for each "nameType" member.
struct TypeElements {
  std::string_view type;
  std::vector<std::string_view> summary;
  std::vector<std::string_view> mandatory;
};

const std::vector<TypeElements>& KnownTypes() {
  static const std::vector<TypeElements> kTypes = {
      {"Observation",
       {"id", "meta", "implicitRules", "identifier", "basedOn", "partOf", "status", "code", "subject", "focus",
        "encounter", "effective[x]", "issued", "performer", "value[x]", "hasMember", "derivedFrom", "component"},
       {"status", "code"}},
      {"Patient",
       {"id", "meta", "implicitRules", "identifier", "active", "name", "telecom", "gender", "birthDate", "deceased[x]",
        "address", "managingOrganization", "link"},
       {}},
      {"Device", {"id", "meta", "implicitRules", "udiCarrier", "status", "safety"}, {}},
      {"Encounter",
       {"id", "meta", "implicitRules", "identifier", "status", "class", "type", "serviceType", "subject",
        "episodeOfCare", "participant", "appointment", "reasonCode", "reasonReference", "diagnosis"},
       {"status", "class"}},
  };
  return kTypes;
}

const TypeElements* ElementsOf(std::string_view type) {
  for (const TypeElements& t : KnownTypes())
    if (t.type == type) return &t;
  return nullptr;
}

// Whether member `key` is element `name`: the same, or `name` is a choice
// ("value[x]", or "value" as clients write it in _elements) and `key` one of
// its forms ("valueQuantity").
bool IsElement(std::string_view key, std::string_view name) {
  if (name.ends_with("[x]")) name.remove_suffix(3);
  if (key == name) return true;
  return key.size() > name.size() && key.starts_with(name) && key[name.size()] >= 'A' && key[name.size()] <= 'Z';
}

bool InList(std::string_view key, const std::vector<std::string_view>& names) {
  return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return IsElement(key, n); });
}

constexpr std::string_view kSubsetted =
    R"({"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"})";

// `meta` (an object's text, or empty) with the SUBSETTED tag added.
void AppendSubsettedMeta(std::string_view meta, std::string* out) {
  out->push_back('{');
  bool first = true;
  bool tagged = false;
  for (const MemberText& m : Members(meta)) {
    out->append(first ? "\"" : ",\"").append(m.key).append("\":");
    first = false;
    if (m.key != "tag") {
      out->append(m.value);
      continue;
    }
    out->push_back('[');
    for (std::string_view e : RawElements(m.value))
      out->append(e).push_back(',');
    out->append(kSubsetted).push_back(']');
    tagged = true;
  }
  if (!tagged) out->append(first ? "\"tag\":[" : ",\"tag\":[").append(kSubsetted).push_back(']');
  out->push_back('}');
}

}  // namespace

bool HasSummaryElements(std::string_view type) { return ElementsOf(type) != nullptr; }

std::string ShapeResource(std::string_view type, std::string_view json, const ResultShape& shape) {
  if (shape.whole()) return std::string(json);
  const TypeElements* known = ElementsOf(type);
  static const std::vector<std::string_view> kNone;
  const std::vector<std::string_view>& mandatory = known != nullptr ? known->mandatory : kNone;
  std::vector<std::string_view> asked(shape.elements.begin(), shape.elements.end());
  auto keep = [&](std::string_view key) {
    if (key == "resourceType" || key == "id" || key == "meta") return true;
    switch (shape.summary) {
      case Summary::kTrue: return known != nullptr && InList(key, known->summary);
      case Summary::kText: return key == "text" || InList(key, mandatory);
      case Summary::kData: return key != "text";
      case Summary::kFalse:
      case Summary::kCount: break;
    }
    return InList(key, asked) || InList(key, mandatory);
  };
  std::string out;
  out.reserve(json.size());
  out.push_back('{');
  bool has_meta = false;
  for (const MemberText& m : Members(json)) {
    if (!keep(m.key)) continue;
    if (out.size() > 1) out.push_back(',');
    out.append("\"").append(m.key).append("\":");
    if (m.key == "meta") {
      AppendSubsettedMeta(m.value, &out);
      has_meta = true;
    } else {
      out.append(m.value);
    }
  }
  if (!has_meta) {
    out.append(out.size() > 1 ? ",\"meta\":" : "\"meta\":");
    AppendSubsettedMeta({}, &out);
  }
  out.push_back('}');
  return out;
}

}  // namespace iomt::store::embedded
