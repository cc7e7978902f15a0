#!/usr/bin/env bash
# The store split in files (docs/adr/0029-store-split.md), in one process:
# build/release/bench/split_store_bench runs the data path of `iomt run`
# (Pipeline + RunStream, W1 messages of bench/gen.js with iomt-fhir's basic
# sample device mapping) into one embedded store (the baseline), into a split
# store of PARTS files with one pipeline (its Observation writer writes a
# lane a part at once), and, as the ceiling, a pipeline a part over the
# devices of one lane into a store of one file of its own; round by round,
# each durable.
#   COUNT (default 300000) messages, PARTS (default 2), BATCH (default
#   10000), ROUNDS (default 3), KIND quantity (default:
#   bench/mappings/w1-quantity, an Observation a reading) or sampled (the
#   basic sample's hourly SampledData).
# Writes build/bench-results/split_store-KIND.json (one line a run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
out=${BENCH_OUT:-build/bench-results}
mkdir -p "$out"
count=${COUNT:-300000}
kind=${KIND:-quantity}
case $kind in
  quantity) fhir=bench/mappings/w1-quantity/fhirmapping.json ;;
  sampled) fhir=conformance/iomt-fhir/sample/templates/basic/fhirmapping.json ;;
  *) echo "split_store.sh: KIND is quantity or sampled" >&2; exit 2 ;;
esac
input="$out/w1-$count.ndjson"
[ -s "$input" ] || node bench/gen.js w1 "$count" 42 > "$input"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/iomt-split.XXXXXX")
trap 'rm -rf "$work"' EXIT
build/release/bench/split_store_bench conformance/iomt-fhir/sample/templates/basic/devicecontent.json "$fhir" \
  "$input" "$work/s" "${PARTS:-2}" "${BATCH:-10000}" "${ROUNDS:-3}" | tee "$out/split_store-$kind.json"
jq -rs '[.[] | select(.round)] | "split over one store, by round: \(map(.splitOverOne) | join(" ")); a pipeline a part (the ceiling): \(map(.pipelineAPartOverOne) | join(" "))"' \
  "$out/split_store-$kind.json"
