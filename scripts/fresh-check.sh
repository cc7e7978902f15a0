#!/usr/bin/env bash
# `make fresh-check`: what a newcomer on a new Debian 12 machine meets. Builds a
# minimal Debian 12 root with mmdebstrap (essential packages, apt, and the
# three things a newcomer has before the README: make, git, ca-certificates),
# clones this repository's committed HEAD into it, and runs the README's two
# commands there with chroot: `make demo`, then `make test`. Everything else
# must come from the project's own install steps.
# (The root itself: scripts/debian-root.sh.)
#
#   FRESH_ROOT   where the root is built (default /var/tmp/iomt-fresh-root)
#   FRESH_STEPS  the make targets to run (default "demo test")
#   FRESH_KEEP   1 keeps the root afterwards (for looking around)
# Needs root (mmdebstrap in root mode, mounts, chroot). Takes ~30 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
root=${FRESH_ROOT:-/var/tmp/iomt-fresh-root}
steps=${FRESH_STEPS:-demo test}
log=build/fresh-check.log

[ "$(id -u)" -eq 0 ] || { echo "fresh-check: needs root (mmdebstrap, mount, chroot)" >&2; exit 2; }
./scripts/install-deps.sh fresh
mkdir -p build
: > "$log"
say() { printf '%s fresh-check: %s\n' "$(date +%T)" "$*" | tee -a "$log"; }

# shellcheck source=scripts/debian-root.sh
. scripts/debian-root.sh
cleanup() {
  unmount_root
  if [ "${FRESH_KEEP:-0}" != 1 ] && [ -d "$root" ]; then rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT

rm -rf --one-file-system "$root"
say "building a minimal Debian 12 root in $root"
start=$SECONDS
make_root "$root" --include=make,git,ca-certificates
say "root built in $((SECONDS - start)) s ($(du -sh --one-file-system "$root" | cut -f1))"
prepare_root
git clone --quiet --no-hardlinks "$repo" "$root/src/iomt"
say "cloned $(git -C "$root/src/iomt" rev-parse --short HEAD) into $root/src/iomt"

for step in $steps; do
  say "make $step"
  start=$SECONDS
  if ! in_root "cd /src/iomt && make $step" >> "$log" 2>&1; then
    say "make $step FAILED after $((SECONDS - start)) s; the end of $log:"
    tail -40 "$log" >&2
    exit 1
  fi
  say "make $step passed in $((SECONDS - start)) s"
done
say "passed"
