#!/usr/bin/env bash
# `make demo`: shows the expression engine on bundled device messages, the
# way a device mapping uses it. (The full pipeline joins this demo as it lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
iomt=build/bin/iomt

show() {
  local lang=$1 expr=$2 file=$3 note=$4
  printf '\n  %-9s %s\n  %-9s %s\n' "$lang" "$expr" "" "($note)"
  "$iomt" eval -c "--$lang" "$expr" "$file" | sed 's/^/    => /'
}

echo "iomt $("$iomt" --version | cut -d' ' -f2) — mapping expressions on sample device messages"
echo
echo "IoT Hub message (examples/messages/iothub-vitals.json), as IotJsonPathContent templates read it:"
msg=examples/messages/iothub-vitals.json
show jsonpath '$..[?(@Body.heartRate)]' "$msg" "type match: the filter tests the envelope itself, so the whole event matches"
show jsonpath '$.SystemProperties.iothub-connection-device-id' "$msg" "device id: unquoted names may contain dashes"
show jsonpath '$.Body.heartRate' "$msg" "the value"
show jsonpath '$..[?(@Body.systolic && @Body.diastolic)]' "$msg" "a blood pressure template needs both readings"
show jmespath 'fromUnixTimestampMs(Body.measuredAt)' "$msg" "CalculatedContent timestamp from epoch milliseconds"
show jmespath 'multiply(Body.temperature, `1.8`) | add(@, `32`)' "$msg" "a unit conversion with the mapping functions (Celsius to Fahrenheit)"

echo
echo "Wearable message (examples/messages/wearable.json), as iomt-fhir's sample JsonPathContent templates read it:"
msg=examples/messages/wearable.json
show jsonpath '$..[?(@heartrate)]' "$msg" "the heartrate template matches the message itself"
show jsonpath '$..[?(@deviceWorn)]' "$msg" "an existence test: true even though deviceWorn is false"
show jsonpath '$.measurementdatetime' "$msg" "the timestamp"

mapping=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
events=examples/events/wearables.ndjson
echo
echo "Device mapping $mapping (iomt-fhir's basic sample), unchanged:"
"$iomt" validate --device-mapping "$mapping" | sed 's/^/  /'
echo
echo "Normalizing $events (8 messages; one has no device id, one no template matches, one is not JSON):"
"$iomt" normalize --device-mapping "$mapping" --input "$events" --errors build/demo-errors.ndjson \
  --ingestion-time 2023-10-09T19:30:00Z | sed 's/^/  /' || true
echo
echo "Error records (build/demo-errors.ndjson) — the stream went on after each:"
sed 's/^/  /' build/demo-errors.ndjson
echo
echo "Why did a message produce nothing? iomt validate --sample tells:"
"$iomt" validate --device-mapping "$mapping" --sample "$events" | tail -n 12 | sed 's/^/  /'
fhir_mapping=conformance/iomt-fhir/sample/templates/basic/fhirmapping.json
echo
echo "FHIR mapping $fhir_mapping, unchanged; the measurements above become FHIR resources"
echo "(iomt transform: grouped, Patient and Device created as Create mode does, Observations with"
echo "iomt-fhir's ids; one resource a line, abridged here: SampledData streams as their filled slots):"
"$iomt" normalize --device-mapping "$mapping" --input "$events" --ingestion-time 2023-10-09T19:30:00Z 2>/dev/null |
  "$iomt" transform --fhir-mapping "$fhir_mapping" --now 2023-10-09T19:30:00Z > build/demo-resources.ndjson || true
jq -c 'def stream: (.data | split(" ")) as $s
         | ($s | to_entries | map(select(.value != "E") | "slot \(.key)=\(.value)") | join(", "))
           + " (of \($s | length) slots)";
       if .resourceType == "Observation" then
         {resourceType, id: (.id[0:12] + "…"), code: .code.text, effective: .effectivePeriod,
          value: ((.valueSampledData | select(.) | stream) // .valueCodeableConcept.text // .valueQuantity.value
                  // ([.component[]? | {(.code.text): (.valueSampledData | stream)}] | add))}
       else {resourceType, id: (.id[0:12] + "…"), identifier: .identifier[0].value} end' build/demo-resources.ndjson |
  sed 's/^/  /'
echo "  (all of them, unabridged: build/demo-resources.ndjson)"
echo
echo "Try your own: $iomt eval --jsonpath '<expr>' <file.json>   (or --jmespath; see $iomt eval --help)"
