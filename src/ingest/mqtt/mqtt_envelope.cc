#include "ingest/mqtt/mqtt_envelope.h"

#include <string_view>
#include <utility>
#include <vector>

#include "common/datetime.h"

namespace iomt::ingest {
namespace {

constexpr std::string_view kTopicProperty = "mqtt-topic";

}  // namespace

ReceivedEvent MqttEvent(MqttMessage&& m, json::Document* scratch) {
  TransportInfo info;
  info.properties = std::move(m.user_properties);
  // User properties may repeat a name (MQTT v5 3.3.2.3.7); BuildEventText
  // keeps all their values. "mqtt-topic" is the topic the broker delivered
  // on, though, and stays one string a mapping can rely on: a user property
  // of that name does not get to add to it.
  std::erase_if(info.properties, [](const auto& p) { return p.first == kTopicProperty; });
  info.properties.emplace_back(kTopicProperty, m.topic);
  info.enqueued_ticks = m.receipt_ms * datetime::kTicksPerMillisecond;
  ReceivedEvent e;
  e.text = BuildEventText(m.payload, info, scratch);
  e.location.request_id = "mqtt:" + m.topic;
  e.ingestion_ticks = info.enqueued_ticks;
  return e;
}

}  // namespace iomt::ingest
