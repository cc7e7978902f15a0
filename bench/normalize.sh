#!/usr/bin/env bash
# Normalization end to end: `iomt normalize` reading NDJSON, normalizing and
# writing NDJSON, on seeded workloads (bench/gen.js), with jq doing the same
# mapping as the baseline in the same run. Best of N runs (the machine is
# shared and noisy); user CPU time, one core.
#   W1: flat wearable messages (~130 B), iomt-fhir's sample/templates/basic (6 JsonPathContent)
#   W2: IoT Hub envelopes (~700 B, six vitals), IotJsonPathContent templates; with 6, 25 and 100 templates
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
iomt=${IOMT:-build/bin/iomt}  # IOMT=path: another build, for a before/after comparison
out=${BENCH_OUT:-build/bench-results}
mkdir -p "$out"
runs=${RUNS:-5}
w1_count=${W1_COUNT:-1000000}
w2_count=${W2_COUNT:-300000}
jq_count=${JQ_COUNT:-100000}

[ -f "$out/w1.ndjson" ] && [ "$(wc -l < "$out/w1.ndjson")" = "$w1_count" ] || node bench/gen.js w1 "$w1_count" > "$out/w1.ndjson"
[ -f "$out/w2.ndjson" ] && [ "$(wc -l < "$out/w2.ndjson")" = "$w2_count" ] || node bench/gen.js w2 "$w2_count" > "$out/w2.ndjson"
head -n "$jq_count" "$out/w1.ndjson" > "$out/w1-jq.ndjson"
for n in 6 25 100; do node bench/gen.js mapping "$n" > "$out/w2-mapping-$n.json"; done
basic=conformance/iomt-fhir/sample/templates/basic/devicecontent.json

# best user-CPU seconds and max RSS (KB) of a command, over $runs runs
best() {
  local best_t=999999 best_m=0
  for _ in $(seq 1 "$runs"); do
    /usr/bin/time -o "$out/time.txt" -f "%U %M" "$@" > /dev/null 2> /dev/null || true
    local r t m
    r=$(tail -n 1 "$out/time.txt")
    t=${r% *}
    m=${r#* }
    if awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
    if [ "$m" -gt "$best_m" ]; then best_m=$m; fi
  done
  echo "$best_t $best_m"
}
rate() { awk "BEGIN{printf \"%.0f\", $1 / $2}"; }

read -r t1 m1 < <(best "$iomt" normalize --device-mapping "$basic" --input "$out/w1.ndjson" --errors /dev/null)
read -r tj _ < <(RUNS=1 best jq -c -f bench/w1.jq "$out/w1-jq.ndjson")
w1_rate=$(rate "$w1_count" "$t1")
jq_rate=$(rate "$jq_count" "$tj")
echo
echo "Normalization end to end (iomt normalize: read NDJSON, normalize, write NDJSON), best of $runs, one core:"
printf '  W1 flat wearable, 6 templates:   %9s msgs/s  (%s messages in %ss, max RSS %s MB)\n' "$w1_rate" "$w1_count" "$t1" "$((m1 / 1024))"
printf '  jq, the same mapping:            %9s msgs/s  -> iomt is x%s\n' "$jq_rate" "$(awk "BEGIN{printf \"%.0f\", $w1_rate / $jq_rate}")"
for n in 6 25 100; do
  read -r t m < <(best "$iomt" normalize --device-mapping "$out/w2-mapping-$n.json" --input "$out/w2.ndjson" --errors /dev/null)
  printf '  W2 IoT Hub, %3s templates:       %9s msgs/s  (%s measurements/s, max RSS %s MB)\n' "$n" "$(rate "$w2_count" "$t")" \
    "$(rate $((w2_count * 6)) "$t")" "$((m / 1024))"
done
# Memory stays flat whatever the input size: a tenth of W1 against all of it.
head -n $((w1_count / 10)) "$out/w1.ndjson" > "$out/w1-tenth.ndjson"
read -r _ m10 < <(RUNS=1 best "$iomt" normalize --device-mapping "$basic" --input "$out/w1-tenth.ndjson" --errors /dev/null)
printf '  max RSS on %s vs %s W1 messages: %s MB vs %s MB\n' "$((w1_count / 10))" "$w1_count" "$((m10 / 1024))" "$((m1 / 1024))"
