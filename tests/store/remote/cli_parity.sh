#!/usr/bin/env bash
# `iomt run --store DIR` and `iomt run --fhir-url URL` (Medplum's FHIR
# router, tests/fhir_server/server.js) on the same events leave the same
# resources: ids, identifiers, values, everything but meta. Several runs in
# sequence, so that later runs merge into what earlier ones wrote: the
# bundled examples, then W1 messages (bench/gen.js) through the basic sample
# mappings (hourly SampledData, small batches: merges with If-Match) and a
# Quantity-per-reading mapping.
#   IOMT=path/to/iomt NODE=node cli_parity.sh   (from the checkout's root)
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
node=${NODE:-node}
tmp=$(mktemp -d /tmp/iomt-parity-XXXXXX)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$node" tests/fhir_server/server.js --max-page-size 1000 --index-identifiers > "$tmp/server.out" 2> "$tmp/server.err" &
server=$!
for _ in $(seq 1 300); do
  grep -q '^listening on ' "$tmp/server.out" 2> /dev/null && break
  kill -0 "$server" 2> /dev/null || break
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$tmp/server.out")
if [ -z "$base" ]; then
  echo "cli_parity: the FHIR server did not start (./scripts/install-deps.sh node && ./scripts/npm-install.sh tests/fhir_server):" >&2
  cat "$tmp/server.err" >&2
  exit 1
fi

basic=conformance/iomt-fhir/sample/templates/basic
"$node" bench/gen.js w1 2000 7 > "$tmp/w1.ndjson"
cat examples/events/wearables.ndjson examples/events/ward.ndjson > "$tmp/examples.ndjson"

# case: device mapping, FHIR mapping, input, batch size
cases=(
  "examples/mappings/devicecontent.json examples/mappings/fhirmapping.json $tmp/examples.ndjson 7"
  "$basic/devicecontent.json $basic/fhirmapping.json $tmp/w1.ndjson 500"
  "$basic/devicecontent.json bench/mappings/w1-quantity/fhirmapping.json $tmp/w1.ndjson 1000"
)
n=0
for c in "${cases[@]}"; do
  read -r dm fm input batch <<< "$c"
  n=$((n + 1))
  for dest in store remote; do
    if [ $dest = store ]; then where=(--store "$tmp/store"); else where=(--fhir-url "$base"); fi
    rc=0
    "$iomt" run --device-mapping "$dm" --fhir-mapping "$fm" --input "$input" "${where[@]}" --batch-size "$batch" \
      --now 2023-10-10T00:00:00Z --ingestion-time 2023-10-10T00:00:00Z --dead-letter "$tmp/dead-$n-$dest.ndjson" \
      > "$tmp/summary-$n-$dest.json" 2> "$tmp/stderr-$n-$dest.txt" || rc=$?
    if [ $rc -gt 1 ]; then
      echo "cli_parity: case $n: iomt run into the $dest failed (exit $rc):" >&2
      cat "$tmp/stderr-$n-$dest.txt" >&2
      exit 1
    fi
    echo $rc > "$tmp/rc-$n-$dest"
  done
  # The same summary (but the time) and the same dead letters.
  for f in summary rc; do
    a=$(sed 's/"seconds":[0-9.e+-]*//' "$tmp/$f-$n-store"*)
    b=$(sed 's/"seconds":[0-9.e+-]*//' "$tmp/$f-$n-remote"*)
    if [ "$a" != "$b" ]; then
      echo "cli_parity: case $n: the $f differs: store $a, remote $b" >&2
      exit 1
    fi
  done
  if [ -s "$tmp/dead-$n-store.ndjson" ] || [ -s "$tmp/dead-$n-remote.ndjson" ]; then
    cmp <(cut -c1-200 "$tmp/dead-$n-store.ndjson" 2> /dev/null) <(cut -c1-200 "$tmp/dead-$n-remote.ndjson" 2> /dev/null) ||
      { echo "cli_parity: case $n: the dead letters differ" >&2; exit 1; }
  fi
  echo "case $n: $(cat "$tmp/summary-$n-remote.json")"
done

"$iomt" store --store "$tmp/store" export > "$tmp/export.ndjson"
"$node" tests/store/remote/compare_resources.js "$tmp/export.ndjson" "$base"
