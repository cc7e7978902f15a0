#!/usr/bin/env bash
# Scale-out on Kafka: two `iomt serve` processes in one consumer group on a
# 4-partition topic (librdkafka's mock cluster, real TCP) share the
# partitions and write into one FHIR server (a third `iomt serve`, its /fhir).
# One is killed with SIGKILL mid-stream; the survivor takes its partitions
# over from the last committed offsets. The FHIR server ends with exactly
# the Observations that one `iomt run` over the same events writes. Also:
# Kafka headers become Properties, the broker timestamp the enqueued time,
# and a dead letter names its partition and offset.
#   IOMT=... KAFKA_MOCK=.../kafka_mock_cluster KAFKA_PRODUCE=.../kafka_produce kafka_serve_test.sh
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
mock=${KAFKA_MOCK:?KAFKA_MOCK=path to kafka_mock_cluster}
produce=${KAFKA_PRODUCE:?KAFKA_PRODUCE=path to kafka_produce}
test_name=kafka_serve_test
tmp=$(mktemp -d /tmp/iomt-kafka-XXXXXX)
# shellcheck source=tests/server/lib.sh
. "$(dirname "$0")/lib.sh"

basic_dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
quantity_fm=bench/mappings/w1-quantity/fhirmapping.json
node bench/gen.js w1 6000 5 > "$tmp/w1.ndjson"

# The broker: stdin from a pipe that closes when this script ends.
mkfifo "$tmp/mock.in"
"$mock" --brokers 1 --topic devices:4 --topic other:1 < "$tmp/mock.in" > "$tmp/mock.out" 2> "$tmp/mock.err" &
pids+=("$!")
exec 9> "$tmp/mock.in"
wait_for 20 "the mock cluster" grep -q '^bootstrap ' "$tmp/mock.out"
brokers=$(sed -n 's/^bootstrap //p' "$tmp/mock.out")

# The shared FHIR server: an iomt serve with no connectors.
start_serve fhir --store "$tmp/fhir"
fhir_pid=$pid
fhir=$base/fhir

kafka_flags=(--kafka-brokers "$brokers" --kafka-topic devices --kafka-group iomt
  --kafka-property session.timeout.ms=6000 --kafka-property heartbeat.interval.ms=500
  --kafka-property topic.metadata.refresh.interval.ms=1000)
start_serve a --store "$tmp/a" --connector k --device-mapping $basic_dm --fhir-mapping $quantity_fm \
  --fhir-url "$fhir" "${kafka_flags[@]}"
a_pid=$pid a_base=$base
start_serve b --store "$tmp/b" --connector k --device-mapping $basic_dm --fhir-mapping $quantity_fm \
  --fhir-url "$fhir" "${kafka_flags[@]}"
b_pid=$pid b_base=$base

# The first 3000 events, keyed by device (one device, one partition).
head -3000 "$tmp/w1.ndjson" | "$produce" --brokers "$brokers" --topic devices --key-member deviceid > /dev/null
events() { curl -sf "$1/connectors/k" | jq .counters.events; }
wait_for 60 "both processes consumed (shared partitions)" sh -c \
  "[ \$(curl -sf $a_base/connectors/k | jq .counters.events) -gt 0 ] && [ \$(curl -sf $b_base/connectors/k | jq .counters.events) -gt 0 ]"
wait_for 60 "the first 3000 consumed" sh -c \
  "[ \$(( \$(curl -sf $a_base/connectors/k | jq .counters.events) + \$(curl -sf $b_base/connectors/k | jq .counters.events) )) -ge 3000 ]"
partitions() { curl -sf "$1/connectors/k" | jq -c .sources.kafka.partitions; }
# Each holds some, together all four (a member's status shows what it held at
# its last read).
shared() {
  [ "$(jq -nc --argjson a "$(partitions "$a_base")" --argjson b "$(partitions "$b_base")" \
    'if ($a | length) > 0 and ($b | length) > 0 then $a + $b | sort else null end')" = '[0,1,2,3]' ]
}
wait_for 30 "the status names the partitions each holds" shared
pass "two processes in one group share the partitions (a: $(events "$a_base") events, $(partitions "$a_base"); b: $(events "$b_base"), $(partitions "$b_base"))"

# The rest arrives while one of them is killed.
(tail -n +3001 "$tmp/w1.ndjson" | split -l 300 - "$tmp/rest-"
  for f in "$tmp"/rest-*; do
    "$produce" --brokers "$brokers" --topic devices --key-member deviceid < "$f" > /dev/null
    sleep 0.2
  done) &
producer=$!
sleep 0.5
kill -9 $a_pid
wait $producer
# The group gives the dead member's partitions to the survivor once its
# session times out (6 s). (Whether the survivor's event count grew after the
# producer ended says nothing: a slow producer may finish after the takeover.)
holds_all() { [ "$(partitions "$b_base")" = '[0,1,2,3]' ]; }
wait_for 60 "the survivor to hold every partition" holds_all
# Everything is written once the survivor has taken the partitions over.
"$iomt" run --device-mapping $basic_dm --fhir-mapping $quantity_fm --input "$tmp/w1.ndjson" --store "$tmp/run" \
  > /dev/null 2>&1
expected=$("$iomt" store --store "$tmp/run" export Observation | wc -l)
wait_for 90 "$expected Observations in the FHIR server" sh -c \
  "[ \"\$(curl -sf '$fhir/Observation?_count=1' | jq .total)\" = $expected ]"
pass "SIGKILL of one process: the survivor took its partitions over ($(events "$b_base") events in all)"

# Headers, timestamp, partition and offset reach the event and the record.
echo '{"unknown":"shape"}' | "$produce" --brokers "$brokers" --topic devices --header site=north > /dev/null
wait_for 30 "a dead letter" sh -c "[ \"\$(curl -sf $b_base/connectors/k/deadletters | jq .total)\" = 1 ]"
curl -sf "$b_base/connectors/k/deadletters" > "$tmp/dl.json"
jq -e '.deadLetters[0] | .event.Properties.site == "north" and (.event.SystemProperties["x-opt-enqueued-time"] | test("Z$"))
  and (.input.partition | length > 0) and .input.offset >= 0' "$tmp/dl.json" > /dev/null ||
  fail "the Kafka dead letter lacks properties, enqueued time or location: $(cat "$tmp/dl.json")"
pass "Kafka headers are Properties, the broker timestamp the enqueued time; dead letters name partition and offset"

stop_serve $b_pid
stop_serve $fhir_pid
diff <(observations "$tmp/fhir") <(observations "$tmp/run") > "$tmp/diff" ||
  fail "the FHIR server differs from iomt run: $(head -5 "$tmp/diff")"
pass "the FHIR server holds exactly the $expected Observations of one iomt run"
echo "kafka_serve_test: all passed"
