#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 600), all at once (they share
# the cores), starting from seed corpora made from the conformance data.
# Fails if any target finds a crash, leak or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
bin=build/fuzz/fuzz
work=build/fuzz/work
mkdir -p "$work"

# Seeds: expressions of the conformance data, each with a small document.
seed() {
  local dir=$1 filter=$2
  mkdir -p "$dir"
  if [ -z "$(ls -A "$dir")" ]; then
    local i=0
    while IFS= read -r line; do
      i=$((i + 1))
      printf '%s\n{"a":[1,{"b":"x"}],"heartrate":60,"Body":{"ts":1626799080000}}' "$line" > "$dir/seed$i"
    done < <(eval "$filter")
  fi
}
seed "$work/corpus-jsonpath" "jq -r '.[].selector' ../shared/conformance/jsonpath/newtonsoft_cases.json 2>/dev/null; jq -r '.. | objects | (.typeMatchExpression?, .deviceIdExpression?, .valueExpression?) | strings' conformance/iomt-fhir/sample/templates/*/devicecontent.json"
jmespath_suites=$(ls conformance/jmespath/*.json | grep -v -e schema.json -e benchmarks.json | tr '\n' ' ')
seed "$work/corpus-jmespath" "jq -r '.[].cases[].expression' $jmespath_suites; jq -r '.cases[].expression' conformance/iomt-fhir/derived/jmespath_function_cases.json"

# Mappings: the fixtures and samples; messages: the payloads and examples.
seed_files() {
  local dir=$1
  shift
  mkdir -p "$dir"
  if [ -z "$(ls -A "$dir")" ]; then
    local i=0
    for f in "$@"; do i=$((i + 1)); cp "$f" "$dir/seed$i"; done
  fi
}
seed_files "$work/corpus-mapping" conformance/iomt-fhir/test/*/TestInput/*.json conformance/iomt-fhir/sample/templates/*/devicecontent.json
seed_files "$work/corpus-normalize" conformance/iomt-fhir/test/Microsoft.Health.Fhir.Ingest.Template.UnitTests/TestInput/*Payload*.json \
  examples/messages/*.json bench/data/*.json

seed_files "$work/corpus-fhir_mapping" conformance/iomt-fhir/test/*/TestInput/*Fhir*.json \
  conformance/iomt-fhir/sample/templates/*/fhirmapping.json tests/fhir/data/all-types-mapping.json
mkdir -p "$work/corpus-transform"
if [ -z "$(ls -A "$work/corpus-transform")" ]; then
  cp tests/fhir/data/all-types.ndjson "$work/corpus-transform/seed1"
fi

# The store: search queries, a transaction Bundle, resources (first byte: the
# operation, second: the type).
mkdir -p "$work/corpus-store"
if [ -z "$(ls -A "$work/corpus-store")" ]; then
  printf '\x00\x00subject=Patient/p1&code=http://loinc.org|8867-4&date=ge2023-01-01&_sort=-date&_count=5' > "$work/corpus-store/seed1"
  printf '\x02\x00{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"a","value":"b"}]},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=a|b"}}]}' > "$work/corpus-store/seed2"
  { printf '\x03\x00'; grep -m1 Observation tests/examples/expected-resources.ndjson 2>/dev/null || echo '{"resourceType":"Observation","id":"fuzz-1"}'; } > "$work/corpus-store/seed3"
  printf '\x05\x02{"resourceType":"Device","id":"fuzz-2","identifier":[{"value":"d"}],"patient":{"reference":"Patient/p1"}}' > "$work/corpus-store/seed4"
fi

# iomt serve's requests (first byte: the method, bit 7 the admin key; then
# lines: target, Authorization, X-Api-Key, body) and its configuration files.
mkdir -p "$work/corpus-serve_request" "$work/corpus-config"
if [ -z "$(ls -A "$work/corpus-serve_request")" ]; then
  printf '\x00/fhir/Observation?code=8867-4\nBearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.\n\n' > "$work/corpus-serve_request/seed1"
  printf '\x01/connectors/fuzz/messages\n\niomt_wrong\n{"heartRate":60,"deviceId":"d1"}' > "$work/corpus-serve_request/seed2"
  printf '\x81/connectors/fuzz/messages\n\n\n{"heartRate":60,"deviceId":"d1","endDate":"2024-01-01T00:00:00Z"}' > "$work/corpus-serve_request/seed3"
  printf '\x82/subscriptions/s/resourceGroups/g/providers/Microsoft.HealthcareApis/workspaces/ws\n\n\n{"location":"westus"}' > "$work/corpus-serve_request/seed4"
fi
if [ -z "$(ls -A "$work/corpus-config")" ]; then
  cp examples/serve.json "$work/corpus-config/seed1" 2>/dev/null || true
  printf '{"listen":"0.0.0.0:0","auth":{"apiKeys":{"ops":"admin,metrics sha256$00112233445566778899aabbccddeeff$00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}},"tls":{"certFile":"c.pem","keyFile":"k.pem"}}' > "$work/corpus-config/seed2"
fi

targets=(jsonpath_fuzz jmespath_fuzz mapping_fuzz normalize_fuzz fhir_mapping_fuzz transform_fuzz store_fuzz
  serve_request_fuzz config_fuzz)
status=0
pids=()
for target in "${targets[@]}"; do
  corpus="$work/corpus-${target%_fuzz}"
  log="$work/$target.log"
  echo "fuzz: $target for ${seconds}s (log: $log)"
  ASAN_OPTIONS=detect_leaks=1 "$bin/$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -artifact_prefix="$work/$target-" >"$log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then status=1; fi
done
for target in "${targets[@]}"; do
  tail -n 3 "$work/$target.log" | sed "s/^/  $target: /"
done
if ls "$work"/*-crash-* "$work"/*-leak-* "$work"/*-timeout-* >/dev/null 2>&1; then
  echo "fuzz: findings in $work"; status=1
fi
exit $status
