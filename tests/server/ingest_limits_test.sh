#!/usr/bin/env bash
# `iomt serve` refuses the bodies it cannot take, and says so
# (docs/http-api.md): a body that is not JSON (or an NDJSON line that is
# not) is 400 naming where, with nothing of the request queued; a
# Content-Type other than JSON/NDJSON is 415; a body over the limit is a
# readable 413 for any size, with Content-Length and chunked, from curl and
# from Node's http client; after each, the server serves the next request.
#   IOMT=path/to/iomt ingest_limits_test.sh   (from the checkout's root)
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
test_name=ingest_limits_test
tmp=$(mktemp -d /tmp/iomt-limits-XXXXXX)
# shellcheck source=tests/server/lib.sh
. "$(dirname "$0")/lib.sh"
[ -x tools/node/node_modules/.bin/node ] || fail "the pinned Node.js is missing: run scripts/npm-install.sh tools/node"

start_serve s --store "$tmp/s" --connector ward --device-mapping examples/mappings/devicecontent.json \
  --fhir-mapping examples/mappings/fhirmapping.json
s=$pid
url="$base/connectors/ward/messages"

# send CONTENT-TYPE BODY [CURL ARGS...]: POSTs BODY (a string) with that
# Content-Type (empty: none at all); prints the status, the answer is in
# $tmp/r.json.
send() {
  local type=$1 body=$2
  shift 2
  curl -s -o "$tmp/r.json" -w '%{http_code}' -H "Content-Type:${type:+ $type}" --data-binary "$body" "$@" "$url"
}
# error_is CODE: the last answer is a JSON error with that code.
error_is() { jq -e --arg c "$1" '.error.code == $c and (.error.message | length > 0)' "$tmp/r.json" > /dev/null; }
message() { jq -r .error.message "$tmp/r.json"; }
accepted=0
# ok_send ... (as send): must be 202; counts what was accepted.
ok_send() {
  local code
  code=$(send "$@")
  [ "$code" = 202 ] || fail "expected 202 for Content-Type '$1' body '${2:0:60}': $code $(cat "$tmp/r.json")"
  accepted=$((accepted + $(jq .accepted "$tmp/r.json")))
}

good='{"deviceId":"watch-01","patientId":"patient-001","metric":"heart_rate","value":72,"time":"2024-01-01T00:00:00Z"}'

# ---- 1. Not JSON: 400 naming where, nothing queued ------------------------
code=$(send application/json '{"deviceId":"watch-01","value":7')
[ "$code" = 400 ] && error_is NotJson || fail "a truncated JSON body: $code $(cat "$tmp/r.json")"
message | grep -q 'cannot be read as JSON: [a-z]' || fail "the 400 does not give the parser's reason: $(message)"
code=$(send application/json 'hello, world')
[ "$code" = 400 ] && error_is NotJson && message | grep -q 'hello, world' || fail "plain text as JSON: $code $(message)"
# Two messages sent as one JSON body: the answer points to NDJSON.
code=$(send application/json "$good"$'\n'"$good")
[ "$code" = 400 ] && error_is NotJson && message | grep -q 'application/x-ndjson' ||
  fail "NDJSON sent as JSON: $code $(cat "$tmp/r.json")"
# NDJSON: line 4 is broken (line 2 is empty, which is fine).
printf '%s\n\n%s\n{"deviceId":"watch-01","value":\n%s\n' "$good" "$good" "$good" > "$tmp/bad.ndjson"
code=$(curl -s -o "$tmp/r.json" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
  --data-binary "@$tmp/bad.ndjson" "$url")
[ "$code" = 400 ] && error_is NotJson || fail "an NDJSON body with a broken line: $code $(cat "$tmp/r.json")"
message | grep -q 'Line 4' || fail "the 400 does not name line 4: $(message)"
message | grep -q 'cannot be read as JSON: [a-z]' || fail "the 400 does not give the parser's reason: $(message)"
code=$(send application/x-ndjson $'  \n\t\n')
[ "$code" = 400 ] && error_is EmptyBody || fail "a whitespace-only body: $code $(cat "$tmp/r.json")"
# Nothing of the refused requests was queued.
[ "$(counter "$base" ward incoming)" = 0 ] && [ "$(queued "$base" ward)" = 0 ] ||
  fail "refused requests were queued: $(curl -s "$base/connectors/ward")"
pass "not JSON: 400 NotJson naming the line and the parser's reason; nothing queued"

# ---- 2. Content types: JSON and NDJSON only; none is JSON -----------------
for type in application/xml text/plain application/x-www-form-urlencoded; do
  code=$(send "$type" "$good")
  [ "$code" = 415 ] && error_is UnsupportedMediaType || fail "Content-Type $type: $code $(cat "$tmp/r.json")"
  message | grep -q 'application/json' && message | grep -q 'application/x-ndjson' ||
    fail "the 415 does not name the accepted types: $(message)"
done
# curl -d without a Content-Type sends a form: refused too.
code=$(curl -s -o "$tmp/r.json" -w '%{http_code}' -d "$good" "$url")
[ "$code" = 415 ] || fail "curl -d (a form) is $code"
# Before the content type, the connector must exist.
[ "$(curl -s -o /dev/null -w '%{http_code}' -d '{}' "$base/connectors/nope/messages")" = 404 ] ||
  fail "an unknown connector is not 404"
[ "$(counter "$base" ward incoming)" = 0 ] || fail "a refused content type was queued"
ok_send '' "$good"
ok_send 'application/json; charset=utf-8' "$good"
ok_send 'Application/JSON' "$good"
ok_send 'application/fhir+json' "$good"
ok_send 'application/x-ndjson; charset=UTF-8' "$good"$'\n\n'"$good"$'\r\n'
ok_send 'application/ndjson' "$good"
# An envelope is taken as it is.
ok_send application/json '{"Body":'"$good"',"Properties":{"site":"north"}}'
[ "$accepted" = 8 ] || fail "accepted $accepted messages, expected 8"
code=$(send 'application/json; charset=iso-8859-1' "$good")
[ "$code" = 415 ] || fail "a charset other than UTF-8: $code"
pass "Content-Type: XML, text and forms 415 naming the accepted types; none, JSON (+json, charset) and NDJSON 202"

# ---- 3. Oversized bodies: a readable 413 for any size ---------------------
# Then the next request is served normally.
next_ok() {
  kill -0 "$s" 2> /dev/null || fail "iomt serve died after $1"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] || fail "/healthz after $1"
  ok_send application/json "$good"
}
# too_large WHAT ANSWER: ANSWER (from $tmp/r.json) is the 413 JSON error.
too_large() {
  jq -e '.error.code == "PayloadTooLarge"' "$tmp/r.json" > /dev/null 2>&1 ||
    fail "$1: no readable 413 (status $2, answer: $(head -c 300 "$tmp/r.json"))"
}
for size in $((1024 * 1024 + 1)) $((8 * 1024 * 1024)) $((64 * 1024 * 1024)); do
  head -c "$size" /dev/zero | tr '\0' ' ' > "$tmp/body"
  # curl: Content-Length (curl sends Expect: 100-continue for bodies this
  # big, and also without it), then chunked (with and without Expect).
  for variant in length length-no-expect chunked chunked-no-expect; do
    args=(-H 'Content-Type: application/x-ndjson')
    case $variant in
      chunked*) args+=(-H 'Transfer-Encoding: chunked') ;;
    esac
    case $variant in
      *no-expect) args+=(-H 'Expect:') ;;
    esac
    rc=0
    code=$(curl -s -o "$tmp/r.json" -w '%{http_code}' "${args[@]}" --data-binary "@$tmp/body" "$url") || rc=$?
    [ "$code" = 413 ] || fail "curl $variant, $size bytes: status $code (curl exit $rc) $(head -c 300 "$tmp/r.json")"
    too_large "curl $variant, $size bytes" "$code"
    [ $rc = 0 ] || fail "curl $variant, $size bytes: curl exit $rc (the connection was reset)"
    next_ok "curl $variant, $size bytes"
  done
  # Node's http client: no Expect, and it goes on writing while the answer
  # comes in.
  for framing in content-length chunked; do
    rc=0
    scripts/node tests/server/post_body.js "$url" "$size" $framing > "$tmp/node.out" || rc=$?
    read -r code answer < "$tmp/node.out" || true
    printf '%s' "$answer" > "$tmp/r.json"
    [ $rc = 0 ] && [ "$code" = 413 ] || fail "node $framing, $size bytes: $(head -c 300 "$tmp/node.out")"
    too_large "node $framing, $size bytes" "$code"
    next_ok "node $framing, $size bytes"
  done
  pass "$size bytes: 413 with a JSON error for curl (Content-Length, chunked, with and without Expect) and Node"
done
rm -f "$tmp/body"
[ "$(counter "$base" ward incoming)" = "$accepted" ] ||
  fail "incoming $(counter "$base" ward incoming), expected $accepted: an oversized body was queued"
stop_serve "$s"
echo "ingest_limits_test: all passed"
