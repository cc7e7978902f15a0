#!/usr/bin/env bash
# `iomt store compact`, `backup` and `restore` as a user runs them: compact
# removes the versions beyond the policy and shrinks the file, the store
# checks ok after; a backup is a 0700 directory with a 0600 store.db, is
# refused into a non-empty directory, and restores into a new directory with
# the same export as its source.
#
#   IOMT=path/to/iomt store_maintenance_test.sh      (from the checkout's root)
set -uo pipefail
iomt=${IOMT:-build/bin/iomt}
source "$(dirname "$0")/lib.sh"

store=$tmp/store
# 200 Devices of ~2 KB, each written 12 times (12 versions), with every
# version kept. The padding does not compress (random, base64), so that the
# store's size is the versions' (large texts are stored compressed).
pad=$(head -c 1500 /dev/urandom | base64 -w0 | tr '+/' '-_')
for v in $(seq 1 12); do
  for i in $(seq 1 200); do
    printf '{"resourceType":"Device","id":"d%d","serialNumber":"%d","note":[{"text":"%s"}]}\n' "$i" "$v" "$pad"
  done > "$tmp/v$v.ndjson"
  "$iomt" store --store "$store" --history-max-versions 0 import "$tmp/v$v.ndjson" 2> "$tmp/import.err" ||
    fail "import of version $v" "$tmp/import.err"
done
"$iomt" store --store "$store" export > "$tmp/before.ndjson"

# --- compact ---
"$iomt" store --store "$store" --history-max-versions 2 compact > "$tmp/compact.json" 2> "$tmp/compact.err"
code=$?
removed=$(sed -n 's/.*"removedVersions":\([0-9]*\).*/\1/p' "$tmp/compact.json")
before=$(sed -n 's/.*"bytesBefore":\([0-9]*\).*/\1/p' "$tmp/compact.json")
after=$(sed -n 's/.*"bytesAfter":\([0-9]*\).*/\1/p' "$tmp/compact.json")
if [ "$code" = 0 ] && [ "$removed" = $((200 * 9)) ] && [ -n "$after" ] && [ "$after" -lt $((before / 3)) ]; then
  pass "compact removed $removed versions: $before -> $after bytes ($(cat "$tmp/compact.err"))"
else
  fail "compact (exit $code)" "$tmp/compact.json" "$tmp/compact.err"
fi
size=$(stat -c %s "$store/store.db")
wal=$(stat -c %s "$store/store.db-wal" 2>/dev/null || echo 0)
[ $((size + wal)) = "$after" ] && pass "compact's bytesAfter is the file's size" ||
  fail "bytesAfter $after, the files hold $size + $wal"
out=$("$iomt" store --store "$store" check 2>&1) && pass "the compacted store checks ok" || fail "check after compact: $out"
"$iomt" store --store "$store" export > "$tmp/after.ndjson"
cmp -s "$tmp/before.ndjson" "$tmp/after.ndjson" && pass "compact keeps every current resource" ||
  fail "export differs after compact"
"$iomt" store --store "$tmp/nothing" compact > /dev/null 2> "$tmp/none.err"
code=$?
[ "$code" = 2 ] && [ ! -e "$tmp/nothing/store.db" ] && pass "compact of no store: exit 2, nothing created" ||
  fail "compact of no store: exit $code" "$tmp/none.err"

# --- backup ---
"$iomt" store --store "$store" backup "$tmp/backup" > "$tmp/backup.json" 2> "$tmp/backup.err"
code=$?
if [ "$code" = 0 ] && grep -q '"bytes":' "$tmp/backup.json"; then
  pass "backup: $(cat "$tmp/backup.err")"
else
  fail "backup (exit $code)" "$tmp/backup.json" "$tmp/backup.err"
fi
modes="$(stat -c %a "$tmp/backup") $(stat -c %a "$tmp/backup/store.db")"
[ "$modes" = "700 600" ] && pass "the backup is private (0700 directory, 0600 store.db)" || fail "backup modes: $modes"
out=$("$iomt" store --store "$tmp/backup" check 2>&1) && pass "the backup checks ok" || fail "check of the backup: $out"
"$iomt" store --store "$store" backup "$tmp/backup" > /dev/null 2> "$tmp/again.err"
code=$?
[ "$code" = 2 ] && grep -q "not empty" "$tmp/again.err" && pass "backup into a non-empty directory: exit 2" ||
  fail "backup into a non-empty directory: exit $code" "$tmp/again.err"

# --- restore ---
"$iomt" store --store "$tmp/restored" restore "$tmp/backup" > /dev/null 2> "$tmp/restore.err"
code=$?
[ "$code" = 0 ] && pass "restore: $(cat "$tmp/restore.err")" || fail "restore (exit $code)" "$tmp/restore.err"
"$iomt" store --store "$tmp/restored" export > "$tmp/restored.ndjson"
cmp -s "$tmp/before.ndjson" "$tmp/restored.ndjson" && pass "the restored store exports what its source did" ||
  fail "export of the restored store differs"
"$iomt" store --store "$store" restore "$tmp/backup" > /dev/null 2> "$tmp/over.err"
code=$?
[ "$code" = 2 ] && pass "restore over an existing store: exit 2" || fail "restore over a store: exit $code" "$tmp/over.err"
"$iomt" store --store "$tmp/r2" restore "$tmp/nothing" > /dev/null 2> "$tmp/nobackup.err"
code=$?
[ "$code" = 2 ] && [ ! -e "$tmp/r2" ] && pass "restore of no backup: exit 2" ||
  fail "restore of no backup: exit $code" "$tmp/nobackup.err"

finish "store maintenance"
