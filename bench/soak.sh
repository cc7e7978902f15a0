#!/usr/bin/env bash
# Soak and fault campaign for `iomt serve` (docs/reliability.md; not run in CI
# at this length: tests/server/soak_short_test.sh runs a two-minute version).
#
# The service under test: one `iomt serve`, connector w1, HTTP and Kafka (a
# topic of librdkafka's mock cluster, a producer writing at a steady rate),
# writing to its FHIR service: a second `iomt serve` (no connectors) whose
# /fhir it reaches through --fhir-url. Under steady load (LOAD of the measured
# maximum, or RATE), while:
#   - the FHIR service is SIGKILLed at OUTAGE_AT for OUTAGE_SECONDS, then
#     started again on the same port and store (the connector holds);
#   - the service under test is SIGKILLed and started again (same store, same
#     port) at KILL_AT (default: every KILL_EVERY seconds);
#   - a second `iomt serve` joins the Kafka consumer group at KAFKA_JOIN_AT
#     and leaves it (SIGTERM) at KAFKA_LEAVE_AT, writing to the same FHIR
#     service.
# The load generator (bench/soak_load.js) records every message answered 202;
# the producer's feed every line it handed to kafka_produce (which confirms
# each delivery). A few messages that no template matches (INVALID_EVERY) are
# mixed in. At the end (load stopped, everything drained) it checks that the
# FHIR service holds exactly the Observations, Patients and Devices of a clean
# `iomt run` of all of it (0 lost, 0 extra or duplicated, none different),
# and that the dead letters are exactly the invalid messages. It samples the
# service's RSS and open files (/proc) every SAMPLE_SECONDS across restarts,
# judges them flat per run segment (the median RSS of the last third within
# FLAT_PCT % + FLAT_KB of the first third; open files within FD_MARGIN), and
# plots them (gnuplot, from scripts/install-deps.sh bench) with the kills,
# the outage and the Kafka join/leave marked.
#
# Usage (after make build; the pinned Node.js: scripts/npm-install.sh tools/node):
#   bench/soak.sh                          # 30 minutes at 50 % of the measured maximum
#   DURATION=120 RATE=200 KAFKA_RATE=50 KILL_AT=80 OUTAGE_AT=20 ... bench/soak.sh
# Every duration and rate is an environment variable (below). Results go to
# OUT (default: a new /tmp/iomt-soak-report-* directory): summary.txt,
# summary.json, samples.csv, events.csv, http.seconds.csv, soak.png. Exit 0
# when every check passed, 1 otherwise (the summary says which failed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
iomt=${IOMT:-build/bin/iomt}
mock=${KAFKA_MOCK:-build/release/tests/kafka_mock_cluster}
produce=${KAFKA_PRODUCE:-build/release/tests/kafka_produce}

duration=${DURATION:-1800}                 # seconds of load
load=${LOAD:-0.5}                          # of the measured maximum (when RATE is not given)
kafka_share=${KAFKA_SHARE:-0.2}            # of that load through Kafka, the rest over HTTP
rate=${RATE:-}                             # HTTP messages/s (empty: measured)
kafka_rate=${KAFKA_RATE:-}                 # Kafka messages/s (empty: measured)
measure_count=${MEASURE_COUNT:-200000}     # messages of the short throughput run that measures the maximum
kill_every=${KILL_EVERY:-300}              # SIGKILL + restart of the service every N s (when KILL_AT is not given)
kill_at=${KILL_AT-}                        # the times of the kills, e.g. "300 600" (default: from KILL_EVERY)
if [ -z "${KILL_AT+x}" ] && [ "$kill_every" -gt 0 ]; then kill_at=$(seq -s ' ' "$kill_every" "$kill_every" "$((duration - 1))"); fi
outage_at=${OUTAGE_AT:-720}                # the FHIR service goes away (0 or empty: never)
outage_seconds=${OUTAGE_SECONDS:-120}      # for this long
join_at=${KAFKA_JOIN_AT:-1020}             # a second consumer joins the group (empty: never)
leave_at=${KAFKA_LEAVE_AT:-1380}           # and leaves it (SIGTERM)
partitions=${KAFKA_PARTITIONS:-12}
invalid_every=${INVALID_EVERY:-600}        # an invalid message every N HTTP bodies / N producer ticks (0: none)
sample_seconds=${SAMPLE_SECONDS:-2}        # RSS and fd sampling period
restart_delay=${RESTART_DELAY:-1}          # a process that exits at start is started again after this long
restart_tries=${RESTART_TRIES:-600}        # this many times
drain_timeout=${DRAIN_TIMEOUT:-900}        # after the load: at most this long for everything to be written
flat_pct=${FLAT_PCT:-10}                   # flat: last-third median RSS <= first-third median * (1 + FLAT_PCT/100) + FLAT_KB
flat_kb=${FLAT_KB:-16384}
fd_margin=${FD_MARGIN:-8}                  # flat: last-third max fds <= first-third max + FD_MARGIN
min_judged=${FLAT_MIN_SECONDS:-30}         # segments shorter than this are listed, not judged
judge_flat=${JUDGE_FLAT:-1}               # 0: RSS and open files are reported, not judged (short runs, sanitizer builds)
plot=${PLOT:-auto}                         # auto: soak.png when gnuplot is there; none: no plot
out=${OUT:-$(mktemp -d /tmp/iomt-soak-report-XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d /tmp/iomt-soak-XXXXXX)
test_name=bench/soak.sh
# shellcheck source=tests/server/lib.sh
. tests/server/lib.sh
[ -x "$iomt" ] || { echo "soak: no $iomt (make build, or IOMT=...)" >&2; exit 2; }
if [ ! -x "$mock" ] || [ ! -x "$produce" ]; then
  cmake --build --preset release --target kafka_mock_cluster kafka_produce > /dev/null
fi

dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fm=bench/mappings/w1-quantity/fhirmapping.json
now() { date +%s.%N; }
rel() { awk -v t0="$t0" -v t="$(now)" 'BEGIN { printf "%.1f", t - t0 }'; }
log_event() { # log_event EVENT DETAIL: a row of events.csv (DETAIL without commas), and a line on stdout
  local t
  local detail=${2:-}
  t=$(rel)
  echo "$t,$1,${detail//,/;}" >> "$out/events.csv"
  echo "[$t s] $1 ${2:-}"
}
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
ready_code() { curl -s -m 2 -o /dev/null -w '%{http_code}' "$1/readyz" || true; }
queue_of() { curl -s -m 2 "$1/connectors/w1" | jq -r '.queue.events // empty' 2> /dev/null || true; }
obs_total() { curl -s -m 30 "$fhir_base/fhir/Observation?_count=1" | jq -r '.total // empty' 2> /dev/null || true; }

# ---- the FHIR service, the broker, the service under test ----------------------
# launch NAME ARGS...: `iomt serve ARGS` (ARGS has its --listen); when it exits
# at start (e.g. its FHIR service is away: serve checks it at start), started
# again after RESTART_DELAY seconds, as a supervisor would, up to RESTART_TRIES
# times. Sets $pid, $base and $attempts; logs the first failure.
launches=0
launch() {
  local name=$1 o e
  shift
  attempts=0
  while :; do
    attempts=$((attempts + 1))
    launches=$((launches + 1))
    o=$tmp/$name-$launches.out e=$tmp/$name-$launches.err
    "$iomt" serve "$@" > "$o" 2> "$e" < /dev/null &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 1200); do
      if grep -q '^listening on ' "$o" 2> /dev/null; then
        base=$(sed -n 's/^listening on //p' "$o")
        return 0
      fi
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.05
    done
    kill -0 "$pid" 2> /dev/null && fail "iomt serve ($name) did not listen within 60 s"
    wait "$pid" 2> /dev/null || true
    [ $attempts -gt 1 ] || log_event start-failed "$name: $(tail -1 "$e" | cut -c1-160 | tr ',' ';')"
    [ $attempts -lt "$restart_tries" ] || fail "iomt serve ($name) could not start in $attempts attempts"
    sleep "$restart_delay"
  done
}
fhir_port=$(free_port)
fhir_base=http://127.0.0.1:$fhir_port
start_fhir() { # the FHIR service: an iomt serve with no connector, always on $fhir_port with store $tmp/fhir
  launch fhir --listen "127.0.0.1:$fhir_port" --store "$tmp/fhir"
  fhir_pid=$pid
  echo "$fhir_pid" > "$tmp/fhir.pid"
}
main_port=$(free_port)
main_base=http://127.0.0.1:$main_port
start_main() { # the service under test, always on $main_port with store $tmp/s
  launch main --listen "127.0.0.1:$main_port" --store "$tmp/s" --connector w1 --device-mapping $dm \
    --fhir-mapping $fm --fhir-url "$fhir_base/fhir" "${kafka_flags[@]}"
  main_pid=$pid
  echo "$main_pid" > "$tmp/main.pid"
}

# ---- 0. the maximum: a short throughput run of the same path (HTTP -> serve -> remote /fhir) ----
measured=""
if [ -z "$rate" ] || [ -z "$kafka_rate" ]; then
  node bench/gen.js w1 "$measure_count" 77 > "$tmp/measure.ndjson"
  start_serve measure-fhir --store "$tmp/measure-fhir"
  mf_pid=$pid mf_base=$base
  start_serve measure --store "$tmp/measure" --connector w1 --device-mapping $dm --fhir-mapping $fm \
    --fhir-url "$mf_base/fhir"
  m_pid=$pid
  node bench/serve_load.js throughput "$base" w1 "$tmp/measure.ndjson" 4 1000000 > "$out/measure.json"
  stop_serve "$m_pid"
  stop_serve "$mf_pid"
  rm -rf "$tmp/measure" "$tmp/measure-fhir" "$tmp/measure.ndjson"
  measured=$(jq .donePerSecond "$out/measure.json")
  total=$(awk -v m="$measured" -v l="$load" 'BEGIN { printf "%d", m * l }')
  [ -n "$rate" ] || rate=$(awk -v t="$total" -v k="$kafka_share" 'BEGIN { printf "%d", t * (1 - k) }')
  [ -n "$kafka_rate" ] || kafka_rate=$(awk -v t="$total" -v k="$kafka_share" 'BEGIN { printf "%d", t * k }')
  echo "maximum (HTTP -> iomt serve -> remote /fhir, $measure_count messages): $measured msgs/s;" \
    "load: $rate msgs/s HTTP + $kafka_rate msgs/s Kafka"
fi

# ---- the messages: HTTP and Kafka apart (other devices, so no reading of one is a reading of the other) ----
http_lines=$(awk -v r="$rate" -v d="$duration" 'BEGIN { printf "%d", r * d * 1.02 + 1000 }')
kafka_lines=$(awk -v r="$kafka_rate" -v d="$duration" 'BEGIN { printf "%d", r * d * 1.02 + 1000 }')
node bench/gen.js w1 "$http_lines" 1 > "$tmp/http.ndjson"
node bench/gen.js w1 "$kafka_lines" 2 | sed 's/"deviceid":"device-/"deviceid":"kdevice-/; s/"patientid":"patient-/"patientid":"kpatient-/' \
  > "$tmp/kafka.ndjson"

mkfifo "$tmp/mock.in"
"$mock" --brokers 1 --topic "soak:$partitions" < "$tmp/mock.in" > "$tmp/mock.out" 2> "$tmp/mock.err" &
pids+=("$!")
exec 9> "$tmp/mock.in"
wait_for 20 "the mock cluster" grep -q '^bootstrap ' "$tmp/mock.out"
brokers=$(sed -n 's/^bootstrap //p' "$tmp/mock.out")
kafka_flags=(--kafka-brokers "$brokers" --kafka-topic soak --kafka-group soak
  --kafka-property session.timeout.ms=6000 --kafka-property heartbeat.interval.ms=500
  --kafka-property topic.metadata.refresh.interval.ms=1000)

echo "t,event,detail" > "$out/events.csv"
t0=$(now)
start_fhir
start_main
wait_for 60 "the service is ready" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $main_base/readyz)\" = 200 ]"
log_event start "http $rate/s, kafka $kafka_rate/s, $duration s; pid $main_pid"

# ---- sampling: the service's (and the FHIR service's) RSS and open files -------
sampler() {
  set +e
  echo "t,pid,rss_kb,fds,queue,ready,fhir_rss_kb,fhir_fds" > "$out/samples.csv"
  while [ ! -e "$tmp/stop-sampler" ]; do
    local p f rss fds q r frss ffds t
    t=$(rel)
    p=$(cat "$tmp/main.pid")
    f=$(cat "$tmp/fhir.pid")
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2> /dev/null)
    fds=""
    [ -n "$rss" ] && fds=$(ls "/proc/$p/fd" 2> /dev/null | wc -l)
    frss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$f/status" 2> /dev/null)
    ffds=""
    [ -n "$frss" ] && ffds=$(ls "/proc/$f/fd" 2> /dev/null | wc -l)
    q=$(queue_of "$main_base")
    r=$(ready_code "$main_base")
    echo "$t,$p,$rss,$fds,$q,$r,$frss,$ffds" >> "$out/samples.csv"
    sleep "$sample_seconds"
  done
}
sampler &
sampler_pid=$!
pids+=("$sampler_pid")

# recovery_watch WHAT: in the background, logs WHAT-ready when /readyz answers
# 200 again and WHAT-caught-up when the queue is back under a second of load.
recovery_watch() {
  (
    set +e
    local what=$1 end=$((SECONDS + 900)) q
    until [ "$(ready_code "$main_base")" = 200 ]; do
      [ $SECONDS -lt $end ] || exit 0
      sleep 0.1
    done
    log_event "$what-ready"
    while :; do
      q=$(queue_of "$main_base")
      [ -n "$q" ] && [ "$q" -le "$rate" ] && break
      [ $SECONDS -lt $end ] || exit 0
      sleep 0.2
    done
    log_event "$what-caught-up" "queue $q"
  ) &
}

# ---- the load ----------------------------------------------------------------------
SOAK_INVALID_EVERY=$invalid_every node bench/soak_load.js http "$main_base" w1 "$tmp/http.ndjson" "$rate" "$duration" \
  "$tmp/http" > "$out/http.json" 2> "$out/http.err" &
loader_pid=$!
pids+=("$loader_pid")
(SOAK_INVALID_EVERY=$invalid_every node bench/soak_load.js feed "$tmp/kafka.ndjson" "$kafka_rate" "$duration" \
  "$tmp/kafka.sent.ndjson" 2> "$out/feed.err" |
  "$produce" --brokers "$brokers" --topic soak --key-member deviceid > "$out/kafka.produced" 2> "$out/kafka.produce.err") &
feed_pid=$!
pids+=("$feed_pid")

# ---- the faults, in time order ---------------------------------------------------------
{
  for k in $kill_at; do echo "$k kill"; done
  if [ -n "$outage_at" ] && [ "$outage_at" != 0 ]; then
    echo "$outage_at outage"
    echo "$((outage_at + outage_seconds)) outage-end"
  fi
  if [ -n "$join_at" ]; then
    echo "$join_at join"
    [ -n "$leave_at" ] && echo "$leave_at leave"
  fi
} | sort -s -n -k1,1 > "$tmp/schedule"
b_pid=""
kills=0
while read -r at action; do
  wait_s=$(awk -v t0="$t0" -v a="$at" -v n="$(now)" 'BEGIN { d = t0 + a - n; printf "%.3f", (d > 0 ? d : 0) }')
  sleep "$wait_s"
  case "$action" in
    kill)
      kills=$((kills + 1))
      kill -9 "$main_pid"
      wait "$main_pid" 2> /dev/null || true
      log_event kill "SIGKILL pid $main_pid"
      k0=$(now)
      start_main
      log_event restart "pid $main_pid listening after $(awk -v a="$k0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s; $attempts attempt(s)"
      recovery_watch "kill$kills"
      ;;
    outage)
      kill -9 "$fhir_pid"
      wait "$fhir_pid" 2> /dev/null || true
      log_event outage "FHIR service SIGKILLed"
      ;;
    outage-end)
      start_fhir
      log_event outage-end "FHIR service back, pid $fhir_pid"
      recovery_watch outage
      ;;
    join)
      launch consumer-b --listen 127.0.0.1:0 --store "$tmp/b" --connector w1 --device-mapping $dm --fhir-mapping $fm \
        --fhir-url "$fhir_base/fhir" "${kafka_flags[@]}"
      b_pid=$pid b_base=$base
      log_event kafka-join "second consumer pid $b_pid"
      ;;
    leave)
      b_events=$(counter "$b_base" w1 events || true)
      kill -TERM "$b_pid"
      rc=0
      wait "$b_pid" || rc=$?
      log_event kafka-leave "SIGTERM, exit $rc, it wrote ${b_events:-?} events"
      [ $rc -eq 0 ] || echo "soak: the second consumer exited with $rc" >> "$tmp/problems"
      b_pid=""
      ;;
  esac
done < "$tmp/schedule"

# ---- the load ends; everything drains -----------------------------------------
loader_rc=0
wait "$loader_pid" || loader_rc=$?
feed_rc=0
wait "$feed_pid" || feed_rc=$?
log_event load-end "loader exit $loader_rc, producer exit $feed_rc"
[ $loader_rc -eq 0 ] || echo "soak: the load generator failed ($loader_rc): $(tail -3 "$out/http.err")" >> "$tmp/problems"
[ $feed_rc -eq 0 ] || echo "soak: the Kafka producer failed ($feed_rc): $(tail -3 "$out/kafka.produce.err")" >> "$tmp/problems"
if [ -n "$b_pid" ]; then stop_serve "$b_pid"; fi
http_accepted=$(jq .messages "$out/http.json" 2> /dev/null || true)
http_accepted=${http_accepted:-0}
http_invalid=$(jq .invalid "$out/http.json" 2> /dev/null || true)
http_invalid=${http_invalid:-0}
kafka_sent=$(grep -c . "$tmp/kafka.sent.ndjson" || true)
kafka_produced=$(sed -n 's/^produced //p' "$out/kafka.produced")
[ "$kafka_sent" = "${kafka_produced:-x}" ] ||
  echo "soak: $kafka_sent lines handed to the producer, it confirmed ${kafka_produced:-none}" >> "$tmp/problems"

# What a clean run of everything accepted writes.
cat "$tmp/http.accepted.ndjson" "$tmp/kafka.sent.ndjson" > "$tmp/all.ndjson"
rc=0
"$iomt" run --device-mapping $dm --fhir-mapping $fm --input "$tmp/all.ndjson" --store "$tmp/clean" \
  --dead-letter "$tmp/clean-dead.ndjson" > "$tmp/clean.json" 2> "$tmp/clean.err" || rc=$?
[ $rc -le 1 ] || fail "the clean iomt run failed ($rc): $(tail -3 "$tmp/clean.err")"
expected=$("$iomt" store --store "$tmp/clean" export Observation | wc -l)

drain_start=$(now)
drained=0
last_total=""
while :; do
  q=$(queue_of "$main_base")
  last_total=$(obs_total)
  if [ "$q" = 0 ] && [ "$last_total" = "$expected" ]; then
    drained=1
    break
  fi
  [ "$(awk -v a="$drain_start" -v b="$(now)" -v l="$drain_timeout" 'BEGIN { print (b - a > l) }')" = 0 ] || break
  sleep 1
done
load_end_rel=$(awk -F, '$2 == "load-end" { print $1 }' "$out/events.csv")
if [ $drained = 1 ]; then
  log_event drained "$expected Observations in the FHIR service"
else
  log_event not-drained "after $drain_timeout s: queue ${q:-?}, $last_total of $expected Observations"
fi
sleep 5  # anything more would be extra
touch "$tmp/stop-sampler"
wait "$sampler_pid" 2> /dev/null || true
curl -sf "$main_base/metrics" > "$out/metrics-main.txt" || true
stop_serve "$main_pid"
stop_serve "$fhir_pid"

# ---- the checks -----------------------------------------------------------------
export_sorted() { # export_sorted STORE TYPE: the resources without meta (and issued), canonical, sorted
  "$iomt" store --store "$1" export "$2" | jq -cS 'del(.meta, .issued)' | LC_ALL=C sort
}
compare() { # compare TYPE: prints "lost extra different" (by id and content)
  local t=$1
  export_sorted "$tmp/fhir" "$t" > "$tmp/got-$t.ndjson"
  export_sorted "$tmp/clean" "$t" > "$tmp/want-$t.ndjson"
  jq -r .id "$tmp/got-$t.ndjson" | LC_ALL=C sort > "$tmp/got-$t.ids"
  jq -r .id "$tmp/want-$t.ndjson" | LC_ALL=C sort > "$tmp/want-$t.ids"
  local lost extra total differ
  lost=$(LC_ALL=C comm -13 "$tmp/got-$t.ids" "$tmp/want-$t.ids" | wc -l)
  extra=$(LC_ALL=C comm -23 "$tmp/got-$t.ids" "$tmp/want-$t.ids" | wc -l)
  differ=$(($(LC_ALL=C comm -13 "$tmp/got-$t.ndjson" "$tmp/want-$t.ndjson" | wc -l) - lost))
  LC_ALL=C comm -13 "$tmp/got-$t.ids" "$tmp/want-$t.ids" | head -20 > "$out/lost-$t.txt"
  LC_ALL=C comm -23 "$tmp/got-$t.ids" "$tmp/want-$t.ids" | head -20 > "$out/extra-$t.txt"
  total=$(wc -l < "$tmp/got-$t.ids")
  echo "$lost $extra $differ $total $(wc -l < "$tmp/want-$t.ids")"
}
read -r obs_lost obs_extra obs_differ obs_got obs_want <<< "$(compare Observation)"
read -r pat_lost pat_extra pat_differ pat_got pat_want <<< "$(compare Patient)"
read -r dev_lost dev_extra dev_differ dev_got dev_want <<< "$(compare Device)"
rewritten=$("$iomt" store --store "$tmp/fhir" export Observation | jq -r 'select(.meta.versionId != "1") | .id' | wc -l)

# Dead letters: of both consumers, and of the clean run; each should be an invalid message, each once.
markers() { jq -r '[.. | objects | .soakInvalid? // empty] | first // "VALID-MESSAGE"' "$@" 2> /dev/null | LC_ALL=C sort; }
find "$tmp/s" "$tmp/b" -name 'deadletters*.ndjson' 2> /dev/null > "$tmp/dl-files" || true
: > "$tmp/dl-got"
while read -r f; do markers "$f" >> "$tmp/dl-got"; done < "$tmp/dl-files"
LC_ALL=C sort -o "$tmp/dl-got" "$tmp/dl-got"
grep -o '"soakInvalid":"[^"]*"' "$tmp/all.ndjson" | sed 's/.*:"\(.*\)"/\1/' | LC_ALL=C sort > "$tmp/dl-want" || true
dl_want=$(wc -l < "$tmp/dl-want")
dl_got=$(wc -l < "$tmp/dl-got")
dl_missing=$(LC_ALL=C comm -13 <(LC_ALL=C sort -u "$tmp/dl-got") "$tmp/dl-want" | wc -l)
dl_unexpected=$(LC_ALL=C comm -23 <(LC_ALL=C sort -u "$tmp/dl-got") "$tmp/dl-want" | wc -l)
dl_duplicates=$((dl_got - $(LC_ALL=C sort -u "$tmp/dl-got" | wc -l)))
LC_ALL=C uniq -d "$tmp/dl-got" > "$out/deadletters-duplicated.txt"
LC_ALL=C comm -23 <(LC_ALL=C sort -u "$tmp/dl-got") "$tmp/dl-want" > "$out/deadletters-unexpected.txt"
clean_dl=$(markers "$tmp/clean-dead.ndjson" 2> /dev/null | wc -l)
while read -r f; do cp "$f" "$out/$(basename "$(dirname "$f")")-$(basename "$f")" 2> /dev/null || true; done < "$tmp/dl-files"

# ---- flat? per run segment of the service (a segment: one pid) -----------------------
outage_from=${outage_at:-0}
outage_to=$(awk -F, '$2 == "outage-caught-up" { print $1; exit }' "$out/events.csv")
[ -n "$outage_to" ] || outage_to=$((outage_at + outage_seconds))
awk -F, -v pct="$flat_pct" -v kb="$flat_kb" -v fdm="$fd_margin" -v minj="$min_judged" \
  -v of="${outage_at:-0}" -v ot="$outage_to" -v has_outage="$([ -n "$outage_at" ] && [ "$outage_at" != 0 ] && echo 1 || echo 0)" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  NR > 1 && $3 != "" {
    if ($2 != cur) { seg++; cur = $2; pid[seg] = $2; n[seg] = 0 }
    k = ++n[seg]; t[seg, k] = $1; r[seg, k] = $3; f[seg, k] = $4
  }
  END {
    ok = 1
    printf "%-4s %-8s %-15s %7s %9s %9s %9s %9s %7s %7s  %s\n", "seg", "pid", "t (s)", "samples", "rss min", "rss max",
      "1st 3rd", "last 3rd", "fds", "fd max", "verdict"
    for (s = 1; s <= seg; s++) {
      m = n[s]; from = t[s, 1]; to = t[s, m]
      rmin = rmax = r[s, 1]; fmin = fmax = f[s, 1]
      for (i = 1; i <= m; i++) {
        if (r[s, i] < rmin) rmin = r[s, i]; if (r[s, i] > rmax) rmax = r[s, i]
        if (f[s, i] < fmin) fmin = f[s, i]; if (f[s, i] > fmax) fmax = f[s, i]
      }
      third = int(m / 3)
      # With the outage or its backlog in the segment, the last third is judged against the RSS after the drain
      # (the held events live in the queue, bounded by queue.maxBytes), the first third otherwise.
      outage = has_outage && from <= ot && to >= of
      a = 0; b = 0; fa = 0; fb = 0
      for (i = 1; i <= m; i++) {
        if (outage && t[s, i] >= ot && t[s, i] <= ot + (to - ot) / 3) { A[++a] = r[s, i]; if (f[s, i] > fa) fa = f[s, i] }
        else if (!outage && i <= third) { A[++a] = r[s, i]; if (f[s, i] > fa) fa = f[s, i] }
        if (i > m - third) { B[++b] = r[s, i]; if (f[s, i] > fb) fb = f[s, i] }
      }
      verdict = "flat"
      if (to - from < minj || a < 2 || b < 2) verdict = "short (not judged)"
      else {
        ma = median(A, a); mb = median(B, b)
        if (mb > ma * (1 + pct / 100) + kb) { verdict = "GROWS"; ok = 0 }
        if (fb > fa + fdm) { verdict = verdict == "flat" ? "FDS GROW" : verdict ", FDS GROW"; ok = 0 }
        if (outage) verdict = verdict " (outage: judged after the drain)"
      }
      printf "%-4d %-8s %6.0f-%-8.0f %7d %7.1fMB %7.1fMB %7.1fMB %7.1fMB %3d-%-3d %7d  %s\n", s, pid[s], from, to, m,
        rmin / 1024, rmax / 1024, (a >= 2 ? ma : 0) / 1024, (b >= 2 ? mb : 0) / 1024, fmin, fmax, fmax, verdict
      delete A; delete B
    }
    print (ok ? "flat: yes" : "flat: NO")
  }' "$out/samples.csv" > "$out/segments.txt"
flat=$(tail -1 "$out/segments.txt" | sed 's/^flat: //')

# ---- the plot ---------------------------------------------------------------------------
if [ "$plot" != none ] && command -v gnuplot > /dev/null; then
  gnuplot -e "samples='$out/samples.csv'; events='$out/events.csv'; output='$out/soak.png';
    outage_from=${outage_at:-0}; outage_to=$((${outage_at:-0} + outage_seconds)); has_outage=$([ -n "$outage_at" ] && [ "$outage_at" != 0 ] && echo 1 || echo 0)" \
    bench/soak_plot.gp 2> "$tmp/gnuplot.err" || echo "soak: the plot failed: $(head -3 "$tmp/gnuplot.err")" >&2
elif [ "$plot" != none ] && [ "$plot" != auto ]; then
  echo "soak: no gnuplot (scripts/install-deps.sh bench): no plot" >&2
fi

# ---- the report ---------------------------------------------------------------------------
{
  echo "== iomt serve soak: $duration s, $(nproc) cores, $(git rev-parse --short HEAD 2> /dev/null || echo '?')"
  [ -n "$measured" ] && echo "maximum measured: $measured msgs/s (HTTP -> serve -> remote /fhir, $measure_count messages)"
  echo "load: HTTP $rate msgs/s, Kafka $kafka_rate msgs/s ($partitions partitions)"
  echo "HTTP: $http_accepted messages accepted (202) in $(jq .bodies "$out/http.json" 2> /dev/null) bodies," \
    "+ $http_invalid invalid; sent again: $(jq -c .retries "$out/http.json" 2> /dev/null);" \
    "longest wait for a 202: $(jq .longestWaitMs "$out/http.json" 2> /dev/null) ms"
  echo "Kafka: $kafka_sent messages produced (acknowledged: ${kafka_produced:-none}), of which $(grep -c soakInvalid "$tmp/kafka.sent.ndjson" || true) invalid"
  echo "faults:"
  kn=0
  while IFS=, read -r t ev detail; do
    case "$ev" in
      kill)
        kn=$((kn + 1))
        echo "  $t s: SIGKILL of the service; $(awk -F, -v k="$t" '$2 == "restart" && $1 >= k { print $3; exit }' "$out/events.csv");" \
          "$(awk -F, -v k="$t" -v p="kill$kn" '$2 == p "-ready" { r = $1 } $2 == p "-caught-up" { c = $1 }
             END { printf "ready after %s s, queue caught up after %s s", (r != "" ? sprintf("%.1f", r - k) : "never"),
                   (c != "" ? sprintf("%.1f", c - k) : "never") }' "$out/events.csv")"
        ;;
      outage) echo "  $t s: the FHIR service SIGKILLed" ;;
      outage-end)
        echo "  $t s: the FHIR service back ($outage_seconds s away); the service $(awk -F, -v k="$t" '
          $2 == "outage-ready" { r = $1 } $2 == "outage-caught-up" { c = $1 }
          END { printf "resumed after %s s, queue caught up after %s s", (r != "" ? sprintf("%.1f", r - k) : "never"),
                (c != "" ? sprintf("%.1f", c - k) : "never") }' "$out/events.csv")"
        ;;
      kafka-join | kafka-leave | load-end | drained | not-drained) echo "  $t s: $ev $detail" ;;
    esac
  done < <(tail -n +2 "$out/events.csv")
  echo "queue depth max: $(awk -F, 'NR > 1 && $5 != "" && $5 > m { m = $5 } END { print m + 0 }' "$out/samples.csv") events"
  echo "drain after the load: $(awk -F, -v l="$load_end_rel" '$2 == "drained" { printf "%.1f s", $1 - l }' "$out/events.csv")"
  echo "Observations: expected $obs_want (clean iomt run), in the FHIR service $obs_got: lost $obs_lost, extra $obs_extra, different $obs_differ; rewritten (versionId > 1): $rewritten"
  echo "Patients: expected $pat_want, got $pat_got: lost $pat_lost, extra $pat_extra, different $pat_differ"
  echo "Devices: expected $dev_want, got $dev_got: lost $dev_lost, extra $dev_extra, different $dev_differ"
  echo "dead letters: $dl_want invalid messages sent, $dl_got dead letters: missing $dl_missing, unexpected $dl_unexpected, duplicated $dl_duplicates (clean run: $clean_dl)"
  echo "RSS and open files of the service per run segment (FLAT_PCT=$flat_pct FLAT_KB=$flat_kb FD_MARGIN=$fd_margin):"
  sed 's/^/  /' "$out/segments.txt"
  echo "FHIR service RSS: $(awk -F, 'NR > 1 && $7 != "" { if (!n++ || $7 < lo) lo = $7; if ($7 > hi) hi = $7 } END { printf "%.1f-%.1f MB", lo / 1024, hi / 1024 }' "$out/samples.csv")," \
    "open files $(awk -F, 'NR > 1 && $8 != "" { if (!n++ || $8 < lo) lo = $8; if ($8 > hi) hi = $8 } END { printf "%d-%d", lo, hi }' "$out/samples.csv")"
  [ -s "$tmp/problems" ] && sed 's/^/problem: /' "$tmp/problems"
} > "$out/summary.txt"

lost=$((obs_lost + pat_lost + dev_lost))
extra=$((obs_extra + pat_extra + dev_extra))
differ=$((obs_differ + pat_differ + dev_differ))
jq -n --argjson duration "$duration" --argjson rate "$rate" --argjson kafka_rate "$kafka_rate" \
  --arg measured "$measured" --argjson http "$http_accepted" --argjson kafka "$kafka_sent" --argjson kills "$kills" \
  --argjson expected "$obs_want" --argjson got "$obs_got" --argjson lost "$lost" --argjson extra "$extra" \
  --argjson different "$differ" --argjson dl_want "$dl_want" --argjson dl_got "$dl_got" \
  --argjson dl_missing "$dl_missing" --argjson dl_unexpected "$dl_unexpected" --argjson dl_duplicates "$dl_duplicates" \
  --argjson drained "$drained" --arg flat "$flat" --argjson problems "$( [ -s "$tmp/problems" ] && wc -l < "$tmp/problems" || echo 0)" \
  '{duration: $duration, httpRate: $rate, kafkaRate: $kafka_rate, measuredMax: $measured, httpAccepted: $http,
    kafkaProduced: $kafka, kills: $kills, observationsExpected: $expected, observationsInFhir: $got, lost: $lost,
    extra: $extra, different: $different, deadLettersExpected: $dl_want, deadLetters: $dl_got,
    deadLettersMissing: $dl_missing, deadLettersUnexpected: $dl_unexpected, deadLettersDuplicated: $dl_duplicates,
    drained: ($drained == 1), flat: ($flat == "yes"), problems: $problems}' > "$out/summary.json"
cat "$out/summary.txt"
echo "report: $out"

verdict=0
[ "$lost" = 0 ] && [ "$extra" = 0 ] && [ "$differ" = 0 ] && [ $drained = 1 ] || verdict=1
[ "$dl_missing" = 0 ] && [ "$dl_unexpected" = 0 ] || verdict=1
[ "$flat" = yes ] || [ "$judge_flat" = 0 ] || verdict=1
[ -s "$tmp/problems" ] && verdict=1
if [ $verdict = 0 ]; then
  echo "soak: PASS (0 lost, 0 extra, the Observations of a clean run, dead letters as expected, $([ "$judge_flat" = 0 ] && echo "memory not judged" || echo flat))"
else
  echo "soak: FAIL (see above)"
fi
exit $verdict
