#!/usr/bin/env bash
# What a second store writer is worth on this machine (issue 18; ADR 0024,
# "Two writers"): the embedded store has one SQLite writer, and a profile of
# `iomt run` shows the second core mostly idle. Before a store split in
# files by patient is built, this measures its ceiling without it:
#   engine:   bench/store_engines.cc's SQLite layout (the store's seven index
#             entries per Observation), one writer of COUNT Observations
#             against two writers of COUNT/2 each, at once, in two files;
#   iomt run: one process over COUNT W1 messages into one store against two
#             processes at once, each over the devices of one half (odd and
#             even device numbers: a device's and so its patient's readings
#             stay in one half, as a split by patient would keep them) into
#             a store of its own.
# Each round runs the one-writer baseline, then the two writers; REPS rounds.
# Durable as always (WAL, synced at each commit), 10,000 a batch.
# Usage: COUNT=300000 REPS=3 bench/two_writers.sh   (after make build)
# Writes build/bench-results/two_writers.json (one line per run).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh bench > /dev/null
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
iomt=${IOMT:-build/bin/iomt}  # IOMT=path: another build
count=${COUNT:-300000}
reps=${REPS:-3}
half=$((count / 2))
out=build/bench-results
mkdir -p "$out"
results="$out/two_writers.json"
: > "$results"
tmp=$(mktemp -d /var/tmp/iomt-two-writers-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# The spike's program, compiled here as bench/store_engines.sh does (its
# LMDB and RocksDB are not iomt's).
g++ -std=c++20 -O2 -Wall -Wextra -Werror -o "$tmp/store_engines" bench/store_engines.cc \
  $(pkg-config --cflags --libs lmdb rocksdb sqlite3)

device=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fhir=bench/mappings/w1-quantity/fhirmapping.json
node bench/gen.js w1 "$count" 42 > "$tmp/all.ndjson"
# bench/gen.js names devices device-NNNNNN; the patient goes with the device.
awk -v odd="$tmp/odd.ndjson" -v even="$tmp/even.ndjson" '{
  i = index($0, "\"deviceid\":\"device-")
  if (i == 0) { print "two_writers.sh: a message without deviceid" > "/dev/stderr"; exit 1 }
  n = substr($0, i + 19, 6) + 0
  if (n % 2) print > odd; else print > even
}' "$tmp/all.ndjson"

now() { date +%s.%N; }
# record KIND WRITERS OBSERVATIONS START END: one result line, printed too
record() {
  jq -nc --arg kind "$1" --argjson writers "$2" --argjson obs "$3" --argjson s "$4" --argjson e "$5" \
    '{kind: $kind, writers: $writers, observations: $obs, seconds: (($e - $s) * 100 | round / 100),
      per_second: ($obs / ($e - $s) | floor)}' | tee -a "$results"
}
run() {  # INPUT STORE: iomt run, prints the Observations it wrote
  "$iomt" run --device-mapping "$device" --fhir-mapping "$fhir" --input "$1" --store "$2" \
    --batch-size 10000 --now 2023-10-10T00:00:00Z --dead-letter "$2.dl" > "$2.json"
  jq '.observations.created + .observations.updated' "$2.json"
}
fresh() { rm -rf "$tmp/s"; mkdir -p "$tmp/s"; sync; }

echo "== $count Observations/messages, $(nproc) cores, $(git rev-parse --short HEAD), $reps rounds"
for _ in $(seq 1 "$reps"); do
  fresh
  s=$(now); "$tmp/store_engines" sqlite "$tmp/s/a" "$count" 10000 > /dev/null; e=$(now)
  record engine 1 "$count" "$s" "$e"
  fresh
  s=$(now)
  "$tmp/store_engines" sqlite "$tmp/s/a" "$half" 10000 > /dev/null &
  "$tmp/store_engines" sqlite "$tmp/s/b" "$half" 10000 > /dev/null
  wait $!
  e=$(now)
  record engine 2 $((half * 2)) "$s" "$e"

  fresh
  s=$(now); n=$(run "$tmp/all.ndjson" "$tmp/s/one"); e=$(now)
  record "iomt run" 1 "$n" "$s" "$e"
  fresh
  s=$(now)
  run "$tmp/odd.ndjson" "$tmp/s/odd" > "$tmp/odd.count" &
  n_even=$(run "$tmp/even.ndjson" "$tmp/s/even")
  wait $!
  e=$(now)
  record "iomt run" 2 $((n_even + $(cat "$tmp/odd.count"))) "$s" "$e"
done
# The ratios, round by round: two writers over one, each kind.
jq -rs 'group_by(.kind)[] | . as $runs | [range(0; length; 2) as $i | ($runs[$i + 1].per_second / $runs[$i].per_second * 100 | round / 100)]
  | "\($runs[0].kind): two writers over one, by round: \(map(tostring + "x") | join(" "))"' "$results"
