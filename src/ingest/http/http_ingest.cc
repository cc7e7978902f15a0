#include "ingest/http/http_ingest.h"

namespace iomt::ingest {

Result<std::vector<ReceivedEvent>> HttpEvents(const HttpMessageBody& request) {
  TransportInfo info;
  info.properties = request.properties;
  info.enqueued_ticks = request.received_ticks;
  thread_local json::Document scratch;
  std::vector<ReceivedEvent> events;
  auto add = [&](std::string_view message) {
    if (message.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
    ReceivedEvent& e = events.emplace_back();
    e.text = BuildEventText(message, info, &scratch);
    e.location.request_id = request.request_id;
    e.ingestion_ticks = request.received_ticks;
  };
  if (request.ndjson) {
    std::string_view body = request.body;
    std::size_t start = 0;
    while (start < body.size()) {
      std::size_t end = body.find('\n', start);
      if (end == std::string_view::npos) end = body.size();
      add(body.substr(start, end - start));
      start = end + 1;
    }
  } else {
    add(request.body);
  }
  if (events.empty()) return InvalidArgument("The request holds no device message.").WithDetail("EmptyBody");
  return events;
}

}  // namespace iomt::ingest
