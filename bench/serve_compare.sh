#!/usr/bin/env bash
# Two or more builds of `iomt serve` against each other, interleaved round by
# round so that the machine's drift hits them alike: for each build, HTTP
# end to end (W1 messages, Quantity mapping, embedded store, 4 keep-alive
# connections of ~1 MB bodies), then POST -> readable latency at a fixed
# rate (client probes, and the share of events the server committed within
# 50 / 100 ms). The part of bench/serve.sh that a change to the worker moves.
# Usage: ROUNDS=3 RATE=13000 SECONDS_EACH=10 bench/serve_compare.sh BUILD...
#   e.g. bench/serve_compare.sh /tmp/iomt.before build/bin/iomt
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
[ $# -ge 1 ] || { echo "usage: $0 BUILD..." >&2; exit 2; }
tmp=$(mktemp -d /tmp/iomt-bench-compare-XXXXXX)
test_name=bench/serve_compare.sh
# shellcheck source=tests/server/lib.sh
. tests/server/lib.sh
dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fm=bench/mappings/w1-quantity/fhirmapping.json
count=${COUNT:-300000}
rate=${RATE:-13000}
node bench/gen.js w1 "$count" 1 > "$tmp/w1.ndjson"
echo "== $count W1 messages, $(nproc) cores, $(git rev-parse --short HEAD), latency at $rate msgs/s"
for round in $(seq 1 "${ROUNDS:-3}"); do
  for build in "$@"; do
    iomt=$build
    name="$round-$(basename "$build")"
    start_serve "t-$name" --store "$tmp/t-$name" --connector w1 --device-mapping $dm --fhir-mapping $fm
    node bench/serve_load.js throughput "$base" w1 "$tmp/w1.ndjson" 4 1000000 > "$tmp/throughput.json"
    stop_serve "$pid"
    start_serve "l-$name" --store "$tmp/l-$name" --connector w1 --device-mapping $dm --fhir-mapping $fm
    node bench/serve_load.js latency "$base" w1 "$tmp/w1.ndjson" "$rate" "${SECONDS_EACH:-10}" > "$tmp/latency.json"
    curl -sf "$base/metrics" > "$tmp/metrics.txt"
    stop_serve "$pid"
    within=$(awk '/^iomt_end_to_end_latency_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); v[le] = $NF }
      /^iomt_end_to_end_latency_seconds_count/ { n = $NF }
      END { printf "<=50ms %.1f%%, <=100ms %.1f%%", 100 * v["0.05"] / n, 100 * v["0.1"] / n }' "$tmp/metrics.txt")
    echo "round $round $build: end to end $(jq .donePerSecond "$tmp/throughput.json") msgs/s;" \
      "POST -> readable $(jq -c '{p50Ms,p90Ms,p99Ms}' "$tmp/latency.json"); committed $within"
  done
done
