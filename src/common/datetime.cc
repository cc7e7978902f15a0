#include "common/datetime.h"

#include <cstdio>

namespace iomt::datetime {

namespace {

bool Digit(char c) { return c >= '0' && c <= '9'; }

// Floor division for negative tick counts.
std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

inline void Put2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

void Append2(std::string* out, int v) {
  char buf[2];
  Put2(buf, v);
  out->append(buf, 2);
}

void Append4(std::string* out, int v) {
  if (v < 0 || v > 9999) {
    out->append(std::to_string(v));
    return;
  }
  char buf[4];
  Put2(buf, v / 100);
  Put2(buf + 2, v % 100);
  out->append(buf, 4);
}

// Mirrors Json.NET's DateTimeParser (ISO form) step by step, so that exactly
// the strings it accepts are accepted.
class IsoParser {
 public:
  explicit IsoParser(std::string_view s) : s_(s) {}

  bool Parse(std::int64_t* ticks, Zone* zone_out) {
    Zone zone = Zone::kUnspecified;
    int year, month, day, hour, minute, second;
    std::int64_t fraction = 0;
    if (!(Parse4(0, &year) && year >= 1 && Char(4, '-') && Parse2(5, &month) && month >= 1 && month <= 12 &&
          Char(7, '-') && Parse2(8, &day) && day >= 1 && day <= DaysInMonth(year, month))) {
      return false;
    }
    if (!Char(10, 'T')) return false;
    std::size_t pos = 11;
    if (!(Parse2(pos, &hour) && hour <= 24 && Char(pos + 2, ':') && Parse2(pos + 3, &minute) && minute < 60 &&
          Char(pos + 5, ':') && Parse2(pos + 6, &second) && second < 60 &&
          (hour != 24 || (minute == 0 && second == 0)))) {
      return false;
    }
    pos += 8;
    if (Char(pos, '.')) {
      int ndigits = 0;
      while (++pos < s_.size() && ndigits < 7) {
        if (!Digit(s_[pos])) break;
        fraction = fraction * 10 + (s_[pos] - '0');
        ++ndigits;
      }
      if (ndigits < 7) {
        if (ndigits == 0) return false;
        for (int i = ndigits; i < 7; ++i)
          fraction *= 10;
      }
      if (hour == 24 && fraction != 0) return false;
    }
    // Zone: Z, or ±hh, ±hh:mm, ±hhmm; anything else must be the end.
    std::int64_t offset = 0;
    if (pos < s_.size()) {
      char ch = s_[pos];
      if (ch == 'z' || ch == 'Z') {
        ++pos;
        zone = Zone::kUtc;
      } else {
        int zone_hour = 0, zone_minute = 0;
        int sign = 0;
        if (pos + 2 < s_.size() && Parse2(pos + 1, &zone_hour)) {
          if (ch == '-') {
            sign = -1;
            pos += 3;
            zone = Zone::kLocal;
          } else if (ch == '+') {
            sign = 1;
            pos += 3;
            zone = Zone::kLocal;
          }
        }
        if (pos < s_.size()) {
          if (Char(pos, ':')) {
            pos += 1;
            if (pos + 1 < s_.size() && Parse2(pos, &zone_minute)) pos += 2;
          } else if (pos + 1 < s_.size() && Parse2(pos, &zone_minute)) {
            pos += 2;
          }
        }
        offset = sign * (zone_hour * kTicksPerHour + zone_minute * kTicksPerMinute);
      }
    }
    if (pos != s_.size()) return false;
    Civil c{year, month, day, hour == 24 ? 0 : hour, minute, second, fraction};
    std::int64_t t = ToTicks(c);
    if (hour == 24) t += kTicksPerDay;
    *ticks = t - offset;
    *zone_out = zone;
    return true;
  }

 private:
  bool Char(std::size_t i, char c) const { return i < s_.size() && s_[i] == c; }
  bool Parse2(std::size_t i, int* v) const {
    if (i + 2 > s_.size() || !Digit(s_[i]) || !Digit(s_[i + 1])) return false;
    *v = (s_[i] - '0') * 10 + (s_[i + 1] - '0');
    return true;
  }
  bool Parse4(std::size_t i, int* v) const {
    int a, b;
    if (!Parse2(i, &a) || !Parse2(i + 2, &b)) return false;
    *v = a * 100 + b;
    return true;
  }
  std::string_view s_;
};

// "/Date(1234567890123)/" or "/Date(1234567890123+0100)/": milliseconds since
// the epoch; the offset only marks the value as local time.
bool ParseMicrosoftDate(std::string_view s, std::int64_t* ticks, Zone* zone) {
  if (s.size() < 9 || s.substr(0, 6) != "/Date(" || s.substr(s.size() - 2) != ")/") return false;
  std::size_t end = s.size() - 2;
  std::size_t sign = std::string_view::npos;
  for (std::size_t i = 7; i < s.size() - 1; ++i) {
    if (s[i] == '+') {
      sign = i;
      break;
    }
  }
  if (sign == std::string_view::npos) {
    for (std::size_t i = 7; i < s.size() - 1; ++i) {
      if (s[i] == '-') {
        sign = i;
        break;
      }
    }
  }
  if (sign != std::string_view::npos) {
    // The offset must be two digits of hours, optionally two of minutes.
    if (sign + 3 > s.size() || !Digit(s[sign + 1]) || !Digit(s[sign + 2])) return false;
    end = sign;
    *zone = Zone::kLocal;
  } else {
    *zone = Zone::kUtc;
  }
  std::string_view digits = s.substr(6, end - 6);
  if (digits.empty()) return false;
  bool negative = false;
  std::size_t i = 0;
  if (digits[0] == '-') {
    negative = true;
    i = 1;
  }
  if (i == digits.size()) return false;
  std::int64_t ms = 0;
  for (; i < digits.size(); ++i) {
    if (!Digit(digits[i])) return false;
    if (ms > (INT64_MAX - 9) / 10) return false;
    ms = ms * 10 + (digits[i] - '0');
  }
  if (negative) ms = -ms;
  if (ms > kMaxTicks / kTicksPerMillisecond || ms < kMinTicks / kTicksPerMillisecond) return false;
  *ticks = ms * kTicksPerMillisecond;
  return true;
}

}  // namespace

std::int64_t DaysFromCivil(int year, int month, int day) {
  // Days since 1970-01-01 in the proleptic Gregorian calendar: count years
  // from March so that the leap day falls at the end of the year.
  const std::int64_t y = year - (month <= 2 ? 1 : 0);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t year_of_era = y - era * 400;
  const std::int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

std::int64_t ToTicks(const Civil& c) {
  return DaysFromCivil(c.year, c.month, c.day) * kTicksPerDay + c.hour * kTicksPerHour + c.minute * kTicksPerMinute +
         c.second * kTicksPerSecond + c.fraction;
}

namespace {
// The time of day of `c` from the ticks since midnight.
void SetTimeOfDay(std::int64_t rem, Civil* c) {
  c->hour = static_cast<int>(rem / kTicksPerHour);
  rem %= kTicksPerHour;
  c->minute = static_cast<int>(rem / kTicksPerMinute);
  rem %= kTicksPerMinute;
  c->second = static_cast<int>(rem / kTicksPerSecond);
  c->fraction = rem % kTicksPerSecond;
}
}  // namespace

Civil FromTicks(std::int64_t ticks) {
  std::int64_t days = FloorDiv(ticks, kTicksPerDay);
  std::int64_t rem = ticks - days * kTicksPerDay;
  // Streams of timestamps stay within a day for long: remember the last date.
  thread_local std::int64_t cached_days = INT64_MIN;
  thread_local int cached_year = 0, cached_month = 0, cached_day = 0;
  if (days == cached_days) {
    Civil c;
    c.year = cached_year;
    c.month = cached_month;
    c.day = cached_day;
    SetTimeOfDay(rem, &c);
    return c;
  }
  // Inverse of DaysFromCivil.
  std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t day_of_era = z - era * 146097;
  const std::int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t mp = (5 * day_of_year + 2) / 153;
  Civil c;
  c.day = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = static_cast<int>(year_of_era + era * 400 + (c.month <= 2 ? 1 : 0));
  cached_days = days;
  cached_year = c.year;
  cached_month = c.month;
  cached_day = c.day;
  SetTimeOfDay(rem, &c);
  return c;
}

bool ParseJsonNetDate(std::string_view s, std::int64_t* ticks, Zone* zone) {
  Zone ignored;
  if (zone == nullptr) zone = &ignored;
  if (!s.empty() && s[0] == '/') return ParseMicrosoftDate(s, ticks, zone);
  if (s.size() < 19 || s.size() > 40 || !Digit(s[0]) || s[10] != 'T') return false;
  return IsoParser(s).Parse(ticks, zone);
}

namespace {

// A scanner over the text for ParseDateTime.
class LenientParser {
 public:
  explicit LenientParser(std::string_view s) : s_(s) {}

  bool Parse(std::int64_t* ticks) {
    SkipSpace();
    SkipWeekday();
    int year = 0, month = 0, day = 0;
    if (!ParseDate(&year, &month, &day)) return false;
    int hour = 0, minute = 0, second = 0;
    std::int64_t fraction = 0;
    std::int64_t offset = 0;
    SkipSpace();
    if (i_ < s_.size() && (s_[i_] == 'T' || s_[i_] == 't')) ++i_;
    SkipSpace();
    if (i_ < s_.size() && Digit(s_[i_])) {
      if (!ParseTime(&hour, &minute, &second, &fraction)) return false;
    }
    SkipSpace();
    if (!ParseZone(&offset)) return false;
    SkipSpace();
    if (i_ != s_.size()) return false;
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return false;
    if (hour > 23 || minute > 59 || second > 59) return false;
    *ticks = ToTicks(Civil{year, month, day, hour, minute, second, fraction}) - offset;
    return true;
  }

 private:
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t'))
      ++i_;
  }
  bool Number(int max_digits, int* out, int* ndigits = nullptr) {
    int n = 0, v = 0;
    while (i_ < s_.size() && Digit(s_[i_]) && n < max_digits) {
      v = v * 10 + (s_[i_] - '0');
      ++i_;
      ++n;
    }
    if (ndigits != nullptr) *ndigits = n;
    *out = v;
    return n > 0;
  }
  bool Char(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  static int MonthFromName(std::string_view name) {
    static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                   "jul", "aug", "sep", "oct", "nov", "dec"};
    if (name.size() < 3) return 0;
    std::string lower;
    for (char c : name.substr(0, 3))
      lower.push_back(static_cast<char>(c | 0x20));
    for (int m = 0; m < 12; ++m) {
      if (lower == kMonths[m]) return m + 1;
    }
    return 0;
  }
  std::string_view Word() {
    std::size_t b = i_;
    while (i_ < s_.size() && ((s_[i_] | 0x20) >= 'a' && (s_[i_] | 0x20) <= 'z'))
      ++i_;
    return s_.substr(b, i_ - b);
  }
  void SkipWeekday() {
    std::size_t save = i_;
    std::string_view w = Word();
    if (w.size() >= 3 && MonthFromName(w) == 0) {
      Char(',');
      SkipSpace();
      return;
    }
    i_ = save;
  }
  bool ParseDate(int* year, int* month, int* day) {
    std::size_t save = i_;
    int a = 0, digits = 0;
    if (!Number(4, &a, &digits)) {
      // "Feb 1 2019"? Only the RFC 1123 day-first form is accepted.
      return false;
    }
    if (digits == 4 && (Char('-') || Char('/') || Char('.'))) {  // yyyy-M-d
      char sep = s_[i_ - 1];
      *year = a;
      if (!Number(2, month) || !Char(sep) || !Number(2, day)) return false;
      return true;
    }
    if (Char('/')) {  // M/d/yyyy (invariant culture: month first)
      *month = a;
      if (!Number(2, day) || !Char('/') || !Number(4, year, &digits)) return false;
      if (digits <= 2) *year += 2000;
      return true;
    }
    SkipSpace();
    int m = MonthFromName(Word());  // "01 Feb 2019"
    if (m == 0) {
      i_ = save;
      return false;
    }
    *day = a;
    *month = m;
    SkipSpace();
    return Number(4, year);
  }
  bool ParseTime(int* hour, int* minute, int* second, std::int64_t* fraction) {
    if (!Number(2, hour) || !Char(':') || !Number(2, minute)) return false;
    if (Char(':')) {
      if (!Number(2, second)) return false;
      if (Char('.') || Char(',')) {
        int n = 0;
        std::int64_t f = 0;
        while (i_ < s_.size() && Digit(s_[i_])) {
          if (n < 7) {
            f = f * 10 + (s_[i_] - '0');
            ++n;
          }
          ++i_;
        }
        if (n == 0) return false;
        for (int k = n; k < 7; ++k)
          f *= 10;
        *fraction = f;
      }
    }
    SkipSpace();
    std::size_t save = i_;
    std::string_view w = Word();
    std::string lower;
    for (char c : w)
      lower.push_back(static_cast<char>(c | 0x20));
    if (lower == "am" || lower == "pm") {
      if (*hour < 1 || *hour > 12) return false;
      if (lower == "am" && *hour == 12) *hour = 0;
      if (lower == "pm" && *hour != 12) *hour += 12;
    } else {
      i_ = save;
    }
    return true;
  }
  bool ParseZone(std::int64_t* offset) {
    if (i_ >= s_.size()) return true;
    if (Char('Z') || Char('z')) return true;
    std::size_t save = i_;
    std::string_view w = Word();
    if (w == "GMT" || w == "UTC") {
      if (i_ >= s_.size()) return true;
    } else {
      i_ = save;
    }
    int sign = 0;
    if (Char('+'))
      sign = 1;
    else if (Char('-'))
      sign = -1;
    else
      return i_ == s_.size();
    int hh = 0, mm = 0, digits = 0;
    if (!Number(2, &hh, &digits)) return false;
    if (Char(':')) {
      if (!Number(2, &mm)) return false;
    } else if (i_ < s_.size() && Digit(s_[i_])) {
      if (!Number(2, &mm)) return false;
    }
    if (hh > 14 || mm > 59) return false;
    *offset = sign * (hh * kTicksPerHour + mm * kTicksPerMinute);
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

bool ParseDateTime(std::string_view s, std::int64_t* ticks) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  if (ParseJsonNetDate(s, ticks)) return true;
  return LenientParser(s).Parse(ticks);
}

void AppendGeneral(std::string* out, std::int64_t ticks) {
  Civil c = FromTicks(ticks);
  Append2(out, c.month);
  out->push_back('/');
  Append2(out, c.day);
  out->push_back('/');
  Append4(out, c.year);
  out->push_back(' ');
  Append2(out, c.hour);
  out->push_back(':');
  Append2(out, c.minute);
  out->push_back(':');
  Append2(out, c.second);
}

std::string FormatGeneral(std::int64_t ticks) {
  std::string s;
  AppendGeneral(&s, ticks);
  return s;
}

namespace {
void AppendIsoImpl(std::string* out, std::int64_t ticks, bool trim) {
  Civil c = FromTicks(ticks);
  // "yyyy-MM-ddTHH:mm:ss" then ".fffffff" (trimmed) and "Z", built in place.
  Append4(out, c.year);
  char buf[32];
  char* p = buf;
  *p++ = '-';
  Put2(p, c.month);
  p += 2;
  *p++ = '-';
  Put2(p, c.day);
  p += 2;
  *p++ = 'T';
  Put2(p, c.hour);
  p += 2;
  *p++ = ':';
  Put2(p, c.minute);
  p += 2;
  *p++ = ':';
  Put2(p, c.second);
  p += 2;
  if (c.fraction != 0 || !trim) {
    *p++ = '.';
    std::int64_t f = c.fraction;
    char digits[7];
    for (int i = 6; i >= 0; --i) {
      digits[i] = static_cast<char>('0' + f % 10);
      f /= 10;
    }
    int n = 7;
    if (trim) {
      while (n > 0 && digits[n - 1] == '0')
        --n;
    }
    for (int i = 0; i < n; ++i)
      *p++ = digits[i];
  }
  *p++ = 'Z';
  out->append(buf, static_cast<std::size_t>(p - buf));
}
}  // namespace

void AppendIso(std::string* out, std::int64_t ticks) { AppendIsoImpl(out, ticks, true); }

std::string FormatIso(std::int64_t ticks) {
  std::string s;
  AppendIsoImpl(&s, ticks, true);
  return s;
}

std::string FormatRoundTrip(std::int64_t ticks) {
  std::string s;
  AppendIsoImpl(&s, ticks, false);
  return s;
}

void AppendRoundTrip(std::string* out, std::int64_t ticks) { AppendIsoImpl(out, ticks, false); }

void AppendCompactUtc(std::string* out, std::int64_t ticks) {
  Civil c = FromTicks(ticks);
  Append4(out, c.year);
  char buf[11];
  Put2(buf, c.month);
  Put2(buf + 2, c.day);
  Put2(buf + 4, c.hour);
  Put2(buf + 6, c.minute);
  Put2(buf + 8, c.second);
  buf[10] = 'Z';
  out->append(buf, sizeof(buf));
}

}  // namespace iomt::datetime
