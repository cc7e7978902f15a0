#!/usr/bin/env bash
# The service's log (docs/deploy.md#logs): --log-format json gives one JSON
# object a line with time, level and message; an event's error names its
# connector, stage, error and request id but never what the device sent
# (its reason quotes the message: only at debug); a flood of bad events is
# rate limited and says how many lines it held back; --log-level filters;
# the configuration file's "log" group sets the same; text is the default.
#   IOMT=... log_test.sh
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
test_name=log_test
tmp=$(mktemp -d /tmp/iomt-log-XXXXXX)
# shellcheck source=tests/server/lib.sh
. "$(dirname "$0")/lib.sh"

dm=examples/mappings/devicecontent.json
fm=examples/mappings/fhirmapping.json
# A message whose time is not a time: IncompatibleDataException, and the
# error's text quotes the value (a stand-in for patient data).
bad='{"Body":{"deviceId":"dev-PHI","patientId":"pat-PHI","metric":"heart_rate","value":70,"time":"PHI-SECRET-7"}}'
post_bad() { # post_bad BASE REQUEST-ID
  curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -H "x-request-id: $2" \
    --data-binary "$bad" "$1/connectors/ward/messages"
}
connector=(--connector ward --device-mapping "$dm" --fhir-mapping "$fm")

# JSON at info.
start_serve json --store "$tmp/s1" "${connector[@]}" --log-format json
[ "$(post_bad "$base" req-abc)" = 202 ] || fail "POST"
wait_for 10 "the event's error logged" grep -q 'IncompatibleDataException' "$tmp/json.err"
curl -s -o /dev/null "$base/fhir/Patient/pat-PHI"
stop_serve "$pid"
jq -e . "$tmp/json.err" > /dev/null 2>&1 || fail "a line is not JSON: $(head -3 "$tmp/json.err")"
[ "$(jq -c 'select((.time and .level and .message) | not)' "$tmp/json.err" | wc -l)" = 0 ] || fail "a line without time, level or message"
line=$(jq -c 'select(.error == "IncompatibleDataException")' "$tmp/json.err")
for field in '.level == "warn"' '.connector == "ward"' '.stage == "Normalization"' '.request_id == "req-abc"' \
  '.template == "heartrate"' '.reason == null'; do
  jq -e "$field" <<< "$line" > /dev/null || fail "the event's error line: not $field: $line"
done
# some LOG COND: a line of LOG meets the jq condition COND.
some() { jq -se "any(.[]; $2)" "$1" > /dev/null; }
some "$tmp/json.err" '.message == "listening" and .version != null and .commit != null' || fail "no version at start"
some "$tmp/json.err" '.message == "stopped"' || fail "no stopped line"
! grep -q 'PHI' "$tmp/json.err" || fail "patient data in the log at info: $(grep PHI "$tmp/json.err")"
! some "$tmp/json.err" '.message == "request"' || fail "request lines at info"
pass "json at info: fields of the event's error, no message data, no request lines"

# Debug: the reason and every request (the FHIR path whole, at debug only).
start_serve debug --store "$tmp/s2" "${connector[@]}" --log-format json --log-level debug
[ "$(post_bad "$base" req-dbg)" = 202 ] || fail "POST"
wait_for 10 "the event's error logged" grep -q 'IncompatibleDataException' "$tmp/debug.err"
stop_serve "$pid"
some "$tmp/debug.err" '.error == "IncompatibleDataException" and (.reason | contains("PHI-SECRET-7"))' ||
  fail "no reason at debug"
some "$tmp/debug.err" '.message == "request" and .method == "POST" and .path == "/connectors/ward/messages"
  and .status == 202 and .request_id == "req-dbg"' || fail "no request line at debug: $(grep request "$tmp/debug.err")"
pass "debug: the error's reason and a line per request"

# A flood: 300 bad events; the log holds most back and counts them; the
# dead letters keep every one.
start_serve flood --store "$tmp/s3" "${connector[@]}" --log-format json
for i in $(seq 1 300); do printf '%s\n' "$bad"; done > "$tmp/flood.ndjson"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/x-ndjson' --data-binary @"$tmp/flood.ndjson" \
  "$base/connectors/ward/messages")
[ "$code" = 202 ] || fail "POST flood: $code"
# (A function: wait_for runs it again each time; a $(...) argument would be
# read once.)
dead_letters_are() { [ "$(counter "$base" ward deadLettered)" = "$1" ]; }
wait_for 30 "300 dead letters" dead_letters_are 300
sleep 1.2 # past the limit's refill: the next error's line tells what was held back
[ "$(post_bad "$base" req-after)" = 202 ] || fail "POST after the flood"
wait_for 10 "the line after the flood" grep -q 'req-after' "$tmp/flood.err"
stop_serve "$pid"
logged=$(jq -c 'select(.error == "IncompatibleDataException")' "$tmp/flood.err" | wc -l)
[ "$logged" -lt 120 ] || fail "the flood was not rate limited: $logged lines for 301 errors"
held=$(jq -s '[.[] | .suppressed // 0] | add' "$tmp/flood.err")
[ $((logged + held)) = 301 ] || fail "lines ($logged) and held back ($held) do not add up to 301 errors"
pass "a flood of 301 errors: $logged lines, $held held back and counted"

# Warn from a configuration file's log group; text by default.
cat > "$tmp/iomt.json" << JSON
{"listen": "127.0.0.1:0", "store": "$tmp/s4", "log": {"level": "warn"},
 "connectors": [{"name": "ward", "deviceMapping": "$PWD/$dm", "fhirMapping": "$PWD/$fm"}]}
JSON
start_serve cfg --config "$tmp/iomt.json"
[ "$(post_bad "$base" req-cfg)" = 202 ] || fail "POST"
wait_for 10 "the event's error logged" grep -q 'IncompatibleDataException' "$tmp/cfg.err"
stop_serve "$pid"
! grep -q ' info ' "$tmp/cfg.err" || fail "info lines at warn: $(grep ' info ' "$tmp/cfg.err")"
grep -Eq '^[0-9-]+T[0-9:.]+Z warn event not carried through connector=ward stage=Normalization error=IncompatibleDataException request_id=req-cfg' \
  "$tmp/cfg.err" || fail "text line: $(cat "$tmp/cfg.err")"
pass "the configuration file's log group; text lines"

# A connector's own problem (its device mapping cannot be read) is an error
# line with its reason; /readyz answering 503 under a probe is not logged
# at info (the problem was, once).
t0=$SECONDS
start_serve paused --store "$tmp/s6" --connector ward --device-mapping "$tmp/missing.json" --fhir-mapping "$fm" \
  --log-format json
for _ in 1 2 3; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 503 ] || fail "/readyz with a paused connector"
done
# The problem again at each reload (SIGHUP, the file still missing): the
# operator's reload answers every time, the connector's own line 10 times
# (its burst), then no more than one every 10 s.
reload_failures() { [ "$(grep -c 'reload failed' "$tmp/paused.err")" -ge "$1" ]; }
for i in $(seq 1 15); do
  kill -HUP "$pid"
  wait_for 10 "reload $i answered" reload_failures "$i"
done
# A slow build (sanitizers) may take long enough for the limit to let one
# more line through every 10 s; without a limit there would be 16.
most=$((10 + (SECONDS - t0 + 1) / 10))
stop_serve "$pid"
problems=$(jq -s '[.[] | select(.message == "connector problem")] | length' "$tmp/paused.err")
[ "$problems" -ge 10 ] && [ "$problems" -le "$most" ] && [ "$problems" -lt 16 ] ||
  fail "the repeated connector problem logged $problems times (the start and 15 reloads; 10 to $most expected)"
some "$tmp/paused.err" '.level == "error" and .message == "connector problem" and .connector == "ward"
  and .stage == "Normalization" and .error == "TemplateNotFoundException" and (.reason | contains("missing.json"))' ||
  fail "no error line for the unreadable mapping: $(cat "$tmp/paused.err")"
! some "$tmp/paused.err" '.message == "request failed"' || fail "probes logged as failed requests"
pass "a connector's problem: an error line with its reason, rate limited when it repeats; probes not logged"

# Bad values are refused at start with the choices.
rc=0
"$iomt" serve --listen 127.0.0.1:0 --store "$tmp/s5" --log-level loud > /dev/null 2> "$tmp/bad.err" || rc=$?
[ "$rc" = 2 ] || fail "--log-level loud: exit $rc"
grep -q 'debug' "$tmp/bad.err" || fail "the refusal does not name the choices: $(cat "$tmp/bad.err")"
pass "a bad --log-level is a usage error naming the choices"
