// Date-times as .NET and Json.NET see them, on a UTC host.
//
// An instant is held as 100-nanosecond ticks since 1970-01-01T00:00:00Z (the
// .NET tick, relative to the Unix epoch). iomt-fhir runs on UTC hosts, so
// "local" and "unspecified" .NET times are taken as UTC throughout.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace iomt::datetime {

inline constexpr std::int64_t kTicksPerMillisecond = 10'000;
inline constexpr std::int64_t kTicksPerSecond = 10'000'000;
inline constexpr std::int64_t kTicksPerMinute = 60 * kTicksPerSecond;
inline constexpr std::int64_t kTicksPerHour = 60 * kTicksPerMinute;
inline constexpr std::int64_t kTicksPerDay = 24 * kTicksPerHour;
// .NET DateTime.MinValue (0001-01-01) and MaxValue (9999-12-31T23:59:59.9999999).
inline constexpr std::int64_t kMinTicks = -621'355'968'000'000'000;
inline constexpr std::int64_t kMaxTicks = 2'534'023'007'999'999'999;

struct Civil {
  int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  std::int64_t fraction = 0;  // ticks within the second, 0..9'999'999
};

std::int64_t DaysFromCivil(int year, int month, int day);
int DaysInMonth(int year, int month);
// Ticks of a civil UTC time; the fields must be in range.
std::int64_t ToTicks(const Civil& c);
Civil FromTicks(std::int64_t ticks);

// True when Json.NET (DateParseHandling.DateTime, its default) reads the JSON
// string `s` as a date rather than a string: an ISO 8601 date-time of 19 to
// 40 characters with 'T' at index 10 (yyyy-MM-ddTHH:mm:ss[.f{1,7}][Z|±hh[:][mm]]),
// or "/Date(ms[±hhmm])/". Sets *ticks to the instant.
// *zone, when given, receives the DateTimeKind Json.NET gives the value.
enum class Zone : std::uint8_t { kUtc, kLocal, kUnspecified };
bool ParseJsonNetDate(std::string_view s, std::int64_t* ticks, Zone* zone = nullptr);

// The cheap part of ParseJsonNetDate's test, for hot paths.
inline bool MayBeJsonNetDate(std::string_view s) {
  if (s.size() >= 9 && s[0] == '/') return true;
  return s.size() >= 19 && s.size() <= 40 && s[0] >= '0' && s[0] <= '9' && s[10] == 'T';
}

// DateTime.Parse(s, CultureInfo.InvariantCulture) on a UTC host, for the
// formats devices send: ISO 8601 with 'T' or a space ("2019-02-01 22:46:01",
// "2019-02-01T22:46Z", a date alone), the invariant culture's
// "MM/dd/yyyy HH:mm:ss" with optional AM/PM, and RFC 1123
// ("Fri, 01 Feb 2019 22:46:01 GMT"); an offset or Z/GMT/UTC gives the
// instant, no zone is taken as UTC. False when the text is none of these.
bool ParseDateTime(std::string_view s, std::int64_t* ticks);

// DateTime.ToString(CultureInfo.InvariantCulture): "MM/dd/yyyy HH:mm:ss".
std::string FormatGeneral(std::int64_t ticks);
void AppendGeneral(std::string* out, std::int64_t ticks);

// ISO 8601 UTC as iomt writes timestamps: "2019-02-01T22:46:01.875Z"
// (up to 7 fractional digits, trailing zeros trimmed, none when whole).
std::string FormatIso(std::int64_t ticks);
void AppendIso(std::string* out, std::int64_t ticks);

// .NET's round-trip format "o" for a UTC DateTime: always 7 fractional digits,
// "2019-01-01T00:59:59.9999999Z" (what iomt-fhir writes in effectivePeriod).
std::string FormatRoundTrip(std::int64_t ticks);
void AppendRoundTrip(std::string* out, std::int64_t ticks);

// "yyyyMMddHHmmssZ" (seconds precision, a literal Z): iomt-fhir's
// Observation identifier segments.
void AppendCompactUtc(std::string* out, std::int64_t ticks);

}  // namespace iomt::datetime
