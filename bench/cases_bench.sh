#!/usr/bin/env bash
# `iomt test` on a generated suite: COUNT cases (default 1000) sharing one
# pair of mappings (tests/cases/ward/shared), each a few events of one
# patient's devices (heart rate, temperature, blood pressure, an alarm, and
# one message in ten that no template matches) with the expected
# measurements, resources and error records written by a first
# `iomt test --update`. Then, timed in the same run:
#   test     `iomt test` on the whole suite (every case passes)
#   junit    the same with --junit
#   run      baseline: one `iomt run` over all the cases' events at once
#            (the pipeline alone, into a fresh embedded store)
#   scripted baseline: one `iomt run` per case, as a shell loop over the
#            suite would check it (SCRIPTED cases, default 100, scaled to COUNT)
# and prints the times (each the best of REPEAT runs, default 3) and the
# ratios. Timing is reported, never asserted.
# Writes build/bench-results/cases.json.
set -euo pipefail
cd "$(dirname "$0")/.."
iomt=${IOMT:-build/bin/iomt}  # IOMT=path: another build, for a before/after comparison
out=${BENCH_OUT:-build/bench-results}
count=${COUNT:-1000}
scripted=${SCRIPTED:-100}
repeat=${REPEAT:-3}
[ "$scripted" -gt "$count" ] && scripted=$count
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
suite=$work/suite
mkdir -p "$suite/shared"
cp tests/cases/ward/shared/devicecontent.json tests/cases/ward/shared/fhirmapping.json "$suite/shared/"

# The cases: case N is patient N's devices during one hour.
awk -v count="$count" -v suite="$suite" 'BEGIN {
  for (n = 0; n < count; n++) {
    dir = sprintf("%s/case-%04d", suite, n)
    system("mkdir -p " dir)
    c = dir "/case.json"
    printf "{\"description\": \"generated case %d\", \"deviceMapping\": \"../shared/devicecontent.json\", \"fhirMapping\": \"../shared/fhirmapping.json\", \"now\": \"2023-10-10T00:00:00Z\"}\n", n > c
    close(c)
    f = dir "/input.ndjson"
    p = sprintf("patient-%d", n); h = n % 24
    for (m = 0; m < 3; m++)
      printf "{\"kind\": \"hr\", \"device\": \"monitor-%d\", \"patient\": \"%s\", \"at\": \"2023-10-09T%02d:%02d:00Z\", \"value\": %d}\n", n, p, h, m * 7, 60 + (n + m) % 40 > f
    printf "{\"kind\": \"temp\", \"device\": \"therm-%d\", \"patient\": \"%s\", \"at\": \"2023-10-09T%02d:30:00Z\", \"value\": %.1f}\n", n, p, h, 36 + (n % 30) / 10 > f
    printf "{\"kind\": \"bp\", \"device\": \"cuff-%d\", \"patient\": \"%s\", \"at\": \"2023-10-09T%02d:31:00Z\", \"sys\": %d, \"dia\": %d}\n", n, p, h, 110 + n % 30, 70 + n % 20 > f
    printf "{\"kind\": \"alarm\", \"device\": \"monitor-%d\", \"patient\": \"%s\", \"at\": \"2023-10-09T%02d:40:00Z\", \"value\": \"true\", \"reason\": \"lead off\"}\n", n, p, h > f
    if (n % 10 == 0) printf "{\"kind\": \"glucose\", \"device\": \"meter-%d\", \"patient\": \"%s\", \"at\": \"2023-10-09T%02d:45:00Z\", \"value\": 5.4}\n", n, p, h > f
    close(f)
  }
}'
"$iomt" test --quiet --update "$suite" > "$work/update.txt" || { tail -n 5 "$work/update.txt"; exit 1; }
events=$(cat "$suite"/case-*/input.ndjson | grep -c .)
expected=$(cat "$suite"/case-*/expected/*.ndjson | grep -c .)

once() {  # once COMMAND...: wall time of the command, its output thrown away
  local start end
  start=$(date +%s.%N)
  "$@" > /dev/null 2>&1 || true
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}
seconds() {  # seconds COMMAND...: the best of REPEAT runs (a shared machine's noise only adds)
  local best="" t
  for _ in $(seq "$repeat"); do
    t=$(once "$@")
    best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
  done
  echo "$best"
}
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }  # calc EXPRESSION
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

sync
t_test=$(seconds "$iomt" test --quiet "$suite")
"$iomt" test --quiet "$suite" | tail -n 1 > "$work/summary.txt"
t_junit=$(seconds "$iomt" test --quiet --junit "$work/report.xml" "$suite")
cat "$suite"/case-*/input.ndjson > "$work/all.ndjson"
run_all() {  # into a fresh store each time
  rm -rf "$work/store" "$work/dead.ndjson"
  "$iomt" run --device-mapping "$suite/shared/devicecontent.json" --fhir-mapping "$suite/shared/fhirmapping.json" \
    --input "$work/all.ndjson" --store "$work/store" --dead-letter "$work/dead.ndjson" --now 2023-10-10T00:00:00Z
}
t_run=$(seconds run_all)
scripted_one() {
  local i=0
  for dir in "$suite"/case-*; do
    [ "$i" -ge "$scripted" ] && break
    "$iomt" run --device-mapping "$suite/shared/devicecontent.json" --fhir-mapping "$suite/shared/fhirmapping.json" \
      --input "$dir/input.ndjson" --store "$work/s-$i" --dead-letter "$work/d-$i.ndjson" \
      --now 2023-10-10T00:00:00Z > /dev/null 2>&1 || true
    i=$((i + 1))
  done
}
t_scripted_part=$(once scripted_one)
t_scripted=$(calc "$t_scripted_part * $count / $scripted")

printf 'suite: %d cases, %d events, %d expected lines (%s)\n' "$count" "$events" "$expected" "$(cat "$work/summary.txt")"
printf '%-44s %8.3f s  (%.0f cases/s)\n' "iomt test" "$t_test" "$(calc "$count / $t_test")"
printf '%-44s %8.3f s\n' "iomt test --junit" "$t_junit"
printf '%-44s %8.3f s  iomt test / run = %s\n' "baseline: one iomt run over all the events" "$t_run" "$(ratio "$t_test" "$t_run")"
printf '%-44s %8.3f s  scripted / iomt test = %s (%d runs timed, scaled to %d)\n' \
  "baseline: one iomt run per case" "$t_scripted" "$(ratio "$t_scripted" "$t_test")" "$scripted" "$count"
cat > "$out/cases.json" <<JSON
{"cases":$count,"events":$events,"expectedLines":$expected,"testSeconds":$t_test,"junitSeconds":$t_junit,
 "runAllSeconds":$t_run,"scriptedSeconds":$t_scripted,"scriptedTimed":$scripted}
JSON
