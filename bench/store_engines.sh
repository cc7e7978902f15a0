#!/usr/bin/env bash
# The storage engine spike of issue 18 (docs/adr/0024-storage-engine-spike.md):
# the embedded store's write pattern on SQLite, LMDB and RocksDB (Debian's),
# each run interleaved with the others, 10,000- and 1,000-Observation
# batches. Then, as the reference, `iomt run` into the real store over W1
# messages of the same count (its own work included: JSON, identity, FHIR).
# Usage: COUNT=300000 REPS=2 bench/store_engines.sh   (after make build)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh bench > /dev/null
count=${COUNT:-300000}
reps=${REPS:-2}
tmp=$(mktemp -d /var/tmp/iomt-engines-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# Compiled here, not by CMake: LMDB and RocksDB are the spike's, not iomt's.
g++ -std=c++20 -O2 -Wall -Wextra -Werror -o "$tmp/store_engines" bench/store_engines.cc \
  $(pkg-config --cflags --libs lmdb rocksdb sqlite3)
echo "== $count Observations, $(nproc) cores, $(git rev-parse --short HEAD)"
for batch in 10000 1000; do
  for r in $(seq 1 "$reps"); do
    for engine in sqlite lmdb rocksdb; do
      rm -rf "$tmp/$engine"
      sync
      "$tmp/store_engines" "$engine" "$tmp/$engine" "$count" "$batch"
      rm -rf "$tmp/$engine"
    done
  done
done
# The reference: the real store under `iomt run`, same count, W1 messages.
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
node bench/gen.js w1 "$count" 1 > "$tmp/w1.ndjson"
for batch in 10000 1000; do
  build/bin/iomt run --device-mapping conformance/iomt-fhir/sample/templates/basic/devicecontent.json \
    --fhir-mapping bench/mappings/w1-quantity/fhirmapping.json --input "$tmp/w1.ndjson" --store "$tmp/iomt" \
    --batch-size "$batch" --now 2023-10-10T00:00:00Z --dead-letter "$tmp/dl.ndjson" > "$tmp/run.json"
  jq -c --arg b "$batch" '{engine: "iomt run (embedded store)", batch: ($b | tonumber), seconds,
    per_second: ((.observations.created + .observations.updated) / .seconds | floor)}' "$tmp/run.json"
  rm -rf "$tmp/iomt" "$tmp/dl.ndjson"
done
