#include "ingest/kafka/kafka_envelope.h"

#include <string>

#include "common/datetime.h"

namespace iomt::ingest {

ReceivedEvent KafkaEvent(const KafkaMessage& m, std::int64_t now_ticks, json::Document* scratch) {
  // Latency is counted from when the broker had it.
  const std::int64_t received = m.timestamp_ms >= 0 ? m.timestamp_ms * datetime::kTicksPerMillisecond : now_ticks;
  TransportInfo info;
  info.properties = m.headers;
  info.enqueued_ticks = received;
  info.system_properties = {{"x-opt-offset", std::to_string(m.offset)},
                            {"x-opt-sequence-number", std::to_string(m.offset)},
                            {"x-opt-partition-id", std::to_string(m.partition)}};
  if (!m.key.empty()) info.system_properties.emplace_back("x-opt-partition-key", m.key);
  ReceivedEvent e;
  e.text = BuildEventText(m.payload, info, scratch);
  e.location.partition = std::to_string(m.partition);
  e.location.offset = m.offset;
  e.ingestion_ticks = received;
  return e;
}

}  // namespace iomt::ingest
