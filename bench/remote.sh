#!/usr/bin/env bash
# `iomt run --fhir-url` end to end into a real FHIR server: Medplum's FHIR
# router over its in-memory repository (tests/fhir_server/server.js, the
# server of the remote client's tests, with --index-identifiers: see its
# header), on 127.0.0.1. W1 wearable messages (bench/gen.js w1, 10,000
# devices) with iomt-fhir's basic sample device mapping and
# bench/mappings/w1-quantity (one Observation per reading). Reports
# Observations/s and HTTP requests per Observation, from the server's own
# request counters, split into identity (Patient, Device) and Observation
# requests; then the rerun of the same input (everything found unchanged).
# Baseline in the same run: what the same server accepts when the same
# resources (`iomt normalize | iomt transform` of the input, into memory)
# are PUT to it directly in batch Bundles, as many per Bundle and in flight
# as iomt's remote client sends (bench/bundle_post.js), on a server of its
# own started empty; the ratio is iomt's Observations/s over that.
#   COUNT (default 100000) messages, BATCH (default 10000) events a batch.
#   REPS (default 1) rounds, each with servers of its own started empty: the
#   server's own rate moves from run to run (the direct baseline took
#   10.8-14.6 s for the same 100,000 in one hour), so the ratio is given
#   round by round and as the median.
# Writes build/bench-results/remote.json (remote-N.json for round N).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-1}
if [ "$reps" -gt 1 ]; then
  ratios=()
  for r in $(seq 1 "$reps"); do
    echo "== round $r of $reps"
    REPS=1 "$0"
    cp build/bench-results/remote.json "build/bench-results/remote-$r.json"
    ratios+=("$(jq -r .ratio_first_to_direct build/bench-results/remote.json)")
  done
  printf '%s\n' "${ratios[@]}" | sort -n | awk -v all="${ratios[*]}" '{a[NR] = $1}
    END {printf "iomt over direct, by round: %s; median %s\n", all, a[int((NR + 1) / 2)]}'
  exit 0
fi
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
iomt=${IOMT:-build/bin/iomt}  # IOMT=path: another build, for a before/after comparison
out=build/bench-results
mkdir -p "$out"
count=${COUNT:-100000}
batch=${BATCH:-10000}
device=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fhir=bench/mappings/w1-quantity/fhirmapping.json
input="$out/w1-$count.ndjson"
[ -s "$input" ] || node bench/gen.js w1 "$count" 42 > "$input"
./scripts/npm-install.sh tests/fhir_server

server=""
trap 'kill $server 2> /dev/null || true' EXIT
start_server() { # a new, empty server: sets server, base, origin
  node --max-old-space-size=12000 tests/fhir_server/server.js --max-page-size 1000 --index-identifiers \
    > "$out/remote-server.out" 2> "$out/remote-server.err" &
  server=$!
  for _ in $(seq 1 100); do
    grep -q '^listening on ' "$out/remote-server.out" 2> /dev/null && break
    sleep 0.1
  done
  base=$(sed -n 's/^listening on //p' "$out/remote-server.out")
  [ -n "$base" ] || { echo "remote.sh: the FHIR server did not start:" >&2; cat "$out/remote-server.err" >&2; exit 1; }
  origin=${base%/fhir/R4}
}

# ---- the baseline: the server alone, the same resources PUT in batch Bundles ----
"$iomt" normalize --device-mapping "$device" --input "$input" --errors /dev/null |
  "$iomt" transform --fhir-mapping "$fhir" --batch-size "$batch" --now 2023-10-10T00:00:00Z --errors /dev/null \
    > "$out/remote-direct.ndjson"
direct_obs=$(grep -c '"resourceType":"Observation"' "$out/remote-direct.ndjson" || true)
start_server
node bench/bundle_post.js "$base" "$out/remote-direct.ndjson" --batch 200 --concurrency 8 > "$out/remote-direct.json"
kill $server && wait $server 2> /dev/null || true
direct_s=$(jq -r .seconds "$out/remote-direct.json")
direct_rate=$(awk -v o="$direct_obs" -v s="$direct_s" 'BEGIN {printf "%d", o / s}')
[ "$(jq -r .failed "$out/remote-direct.json")" = 0 ] ||
  echo "remote.sh: the server refused $(jq -r .failed "$out/remote-direct.json") entries of the direct run" >&2
echo "direct $(jq -r .resources "$out/remote-direct.json") resources ($direct_obs Observations) in $direct_s s:" \
  "$direct_rate Observations/s, $(jq -r .per_s "$out/remote-direct.json") resources/s, $(jq -r .bundles "$out/remote-direct.json") batch Bundles"

start_server

# FHIR requests so far: all, identity (Patient, Device), Observation.
counts() {
  curl -s "$origin/__stats" | jq -r '[.requests,
    ([.by | to_entries[] | select(.key | test(" (Patient|Device)$")) | .value] | add // 0),
    ([.by | to_entries[] | select(.key | test(" (Observation|batch)$")) | .value] | add // 0)] | @tsv'
}

json="{\"direct\":{\"resources\":$(jq -r .resources "$out/remote-direct.json"),\"observations\":$direct_obs,"
json+="\"seconds\":$direct_s,\"observations_per_s\":$direct_rate},"
for pass in first rerun; do
  read -r r0 i0 o0 < <(counts)
  "$iomt" run --device-mapping "$device" --fhir-mapping "$fhir" --input "$input" --fhir-url "$base" \
    --batch-size "$batch" --now 2023-10-10T00:00:00Z --dead-letter "$out/remote-dead-$pass.ndjson" \
    > "$out/remote-summary-$pass.json"
  read -r r1 i1 o1 < <(counts)
  s=$(jq -r '.seconds' "$out/remote-summary-$pass.json")
  obs=$(jq -r '.observations.created + .observations.updated + .observations.unchanged' "$out/remote-summary-$pass.json")
  written=$(jq -r '.observations.created + .observations.updated' "$out/remote-summary-$pass.json")
  dead=$(jq -r '.dead_lettered // .deadLettered // 0' "$out/remote-summary-$pass.json")
  awk -v p=$pass -v n="$count" -v s="$s" -v o="$obs" -v w="$written" -v r=$((r1 - r0)) -v i=$((i1 - i0)) \
      -v ob=$((o1 - o0)) -v d="$dead" 'BEGIN {
    printf "%-6s %d msgs in %.2f s: %.0f msgs/s, %.0f Observations/s (%d, %d written), " \
           "%d HTTP requests = %.4f per Observation (identity %d = %.4f, Observations %d = %.4f); %s dead-lettered\n",
           p, n, s, n/s, o/s, o, w, r, r/o, i, i/o, ob, ob/o, d }'
  json+="\"$pass\":{\"messages\":$count,\"seconds\":$s,\"observations\":$obs,\"written\":$written,"
  json+="\"requests\":$((r1 - r0)),\"identity_requests\":$((i1 - i0)),\"observation_requests\":$((o1 - o0)),"
  json+="\"observations_per_s\":$(awk -v o="$obs" -v s="$s" 'BEGIN {printf "%d", o / s}'),"
  json+="\"requests_per_observation\":$(awk -v r=$((r1 - r0)) -v o="$obs" 'BEGIN {printf "%.4f", r / o}')},"
done
first_rate=$(jq -r .first.observations_per_s <<< "${json%,}}")
echo "iomt's first pass over the direct baseline: $(awk -v a="$first_rate" -v b="$direct_rate" 'BEGIN {printf "%.2f", a / b}')"
json+="\"ratio_first_to_direct\":$(awk -v a="$first_rate" -v b="$direct_rate" 'BEGIN {printf "%.3f", a / b}'),"
echo "${json%,}}" > "$out/remote.json"
