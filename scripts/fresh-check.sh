#!/usr/bin/env bash
# `make fresh-check`: what a newcomer on a new Debian 12 machine meets. Builds a
# minimal Debian 12 root with mmdebstrap (essential packages, apt, and the
# three things a newcomer has before the README: make, git, ca-certificates),
# clones this repository's committed HEAD into it, and runs the README's two
# commands there with chroot: `make demo`, then `make test`. Everything else
# must come from the project's own install steps.
#
# The root reaches the package registries as this machine does: its extra CA
# certificates, apt settings and npm settings are copied in at check time.
# They belong to the machine, not to the project, and are never committed.
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

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2> /dev/null || true; done
  if [ "${FRESH_KEEP:-0}" != 1 ] && [ -d "$root" ]; then rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
mount_in() { # mount_in TARGET MOUNT-ARGS...
  mkdir -p "$root$1"
  mount "${@:2}" "$root$1"
  mounted+=("$root$1")
}

# The machine's apt sources and settings (e.g. a proxy or its validity checks).
apt_opts=()
for f in /etc/apt/apt.conf.d/*; do
  case "$(basename "$f")" in
    docker-* | 01autoremove* | 02autoremove* | 20packagekit | 50appstream | 70debconf) ;;  # the image's, not access
    *) apt_opts+=(--aptopt="$f") ;;
  esac
done
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -s "$f" ] && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || sources=(http://deb.debian.org/debian)

rm -rf --one-file-system "$root"
say "building a minimal Debian 12 root in $root"
start=$SECONDS
mmdebstrap --quiet --mode=root --variant=apt --include=make,git,ca-certificates \
  "${apt_opts[@]}" bookworm "$root" "${sources[@]}" >> "$log" 2>&1
say "root built in $((SECONDS - start)) s ($(du -sh --one-file-system "$root" | cut -f1))"

# The machine's extra CA certificates and npm settings.
if compgen -G '/usr/local/share/ca-certificates/*' > /dev/null; then
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
for f in /etc/npmrc /usr/etc/npmrc; do [ -f "$f" ] && cp "$f" "$root/etc/npmrc"; done
[ -f "$HOME/.npmrc" ] && cp "$HOME/.npmrc" "$root/root/.npmrc"

mount_in /proc -t proc proc
mount_in /sys -t sysfs sysfs
mount_in /dev --rbind /dev
mount_in /dev/shm -t tmpfs -o mode=1777 tmpfs
mount_in /tmp -t tmpfs -o mode=1777 tmpfs
cp /etc/resolv.conf "$root/etc/resolv.conf"

# Only what a login on a new machine would have, plus the CA variables that
# the machine sets for its own clients (they name files inside the root too).
env_vars=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb)
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE GIT_SSL_CAINFO \
  http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && env_vars+=("$v=${!v}")
done
in_root() { chroot "$root" /usr/bin/env -i "${env_vars[@]}" /bin/bash -c "$1"; }

in_root 'update-ca-certificates >/dev/null'
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
