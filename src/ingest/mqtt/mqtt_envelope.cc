#include "ingest/mqtt/mqtt_envelope.h"

#include <utility>

#include "common/datetime.h"

namespace iomt::ingest {

ReceivedEvent MqttEvent(MqttMessage&& m, json::Document* scratch) {
  TransportInfo info;
  info.properties = std::move(m.user_properties);
  info.properties.emplace_back("mqtt-topic", m.topic);
  info.enqueued_ticks = m.receipt_ms * datetime::kTicksPerMillisecond;
  ReceivedEvent e;
  e.text = BuildEventText(m.payload, info, scratch);
  e.location.request_id = "mqtt:" + m.topic;
  e.ingestion_ticks = info.enqueued_ticks;
  return e;
}

}  // namespace iomt::ingest
