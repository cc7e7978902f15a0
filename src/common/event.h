// An event: one device message as it enters normalization, with what the
// transport told about it.
#pragma once

#include <cstdint>

#include "common/errors.h"
#include "common/json/value.h"

namespace iomt {

struct Event {
  // What the device mapping sees: normally the envelope
  // {"Body": message, "Properties": {...}, "SystemProperties": {...}}
  // (formats.md), or the bare message with `--envelope none`.
  json::Value value;
  std::int64_t ingestion_ticks = 0;  // when the product or the broker received it
  InputLocation location;
};

}  // namespace iomt
