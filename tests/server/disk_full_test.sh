#!/usr/bin/env bash
# `iomt serve` when the disk fails it, end to end (needs root: it mounts
# small tmpfs file systems; without root it exits 77, which ctest reports as
# skipped):
#  1. Disk full: the store and the queue on a 2 MiB tmpfs. Posting goes on
#     until the disk is full: 503 with Retry-After and an error that says
#     "disk full", never a 202 for what was not stored. Then space returns
#     (the tmpfs is remounted bigger): ingestion and writing resume, and every
#     acknowledged event ends up in the store (as `iomt run` writes them).
#     Then the store alone on a full disk (the queue on another): every post
#     is queued (202), the worker's writes fail ("disk full" among the
#     connector's errors) and are retried; when space returns they are all
#     written.
#  2. A damaged queue segment that is not the last: serve refuses to start,
#     naming the file and saying what to do.
#  3. A damaged store: a bad header is refused at start (serve) and at open
#     (`iomt store check`, exit 1); a damaged page (the second, the middle, the last) is found by
#     `iomt store check` (exit 1); a sound store checks ok (exit 0).
#   IOMT=path/to/iomt disk_full_test.sh   (from the checkout's root)
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
test_name=disk_full_test
if [ "$(id -u)" != 0 ]; then
  echo "$test_name: skipped: needs root to mount tmpfs file systems"
  exit 77
fi
tmp=$(mktemp -d /tmp/iomt-disk-full-XXXXXX)
# shellcheck source=tests/server/lib.sh
. "$(dirname "$0")/lib.sh"
# The servers are stopped and the mounts undone before lib.sh's cleanup
# removes $tmp (rm -rf of a mounted tmpfs would only empty it).
mounts=()
cleanup_mounts() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2> /dev/null || true; done
  cleanup
}
trap cleanup_mounts EXIT
mount_tmpfs() { # DIR SIZE
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2" tmpfs "$1"
  mounts+=("$1")
}

basic_dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
quantity_fm=bench/mappings/w1-quantity/fhirmapping.json

# ---- 1. Disk full: 503 + Retry-After, then everything acknowledged is written
mount_tmpfs "$tmp/disk" 2m
node bench/gen.js w1 6000 5 > "$tmp/w1.ndjson"
split -l 100 -d -a 3 "$tmp/w1.ndjson" "$tmp/chunk-"
start_serve s1 --store "$tmp/disk/store" --connector w1 --device-mapping $basic_dm --fhir-mapping $quantity_fm
s1=$pid
: > "$tmp/acked"
refusals=0
remounted=
for f in "$tmp"/chunk-*; do
  # As a client does: a refused chunk is sent again after Retry-After.
  while true; do
    code=$(post "$base" w1 "$f" -D "$tmp/headers")
    [ "$code" = 202 ] && { echo "$f" >> "$tmp/acked"; break; }
    [ "$code" = 503 ] || fail "POST $f: $code $(cat "$tmp/post.body") (expected 202, or 503 on a full disk)"
    refusals=$((refusals + 1))
    if [ $refusals = 1 ]; then
      grep -qi '^Retry-After: [0-9]' "$tmp/headers" || fail "a 503 without Retry-After: $(cat "$tmp/headers")"
      jq -e '.error.message | contains("disk full") and contains("nothing of the append was stored")' \
        "$tmp/post.body" > /dev/null || fail "the 503 does not say the disk is full: $(cat "$tmp/post.body")"
      cp "$tmp/post.body" "$tmp/first503.json"
    fi
    # Refused again while full; then space returns.
    if [ $refusals = 3 ] && [ -z "$remounted" ]; then
      acked_when_full=$(wc -l < "$tmp/acked")
      mount -o remount,size=64m "$tmp/disk"
      remounted=yes
    fi
    sleep 0.2
  done
done
[ -n "$remounted" ] || fail "6000 events never filled a 2 MiB disk"
acked=$(wc -l < "$tmp/acked")
pass "disk full: 503 + Retry-After after $acked_when_full chunks: $(jq -c .error "$tmp/first503.json")"
# The worker's batches failed on the full store and are retried: they too
# resume, and the queue drains.
wait_for 120 "all 6000 events written after space returned" \
  sh -c "[ \"\$(curl -sf $base/connectors/w1 | jq .counters.events)\" = 6000 ]"
wait_for 30 "the queue drained" sh -c "[ \"\$(curl -sf $base/connectors/w1 | jq .queue.events)\" = 0 ]"
stop_serve $s1
# shellcheck disable=SC2046
cat $(cat "$tmp/acked") > "$tmp/acked.ndjson"
"$iomt" run --device-mapping $basic_dm --fhir-mapping $quantity_fm --input "$tmp/acked.ndjson" --store "$tmp/run1" \
  > /dev/null 2>&1 || true
missing=$(comm -13 <(observations "$tmp/disk/store") <(observations "$tmp/run1") | wc -l)
extra=$(comm -23 <(observations "$tmp/disk/store") <(observations "$tmp/run1") | wc -l)
if [ "$missing" != 0 ] || [ "$extra" != 0 ]; then
  fail "after the disk was full: $missing Observations of acknowledged events missing, $extra unexpected"
fi
pass "space returned: ingestion and writing resumed; the store holds exactly the $((acked * 100)) acknowledged events"

# The store alone on a full disk: the queue (on a disk of its own) takes
# everything; the worker's batches fail and are retried until space returns.
mount_tmpfs "$tmp/disk2" 1m
mount_tmpfs "$tmp/disk2/store/connectors" 64m
start_serve s1b --store "$tmp/disk2/store" --connector w1 --device-mapping $basic_dm --fhir-mapping $quantity_fm
s1b=$pid
for f in "$tmp"/chunk-*; do
  [ "$(post "$base" w1 "$f")" = 202 ] || fail "POST $f with the queue on a disk with room: $(cat "$tmp/post.body")"
done
store_full() {
  curl -sf "$base/connectors/w1" > "$tmp/status.json" &&
    jq -e '[.recentErrors[].message] | any(contains("disk full") and contains("store.db"))' "$tmp/status.json" \
      > /dev/null
}
wait_for 60 "the worker's writes failing on the full store" store_full
[ "$(jq .queue.events "$tmp/status.json")" -gt 0 ] || fail "nothing waits in the queue while the store is full"
written_when_full=$(jq .counters.observations.created "$tmp/status.json")
mount -o remount,size=64m "$tmp/disk2"
wait_for 120 "all 6000 events written after the store's disk got space" \
  sh -c "[ \"\$(curl -sf $base/connectors/w1 | jq .counters.observations.created)\" = 6000 ]"
wait_for 30 "the queue drained" sh -c "[ \"\$(curl -sf $base/connectors/w1 | jq .queue.events)\" = 0 ]"
stop_serve $s1b
"$iomt" run --device-mapping $basic_dm --fhir-mapping $quantity_fm --input "$tmp/w1.ndjson" --store "$tmp/run1b" \
  > /dev/null 2>&1 || true
diff <(observations "$tmp/disk2/store") <(observations "$tmp/run1b") > "$tmp/diff1b" ||
  fail "after the store's disk was full, the store differs from iomt run's: $(head -3 "$tmp/diff1b" | cut -c1-200)"
pass "the store on a full disk: writes failed (\"disk full\", $written_when_full written), were retried, all 6000 written after"

# A sound store checks ok.
"$iomt" store --store "$tmp/disk/store" check > "$tmp/check-ok.out" 2>&1 || fail "check of a sound store: $(cat "$tmp/check-ok.out")"
grep -q ': ok$' "$tmp/check-ok.out" || fail "check of a sound store does not say ok: $(cat "$tmp/check-ok.out")"
pass "iomt store check: a sound store is ok (exit 0)"

# ---- 2. A damaged queue segment before the last: serve refuses to start -----
# A paused connector (its FHIR mapping has no templates) keeps what it is
# sent: 70 MB make a second 64 MiB segment.
mkdir -p "$tmp/maps"
echo '{"templateType":"CollectionFhir","template":[{"templateType":"CodeValueFhir","template":{"codes":[]}}]}' \
  > "$tmp/maps/fhir.json"
node bench/gen.js w1 7000 9 > "$tmp/big.ndjson"
start_serve s2 --store "$tmp/s2" --connector w1 --device-mapping $basic_dm --fhir-mapping "$tmp/maps/fhir.json"
s2=$pid
queue=$tmp/s2/connectors/w1/queue
for _ in $(seq 1 80); do
  [ "$(post "$base" w1 "$tmp/big.ndjson")" = 202 ] || fail "POST to the paused connector: $(cat "$tmp/post.body")"
  [ "$(find "$queue" -name '*.log' | wc -l)" -ge 2 ] && break
done
stop_serve $s2
segment=$(find "$queue" -name '*.log' | sort | head -1)
[ "$(find "$queue" -name '*.log' | wc -l)" -ge 2 ] || fail "the queue never rolled over to a second segment"
printf 'XXXX' | dd of="$segment" bs=1 seek=1000000 conv=notrunc 2> /dev/null
rc=0
timeout 60 "$iomt" serve --listen 127.0.0.1:0 --store "$tmp/s2" --connector w1 --device-mapping $basic_dm \
  --fhir-mapping "$tmp/maps/fhir.json" > "$tmp/s2b.out" 2> "$tmp/s2b.err" || rc=$?
[ $rc = 2 ] || fail "serve with a damaged queue segment exited $rc (expected 2): $(cat "$tmp/s2b.err")"
! grep -q '^listening' "$tmp/s2b.out" || fail "serve listened with a damaged queue segment"
for part in "connector 'w1'" "damaged segment $segment" "not the last segment" "move the directory $queue aside"; do
  grep -qF "$part" "$tmp/s2b.err" || fail "the error does not say '$part': $(cat "$tmp/s2b.err")"
done
pass "a damaged queue segment (not the tail): serve exits 2: $(cut -c1-160 "$tmp/s2b.err")..."

# ---- 3. A damaged store -----------------------------------------------------
[ ! -e "$tmp/disk/store/store.db-wal" ] || fail "the store's WAL is still there after a clean stop"
cp -r "$tmp/disk/store" "$tmp/bad-header"
rm -rf "$tmp/bad-header/connectors"
printf '\x12\x34' | dd of="$tmp/bad-header/store.db" bs=1 seek=16 conv=notrunc 2> /dev/null
rc=0
timeout 60 "$iomt" serve --listen 127.0.0.1:0 --store "$tmp/bad-header" --connector w1 --device-mapping $basic_dm \
  --fhir-mapping $quantity_fm > "$tmp/s3.out" 2> "$tmp/s3.err" || rc=$?
[ $rc = 2 ] || fail "serve on a store with a damaged header exited $rc (expected 2): $(cat "$tmp/s3.err")"
for part in "$tmp/bad-header/store.db is damaged" "iomt store --store $tmp/bad-header check" "restore"; do
  grep -qF "$part" "$tmp/s3.err" || fail "serve's error does not say '$part': $(cat "$tmp/s3.err")"
done
rc=0
"$iomt" store --store "$tmp/bad-header" check > "$tmp/check3.out" 2>&1 || rc=$?
[ $rc = 1 ] || fail "check of a store with a damaged header exited $rc: $(cat "$tmp/check3.out")"
grep -qF "$tmp/bad-header/store.db is damaged" "$tmp/check3.out" || fail "check: $(cat "$tmp/check3.out")"
pass "a damaged store header: serve exits 2 at start, iomt store check exits 1: $(cut -c1-120 "$tmp/check3.out")..."

# A damaged page, wherever it is: found by reading every page. Some pages are
# read while opening, others only by the check: the answer must have one
# shape either way (the second page, the middle, the last). A damaged free
# page would be no damage at all, and whether the run left free pages
# depends on when its merges ran: the copy is compacted first (VACUUM), so
# that every page is part of a table or index (the header's free-page count
# at offset 36 is 0).
cp -r "$tmp/disk/store" "$tmp/sound"
rm -rf "$tmp/sound/connectors"
"$iomt" store --store "$tmp/sound" compact > "$tmp/compact.out" 2>&1 || fail "compact: $(cat "$tmp/compact.out")"
[ "$(od -An -tu1 -j36 -N4 "$tmp/sound/store.db" | tr -d ' ')" = 0000 ] || fail "the compacted store has free pages"
# The page size: the header's big-endian 16-bit number at offset 16.
read -r hi lo < <(od -An -tu1 -j16 -N2 "$tmp/sound/store.db")
page_size=$((hi * 256 + lo))
pages=$(($(stat -c %s "$tmp/sound/store.db") / page_size))
for page in 1 $((pages / 2)) $((pages - 1)); do
  rm -rf "$tmp/bad-page"
  cp -r "$tmp/sound" "$tmp/bad-page"
  head -c "$page_size" /dev/zero | tr '\0' 'Z' | dd of="$tmp/bad-page/store.db" bs="$page_size" seek="$page" conv=notrunc 2> /dev/null
  rc=0
  "$iomt" store --store "$tmp/bad-page" check > "$tmp/check4.out" 2> "$tmp/check4.err" || rc=$?
  [ $rc = 1 ] || fail "check of a store with page $page of $pages damaged exited $rc: $(cat "$tmp/check4.out" "$tmp/check4.err")"
  grep -q '^error: .*store.db is damaged or inconsistent' "$tmp/check4.err" ||
    fail "check (page $page of $pages damaged): stderr: $(cat "$tmp/check4.err") stdout: $(head -c 300 "$tmp/check4.out")"
  if [ ! -s "$tmp/check4.out" ] || grep -q ': ok$' "$tmp/check4.out"; then fail "check printed no finding (page $page of $pages damaged)"; fi
  pass "page $page of $pages damaged: iomt store check exits 1: $(head -1 "$tmp/check4.out" | cut -c1-100)"
done
echo "$test_name: all passed"
