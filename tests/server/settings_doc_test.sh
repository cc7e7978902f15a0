#!/usr/bin/env bash
# The settings table of docs/configuration.md is `iomt serve --settings-table`
# (made from the table in src/server/settings.cc): this fails when they
# differ, so a setting cannot change without its documentation.
#
#   IOMT=path/to/iomt settings_doc_test.sh            (from the checkout's root)
#   IOMT=path/to/iomt settings_doc_test.sh --update   writes the table into the doc
set -euo pipefail

iomt=${IOMT:-build/bin/iomt}
doc=docs/configuration.md
begin='<!-- settings:begin -->'
end='<!-- settings:end -->'

fail() {
  echo "settings_doc_test: FAIL: $*" >&2
  exit 1
}

[ "$(grep -cxF "$begin" "$doc")" = 1 ] || fail "$doc needs one line '$begin'"
[ "$(grep -cxF "$end" "$doc")" = 1 ] || fail "$doc needs one line '$end'"
generated=$("$iomt" serve --settings-table) || fail "iomt serve --settings-table failed"

if [ "${1:-}" = --update ]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  # The lines up to the begin marker, the table (blank lines around it, for
  # Markdown), the lines from the end marker.
  {
    sed -n "1,/^${begin}\$/p" "$doc"
    printf '\n%s\n\n' "$generated"
    sed -n "/^${end}\$/,\$p" "$doc"
  } > "$tmp"
  cp "$tmp" "$doc"
  echo "settings_doc_test: $doc updated"
  exit 0
fi

# What is between the markers, without the blank lines around it.
documented=$(sed -n "/^${begin}\$/,/^${end}\$/{/^${begin}\$/d;/^${end}\$/d;p;}" "$doc" | sed '/./,$!d')
if [ "$documented" != "$generated" ]; then
  diff <(printf '%s\n' "$documented") <(printf '%s\n' "$generated") >&2 || true
  fail "the settings table of $doc is not 'iomt serve --settings-table' (< the doc, > the code);" \
    "run: IOMT=build/bin/iomt bash tests/server/settings_doc_test.sh --update"
fi
echo "settings_doc_test: $doc has every setting as the code declares it"
