#!/usr/bin/env bash
# `iomt serve` end to end, as an operator runs it: HTTP ingestion into the
# embedded store, /fhir, /metrics, /healthz, /readyz, dead letters and
# replay, a configuration file with two connectors, invalid mappings
# (paused, Critical, reload), the queue bound (429) and bounded memory,
# SIGTERM drain, and SIGKILL during ingestion (every 202 is in the store
# after the restart).
#   IOMT=path/to/iomt serve_test.sh   (from the checkout's root)
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
test_name=serve_test
tmp=$(mktemp -d /tmp/iomt-serve-XXXXXX)
# shellcheck source=tests/server/lib.sh
. "$(dirname "$0")/lib.sh"

# A small AddressSanitizer quarantine, so that RSS measures what is kept.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
examples_dm=examples/mappings/devicecontent.json
examples_fm=examples/mappings/fhirmapping.json
basic_dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
quantity_fm=bench/mappings/w1-quantity/fhirmapping.json
node bench/gen.js w1 3000 11 > "$tmp/w1.ndjson"

# ---- 1. The examples through HTTP: the same resources as `iomt run` -------
start_serve s1 --store "$tmp/s1" --connector ward --device-mapping $examples_dm --fhir-mapping $examples_fm
s1=$pid
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] || fail "/healthz is not 200"
wait_for 10 "/readyz 200" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base/readyz)\" = 200 ]"
# Every series the connector can produce is there from its start, at zero
# (docs/metrics.md): alerts and dashboards need them before the first event.
zero_series() {  # FAMILY LABEL=VALUE...: exactly one such series, at 0
  [ "$(metric_series "$base" "$@")" = 1 ] && [ "$(metric_sum "$base" "$@")" = 0 ] ||
    fail "no zero series $* at the start: $(grep "^$1{" "$tmp/metrics.txt" | head -3)"
}
for source in http kafka mqtt; do zero_series iomt_incoming_messages_total connector=ward source=$source; done
zero_series iomt_ingestion_rejected_total connector=ward reason=queue_full
for reason in http_429 http_5xx timeout connection token_refresh batch; do
  zero_series iomt_retries_total connector=ward reason=$reason
done
for saved in Observation:Created Observation:Updated Observation:NoOperation Patient:Created Device:Created; do
  zero_series iomt_fhir_resources_saved_total connector=ward resource_type="${saved%:*}" outcome="${saved#*:}"
done
# Each entry of the error catalogue (docs/errors.md's table: a name, its
# error type or types), at its stage.
awk -F'|' '/^\| [A-Z][A-Za-z]+ \| /{
  name = $2; gsub(/ /, "", name); n = split($3, types, "/")
  for (i = 1; i <= n; i++) { t = types[i]; sub(/\(.*\)/, "", t); gsub(/ /, "", t); print name, t }
}' docs/errors.md > "$tmp/catalogue"
[ "$(wc -l < "$tmp/catalogue")" -ge 23 ] || fail "docs/errors.md's catalogue was not read: $(cat "$tmp/catalogue")"
while read -r name type; do
  [ "$(metric_series "$base" iomt_errors_total connector=ward Name="$name" ErrorType="$type")" -ge 1 ] ||
    fail "no error series for $name ($type) at the start"
done < "$tmp/catalogue"
[ "$(metric_sum "$base" iomt_errors_total connector=ward)" = 0 ] || fail "errors before any event"
metrics_match "$base" '^iomt_errors_total{ErrorSeverity="Warning",ErrorType="DeviceMessageError",Name="UnmatchedDeviceMessage",Operation="Normalization",connector="ward"} 0$' ||
  fail "the errors' labels are not Azure's TotalErrors dimensions: $(grep -m1 '^iomt_errors_total{' "$tmp/metrics.txt")"
pass "/metrics at the start: every source, reason, resource and catalogue error at 0"
# The truncated line 7 is refused (400, nothing queued); the other 21 go in.
[ "$(post "$base" ward examples/events/ward.ndjson)" = 400 ] || fail "ward.ndjson with its broken line"
jq -e '.error.code == "NotJson" and (.error.message | contains("Line 7"))' "$tmp/post.body" > /dev/null || fail "400: $(cat "$tmp/post.body")"
sed 7d examples/events/ward.ndjson > "$tmp/ward21.ndjson"
code=$(post "$base" ward "$tmp/ward21.ndjson")
[ "$code" = 202 ] || fail "POST ward.ndjson: $code $(cat "$tmp/post.body")"
[ "$(jq -r .accepted "$tmp/post.body")" = 21 ] || fail "accepted: $(cat "$tmp/post.body")"
# One message as JSON, wrapped with the header properties.
code=$(curl -s -o "$tmp/one.body" -w '%{http_code}' -H 'Content-Type: application/json' \
  -H 'x-iomt-property-site: north' -H 'x-request-id: probe-1' \
  --data-binary '{"not":"a message any template matches"}' "$base/connectors/ward/messages")
[ "$code" = 202 ] && [ "$(jq -r .requestId "$tmp/one.body")" = probe-1 ] || fail "POST one message: $code"
wait_for 20 "22 events processed" sh -c "[ \"\$(curl -sf $base/connectors/ward | jq .counters.events)\" = 22 ]"
pass "HTTP ingestion: NDJSON and JSON accepted (202) and processed"

# The dead letters: the four bad example events and the unmatched one, with
# the request id and the envelope built from the headers.
curl -sf "$base/connectors/ward/deadletters" > "$tmp/dl.json"
[ "$(jq .total "$tmp/dl.json")" = 4 ] || fail "dead letters: $(jq .total "$tmp/dl.json"), expected 4"
jq -e '.deadLetters[] | select(.input.requestId == "probe-1") | .event.Properties.site == "north"' "$tmp/dl.json" \
  > /dev/null || fail "the unmatched message's dead letter lacks its request id or properties"
curl -sf "$base/connectors/ward/deadletters?format=ndjson&limit=2" > "$tmp/dl2.ndjson"
[ "$(wc -l < "$tmp/dl2.ndjson")" = 2 ] || fail "deadletters ndjson"
pass "dead letters listed with request ids and envelopes"

# Metrics with the IoT connector's names.
m() { metric "$base" "$1"; }
[ "$(m 'iomt_incoming_messages_total{connector="ward",source="http"}')" = 22 ] || fail "incoming metric"
[ "$(m 'iomt_dead_letters_total{connector="ward"}')" = 4 ] || fail "dead letter metric"
[ "$(m 'iomt_end_to_end_latency_seconds_count{connector="ward"}')" = 22 ] || fail "latency histogram count"
[ "$(metric_sum "$base" iomt_errors_total connector=ward Name=UnmatchedDeviceMessage ErrorType=DeviceMessageError \
  ErrorSeverity=Warning Operation=Normalization)" -ge 1 ] || fail "errors by Name, ErrorType, ErrorSeverity, Operation"
[ "$(metric_sum "$base" iomt_errors_total connector=ward)" -ge 4 ] || fail "fewer errors than dead letters"
[ "$(metric_sum "$base" iomt_fhir_resources_saved_total connector=ward resource_type=Observation outcome=Created)" -gt 0 ] ||
  fail "resources saved metric"
[ "$(metric_sum "$base" iomt_incoming_messages_total connector=ward source=kafka)" = 0 ] || fail "kafka incoming without Kafka"
# docs/metrics.md documents every family /metrics shows, with its labels.
undocumented=$(metrics_undocumented "$base" docs/metrics.md)
[ -z "$undocumented" ] || fail "not in docs/metrics.md: $(echo "$undocumented" | tr '\n' ';')"
pass "/metrics: incoming, dead letters, errors by Azure's dimensions, saved, latency; all in docs/metrics.md"

# /fhir serves the store the connector writes.
total=$(curl -sf "$base/fhir/Observation?_count=1" | jq .total)
[ "$total" -gt 0 ] || fail "/fhir/Observation total $total"
curl -sf "$base/fhir/metadata" | jq -e '.resourceType == "CapabilityStatement"' > /dev/null || fail "/fhir/metadata"

# Bad requests get a JSON error; the server goes on.
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/connectors/ward/messages")" = 400 ] || fail "empty body"
[ "$(curl -s -o "$tmp/e.json" -w '%{http_code}' -d '{}' "$base/connectors/nope/messages")" = 404 ] || fail "unknown"
jq -e .error.code "$tmp/e.json" > /dev/null || fail "404 without a JSON error"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/connectors/ward/messages")" = 405 ] || fail "GET messages"
head -c 2000000 /dev/zero | tr '\0' ' ' > "$tmp/big"
[ "$(post "$base" ward "$tmp/big")" = 413 ] || fail "a 2 MB body is not 413"
pass "bad requests: 400, 404, 405, 413 with JSON errors"
stop_serve $s1

"$iomt" run --device-mapping $examples_dm --fhir-mapping $examples_fm --input "$tmp/ward21.ndjson" \
  --store "$tmp/run1" --dead-letter "$tmp/run1-dl.ndjson" > /dev/null 2>&1 || true
diff <(observations "$tmp/s1") <(observations "$tmp/run1") > "$tmp/diff1" || fail "serve and run differ: $(head -5 "$tmp/diff1")"
pass "the store holds exactly what iomt run writes for the same events"

# ---- 2. A configuration file: a paused connector next to a running one ----
mkdir -p "$tmp/maps"
cp $basic_dm "$tmp/maps/device.json"
echo '{"templateType":"CollectionFhir","template":[{"templateType":"CodeValueFhir","template":{"codes":[]}}]}' \
  > "$tmp/maps/fhir.json"
cat > "$tmp/serve.json" << EOF
{
  "store": "store2",
  "connectors": [
    {"name": "w1", "deviceMapping": "maps/device.json", "fhirMapping": "maps/fhir.json",
     "queue": {"maxEvents": 1000}, "flush": {"windowMs": 10, "maxEvents": 500}},
    {"name": "lookup", "deviceMapping": "$PWD/$basic_dm", "fhirMapping": "$PWD/$quantity_fm",
     "resolution": "Lookup", "ingestKeys": ["\${IOMT_TEST_KEY}"]}
  ]
}
EOF
IOMT_TEST_KEY=sesame start_serve s2 --config "$tmp/serve.json"
s2=$pid
[ -d "$tmp/store2" ] || fail "the config's store path is not taken from the file's directory"
code=$(curl -s -o "$tmp/ready.json" -w '%{http_code}' "$base/readyz")
[ "$code" = 503 ] || fail "/readyz is $code with an invalid mapping"
jq -e '.connectors.w1.problem | contains("Invalid fhirMapping mapping")' "$tmp/ready.json" > /dev/null ||
  fail "readyz does not name the mapping problem: $(cat "$tmp/ready.json")"
[ "$(metric "$base" 'iomt_connector_healthy{connector="w1"}')" = 0 ] || fail "health metric"
metrics_match "$base" '^iomt_errors_total{ErrorSeverity="Critical",ErrorType="FHIRTemplateError",Name="InvalidTemplateException",Operation="Setup",connector="w1"} [1-9]' ||
  fail "no Critical InvalidTemplateException metric"
[ "$(metric_sum "$base" iomt_errors_total connector=lookup)" = 0 ] || fail "the other connector counts the errors of w1"
pass "an invalid mapping: connector paused, Critical error, /readyz 503"

# Paused, it queues up to its bound, then answers 429 with Retry-After.
head -900 "$tmp/w1.ndjson" > "$tmp/first900.ndjson"
[ "$(post "$base" w1 "$tmp/first900.ndjson")" = 202 ] || fail "900 events into an empty queue"
sed -n 901,1100p "$tmp/w1.ndjson" > "$tmp/next200.ndjson"
curl -s -D "$tmp/h429" -o /dev/null -H 'Content-Type: application/x-ndjson' --data-binary "@$tmp/next200.ndjson" \
  "$base/connectors/w1/messages"
grep -q '^HTTP/1.1 429' "$tmp/h429" && grep -qi '^Retry-After: ' "$tmp/h429" || fail "no 429 with Retry-After"
# Memory stays bounded while it refuses: 300 refused 500 KB bodies. (Under
# AddressSanitizer freed memory waits in a quarantine, 256 MB by default:
# that is made small for the server, see below.)
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss $s2)
for _ in $(seq 1 20); do cat "$tmp/next200.ndjson"; done > "$tmp/500k.ndjson"
for _ in $(seq 1 300); do post "$base" w1 "$tmp/500k.ndjson" > /dev/null; done
after=$(rss $s2)
[ $((after - before)) -lt 65536 ] || fail "RSS grew by $((after - before)) KB while refusing"
[ "$(metric "$base" 'iomt_ingestion_rejected_total{connector="w1",reason="queue_full"}')" -gt 0 ] || fail "rejected metric"
pass "full queue: 429 + Retry-After, RSS grew $((after - before)) KB over 300 refused requests"

# A bad reload is refused and reported; a good one resumes the queue.
code=$(curl -s -o "$tmp/reload.json" -w '%{http_code}' -X POST "$base/connectors/w1/mappings/reload")
[ "$code" = 400 ] && jq -e '.error.message | contains("Invalid fhirMapping")' "$tmp/reload.json" > /dev/null ||
  fail "a reload with the invalid mapping: $code $(cat "$tmp/reload.json")"
cp $quantity_fm "$tmp/maps/fhir.json"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/connectors/w1/mappings/reload")" = 200 ] || fail "reload"
wait_for 30 "the queued 900 written" sh -c "[ \"\$(curl -sf $base/connectors/w1 | jq .counters.events)\" = 900 ]"
[ "$(counter "$base" w1 observations.created)" = 900 ] || fail "900 Observations expected"
wait_for 10 "/readyz 200 after the fix" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base/readyz)\" = 200 ]"
# Now a broken device mapping: refused, the running mapping stays in use.
echo '{"templateType":"CollectionContent","template":[{"templateType":"JsonPathContent","template":{}}]}' \
  > "$tmp/maps/device.json"
kill -HUP $s2
wait_for 10 "the SIGHUP reload reported" grep -q 'reload failed.*connector .w1.: Invalid deviceMapping' "$tmp/s2.err"
sed -n 1101,1150p "$tmp/w1.ndjson" > "$tmp/next50.ndjson"
[ "$(post "$base" w1 "$tmp/next50.ndjson")" = 202 ] || fail "POST after a refused reload"
wait_for 20 "950 events" sh -c "[ \"\$(curl -sf $base/connectors/w1 | jq .counters.events)\" = 950 ]"
[ "$(counter "$base" w1 observations.created)" = 950 ] || fail "the previous mapping did not keep running"
pass "reload: invalid mappings refused (API 400, SIGHUP), the running ones kept; a valid one resumes the queue"

# Ingest keys.
[ "$(post "$base" lookup "$tmp/next50.ndjson")" = 401 ] || fail "no key is not 401"
[ "$(post "$base" lookup "$tmp/next50.ndjson" -H 'x-iomt-ingest-key: wrong')" = 401 ] || fail "a wrong key"
# Lookup: no Device yet, so they are dead-lettered; after the Device and
# Patient exist, a replay carries them.
sed -n 2001,2003p "$tmp/w1.ndjson" | jq -c '.deviceid = "device-lookup"' > "$tmp/d42.ndjson"
[ "$(post "$base" lookup "$tmp/d42.ndjson" -H 'Authorization: Bearer sesame')" = 202 ] || fail "keyed POST"
wait_for 20 "3 dead letters" sh -c "[ \"\$(curl -sf $base/connectors/lookup/deadletters | jq .total)\" = 3 ]"
curl -sf "$base/connectors/lookup/deadletters" | jq -e '[.deadLetters[].errorName] | unique == ["DeviceNotFoundException"]' \
  > /dev/null || fail "the dead letters are not DeviceNotFoundException"
curl -sf -X PUT -H 'Content-Type: application/fhir+json' "$base/fhir/Patient/p42" \
  -d '{"resourceType":"Patient","id":"p42"}' > /dev/null || fail "PUT Patient"
curl -sf -X PUT -H 'Content-Type: application/fhir+json' "$base/fhir/Device/d42" \
  -d '{"resourceType":"Device","id":"d42","identifier":[{"value":"device-lookup"}],"patient":{"reference":"Patient/p42"}}' \
  > /dev/null || fail "PUT Device"
[ "$(curl -sf -X POST "$base/connectors/lookup/deadletters/replay" | jq .replayed)" = 3 ] || fail "replay"
wait_for 20 "3 Observations for Patient/p42" sh -c \
  "[ \"\$(curl -sf '$base/fhir/Observation?subject=Patient/p42' | jq .total)\" = 3 ]"
[ "$(curl -sf "$base/connectors/lookup/deadletters" | jq .total)" = 0 ] || fail "dead letters left after the replay"
pass "ingest keys; dead letters (Lookup) replayed after the Device was created through /fhir"
stop_serve $s2

# ---- 3. SIGTERM drains what was accepted ---------------------------------
start_serve s3 --store "$tmp/s3" --connector w1 --device-mapping $basic_dm --fhir-mapping $quantity_fm
s3=$pid
head -2000 "$tmp/w1.ndjson" > "$tmp/first2000.ndjson"
[ "$(post "$base" w1 "$tmp/first2000.ndjson")" = 202 ] || fail "POST 2000"
stop_serve $s3
grep -q ' info stopped$' "$tmp/s3.err" || fail "no 'stopped' after SIGTERM"
[ "$("$iomt" store --store "$tmp/s3" export Observation | wc -l)" = 2000 ] || fail "SIGTERM did not drain 2000 events"
pass "SIGTERM: the 2000 accepted events were written before the exit"

# ---- 3b. SampledData merges into existing Observations across batches ----
basic_fm=conformance/iomt-fhir/sample/templates/basic/fhirmapping.json
start_serve sd --store "$tmp/sd" --connector sd --device-mapping $basic_dm --fhir-mapping $basic_fm
sd=$pid
head -2400 "$tmp/w1.ndjson" | split -l 600 -d - "$tmp/sd-"
n=0
for f in "$tmp"/sd-*; do
  [ "$(post "$base" sd "$f")" = 202 ] || fail "POST $f"
  n=$((n + 600))
  wait_for 20 "$n events" sh -c "[ \"\$(curl -sf $base/connectors/sd | jq .counters.events)\" = $n ]"
done
[ "$(counter "$base" sd observations.updated)" -gt 0 ] || fail "no Observation was merged into by a later batch"
stop_serve $sd
head -2400 "$tmp/w1.ndjson" > "$tmp/sd.ndjson"
"$iomt" run --device-mapping $basic_dm --fhir-mapping $basic_fm --input "$tmp/sd.ndjson" --store "$tmp/sd-run" \
  > /dev/null 2>&1 || true
# The same values; an Observation merged into is `amended` (as iomt-fhir does), one written once `final`.
sampled() { "$iomt" store --store "$1" export Observation | jq -cS 'del(.meta, .issued, .status)' | sort; }
diff <(sampled "$tmp/sd") <(sampled "$tmp/sd-run") > "$tmp/diff-sd" ||
  fail "SampledData across batches differs from one run: $(head -3 "$tmp/diff-sd" | cut -c1-300)"
pass "SampledData readings sent in 4 batches merge into the same Observations as one run"

# ---- 4. SIGKILL during ingestion: every 202 survives ---------------------
start_serve s4 --store "$tmp/s4" --connector w1 --device-mapping $basic_dm --fhir-mapping $quantity_fm
s4=$pid
split -l 100 -d -a 3 "$tmp/w1.ndjson" "$tmp/chunk-"
: > "$tmp/acked"
(
  for f in "$tmp"/chunk-*; do
    code=$(post "$base" w1 "$f" 2> /dev/null || true)
    [ "$code" = 202 ] && echo "$f" >> "$tmp/acked"
    sleep 0.1
  done
) &
client=$!
wait_for 20 "some chunks acknowledged" sh -c "[ \$(wc -l < $tmp/acked) -ge 5 ]"
kill -9 $s4
wait $client || true
wait $s4 2> /dev/null || true
acked=$(wc -l < "$tmp/acked")
[ "$acked" -ge 5 ] && [ "$acked" -lt 30 ] || fail "the kill came at an unhelpful moment ($acked of 30 chunks)"
start_serve s4b --store "$tmp/s4" --connector w1 --device-mapping $basic_dm --fhir-mapping $quantity_fm
s4=$pid
wait_for 30 "the queue drained after the restart" sh -c "[ \"\$(curl -sf $base/connectors/w1 | jq .queue.events)\" = 0 ]"
stop_serve $s4
# What a single run over the acknowledged chunks writes must all be there.
# shellcheck disable=SC2046
cat $(cat "$tmp/acked") > "$tmp/acked.ndjson"
"$iomt" run --device-mapping $basic_dm --fhir-mapping $quantity_fm --input "$tmp/acked.ndjson" --store "$tmp/run4" \
  > /dev/null 2>&1 || true
missing=$(comm -13 <(observations "$tmp/s4") <(observations "$tmp/run4") | wc -l)
[ "$missing" = 0 ] || fail "$missing Observations of acknowledged events are missing after SIGKILL"
pass "SIGKILL during ingestion: all $((acked * 100)) acknowledged events are in the store after the restart"
echo "serve_test: all passed"
