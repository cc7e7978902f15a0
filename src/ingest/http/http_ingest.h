// HTTP ingestion as an event source: the body of `POST
// /connectors/{name}/messages` (one JSON message, or NDJSON) becomes events,
// each with the request's `x-iomt-property-*` headers as Properties and the
// receipt time as its enqueued time (docs/http-api.md). The server queues
// them durably before it answers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "ingest/envelope.h"

namespace iomt::ingest {

struct HttpMessageBody {
  std::string_view body;
  bool ndjson = false;  // one message a line
  std::vector<std::pair<std::string, std::string>> properties;
  std::string request_id;
  std::int64_t received_ticks = 0;
};

// The events of one request, in order; blank lines are skipped.
// kInvalidArgument (detail "EmptyBody") when it holds no message.
Result<std::vector<ReceivedEvent>> HttpEvents(const HttpMessageBody& request);

}  // namespace iomt::ingest
