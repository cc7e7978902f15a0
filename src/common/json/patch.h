// JSON Patch (RFC 6902): a list of operations (add, remove, replace, move,
// copy, test) on a document, each at a JSON Pointer (RFC 6901). The FHIR
// API's PATCH applies one to a stored resource. Numbers keep their lexemes
// (a FHIR decimal 1.50 stays 1.50) on both sides.
#pragma once

#include <string>
#include <string_view>

#include "common/json/node.h"
#include "common/status.h"

namespace iomt::json {

// Parses JSON text into a Node whose numbers keep their lexemes (ParseNode
// keeps their values only). For edits, not for the data path.
Result<Node> ParseNodeExact(std::string_view text);

// Applies `patch` (the text of a JSON Patch document) to `*doc`, all or
// nothing: `*doc` is changed only when every operation succeeded.
// kInvalidArgument when `patch` is not a JSON Patch document; the same with
// detail "unprocessable" when an operation cannot be applied (its path is
// not there, a test fails), naming the operation by its index.
Status ApplyJsonPatch(std::string_view patch, Node* doc);

}  // namespace iomt::json
