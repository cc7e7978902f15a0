#!/usr/bin/env bash
# npm-install.sh DIR: installs DIR's npm packages exactly as DIR/package-lock.json
# pins them (npm ci), when DIR/node_modules is missing or older than the lock
# file. Silent when there is nothing to do. Needs node and npm
# (`install-deps.sh node`).
set -euo pipefail

dir=${1:?usage: npm-install.sh DIR}
lock="$dir/package-lock.json"
stamp="$dir/node_modules/.npm-install-stamp"
[ -f "$lock" ] || { echo "npm-install: no $lock" >&2; exit 2; }
if [ -f "$stamp" ] && [ ! "$lock" -nt "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ]; then
  exit 0
fi

echo "npm-install: npm ci in $dir"
(cd "$dir" && npm ci --no-audit --no-fund --silent)
touch "$stamp"
