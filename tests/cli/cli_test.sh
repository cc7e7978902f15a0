#!/usr/bin/env bash
# The `iomt` command line as a user runs it: outputs and exit codes
# (docs/cli.md). Run by ctest with IOMT set to the binary.
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
# The commit the binary was built from (a checkout: the one it is at).
if commit=$(git rev-parse --short=12 HEAD 2> /dev/null); then
  expect version-commit 0 "(commit $commit" -- "$IOMT" --version
fi
# Every command explains itself (the package has no other manual).
for sub in eval validate normalize transform run test store serve mappings support-bundle auth; do
  expect "help-$sub" 0 "Usage:" -- "$IOMT" "$sub" --help
done
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
# '' is a JSONPath (Json.NET's SelectTokens("") is the root), not a missing flag.
expect jsonpath-empty-is-root 0 '[{"a":1}]' -- "$IOMT" eval -c --jsonpath '' <(echo '{"a":1}')
expect jsonpath-empty-single 0 '{"a":1}' -- "$IOMT" eval -c --single --jsonpath '' <(echo '{"a":1}')
expect jmespath-empty-invalid 1 'invalid JMESPath expression' -- "$IOMT" eval --jmespath '' "$tmp/msg.json"
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

# --- validate with the FHIR mapping: iomt-fhir's MappingValidator cases ----
# (conformance/iomt-fhir/MANIFEST.md section 3). The fixture events are bare
# messages, as the validator hands them to the mapping: --envelope none.

# expect_json NAME WANT_RC JQ_FILTER [JQ_ARGS...] -- command...: the exit code,
# and the filter must be true on the command's stdout.
expect_json() {
  local name=$1 want_rc=$2 filter=$3
  shift 3
  local jq_args=()
  while [ "$1" != "--" ]; do
    jq_args+=("$1")
    shift
  done
  shift
  local rc
  "$@" >"$tmp/out.json" 2>"$tmp/stderr"
  rc=$?
  if [ "$rc" = "$want_rc" ] && jq -e ${jq_args[@]+"${jq_args[@]}"} "$filter" "$tmp/out.json" >/dev/null 2>&1; then
    echo "ok   $name"
  else
    echo "FAIL $name: rc=$rc (want $want_rc), output:"
    cat "$tmp/out.json" "$tmp/stderr"
    echo "  (wanted jq to hold: $filter)"
    failures=$((failures + 1))
  fi
}

V=$C/test/Microsoft.Health.Fhir.Ingest.Validation.UnitTests/TestInput
vdev=$V/data_CollectionContentTemplateHrAndBloodPressureValid.json
vfhir=$V/data_CollectionFhirTemplateValid.json
vdev_bad=$V/data_CollectionContentTemplateInvalid.json
vfhir_bad=$V/data_CodeValueFhirTemplateInvalid_MissingFields.json
vfhir_type=$V/data_CollectionFhirTemplateMissingTypeInvalid.json
vfhir_value=$V/data_CollectionFhirTemplateIncorrectValueNameInvalid.json
echo '{"systolic":"60","diastolic":"80","device":"abc","date":"2019-01-01T00:30:00Z","session":"abcdefg","patient":"patient123"}' >"$tmp/bp.ndjson"
{
  echo '{"systolic":"60","diastolic":"80","device":"abc","date":"2019-01-01T00:30:00Z","session":"abcdefg","patient":"patient123"}'
  echo '{"systolic":"160","diastolic":"180","device":"abc","date":"2019-01-01T00:31:00Z","session":"abcdefg","patient":"patient123"}'
} >"$tmp/bp2.ndjson"
echo '{"pulse":"60","device":"abc","date":"2019-01-01T00:30:00Z","session":"abcdefg","patient":"patient123"}' >"$tmp/nothing.ndjson"
{
  for i in 1 2 3 4 5; do echo '{"systolic":"60","diastolic":"80","date":"2019-01-01T00:30:00Z","patient":"patient123"}'; done
  for i in 1 2 3 4 5; do echo '{"systolic":"60","diastolic":"80","device":"abc","patient":"patient123"}'; done
} >"$tmp/bad-events.ndjson"

# At least one mapping; --sample needs the device mapping.
expect validate-no-mapping 2 'give --device-mapping, --fhir-mapping or both' -- "$IOMT" validate
expect validate-sample-without-device 2 '--sample requires --device-mapping' -- "$IOMT" validate --fhir-mapping "$vfhir" --sample "$tmp/bp.ndjson"
expect validate-fhir-missing-file 2 'cannot read' -- "$IOMT" validate --device-mapping "$vdev" --fhir-mapping "$tmp/none.json"
expect validate-fhir-only 0 'data_CollectionFhirTemplateValid.json: valid FHIR mapping (2 templates)' -- "$IOMT" validate --fhir-mapping "$vfhir"
expect validate-fhir-sample-mapping 0 'fhirmapping.json: valid FHIR mapping (6 templates)' -- "$IOMT" validate --device-mapping "$basic" --fhir-mapping "$C/sample/templates/basic/fhirmapping.json"
expect_json validate-fhir-only-json 0 '.valid and .errors == [] and .warnings == [] and .samples == []' -- "$IOMT" validate --json --fhir-mapping "$vfhir"
# Given_ValidMappingFiles_And_No_DeviceMapping: no errors, no warnings, no sample results.
expect_json validate-pair-valid 0 '.valid and .errors == [] and .warnings == [] and .samples == []' -- "$IOMT" validate --json --device-mapping "$vdev" --fhir-mapping "$vfhir"
# When_Only_InvalidDeviceMapping_Provided: exactly 3 errors, NORMALIZATION.
expect_json validate-device-invalid-only 1 '(.valid | not) and ([.errors[] | [.line, .category]] == [[6, "NORMALIZATION"], [6, "NORMALIZATION"], [20, "NORMALIZATION"]]) and (.errors[0].message | contains("Required property '"'"'DeviceIdExpression'"'"' not found in JSON")) and (.errors[1].message | contains("TimestampExpression")) and (.errors[2].message | contains("TypeMatchExpression"))' -- "$IOMT" validate --json --device-mapping "$vdev_bad"
# When_Only_InvalidFhirMapping_Provided: a single CodeValueFhir is not a CollectionFhir.
expect validate-fhir-not-collection 1 'data_CodeValueFhirTemplateInvalid_MissingFields.json:2:33: error: Expected TemplateType value CollectionFhirTemplate, actual CodeValueFhir.' -- "$IOMT" validate --fhir-mapping "$vfhir_bad"
expect_json validate-fhir-not-collection-json 1 '(.valid | not) and (.errors | length) == 1 and .errors[0].category == "FHIRTRANSFORMATION" and .errors[0].line == 2 and (.errors[0].message | startswith("Expected TemplateType value CollectionFhirTemplate, actual CodeValueFhir"))' -- "$IOMT" validate --json --fhir-mapping "$vfhir_bad"
# Given_InvalidMappingFiles_Exceptions_Found: the 3 device errors, then the FHIR error at line 2; no cross-checks.
want="$vdev_bad:6:19: error: Required property 'DeviceIdExpression' not found in JSON.
$vdev_bad:6:19: error: Required property 'TimestampExpression' not found in JSON.
$vdev_bad:20:19: error: Required property 'TypeMatchExpression' not found in JSON.
$vdev_bad: invalid device mapping (3 errors)
$vfhir_bad:2:33: error: Expected TemplateType value CollectionFhirTemplate, actual CodeValueFhir.
$vfhir_bad: invalid FHIR mapping (1 error)"
expect validate-both-invalid 1 "$want" -- "$IOMT" validate --device-mapping "$vdev_bad" --fhir-mapping "$vfhir_bad"
expect_json validate-both-invalid-json 1 '(.valid | not) and ([.errors[] | [.line, .category]] == [[6, "NORMALIZATION"], [6, "NORMALIZATION"], [20, "NORMALIZATION"], [2, "FHIRTRANSFORMATION"]]) and .warnings == [] and .samples == []' -- "$IOMT" validate --json --device-mapping "$vdev_bad" --fhir-mapping "$vfhir_bad" --sample "$tmp/bp.ndjson"
# Given_ValidDeviceMapping_And_FhirMapping_WithMissingTypeName: one warning (heartrate matches), valid;
# the sample's measurement gets TemplateNotFoundException and no Observation.
expect validate-missing-type 0 "$vdev:22:19: warning: No matching Fhir Template exists for Device Mapping [bloodpressure]. Ensure case matches. Available Fhir Templates: [heartrate ,bloodpressureBadTypeName]." -- "$IOMT" validate --device-mapping "$vdev" --fhir-mapping "$vfhir_type"
expect_json validate-missing-type-json 0 '.valid and .errors == [] and (.warnings | length) == 1 and .warnings[0].category == "FHIRTRANSFORMATION" and (.warnings[0].message | startswith("No matching Fhir Template exists for Device Mapping [bloodpressure]")) and (.samples | length) == 1 and (.samples[0].measurements | length) == 1 and .samples[0].observations == [] and .samples[0].warnings == [] and (.samples[0].errors | length) == 1 and .samples[0].errors[0].errorName == "TemplateNotFoundException" and .samples[0].errors[0].stage == "FHIRConversion" and (.samples[0].errors[0].message | startswith("No Fhir Template exists with the type name [bloodpressure]. Ensure that all Fhir Template type names match Device Mapping type names (including casing)"))' -- "$IOMT" validate --json --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir_type" --sample "$tmp/bp.ndjson"
expect validate-missing-type-sample 0 '    -> TemplateNotFoundException: No Fhir Template exists with the type name [bloodpressure].' -- "$IOMT" validate --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir_type" --sample "$tmp/bp.ndjson"
# Given_ValidDeviceMapping_And_FhirMapping_WithIncorrectValueName: one warning, at the value's line;
# two events, each an Observation with only the diastolic component.
expect validate-value-name 0 "$vdev:29:11: warning: The value [systolic] in Device Mapping [bloodpressure] is not represented within the Fhir Template of type [bloodpressure]. Available values are: [diastolic ,systolicBadValueName]. No value will appear inside of Observations." -- "$IOMT" validate --device-mapping "$vdev" --fhir-mapping "$vfhir_value"
expect_json validate-value-name-json 0 '.valid and .errors == [] and (.warnings | length) == 1 and (.warnings[0].message | startswith("The value [systolic] in Device Mapping [bloodpressure] is not represented within the Fhir Template")) and (.samples | length) == 2 and all(.samples[]; (.measurements | length) == 1 and .errors == [] and .warnings == [] and (.observations | length) == 1 and ([.observations[0].component[].code.text] == ["diastolic"])) and (.samples[0].observations[0].component[0].valueSampledData.data | split(" ") | index("80") != null) and (.samples[1].observations[0].component[0].valueSampledData.data | split(" ") | index("180") != null)' -- "$IOMT" validate --json --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir_value" --sample "$tmp/bp2.ndjson"
# Given_ValidMappingFiles_And_Valid_DeviceMapping_No_Exceptions_And_MeasurementsAreCreated: one measurement,
# one Observation (components diastolic then systolic), exactly derived/fhir_cases.json's template-only resource.
expect_json validate-observation 0 '.valid and (.samples | length) == 1 and .samples[0].errors == [] and .samples[0].warnings == [] and .samples[0].measurements == [{"Type":"bloodpressure","OccurrenceTimeUtc":"2019-01-01T00:30:00Z","IngestionTimeUtc":.samples[0].measurements[0].IngestionTimeUtc,"DeviceId":"abc","PatientId":"patient123","EncounterId":null,"CorrelationId":null,"Properties":[{"Name":"systolic","Value":"60"},{"Name":"diastolic","Value":"80"}]}] and (.samples[0].observations | length) == 1 and .samples[0].observations[0].code.text == "bloodpressure" and [.samples[0].observations[0].component[].code.text] == ["diastolic", "systolic"] and (.samples[0].observations[0].component[0].valueSampledData.data | split(" ") | index("80") != null) and (.samples[0].observations[0].component[1].valueSampledData.data | split(" ") | index("60") != null)' -- "$IOMT" validate --json --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir" --sample "$tmp/bp.ndjson"
expect_json validate-observation-derived 0 '(.samples[0].observations[0] | del(.issued)) == ($derived[0].derivedObservationCases[0].expectObservation_templateOnly | del(.issued)) and (.samples[0].observations[0].issued | test("^[0-9]{4}-"))' --slurpfile derived "$C/derived/fhir_cases.json" -- "$IOMT" validate --json --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir" --sample "$tmp/bp.ndjson"
expect validate-observation-text 0 '       component diastolic [8867-4, diastolic]: SampledData every 1000 ms, 1 of 3600 slots set: 80' -- "$IOMT" validate --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir" --sample "$tmp/bp.ndjson"
expect validate-observation-auto-envelope 0 'effective 2019-01-01T00:00:00.0000000Z .. 2019-01-01T00:59:59.9999999Z' -- "$IOMT" validate --device-mapping "$vdev" --fhir-mapping "$vfhir" --sample "$tmp/bp.ndjson"
# ..._NoMeasurementsAreCreated_With_Bad_DeviceData: exactly one warning (NORMALIZATION), no error.
expect_json validate-no-measurements 0 '.valid and (.samples | length) == 1 and .samples[0].warnings == [{"category":"NORMALIZATION","message":"No measurements were produced for the given device data."}] and .samples[0].errors == [] and .samples[0].measurements == [] and .samples[0].observations == []' -- "$IOMT" validate --json --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir" --sample "$tmp/nothing.ndjson"
expect validate-no-measurements-text 0 $'sample line 1: no measurements\n  warning: No measurements were produced for the given device data.' -- "$IOMT" validate --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir" --sample "$tmp/nothing.ndjson"
# ..._When_BadDataIsSupplied_ErrorsAreAggregated: iomt does not aggregate; each event has its error.
expect_json validate-bad-events 0 '.valid and (.samples | length) == 10 and ([.samples[] | .errors | length] | unique) == [1] and ([.samples[].errors[0].message] | unique) == ["Unable to extract required value for [DeviceIdExpression] using $.device", "Unable to extract required value for [TimestampExpression] using $.date"] and ([.samples[:5][].errors[0].message] | unique | length) == 1 and all(.samples[]; .measurements == [] and .observations == [])' -- "$IOMT" validate --json --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir" --sample "$tmp/bad-events.ndjson"
# ..._ValidDeviceData_When_Aggregating_NoErrorsAreAggregated: valid events have no errors.
expect_json validate-good-events 0 '.valid and all(.samples[]; .errors == [] and .warnings == [] and (.observations | length) == 1)' -- "$IOMT" validate --json --envelope none --device-mapping "$vdev" --fhir-mapping "$vfhir" --sample "$tmp/bp2.ndjson"

# The FHIR lookup ignores case (no cross-check warning for HeartRate vs heartrate); the FHIR
# loader's warnings are printed at their line; conversion failures carry their catalogue name.
cat >"$tmp/fhir-case.json" <<'JSON'
{
  "templateType": "CollectionFhir",
  "template": [
    {
      "templateType": "CodeValueFhir",
      "template": {
        "typeName": "HeartRate",
        "codes": [{ "code": "8867-4", "system": "http://loinc.org" }],
        "value": { "valueName": "hr", "valueType": "SampledData", "unit": "count/min" }
      }
    },
    {
      "templateType": "CodeValueFhir",
      "template": {
        "typeName": "BloodPressure",
        "codes": [{ "code": "85354-9", "system": "http://loinc.org" }],
        "components": [
          { "codes": [], "value": { "valueName": "systolic", "valueType": "Quantity", "unit": "mmHg" } },
          { "codes": [], "value": { "valueName": "diastolic", "valueType": "Quantity", "unit": "mmHg" } }
        ]
      }
    }
  ]
}
JSON
{
  echo '{"heartrate":"61","device":"abc","date":"2019-01-01T00:30:00Z"}'
  echo '{"systolic":"120","diastolic":"x","device":"abc","date":"2019-01-01T00:30:00Z","patient":"p"}'
  echo '{"systolic":"120","diastolic":"80","device":"abc","date":"2019-01-01T00:30:00Z","patient":"p"}'
} >"$tmp/case.ndjson"
expect validate-fhir-loader-warning 0 "$tmp/fhir-case.json:9:18: warning: The SampledData value [hr] of Fhir Template [HeartRate] has no defaultPeriod" -- "$IOMT" validate --device-mapping "$vdev" --fhir-mapping "$tmp/fhir-case.json"
expect_json validate-case-insensitive 0 '.valid and ([.warnings[] | select(.message | startswith("No matching") or startswith("The value"))] == []) and (.warnings | length) == 1 and .warnings[0].file == $f and .samples[0].errors[0].errorName == "FhirDataMappingException" and .samples[1].errors[0].errorName == "InvalidQuantityFhirValueException" and (.samples[1].errors[0].message | contains("x")) and .samples[2].errors == [] and .samples[2].observations[0].code.text == "bloodpressure" and [.samples[2].observations[0].component[].valueQuantity.value] == [120, 80]' --arg f "$tmp/fhir-case.json" -- "$IOMT" validate --json --envelope none --device-mapping "$vdev" --fhir-mapping "$tmp/fhir-case.json" --sample "$tmp/case.ndjson"
expect validate-quantity-text 0 '    -> Observation "bloodpressure" [85354-9, bloodpressure], effective 2019-01-01T00:30:00.0000000Z .. 2019-01-01T00:30:00.0000000Z' -- "$IOMT" validate --envelope none --device-mapping "$vdev" --fhir-mapping "$tmp/fhir-case.json" --sample "$tmp/case.ndjson"
# --- end of validate with the FHIR mapping --------------------------------

# What normalization gives for these samples (the measurement, the error
# records at their lines) is the case tests/cases/basic/normalize-samples; the
# checks here are of the command itself.
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

# --- transform ----------------------------------------------------------------
# Measurements to FHIR resources; identities resolved in memory (Create mode).
basic_fhir=$C/sample/templates/basic/fhirmapping.json
"$IOMT" normalize --device-mapping "$basic" --input "$tmp/samples.ndjson" --ingestion-time 2023-10-09T20:00:00Z \
  > "$tmp/measurements.ndjson" 2>/dev/null
# The ids Create derives from the identifiers, and Lookup's
# DeviceNotFoundException, are cases of tests/cases/basic (iomt test); here,
# that transform prints what it wrote.
expect_json transform-create 0 \
  '(map(.resourceType) | group_by(.) | map({(.[0]): length}) | add) as $n
   | $n.Patient == 1 and $n.Device == 1 and $n.Observation >= 1
   and (map(select(.resourceType == "Observation"))[0] | .status == "final" and (.id | length) == 64
        and .subject.reference == "Patient/" + (.identifier[0].value | split(".")[0]))' -s \
  -- "$IOMT" transform --fhir-mapping "$basic_fhir" --input "$tmp/measurements.ndjson" --now 2023-10-09T20:00:00Z
expect transform-stdin 0 '"resourceType":"Observation"' -- sh -c "\"$IOMT\" transform --fhir-mapping \"$basic_fhir\" < \"$tmp/measurements.ndjson\""
# Readings of one hour merge into one SampledData Observation.
cat > "$tmp/hr.ndjson" <<'NDJSON'
{"Type":"heartrate","OccurrenceTimeUtc":"2023-10-09T19:00:00Z","DeviceId":"w","PatientId":"p","Properties":[{"Name":"hr","Value":"60"}]}
{"Type":"heartrate","OccurrenceTimeUtc":"2023-10-09T19:00:02Z","DeviceId":"w","PatientId":"p","Properties":[{"Name":"hr","Value":"62"}]}
{"type":"HEARTRATE","occurrenceTimeUtc":"2023-10-09T19:00:01Z","deviceId":"w","patientId":"p","properties":[{"name":"hr","value":"61"}]}
NDJSON
expect_json transform-sampleddata 0 \
  'map(select(.resourceType == "Observation")) | length == 2 and (.[0].valueSampledData.data | startswith("60 E 62 E"))
   and (.[1].valueSampledData.data | startswith("E 61 E")) and .[1].code.text == "HEARTRATE"' -s \
  -- "$IOMT" transform --fhir-mapping "$basic_fhir" --input "$tmp/hr.ndjson"
# Bad input: each failing group gets its record, the rest is written.
cat > "$tmp/mixed.ndjson" <<'NDJSON'
{"Type":"heartrate","OccurrenceTimeUtc":"2023-10-09T19:00:00Z","DeviceId":"w","PatientId":"p","Properties":[{"Name":"hr","Value":"60"}]}
{"Type":"nosuchtype","OccurrenceTimeUtc":"2023-10-09T19:00:00Z","DeviceId":"w","PatientId":"p","Properties":[]}
not a measurement
{"Type":"heartrate","DeviceId":"w"}
{"Type":"heartrate","OccurrenceTimeUtc":"2023-10-09T19:00:00Z","DeviceId":"w2","Properties":[{"Name":"hr","Value":"60"}]}
NDJSON
"$IOMT" transform --fhir-mapping "$basic_fhir" --input "$tmp/mixed.ndjson" --errors "$tmp/mixed-errors.ndjson" > "$tmp/mixed-out.ndjson" 2>/dev/null
rc=$?
if [ "$rc" = 1 ] && [ "$(grep -c '"resourceType":"Observation"' "$tmp/mixed-out.ndjson")" = 1 ] \
   && jq -se 'map(.errorName) == ["IncompatibleDataException","IncompatibleDataException","TemplateNotFoundException","PatientIdentityNotDefinedException"]
             and .[0].input.line == 3 and .[1].input.line == 4 and .[2].input.line == 2 and .[2].template == "nosuchtype"
             and .[2].severity == "Critical" and .[2].errorType == "FHIRTemplateError" and .[3].deviceId == "w2"' \
        "$tmp/mixed-errors.ndjson" >/dev/null; then
  echo "ok   transform-bad-input"
else
  echo "FAIL transform-bad-input: rc=$rc"; cat "$tmp/mixed-errors.ndjson" "$tmp/mixed-out.ndjson"
  failures=$((failures + 1))
fi
expect transform-bad-resolution 2 'unknown identity resolution' -- "$IOMT" transform --fhir-mapping "$basic_fhir" --resolution Guess --input "$tmp/hr.ndjson"
expect transform-invalid-mapping 1 'invalid FHIR mapping' -- "$IOMT" transform --fhir-mapping "$T/data_CollectionFhirTemplateInvalid.json" --input "$tmp/hr.ndjson"
expect transform-missing-mapping 2 'cannot read' -- "$IOMT" transform --fhir-mapping "$tmp/none.json" --input "$tmp/hr.ndjson"
expect transform-missing-input 2 'cannot read' -- "$IOMT" transform --fhir-mapping "$basic_fhir" --input "$tmp/none.ndjson"

# ---- iomt store: the embedded FHIR store (import, export, search) ----------
st="$tmp/store"
cat > "$tmp/store-in.ndjson" <<'NDJSON'
{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:mrn","value":"42"}]}
{"resourceType":"Observation","id":"o2","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2023-10-09T10:00:00Z","valueQuantity":{"value":72.50}}
{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"59408-5"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2023-10-10T10:00:00Z"}

not json
{"resourceType":"Patient"}
NDJSON
expect store-import-bad-lines 1 'store-in.ndjson:6: not a FHIR resource with a resourceType and an id' -- "$IOMT" store --store "$st" import "$tmp/store-in.ndjson"
expect store-import-line-number 1 'store-in.ndjson:5: not a JSON object' -- "$IOMT" store --store "$st" import "$tmp/store-in.ndjson"
expect store-export-order 0 '"id":"o1"' -- "$IOMT" store --store "$st" export Observation
if [ "$("$IOMT" store --store "$st" export | jq -r '.resourceType + "/" + .id + "/" + .meta.versionId' | tr '\n' ' ')" = "Observation/o1/2 Observation/o2/2 Patient/p1/2 " ]; then
  echo "ok   store-export-all"
else
  echo "FAIL store-export-all"; "$IOMT" store --store "$st" export; failures=$((failures + 1))
fi
expect store-export-keeps-decimals 0 '"value":72.50' -- "$IOMT" store --store "$st" export Observation
"$IOMT" store --store "$st" export > "$tmp/store-out.ndjson"
expect store-round-trip 0 'imported 3 resources' -- "$IOMT" store --store "$tmp/store2" import "$tmp/store-out.ndjson"
expect store-search 0 '"id":"o2"' -- "$IOMT" store --store "$st" search Observation 'subject=Patient/p1&code=8867-4'
if [ "$("$IOMT" store --store "$st" search Observation 'patient=p1&_sort=-date&_count=1' | jq -r .id | tr '\n' ' ')" = "o1 o2 " ]; then
  echo "ok   store-search-all-pages"
else
  echo "FAIL store-search-all-pages"; failures=$((failures + 1))
fi
expect store-search-identifier 0 '"id":"p1"' -- "$IOMT" store --store "$st" search Patient 'identifier=urn:mrn|42'
expect store-search-unknown-param 2 "Unknown search parameter 'colour'" -- "$IOMT" store --store "$st" search Observation 'colour=red'
expect store-import-missing-file 2 'cannot read' -- "$IOMT" store --store "$st" import "$tmp/none.ndjson"
echo "not a database, only text, long enough to be read as a header.........................." > "$tmp/notstore.db"
mkdir -p "$tmp/notstore" && cp "$tmp/notstore.db" "$tmp/notstore/store.db"
expect store-not-a-store 2 'not an iomt store' -- "$IOMT" store --store "$tmp/notstore" export
expect store-no-subcommand 2 '' -- "$IOMT" store --store "$st"
# ---- end of iomt store -------------------------------------------------------

if [ "$failures" -gt 0 ]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
