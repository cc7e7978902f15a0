#!/usr/bin/env bash
# `iomt serve` through an outage of its FHIR service (a second iomt serve's
# /fhir, SIGKILLed and started again on the same port and store): the
# connector holds its queue instead of dead-lettering, says so once
# (/readyz, its status, one Setup-stage error), keeps accepting until its
# queue is full (then 429), and by itself writes everything once the service
# is back — exactly the Observations of a clean `iomt run` of what was
# accepted, and no dead letter.
#   IOMT=path/to/iomt outage_test.sh   (from the checkout's root)
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
test_name=outage_test
tmp=$(mktemp -d /tmp/iomt-outage-XXXXXX)
# shellcheck source=tests/server/lib.sh
. "$(dirname "$0")/lib.sh"

device=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fhir=bench/mappings/w1-quantity/fhirmapping.json
node bench/gen.js w1 3000 31 > "$tmp/w1.ndjson"
split -l 100 -d -a 3 "$tmp/w1.ndjson" "$tmp/chunk-"
: > "$tmp/accepted.ndjson"

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
start_fhir() {  # the FHIR service: an iomt serve with no connector, always on $port
  "$iomt" serve --listen "127.0.0.1:$port" --store "$tmp/fhir" > "$tmp/fhir.out" 2> "$tmp/fhir.err" &
  fhir_pid=$!
  pids+=("$fhir_pid")
  wait_for 30 "the FHIR service listens" grep -q '^listening on ' "$tmp/fhir.out"
}
send() {  # send CHUNK...: posts each; appends the accepted ones to accepted.ndjson; prints the statuses
  for c in "$@"; do
    code=$(post "$base" w1 "$c")
    [ "$code" = 202 ] && cat "$c" >> "$tmp/accepted.ndjson"
    printf '%s ' "$code"
  done
}
ready_code() { curl -s -o "$tmp/ready.json" -w '%{http_code}' "$base/readyz"; }
has_events() { [ "$(counter "$base" w1 events)" = "$1" ]; }
accepted() { grep -c . "$tmp/accepted.ndjson"; }

start_fhir
start_serve s --store "$tmp/s" --connector w1 --device-mapping "$device" --fhir-mapping "$fhir" \
  --fhir-url "http://127.0.0.1:$port/fhir" --queue-max-events 1000
wait_for 20 "/readyz 200" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base/readyz)\" = 200 ]"

# ---- 1. Up: written as it comes -----------------------------------------------
codes=$(send "$tmp"/chunk-00{0..4})
[ "$codes" = "202 202 202 202 202 " ] || fail "before the outage: $codes"
wait_for 30 "500 events written" has_events 500
pass "before the outage: 500 events written"

# ---- 2. The FHIR service goes away: held, not dead-lettered -------------------
kill -9 "$fhir_pid"
wait "$fhir_pid" 2> /dev/null || true
codes=$(send "$tmp"/chunk-00{5..9})
[ "$codes" = "202 202 202 202 202 " ] || fail "ingestion during the outage: $codes"
wait_for 60 "/readyz 503 naming the hold" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base/readyz)\" = 503 ]"
ready_code > /dev/null
jq -e '.connectors.w1.problem | contains("holds its queue")' "$tmp/ready.json" > /dev/null ||
  fail "/readyz does not say why: $(cat "$tmp/ready.json")"
curl -sf "$base/connectors/w1" > "$tmp/status.json"
jq -e '.held == true and .counters.deadLettered == 0' "$tmp/status.json" > /dev/null ||
  fail "the status does not show the hold: $(cat "$tmp/status.json")"
sleep 3  # several retries
[ "$(metric_sum "$base" iomt_errors_total connector=w1 Operation=Setup)" = 1 ] ||
  fail "the outage is not reported once, at Setup: $(grep '^iomt_errors_total{' "$tmp/metrics.txt" | grep -v ' 0$')"
[ "$(metric_sum "$base" iomt_errors_total connector=w1 Operation=FHIRConversion)" = 0 ] ||
  fail "the outage was reported per event"
[ "$(metric_sum "$base" iomt_retries_total connector=w1 reason=batch)" -ge 1 ] || fail "no batch retries counted"
[ "$(grep -c ' error connector problem connector=w1 stage=Setup error=[A-Za-z]* reason=".*holds its queue' "$tmp/s.err")" = 1 ] ||
  fail "the outage is not logged once, with its reason: $(grep -c . "$tmp/s.err") lines: $(tail -3 "$tmp/s.err")"
! grep -q 'identifier=' "$tmp/s.err" || fail "a search's identifiers in the log: $(grep 'identifier=' "$tmp/s.err")"
pass "during the outage: held (/readyz 503, status held), one Setup-stage error (one log line), no dead letter"

# Ingestion goes on until the queue is full, then pushes back.
codes=$(send "$tmp"/chunk-0{10..24})
[[ "$codes" == *429* ]] || fail "no 429 with the queue full: $codes"
[ "$(grep -c . "$tmp/accepted.ndjson")" -le 2000 ] || fail "more accepted than the queue holds"
pass "a full queue answers 429 ($codes)"

# ---- 3. Back: everything accepted is written, nothing dead-lettered -----------
start_fhir
wait_for 120 "every accepted event written" has_events "$(accepted)"
wait_for 20 "/readyz 200 after the outage" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base/readyz)\" = 200 ]"
[ "$(counter "$base" w1 deadLettered)" = 0 ] || fail "events were dead-lettered for the outage"
grep -q ' info connector resumed.* connector=w1$' "$tmp/s.err" || fail "the end of the outage is not logged"
codes=$(send "$tmp"/chunk-0{25..29})
[ "$codes" = "202 202 202 202 202 " ] || fail "after the outage: $codes"
wait_for 60 "the rest written" has_events "$(accepted)"
stop_serve "$pid"
kill -TERM "$fhir_pid"
wait "$fhir_pid" || fail "the FHIR service did not stop cleanly"

"$iomt" run --device-mapping "$device" --fhir-mapping "$fhir" --input "$tmp/accepted.ndjson" --store "$tmp/clean" \
  --dead-letter "$tmp/clean-dead.ndjson" > /dev/null
diff <(observations "$tmp/fhir") <(observations "$tmp/clean") > "$tmp/diff.txt" ||
  fail "the Observations differ from a clean iomt run: $(head -5 "$tmp/diff.txt")"
pass "after the outage: $(grep -c . "$tmp/accepted.ndjson") accepted events, the Observations of a clean iomt run, no dead letter"
