#include "common/measurement.h"

#include <cstring>

#include "common/datetime.h"
#include "common/json/writer.h"

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

}  // namespace iomt
