#!/usr/bin/env bash
# The `iomt` command line as a user runs it: outputs and exit codes
# (../shared/spec/cli.md). Run by ctest with IOMT set to the binary.
set -u
IOMT=${IOMT:-build/bin/iomt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect NAME WANT_RC WANT_STDOUT_SUBSTRING -- command...
expect() {
  local name=$1 want_rc=$2 want_out=$3
  shift 4
  local out rc
  out=$("$@" 2>"$tmp/stderr")
  rc=$?
  if [ "$rc" != "$want_rc" ] || [[ "$out$(cat "$tmp/stderr")" != *"$want_out"* ]]; then
    echo "FAIL $name: rc=$rc (want $want_rc), output:"
    echo "$out"
    cat "$tmp/stderr"
    echo "  (wanted to contain: $want_out)"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

cat > "$tmp/msg.json" <<'JSON'
{"Body":{"heartRate":78,"ts":1626799080000,"worn":false},
 "Properties":{"iothub-creation-time-utc":"2019-01-30T22:45:02.6073744Z"},
 "SystemProperties":{"iothub-connection-device-id":"device-1"}}
JSON
printf '\xEF\xBB\xBF{"a": 1}' > "$tmp/bom.json"
echo '{"a": ' > "$tmp/bad.json"

expect help 0 "eval" -- "$IOMT" --help
expect version 0 "iomt 0." -- "$IOMT" --version
expect no-subcommand 2 "" -- "$IOMT"
expect unknown-flag 2 "" -- "$IOMT" eval --nope x
expect jsonpath-filter 0 '"heartRate": 78' -- "$IOMT" eval --jsonpath '$..[?(@Body.heartRate)]' "$tmp/msg.json"
expect jsonpath-compact 0 '["device-1"]' -- "$IOMT" eval -c --jsonpath '$.SystemProperties.iothub-connection-device-id' "$tmp/msg.json"
expect jsonpath-existence-false 0 '[{"heartRate":78,"ts":1626799080000,"worn":false}]' -- "$IOMT" eval -c --jsonpath '$..[?(@worn)]' "$tmp/msg.json"
expect jsonpath-stdin 0 '[78]' -- sh -c "\"$IOMT\" eval -c --jsonpath 'Body.heartRate' - < \"$tmp/msg.json\""
expect jsonpath-single-many 1 'Path returned multiple tokens.' -- "$IOMT" eval --single --jsonpath '$..*' "$tmp/msg.json"
expect jsonpath-single-one 0 '78' -- "$IOMT" eval --single --jsonpath '$.Body.heartRate' "$tmp/msg.json"
expect jsonpath-syntax 1 $'$.Body[\n         ^' -- "$IOMT" eval --jsonpath '$.Body[' "$tmp/msg.json"
expect jsonpath-eval-error 1 'Index was out of range' -- "$IOMT" eval --jsonpath '$[-1]' <(echo '[1]')
expect bom-accepted 0 '[1]' -- "$IOMT" eval -c --jsonpath '$.a' "$tmp/bom.json"
expect bad-json 1 'invalid JSON' -- "$IOMT" eval --jsonpath '$' "$tmp/bad.json"
expect missing-file 2 'cannot read' -- "$IOMT" eval --jsonpath '$' "$tmp/nope.json"
expect both-languages 2 '' -- "$IOMT" eval --jsonpath '$' --jmespath '@' "$tmp/msg.json"
expect no-language 2 'exactly one' -- "$IOMT" eval "$tmp/msg.json"
expect jmespath-function 0 '"2021-07-20T16:38:00Z"' -- "$IOMT" eval -c --jmespath 'fromUnixTimestampMs(Body.ts)' "$tmp/msg.json"
expect jmespath-arith 0 '1.9811999999999999' -- "$IOMT" eval -c --jmespath 'multiply(`78`, `0.0254`)' "$tmp/msg.json"
expect jmespath-syntax 1 '^' -- "$IOMT" eval --jmespath 'Body.[' "$tmp/msg.json"
expect jmespath-type-error 1 'invalid-type' -- "$IOMT" eval --jmespath 'add(Body.worn, `1`)' "$tmp/msg.json"
deep=$(printf '[%.0s' $(seq 1 100))$(printf ']%.0s' $(seq 1 100))
expect too-deep 1 'deeper than 64' -- sh -c "echo '$deep' | \"$IOMT\" eval --jsonpath '\$' -"

# --- validate and normalize ------------------------------------------------
C=conformance/iomt-fhir
T=$C/test/Microsoft.Health.Fhir.Ingest.Template.UnitTests/TestInput
basic=$C/sample/templates/basic/devicecontent.json
expect validate-valid 0 'valid device mapping (6 templates)' -- "$IOMT" validate --device-mapping "$basic"
expect validate-invalid 1 'data_CollectionContentTemplateInvalid.json:20:19: error: Required property '"'"'TypeMatchExpression'"'"' not found in JSON.' -- "$IOMT" validate --device-mapping "$T/data_CollectionContentTemplateInvalid.json"
expect validate-not-json 1 ':3:1: error: Unexpected character encountered while parsing value: }.' -- "$IOMT" validate --device-mapping "$T/data_InvalidJson.txt"
expect validate-bom 0 'valid device mapping (1 template)' -- "$IOMT" validate --device-mapping "$T/data_Documentation_CalculatedFunction_HeartRate_Template.json"
expect validate-json 1 '"valid":false,"errors":[{"file":' -- "$IOMT" validate --json --device-mapping "$T/data_CollectionContentTemplateInvalid.json"
expect validate-missing-file 2 'cannot read' -- "$IOMT" validate --device-mapping "$tmp/none.json"
cat > "$tmp/samples.ndjson" <<'JSON'
{"heartrate": 65, "deviceid": "watch-1", "patientid": "p-1", "measurementdatetime": "2023-10-09T19:18:23Z"}
{"temperature": 36.6, "deviceid": "watch-1", "measurementdatetime": "2023-10-09T19:18:23Z"}

{"heartrate": 70, "patientid": "p-1", "measurementdatetime": "2023-10-09T19:18:24Z"}
JSON
expect validate-sample-measurement 0 'heartrate at 2023-10-09T19:18:23Z, device watch-1, patient p-1: hr=65' -- "$IOMT" validate --device-mapping "$basic" --sample "$tmp/samples.ndjson"
expect validate-sample-why-not 0 "template 'heartrate' (JsonPathContent): typeMatchExpression \$..[?(@heartrate)] matched nothing in the message" -- "$IOMT" validate --device-mapping "$basic" --sample "$tmp/samples.ndjson"
expect validate-sample-error 0 'sample line 4: no measurements' -- "$IOMT" validate --device-mapping "$basic" --sample "$tmp/samples.ndjson"
expect validate-sample-json 0 '"samples":[{"line":1,"measurements":[{"Type":"heartrate"' -- "$IOMT" validate --json --device-mapping "$basic" --sample "$tmp/samples.ndjson"

expect normalize-ok 1 '{"Type":"heartrate","OccurrenceTimeUtc":"2023-10-09T19:18:23Z","IngestionTimeUtc":"2020-01-01T00:00:00Z","DeviceId":"watch-1","PatientId":"p-1","EncounterId":null,"CorrelationId":null,"Properties":[{"Name":"hr","Value":"65"}]}' -- "$IOMT" normalize --device-mapping "$basic" --input "$tmp/samples.ndjson" --ingestion-time 2020-01-01T00:00:00Z --errors "$tmp/errors.ndjson"
expect normalize-error-records 0 '"errorName":"UnmatchedDeviceMessage"' -- cat "$tmp/errors.ndjson"
expect normalize-error-line 0 '"errorName":"DeviceIdentityNotDefinedException","message":"Unable to extract required value for [DeviceIdExpression] using $.deviceid","template":"heartrate","input":{"line":4}}' -- cat "$tmp/errors.ndjson"
expect normalize-exit-on-errors 1 '' -- "$IOMT" normalize --device-mapping "$basic" --input "$tmp/samples.ndjson" --errors /dev/null
expect normalize-stdin 0 '"Value":"65"' -- sh -c "head -1 \"$tmp/samples.ndjson\" | \"$IOMT\" normalize --device-mapping \"$basic\""
expect normalize-invalid-mapping 1 'invalid device mapping (3 errors)' -- "$IOMT" normalize --device-mapping "$T/data_CollectionContentTemplateInvalid.json" --input "$tmp/samples.ndjson"
expect normalize-bad-envelope-mode 2 '' -- "$IOMT" normalize --device-mapping "$basic" --envelope maybe --input "$tmp/samples.ndjson"

# Bad input gets its error record; the good events around it still go through.
{
  echo '{"heartrate": 60, "deviceid": "d", "measurementdatetime": "2023-10-09T19:18:23Z"}'
  echo 'not json'
  printf '{"heartrate": "\xff", "deviceid": "d", "measurementdatetime": "2023-10-09T19:18:23Z"}\n'
  printf '%s' "$(printf '[%.0s' $(seq 1 70))"; printf '%s\n' "$(printf ']%.0s' $(seq 1 70))"
  echo '{"Body": "just text", "Properties": {}}'
  printf '{"pad": "%s"}\n' "$(head -c 1100000 /dev/zero | tr '\0' x)"
  echo '{"heartrate": 61, "deviceid": "d", "measurementdatetime": "2023-10-09T19:18:24Z"}'
} > "$tmp/bad.ndjson"
"$IOMT" normalize --device-mapping "$basic" --input "$tmp/bad.ndjson" --errors "$tmp/bad-errors.ndjson" > "$tmp/bad-out.ndjson"
rc=$?
if [ "$rc" = 1 ] && [ "$(wc -l < "$tmp/bad-out.ndjson")" = 2 ] && [ "$(grep -c NotSupportedException "$tmp/bad-errors.ndjson")" = 5 ] \
   && grep -q '"input":{"line":2}' "$tmp/bad-errors.ndjson" && grep -q 'not valid UTF-8' "$tmp/bad-errors.ndjson" \
   && grep -q 'deeper than 64' "$tmp/bad-errors.ndjson" && grep -q 'Body must be a JSON object or array' "$tmp/bad-errors.ndjson" \
   && grep -q 'larger than 1048576 bytes' "$tmp/bad-errors.ndjson"; then
  echo "ok   normalize-bad-input"
else
  echo "FAIL normalize-bad-input: rc=$rc"; cat "$tmp/bad-errors.ndjson"; cat "$tmp/bad-out.ndjson"
  failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
