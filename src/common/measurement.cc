#include "common/measurement.h"

#include "common/datetime.h"
#include "common/json/writer.h"

namespace iomt {

namespace {
void AppendOptional(std::string* out, const std::optional<std::string_view>& v) {
  if (v) {
    json::AppendQuoted(out, *v);
  } else {
    out->append("null");
  }
}
}  // namespace

void AppendMeasurementJson(std::string* out, const Measurement& m) {
  out->append("{\"Type\":");
  json::AppendQuoted(out, m.type);
  out->append(",\"OccurrenceTimeUtc\":\"");
  datetime::AppendIso(out, m.occurrence_ticks);
  out->append("\",\"IngestionTimeUtc\":");
  if (m.ingestion_ticks) {
    out->push_back('"');
    datetime::AppendIso(out, *m.ingestion_ticks);
    out->push_back('"');
  } else {
    out->append("null");
  }
  out->append(",\"DeviceId\":");
  AppendOptional(out, m.device_id);
  out->append(",\"PatientId\":");
  AppendOptional(out, m.patient_id);
  out->append(",\"EncounterId\":");
  AppendOptional(out, m.encounter_id);
  out->append(",\"CorrelationId\":");
  AppendOptional(out, m.correlation_id);
  out->append(",\"Properties\":[");
  bool first = true;
  for (const MeasurementProperty& p : m.properties) {
    if (!first) out->push_back(',');
    first = false;
    out->append("{\"Name\":");
    json::AppendQuoted(out, p.name);
    out->append(",\"Value\":");
    json::AppendQuoted(out, p.value);
    out->push_back('}');
  }
  out->append("]}");
}

}  // namespace iomt
