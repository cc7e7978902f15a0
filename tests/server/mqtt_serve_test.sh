#!/usr/bin/env bash
# MQTT into `iomt serve`: devices publish (mosquitto_pub, MQTT v5 with user
# properties) to Debian's mosquitto broker, started here on a free port; a
# connector subscribed to a topic filter writes what they send. The topic
# and user properties become Properties (a repeated name keeps every value,
# as an array). Messages published while the service is stopped arrive
# after its restart (a persistent session, QoS 1).
# The store ends with what `iomt run` writes for the same messages.
#   IOMT=path/to/iomt mqtt_serve_test.sh   (from the checkout's root)
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
test_name=mqtt_serve_test
tmp=$(mktemp -d /tmp/iomt-mqtt-XXXXXX)
# shellcheck source=tests/server/lib.sh
. "$(dirname "$0")/lib.sh"

command -v mosquitto_pub > /dev/null || fail "mosquitto_pub is missing (./scripts/install-deps.sh installs mosquitto-clients)"
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
basic_dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
quantity_fm=bench/mappings/w1-quantity/fhirmapping.json
node bench/gen.js w1 700 9 > "$tmp/w1.ndjson"

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$port" > "$tmp/mosquitto.conf"
"$mosquitto" -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.log" 2>&1 &
pids+=("$!")
wait_for 10 "the broker" sh -c "mosquitto_pub -h 127.0.0.1 -p $port -t probe -m x 2> /dev/null"

publish() {  # TOPIC FILE [ARGS...]: one message a line, QoS 1, MQTT v5 with a user property (and ARGS)
  local topic=$1 file=$2
  shift 2
  mosquitto_pub -h 127.0.0.1 -p "$port" -V mqttv5 -q 1 -t "$topic" -D publish user-property site north "$@" -l < "$file"
}
serve_args=(--connector m --device-mapping $basic_dm --fhir-mapping $quantity_fm
  --mqtt-url "mqtt://127.0.0.1:$port" --mqtt-topic 'devices/+/telemetry')
start_serve s1 --store "$tmp/store" "${serve_args[@]}"
s1=$pid
wait_for 20 "/readyz 200 (subscribed)" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base/readyz)\" = 200 ]"

head -500 "$tmp/w1.ndjson" > "$tmp/first.ndjson"
publish devices/wearable-1/telemetry "$tmp/first.ndjson"
echo '{"heartrate":1,"deviceid":"x","patientid":"y","measurementdatetime":"2023-10-09T00:00:00Z"}' > "$tmp/other.ndjson"
publish elsewhere/wearable-1/telemetry "$tmp/other.ndjson"  # not under the filter
echo '{"unmatched":true}' > "$tmp/bad.ndjson"
# User properties may repeat a name: the event keeps every value, in order.
publish devices/wearable-2/telemetry "$tmp/bad.ndjson" -D publish user-property ward 3A \
  -D publish user-property ward 3B -D publish user-property ward 3C
wait_for 30 "501 events" sh -c "[ \"\$(curl -sf $base/connectors/m | jq .counters.events)\" = 501 ]"
[ "$(metric "$base" 'iomt_incoming_messages_total{connector="m",source="mqtt"}')" = 501 ] || fail "mqtt incoming metric"
curl -sf "$base/connectors/m/deadletters" > "$tmp/dl.json"
jq -e '.total == 1 and (.deadLetters[0].event.Properties | .site == "north" and ."mqtt-topic" == "devices/wearable-2/telemetry")' \
  "$tmp/dl.json" > /dev/null || fail "the dead letter lacks the topic or user property: $(cat "$tmp/dl.json")"
jq -e '.deadLetters[0].event.Properties.ward == ["3A", "3B", "3C"]' "$tmp/dl.json" > /dev/null ||
  fail "a repeated user property did not keep its values in order: $(jq -c '.deadLetters[0].event.Properties' "$tmp/dl.json")"
[ "$(metric "$base" 'iomt_incoming_messages_total{connector="m",source="http"}')" = 0 ] || fail "http incoming not at 0"
pass "MQTT: 500 messages under the filter written, the other topic not received, topic and user properties (a repeated one as an array) in the event"

# Published while the service is away: the broker keeps them for its session.
stop_serve $s1
tail -200 "$tmp/w1.ndjson" > "$tmp/away.ndjson"
publish devices/wearable-3/telemetry "$tmp/away.ndjson"
start_serve s2 --store "$tmp/store" "${serve_args[@]}"
s2=$pid
wait_for 30 "the 200 sent while away" sh -c "[ \"\$(curl -sf $base/connectors/m | jq .counters.events)\" = 200 ]"
stop_serve $s2
pass "messages published while the service was stopped arrive after its restart"

cat "$tmp/first.ndjson" "$tmp/away.ndjson" > "$tmp/all.ndjson"
"$iomt" run --device-mapping $basic_dm --fhir-mapping $quantity_fm --input "$tmp/all.ndjson" --store "$tmp/run" \
  > /dev/null 2>&1
diff <(observations "$tmp/store") <(observations "$tmp/run") > "$tmp/diff" ||
  fail "the store differs from iomt run: $(head -5 "$tmp/diff")"
pass "the store holds exactly what iomt run writes for the same 700 messages"
echo "mqtt_serve_test: all passed"
