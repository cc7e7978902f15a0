// Percent-decoding and query strings ("a=1&b=2"): the one reading of them
// that the FHIR API, the embedded store's search and the service's routes
// share, so that a query means the same thing wherever it is read.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace iomt::url {

// The value of a hexadecimal digit (0-9, a-f, A-F); -1 for any other
// character.
int HexDigit(char c);

// Decodes %XX escapes. Everything else stays as it is, '+' included (in a
// FHIR search a '+' is a date's zone offset more often than a form-encoded
// space; a form body is rewritten before it gets here), and so does a '%'
// that two hex digits do not follow.
std::string PercentDecode(std::string_view s);

// One `name=value` piece of a query string, as sent (not decoded).
struct QueryPiece {
  std::string_view text;   // the whole piece
  std::string_view name;   // up to the first '=' (all of it when there is none)
  std::string_view value;  // after the first '='; empty when there is none
};

// The pieces of `query` (without its '?') between '&'s, in order; empty
// pieces ("a&&b", a trailing '&') are left out.
std::vector<QueryPiece> SplitQuery(std::string_view query);

// The decoded value of the first piece named `name` (compared as sent, not
// decoded); "" when there is none.
std::string QueryValue(std::string_view query, std::string_view name);

}  // namespace iomt::url
