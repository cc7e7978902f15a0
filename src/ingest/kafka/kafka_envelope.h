// A Kafka record as an event: its headers become Properties; its offset,
// partition and key SystemProperties (as Event Hubs names them); the
// broker's timestamp its enqueued time (docs/adr/0012-kafka-source.md).
#pragma once

#include <cstdint>

#include "common/json/document.h"
#include "ingest/envelope.h"
#include "ingest/kafka/kafka_source.h"

namespace iomt::ingest {

// `now_ticks` stands in for a record without a timestamp; `scratch` is only
// parsed into.
ReceivedEvent KafkaEvent(const KafkaMessage& message, std::int64_t now_ticks, json::Document* scratch);

}  // namespace iomt::ingest
