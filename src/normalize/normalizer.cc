#include "normalize/normalizer.h"

#include <array>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <string>

#include "common/datetime.h"
#include "common/netfmt.h"

namespace iomt::normalize {

using json::Kind;
using json::Value;

// Why an event failed: the first failure ends the event, as in iomt-fhir.
struct Normalizer::Failure {
  ErrorName name = ErrorName::kIncompatibleData;
  std::string message;
  std::string template_name;
  std::optional<std::string_view> device_id;
};

namespace {

std::string_view DotNetTypeName(const Value& v) {
  switch (v.kind()) {
    case Kind::kInt: return "Int64";
    case Kind::kUInt: return "BigInteger";
    case Kind::kDouble: return "Double";
    case Kind::kBool: return "Boolean";
    case Kind::kObject: return "JObject";
    case Kind::kArray: return "JArray";
    default: return "String";
  }
}

// .NET's text of a double. Device readings have a limited resolution and
// range, so the same few hundred values recur: a small direct-mapped cache
// of the last text per value saves most of the formatting. The view is valid
// until the next call (callers copy it).
std::string_view FormatDoubleCached(double d) {
  struct Entry {
    std::uint64_t bits = 0;
    std::uint8_t len = 0;
    bool used = false;
    char text[30];
  };
  thread_local std::array<Entry, 1024> cache;
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  Entry& e = cache[(bits * 0x9E3779B97F4A7C15ULL) >> 54];  // high bits of a multiplicative hash: 1024 slots
  if (!e.used || e.bits != bits) {
    std::string text = netfmt::FormatDouble(d);
    if (text.size() > sizeof e.text) return {};  // cannot happen: at most 24 characters
    std::memcpy(e.text, text.data(), text.size());
    e.len = static_cast<std::uint8_t>(text.size());
    e.bits = bits;
    e.used = true;
  }
  return {e.text, e.len};
}

// Json.NET's JToken.Value<string>(): how iomt-fhir turns a selected token into
// a measurement value or an id. Strings that Json.NET read as dates print as
// "MM/dd/yyyy HH:mm:ss"; floats print as .NET prints doubles; booleans as
// "True"/"False". Returns false (with *error) for objects and arrays.
bool ToStringValue(const Value& v, json::Arena* arena, std::optional<std::string_view>* out, std::string* error) {
  switch (v.kind()) {
    case Kind::kNull: *out = std::nullopt; return true;
    case Kind::kString: {
      std::int64_t ticks = 0;
      if (v.from_document() && datetime::MayBeJsonNetDate(v.string_value()) &&
          datetime::ParseJsonNetDate(v.string_value(), &ticks)) {
        *out = arena->CopyString(datetime::FormatGeneral(ticks));
      } else {
        *out = v.string_value();
      }
      return true;
    }
    case Kind::kDate: *out = arena->CopyString(datetime::FormatGeneral(v.date_ticks())); return true;
    case Kind::kBool: *out = v.bool_value() ? std::string_view("True") : std::string_view("False"); return true;
    case Kind::kInt:
    case Kind::kUInt: {
      char buf[24];
      auto res = v.kind() == Kind::kInt ? std::to_chars(buf, buf + sizeof buf, v.int_value())
                                        : std::to_chars(buf, buf + sizeof buf, v.uint_value());
      *out = arena->CopyString(std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)));
      return true;
    }
    // Copied: a later value may take the cache entry within the same event.
    case Kind::kDouble: *out = arena->CopyString(FormatDoubleCached(v.double_value())); return true;
    default: *error = "Cannot cast " + std::string(DotNetTypeName(v)) + " to String."; return false;
  }
}

// Json.NET's JToken.Value<DateTime?>(): dates as read, other strings through
// DateTime.Parse; numbers cannot be cast (epoch times need JMESPath's
// fromUnixTimestamp).
bool ToTimestamp(const Value& v, std::optional<std::int64_t>* out, std::string* error) {
  switch (v.kind()) {
    case Kind::kNull: *out = std::nullopt; return true;
    case Kind::kDate: *out = v.date_ticks(); return true;
    case Kind::kString: {
      std::int64_t ticks = 0;
      if (v.from_document() && datetime::ParseJsonNetDate(v.string_value(), &ticks)) {
        *out = ticks;
        return true;
      }
      if (v.string_value().find_first_not_of(" \t\r\n") == std::string_view::npos) {
        *out = std::nullopt;  // blank: "a null or empty value"
        return true;
      }
      if (datetime::ParseDateTime(v.string_value(), &ticks)) {
        *out = ticks;
        return true;
      }
      *error = "String '" + std::string(v.string_value()) + "' was not recognized as a valid DateTime.";
      return false;
    }
    case Kind::kObject:
    case Kind::kArray: *error = "Cannot cast " + std::string(DotNetTypeName(v)) + " to DateTime."; return false;
    default: *error = "Invalid cast from '" + std::string(DotNetTypeName(v)) + "' to 'DateTime'."; return false;
  }
}

bool IsBlank(std::string_view s) { return s.find_first_not_of(" \t\r\n\v\f") == std::string_view::npos; }

// The object a CalculatedContent template's expressions see: the message
// with `matchedToken` set to the match (replacing one already there).
Value WithMatchedToken(const Value& input, const Value& match, json::Arena* arena) {
  std::size_t n = input.size();
  auto* members = static_cast<json::Member*>(arena->Allocate((n + 1) * sizeof(json::Member), alignof(json::Member)));
  std::size_t k = 0;
  for (const json::Member& m : input.members()) {
    if (m.key == "matchedToken") continue;
    new (members + k++) json::Member(m);
  }
  new (members + k++) json::Member{"matchedToken", match};
  return Value::Object(members, k);
}

}  // namespace

Normalizer::Normalizer(const DeviceMapping& mapping)
    : mapping_(mapping), index_(mapping), memo_(mapping.expression_count) {
  matches_.reserve(16);
  properties_.reserve(32);
}

Status Normalizer::Select(const TemplateExpression& e, const Value& scope, std::optional<Value>* out) {
  Memo& m = memo_[e.id()];
  if (m.epoch == epoch_ && m.scope.SameNode(scope)) {
    *out = m.token;
    return Status::Ok();
  }
  IOMT_RETURN_IF_ERROR(e.SelectToken(scope, &arena_, out));
  m.epoch = epoch_;
  m.scope = scope;
  m.token = *out;
  return Status::Ok();
}

bool Normalizer::CachedTimestamp(const Value& token, std::optional<std::int64_t>* out, std::string* error) {
  if (time_epoch_ == epoch_ && time_token_.SameNode(token)) {
    *out = time_value_;
    return true;
  }
  if (!ToTimestamp(token, out, error)) return false;
  time_epoch_ = epoch_;
  time_token_ = token;
  time_value_ = *out;
  return true;
}

// MeasurementExtractor.EvalExpression: the first expression that yields a
// usable value wins; a required field with none fails the event.
template <typename T, typename SelectFn, typename Convert>
static bool EvalField(const Value& scope, SelectFn& select, std::string_view name, bool required,
                      std::initializer_list<const TemplateExpression*> expressions, Convert convert, T* out,
                      std::string* failure, bool* expression_error) {
  *out = std::nullopt;
  bool defined = false;
  for (const TemplateExpression* e : expressions)
    defined = defined || (e != nullptr && !e->blank());
  if (!defined) {
    if (required) *failure = "An expression must be set for [" + std::string(name) + "]";
    return !required;
  }
  std::string reasons;
  for (const TemplateExpression* e : expressions) {
    if (e == nullptr || e->blank()) continue;
    std::optional<Value> token;
    if (Status st = select(*e, scope, &token); !st.ok()) {
      *failure = st.message();
      *expression_error = true;
      return false;
    }
    if (!token) continue;
    T value;
    std::string error;
    if (!convert(*token, &value, &error)) {
      reasons += (reasons.empty() ? "" : "; ") + std::string("Encounted an error while extracting value for [") +
                 std::string(name) + "] using expression " + e->text() + ": " + error;
      continue;
    }
    bool is_null = !value.has_value();
    if constexpr (std::is_same_v<T, std::optional<std::string_view>>) {
      if (value.has_value()) is_null = IsBlank(*value);
    }
    if (required && is_null) {
      reasons += (reasons.empty() ? "" : "; ") +
                 std::string("A null or empty value was supplied for the required field [") + std::string(name) + "]";
      continue;
    }
    *out = value;
    return true;
  }
  if (!required) return true;
  if (!reasons.empty()) {
    *failure = "Unable to extract required value for [" + std::string(name) + "]: " + reasons;
  } else {
    *failure = "Unable to extract required value for [" + std::string(name) + "] using ";
    bool first = true;
    for (const TemplateExpression* e : expressions) {
      if (e == nullptr || e->blank()) continue;
      if (!first) failure->push_back(',');
      first = false;
      failure->append(e->text());
    }
  }
  return false;
}

bool Normalizer::BuildMeasurement(const ContentTemplate& t, const Value& scope, const Event& event, Failure* failure) {
  auto as_string = [&](const Value& v, std::optional<std::string_view>* out, std::string* error) {
    return ToStringValue(v, &arena_, out, error);
  };
  auto as_time = [&](const Value& v, std::optional<std::int64_t>* out, std::string* error) {
    return CachedTimestamp(v, out, error);
  };
  auto select = [&](const TemplateExpression& e, const Value& s, std::optional<Value>* out) {
    return Select(e, s, out);
  };
  auto fail = [&](ErrorName name, std::string message, bool expression_error) {
    failure->name = expression_error ? ErrorName::kTemplateExpression : name;
    failure->message = std::move(message);
    failure->template_name = t.type_name;
    return false;
  };
  auto ptr = [](const std::optional<TemplateExpression>& e) { return e ? &*e : nullptr; };
  std::string message;
  bool expression_error = false;

  Measurement m;
  m.type = t.type_name;
  m.quoted_type = t.quoted_type_name;
  m.ingestion_ticks = event.ingestion_ticks;
  // Templates of one mapping usually read the device, time and ids with the
  // same expressions; on the same match they give the same answer.
  auto id_of = [](const std::optional<TemplateExpression>& e) { return e ? e->id() : UINT32_MAX; };
  const IdentityKey key{id_of(t.device_id),  id_of(t.timestamp),    id_of(t.alternate_timestamp),
                        id_of(t.patient_id), id_of(t.encounter_id), id_of(t.correlation_id)};
  if (identity_.epoch == epoch_ && identity_.key == key && identity_.scope.SameNode(scope)) {
    m.device_id = identity_.measurement.device_id;
    m.occurrence_ticks = identity_.measurement.occurrence_ticks;
    m.patient_id = identity_.measurement.patient_id;
    m.encounter_id = identity_.measurement.encounter_id;
    m.correlation_id = identity_.measurement.correlation_id;
    failure->device_id = m.device_id;
    return BuildValues(t, scope, m, failure);
  }
  if (!EvalField(scope, select, "DeviceIdExpression", true, {ptr(t.device_id)}, as_string, &m.device_id, &message,
                 &expression_error)) {
    return fail(ErrorName::kDeviceIdentityNotDefined, std::move(message), expression_error);
  }
  failure->device_id = m.device_id;
  std::optional<std::int64_t> timestamp;
  if (!EvalField(scope, select, "TimestampExpression", true, {ptr(t.timestamp), ptr(t.alternate_timestamp)}, as_time,
                 &timestamp, &message, &expression_error)) {
    return fail(ErrorName::kIncompatibleData, std::move(message), expression_error);
  }
  m.occurrence_ticks = *timestamp;
  if (t.correlation_id && !t.correlation_id->blank()) {
    if (!EvalField(scope, select, "CorrelationIdExpression", true, {ptr(t.correlation_id)}, as_string,
                   &m.correlation_id, &message, &expression_error)) {
      return fail(ErrorName::kIncompatibleData, std::move(message), expression_error);
    }
  }
  if (!EvalField(scope, select, "PatientIdExpression", false, {ptr(t.patient_id)}, as_string, &m.patient_id, &message,
                 &expression_error) ||
      !EvalField(scope, select, "EncounterIdExpression", false, {ptr(t.encounter_id)}, as_string, &m.encounter_id,
                 &message, &expression_error)) {
    return fail(ErrorName::kIncompatibleData, std::move(message), expression_error);
  }
  identity_.epoch = epoch_;
  identity_.key = key;
  identity_.scope = scope;
  identity_.measurement = m;
  return BuildValues(t, scope, m, failure);
}

bool Normalizer::BuildValues(const ContentTemplate& t, const Value& scope, Measurement m, Failure* failure) {
  auto as_string = [&](const Value& v, std::optional<std::string_view>* out, std::string* error) {
    return ToStringValue(v, &arena_, out, error);
  };
  auto select = [&](const TemplateExpression& e, const Value& s, std::optional<Value>* out) {
    return Select(e, s, out);
  };
  auto ptr = [](const std::optional<TemplateExpression>& e) { return e ? &*e : nullptr; };
  std::string message;
  bool expression_error = false;
  std::size_t begin = properties_.size();
  for (const ValueTemplate& v : t.values) {
    std::optional<std::string_view> value;
    if (!EvalField(scope, select, v.name, v.required, {ptr(v.expression)}, as_string, &value, &message,
                   &expression_error)) {
      failure->name = expression_error ? ErrorName::kTemplateExpression : ErrorName::kIncompatibleData;
      failure->message = std::move(message);
      failure->template_name = t.type_name;
      return false;
    }
    if (value) properties_.push_back({v.name, *value, v.quoted_name});
  }
  property_ranges_.emplace_back(begin, properties_.size());
  result_.measurements.push_back(m);
  return true;
}

bool Normalizer::NormalizeTemplate(std::size_t index, const ContentTemplate& t, const Value& input, const Event& event,
                                   Failure* failure) {
  if (!t.type_match || t.type_match->blank()) {
    failure->name = ErrorName::kIncompatibleData;
    failure->message = "An expression must be set for [TypeMatchExpression]";
    failure->template_name = t.type_name;
    return false;
  }
  matches_.clear();
  switch (index_.Match(index, &matches_)) {
    case TypeMatchIndex::Answer::kNone: return true;
    case TypeMatchIndex::Answer::kMatches: break;
    case TypeMatchIndex::Answer::kEvaluate:
      if (Status st = t.type_match->SelectTokens(input, &arena_, &matches_); !st.ok()) {
        failure->name = ErrorName::kTemplateExpression;
        failure->message = st.message();
        failure->template_name = t.type_name;
        return false;
      }
      break;
  }
  // BuildMeasurement may evaluate expressions that use matches_ no more; a
  // copy keeps the loop safe if a future expression kind does.
  for (std::size_t i = 0; i < matches_.size(); ++i) {
    Value match = matches_[i];
    // Legacy templates evaluate on the match itself; CalculatedContent on
    // the message with the match added as `matchedToken`.
    Value scope = t.kind == TemplateKind::kCalculatedContent ? WithMatchedToken(input, match, &arena_) : match;
    if (!BuildMeasurement(t, scope, event, failure)) return false;
  }
  return true;
}

const NormalizeResult& Normalizer::Normalize(const Event& event, std::int64_t now_ticks) {
  arena_.Reset();
  ++epoch_;  // forget the memos of the previous event
  properties_.clear();
  property_ranges_.clear();
  result_.measurements.clear();
  result_.error.reset();

  auto set_error = [&](ErrorName name, std::string message, std::optional<std::string> template_name,
                       std::optional<std::string> device_id) {
    result_.measurements.clear();
    ErrorRecord record;
    record.time_ticks = now_ticks;
    record.name = name;
    record.message = std::move(message);
    record.template_name = std::move(template_name);
    record.device_id = std::move(device_id);
    record.input = event.location;
    result_.error = std::move(record);
  };

  // iomt-fhir's extractors take a JSON object (the envelope, normally).
  if (!event.value.is_object()) {
    set_error(ErrorName::kNotSupported,
              "The device message must be a JSON object; got " + std::string(json::KindName(event.value.kind())) + ".",
              std::nullopt, std::nullopt);
    return result_;
  }
  Failure failure;
  index_.Prepare(event.value);
  for (std::size_t i = 0; i < mapping_.templates.size(); ++i) {
    const ContentTemplate& t = mapping_.templates[i];
    if (!NormalizeTemplate(i, t, event.value, event, &failure)) {
      set_error(failure.name, std::move(failure.message), std::move(failure.template_name),
                failure.device_id ? std::optional<std::string>(*failure.device_id) : std::nullopt);
      return result_;
    }
  }
  for (std::size_t i = 0; i < result_.measurements.size(); ++i) {
    auto [begin, end] = property_ranges_[i];
    result_.measurements[i].properties = std::span<const MeasurementProperty>(properties_.data() + begin, end - begin);
  }
  if (result_.measurements.empty()) {
    set_error(ErrorName::kUnmatchedDeviceMessage, "No template of the device mapping matched the message.",
              std::nullopt, std::nullopt);
  }
  return result_;
}

std::vector<std::string> Normalizer::ExplainNoMatch(const Event& event) {
  std::vector<std::string> lines;
  for (const ContentTemplate& t : mapping_.templates) {
    std::string head = "template '" + t.type_name + "' (" + std::string(ToString(t.kind)) + "): ";
    if (!t.type_match || t.type_match->blank()) {
      lines.push_back(head + "it has no typeMatchExpression");
      continue;
    }
    std::vector<Value> matches;
    arena_.Reset();
    ++epoch_;
    Status st = t.type_match->SelectTokens(event.value, &arena_, &matches);
    if (!st.ok()) {
      lines.push_back(head + st.message());
    } else if (matches.empty()) {
      lines.push_back(head + "typeMatchExpression " + t.type_match->text() + " matched nothing in the message");
    } else {
      lines.push_back(head + "typeMatchExpression matched " + std::to_string(matches.size()) + " token(s)");
    }
  }
  return lines;
}

}  // namespace iomt::normalize
