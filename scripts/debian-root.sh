# A minimal Debian 12 root for the checks that need a new machine
# (scripts/fresh-check.sh, scripts/package-check.sh). Source it after setting
# `root` (where the root goes) and `log` (where mmdebstrap's output goes).
#
# The root reaches the package registries as this machine does: its extra CA
# certificates, apt settings and npm settings are copied in at check time.
# They belong to the machine, not to the project, and are never committed.

mounted=()
# Unmounts what mount_in mounted (call it from the caller's EXIT trap).
unmount_root() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2> /dev/null || true; done
  mounted=()
}
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

# make_root TARGET [MMDEBSTRAP-OPTIONS...]: essential packages and apt (plus
# the options' --include), into a directory or, for a TARGET ending in .tar,
# a tarball.
make_root() {
  local target=$1
  shift
  mmdebstrap --quiet --mode=root --variant=apt "$@" "${apt_opts[@]}" bookworm "$target" "${sources[@]}" >> "$log" 2>&1
}

# Makes the root usable for chroot: the machine's CA certificates and npm
# settings, /proc, /sys, /dev, a fresh /tmp, the resolver.
prepare_root() {
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
  if [ -x "$root/usr/sbin/update-ca-certificates" ]; then in_root 'update-ca-certificates >/dev/null'; fi
}

# Only what a login on a new machine would have, plus the CA variables that
# the machine sets for its own clients (they name files inside the root too).
env_vars=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb)
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE GIT_SSL_CAINFO \
  http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && env_vars+=("$v=${!v}")
done
in_root() { chroot "$root" /usr/bin/env -i "${env_vars[@]}" /bin/bash -c "$1"; }
