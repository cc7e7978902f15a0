#!/usr/bin/env bash
# FHIR conversion end to end: `iomt transform` reading normalized
# measurements (NDJSON), grouping them, resolving identities in Create mode
# and writing Observations into the in-memory FHIR store, then printing every
# resource (to /dev/null here). Seeded workloads from bench/gen.js, mapping
# bench/mappings/fhir/fhirmapping.json. Median of RUNS runs (wall clock; the
# machine is shared and noisy), peak RSS from /usr/bin/time when it exists.
#   Quantity:    QUANTITY_COUNT "heartrate" measurements over DEVICES devices
#                (one Observation each)
#   SampledData: DEVICES devices x SAMPLED_SECONDS readings, one a second
#                ("hrstream", hourly: one Observation per device and hour,
#                created by the first batch and merged by the next ones)
# Writes build/bench-results/transform.json too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
iomt=${IOMT:-build/bin/iomt}  # IOMT=path: another build, for a before/after comparison
out=${BENCH_OUT:-build/bench-results}
mkdir -p "$out"
runs=${RUNS:-3}
q_count=${QUANTITY_COUNT:-200000}
devices=${DEVICES:-100}
s_seconds=${SAMPLED_SECONDS:-3600}
mapping=bench/mappings/fhir/fhirmapping.json

quantity="$out/transform-quantity-$q_count-$devices.ndjson"
sampled="$out/transform-sampled-$devices-$s_seconds.ndjson"
[ -s "$quantity" ] || node bench/gen.js mq "$q_count" 42 "$devices" > "$quantity"
[ -s "$sampled" ] || node bench/gen.js ms "$s_seconds" 42 "$devices" > "$sampled"

have_time=0
[ -x /usr/bin/time ] && have_time=1

# One run: prints "seconds cpu_seconds max_rss_kb" (RSS 0 without /usr/bin/time).
run_once() {  # input
  local stats="$out/transform-stats.txt"
  if [ $have_time -eq 1 ]; then
    /usr/bin/time -o "$out/transform-time.txt" -f "%e %U %S %M" \
      "$iomt" transform --fhir-mapping "$mapping" --input "$1" --now 2023-01-01T00:00:00Z \
      --errors "$out/transform-errors.ndjson" > /dev/null 2> "$stats"
    awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$out/transform-time.txt"
  else
    local start end
    start=$(date +%s%N)
    "$iomt" transform --fhir-mapping "$mapping" --input "$1" --now 2023-01-01T00:00:00Z \
      --errors "$out/transform-errors.ndjson" > /dev/null 2> "$stats"
    end=$(date +%s%N)
    awk -v ns=$((end - start)) 'BEGIN{printf "%.3f 0 0\n", ns / 1e9}'
  fi
  if [ -s "$out/transform-errors.ndjson" ]; then
    echo "transform.sh: iomt transform wrote error records ($out/transform-errors.ndjson)" >&2
    exit 1
  fi
}

# Median of $runs runs: "seconds cpu_seconds max_rss_kb", the run of median wall time.
median_run() {  # input
  for _ in $(seq 1 "$runs"); do run_once "$1"; done | sort -n | awk '{a[NR]=$0} END{print a[int((NR+1)/2)]}'
}

json="["
report() {  # label input measurements
  local t cpu rss rate summary
  read -r t cpu rss < <(median_run "$2")
  rate=$(awk "BEGIN{printf \"%.0f\", $3 / $t}")
  # "N measurements, N groups, observations N created N updated N unchanged, ..."
  summary=$(grep -o 'observations [0-9]* created [0-9]* updated [0-9]* unchanged' "$out/transform-stats.txt" || true)
  if [ $have_time -eq 1 ]; then
    printf '  %-38s %9s measurements/s  (%s in %ss, CPU %ss; %s; max RSS %s MB)\n' "$1" "$rate" "$3" "$t" "$cpu" \
      "$summary" "$((rss / 1024))"
  else
    printf '  %-38s %9s measurements/s  (%s in %ss; %s; no /usr/bin/time: RSS not measured)\n' "$1" "$rate" "$3" "$t" \
      "$summary"
  fi
  [ "$json" = "[" ] || json+=","
  json+=$(printf '{"name":"%s","measurements":%s,"seconds":%s,"cpu_seconds":%s,"measurements_per_second":%s,"max_rss_kb":%s}' \
    "$1" "$3" "$t" "$cpu" "$rate" "$rss")
}

echo
echo "FHIR conversion end to end (iomt transform: NDJSON measurements -> Observations in the memory store -> stdout),"
echo "median of $runs runs, one core:"
report "Quantity, $q_count over $devices devices" "$quantity" "$q_count"
report "SampledData hourly, $devices devices x $s_seconds s" "$sampled" "$((devices * s_seconds))"
echo "$json]" > "$out/transform.json"
