#!/usr/bin/env bash
# `iomt serve` under load, W1 messages (bench/gen.js) through iomt-fhir's
# basic device mapping and a Quantity-per-reading FHIR mapping (one
# Observation per message), into the embedded store (durable):
#   1. HTTP throughput: NDJSON bodies of ~1 MB over 4 keep-alive connections;
#      messages/s accepted (202, durably queued) and written (end to end).
#      Baseline in the same run: `iomt run` over the same file.
#   2. Latency at 50 % of the measured end-to-end rate: probes timed from
#      their POST until readable through /fhir (client side), and the
#      server's own end-to-end histogram.
#   3. Kafka (librdkafka's mock cluster): one and two processes in one
#      consumer group, each into its own embedded store (how consuming and
#      writing grow with processes), then one and two into a shared FHIR
#      server (a third iomt serve's /fhir, on the same two cores).
# Usage: COUNT=1000000 KAFKA_COUNT=300000 bench/serve.sh   (after make build;
# KAFKA_ONLY=1 for part 3 alone)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
iomt=${IOMT:-build/bin/iomt}  # IOMT=path: another build, for a before/after comparison
mock=build/release/tests/kafka_mock_cluster
produce=build/release/tests/kafka_produce
count=${COUNT:-1000000}
kafka_count=${KAFKA_COUNT:-300000}
tmp=$(mktemp -d /tmp/iomt-bench-serve-XXXXXX)
test_name=bench/serve.sh
# shellcheck source=tests/server/lib.sh
. tests/server/lib.sh
[ -x "$mock" ] && [ -x "$produce" ] || cmake --build --preset release --target kafka_mock_cluster kafka_produce > /dev/null

dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fm=bench/mappings/w1-quantity/fhirmapping.json
node bench/gen.js w1 "$count" 1 > "$tmp/w1.ndjson"
echo "== $count W1 messages, $(nproc) cores, $(git rev-parse --short HEAD)"

if [ -z "${KAFKA_ONLY:-}" ]; then
# ---- baseline: iomt run over the same file -------------------------------
start=$(date +%s.%N)
"$iomt" run --device-mapping $dm --fhir-mapping $fm --input "$tmp/w1.ndjson" --store "$tmp/run" \
  --dead-letter "$tmp/run-dl.ndjson" > "$tmp/run.json"
run_rate=$(awk -v n="$count" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%d", n / (e - s) }')
echo "iomt run (baseline):           $run_rate msgs/s"
rm -rf "$tmp/run"

# ---- 1. HTTP throughput ---------------------------------------------------
start_serve http --store "$tmp/http" --connector w1 --device-mapping $dm --fhir-mapping $fm
http_pid=$pid
node bench/serve_load.js throughput "$base" w1 "$tmp/w1.ndjson" 4 1000000 > "$tmp/http.json"
accept=$(jq .acceptPerSecond "$tmp/http.json")
done_rate=$(jq .donePerSecond "$tmp/http.json")
echo "HTTP accepted (202, durable):  $accept msgs/s ($(jq .retries "$tmp/http.json") bodies sent again after 429)"
echo "HTTP end to end (written):     $done_rate msgs/s  (x$(awk -v a="$done_rate" -v b="$run_rate" 'BEGIN { printf "%.2f", a / b }') of iomt run)"
curl -sf "$base/metrics" > "$tmp/metrics-http.txt"
stop_serve $http_pid

# ---- 2. Latency at 50 % of the end-to-end maximum ------------------------
rate=$((done_rate / 2))
start_serve lat --store "$tmp/lat" --connector w1 --device-mapping $dm --fhir-mapping $fm
lat_pid=$pid
node bench/serve_load.js latency "$base" w1 "$tmp/w1.ndjson" "$rate" "${LATENCY_SECONDS:-20}" > "$tmp/lat.json"
curl -sf "$base/metrics" > "$tmp/metrics-lat.txt"
stop_serve $lat_pid
echo "latency at $rate msgs/s (probes, POST -> readable via /fhir): $(jq -c '{probes,p50Ms,p90Ms,p99Ms,maxMs}' "$tmp/lat.json")"
# The server's histogram: the share of events written within 50/100/250 ms.
awk '/^iomt_end_to_end_latency_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); v[le] = $NF }
  /^iomt_end_to_end_latency_seconds_count/ { n = $NF }
  END { printf "server histogram, ingestion -> committed: <=50ms %.1f%%, <=100ms %.1f%%, <=250ms %.1f%% of %d events\n",
        100 * v["0.05"] / n, 100 * v["0.1"] / n, 100 * v["0.25"] / n, n }' "$tmp/metrics-lat.txt"

fi

# ---- 3. Kafka ---------------------------------------------------------------
head -"$kafka_count" "$tmp/w1.ndjson" > "$tmp/k.ndjson"
mkfifo "$tmp/mock.in"
# 12 partitions: the mock cluster keeps about 5 MB a partition (older messages
# are dropped), so the backlog is spread to stay under that.
"$mock" --brokers 1 --topic w1:12 --topic w1b:12 --topic w1c:12 --topic w1d:12 < "$tmp/mock.in" > "$tmp/mock.out" 2> "$tmp/mock.err" &
pids+=("$!")
exec 9> "$tmp/mock.in"
wait_for 20 "the mock cluster" grep -q '^bootstrap ' "$tmp/mock.out"
brokers=$(sed -n 's/^bootstrap //p' "$tmp/mock.out")
# Each run its own messages (the shared FHIR server would otherwise see the
# second run's as already written).
node bench/gen.js w1 "$kafka_count" 2 > "$tmp/kb.ndjson"
node bench/gen.js w1 "$kafka_count" 3 > "$tmp/kc.ndjson"
node bench/gen.js w1 "$kafka_count" 4 > "$tmp/kd.ndjson"
"$produce" --brokers "$brokers" --topic w1 --key-member deviceid < "$tmp/k.ndjson" > /dev/null
"$produce" --brokers "$brokers" --topic w1b --key-member deviceid < "$tmp/kb.ndjson" > /dev/null
"$produce" --brokers "$brokers" --topic w1c --key-member deviceid < "$tmp/kc.ndjson" > /dev/null
"$produce" --brokers "$brokers" --topic w1d --key-member deviceid < "$tmp/kd.ndjson" > /dev/null

# kafka_run TOPIC FHIR_URL N: N processes in one group on TOPIC; prints msgs/s
# from the first message written to the last (a new group's first join takes
# the mock cluster 3 s, which is not the pipeline's time).
kafka_run() {
  local topic=$1 fhir_url=$2 n=$3 bases=() procs=()
  local start="" first=0 end total
  for i in $(seq 1 "$n"); do
    local dest=()
    [ -n "$fhir_url" ] && dest=(--fhir-url "$fhir_url")
    # A short session: when the second process joins, librdkafka's mock
    # cluster now and then (1 join in 8 here) waits for a member that never
    # comes back until its session times out — 45 s by default, which would
    # be most of what a run measures (it is not the pipeline's time).
    start_serve "k-$topic-$i" --store "$tmp/k-$topic-$i" --connector k --device-mapping $dm --fhir-mapping $fm \
      "${dest[@]}" --kafka-brokers "$brokers" --kafka-topic "$topic" --kafka-group "g-$topic" \
      --kafka-property session.timeout.ms=6000 --kafka-property heartbeat.interval.ms=500
    bases+=("$base")
    procs+=("$pid")
  done
  while :; do
    total=0
    for b in "${bases[@]}"; do total=$((total + $(counter "$b" k events))); done
    if [ -z "$start" ] && [ "$total" -gt 0 ]; then
      start=$(date +%s.%N)
      first=$total
    fi
    [ "$total" -ge "$kafka_count" ] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  for p in "${procs[@]}"; do stop_serve "$p"; done
  awk -v n="$((kafka_count - first))" -v s="$start" -v e="$end" 'BEGIN { printf "%d", n / (e - s) }'
}
k1=$(kafka_run w1 "" 1)
echo "Kafka, 1 process, embedded store:            $k1 msgs/s ($kafka_count messages, 12 partitions)"
k4=$(kafka_run w1d "" 2)
echo "Kafka, 2 processes, an embedded store each:   $k4 msgs/s  (x$(awk -v a="$k4" -v b="$k1" 'BEGIN { printf "%.2f", a / b }') of one process)"
start_serve fhir --store "$tmp/fhir"
fhir_pid=$pid
k2=$(kafka_run w1b "$base/fhir" 1)
echo "Kafka, 1 process -> shared iomt /fhir:        $k2 msgs/s"
k3=$(kafka_run w1c "$base/fhir" 2)
echo "Kafka, 2 processes (one group) -> same /fhir: $k3 msgs/s  (x$(awk -v a="$k3" -v b="$k2" 'BEGIN { printf "%.2f", a / b }') of one process)"
stop_serve $fhir_pid
