#!/usr/bin/env bash
# Writes every FHIR resource the conformance and example runs produce into
# OUT_DIR, for the HL7 R4 schema check (tests/fhir_schema/validate.js).
# Usage: produce_outputs.sh OUT_DIR FHIR_TEST IOMT
set -euo pipefail
out=$1 fhir_test=$2 iomt=$3
rm -rf "$out"
mkdir -p "$out"
IOMT_FHIR_OUT="$out" "$fhir_test" --gtest_brief=1 >/dev/null

C=conformance/iomt-fhir
samples=$C/sample/templates
# The bundled wearable events through iomt-fhir's basic sample mappings (the
# file has bad events on purpose: normalize reports them and exits 1).
{ "$iomt" normalize --device-mapping "$samples/basic/devicecontent.json" --input examples/events/wearables.ndjson \
  2>/dev/null || true; } | "$iomt" transform --fhir-mapping "$samples/basic/fhirmapping.json" > "$out/basic.ndjson"
# Every value type and period, in small batches so later batches merge into
# (and amend) the Observations of earlier ones.
for batch in 1 3 100; do
  "$iomt" transform --fhir-mapping tests/fhir/data/all-types-mapping.json --input tests/fhir/data/all-types.ndjson \
    --batch-size "$batch" > "$out/all-types-$batch.ndjson"
done
# The validator's blood pressure event through its mappings.
V=$C/test/Microsoft.Health.Fhir.Ingest.Validation.UnitTests/TestInput
echo '{"systolic":"60","diastolic":"80","device":"abc","date":"2019-01-01T00:30:00Z","session":"abcdefg","patient":"patient123"}' |
  "$iomt" normalize --device-mapping "$V/data_CollectionContentTemplateHrAndBloodPressureValid.json" --envelope none |
  "$iomt" transform --fhir-mapping "$V/data_CollectionFhirTemplateValid.json" > "$out/validator.ndjson"
echo "resources: $(cat "$out"/*.ndjson | wc -l)"
