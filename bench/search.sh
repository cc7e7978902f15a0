#!/usr/bin/env bash
# FHIR search on the embedded store at scale: COUNT (default 1000000) W1
# messages (bench/gen.js w1, 10,000 patients) go through `iomt run` with one
# Observation per reading, then build/bench/search_bench times patient +
# code + date searches (and the latest reading, value-quantity, _total=none)
# against a read by id in the same run. Issue 19's target: p99 under 10 ms.
# The store is kept in $out/search-store-$COUNT for the next run (delete it
# to rebuild); QUERIES (default 2000) searches of each kind.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
iomt=${IOMT:-build/bin/iomt}
out=${BENCH_OUT:-build/bench-results}
mkdir -p "$out"
count=${COUNT:-1000000}
store="$out/search-store-$count"
if [ ! -s "$store/store.db" ]; then
  input="$out/w1-$count.ndjson"
  [ -s "$input" ] || node bench/gen.js w1 "$count" 42 > "$input"
  rm -rf "$store"
  "$iomt" run --device-mapping conformance/iomt-fhir/sample/templates/basic/devicecontent.json \
    --fhir-mapping bench/mappings/w1-quantity/fhirmapping.json --input "$input" --store "$store" \
    --batch-size 10000 --now 2023-10-10T00:00:00Z --dead-letter "$out/search-dead.ndjson" > /dev/null
fi
build/release/bench/search_bench --store "$store" --queries "${QUERIES:-2000}" | tee "$out/search.txt"
