#include "pipeline/options.h"

#include <cstdio>

#include "common/json/writer.h"

namespace iomt::pipeline {

PipelineStats PipelineStats::Since(const PipelineStats& before) const {
  PipelineStats d;
  d.events = events - before.events;
  d.measurements = measurements - before.measurements;
  d.groups = groups - before.groups;
  d.failed_groups = failed_groups - before.failed_groups;
  d.created = created - before.created;
  d.updated = updated - before.updated;
  d.unchanged = unchanged - before.unchanged;
  d.patients_created = patients_created - before.patients_created;
  d.devices_created = devices_created - before.devices_created;
  d.dead_lettered = dead_lettered - before.dead_lettered;
  for (const auto& [name, count] : errors) {
    auto it = before.errors.find(name);
    const std::int64_t grown = count - (it == before.errors.end() ? 0 : it->second);
    if (grown != 0) d.errors[name] = grown;
  }
  d.seconds = seconds - before.seconds;
  d.unavailable = unavailable;
  return d;
}

std::string StatsJson(const PipelineStats& s) {
  std::string out = "{\"events\":" + std::to_string(s.events);
  out.append(",\"measurements\":").append(std::to_string(s.measurements));
  out.append(",\"groups\":").append(std::to_string(s.groups));
  out.append(",\"observations\":{\"created\":").append(std::to_string(s.created));
  out.append(",\"updated\":").append(std::to_string(s.updated));
  out.append(",\"unchanged\":").append(std::to_string(s.unchanged)).append("}");
  out.append(",\"patientsCreated\":").append(std::to_string(s.patients_created));
  out.append(",\"devicesCreated\":").append(std::to_string(s.devices_created));
  out.append(",\"deadLettered\":").append(std::to_string(s.dead_lettered));
  out.append(",\"errors\":{");
  bool first = true;
  for (const auto& [name, count] : s.errors) {
    if (!first) out.push_back(',');
    first = false;
    json::AppendQuoted(&out, name);
    out.push_back(':');
    out.append(std::to_string(count));
  }
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.3f", s.seconds);
  out.append("},\"seconds\":").append(seconds).append("}");
  return out;
}

}  // namespace iomt::pipeline
