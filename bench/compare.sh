#!/usr/bin/env bash
# bench/compare.sh BASE_IOMT: holds a change against the build before it.
# Runs the normalize, transform and `iomt run` end-to-end benches
# (bench/normalize.sh, transform.sh, e2e.sh) with BASE_IOMT and with this
# tree's build/bin/iomt, one after the other for each bench on the same
# inputs, and prints both results. Build the base from another checkout:
#   git worktree add /tmp/base REV && (cd /tmp/base && make build)
#   bench/compare.sh /tmp/base/build/bin/iomt
# Sizes: W1_COUNT, W2_COUNT (normalize), COUNT (e2e, default 300000), RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/compare.sh BASE_IOMT}
new=${NEW_IOMT:-build/bin/iomt}
out=build/bench-compare
mkdir -p "$out/base" "$out/new"
export COUNT=${COUNT:-300000}

share_inputs() {  # the generated inputs of the base's run, for the new one
  find "$out/base" -maxdepth 1 \( -name '*.ndjson' -o -name 'w2-mapping-*.json' \) -exec cp -u {} "$out/new/" \;
}
for bench in normalize transform e2e; do
  for side in base new; do
    binary=$base
    [ $side = new ] && binary=$new
    echo "== $bench, $side ($binary)"
    IOMT=$binary BENCH_OUT="$out/$side" "bench/$bench.sh" | tee "$out/$side-$bench.txt" | grep -E 'msgs/s|measurements/s|Observations/s'
    if [ $side = base ]; then share_inputs; fi
  done
done
rm -rf "$out"/*/e2e-store-*  # gigabytes of SQLite, of no further use
