#!/usr/bin/env bash
# `iomt run` end to end into the embedded store (durable: WAL, synced at every
# batch commit): W1 wearable messages (bench/gen.js w1, 10,000 devices) with
# iomt-fhir's basic sample device mapping and
#   quantity: bench/mappings/w1-quantity/fhirmapping.json, one Observation
#             per reading (periodInterval 0) — the Observations/s target
#   sampled:  the basic sample FHIR mapping (hourly SampledData: readings
#             merged into few Observations)
# Baseline in the same run: the same messages through `iomt normalize |
# iomt transform` into the in-memory store (no SQLite, nothing durable), so
# the ratio is the price of a durable store. Also the rerun of the same input
# (everything found unchanged) and the p50/p99 time of one batch commit
# (one PutMany: the batch's Observations in one SQLite transaction, synced),
# from `iomt run --timings`; with 10,000-event batches and with 1,000.
#   COUNT (default 1000000) messages, BATCH (default 10000) events a batch.
# The physical ceiling in the same run: the disk's sequential write rate
# (dd of DD_MB MiB with fdatasync, in the output directory) divided by the
# bytes the store writes per Observation (its size over the Observations it
# holds, twice: once to the WAL, once into store.db at checkpoint), and by
# what the run really wrote per Observation (its file system outputs, from
# /usr/bin/time: more, since commits rewrite the pages they share); and the
# run's peak RSS (/usr/bin/time) for the 256 MB target.
# Writes build/bench-results/e2e.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node/node_modules/.bin:$PATH"  # the pinned Node.js (scripts/npm-install.sh tools/node)
iomt=${IOMT:-build/bin/iomt}  # IOMT=path: another build, for a before/after comparison
out=${BENCH_OUT:-build/bench-results}
mkdir -p "$out"
count=${COUNT:-1000000}
device=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
input="$out/w1-$count.ndjson"
[ -s "$input" ] || node bench/gen.js w1 "$count" 42 > "$input"

percentile() {  # timings-file kind p: "write" (a PutMany, start to end) or "commit" (its COMMIT)
  awk -v k="$2" '$1 == k {print $2}' "$1" | sort -n |
    awk -v p="$3" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; print a[i]}'
}

# The disk: sequential write with a sync at the end, as a commit's WAL
# append is (a large one).
dd_mb=${DD_MB:-1024}
dd_start=$(date +%s%N)
dd if=/dev/zero of="$out/e2e-dd.bin" bs=1M count="$dd_mb" conv=fdatasync 2> /dev/null
dd_ns=$(($(date +%s%N) - dd_start))
rm -f "$out/e2e-dd.bin"
disk_mbs=$(awk -v m="$dd_mb" -v ns="$dd_ns" 'BEGIN {printf "%.0f", m * 1.048576e9 / ns}')
echo "disk: sequential write with fdatasync ${disk_mbs} MB/s (dd, $dd_mb MiB)"

json="{\"disk_mb_per_s\":$disk_mbs,"
for kind in quantity quantity-small-batches sampled; do
  batch=${BATCH:-10000}
  case $kind in
    quantity) fhir=bench/mappings/w1-quantity/fhirmapping.json ;;
    # Smaller batches: shorter write transactions, at some cost in rate.
    quantity-small-batches) fhir=bench/mappings/w1-quantity/fhirmapping.json; batch=${SMALL_BATCH:-1000} ;;
    *) fhir=conformance/iomt-fhir/sample/templates/basic/fhirmapping.json ;;
  esac
  store="$out/e2e-store-$kind"
  rm -rf "$store" "$out/e2e-dead-$kind.ndjson"
  sync
  /usr/bin/time -o "$out/e2e-rss-$kind.txt" -f "%M %O" \
    "$iomt" run --device-mapping "$device" --fhir-mapping "$fhir" --input "$input" --store "$store" \
    --batch-size "$batch" --now 2023-10-10T00:00:00Z --dead-letter "$out/e2e-dead-$kind.ndjson" \
    --timings "$out/e2e-commits-$kind.txt" > "$out/e2e-summary-$kind.json" || true
  rss_mb=$(( $(tail -1 "$out/e2e-rss-$kind.txt" | cut -d' ' -f1) / 1024 ))
  # What the run wrote to the disk (file system outputs, 512-byte blocks):
  # the WAL, the checkpoints' copies, pages rewritten by later commits.
  written_bytes=$(( $(tail -1 "$out/e2e-rss-$kind.txt" | cut -d' ' -f2) * 512 ))
  size_bytes=$(du -sb "$store" | cut -f1)
  s=$(jq -r '.seconds' "$out/e2e-summary-$kind.json")
  created=$(jq -r '.observations.created + .observations.updated' "$out/e2e-summary-$kind.json")
  meas=$(jq -r '.measurements' "$out/e2e-summary-$kind.json")
  p50=$(percentile "$out/e2e-commits-$kind.txt" write 50)
  p99=$(percentile "$out/e2e-commits-$kind.txt" write 99)
  c50=$(percentile "$out/e2e-commits-$kind.txt" commit 50)
  c99=$(percentile "$out/e2e-commits-$kind.txt" commit 99)
  # The rerun: same input, nothing changes.
  "$iomt" run --device-mapping "$device" --fhir-mapping "$fhir" --input "$input" --store "$store" \
    --batch-size "$batch" --now 2023-10-10T00:00:00Z --dead-letter "$out/e2e-dead2-$kind.ndjson" \
    > "$out/e2e-rerun-$kind.json" || true
  rs=$(jq -r '.seconds' "$out/e2e-rerun-$kind.json")
  changed=$(jq -r '.observations.created + .observations.updated' "$out/e2e-rerun-$kind.json")
  # Baseline: in memory, not durable.
  start=$(date +%s.%N)
  "$iomt" normalize --device-mapping "$device" --input "$input" --errors /dev/null |
    "$iomt" transform --fhir-mapping "$fhir" --batch-size "$batch" --now 2023-10-10T00:00:00Z \
      --errors /dev/null > /dev/null || true
  bs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
  size=$(du -sm "$store" | cut -f1)
  # Bytes per current Observation (the store holds the run's Observations,
  # their history, and few Patients and Devices) and the ceiling they give.
  current=$(jq -r '.observations.created' "$out/e2e-summary-$kind.json")
  per_obs=$(awk -v b="$size_bytes" -v n="$current" 'BEGIN {printf "%.0f", (n > 0 ? b / n : 0)}')
  ceiling=$(awk -v d="$disk_mbs" -v p="$per_obs" 'BEGIN {printf "%.0f", (p > 0 ? d * 1e6 / (2 * p) : 0)}')
  # The same from what was really written per Observation (more than twice
  # what it holds: commits rewrite the pages they share).
  wr_obs=$(awk -v b="$written_bytes" -v n="$created" 'BEGIN {printf "%.0f", (n > 0 ? b / n : 0)}')
  wr_ceiling=$(awk -v d="$disk_mbs" -v p="$wr_obs" 'BEGIN {printf "%.0f", (p > 0 ? d * 1e6 / p : 0)}')
  echo "  $kind: store $size MB, $per_obs bytes per Observation held -> disk ceiling ~$ceiling Observations/s;" \
    "written $wr_obs bytes per Observation written -> ~$wr_ceiling/s; peak RSS $rss_mb MB"
  awk -v k=$kind -v n="$count" -v s="$s" -v c="$created" -v m="$meas" -v p50="$p50" -v p99="$p99" \
      -v rs="$rs" -v ch="$changed" -v bs="$bs" -v mb="$size" -v b="$batch" -v c50="$c50" -v c99="$c99" 'BEGIN {
    printf "%-22s %d msgs: %.0f msgs/s, %.0f measurements/s, %.0f Observations/s written durably (%d), " \
           "write transaction p50 %.1f ms p99 %.1f ms (its COMMIT p50 %.1f ms p99 %.1f ms); rerun %.0f msgs/s (%d changed); in-memory baseline %.0f msgs/s " \
           "(durable/in-memory x%.2f); store %d MB\n",
           k " (" b ")", n, n/s, m/s, c/s, c, p50, p99, c50, c99, n/rs, ch, n/bs, bs/s, mb }'
  json+="\"$kind\":{\"messages\":$count,\"batch_events\":$batch,\"seconds\":$s,\"observations_written\":$created,"
  json+="\"observations_per_s\":$(awk -v c="$created" -v s="$s" 'BEGIN {printf "%d", c / s}'),\"write_ms_p50\":$p50,\"write_ms_p99\":$p99,\"commit_ms_p50\":$c50,\"commit_ms_p99\":$c99,"
  json+="\"rerun_seconds\":$rs,\"rerun_changed\":$changed,\"baseline_seconds\":$bs,\"store_mb\":$size,"
  json+="\"bytes_per_observation\":$per_obs,\"disk_ceiling_observations_per_s\":$ceiling,\"written_bytes_per_observation\":$wr_obs,\"written_ceiling_observations_per_s\":$wr_ceiling,\"max_rss_mb\":$rss_mb},"
  rm -rf "$store"
done
echo "${json%,}}" > "$out/e2e.json"
