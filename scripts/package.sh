#!/usr/bin/env bash
# `make package`: the Debian package of iomt, build/package/iomt_VERSION_ARCH.deb,
# from the release build (docs/deploy.md), and beside it the container
# image's configuration: build/package is the Containerfile's context.
#   /usr/bin/iomt                           the binary (stripped)
#   /etc/iomt/iomt.json                     the default configuration (a conffile)
#   /lib/systemd/system/iomt.service        the hardened unit (packaging/systemd/)
#   /usr/lib/sysusers.d/iomt.conf           its system user
#   /usr/share/iomt/examples/               the bundled mappings and events
#   /usr/share/man/man1/iomt.1.gz           every command's --help, as a manual page
#   /usr/share/doc/iomt/                    copyright (the license and the notices), the guides
# Depends: are what dpkg-shlibdeps finds the binary linked against.
set -euo pipefail
cd "$(dirname "$0")/.."
iomt=${IOMT:-build/bin/iomt}
[ -x "$iomt" ] || { echo "package: $iomt is not built (make build)" >&2; exit 2; }
version=$("$iomt" --version | cut -d' ' -f2)
arch=$(dpkg --print-architecture)
name=iomt_${version}_${arch}
stage=build/package-stage/$name
out=build/package/$name.deb
rm -rf "$stage" build/package
mkdir -p "$stage/DEBIAN" build/package
install -m 0644 packaging/container/iomt.json build/package/container.json

install -D -m 0755 "$iomt" "$stage/usr/bin/iomt"
strip --strip-unneeded "$stage/usr/bin/iomt"
install -D -m 0644 packaging/debian/iomt.json "$stage/etc/iomt/iomt.json"
install -D -m 0644 packaging/systemd/iomt.service "$stage/lib/systemd/system/iomt.service"
install -D -m 0644 packaging/debian/sysusers.conf "$stage/usr/lib/sysusers.d/iomt.conf"
for d in mappings events messages; do
  install -d "$stage/usr/share/iomt/examples/$d"
  install -m 0644 examples/$d/* "$stage/usr/share/iomt/examples/$d/"
done
install -m 0644 examples/README.md "$stage/usr/share/iomt/examples/"
doc=$stage/usr/share/doc/iomt
install -d "$doc"
cat LICENSE THIRD_PARTY_NOTICES.md > "$doc/copyright"
install -m 0644 README.md docs/deploy.md docs/configuration.md docs/cli.md docs/http-api.md docs/errors.md \
  docs/security.md docs/metrics.md "$doc/"

# The manual page: the commands' own --help, so that it cannot drift.
manpage=$stage/usr/share/man/man1/iomt.1
install -d "$(dirname "$manpage")"
roff() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
{
  printf '.TH IOMT 1 "" "iomt %s" "User Commands"\n' "$version"
  printf '.SH NAME\niomt \\- medical device (IoMT) messages to FHIR R4\n'
  printf '.SH SYNOPSIS\n.B iomt\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n'
  printf '.SH DESCRIPTION\n.nf\n'
  "$iomt" --help | roff
  printf '.fi\n.SH COMMANDS\n'
  for sub in $("$iomt" --help | awk '/^Subcommands:/ {on = 1; next} on && NF {print $1}'); do
    printf '.SS %s\n.nf\n' "$sub"
    "$iomt" "$sub" --help | roff
    printf '.fi\n'
  done
  printf '.SH FILES\n.TP\n/etc/iomt/iomt.json\nthe service'"'"'s configuration (iomt.service)\n'
  printf '.TP\n/var/lib/iomt\nits store, queues and dead letters\n'
  printf '.SH SEE ALSO\n/usr/share/doc/iomt/deploy.md, /usr/share/doc/iomt/configuration.md\n'
} > "$manpage"
gzip -9n "$manpage"

# Depends: the libraries' packages, found from the binary.
shlib=$(mktemp -d)
trap 'rm -rf "$shlib"' EXIT
mkdir -p "$shlib/debian"
printf 'Source: iomt\n\nPackage: iomt\nArchitecture: any\n' > "$shlib/debian/control"
depends=$(cd "$shlib" && dpkg-shlibdeps -O -e "$OLDPWD/$stage/usr/bin/iomt" 2> /dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
  packaging/debian/control.in > "$stage/DEBIAN/control"
echo /etc/iomt/iomt.json > "$stage/DEBIAN/conffiles"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$stage/DEBIAN/"
(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" > /dev/null
echo "$out"
