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

// The events of one request, in order; blank lines are skipped. A message
// that is an envelope is taken as it is, any other JSON message wrapped
// (BuildEventText). All or nothing: kInvalidArgument with detail "NotJson"
// when a message (an NDJSON line) does not parse, the message naming the
// line and the parser's reason, so that the client learns it (rather than
// finding a dead letter later); detail "EmptyBody" when the body holds no
// message.
Result<std::vector<ReceivedEvent>> HttpEvents(const HttpMessageBody& request);

}  // namespace iomt::ingest
