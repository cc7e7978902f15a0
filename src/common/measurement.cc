#include "common/measurement.h"

#include <cstring>

#include "common/datetime.h"
#include "common/json/writer.h"
#include "common/status.h"

namespace iomt {

void AppendMeasurementJson(std::string* out, const Measurement& m) {
  MeasurementWriter writer;
  writer.Append(out, m);
}

namespace {

char* Put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* PutOptional(char* p, const std::optional<std::string_view>& v) {
  return v ? json::WriteQuoted(p, *v) : Put(p, "null");
}

std::size_t OptionalBound(const std::optional<std::string_view>& v) { return v ? json::QuotedBound(*v) : 4; }

}  // namespace

std::size_t MeasurementWriter::Prepare(const Measurement& m) {
  if (occurrence_.ticks != m.occurrence_ticks) {
    occurrence_.ticks = m.occurrence_ticks;
    occurrence_.text.clear();
    datetime::AppendIso(&occurrence_.text, m.occurrence_ticks);
  }
  if (m.ingestion_ticks && ingestion_.ticks != *m.ingestion_ticks) {
    ingestion_.ticks = *m.ingestion_ticks;
    ingestion_.text.clear();
    datetime::AppendIso(&ingestion_.text, *m.ingestion_ticks);
  }
  std::size_t bound = 160 + json::QuotedBound(m.type) + m.quoted_type.size() + occurrence_.text.size() +
                      ingestion_.text.size() + OptionalBound(m.device_id) + OptionalBound(m.patient_id) +
                      OptionalBound(m.encounter_id) + OptionalBound(m.correlation_id);
  for (const MeasurementProperty& p : m.properties)
    bound += 24 + json::QuotedBound(p.name) + json::QuotedBound(p.value);
  return bound;
}

char* MeasurementWriter::Write(char* p, const Measurement& m) const {
  p = Put(p, "{\"Type\":");
  p = m.quoted_type.empty() ? json::WriteQuoted(p, m.type) : Put(p, m.quoted_type);
  p = Put(p, ",\"OccurrenceTimeUtc\":\"");
  p = Put(p, occurrence_.text);
  p = Put(p, "\",\"IngestionTimeUtc\":");
  if (m.ingestion_ticks) {
    *p++ = '"';
    p = Put(p, ingestion_.text);
    *p++ = '"';
  } else {
    p = Put(p, "null");
  }
  p = Put(p, ",\"DeviceId\":");
  p = PutOptional(p, m.device_id);
  p = Put(p, ",\"PatientId\":");
  p = PutOptional(p, m.patient_id);
  p = Put(p, ",\"EncounterId\":");
  p = PutOptional(p, m.encounter_id);
  p = Put(p, ",\"CorrelationId\":");
  p = PutOptional(p, m.correlation_id);
  p = Put(p, ",\"Properties\":[");
  bool first = true;
  for (const MeasurementProperty& prop : m.properties) {
    if (!first) *p++ = ',';
    first = false;
    p = Put(p, "{\"Name\":");
    p = prop.quoted_name.empty() ? json::WriteQuoted(p, prop.name) : Put(p, prop.quoted_name);
    p = Put(p, ",\"Value\":");
    p = json::WriteQuoted(p, prop.value);
    *p++ = '}';
  }
  return Put(p, "]}");
}

void MeasurementWriter::Append(ByteBuffer* out, const Measurement& m) {
  // Everything goes into room reserved once: this runs millions of times a second.
  char* p = out->Reserve(Prepare(m));
  out->Commit(Write(p, m));
}

void MeasurementWriter::Append(std::string* out, const Measurement& m) {
  std::size_t old = out->size();
  out->resize(old + Prepare(m));
  char* end = Write(out->data() + old, m);
  out->resize(static_cast<std::size_t>(end - out->data()));
}

OwnedMeasurement OwnedMeasurement::From(const Measurement& m) {
  OwnedMeasurement o;
  o.type = m.type;
  o.occurrence_ticks = m.occurrence_ticks;
  o.ingestion_ticks = m.ingestion_ticks;
  auto copy = [](const std::optional<std::string_view>& v) {
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  };
  o.device_id = copy(m.device_id);
  o.patient_id = copy(m.patient_id);
  o.encounter_id = copy(m.encounter_id);
  o.correlation_id = copy(m.correlation_id);
  o.properties.reserve(m.properties.size());
  for (const MeasurementProperty& p : m.properties)
    o.properties.push_back({std::string(p.name), std::string(p.value)});
  return o;
}

namespace {

bool KeyIs(std::string_view key, std::string_view name) {
  if (key.size() != name.size()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    char a = key[i], b = name[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

// A scalar as its text (Json.NET reading a token into a string property).
bool ScalarText(const json::Value& v, std::string* out) {
  if (v.is_string()) {
    out->assign(v.string_value());
    return true;
  }
  if (v.is_number() || v.is_bool()) {
    *out = json::ToJson(v);
    if (v.is_bool()) *out = v.bool_value() ? "True" : "False";
    return true;
  }
  return false;
}

Status ReadOptionalString(const json::Value& v, std::string_view name, std::optional<std::string>* out) {
  if (v.is_null()) {
    out->reset();
    return Status::Ok();
  }
  std::string text;
  if (!ScalarText(v, &text)) return InvalidArgument(std::string(name) + " must be a string or null.");
  *out = std::move(text);
  return Status::Ok();
}

Status ReadTime(const json::Value& v, std::string_view name, std::int64_t* ticks) {
  if (v.is_string() && datetime::ParseDateTime(v.string_value(), ticks)) return Status::Ok();
  return InvalidArgument(std::string(name) + " is not a date and time: " + json::ToJson(v) + ".");
}

}  // namespace

Status ReadMeasurementJson(const json::Value& v, OwnedMeasurement* out) {
  if (!v.is_object()) return InvalidArgument("A measurement must be a JSON object.");
  *out = OwnedMeasurement();
  bool has_type = false, has_time = false;
  for (auto [key, value] : v.members()) {
    if (KeyIs(key, "Type")) {
      if (!value.is_string() || value.string_value().empty())
        return InvalidArgument("Type must be a non-empty string.");
      out->type = value.string_value();
      has_type = true;
    } else if (KeyIs(key, "OccurrenceTimeUtc")) {
      IOMT_RETURN_IF_ERROR(ReadTime(value, "OccurrenceTimeUtc", &out->occurrence_ticks));
      has_time = true;
    } else if (KeyIs(key, "IngestionTimeUtc")) {
      if (value.is_null()) continue;
      std::int64_t ticks = 0;
      IOMT_RETURN_IF_ERROR(ReadTime(value, "IngestionTimeUtc", &ticks));
      out->ingestion_ticks = ticks;
    } else if (KeyIs(key, "DeviceId")) {
      IOMT_RETURN_IF_ERROR(ReadOptionalString(value, "DeviceId", &out->device_id));
    } else if (KeyIs(key, "PatientId")) {
      IOMT_RETURN_IF_ERROR(ReadOptionalString(value, "PatientId", &out->patient_id));
    } else if (KeyIs(key, "EncounterId")) {
      IOMT_RETURN_IF_ERROR(ReadOptionalString(value, "EncounterId", &out->encounter_id));
    } else if (KeyIs(key, "CorrelationId")) {
      IOMT_RETURN_IF_ERROR(ReadOptionalString(value, "CorrelationId", &out->correlation_id));
    } else if (KeyIs(key, "Properties")) {
      if (value.is_null()) continue;
      if (!value.is_array()) return InvalidArgument("Properties must be an array of {\"Name\", \"Value\"} objects.");
      for (json::Value p : value.elements()) {
        if (!p.is_object()) return InvalidArgument("Properties must be an array of {\"Name\", \"Value\"} objects.");
        OwnedMeasurement::Property prop;
        bool has_name = false, has_value = false;
        for (auto [pk, pv] : p.members()) {
          if (KeyIs(pk, "Name")) {
            has_name = pv.is_string() && !pv.string_value().empty();
            if (has_name) prop.name = pv.string_value();
          } else if (KeyIs(pk, "Value")) {
            if (pv.is_null()) continue;
            if (!ScalarText(pv, &prop.value)) return InvalidArgument("A property Value must be a string.");
            has_value = true;
          }
        }
        if (!has_name) return InvalidArgument("A property must have a non-empty Name.");
        if (has_value) out->properties.push_back(std::move(prop));
      }
    }
  }
  if (!has_type) return InvalidArgument("The measurement has no Type.");
  if (!has_time) return InvalidArgument("The measurement has no OccurrenceTimeUtc.");
  return Status::Ok();
}

}  // namespace iomt
