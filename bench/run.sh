#!/usr/bin/env bash
# `make bench`: runs the benchmarks and, in the same run, the baselines
# (Node.js jmespath / jsonpath-plus, jq; Node.js for FHIR conversion), then
# prints the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
# The pinned Node.js and the baselines' packages (make bench installs them).
./scripts/npm-install.sh tools/node bench
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"
out=build/bench-results
mkdir -p "$out"

build/release/bench/expr_bench --benchmark_min_time=0.5 \
  --benchmark_out="$out/expr.json" --benchmark_out_format=json

node bench/baseline.js > "$out/node.json"

# jq: a whole NDJSON file of the message through each program, per message.
jq_time() {  # file count program
  local start end
  start=$(date +%s%N)
  jq -c "$3" "$1" > /dev/null
  end=$(date +%s%N)
  echo $(( (end - start) / $2 ))
}
{
  echo "["
  first=1
  for m in "flat:flat 130 B:200000" "iothub:iothub 689 B:50000"; do
    IFS=: read -r file label count <<< "$m"
    nd="$out/$file.ndjson"
    (yes "$(cat "bench/data/$file.json")" || true) | head -n "$count" > "$nd"
    while IFS='|' read -r name iomt program; do
      [ $first -eq 1 ] || echo ","
      first=0
      printf '{"name":"%s","message":"%s","iomt":"%s","ns":%s}' "$name" "$label" "$iomt" "$(jq_time "$nd" "$count" "$program")"
    done <<'PROGRAMS'
recursive_filter|JsonPathSelectTokens/recursive_filter|[.. | objects | select(has("heartrate"))]
body_heartrate|JsonPathSelectToken/body_heartrate|.Body.heartRate
iothub_device_id|JsonPathSelectToken/iothub_device_id|.SystemProperties["iothub-connection-device-id"]
PROGRAMS
  done
  echo "]"
} > "$out/jq.json"

node bench/report.js "$out/expr.json" "$out/node.json" "$out/jq.json"

./bench/normalize.sh

# FHIR conversion: fhir_bench against the same work in Node.js. The check
# first: both sides must build the same Observations.
mkdir -p "$out/fhir-samples"
build/release/bench/fhir_bench --dump="$out/fhir-samples"
node bench/fhir_baseline.js --check "$out/fhir-samples"
build/release/bench/fhir_bench --benchmark_repetitions=3 --benchmark_min_time=0.5 \
  --benchmark_display_aggregates_only=true --benchmark_out="$out/fhir.json" --benchmark_out_format=json
node bench/fhir_baseline.js > "$out/fhir_node.json"
node bench/fhir_report.js "$out/fhir.json" "$out/fhir_node.json"

./bench/transform.sh

# The FHIR destinations: the embedded store on its own (against the memory
# store and one transaction per write), then `iomt run` end to end into it
# and into a local Medplum server.
build/release/bench/store_bench --batches 30 --naive 2000
./bench/e2e.sh
./bench/remote.sh

# The console's mapping tools, per check, against one `iomt validate --sample`
# process per check.
./bench/console.sh

# What credentials and TLS cost a request of `iomt serve`, against the same
# route without them.
./bench/security.sh
