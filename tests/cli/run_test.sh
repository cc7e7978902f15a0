#!/usr/bin/env bash
# `iomt run` as a user runs it (docs/cli.md, docs/formats.md): the run
# summary, the dead-letter file (input = carried + dead-lettered), a rerun
# that changes nothing, a dead-letter file fed back after the cause is fixed,
# a crash mid-run followed by a rerun, exit codes; and `iomt validate
# --sample --store` telling why data does not show up. Run by ctest with IOMT
# set to the binary.
set -u
IOMT=${IOMT:-build/bin/iomt}
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# check NAME JQ_FILTER FILE [FILES...]: the filter (over the slurped NDJSON
# of FILE) must be true.
check() {
  local name=$1 filter=$2 file=$3
  if jq -se "$filter" "$file" >/dev/null 2>&1; then pass "$name"; else fail "$name" "$file"; fi
}

basic=conformance/iomt-fhir/sample/templates/basic
dev="$basic/devicecontent.json"
fhir="$basic/fhirmapping.json"
events=examples/events/wearables.ndjson
fixed=(--now 2023-10-09T20:00:00Z --ingestion-time 2023-10-09T19:30:00Z)
# The resources of a store without meta (versions and times differ between
# equivalent stores), sorted.
content() { "$IOMT" store --store "$1" export | jq -c 'del(.meta)' | sort; }

# --- a first run: summary, dead letters --------------------------------------
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$events" --store "$tmp/s1" \
  --dead-letter "$tmp/dl.ndjson" "${fixed[@]}" > "$tmp/sum1.json" 2> "$tmp/err1.txt"
rc=$?
total=$(grep -c . "$events")
if [ $rc = 1 ]; then pass run-exit-1-with-dead-letters; else fail "run-exit-1-with-dead-letters (rc=$rc)" "$tmp/err1.txt"; fi
check run-summary-shape '.[0] | (keys == ["deadLettered","devicesCreated","errors","events","groups","measurements","observations","patientsCreated","seconds"]) and (.observations | keys == ["created","unchanged","updated"])' "$tmp/sum1.json"
check run-summary-counts ".[0] | .events == $total and .deadLettered == 3 and .observations.created > 0 and .patientsCreated > 0 and .devicesCreated > 0 and (.errors | add) >= 3" "$tmp/sum1.json"
check dead-letters-records 'length == 3 and all(.errorName and .errorType and .severity and .stage and .message and .time and has("event"))' "$tmp/dl.ndjson"
dead=$(grep -c . "$tmp/dl.ndjson")
observations=$("$IOMT" store --store "$tmp/s1" export Observation | grep -c .)
created=$(jq '.observations.created' "$tmp/sum1.json")
if [ "$observations" = "$created" ] && [ "$dead" = "$(jq .deadLettered "$tmp/sum1.json")" ]; then
  pass run-store-holds-what-summary-says
else
  fail "run-store-holds-what-summary-says ($observations stored, $created created)" "$tmp/sum1.json"
fi
if grep -q "dead-lettered to $tmp/dl.ndjson" "$tmp/err1.txt"; then pass run-points-at-dead-letters; else fail run-points-at-dead-letters "$tmp/err1.txt"; fi

# --- the same input again changes nothing -----------------------------------
content "$tmp/s1" > "$tmp/before.ndjson"
"$IOMT" store --store "$tmp/s1" export > "$tmp/before-meta.ndjson"
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$events" --store "$tmp/s1" \
  --dead-letter "$tmp/dl-rerun.ndjson" "${fixed[@]}" > "$tmp/sum2.json" 2>/dev/null
check rerun-creates-nothing '.[0] | .observations.created == 0 and .observations.updated == 0 and .patientsCreated == 0 and .devicesCreated == 0 and .deadLettered == 3' "$tmp/sum2.json"
"$IOMT" store --store "$tmp/s1" export > "$tmp/after-meta.ndjson"
if cmp -s "$tmp/before-meta.ndjson" "$tmp/after-meta.ndjson"; then pass rerun-store-unchanged-even-versions; else fail rerun-store-unchanged-even-versions "$tmp/after-meta.ndjson"; fi

# --- replaying a dead-letter file into itself is refused --------------------
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/dl.ndjson" --store "$tmp/s1" \
  --dead-letter "$tmp/dl.ndjson" > /dev/null 2> "$tmp/err3.txt"
rc=$?
if [ $rc = 2 ] && grep -q "is the input" "$tmp/err3.txt"; then pass replay-into-itself-refused; else fail "replay-into-itself-refused (rc=$rc)" "$tmp/err3.txt"; fi

# --- a line that is not JSON stays itself through replays --------------------
echo '{"a":' > "$tmp/notjson.ndjson"
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/notjson.ndjson" --store "$tmp/s1" --dead-letter "$tmp/nj1.ndjson" > /dev/null 2>&1
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/nj1.ndjson" --store "$tmp/s1" --dead-letter "$tmp/nj2.ndjson" > /dev/null 2>&1
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/nj2.ndjson" --store "$tmp/s1" --dead-letter "$tmp/nj3.ndjson" > /dev/null 2>&1
cat "$tmp/nj1.ndjson" "$tmp/nj3.ndjson" > "$tmp/nj.ndjson"
check replay-of-not-json-keeps-the-line 'length == 2 and all(.errorName == "NotSupportedException" and .event == "{\"a\":")' "$tmp/nj.ndjson"

# --- Lookup: dead-lettered until the Device exists, then replayed ------------
cat > "$tmp/lookup.ndjson" <<'NDJSON'
{"heartrate": 61, "deviceid": "watch-9001", "patientid": "ignored-in-lookup", "measurementdatetime": "2023-10-09T19:18:23+00:00"}
{"heartrate": 62, "deviceid": "watch-9001", "measurementdatetime": "2023-10-09T19:18:24+00:00"}
NDJSON
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/lookup.ndjson" --store "$tmp/s2" \
  --resolution Lookup --dead-letter "$tmp/dl-lookup.ndjson" "${fixed[@]}" > "$tmp/sum-l1.json" 2>/dev/null
check lookup-dead-letters-device-not-found 'length == 2 and all(.errorName == "DeviceNotFoundException") and .[0].event.Body.heartrate == 61' "$tmp/dl-lookup.ndjson"
# The user's fix: the Patient and its Device.
cat > "$tmp/identity.ndjson" <<'NDJSON'
{"resourceType":"Patient","id":"pat-1","identifier":[{"value":"mrn-1"}]}
{"resourceType":"Device","id":"dev-1","identifier":[{"value":"watch-9001"}],"patient":{"reference":"Patient/pat-1"}}
NDJSON
"$IOMT" store --store "$tmp/s2" import "$tmp/identity.ndjson" > /dev/null 2>&1
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/dl-lookup.ndjson" --store "$tmp/s2" \
  --resolution Lookup --dead-letter "$tmp/dl-lookup-2.ndjson" "${fixed[@]}" > "$tmp/sum-l2.json" 2>/dev/null
rc=$?
check replay-after-fix-carries-all '.[0] | .events == 2 and .deadLettered == 0 and .observations.created == 1' "$tmp/sum-l2.json"
if [ $rc = 0 ] && [ ! -e "$tmp/dl-lookup-2.ndjson" ]; then pass replay-after-fix-no-dead-letters; else fail "replay-after-fix-no-dead-letters (rc=$rc)"; fi
"$IOMT" store --store "$tmp/s2" search Observation 'subject=Patient/pat-1' > "$tmp/found.ndjson" 2>&1
check replay-observation-on-the-looked-up-patient 'length == 1 and .[0].subject.reference == "Patient/pat-1" and .[0].device.reference == "Device/dev-1" and (.[0].valueSampledData.data | split(" ") | map(select(. != "E")) == ["61","62"])' "$tmp/found.ndjson"

# --- why is my data not showing up? ------------------------------------------
cat > "$tmp/sample.ndjson" <<'NDJSON'
{"heartrate": 70, "deviceid": "watch-9002", "patientid": "p-2", "measurementdatetime": "2023-10-09T19:18:23+00:00"}
NDJSON
why() {  # name resolution want
  local name=$1 resolution=$2 want=$3
  local out
  out=$("$IOMT" validate --device-mapping "$dev" --fhir-mapping "$fhir" --sample "$tmp/sample.ndjson" \
    --store "$tmp/s3" --resolution "$resolution" 2>&1)
  if [[ "$out" == *"$want"* ]]; then pass "$name"; else echo "$out" > "$tmp/why.txt"; fail "$name (wanted: $want)" "$tmp/why.txt"; fi
}
"$IOMT" store --store "$tmp/s3" import /dev/null > /dev/null 2>&1
why why-no-device Lookup "cause: A Device resource hasn't been created in the FHIR service"
why why-create-would-create Create "yet: \`iomt run\` would create Patient/"
echo '{"resourceType":"Device","id":"d2","identifier":[{"value":"watch-9002"}]}' > "$tmp/d2.ndjson"
"$IOMT" store --store "$tmp/s3" import "$tmp/d2.ndjson" > /dev/null 2>&1
why why-device-patient-not-set Lookup "cause: The Device.patient reference isn't set"
echo '{"resourceType":"Device","id":"d2","identifier":[{"value":"watch-9002"}],"patient":{"reference":"Patient/p2"}}' > "$tmp/d2.ndjson"
"$IOMT" store --store "$tmp/s3" import "$tmp/d2.ndjson" > /dev/null 2>&1
why why-no-patient Lookup "cause: A Patient resource hasn't been created in the FHIR service"
echo '{"resourceType":"Device","id":"d2","identifier":[{"value":"watch-9002"}],"patient":{"reference":"http://elsewhere/Patient/p2"}}' > "$tmp/d2.ndjson"
"$IOMT" store --store "$tmp/s3" import "$tmp/d2.ndjson" > /dev/null 2>&1
why why-device-patient-invalid Lookup "cause: The Device.patient reference is invalid"
echo '{"resourceType":"Patient","id":"p2","identifier":[{"value":"p-2"}]}' > "$tmp/p2.ndjson"
echo '{"resourceType":"Device","id":"d2","identifier":[{"value":"watch-9002"}],"patient":{"reference":"Patient/p2"}}' >> "$tmp/p2.ndjson"
"$IOMT" store --store "$tmp/s3" import "$tmp/p2.ndjson" > /dev/null 2>&1
why why-not-written-yet Lookup "is not in embedded store $tmp/s3 yet"
before=$("$IOMT" store --store "$tmp/s3" export | grep -c .)
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/sample.ndjson" --store "$tmp/s3" \
  --resolution Lookup --dead-letter "$tmp/dl-s3.ndjson" > /dev/null 2>&1
why why-written Lookup "is in embedded store $tmp/s3 (version 1)"
after_validate=$("$IOMT" store --store "$tmp/s3" export | grep -c .)
if [ "$after_validate" = $((before + 1)) ]; then pass validate-writes-nothing; else fail "validate-writes-nothing ($before then $after_validate)"; fi
"$IOMT" validate --device-mapping "$dev" --fhir-mapping "$fhir" --sample "$tmp/sample.ndjson" --store "$tmp/s3" \
  --resolution Lookup --json > "$tmp/why.json" 2>&1
check why-json '.[0].samples[0].identity[0] | .ok and .inStore and .device == "Device/d2" and .patient == "Patient/p2"' "$tmp/why.json"
out=$("$IOMT" validate --device-mapping "$dev" --sample "$tmp/sample.ndjson" --store "$tmp/nowhere" 2>&1)
if [[ $? = 2 && "$out" == *"no such store"* ]]; then pass why-missing-store-not-created; else fail why-missing-store-not-created; fi
[ -e "$tmp/nowhere" ] && fail why-missing-store-stays-missing

# --- transform --store: resolves in the store, writes, prints what it wrote ---
"$IOMT" normalize --device-mapping "$dev" --input "$events" 2>/dev/null > "$tmp/m.ndjson"
"$IOMT" transform --fhir-mapping "$fhir" --input "$tmp/m.ndjson" --store "$tmp/t1" --now 2023-10-09T20:00:00Z 2>/dev/null > "$tmp/t1.ndjson"
"$IOMT" transform --fhir-mapping "$fhir" --input "$tmp/m.ndjson" --store "$tmp/t1" --now 2023-10-09T20:00:00Z 2>/dev/null > "$tmp/t2.ndjson"
if [ "$(grep -c . "$tmp/t1.ndjson")" = "$("$IOMT" store --store "$tmp/t1" export | grep -c .)" ] && [ ! -s "$tmp/t2.ndjson" ] &&
   [ "$(jq -c 'del(.meta)' "$tmp/t1.ndjson" | sort)" = "$(content "$tmp/t1")" ]; then
  pass transform-store-writes-and-prints-once
else
  fail transform-store-writes-and-prints-once "$tmp/t1.ndjson" "$tmp/t2.ndjson"
fi

# --- usage errors and bad mappings -------------------------------------------
expect_rc() {  # name rc want -- cmd...
  local name=$1 want_rc=$2 want=$3
  shift 4
  local out
  out=$("$@" 2>&1)
  local rc=$?
  if [ $rc = "$want_rc" ] && [[ "$out" == *"$want"* ]]; then pass "$name"; else echo "$out" > "$tmp/o.txt"; fail "$name (rc=$rc)" "$tmp/o.txt"; fi
}
expect_rc run-two-destinations 2 "give one" -- "$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$events" --store "$tmp/x" --fhir-url http://127.0.0.1:9/fhir
expect_rc run-invalid-mapping 1 "invalid FHIR mapping" -- "$IOMT" run --device-mapping "$dev" --fhir-mapping conformance/iomt-fhir/test/Microsoft.Health.Fhir.Ingest.Template.UnitTests/TestInput/data_CollectionFhirTemplateInvalid.json --input "$events" --store "$tmp/x"
expect_rc run-missing-input 2 "cannot read" -- "$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/none.ndjson" --store "$tmp/x"
expect_rc run-token-without-url 2 "go with --fhir-url" -- "$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$events" --fhir-token t
expect_rc run-unreachable-fhir 3 "FHIRServiceErrorConfigurationError" -- "$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$events" --fhir-url http://127.0.0.1:9/fhir

# --- a crash mid-run, then the same input again -------------------------------
# 3000 readings of 30 devices over an hour, in small batches: SIGKILL lands
# between or inside batch commits. The store afterwards is consistent and a
# rerun ends exactly where an uninterrupted run ends.
awk 'BEGIN { for (i = 0; i < 3000; i++) { d = i % 30; s = int(i / 30) * 36;
  printf "{\"heartrate\": %d, \"deviceid\": \"w-%d\", \"patientid\": \"p-%d\", \"measurementdatetime\": \"2023-10-09T19:%02d:%02d+00:00\"}\n",
         60 + i % 40, d, d, int(s / 60) % 60, s % 60 } }' > "$tmp/many.ndjson"
"$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/many.ndjson" --store "$tmp/clean" \
  --batch-size 50 --dead-letter "$tmp/dl-clean.ndjson" "${fixed[@]}" > /dev/null 2>&1
content "$tmp/clean" > "$tmp/clean.ndjson"
ok=1
for delay in 0.05 0.15 0.3; do
  rm -rf "$tmp/crash"
  "$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/many.ndjson" --store "$tmp/crash" \
    --batch-size 50 --dead-letter "$tmp/dl-crash.ndjson" "${fixed[@]}" > /dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  "$IOMT" store --store "$tmp/crash" export > /dev/null 2>&1 || { ok=0; echo "store unreadable after a kill at ${delay}s"; }
  "$IOMT" run --device-mapping "$dev" --fhir-mapping "$fhir" --input "$tmp/many.ndjson" --store "$tmp/crash" \
    --batch-size 50 --dead-letter "$tmp/dl-crash.ndjson" "${fixed[@]}" > /dev/null 2>&1
  content "$tmp/crash" > "$tmp/crash.ndjson"
  cmp -s "$tmp/clean.ndjson" "$tmp/crash.ndjson" || { ok=0; echo "different after a kill at ${delay}s"; }
done
if [ $ok = 1 ] && [ -s "$tmp/clean.ndjson" ]; then pass crash-then-rerun-equals-clean-run; else fail crash-then-rerun-equals-clean-run; fi

finish "run"
