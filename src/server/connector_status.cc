// What a connector tells about itself: readiness (GET /readyz), its status
// (GET /connectors/{name}) and the mappings it runs (GET .../mappings).
#include "common/json/writer.h"
#include "ingest/mqtt/mqtt_source.h"
#include "pipeline/event_log/event_log.h"
#include "pipeline/kafka_batch_source.h"
#include "server/connector.h"

namespace iomt::server {

bool Connector::Ready(std::string* why) const {
  {
    MutexLock lock(mu_);
    if (!mappings_) {
      *why = mapping_problem_;
      return false;
    }
  }
  if (kafka_) {
    if (std::string problem = kafka_->Problem(); !problem.empty()) {
      *why = "Kafka: " + problem;
      return false;
    }
  }
  if (mqtt_ && !mqtt_->connected()) {
    *why =
        "MQTT: not connected to " + config_.mqtt->url + (mqtt_->last_error().empty() ? "" : ": ") + mqtt_->last_error();
    return false;
  }
  MutexLock lock(mu_);
  if (!held_problem_.empty()) {
    *why = held_problem_;
    return false;
  }
  return true;
}

std::string Connector::StatusJson() const {
  std::string why;
  const bool ready = Ready(&why);
  std::string out = "{\"name\":";
  json::AppendQuoted(&out, config_.name);
  out.append(",\"state\":\"").append(stopping_ ? "Stopping" : (mappings() ? "Running" : "Paused")).append("\"");
  out.append(",\"ready\":").append(ready ? "true" : "false");
  if (!ready) {
    out.append(",\"problem\":");
    json::AppendQuoted(&out, why);
  }
  out.append(",\"sources\":{\"http\":true");
  if (config_.kafka) {
    out.append(",\"kafka\":{\"topic\":");
    json::AppendQuoted(&out, config_.kafka->topic);
    out.append(",\"group\":");
    json::AppendQuoted(&out, config_.kafka->group);
    out.append(",\"partitions\":[");
    if (kafka_) {
      const std::vector<std::int32_t> held = kafka_->partitions();
      for (std::size_t i = 0; i < held.size(); ++i) {
        if (i > 0) out.push_back(',');
        out.append(std::to_string(held[i]));
      }
    }
    out.append("]}");
  }
  if (config_.mqtt) {
    out.append(",\"mqtt\":{\"topic\":");
    json::AppendQuoted(&out, config_.mqtt->topic);
    out.append(",\"connected\":").append(mqtt_ && mqtt_->connected() ? "true" : "false").append("}");
  }
  out.append("}");
  if (!config_.source_warning.empty()) {
    out.append(",\"sourceWarning\":");
    json::AppendQuoted(&out, config_.source_warning);
  }
  out.append(",\"fhir\":");
  json::AppendQuoted(&out, config_.fhir.url.empty() ? std::string("embedded") : config_.fhir.url);
  out.append(",\"queue\":{\"events\":").append(std::to_string(log_ ? log_->pending_records() : 0)).append("}");
  out.append(",\"counters\":{\"incoming\":").append(std::to_string(incoming_.load()));
  out.append(",\"events\":").append(std::to_string(events_.load()));
  out.append(",\"measurements\":").append(std::to_string(measurements_.load()));
  out.append(",\"observations\":{\"created\":").append(std::to_string(created_.load()));
  out.append(",\"updated\":").append(std::to_string(updated_.load()));
  out.append(",\"unchanged\":").append(std::to_string(unchanged_.load())).append("}");
  out.append(",\"deadLettered\":").append(std::to_string(dead_lettered_.load()));
  out.append(",\"rejected\":").append(std::to_string(rejected_.load())).append("}");
  {
    MutexLock lock(mu_);
    out.append(",\"held\":").append(held_problem_.empty() ? "false" : "true");
    out.append(",\"errorsByName\":{");
    bool first = true;
    for (const auto& [name, count] : errors_by_name_) {
      if (!first) out.push_back(',');
      first = false;
      json::AppendQuoted(&out, name);
      out.append(":").append(std::to_string(count));
    }
    out.push_back('}');
    out.append(",\"mappingWarnings\":[");
    for (std::size_t i = 0; i < mapping_warnings_.size(); ++i) {
      if (i > 0) out.push_back(',');
      json::AppendQuoted(&out, mapping_warnings_[i]);
    }
    out.push_back(']');
  }
  out.append(",\"recentErrors\":[");
  {
    MutexLock lock(mu_);
    for (std::size_t i = 0; i < recent_errors_.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append(recent_errors_[i]);
    }
  }
  out.append("]}");
  return out;
}

std::string Connector::MappingsJson() const {
  std::shared_ptr<const pipeline::MappingSet> m = mappings();
  if (!m) return "{\"deviceMapping\":null,\"fhirMapping\":null}";
  // The texts are valid JSON (they loaded): embedded as they are.
  std::string out = "{\"deviceMapping\":";
  out.append(m->device_text).append(",\"fhirMapping\":").append(m->fhir_text).append("}");
  return out;
}

}  // namespace iomt::server
