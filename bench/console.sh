#!/usr/bin/env bash
# The console's mapping tools: per-check time of POST /api/mappings/validate
# and /api/mappings/test (keep-alive, as the editor calls them while the user
# types) against the baseline of one `iomt validate --sample` process per
# check, in the same run (bench/console.js).
#   bench/console.sh [ROUNDS]      (after make build)
set -euo pipefail
cd "$(dirname "$0")/.."
iomt=${IOMT:-build/bin/iomt}
tmp=$(mktemp -d)
"$iomt" serve --listen 127.0.0.1:0 --store "$tmp/store" > "$tmp/out" 2> "$tmp/err" &
pid=$!
trap 'kill $pid 2> /dev/null; wait $pid 2> /dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 200); do grep -q '^listening on ' "$tmp/out" && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$tmp/out")
scripts/node bench/console.js "$iomt" "$base" "${1:-200}"
