#!/usr/bin/env bash
# The `iomt` command line as a user runs it: outputs and exit codes
# (../shared/spec/cli.md). Run by ctest with IOMT set to the binary.
set -u
IOMT=${IOMT:-build/bin/iomt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect NAME WANT_RC WANT_STDOUT_SUBSTRING -- command...
expect() {
  local name=$1 want_rc=$2 want_out=$3
  shift 4
  local out rc
  out=$("$@" 2>"$tmp/stderr")
  rc=$?
  if [ "$rc" != "$want_rc" ] || [[ "$out$(cat "$tmp/stderr")" != *"$want_out"* ]]; then
    echo "FAIL $name: rc=$rc (want $want_rc), output:"
    echo "$out"
    cat "$tmp/stderr"
    echo "  (wanted to contain: $want_out)"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

cat > "$tmp/msg.json" <<'JSON'
{"Body":{"heartRate":78,"ts":1626799080000,"worn":false},
 "Properties":{"iothub-creation-time-utc":"2019-01-30T22:45:02.6073744Z"},
 "SystemProperties":{"iothub-connection-device-id":"device-1"}}
JSON
printf '\xEF\xBB\xBF{"a": 1}' > "$tmp/bom.json"
echo '{"a": ' > "$tmp/bad.json"

expect help 0 "eval" -- "$IOMT" --help
expect version 0 "iomt 0." -- "$IOMT" --version
expect no-subcommand 2 "" -- "$IOMT"
expect unknown-flag 2 "" -- "$IOMT" eval --nope x
expect jsonpath-filter 0 '"heartRate": 78' -- "$IOMT" eval --jsonpath '$..[?(@Body.heartRate)]' "$tmp/msg.json"
expect jsonpath-compact 0 '["device-1"]' -- "$IOMT" eval -c --jsonpath '$.SystemProperties.iothub-connection-device-id' "$tmp/msg.json"
expect jsonpath-existence-false 0 '[{"heartRate":78,"ts":1626799080000,"worn":false}]' -- "$IOMT" eval -c --jsonpath '$..[?(@worn)]' "$tmp/msg.json"
expect jsonpath-stdin 0 '[78]' -- sh -c "\"$IOMT\" eval -c --jsonpath 'Body.heartRate' - < \"$tmp/msg.json\""
expect jsonpath-single-many 1 'Path returned multiple tokens.' -- "$IOMT" eval --single --jsonpath '$..*' "$tmp/msg.json"
expect jsonpath-single-one 0 '78' -- "$IOMT" eval --single --jsonpath '$.Body.heartRate' "$tmp/msg.json"
expect jsonpath-syntax 1 $'$.Body[\n         ^' -- "$IOMT" eval --jsonpath '$.Body[' "$tmp/msg.json"
expect jsonpath-eval-error 1 'Index was out of range' -- "$IOMT" eval --jsonpath '$[-1]' <(echo '[1]')
expect bom-accepted 0 '[1]' -- "$IOMT" eval -c --jsonpath '$.a' "$tmp/bom.json"
expect bad-json 1 'invalid JSON' -- "$IOMT" eval --jsonpath '$' "$tmp/bad.json"
expect missing-file 2 'cannot read' -- "$IOMT" eval --jsonpath '$' "$tmp/nope.json"
expect both-languages 2 '' -- "$IOMT" eval --jsonpath '$' --jmespath '@' "$tmp/msg.json"
expect no-language 2 'exactly one' -- "$IOMT" eval "$tmp/msg.json"
expect jmespath-function 0 '"2021-07-20T16:38:00Z"' -- "$IOMT" eval -c --jmespath 'fromUnixTimestampMs(Body.ts)' "$tmp/msg.json"
expect jmespath-arith 0 '1.9811999999999999' -- "$IOMT" eval -c --jmespath 'multiply(`78`, `0.0254`)' "$tmp/msg.json"
expect jmespath-syntax 1 '^' -- "$IOMT" eval --jmespath 'Body.[' "$tmp/msg.json"
expect jmespath-type-error 1 'invalid-type' -- "$IOMT" eval --jmespath 'add(Body.worn, `1`)' "$tmp/msg.json"
deep=$(printf '[%.0s' $(seq 1 100))$(printf ']%.0s' $(seq 1 100))
expect too-deep 1 'deeper than 64' -- sh -c "echo '$deep' | \"$IOMT\" eval --jsonpath '\$' -"

if [ "$failures" -gt 0 ]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
