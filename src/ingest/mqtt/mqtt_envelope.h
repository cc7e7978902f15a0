// An MQTT message as an event: its user properties and topic
// ("mqtt-topic") become Properties, the receipt time its enqueued time
// (docs/adr/0013-mqtt-source.md).
#pragma once

#include "common/json/document.h"
#include "ingest/envelope.h"
#include "ingest/mqtt/mqtt_source.h"

namespace iomt::ingest {

// `scratch` is only parsed into.
ReceivedEvent MqttEvent(MqttMessage&& message, json::Document* scratch);

}  // namespace iomt::ingest
