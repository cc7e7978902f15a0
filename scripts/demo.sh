#!/usr/bin/env bash
# `make demo`: the bundled examples (examples/README.md) through `iomt run`
# into an embedded FHIR store, and what came out: the run summary, the dead
# letters and why, a few Observations, and a second run that changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
iomt=${IOMT:-build/bin/iomt}
dm=examples/mappings/devicecontent.json
fm=examples/mappings/fhirmapping.json
events=examples/events/ward.ndjson
store=build/demo-store
dead=build/demo-dead-letters.ndjson
now=2023-10-09T20:00:00Z

# What the demo starts in the background is stopped on every way out (a
# failed step, Ctrl-C), not left running.
serve_pid=
stop_started() {
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2> /dev/null; then
    kill -TERM "$serve_pid" 2> /dev/null || true
    wait "$serve_pid" 2> /dev/null || true
  fi
}
trap stop_started EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
heading() { printf '\n%s%s%s\n' "$bold" "$*" "$plain"; }
indent() { sed 's/^/    /'; }
show() { # show LANG EXPR FILE NOTE: one expression and what it gives
  printf '  %s  %s\n' "$1" "$2"
  "$iomt" eval -c "--$1" "$2" "$3" | sed 's/^/      => /'
  printf '      (%s)\n' "$4"
}

echo "iomt $("$iomt" --version | cut -d' ' -f2): device messages to FHIR R4 with Azure IoT connector mappings"

heading "1. Mapping expressions, tried with iomt eval"
msg=examples/messages/iothub-vitals.json
echo "  on $msg (an IoT Hub event):"
show jsonpath '$..[?(@Body.heartRate)]' "$msg" "type match: the filter tests the envelope itself, so the whole event matches" | cut -c1-110
show jsonpath '$.SystemProperties.iothub-connection-device-id' "$msg" "device id; unquoted names may contain dashes"
msg=examples/messages/patch-readings.json
echo "  on $msg (a patch's batch of readings):"
show jmespath 'readings[?tempF].{time: fromUnixTimestampMs(ts), celsius: divide(multiply(subtract(tempF, `32`), `5.0`), `9`)}' \
  "$msg" "CalculatedContent: epoch ms to a time, Fahrenheit to Celsius"

heading "2. The mappings: $dm, $fm"
"$iomt" validate --device-mapping "$dm" --fhir-mapping "$fm" | indent

heading "3. iomt run: $events (an hour of a ward's devices, $(wc -l < "$events") events) into $store"
rm -rf "$store" "$dead"
run() { # run INPUT DEAD_LETTER_FILE: the summary; exit 1 (some events dead-lettered) is expected
  local rc=0
  "$iomt" run --device-mapping "$dm" --fhir-mapping "$fm" --input "$1" --store "$store" --dead-letter "$2" \
    --now "$now" --ingestion-time "$now" 2>build/demo-run.log || rc=$?
  if [ "$rc" -gt 1 ]; then
    cat build/demo-run.log >&2
    exit "$rc"
  fi
}
summary=$(run "$events" "$dead")
jq -r '"events \(.events), measurements \(.measurements), groups \(.groups)",
       "observations: \(.observations.created) created, \(.observations.updated) updated, \(.observations.unchanged) unchanged",
       "patients created \(.patientsCreated), devices created \(.devicesCreated)",
       "dead-lettered \(.deadLettered) events; errors: \(.errors | to_entries | map("\(.key) \(.value)") | join(", "))"' \
  <<< "$summary" | indent
echo "  (iomt run prints this as one JSON object on stdout)"

heading "4. Dead letters ($dead): each bad event, whole, with its error"
jq -r '"line \(.input.line | tostring | . + " " * (4 - length))\(.errorName)\n          \(.message | if length > 110 then .[0:109] + "…" else . end)"' \
  "$dead" | indent
echo "  (once fixed, feed them back: iomt run --input $dead --dead-letter OTHER_FILE ...)"

heading "5. Why did an event give nothing? iomt validate --sample tells"
sample() { sed -n "$1p" "$events" > build/demo-sample.ndjson; }
sample 17
echo "  line 17: $(cat build/demo-sample.ndjson)"
"$iomt" validate --device-mapping "$dm" --fhir-mapping "$fm" --sample build/demo-sample.ndjson | sed -n 4,6p |
  cut -c1-130 | indent
echo "        ... and so on for all 12 templates: the mapping has none for a battery reading"
sample 19
echo "  line 19, looked up in the store too (--store $store):"
"$iomt" validate --device-mapping "$dm" --fhir-mapping "$fm" --sample build/demo-sample.ndjson --store "$store" |
  sed -n '4p;6,8p' | sed 's/^\( *\)PatientIdentityNotDefinedException: .*/\1PatientIdentityNotDefinedException/' |
  indent

heading "6. What is in the store"
export_store() { "$iomt" store --store "$store" export "$@"; }
search_store() { "$iomt" store --store "$store" search "$@"; }
export_store Patient > build/demo-patients.ndjson
export_store Device > build/demo-devices.ndjson
export_store | jq -r .resourceType | sort | uniq -c |
  awk '{printf "%s %s%s", sep, $1, " " $2 "s"; sep = ","} END {print ""}' | indent
observations() {
  jq -r --slurpfile patients build/demo-patients.ndjson --slurpfile devices build/demo-devices.ndjson \
    -f scripts/demo-observations.jq | cut -c1-150 | indent
}
echo "  search Observation 'code=8867-4': heart rate, one per device and hour (SampledData, a slot a minute)"
search_store Observation 'code=8867-4' | observations
patient3=$(jq -r 'select(.identifier[0].value == "patient-003") | .id' build/demo-patients.ndjson)
echo "  search Observation 'subject=Patient/${patient3:0:8}…': patient-003, whose patch sends batches"
search_store Observation "subject=Patient/$patient3" | observations
echo "  export Observation: the first of each other kind"
export_store Observation |
  jq -c -s 'map(select(.code.coding[0].code | IN("8867-4", "55423-8", "8310-5") | not))
            | group_by(.code.coding[0].code) | map(first) | .[]' | observations
echo "  (all resources: iomt store --store $store export)"

heading "7. The same events again: nothing changes"
run "$events" "$dead.again" | jq -r '"observations: \(.observations.created) created, \(.observations.updated) updated, \(.observations.unchanged) unchanged; patients \(.patientsCreated), devices \(.devicesCreated) created; dead-lettered \(.deadLettered)"' | indent
rm -f "$dead.again"

heading "8. The same as a service: iomt serve, events posted over HTTP"
serve_store=build/demo-serve-store
rm -rf "$serve_store"
"$iomt" serve --listen 127.0.0.1:0 --store "$serve_store" --connector ward --device-mapping $dm --fhir-mapping $fm \
  > build/demo-serve.out 2> build/demo-serve.err &
serve_pid=$!
for _ in $(seq 1 100); do grep -q '^listening on ' build/demo-serve.out 2> /dev/null && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' build/demo-serve.out)
if [ -z "$base" ]; then
  echo "iomt serve did not start (build/demo-serve.err):" >&2
  cat build/demo-serve.err >&2
  exit 1
fi
echo "  $base: posting $events to /connectors/ward/messages:"
post() { curl -s -w ' (HTTP %{http_code})' -H 'Content-Type: application/x-ndjson' --data-binary "@$1" \
  "$base/connectors/ward/messages" | cut -c1-150; }
{ post "$events"; echo; } | indent
echo "  (refused whole, nothing queued: a sender learns at once that a line is not JSON.) The other lines:"
valid=build/demo-valid.ndjson
while IFS= read -r line; do
  if jq -e . > /dev/null 2>&1 <<< "$line"; then printf '%s\n' "$line"; fi
done < "$events" > "$valid"
{ post "$valid"; echo; } | indent
for _ in $(seq 1 100); do
  [ "$(curl -s "$base/connectors/ward" | jq .counters.events)" = "$(grep -c . "$valid")" ] && break
  sleep 0.05
done
echo "  GET /connectors/ward (counters):"
curl -s "$base/connectors/ward" | jq -c .counters | indent
echo "  GET /fhir/Observation?code=8867-4: $(curl -s "$base/fhir/Observation?code=8867-4" | jq .total) heart-rate Observations, as above"
echo "  GET /metrics (some):"
curl -s "$base/metrics" > build/demo-metrics.txt
grep -E '^iomt_(incoming_messages_total|dead_letters_total|fhir_resources_saved_total.*Observation)' build/demo-metrics.txt | indent
stop_started
serve_pid=
echo "  (README, \"Run the service\": the routes, a configuration file, Kafka / Event Hubs and MQTT)"

echo
echo "Try your own: $iomt validate --device-mapping M --fhir-mapping F --sample EVENTS.ndjson; $iomt run --help"
echo "The files: examples/README.md"
