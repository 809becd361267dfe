#!/usr/bin/env bash
# The long form of the reliability soak: devices and tabs in headless Chromium editing, going
# offline and online, while the reference server is killed and restarted; at the end every
# device must hold the server's data and no acknowledged write may be missing.
# Usage: scripts/soak.sh [SECONDS]   (default 600; the test command runs it for 20 s)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
for f in dist/npm/dist/index.js "${CARGO_TARGET_DIR:-target}/release/synclane-server"; do
  if [ ! -e "$f" ]; then
    echo "soak: $f is missing: run scripts/build.sh first" >&2
    exit 1
  fi
done
SYNCLANE_SOAK_MS=$((seconds * 1000)) exec node --test --test-timeout=$(((seconds + 300) * 1000)) \
  --test-name-pattern='^soak' tests/e2e/reliability-devices.test.mjs
