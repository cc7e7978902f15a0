#include "ingest/envelope.h"

#include <algorithm>

#include "common/datetime.h"
#include "common/json/writer.h"

namespace iomt::ingest {

using json::Value;

Result<EnvelopeMode> ParseEnvelopeMode(std::string_view name) {
  if (name == "auto") return EnvelopeMode::kAuto;
  if (name == "event") return EnvelopeMode::kEvent;
  if (name == "wrap") return EnvelopeMode::kWrap;
  if (name == "none") return EnvelopeMode::kNone;
  return InvalidArgument("unknown envelope mode '" + std::string(name) + "' (expected auto, event, wrap or none)");
}

bool IsEnvelope(const Value& v) {
  if (!v.is_object()) return false;
  bool body = false;
  for (const json::Member& m : v.members()) {
    if (m.key == "Body") {
      body = true;
    } else if (m.key != "Properties" && m.key != "SystemProperties") {
      return false;
    }
  }
  return body;
}

namespace {

Status CheckEnvelope(const Value& envelope) {
  for (const json::Member& m : envelope.members()) {
    if (m.key == "Body" && !m.value.is_object() && !m.value.is_array()) {
      return InvalidArgument("The event Body must be a JSON object or array; got " +
                             std::string(json::KindName(m.value.kind())) + ".");
    }
    if ((m.key == "Properties" || m.key == "SystemProperties") && !m.value.is_object() && !m.value.is_null()) {
      return InvalidArgument("The event " + std::string(m.key) + " must be a JSON object; got " +
                             std::string(json::KindName(m.value.kind())) + ".");
    }
  }
  return Status::Ok();
}

}  // namespace

Status MakeEventValue(const Value& line, EnvelopeMode mode, std::int64_t ingestion_ticks, json::Arena* arena,
                      Value* out) {
  switch (mode) {
    case EnvelopeMode::kNone: *out = line; return Status::Ok();
    case EnvelopeMode::kEvent:
      if (!IsEnvelope(line)) {
        return InvalidArgument(
            "With --envelope event every line must be an envelope: an object with \"Body\" and optionally "
            "\"Properties\" and \"SystemProperties\".");
      }
      *out = line;
      return CheckEnvelope(line);
    case EnvelopeMode::kAuto:
      if (IsEnvelope(line)) {
        *out = line;
        return CheckEnvelope(line);
      }
      [[fallthrough]];
    case EnvelopeMode::kWrap: {
      if (!line.is_object() && !line.is_array()) {
        return InvalidArgument("The event Body must be a JSON object or array; got " +
                               std::string(json::KindName(line.kind())) + ".");
      }
      json::Member system[] = {{"x-opt-enqueued-time", Value::Date(ingestion_ticks)}};
      json::Member members[] = {
          {"Body", line}, {"Properties", arena->MakeObject({})}, {"SystemProperties", arena->MakeObject(system)}};
      *out = arena->MakeObject(members);
      return Status::Ok();
    }
  }
  return Status::Ok();
}

namespace {

// The members of a JSON object (without its braces) from name/value pairs.
// A name that comes more than once (a repeated HTTP or Kafka header, MQTT
// user properties, which may repeat by design) keeps all its values: one
// member, at the name's first place, holding the array of its values in
// their order. A JSON object with a repeated member would keep only one of
// them in most readers (Json.NET: the last), silently.
void AppendStringObject(std::string* out, const std::vector<std::pair<std::string, std::string>>& members) {
  const std::size_t n = members.size();
  // next[i]: the following member with the name of member i; repeat[i]: a
  // name seen before. Found by a stable sort of the indices by name, so
  // that many members cost n log n (most envelopes have none or a few).
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<std::size_t> next;
  std::vector<bool> repeat;
  if (n > 1) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return members[a].first < members[b].first; });
    next.assign(n, kNone);
    repeat.assign(n, false);
    for (std::size_t k = 1; k < n; ++k) {
      if (members[order[k]].first != members[order[k - 1]].first) continue;
      next[order[k - 1]] = order[k];
      repeat[order[k]] = true;
    }
  }
  bool first = true;
  for (std::size_t i = 0; i < n; ++i) {
    if (!repeat.empty() && repeat[i]) continue;
    if (!first) out->push_back(',');
    first = false;
    json::AppendQuoted(out, members[i].first);
    out->push_back(':');
    if (next.empty() || next[i] == kNone) {
      json::AppendQuoted(out, members[i].second);
      continue;
    }
    out->push_back('[');
    for (std::size_t j = i; j != kNone; j = next[j]) {
      if (j != i) out->push_back(',');
      json::AppendQuoted(out, members[j].second);
    }
    out->push_back(']');
  }
}

}  // namespace

std::string BuildEventText(std::string_view message, const TransportInfo& info, json::Document* scratch) {
  if (!scratch->Parse(message).ok() || IsEnvelope(scratch->root())) return std::string(message);
  // Trimmed, so that the envelope is one line (NDJSON dead letters).
  const std::size_t first = message.find_first_not_of(" \t\r\n");
  const std::size_t last = message.find_last_not_of(" \t\r\n");
  std::string_view body = message.substr(first, last - first + 1);
  std::string out;
  out.reserve(body.size() + 96);
  out.append("{\"Body\":").append(body).append(",\"Properties\":{");
  AppendStringObject(&out, info.properties);
  out.append("},\"SystemProperties\":{\"x-opt-enqueued-time\":\"");
  datetime::AppendIso(&out, info.enqueued_ticks);
  out.push_back('"');
  if (!info.system_properties.empty()) out.push_back(',');
  AppendStringObject(&out, info.system_properties);
  out.append("}}");
  return out;
}

std::optional<std::int64_t> EnqueuedTime(const Value& envelope) {
  Value system;
  if (!envelope.Find("SystemProperties", &system)) return std::nullopt;
  for (std::string_view key : {"x-opt-enqueued-time", "iothub-enqueuedtime"}) {
    Value t;
    if (!system.Find(key, &t)) continue;
    if (t.is_date()) return t.date_ticks();
    std::int64_t ticks = 0;
    if (t.is_string() && datetime::ParseDateTime(t.string_value(), &ticks)) return ticks;
  }
  return std::nullopt;
}

}  // namespace iomt::ingest
