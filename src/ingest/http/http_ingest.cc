#include "ingest/http/http_ingest.h"

#include <cstddef>

namespace iomt::ingest {

namespace {

// The start of `text`, for an error message: enough for the client to see
// which message it is, printable ASCII only (the message is JSON-quoted, and
// a cut UTF-8 sequence or a control character would only confuse).
std::string Excerpt(std::string_view text) {
  constexpr std::size_t kMax = 40;
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  text = text.substr(first == std::string_view::npos ? text.size() : first);
  std::string out;
  for (char c : text.substr(0, kMax))
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (text.size() > kMax) out.append("...");
  return out;
}

// The 400 for a message that does not parse. Only on this path is the
// message parsed a second time, for the parser's reason (BuildEventText
// keeps it to itself); the request is refused anyway.
Status NotJson(std::string_view message, const HttpMessageBody& request, std::size_t line, json::Document* scratch) {
  const Status why = scratch->Parse(message);
  std::string_view reason = "invalid JSON";
  if (!why.ok()) reason = why.message();
  if (reason.starts_with("invalid JSON: ")) reason.remove_prefix(14);
  std::string text = request.ndjson ? "Line " + std::to_string(line) + " of the NDJSON body" : std::string("The body");
  text.append(" cannot be read as JSON: ").append(reason).append(". It begins \"").append(Excerpt(message));
  text.append("\".");
  // Several messages a line each, sent as one JSON body: say how to send
  // them. (Only a hint: a first line that parses on its own.)
  if (!request.ndjson) {
    const std::size_t newline = message.find('\n');
    if (newline != std::string_view::npos && message.find_first_not_of(" \t\r\n", newline) != std::string_view::npos &&
        scratch->Parse(message.substr(0, newline)).ok()) {
      text.append(" Several messages, one a line, are NDJSON: send them with Content-Type: application/x-ndjson.");
    }
  }
  text.append(" Nothing of the request was accepted.");
  return InvalidArgument(std::move(text)).WithDetail("NotJson");
}

}  // namespace

Result<std::vector<ReceivedEvent>> HttpEvents(const HttpMessageBody& request) {
  TransportInfo info;
  info.properties = request.properties;
  info.enqueued_ticks = request.received_ticks;
  thread_local json::Document scratch;
  std::vector<ReceivedEvent> events;
  // One parse a message: BuildEventText's. Its result tells whether the
  // message parsed: text that is not JSON comes back unchanged, and so does
  // an envelope, which leaves the parsed envelope in `scratch` (a failed
  // parse leaves null there). A wrapped message never equals its text.
  auto add = [&](std::string_view message, std::size_t line) -> Status {
    if (message.find_first_not_of(" \t\r\n") == std::string_view::npos) return Status::Ok();
    // Text larger than the parser takes is refused before parsing, which
    // would leave the previous message's root in `scratch`.
    if (message.size() > scratch.options().max_bytes) return NotJson(message, request, line, &scratch);
    std::string text = BuildEventText(message, info, &scratch);
    if (!IsEnvelope(scratch.root()) && text == message) return NotJson(message, request, line, &scratch);
    ReceivedEvent& e = events.emplace_back();
    e.text = std::move(text);
    e.location.request_id = request.request_id;
    e.ingestion_ticks = request.received_ticks;
    return Status::Ok();
  };
  if (request.ndjson) {
    std::string_view body = request.body;
    std::size_t start = 0;
    for (std::size_t line = 1; start < body.size(); ++line) {
      std::size_t end = body.find('\n', start);
      if (end == std::string_view::npos) end = body.size();
      IOMT_RETURN_IF_ERROR(add(body.substr(start, end - start), line));
      start = end + 1;
    }
  } else {
    IOMT_RETURN_IF_ERROR(add(request.body, 1));
  }
  if (events.empty()) return InvalidArgument("The request holds no device message.").WithDetail("EmptyBody");
  return events;
}

}  // namespace iomt::ingest
